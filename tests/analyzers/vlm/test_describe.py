"""The coverage loop with real tiny models.

Random models answer with garbage, which exercises re-asking and failure recording. To check
that missing seconds are re-asked deterministically, some tests let the real model generate and
then replace its (garbage) answer by a scripted one that leaves chosen seconds out.
"""

import re

import pytest
import torch

from analyzers import progress
from analyzers.records import events_frame, per_second_spans
from analyzers.vlm import DescribeOutOfMemory, PlanOptions, describe_video
from analyzers.vlm.describe import AnswerProbability
from support.tiny_vlm import frame_store, load, sampled_frames

OPTIONS = PlanOptions(max_window_s=4, min_window_s=2, overlap_s=1, new_tokens_per_second=32)


def script(model, processor, answer):
    """Replaces the answers of `model.generate` by `answer(seconds_asked, call_index)`; the model still runs."""
    real = model.generate
    calls: list[list[int]] = []

    def generate(**kwargs):
        out = real(**kwargs)
        prompt = processor.tokenizer.decode(kwargs["input_ids"][0])
        seconds = [int(s) for s in re.findall(r"\[(\d+)s\] <", prompt)]
        text = answer(seconds, len(calls))
        calls.append(seconds)
        new = processor.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"][
            :, : kwargs["max_new_tokens"]
        ]
        assert out.shape[1] > kwargs["input_ids"].shape[1]  # the real model did generate
        return torch.cat([kwargs["input_ids"], new], dim=1)

    model.generate = generate
    return calls


def line(s: int) -> str:
    return f"[{s}s] {unlabelled(s)}\n"


def unlabelled(s: int) -> str:
    return f"A man walks past a shop in second {s}."


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "llava_next_video"])
def test_missing_seconds_are_asked_again_in_smaller_windows(checkpoints, family, monkeypatch):
    model, processor = load(checkpoints[family])
    monkeypatch.setattr(progress, "EVERY_S", 0.0)
    said: list[str] = []

    def answer(seconds, _):
        if len(seconds) == 1:
            return unlabelled(seconds[0]) if seconds[0] != 5 else "\ufffd\ufffd W9W9W9"
        return "".join(line(s) for s in seconds if s not in (1, 5))

    calls = script(model, processor, answer)
    result = describe_video(
        sampled_frames(7.5), 7.5, model, processor, options=OPTIONS, source="tiny/" + family, progress=said.append
    )

    # windows [0-3] [3-6] [6-7]; 1 and 5 left out, each asked alone right after its window
    assert calls == [[0, 1, 2, 3], [1], [3, 4, 5, 6], [5], [6, 7]]
    assert said == [f"describing: {s}/8 s of video" for s in (4, 7, 8)]  # after each window (7.5 s shows as 8)
    by_second = {int(e.start_s): e for e in result.events}
    assert sorted(by_second) == list(range(8))
    for s in (0, 1, 2, 3, 4, 6, 7):
        e = by_second[s]
        assert e.aspect == "description" and e.value.endswith(f"second {s}.") and e.source == "tiny/" + family
    assert by_second[1].detail["depth"] == 1 and "reasked" in by_second[1].detail["flags"]
    # each description carries how sure the model was of the answer it came from (random weights: unsure)
    assert all(0.0 <= by_second[s].confidence < 0.5 for s in (0, 1, 2, 3, 4, 6, 7))
    assert by_second[1].detail["window"] == [1, 2] and by_second[0].detail["window"] == [0, 4]
    assert by_second[3].detail["window"] == [0, 4]  # the overlap second keeps its first answer
    assert by_second[5].aspect == "description_failure" and "one-second question" in by_second[5].value
    meta = result.metadata
    assert meta["coverage"] == 0.875 and meta["failed_seconds"] == [5]
    assert (meta["windows"], meta["asks"], meta["reasks"]) == (3, 5, 2)
    assert len(meta["tokens_per_window"]) == 3 and all(t > 0 for t in meta["tokens_per_window"])
    assert meta["video_s_per_compute_s"] > 0


def test_halving_down_to_single_seconds(checkpoints):
    model, processor = load(checkpoints["qwen2_vl"])

    def answer(seconds, _):  # windows of 2 or more seconds describe only their first second
        return line(seconds[0]) if len(seconds) > 1 else unlabelled(seconds[0])

    calls = script(model, processor, answer)
    options = PlanOptions(max_window_s=8, min_window_s=8, overlap_s=0, new_tokens_per_second=32)
    result = describe_video(sampled_frames(8), 8, model, processor, options=options)
    assert calls == [list(range(8)), [1, 2, 3, 4], [2, 3], [3], [4], [5, 6, 7], [6], [7]]
    assert result.metadata["coverage"] == 1.0
    assert {int(e.start_s): e.detail["depth"] for e in result.events} == {
        0: 0,
        1: 1,
        2: 2,
        3: 3,
        4: 2,
        5: 1,
        6: 2,
        7: 2,
    }


def test_relative_times_from_the_model_land_on_the_right_seconds(checkpoints):
    model, processor = load(checkpoints["qwen2_vl"])

    def answer(seconds, _):  # the model counts from the window's start
        return "".join(line(s - seconds[0]).replace(f"second {s - seconds[0]}", f"second {s}") for s in seconds)

    script(model, processor, answer)
    result = describe_video(sampled_frames(7), 7, model, processor, options=OPTIONS)
    assert [e.value for e in result.events] == [unlabelled(s) for s in range(7)]
    assert "relative_time" in result.events[5].detail["flags"]


# 3.05 s: the last 50 ms (a sampled frame at 3.0 s among them) belong to the third and last second
@pytest.mark.parametrize(("duration", "seconds"), [(3.4, 4), (3.05, 3)])
def test_garbage_everywhere_ends_in_recorded_failures_from_a_frame_store(checkpoints, tmp_path, duration, seconds):
    """No scripting: a random model's answers. Every second ends described or failed, after a one-second question."""
    model, processor = load(checkpoints["llava_next_video"])
    store = frame_store(tmp_path / "frames.parquet", sampled_frames(duration, height=72, width=128))
    result = describe_video(store, duration, model, processor, options=OPTIONS)
    asked_alone = {a["start"] for a in result.asks if a["end"] - a["start"] == 1}
    spans = per_second_spans(duration)
    assert [(e.start_s, e.end_s) for e in result.events] == [(a, b) for _, a, b in spans]
    assert {e.aspect for e in result.events} <= {"description", "description_failure"}
    failed = [int(e.start_s) for e in result.events if e.aspect == "description_failure"]
    assert failed, "a random model's garbage was taken for a description"
    assert set(failed) <= asked_alone  # each second was asked alone before it was given up
    assert result.metadata["failed_seconds"] == failed and result.metadata["described_seconds"] + len(failed) == seconds
    frame = events_frame(result.events, "clip")
    assert frame["aspect"].tolist() == [e.aspect for e in result.events]
    assert set(frame["source"]) == {str(checkpoints["llava_next_video"])}


def test_out_of_memory_keeps_the_described_seconds_and_resumes_smaller(checkpoints):
    model, processor = load(checkpoints["qwen2_5_vl"])
    real = model.generate
    state = {"calls": 0}

    def flaky(**kwargs):
        state["calls"] += 1
        if state["calls"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated in the test)")
        return real(**kwargs)

    model.generate = flaky
    calls = script(model, processor, lambda seconds, _: "".join(line(s) for s in seconds))
    frames = sampled_frames(9)
    with pytest.raises(DescribeOutOfMemory) as err:
        describe_video(frames, 9, model, processor, options=OPTIONS)
    partial, plan = err.value.partial, err.value.plan
    assert sorted(int(e.start_s) for e in partial.events if e.aspect == "description") == [0, 1, 2, 3]
    smaller = plan.shrink()
    assert smaller.input_tokens_bound(smaller.window_s) < plan.input_tokens_bound(plan.window_s)
    done = len(calls)
    result = describe_video(frames, 9, model, processor, plan=smaller, resume=partial)
    assert result.metadata["coverage"] == 1.0
    # described seconds are not asked again, except one as the overlap's context
    assert min(s for c in calls[done:] for s in c) == 4 - smaller.overlap_s
    assert all(len(c) <= smaller.window_s for c in calls[done:])


def test_seconds_without_frames_borrow_a_neighbour_or_fail(checkpoints):
    model, processor = load(checkpoints["qwen2_vl"])
    calls = script(model, processor, lambda seconds, _: "".join(line(s) for s in seconds))
    frames = [f for f in sampled_frames(6) if f.t < 2.0]  # nothing after 2 s of a 6 s video
    result = describe_video(frames, 6, model, processor, options=OPTIONS)
    assert all(s < 3 for c in calls for s in c)
    by_second = {int(e.start_s): e for e in result.events}
    assert "borrowed_frames" in by_second[2].detail["flags"] and "borrowed_frames" not in by_second[1].detail["flags"]
    assert [(s, by_second[s].aspect, by_second[s].value) for s in (3, 4, 5)] == [
        (s, "description_failure", "no frames") for s in (3, 4, 5)
    ]


def test_every_call_is_counted_before_it_is_made_and_fits(checkpoints):
    model, processor = load(checkpoints["qwen2_vl"])
    result = describe_video(sampled_frames(6), 6, model, processor, options=OPTIONS, memory_budget_bytes=None)
    plan = result.metadata["plan"]
    for a in result.asks:
        assert a["input_tokens"] + a["max_new_tokens"] <= plan["budget_tokens"]
        assert a["new_tokens"] <= a["max_new_tokens"]


def test_the_answer_probability_is_high_for_a_sure_model_and_low_for_an_unsure_one():
    peaked = torch.full((50,), -10.0)
    peaked[7] = 10.0
    flat = torch.zeros(50)
    flat[7] = 1.0
    probability = AnswerProbability()  # a batch of two rows: sure, then unsure
    for _ in range(3):
        logits = torch.stack([peaked, flat])
        assert torch.equal(probability(None, logits.clone()), logits)  # the scores pass unchanged
    assert probability.value(0, 3) > 0.99 and probability.value(1, 3) < 0.1
    assert probability.value(1, 1) == probability.value(1, 3)  # the same each step: the mean does not move
    assert probability.value(0, 0) is None  # nothing generated
