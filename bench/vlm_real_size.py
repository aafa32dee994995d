"""Real-size, random-weights runs of the production describe path (memory and speed only).

`load_random` builds a published architecture (configs/vlm/) with random weights directly in the
target dtype on the target device; `describe_random` runs `analyzers.vlm.describe_video` over a frame
store with scripted answers (bench/vlm_random.py) and the out-of-memory backoff of the graph, and
returns one record per run: per planned window the exact input tokens (counted by the planner and
made by the processor), planned and measured peak memory, prefill and decode time; per run video
seconds per compute second, coverage, calls, re-asks, batch size.

Used by `bench/vlm_bench.py --real-size` (CPU) and `bench/gpu_kit.py` (GPU). No PyAV, no Dagster.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from analyzers.vlm import DescribeOutOfMemory, MemoryModel, PlanError, PlanOptions, describe_video, plan_for
from analyzers.vlm.memory import memory_model_for
from bench.vlm_models import RANDOM_WEIGHTS, build_model, materialize, source, weights_bytes
from bench.vlm_random import ScriptedAnswers, rss_bytes


def load_random(name: str, dtype, device, *, size: str = "real", folder: Path | None = None):
    """(model, processor, info): the published architecture `name` with random weights."""
    from analyzers.vlm import load_processor

    folder = Path(folder or tempfile.mkdtemp(prefix=f"{name}-"))
    materialize(name, folder, size=size)
    processor = load_processor(folder)
    rss_before = rss_bytes()
    started = time.perf_counter()
    model = build_model(folder, dtype, device)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    info = {
        "model": name,
        "published": source(name)["model"],
        "size": size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(dtype).removeprefix("torch."),
        "device": _device_name(device),
        "weights_bytes": weights_bytes(model),
        "build_s": round(time.perf_counter() - started, 2),
        "rss_baseline_bytes": rss_before,
        "random_weights": True,
        "note": RANDOM_WEIGHTS,
    }
    return model, processor, info


def _device_name(device) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def _fit(points: list[tuple[int, int]]) -> float | None:
    if len(points) < 2 or len({x for x, _ in points}) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def describe_random(
    model,
    processor,
    store: Path,
    duration_s: float,
    *,
    source_name: str,
    options: PlanOptions,
    budget_bytes: int | None,
    memory_model: MemoryModel | None = None,
    rss_baseline: int | None = None,
    time_limit_s: float | None = None,
) -> dict:
    """describe_video with scripted answers and the OOM backoff (fewer windows per call, then smaller
    windows, resuming what was described); one record of what was planned and measured.

    With `time_limit_s`, the video is described in prefixes of whole batches of windows, each resuming
    the last, for as long as the measured pace says the next prefix ends within the limit; `video_s`
    says how much was described."""
    memory_model = memory_model or memory_model_for(model)
    cuda = next(model.parameters()).device.type == "cuda"
    plan = plan_for(
        model,
        processor,
        duration_s,
        _frame_size(store),
        options=options,
        memory_budget_bytes=budget_bytes,
        memory_model=memory_model,
    )
    first_plan = plan.summary()
    planned = plan.windows(duration_s)
    scripted = ScriptedAnswers(model, processor.tokenizer, rss_baseline=None if cuda else rss_baseline)
    partial, ooms, started = None, [], time.perf_counter()
    done = 0  # planned windows described so far
    take = len(planned) if time_limit_s is None else min(len(planned), plan.batch_size)
    try:
        while True:
            done = min(len(planned), done + take)
            target = duration_s if done == len(planned) else float(planned[done - 1].stop)
            while True:
                try:
                    result = describe_video(
                        store,
                        target,
                        model,
                        processor,
                        plan,
                        source=source_name,
                        memory_model=memory_model,
                        resume=partial,
                    )
                    break
                except DescribeOutOfMemory as err:
                    ooms.append(err.plan.summary())
                    partial = err.partial
                    if cuda:
                        torch.cuda.empty_cache()
                    try:
                        plan = err.plan.shrink()
                    except PlanError:
                        raise err from None
            partial = result
            if done == len(planned):
                break
            elapsed = time.perf_counter() - started
            per_window = elapsed / done
            take = int((time_limit_s - elapsed) * 0.9 / per_window) // plan.batch_size * plan.batch_size
            if take < 1:
                break
    finally:
        scripted.restore()
    wall_s = time.perf_counter() - started
    duration_s = target
    meta = result.metadata
    calls = scripted.calls
    rows_seen: dict[int, int] = {}
    windows = []
    for ask in result.asks:
        call = ask["call"]
        row = rows_seen.get(call, 0)
        rows_seen[call] = row + 1
        if ask["depth"]:
            continue
        record = calls[call]
        windows.append(
            {
                "seconds": [ask["start"], ask["end"]],
                "input_tokens": ask["input_tokens"],
                "processor_input_tokens": record["input_tokens"][row],
                "call": call,
                "rows": record["rows"],
                "padded_input_tokens": record["padded_input_tokens"],
                "generated_steps": record["generated_steps"],
                "planned_peak_bytes": ask["planned_peak_bytes"],
                "measured_peak_bytes": record.get("measured_peak_bytes"),
                "prefill_s": record["prefill_s"],
                "decode_s": record["decode_s"],
            }
        )
    measured = [c["measured_peak_bytes"] for c in calls if "measured_peak_bytes" in c]
    planned = [a["planned_peak_bytes"] for a in result.asks if "planned_peak_bytes" in a]
    w_bytes = weights_bytes(model)
    slope = _fit(
        [(c["sequence_tokens"], c["measured_peak_bytes"] - w_bytes) for c in calls if "measured_peak_bytes" in c]
    )
    decode_steps = sum(c["generated_steps"] - 1 for c in calls)
    return {
        "plan": first_plan,
        "final_plan": meta["plan"],
        "batch_size": first_plan["batch_size"],
        "oom_retries": len(ooms),
        "oom_plans": ooms,
        "video_s": round(duration_s, 3),
        "seconds": meta["seconds"],
        "coverage": meta["coverage"],
        "described_seconds": meta["described_seconds"],
        "failed_seconds": meta["failed_seconds"],
        "windows": meta["windows"],
        "calls": len(calls),
        "asks": meta["asks"],
        "reasks": meta["reasks"],
        "tokens_per_window": [w["input_tokens"] for w in windows],
        "processor_tokens_per_window": [w["processor_input_tokens"] for w in windows],
        "tokens_exact": all(w["input_tokens"] == w["processor_input_tokens"] for w in windows),
        "planned_peak_bytes": max(planned) if planned else None,
        "measured_peak_bytes": max(measured) if measured else None,
        "peak_kind": calls[0].get("peak_kind") if calls else None,
        "measured_over_planned": round(max(measured) / max(planned), 4) if measured and planned else None,
        "memory_model": meta["memory_model"],
        "fitted_bytes_per_token": round(slope) if slope else None,
        "compute_s": round(wall_s, 3),
        "video_s_per_compute_s": round(duration_s / wall_s, 4),
        "prefill_s": round(sum(c["prefill_s"] for c in calls), 3),
        "decode_s": round(sum(c["decode_s"] for c in calls), 3),
        "decode_s_per_step": round(sum(c["decode_s"] for c in calls) / decode_steps, 4) if decode_steps else None,
        "generated_steps": sum(c["generated_steps"] for c in calls),
        "prepare_s": meta["prepare_s"],
        "encode_s": meta["encode_s"],
        "window_records": windows,
        "calls_detail": calls,
    }


def _frame_size(store: Path) -> tuple[int, int]:
    from analyzers.frames import iter_frames

    for frame in iter_frames(store):
        return frame.image.shape[:2]
    raise ValueError(f"{store}: no frames")
