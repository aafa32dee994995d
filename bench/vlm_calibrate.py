"""Calibrates the planner's memory model (analyzers/vlm/memory.py) by measurement.

A call's peak is the weights plus, per sequence token, the KV cache of every layer plus the transient
activations of one layer (vision tower or language model, whichever is larger) plus the inputs
(pixel values, embeddings). Models of the published architecture with the real widths but only 1 and
2 language-model layers (and 2 vision blocks) separate the two: per depth d the slope of the peak
over the input length is transient + d x (per-layer cache); the full model's slope is
transient + layers x (per-layer cache). So a 7B-class family is calibrated without 28 GB of RAM.

    python -m bench.vlm_calibrate --model Qwen2-VL-2B-Instruct --dtype float32
    python -m bench.vlm_calibrate --all --dtype float32 --out bench/results/vlm_memory_calibration.json
    python -m bench.vlm_calibrate --write-module bench/results/vlm_memory_calibration.json \
        --gpu-kit bench/results/gpu_kit_h200_run1.json bench/results/gpu_kit_h200_run2.json

Each depth runs in a fresh process (RSS never shrinks back fully inside one); per window length it
builds the real processor inputs for a window of n one-second clips at `--frame` size, runs
`generate` for 2 new tokens (the prefill is the peak) and reads the peak RSS growth over a baseline
taken before the model was built. CPU only: the GPU kit fits the CUDA slopes itself, and `--gpu-kit`
writes them into the module.
Random weights: memory and speed only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.vlm_models import NAMES, RANDOM_WEIGHTS  # noqa: E402


def _fit(points: list[tuple[int, int]]) -> tuple[float, float]:
    """Least squares y = a + b x."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    b = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return my - b * mx, b


def worker(args) -> dict:
    import numpy as np
    import torch

    from analyzers.vlm import load_processor
    from analyzers.vlm.adapters import adapter_for
    from analyzers.vlm.prompts import get_prompt
    from bench.vlm_models import build_model, materialize, weights_bytes
    from bench.vlm_random import peak_rss_bytes, reset_peak_rss, rss_bytes

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    with tempfile.TemporaryDirectory() as tmp:
        folder = materialize(args.model, Path(tmp), text_layers=args.layers, vision_layers=args.vision_layers)
        processor = load_processor(folder)
        prompt = get_prompt("v1")
        rng = np.random.default_rng(0)
        h, w = (int(v) for v in args.frame.split("x"))
        baseline = rss_bytes()
        started = time.perf_counter()
        model = build_model(folder, dtype, "cpu")
        build_s = time.perf_counter() - started
        adapter = adapter_for(model, processor)
        fps = adapter.visual.min_frames_per_second
        geometry = adapter.visual.frame_sizes(h, w)[-1]  # the largest the processor allows (LLaVA: 336x336)
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        points = []
        for n in args.seconds:
            seconds = list(range(100, 100 + n))
            clips = [adapter.prepare_clip([frame] * fps, geometry) for _ in seconds]
            inputs = adapter.encode(seconds, clips, fps, prompt)
            tokens = int(inputs["input_ids"].shape[1])
            inputs = {k: (v.to(dtype) if k.startswith("pixel_values") else v) for k, v in inputs.items()}
            reset_peak_rss()
            started = time.perf_counter()
            with torch.inference_mode():
                model.generate(**inputs, max_new_tokens=2, min_new_tokens=2, do_sample=False)
            points.append(
                {
                    "seconds": n,
                    "input_tokens": tokens,
                    "peak_growth_bytes": peak_rss_bytes() - baseline,
                    "wall_s": round(time.perf_counter() - started, 2),
                }
            )
            del inputs
        return {
            "model": args.model,
            "dtype": args.dtype,
            "text_layers": args.layers,
            "vision_layers": args.vision_layers,
            "frame": [geometry.height, geometry.width],
            "weights_bytes": weights_bytes(model),
            "build_s": round(build_s, 1),
            "points": points,
        }


def calibrate(model: str, dtype: str, depths=(1, 2), vision_layers: int = 2, **kw) -> dict:
    """Runs one worker per depth and fits transient and per-layer bytes per token."""

    runs = []
    for depth in depths:
        cmd = [
            sys.executable,
            "-m",
            "bench.vlm_calibrate",
            "--worker",
            "--model",
            model,
            "--dtype",
            dtype,
            "--layers",
            str(depth),
            "--vision-layers",
            str(vision_layers),
            "--frame",
            kw.get("frame", "560x1008"),
            "--threads",
            str(kw.get("threads", 2)),
            "--seconds",
            *[str(s) for s in kw.get("seconds", (1, 2, 4))],
        ]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{model} depth {depth}: {proc.stderr[-2000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return summarise(model, dtype, runs)


def summarise(model: str, dtype: str, runs: list[dict]) -> dict:
    """Fits each depth's runs; transient = slope - depth x KV per layer (arithmetic), kept at its
    largest over the depths (RSS growth is noisy: the per-layer difference between two depths, a few
    KB per token for grouped-query attention, is below what it resolves)."""
    from bench.vlm_models import config_dir

    config = json.loads((config_dir(model) / "config.json").read_text())
    text = config.get("text_config", config)
    layers = text["num_hidden_layers"]
    heads, kv_heads = text["num_attention_heads"], text.get("num_key_value_heads", text["num_attention_heads"])
    head_dim = text.get("head_dim") or text["hidden_size"] // heads
    kv = 2 * kv_heads * head_dim * {"float32": 4, "bfloat16": 2, "float16": 2}[dtype]
    slopes, intercepts = {}, {}
    for run in runs:
        a, b = _fit([(p["input_tokens"], p["peak_growth_bytes"] - run["weights_bytes"]) for p in run["points"]])
        slopes[run["text_layers"]], intercepts[run["text_layers"]] = b, a
    depths = sorted(slopes)
    transients = {d: slopes[d] - d * kv for d in depths}
    measured_per_layer = None
    if len(depths) > 1:
        measured_per_layer = (slopes[depths[-1]] - slopes[depths[0]]) / (depths[-1] - depths[0])
    transient = max(transients.values())
    return {
        "model": model,
        "dtype": dtype,
        "device": "cpu",
        "measure": "process RSS growth over a baseline before the model was built",
        "runs": runs,
        "slope_by_depth": {str(d): round(s) for d, s in slopes.items()},
        "intercept_by_depth": {str(d): round(a) for d, a in intercepts.items()},
        "transient_by_depth": {str(d): round(t) for d, t in transients.items()},
        "measured_per_layer_bytes_per_token": None if measured_per_layer is None else round(measured_per_layer),
        "kv_cache_bytes_per_token_per_layer": kv,
        "transient_bytes_per_token": round(transient),
        "layers": layers,
        "bytes_per_token": round(transient + layers * kv),
        "fixed_bytes": round(max(intercepts.values())),
        "note": RANDOM_WEIGHTS,
    }


def gpu_entries(kit_runs: list[dict], cpu: list[dict]) -> dict[str, tuple[int, int, str]]:
    """CUDA entries from the GPU kit's `calibration` sections (allocator peaks of prefills on the device):
    the slope as measured; the intercept only where nothing else was on the device (the first model of a
    run, or `previous_model_freed`), else the CPU bf16 intercept: kit runs before that check left the
    previous model allocated, which shifts the intercept by its weights and leaves the slope unchanged."""
    cpu_fixed = {r["model"]: r["fixed_bytes"] for r in cpu if r["dtype"] == "bfloat16"}
    entries = {}
    for run in kit_runs:
        for i, (model, c) in enumerate(run["calibration"].items()):
            transient = c["bytes_per_token"] - c["kv_bytes_per_token"]
            clean = c.get("previous_model_freed", None if i == 0 else False) is not False
            fixed = max(0, c["fixed_bytes"]) if clean else cpu_fixed[model]
            how = "intercept measured" if clean else "intercept from the CPU bf16 measurement"
            entries[model] = (transient, fixed, f"{model} bfloat16: allocator peak on {run['device']}, {how}")
    return entries


def write_module(results: list[dict], path: Path, sources: list[str], kit_runs: list[dict] = ()) -> None:
    """Writes analyzers/vlm/calibrations.py: CPU entries as measured; CUDA bf16 entries from the GPU kit's
    runs where given, else from the CPU bf16 measurement (conservative: CPU kernels keep more temporaries)."""
    from bench.vlm_models import config_dir

    gpu = gpu_entries(list(kit_runs), results)
    lines = [
        '"""Measured memory calibrations. Generated by `python -m bench.vlm_calibrate --write-module` from',
        *sources,
        "Regenerate, do not edit (method and figures: docs/vlm.md).",
        "",
        "(model_type, language-model hidden size, dtype, device kind) -> (transient bytes per token,",
        'fixed bytes, source). The KV cache is added from the config (memory.py)."""',
        "",
        "CALIBRATIONS: dict[tuple[str, int, str, str], tuple[int, int, str]] = {",
    ]
    for r in sorted(results, key=lambda r: (r["model"], r["dtype"])):
        config = json.loads((config_dir(r["model"]) / "config.json").read_text())
        family, hidden = config["model_type"], config.get("text_config", config)["hidden_size"]
        for device in ["cpu", "cuda"] if r["dtype"] == "bfloat16" else ["cpu"]:
            if device == "cuda" and r["model"] in gpu:
                transient, fixed, note = gpu[r["model"]]
            else:
                how = "bf16 RSS growth on CPU, CUDA not measured yet" if device == "cuda" else "RSS growth on CPU"
                transient, fixed = r["transient_bytes_per_token"], r["fixed_bytes"]
                note = f"{r['model']} {r['dtype']}: {how}, 1-2 layers"
            lines += [
                f'    ("{family}", {hidden}, "{r["dtype"]}", "{device}"): (',
                f"        {transient},",
                f"        {fixed},",
                f'        "{note}",',
                "    ),",
            ]
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=NAMES)
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--seconds", type=int, nargs="+", default=[1, 2, 4], help="window lengths to measure")
    parser.add_argument("--frame", default="560x1008", help="frame size HxW (Qwen: the 720p size at 768 tokens)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out")
    parser.add_argument("--refit", help="re-summarise the runs saved in this JSON file (no measuring)")
    parser.add_argument("--write-module", help="write analyzers/vlm/calibrations.py from this JSON file")
    parser.add_argument("--gpu-kit", nargs="*", default=[], help="with --write-module: GPU kit results (CUDA)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--layers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--vision-layers", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    if args.write_module:
        results = json.loads(Path(args.write_module).read_text())
        kit_runs = [json.loads(Path(f).read_text()) for f in args.gpu_kit]
        sources = [args.write_module, *args.gpu_kit]
        write_module(results, ROOT / "analyzers" / "vlm" / "calibrations.py", sources, kit_runs)
        return 0
    if args.refit:
        saved = json.loads(Path(args.refit).read_text())
        fitted = [summarise(r["model"], r["dtype"], r["runs"]) for r in saved]
        Path(args.refit).write_text(json.dumps(fitted, indent=2))
        for r in fitted:
            print(json.dumps({k: v for k, v in r.items() if k != "runs"}))
        return 0
    models = NAMES if args.all else [args.model]
    if models == [None]:
        parser.error("--model or --all")
    results = []
    for model in models:
        # LLaVA-NeXT-Video costs 144 tokens per second (one 336 px frame): longer windows for the same lengths.
        seconds = [s * 4 for s in args.seconds] if model.startswith("LLaVA") else args.seconds
        result = calibrate(model, args.dtype, seconds=seconds, frame=args.frame, threads=args.threads)
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2), flush=True)
        if args.out:  # after every model: a later failure keeps what was measured
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            previous = json.loads(out.read_text()) if out.is_file() else []
            done = {(m["model"], m["dtype"]) for m in results}
            out.write_text(
                json.dumps([r for r in previous if (r["model"], r["dtype"]) not in done] + results, indent=2)
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
