"""Benchmark of the per-second video description analyzer, and its planned budget table.

python bench/vlm_bench.py --plan-table
    Planned windows for Qwen2-VL-2B / -7B at 16, 24, 48 and 80 GB (no model needed).
python bench/vlm_bench.py --model /path/to/Qwen2-VL-7B-Instruct [--clip CLIP] [--memory-gb 24]
    Runs a real checkpoint from a local folder on the GPU over a corpus clip: seconds of video
    per second of compute, peak memory, per-second coverage, tokens and calls, and the measured
    memory per token (to check the planner's memory model). Without a GPU or a folder it says
    so and exits 0. `--allow-cpu` runs on the CPU anyway (for tiny test checkpoints).
python bench/vlm_bench.py --real-size Qwen2-VL-2B-Instruct --dtype float32 [--clip CLIP] ...
    Real size, random weights (memory and speed only): the published architecture (configs/vlm/)
    built with random weights in the target dtype on this machine's device, describing every second
    of a clip through the production path with scripted answers, unbatched and batched. Per window:
    exact input tokens, planned and measured peak memory, prefill and decode time; per run: video
    seconds per compute second, coverage, calls, re-asks. See docs/vlm.md for the command that made
    bench/results/vlm_real_size_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzers.vlm.planner import GIB, PlanError, PlanOptions, QwenVisual, TextCost, plan_windows  # noqa: E402

# The corpus sits at ../shared/corpus from the project root (or from a folder above a worktree).
CORPUS = next(
    (p / "shared" / "corpus" for p in ROOT.parents if (p / "shared" / "corpus").is_dir()),
    ROOT.parent / "shared" / "corpus",
)
DEFAULT_CLIP = CORPUS / "synthetic" / "synthetic_clip01.mp4"

# The table plans with the calibrated memory model (analyzers/vlm/memory.py) of each published
# architecture (configs/vlm/) on CUDA in bf16; weights from the published parameter counts.
MODELS = {
    "Qwen2-VL-2B bf16": {"config": "Qwen2-VL-2B-Instruct", "bytes_per_parameter": 2},
    "Qwen2-VL-7B bf16": {"config": "Qwen2-VL-7B-Instruct", "bytes_per_parameter": 2},
    # Linear layers of the language model in 8-bit; embeddings, LM head and vision tower in bf16 (an estimate).
    "Qwen2-VL-7B int8": {"config": "Qwen2-VL-7B-Instruct", "weights_bytes": 7.07e9 + (0.545e9 * 2 + 0.675e9) * 2},
}
BUDGETS_GB = (16, 24, 44, 80)
# Text of a window prompt with the Qwen2 tokenizer (digits are single tokens): chat template and
# instructions ~120 tokens, a label "[1234s] " with the vision start/end tokens and a newline ~12.
TEXT = TextCost(fixed=120, per_second=12, fixed_single=80)
SOURCE = (720, 1280)


def plan_table(options: PlanOptions, hours: float = 1.0) -> str:
    from transformers import AutoConfig

    from analyzers.vlm.memory import memory_model_for_config
    from bench.vlm_models import config_dir, source

    rows = [
        "| model | GPU GB | weights GiB | bytes/token | memory tokens | frame px | visual tok/s | window s | "
        "input tok/window | new tok/window | windows per call | calls per hour |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, spec in MODELS.items():
        config = AutoConfig.from_pretrained(config_dir(spec["config"]))
        memory = memory_model_for_config(config, "bfloat16", "cuda")
        weights = (
            spec.get("weights_bytes") or source(spec["config"])["published_parameters"] * spec["bytes_per_parameter"]
        )
        for gb in BUDGETS_GB:
            if "int8" in name and gb > 24:
                continue
            memory_tokens = memory.tokens_for(gb * GIB - weights)
            head = f"| {name} | {gb} | {weights / GIB:.1f} | {memory.bytes_per_token / 1e3:.0f}k | {memory_tokens} |"
            try:
                plan = plan_windows(
                    hours * 3600,
                    SOURCE,
                    QwenVisual(),
                    TEXT,
                    context_limit=config.get_text_config().max_position_embeddings,
                    memory_tokens=memory_tokens,
                    options=options,
                )
            except PlanError:
                rows.append(f"{head} does not fit | | | | | | |")
                continue
            g = plan.geometry
            calls = -(-len(plan.windows(hours * 3600)) // plan.batch_size)
            rows.append(
                f"{head} {g.width}x{g.height} | {plan.visual_tokens_per_second} | "
                f"{plan.window_s} | {plan.input_tokens_bound(plan.window_s)} | {plan.max_new_tokens(plan.window_s)} | "
                f"{plan.batch_size} | {calls} |"
            )
    return "\n".join(rows)


def decode_to_store(clip: Path, store: Path, fps: float = 2.0, max_side: int = 1280) -> float:
    """Samples the clip at `fps` (max side `max_side`) into a frame store; returns the duration."""
    import av
    import cv2

    from analyzers.frames import FrameStoreWriter, SampledFrame

    writer = FrameStoreWriter(store)
    next_t, last_t = 0.0, 0.0
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else i / float(stream.average_rate)
            last_t = max(last_t, t + 1.0 / float(stream.average_rate or 25))
            if t + 1e-6 < next_t:
                continue
            image = frame.to_ndarray(format="rgb24")
            h, w = image.shape[:2]
            if max(h, w) > max_side:
                s = max_side / max(h, w)
                image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            writer.add(SampledFrame(t=t, frame_index=i, image=image))
            next_t += 1.0 / fps
        duration = float(stream.duration * stream.time_base) if stream.duration else last_t
    writer.close()
    return duration


def memory_slope(asks: list[dict], weights_bytes: int) -> float | None:
    """Least-squares bytes per sequence token of the calls' peak memory above the weights (a call's
    tokens: its rows x (padded input + the longest answer))."""
    calls: dict[int, list[dict]] = {}
    for a in asks:
        if "peak_bytes" in a:
            calls.setdefault(a.get("call", len(calls)), []).append(a)
    points = [
        (
            rows[0].get("batch", 1)
            * (rows[0].get("padded_input_tokens", rows[0]["input_tokens"]) + max(r["new_tokens"] for r in rows)),
            rows[0]["peak_bytes"] - weights_bytes,
        )
        for rows in calls.values()
    ]
    if len(points) < 2 or len({x for x, _ in points}) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def run_model(args) -> int:
    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        print(
            "No CUDA GPU here: the real-checkpoint benchmark needs one "
            "(use --plan-table, --real-size, or --allow-cpu for a tiny checkpoint)."
        )
        return 0
    folder = Path(args.model) if args.model else None
    if folder is None or not (folder / "config.json").is_file():
        print(
            f"No model folder ({folder}): pass --model with a local checkpoint folder "
            "(config.json, safetensors, tokenizer)."
        )
        return 0
    clip = Path(args.clip)
    if not clip.is_file():
        print(f"Clip {clip} not found: pass --clip (the corpus is at ../shared/corpus from the project root).")
        return 0

    from transformers import AutoModelForImageTextToText

    from analyzers.vlm import describe_video, load_processor
    from analyzers.vlm.describe import _weights_bytes

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = getattr(torch, args.dtype)
    started = time.perf_counter()
    model = (
        AutoModelForImageTextToText.from_pretrained(folder, dtype=dtype, use_safetensors=True, trust_remote_code=False)
        .to(device)
        .eval()
    )
    processor = load_processor(folder)
    load_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        store = Path(tmp) / "frames.parquet"
        duration = decode_to_store(clip, store)
        if args.max_seconds:
            duration = min(duration, args.max_seconds)
        decode_s = time.perf_counter() - started
        budget = int(args.memory_gb * GIB) if args.memory_gb else None
        options = PlanOptions(max_window_s=args.max_window)
        result = describe_video(
            store,
            duration,
            model,
            processor,
            prompt_version=args.prompt_version,
            source=folder.name,
            options=options,
            memory_budget_bytes=budget,
        )
    meta = result.metadata
    slope = memory_slope(result.asks, _weights_bytes(model))
    report = {
        "model": folder.name,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "dtype": args.dtype,
        "clip": clip.name,
        "duration_s": round(duration, 3),
        "load_s": round(load_s, 2),
        "decode_s": round(decode_s, 2),
        "describe_s": meta["wall_s"],
        "video_s_per_compute_s": meta["video_s_per_compute_s"],
        "peak_memory_gib": round(meta["peak_memory_bytes"] / GIB, 2) if "peak_memory_bytes" in meta else None,
        "measured_bytes_per_token": round(slope) if slope else None,
        "coverage": meta["coverage"],
        "failed_seconds": meta["failed_seconds"],
        "windows": meta["windows"],
        "asks": meta["asks"],
        "reasks": meta["reasks"],
        "max_input_tokens": meta["max_input_tokens"],
        "generated_tokens": meta["generated_tokens"],
        "repetition_stops": meta["repetition_stops"],
        "plan": meta["plan"],
    }
    print(json.dumps(report, indent=2))
    truth = clip.with_suffix(".gt.json")
    if truth.is_file():
        gt = {s["second"]: s["description"] for s in json.loads(truth.read_text())["seconds"]}
        got = {int(e.start_s): e.value for e in result.events if e.aspect == "description"}
        for s in range(0, math.ceil(duration), max(1, math.ceil(duration) // 6)):
            print(f"[{s}s] model: {got.get(s, '-')}\n      truth: {gt.get(s, '-')}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        report["descriptions"] = {int(e.start_s): e.value for e in result.events if e.aspect == "description"}
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


def warm_up(model, processor, store: Path) -> None:
    """One short call (one second, two new tokens) before anything is timed."""
    import torch

    from analyzers.frames import iter_frames
    from analyzers.vlm.adapters import adapter_for, to_model
    from analyzers.vlm.prompts import get_prompt

    adapter = adapter_for(model, processor)
    frame = next(iter(iter_frames(store))).image
    geometry = adapter.visual.frame_sizes(*frame.shape[:2])[0]
    fps = adapter.visual.min_frames_per_second
    inputs = adapter.encode([0], [adapter.prepare_clip([frame] * fps, geometry)], fps, get_prompt("v1"))
    inputs = to_model(inputs, model)
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=2, min_new_tokens=2, do_sample=False)


def run_real_size(args) -> int:
    """Real-size, random-weights runs (unbatched, then batched) of the production describe path."""
    import dataclasses
    import datetime
    import platform

    import torch

    from bench.vlm_frames import synthetic_store, video_to_store
    from bench.vlm_real_size import describe_random, load_random

    load_at_start = list(os.getloadavg())
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    options = PlanOptions(
        max_window_s=args.max_window,
        new_tokens_per_second=args.new_tokens_per_second,
        max_visual_tokens_per_second=args.max_visual_tokens,
    )
    budget = int(args.memory_gb * GIB) if args.memory_gb else None
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "frames.parquet"
        if args.synthetic:
            duration = synthetic_store(store, args.synthetic)
            clip_name = f"synthetic {args.synthetic:g} s 1280x720"
        else:
            clip = Path(args.clip)
            if not clip.is_file():
                print(f"Clip {clip} not found: pass --clip or --synthetic SECONDS.")
                return 0
            duration = video_to_store(clip, store)
            clip_name = clip.name
        if args.max_seconds:
            duration = min(duration, args.max_seconds)
        model, processor, info = load_random(args.real_size, dtype, device, size=args.size, folder=Path(tmp) / "model")
        warm_up(model, processor, store)  # one-time kernel set-up stays out of the compared runs
        runs = {}
        for label, batch in (("unbatched", 1), ("batched", args.max_batch)):
            if label == "unbatched" and args.batched_only:
                continue
            runs[label] = describe_random(
                model,
                processor,
                store,
                duration,
                source_name=f"{args.real_size} (random weights)",
                options=dataclasses.replace(options, max_batch_windows=batch),
                budget_bytes=budget,
                rss_baseline=info["rss_baseline_bytes"],
            )
            print(
                f"{label}: batch {runs[label]['batch_size']}, {runs[label]['calls']} calls, "
                f"{runs[label]['video_s_per_compute_s']} video s per compute s, coverage {runs[label]['coverage']}",
                flush=True,
            )
    head = runs.get("unbatched") or runs["batched"]
    report = {
        **info,
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/vlm_bench.py " + " ".join(sys.argv[1:] if args.argv is None else args.argv),
        "load_average_start_end": [load_at_start, list(os.getloadavg())],
        "clip": clip_name,
        "duration_s": round(duration, 3),
        "options": dataclasses.asdict(options),
        "memory_budget_bytes": budget,
        "windows": head["windows"],
        "tokens_per_window": head["tokens_per_window"],
        "tokens_exact": all(r["tokens_exact"] for r in runs.values()),
        "planned_peak_bytes": head["planned_peak_bytes"],
        "measured_peak_bytes": head["measured_peak_bytes"],
        "coverage": head["coverage"],
        "video_s_per_compute_s": head["video_s_per_compute_s"],
        "batch_size": runs["batched"]["batch_size"],
        "batched_speedup": (
            round(runs["batched"]["video_s_per_compute_s"] / runs["unbatched"]["video_s_per_compute_s"], 3)
            if "unbatched" in runs
            else None
        ),
        "runs": runs,
    }
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    summary = {k: v for k, v in report.items() if k != "runs"}
    summary["runs"] = {
        k: {f: v[f] for f in ("batch_size", "calls", "coverage", "video_s_per_compute_s", "measured_over_planned")}
        for k, v in runs.items()
    }
    print(json.dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan-table", action="store_true", help="print the planned budget table and exit")
    parser.add_argument("--model", help="local checkpoint folder")
    parser.add_argument("--clip", default=str(DEFAULT_CLIP))
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument(
        "--memory-gb", type=float, help="memory the model may use, weights included (default: free GPU memory)"
    )
    parser.add_argument("--max-window", type=int, default=PlanOptions().max_window_s)
    parser.add_argument("--max-seconds", type=float, help="describe only the first seconds of the clip")
    parser.add_argument("--prompt-version", default="v1")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a GPU (tiny checkpoints)")
    parser.add_argument("--out", help="write the report (with all descriptions) as JSON here")
    real = parser.add_argument_group("real size, random weights (memory and speed only)")
    real.add_argument("--real-size", metavar="NAME", help="a published configuration in configs/vlm/")
    real.add_argument("--size", default="real", choices=["real", "tiny"], help="tiny: the dry-run shrink")
    real.add_argument("--device", help="default: cuda when available, else cpu")
    real.add_argument("--synthetic", type=float, metavar="SECONDS", help="a synthetic 720p video instead of --clip")
    real.add_argument("--max-visual-tokens", type=int, help="pixel cap: visual tokens per second")
    real.add_argument("--new-tokens-per-second", type=int, default=PlanOptions().new_tokens_per_second)
    real.add_argument("--max-batch", type=int, default=PlanOptions().max_batch_windows)
    real.add_argument("--batched-only", action="store_true")
    real.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.plan_table:
        print(plan_table(PlanOptions(max_window_s=args.max_window)))
        return 0
    if args.real_size:
        return run_real_size(args)
    return run_model(args)


if __name__ == "__main__":
    sys.exit(main())
