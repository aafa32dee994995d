"""Several windows per `generate` call (left-padded batch): the same greedy answers as one by one."""

import re

import numpy as np
import pytest
import torch

from analyzers.vlm import MemoryModel, PlanOptions, describe_video
from analyzers.vlm.adapters import adapter_for
from analyzers.vlm.planner import GIB, Geometry, QwenVisual, TextCost, plan_windows
from analyzers.vlm.prompts import get_prompt
from support.tiny_vlm import load, sampled_frames

PROMPT = get_prompt("v1")
FAMILIES = ["qwen2_vl", "qwen2_5_vl", "llava_next_video"]


def _clips(adapter, geometry, fps, seconds):
    rng = np.random.default_rng(seconds[0])
    return [
        adapter.prepare_clip([rng.integers(0, 256, (90, 160, 3), dtype=np.uint8) for _ in range(fps)], geometry)
        for _ in seconds
    ]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_left_padded_batch_generates_what_each_window_generates_alone(loaded, family):
    model, processor = loaded[family]
    adapter = adapter_for(model, processor)
    geometry = Geometry(56, 56) if family == "llava_next_video" else Geometry(56, 84)
    fps = adapter.visual.min_frames_per_second
    windows = [[0, 1, 2, 3], [3, 4, 5], [9]]  # different lengths: the shorter ones are padded
    clips = [_clips(adapter, geometry, fps, w) for w in windows]

    def greedy(inputs):
        with torch.inference_mode():
            return model.generate(**inputs, max_new_tokens=12, min_new_tokens=12, do_sample=False)

    alone = []
    for w, c in zip(windows, clips):
        inputs = adapter.encode(w, c, fps, PROMPT)
        alone.append(greedy(inputs)[0, inputs["input_ids"].shape[1] :].tolist())
    batch = adapter.encode_many(windows, clips, fps, PROMPT)
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    assert lengths == [adapter.count(w, geometry, fps, PROMPT).total for w in windows]
    assert len(set(lengths)) == 3 and batch["attention_mask"][:, -1].all()  # padded on the left
    together = greedy(batch)[:, batch["input_ids"].shape[1] :].tolist()
    assert together == alone


def _scripted(model, processor, answer):
    """`model.generate` runs for real, then each row's answer is replaced by `answer(seconds)` (whole, as if
    the model had written it: the real run may have been cut short by the loop guard)."""
    real = model.generate
    calls: list[list[list[int]]] = []

    def generate(**kwargs):
        out = real(**kwargs)
        ids = kwargs["input_ids"]
        rows = [[int(s) for s in re.findall(r"\[(\d+)s\] <", processor.tokenizer.decode(r))] for r in ids]
        calls.append(rows)
        eos = model.generation_config.eos_token_id
        eos = eos[0] if isinstance(eos, list) else eos
        news = [processor.tokenizer(answer(r), add_special_tokens=False)["input_ids"] + [eos] for r in rows]
        width = kwargs["max_new_tokens"]
        padded = [(n + [eos] * width)[:width] for n in news]
        assert out.shape[1] > ids.shape[1]  # the real model did generate
        return torch.cat([ids, torch.tensor(padded, dtype=ids.dtype)], dim=1)

    model.generate = generate
    return calls


def _events(result):
    return [(e.start_s, e.aspect, e.value, e.detail) for e in result.events]


def _describe(model, processor, batch: int, duration: float):
    options = PlanOptions(
        max_window_s=4, min_window_s=2, overlap_s=1, new_tokens_per_second=24, max_batch_windows=batch
    )
    # A budget far above the weights with a tiny slope: the batch size is the windows allowed per call.
    return describe_video(
        sampled_frames(duration),
        duration,
        model,
        processor,
        options=options,
        memory_budget_bytes=64 * GIB,
        memory_model=MemoryModel(bytes_per_token=1000),
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_describe_in_batches_equals_describe_one_window_at_a_time(checkpoints, family):
    """Random models answer garbage: re-asks, halving and failures follow the same path batched."""
    model, processor = load(checkpoints[family])
    one = _describe(model, processor, 1, 9.5)
    three = _describe(model, processor, 3, 9.5)
    assert one.metadata["batch_size"] == 1 and three.metadata["batch_size"] == 3
    assert three.metadata["calls"] < one.metadata["calls"]
    assert _events(three) == _events(one)
    assert sorted((a["start"], a["end"], a["depth"]) for a in three.asks) == sorted(
        (a["start"], a["end"], a["depth"]) for a in one.asks
    )


def test_scripted_answers_with_gaps_are_completed_the_same_way_batched(checkpoints):
    model, processor = load(checkpoints["qwen2_vl"])

    def answer(seconds):  # windows leave out seconds 2 and 7 (7 sits in an overlap); single seconds answer
        if len(seconds) == 1:
            return f"A dog runs in second {seconds[0]}."
        return "".join(f"[{s}s] A dog runs in second {s}.\n" for s in seconds if s not in (2, 7))

    calls = _scripted(model, processor, answer)
    one = _describe(model, processor, 1, 11)
    first = len(calls)
    three = _describe(model, processor, 3, 11)
    assert _events(three) == _events(one)
    assert [e.value for e in one.events] == [f"A dog runs in second {s}." for s in range(11)]
    assert all(len(rows) == 1 for rows in calls[:first])
    assert [rows for rows in calls[first:] if len(rows) > 1] == [[[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]]


def test_batch_size_is_the_windows_that_fit_the_memory_tokens_and_shrinks_first():
    text = TextCost(fixed=60, per_second=8)
    options = PlanOptions(max_window_s=8, min_window_s=8, overlap_s=1, max_batch_windows=8)
    base = plan_windows(600, (720, 1280), QwenVisual(), text, context_limit=32768, memory_tokens=20000, options=options)
    per_window = base.input_tokens_bound(base.window_s) + base.max_new_tokens(base.window_s)
    assert base.batch_size == 20000 // per_window > 1
    assert base.batch_fits(base.input_tokens_bound(8), base.max_new_tokens(8), base.batch_size)
    assert not base.batch_fits(base.input_tokens_bound(8), base.max_new_tokens(8), base.batch_size + 1)
    more = plan_windows(600, (720, 1280), QwenVisual(), text, context_limit=32768, memory_tokens=40000, options=options)
    assert more.batch_size > base.batch_size and more.window_s == base.window_s
    assert plan_windows(600, (720, 1280), QwenVisual(), text, context_limit=32768, options=options).batch_size == 1
    capped = plan_windows(
        12, (720, 1280), QwenVisual(), text, context_limit=32768, memory_tokens=10**6, options=options
    )
    assert capped.batch_size == len(capped.windows(12)) == 2  # never more than the video's windows
    smaller = base.shrink(0.7)
    assert smaller.batch_size < base.batch_size and smaller.window_s == base.window_s
    while smaller.batch_size > 1:
        smaller = smaller.shrink(0.7)
    assert smaller.shrink(0.7).input_tokens_bound(smaller.shrink(0.7).window_s) < smaller.input_tokens_bound(
        smaller.window_s
    )
