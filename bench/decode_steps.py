"""What one batched decode step costs, and where it goes: real-size models with random weights.

    python3 -m bench.decode_steps --out decode_steps.json      # one CUDA GPU, about 2 minutes
    python3 -m bench.decode_steps --dry-run                    # tiny configs on the CPU (a test runs it)

For each model, attention and batch size: one `generate` call over left-padded 16 s windows of 720p
(the production encoding, `encode_many`), every answer forced to `--steps` tokens, the wall time of each
decode step taken at a synchronised clock (median reported), the prefill, the allocator's peak. The
attentions compared: transformers' own "sdpa" as installed, and this product's grouped decode step
(analyzers/vlm/attention.py). Then a profile of one batched call per attention: the device kernels
that took the most time. Random weights: memory and speed only. Imports no PyAV and no Dagster.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import LogitsProcessor, LogitsProcessorList  # noqa: E402

from analyzers.vlm import PlanOptions, plan_for  # noqa: E402
from analyzers.vlm.adapters import adapter_for, to_model  # noqa: E402
from analyzers.vlm.attention import NAME, register  # noqa: E402
from analyzers.vlm.describe import AnswerProbability  # noqa: E402
from analyzers.vlm.planner import GIB  # noqa: E402
from analyzers.vlm.prompts import get_prompt  # noqa: E402
from bench.vlm_models import parse_args, random_weights_header, write_report  # noqa: E402

ATTENTIONS = ("sdpa", NAME)


class StepClock(LogitsProcessor):
    """Notes a synchronised time at every step (the first after the prefill)."""

    def __init__(self, sync):
        self.sync, self.times = sync, []

    def __call__(self, input_ids, scores):
        self.sync()
        self.times.append(time.perf_counter())
        return scores


class Bench:
    def __init__(self, args):
        self.args, self.dry = args, args.dry_run
        self.device = "cuda" if torch.cuda.is_available() and not self.dry else "cpu"
        self.dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.sync = torch.cuda.synchronize if self.device == "cuda" else (lambda: None)

    def windows(self, model, processor, batch: int):
        """`batch` consecutive windows of the plan (overlapping by a second, as planned), left-padded."""
        adapter = adapter_for(model, processor)
        h, w = (int(v) for v in self.args.frame.split("x"))
        options = PlanOptions(max_window_s=self.args.window, new_tokens_per_second=self.args.new_tokens_per_second)
        plan = plan_for(model, processor, 16.0 * batch + 10, (h, w), options=options)
        fps = plan.frames_per_second
        frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        clip = adapter.prepare_clip([frame] * fps, plan.geometry)
        step = plan.window_s - plan.overlap_s
        first = max(0, 10 - step)  # rows of unequal length (one- and two-digit labels): a padded batch
        calls = [list(range(s, s + plan.window_s)) for s in range(first, first + step * batch, step)]
        inputs = adapter.encode_many(calls, [[clip] * len(c) for c in calls], fps, get_prompt("v1"))
        inputs = to_model(inputs, model)
        return inputs, plan

    def call(self, model, inputs, steps: int) -> dict:
        clock = StepClock(self.sync)
        if not self.dry:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        self.sync()
        started = time.perf_counter()
        with torch.inference_mode():
            model.generate(
                **inputs,
                max_new_tokens=steps,
                min_new_tokens=steps,
                do_sample=False,
                logits_processor=LogitsProcessorList([AnswerProbability(), clock]),
            )
        self.sync()
        ended = time.perf_counter()
        steps_s = np.diff(clock.times + [ended])[1:]  # the first interval ends the first decode step
        mask = inputs["attention_mask"]
        return {
            "rows": int(mask.shape[0]),
            "input_tokens": mask.sum(dim=1).tolist(),
            "padded_input_tokens": int(mask.shape[1]),
            "prefill_s": round(clock.times[0] - started, 3),
            "decode_ms_per_step": round(1000 * statistics.median(steps_s), 2),
            "decode_ms_per_step_min": round(1000 * float(min(steps_s)), 2),
            "peak_gib": None if self.dry else round(torch.cuda.max_memory_allocated() / GIB, 2),
        }

    def profile(self, model, inputs, steps: int) -> list[dict]:
        """The device kernels (CPU operators on the CPU) with the most self time over one call."""
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([] if self.dry else [ProfilerActivity.CUDA])
        with profile(activities=activities) as prof, torch.inference_mode():
            model.generate(**inputs, max_new_tokens=steps, min_new_tokens=steps, do_sample=False)
        self.sync()
        key = "self_cpu_time_total" if self.dry else "self_device_time_total"
        events = sorted(prof.key_averages(), key=lambda e: getattr(e, key, 0), reverse=True)
        total = sum(getattr(e, key, 0) for e in events) or 1
        top = [(e, getattr(e, key)) for e in events[:12]]
        return [
            {"name": e.key[:90], "calls": e.count, "ms": round(t / 1000, 2), "share": round(t / total, 3)}
            for e, t in top
        ]

    def attention_ops(self) -> list[dict]:
        """The attention of one decode step alone, at each model's published shapes (heads, key/value heads,
        head size, layers) over `--op-tokens` cached tokens per row, left-padded: the copy per query head that
        transformers' SDPA makes under a mask before 5.23, against the grouped step. Runs on the CPU too."""
        from transformers.integrations.sdpa_attention import repeat_kv

        from analyzers.vlm.attention import grouped_decode_attention
        from bench.vlm_models import _read, _text, config_dir

        def copied(module, q, k, v, mask):
            k, v = repeat_kv(k, module.num_key_value_groups), repeat_kv(v, module.num_key_value_groups)
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)

        def grouped(module, q, k, v, mask):
            return grouped_decode_attention(module, q, k, v, mask)[0]

        out = []
        for name in self.args.models:
            text = _text(_read(config_dir(name) / "config.json"))
            heads, kv_heads = text["num_attention_heads"], text["num_key_value_heads"]
            dim, layers = text["hidden_size"] // heads, text["num_hidden_layers"]
            module = type("Layer", (), {"num_key_value_groups": heads // kv_heads, "training": False})()
            for batch in self.args.batches:
                length = self.args.op_tokens
                q = torch.randn(batch, heads, 1, dim, dtype=self.dtype, device=self.device)
                k, v = (torch.randn(batch, kv_heads, length, dim, dtype=self.dtype, device=self.device) for _ in "kv")
                mask = torch.ones(batch, 1, 1, length, dtype=torch.bool, device=self.device)
                mask[1:, ..., : length // 50] = False  # the other rows are a little shorter: padded
                record = {"model": name, "batch": batch, "cached_tokens": length, "layers": layers}
                for label, op in (("copy_per_query_head", copied), ("grouped", grouped)):
                    op(module, q, k, v, mask)  # warm-up
                    times = []
                    for _ in range(3):
                        self.sync()
                        t = time.perf_counter()
                        for _ in range(layers):
                            op(module, q, k, v, mask)
                        self.sync()
                        times.append(time.perf_counter() - t)
                    record[f"{label}_ms_per_step"] = round(1000 * min(times), 2)
                out.append(record)
                print(json.dumps(record), file=sys.stderr, flush=True)
                del q, k, v, mask
        return out

    def run(self) -> dict:
        from bench.vlm_real_size import load_random

        register()
        rows, profiles = [], []
        started = time.perf_counter()
        ops = self.attention_ops()
        for name in [] if self.args.ops_only else self.args.models:
            model, processor, _ = load_random(name, self.dtype, self.device, size="tiny" if self.dry else "real")
            encoded = {b: self.windows(model, processor, b) for b in self.args.batches}
            for attention in ATTENTIONS:
                model.set_attn_implementation(attention)
                self.call(model, encoded[self.args.batches[0]][0], 3)  # warm-up: the first call pays CUDA's set-up
                for batch, (inputs, plan) in encoded.items():
                    frame = f"{plan.geometry.width}x{plan.geometry.height}"
                    record = {"model": name, "attention": attention, "batch": batch, "window_s": plan.window_s}
                    record |= {"frame": frame} | self.call(model, inputs, self.args.steps)
                    rows.append(record)
                    print(json.dumps(record), file=sys.stderr, flush=True)
                if name == self.args.models[0]:
                    inputs = encoded[self.args.profile_batch][0]
                    profiles.append(
                        {"model": name, "attention": attention, "batch": self.args.profile_batch}
                        | {"top": self.profile(model, inputs, self.args.profile_steps)}
                    )
            del model, encoded
            if not self.dry:
                torch.cuda.empty_cache()
        cuda = self.device == "cuda"
        device = torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)"
        return random_weights_header("bench.decode_steps", self.args.argv, self.dry, device, started) | {
            "dtype": str(self.dtype).removeprefix("torch."),
            "steps": self.args.steps,
            "attention_ops": ops,
            "rows": rows,
            "profiles": profiles,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="tiny configs on the CPU")
    parser.add_argument("--models", nargs="+", default=["Qwen2-VL-7B-Instruct", "Qwen2-VL-2B-Instruct"])
    parser.add_argument("--batches", nargs="+", type=int, help="rows per call (default 1 8 16; dry 1 3)")
    parser.add_argument("--steps", type=int, help="tokens generated per call (default 24; dry 6)")
    parser.add_argument("--profile-batch", type=int, help="rows of the profiled call (default 8; dry 3)")
    parser.add_argument("--profile-steps", type=int, default=6)
    parser.add_argument("--frame", default=None, help="frame size HxW (default 720x1280; dry 180x320)")
    parser.add_argument("--window", type=int, help="window seconds (default 16; dry 4)")
    parser.add_argument("--new-tokens-per-second", type=int, default=40)
    parser.add_argument("--op-tokens", type=int, help="cached tokens per row of the attention ops (default 12400)")
    parser.add_argument("--ops-only", action="store_true", help="only the attention ops (no model is built)")
    parser.add_argument("--out", help="also write the JSON here")
    dry = {"batches": [1, 3], "steps": 6, "profile_batch": 3, "frame": "180x320", "window": 4, "op_tokens": 400}
    real = {"batches": [1, 8, 16], "steps": 24, "profile_batch": 8, "frame": "720x1280", "window": 16}
    args = parse_args(parser, argv, dry, real | {"op_tokens": 12400})
    if args.profile_batch not in args.batches:
        parser.error(f"--profile-batch {args.profile_batch} must be one of --batches {args.batches}")
    if not (args.dry_run or args.ops_only) and not torch.cuda.is_available():
        print(json.dumps({"bench": "bench.decode_steps", "status": "no CUDA GPU here; --dry-run runs it on the CPU"}))
        return 2
    if not torch.cuda.is_available():
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    report = Bench(args).run()
    write_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
