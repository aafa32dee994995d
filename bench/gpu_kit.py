"""GPU measurement kit: real-size vision-language models with random weights (memory and speed only).

    python -m bench.gpu_kit                  # on a machine with one CUDA GPU: under 8 minutes, one JSON table
    python -m bench.gpu_kit --dry-run        # the same kit end to end on the CPU with tiny configs (< 2 min)

Rows (each a `describe_video` run through the production path, scripted answers, OOM backoff):
  Qwen2-VL-7B bf16, per-second windows over a 10-minute 720p video, inside a 24 GB and a 44 GB budget,
    without and with batching, and on the whole GPU with batching (the throughput target);
  Qwen2-VL-2B bf16; Qwen2.5-VL-7B bf16;
  LLaVA-NeXT-Video-7B per-second windows, and the old system's single call with 16 frames for the whole video;
  Qwen2-VL-7B 8-bit where bitsandbytes is importable.
A budget is enforced twice: the planner plans inside it, and the CUDA allocator is capped to it
(`torch.cuda.set_per_process_memory_fraction`), so a wrong plan ends in a real out-of-memory error and
the backoff, which the row records. Rows share a time budget (`--budget-s`): a row that cannot describe
the whole video in its share describes a prefix of whole windows and says so (`video_s` < `full_video_s`),
and takes no more windows per call than its share allows, predicted from the model's earlier calls
(`max_batch_for_share`): a call cannot be cut short.

Frames: the 10-minute 720p video is drawn with OpenCV on the machine (bench/vlm_frames.py) into a frame
store before the rows run; with random weights its content changes nothing in memory or speed.
Runs with python3 + torch, transformers, numpy, pandas, pyarrow and opencv-python-headless; imports no
PyAV and no Dagster (tested), reaches no network. Everything it needs is in the repository (configs/vlm/).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.util
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from analyzers.vlm import PlanOptions  # noqa: E402
from analyzers.vlm.planner import GIB  # noqa: E402
from bench.vlm_models import parse_args, random_weights_header, write_report  # noqa: E402

Q2_7B, Q2_2B, Q25_7B, LLAVA = (
    "Qwen2-VL-7B-Instruct",
    "Qwen2-VL-2B-Instruct",
    "Qwen2.5-VL-7B-Instruct",
    "LLaVA-NeXT-Video-7B-hf",
)


@dataclasses.dataclass(frozen=True)
class Row:
    label: str
    model: str
    budget_gb: float | None  # None: the whole GPU
    max_batch: int
    share: float  # of the time budget
    kind: str = "describe"  # or "old16": the old system's single 16-frame call
    quantization: str | None = None


# One call cannot be cut short: a batched call over a large budget takes what it takes (the whole-GPU row
# took 173 s of a 330 s budget on an H200), so every other model's rows come first and it comes last.
ROWS = [
    Row("Qwen2-VL-7B bf16, 24 GB, unbatched", Q2_7B, 24, 1, 0.08),
    Row("Qwen2-VL-7B bf16, 24 GB, batched", Q2_7B, 24, 8, 0.11),
    Row("Qwen2-VL-7B bf16, 44 GB, unbatched", Q2_7B, 44, 1, 0.08),
    Row("Qwen2-VL-7B bf16, 44 GB, batched", Q2_7B, 44, 8, 0.11),
    Row("Qwen2-VL-2B bf16, 24 GB, batched", Q2_2B, 24, 16, 0.09),
    Row("Qwen2.5-VL-7B bf16, 44 GB, batched", Q25_7B, 44, 8, 0.11),
    Row("LLaVA-NeXT-Video-7B bf16, old single call with 16 frames", LLAVA, 44, 1, 0.03, kind="old16"),
    Row("LLaVA-NeXT-Video-7B bf16, 44 GB, per-second windows, batched", LLAVA, 44, 8, 0.11),
    Row("Qwen2-VL-7B 8-bit, 24 GB, batched", Q2_7B, 24, 8, 0.15, quantization="8bit"),
    Row("Qwen2-VL-7B bf16, whole GPU, batched", Q2_7B, None, 32, 0.13),
]


def _gib(x):
    return None if x is None else round(x / GIB, 2)


def call_seconds(calls: list[dict], steps: int):
    """Predicted seconds of one call of `rows` windows answering `steps` tokens each, from calls the model
    made before (ScriptedAnswers records): prefill time per window, and a decode step costing `one` plus
    `per_row` for each row beyond the first, fitted over the batch sizes seen. With one batch size seen,
    an added row is taken to cost as much as the first (on an H200 it cost 0.4 to 0.9 of it)."""
    prefill = sum(c["prefill_s"] for c in calls) / sum(c["rows"] for c in calls)
    points = [(c["rows"] - 1, c["decode_s"] / (c["generated_steps"] - 1)) for c in calls if c["generated_steps"] > 1]
    mx, my = sum(x for x, _ in points) / len(points), sum(y for _, y in points) / len(points)
    spread = sum((x - mx) ** 2 for x, _ in points)
    per_row = max(0.0, sum((x - mx) * (y - my) for x, y in points) / spread) if spread else my
    one = max(my - per_row * mx, min(y for _, y in points))
    return lambda rows: prefill * rows + steps * (one + per_row * (rows - 1))


def batch_for_share(calls: list[dict], share_s: float, steps: int, limit: int) -> int:
    """The most windows (up to `limit`, at least 1) whose one call ends within the row's time share: a call
    cannot be cut short, and the first call of a large batch once took half the kit's budget. Without
    earlier calls of this model: `limit`."""
    if not calls:
        return limit
    seconds = call_seconds(calls, steps)
    return max([1] + [rows for rows in range(1, limit + 1) if seconds(rows) <= share_s])


class Kit:
    def __init__(self, args):
        self.args = args
        self.dry = args.dry_run
        self.device = "cpu" if self.dry else "cuda"
        self.dtype = torch.float32 if self.dry else torch.bfloat16
        self.size = "tiny" if self.dry else "real"
        self.started = time.perf_counter()
        self.deadline = self.started + args.budget_s
        self.tmp = Path(tempfile.mkdtemp(prefix="gpu-kit-"))
        self.options = PlanOptions(
            max_window_s=args.max_window,
            new_tokens_per_second=args.new_tokens_per_second,
            max_visual_tokens_per_second=args.max_visual_tokens,
        )
        self.context_bytes = 0
        self.calls: dict[str, list[dict]] = {}  # each model's calls so far: the pace of the next rows
        self.device_name = "cpu" if self.dry else torch.cuda.get_device_name()
        if not self.dry:
            torch.cuda.init()
            free, total = torch.cuda.mem_get_info()
            self.total_bytes = total
            self.context_bytes = total - free  # CUDA context and anything else already on the device

    def left_s(self) -> float:
        return self.deadline - time.perf_counter()

    # -- budgets ------------------------------------------------------------------------------------
    def cap(self, budget_gb: float | None) -> int | None:
        """Caps the CUDA allocator to the budget (minus the context already on the device)."""
        if self.dry:  # nothing to cap on the CPU; "whole GPU" plans as if 80 GB were there
            return int((budget_gb or 80) * GIB)
        torch.cuda.empty_cache()
        if budget_gb is None:
            torch.cuda.set_per_process_memory_fraction(1.0)
            return None
        budget = int(budget_gb * GIB)
        torch.cuda.set_per_process_memory_fraction(max(0.01, (budget - self.context_bytes) / self.total_bytes))
        return budget

    # -- frames ---------------------------------------------------------------------------------------
    def frames(self) -> tuple[Path, float]:
        from bench.vlm_frames import synthetic_store

        store = self.tmp / "frames.parquet"
        h, w = (int(v) for v in self.args.frame.split("x"))
        started = time.perf_counter()
        duration = synthetic_store(store, self.args.video_s, height=h, width=w)
        self.frames_s = round(time.perf_counter() - started, 2)
        return store, duration

    # -- models ---------------------------------------------------------------------------------------
    def load(self, name: str, quantization: str | None = None):
        from bench.vlm_real_size import load_random

        if quantization is None:
            return load_random(name, self.dtype, self.device, size=self.size, folder=self.tmp / name)
        return self._load_8bit(name)

    def _load_8bit(self, name: str):
        """Random bf16 weights saved with safetensors, loaded back in 8-bit: the runtime's own path."""
        from transformers import AutoModelForImageTextToText, BitsAndBytesConfig, GenerationConfig

        from analyzers.vlm import load_processor
        from bench.vlm_models import build_model, materialize, source, weights_bytes
        from bench.vlm_random import rss_bytes

        folder = materialize(name, self.tmp / f"{name}-8bit", size=self.size)
        started = time.perf_counter()
        model = build_model(folder, torch.bfloat16, "cpu")
        model.save_pretrained(folder, safe_serialization=True)
        del model
        gc.collect()
        rss = rss_bytes()
        model = AutoModelForImageTextToText.from_pretrained(
            folder,
            quantization_config=BitsAndBytesConfig(load_in_8bit=True),
            dtype=torch.bfloat16,
            device_map={"": 0},
            use_safetensors=True,
            trust_remote_code=False,
        ).eval()
        model.generation_config = GenerationConfig.from_pretrained(folder)
        info = {
            "model": name,
            "published": source(name)["model"],
            "parameters": sum(p.numel() for p in model.parameters()),
            "dtype": "int8 (bitsandbytes) + bf16",
            "weights_bytes": weights_bytes(model),
            "build_s": round(time.perf_counter() - started, 2),
            "rss_baseline_bytes": rss,
            "random_weights": True,
        }
        return model, load_processor(folder), info

    def unload(self, loaded: dict) -> dict:
        """Frees the loaded model before the next one is built, and says whether it really went: a model
        still referenced would sit in the next model's memory figures (and its budget)."""
        import weakref

        gone = [weakref.ref(model) for model, _, _ in loaded.values()]
        loaded.clear()
        gc.collect()
        if not self.dry:
            torch.cuda.set_per_process_memory_fraction(1.0)
            torch.cuda.empty_cache()
        return {
            "previous_model_freed": all(ref() is None for ref in gone) if gone else None,
            "allocated_gib_before_load": None if self.dry else _gib(torch.cuda.memory_allocated()),
        }

    # -- rows -----------------------------------------------------------------------------------------
    def describe_row(self, row: Row, model, processor, info, store: Path, duration: float, share_s: float) -> dict:
        from bench.vlm_real_size import describe_random

        budget = self.cap(row.budget_gb)
        o = self.options
        steps = o.answer_overhead_tokens + o.max_window_s * o.new_tokens_per_second
        batch = batch_for_share(self.calls.get(row.model, []), share_s, steps, row.max_batch)
        # the dry run's time budget is nominal (it runs every row): its batches stay the rows' own, repeatable
        options = dataclasses.replace(o, max_batch_windows=row.max_batch if self.dry else batch)
        run = describe_random(
            model,
            processor,
            store,
            duration,
            source_name=f"{row.model} (random weights)",
            options=options,
            budget_bytes=budget,
            rss_baseline=info["rss_baseline_bytes"],
            time_limit_s=share_s,
        )
        self.calls.setdefault(row.model, []).extend(run["calls_detail"])
        plan = run["plan"]
        return {
            "attention": model.config.get_text_config()._attn_implementation,
            "max_batch_for_share": batch,
            "batch_size": run["batch_size"],
            "window_s": plan["window_s"],
            "frame": f"{plan['frame_width']}x{plan['frame_height']}",
            "visual_tokens_per_second": plan["visual_tokens_per_second"],
            "input_tokens_per_window": max(run["tokens_per_window"], default=None),
            "tokens_exact": run["tokens_exact"],
            "video_s": run["video_s"],
            "full_video_s": round(duration, 1),
            "coverage": run["coverage"],
            "calls": run["calls"],
            "reasks": run["reasks"],
            "oom_retries": run["oom_retries"],
            "video_s_per_compute_s": run["video_s_per_compute_s"],
            "planned_peak_gib": _gib(run["planned_peak_bytes"]),
            "measured_peak_gib": _gib(run["measured_peak_bytes"]),
            "measured_over_planned": run["measured_over_planned"],
            "fitted_bytes_per_token": run["fitted_bytes_per_token"],
            "planner_bytes_per_token": run["memory_model"]["bytes_per_token"],
            "prefill_s": run["prefill_s"],
            "decode_s": run["decode_s"],
            "decode_ms_per_step": run["decode_s_per_step"] and round(1000 * run["decode_s_per_step"], 2),
            "prepare_s": run["prepare_s"],
            "encode_s": run["encode_s"],
            "compute_s": run["compute_s"],
        }

    def calibrate(self, name: str, model, processor, info, store: Path) -> dict:
        """Peak memory of single prefill calls of 2 to 16 one-second clips at the video's frame size:
        the slope and intercept over the weights are the planner's calibration for this device
        (analyzers/vlm/memory.py: transient = slope - KV cache per token)."""
        from analyzers.frames import iter_frames
        from analyzers.vlm.adapters import adapter_for, to_model
        from analyzers.vlm.memory import kv_bytes_per_token
        from analyzers.vlm.prompts import get_prompt
        from bench.vlm_random import peak_rss_bytes, reset_peak_rss

        self.cap(None)
        adapter = adapter_for(model, processor)
        frame = next(iter(iter_frames(store))).image
        geometry = adapter.visual.frame_sizes(*frame.shape[:2])[-1]
        fps = adapter.visual.min_frames_per_second
        points = []
        for n in (2, 4, 8, 16) if self.dry or not name.startswith("LLaVA") else (4, 8, 16, 24):
            seconds = list(range(n))
            inputs = adapter.encode(seconds, [adapter.prepare_clip([frame] * fps, geometry)] * n, fps, get_prompt("v1"))
            inputs = to_model(inputs, model)
            if self.dry:
                reset_peak_rss()
            else:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            with torch.inference_mode():
                model.generate(**inputs, max_new_tokens=2, min_new_tokens=2, do_sample=False)
            peak = peak_rss_bytes() - info["rss_baseline_bytes"] if self.dry else torch.cuda.max_memory_allocated()
            points.append([int(inputs["input_ids"].shape[1]), int(peak - info["weights_bytes"])])
            del inputs
        n = len(points)
        mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
        slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
        kv = kv_bytes_per_token(model.config, str(model.dtype).removeprefix("torch."))
        family, hidden = model.config.model_type, model.config.get_text_config().hidden_size
        kind = "cpu" if self.dry else "cuda"
        dtype = str(model.dtype).removeprefix("torch.")
        return {
            "frame": f"{geometry.width}x{geometry.height}",
            "points_tokens_bytes_over_weights": points,
            "bytes_per_token": round(slope),
            "fixed_bytes": round(my - slope * mx),
            "kv_bytes_per_token": kv,
            "memory_py_entry": f'("{family}", {hidden}, "{dtype}", "{kind}"): Calibration({round(slope - kv)}, '
            f'{max(0, round(my - slope * mx))}, "{name} {dtype}: allocator peak on {self.device_name}"),',
        }

    def old16_row(self, row: Row, model, processor, store: Path, duration: float) -> dict:
        """The old system's approach: one call, 16 frames spread over the whole video, an answer as
        long as sixteen per-second lines. At most 16 seconds can have a frame of their own."""
        from analyzers.frames import iter_frames
        from analyzers.vlm.adapters import adapter_for, to_model
        from analyzers.vlm.planner import Geometry
        from bench.vlm_random import ScriptedAnswers

        self.cap(row.budget_gb)
        adapter = adapter_for(model, processor)
        frames = list(iter_frames(store))
        picks = [frames[min(len(frames) - 1, int((k + 0.5) * len(frames) / 16))] for k in range(16)]
        clip = adapter.prepare_clip([f.image for f in picks], Geometry(adapter.visual.size, adapter.visual.size))
        text = f"{adapter.video_marker}\nDescribe what happens in this video, with a timestamp for each event."
        rendered = adapter._affixes[0] + text + adapter._affixes[1] if adapter._affixes else adapter._render(text)
        inputs = processor(text=[rendered], videos=[clip], fps=1, return_tensors="pt")
        inputs.pop("video_metadata", None)
        inputs = to_model(inputs, model)
        scripted = ScriptedAnswers(model, processor.tokenizer)
        steps = self.options.answer_overhead_tokens + 16 * self.options.new_tokens_per_second
        started = time.perf_counter()
        try:
            with torch.inference_mode():
                model.generate(**inputs, max_new_tokens=steps, do_sample=False)
        finally:
            scripted.restore()
        wall = time.perf_counter() - started
        call = scripted.calls[0]
        return {
            "batch_size": 1,
            "frames": 16,
            "input_tokens_per_window": call["input_tokens"][0],
            "video_s": round(duration, 1),
            "full_video_s": round(duration, 1),
            "seconds_with_own_frame": min(16, math.ceil(duration)),
            "coverage_bound": round(min(16, math.ceil(duration)) / math.ceil(duration), 4),
            "calls": 1,
            "video_s_per_compute_s": round(duration / wall, 4),
            "measured_peak_gib": _gib(call.get("measured_peak_bytes")),
            "prefill_s": call["prefill_s"],
            "decode_s": call["decode_s"],
            "compute_s": round(wall, 3),
        }

    def run(self) -> dict:
        store, duration = self.frames()
        rows = [r for r in ROWS if self.args.rows is None or r.label in self.args.rows]
        if self.dry:  # the dry run skips nothing it can run: 8-bit needs CUDA
            rows = [r for r in rows if r.quantization is None] + [r for r in rows if r.quantization]
        table, loaded, calibration, loads = [], {}, {}, []
        total_share = sum(r.share for r in rows)
        for i, row in enumerate(rows):
            record = {"row": row.label, "model": row.model, "budget_gb": row.budget_gb, "max_batch": row.max_batch}
            remaining_share = sum(r.share for r in rows[i:])
            share_s = self.left_s() * row.share / remaining_share if remaining_share else 0
            if row.quantization and (self.dry or importlib.util.find_spec("bitsandbytes") is None):
                table.append(record | {"status": "skipped: bitsandbytes not importable or no CUDA"})
                continue
            if not self.dry and self.left_s() < self.args.budget_s * 0.02 * total_share:
                table.append(record | {"status": "skipped: time budget spent"})  # the dry run runs every row
                continue
            key = (row.model, row.quantization)
            try:
                if key not in loaded:
                    model = processor = info = None  # the loop's own references to the previous model
                    unloaded = self.unload(loaded)
                    loads.append({"model": row.model, "quantization": row.quantization} | unloaded)
                    loaded[key] = self.load(row.model, row.quantization)
                    if row.quantization is None:
                        started = time.perf_counter()
                        calibration[row.model] = self.calibrate(row.model, *loaded[key], store) | unloaded
                        calibration[row.model]["wall_s"] = round(time.perf_counter() - started, 1)
                model, processor, info = loaded[key]
                record |= {
                    "parameters": info["parameters"],
                    "dtype": info["dtype"],
                    "weights_gib": _gib(info["weights_bytes"]),
                    "build_s": info["build_s"],
                }
                if row.kind == "old16":
                    record |= self.old16_row(row, model, processor, store, duration)
                else:
                    record |= self.describe_row(row, model, processor, info, store, duration, share_s)
                record["status"] = "ok"
            except Exception as e:  # a row that fails is reported, the others still run
                record["status"] = f"error: {type(e).__name__}: {str(e)[:300]}"
            table.append(record)
            print(json.dumps(record), file=sys.stderr, flush=True)
        loaded.clear()
        device = "cpu" if self.dry else torch.cuda.get_device_name()
        return random_weights_header("bench.gpu_kit", self.args.argv, self.dry, device, self.started) | {
            "device_memory_gib": None if self.dry else _gib(self.total_bytes),
            "cuda_context_gib": None if self.dry else _gib(self.context_bytes),
            "video": f"synthetic {self.args.video_s:g} s {self.args.frame} at 2 frames per second",
            "frames_s": self.frames_s,
            "options": dataclasses.asdict(self.options),
            "rows": table,
            "calibration": calibration,
            "loads": loads,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="tiny configs on the CPU, a short video")
    parser.add_argument("--budget-s", type=float, help="time for all rows (default 330 on a GPU, 60 dry)")
    parser.add_argument("--video-s", type=float, help="video length (default 600; dry run 8)")
    parser.add_argument("--frame", help="frame size HxW (default 720x1280; dry run 180x320)")
    parser.add_argument("--max-window", type=int, help="window seconds (default 16; dry run 4)")
    parser.add_argument("--new-tokens-per-second", type=int, help="answer room per second (default 40; dry 12)")
    parser.add_argument("--max-visual-tokens", type=int, help="pixel cap in visual tokens per second")
    parser.add_argument("--rows", nargs="+", help="run only these row labels")
    parser.add_argument("--out", help="also write the JSON table here")
    dry = {"budget_s": 60.0, "video_s": 8.0, "frame": "180x320", "max_window": 4, "new_tokens_per_second": 12}
    real = {"budget_s": 330.0, "video_s": 600.0, "frame": "720x1280", "max_window": 16, "new_tokens_per_second": 40}
    args = parse_args(parser, argv, dry, real)
    if not args.dry_run and not torch.cuda.is_available():
        print(json.dumps({"bench": "bench.gpu_kit", "status": "no CUDA GPU here; --dry-run runs the kit on the CPU"}))
        return 2
    if args.dry_run:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    report = Kit(args).run()
    write_report(report, args.out)
    return 0 if all(r["status"] == "ok" or r["status"].startswith("skipped") for r in report["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
