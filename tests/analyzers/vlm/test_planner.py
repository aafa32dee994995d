import itertools

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from analyzers.vlm.adapters import adapter_for
from analyzers.vlm.planner import (
    GIB,
    Geometry,
    MemoryModel,
    PlanError,
    PlanOptions,
    QwenVisual,
    SquareVisual,
    TextCost,
    plan_windows,
    seconds_in,
)
from analyzers.vlm.prompts import get_prompt

PROMPT = get_prompt("v1")
TEXT = TextCost(fixed=60, per_second=8)


def test_qwen_frame_pair_costs_h_over_28_times_w_over_28():
    v = QwenVisual()
    for h, w in [(28, 28), (392, 700), (728, 1288), (56, 224)]:
        assert v.tokens(Geometry(h, w), 2) == (h // 28) * (w // 28)
        assert v.tokens(Geometry(h, w), 4) == 2 * (h // 28) * (w // 28)
        assert v.tokens(Geometry(h, w), 3) == 2 * (h // 28) * (w // 28)  # padded to a whole temporal patch


def test_frame_sizes_keep_aspect_never_upscale_and_respect_the_cap():
    v = QwenVisual(max_pixels=28 * 28 * 768)
    sizes = v.frame_sizes(720, 1280)
    costs = [v.tokens(g, 2) for g in sizes]
    assert costs == sorted(costs) and len(set(costs)) == len(costs) > 15
    assert costs[-1] <= 768 and costs[0] >= 4
    for g in sizes:
        assert g.height % 28 == 0 and g.width % 28 == 0
        rows, cols = g.height // 28, g.width // 28
        assert abs(cols - rows * 1280 / 720) <= 0.5  # the source aspect, to the nearest token column
    small = v.frame_sizes(90, 160)
    assert small[-1] == Geometry(84, 140)  # the source's own 3 token rows, not more


def test_llava_cost_is_fixed_per_frame():
    v = SquareVisual(size=336, patch_size=14, pool_stride=2)
    assert v.frame_sizes(720, 1280) == [Geometry(336, 336)]
    assert v.tokens(Geometry(336, 336), 2) == 2 * 144


def test_plan_spends_budget_on_pixels_down_to_the_minimum_window_then_shortens_windows():
    v = QwenVisual()
    rich = plan_windows(3600, (720, 1280), v, TEXT, context_limit=32768)
    assert rich.window_s == 16 and rich.visual_tokens_per_second == max(
        v.tokens(g, 2) for g in v.frame_sizes(720, 1280)
    )
    tight = plan_windows(3600, (720, 1280), v, TEXT, context_limit=32768, memory_tokens=2500)
    assert tight.window_s >= 8 and tight.visual_tokens_per_second < rich.visual_tokens_per_second
    assert tight.fits(tight.input_tokens_bound(tight.window_s), tight.window_s)
    tiny = plan_windows(3600, (720, 1280), v, TEXT, context_limit=32768, memory_tokens=300)
    assert tiny.geometry == v.frame_sizes(720, 1280)[0] and 1 <= tiny.window_s < 8
    with pytest.raises(PlanError, match="budget allows 100"):
        plan_windows(3600, (720, 1280), v, TEXT, context_limit=32768, memory_tokens=100)


def test_short_video_gets_one_window_and_windows_overlap_by_one_second():
    v = QwenVisual()
    assert plan_windows(3.2, (720, 1280), v, TEXT, context_limit=32768).windows(3.2) == [range(0, 4)]
    plan = plan_windows(40, (720, 1280), v, TEXT, context_limit=32768)
    assert plan.windows(40) == [range(0, 16), range(15, 31), range(30, 40)]


def test_shrink_uses_fewer_tokens_down_to_one_second_at_the_smallest_size():
    v = QwenVisual()
    plan = plan_windows(7200, (720, 1280), v, TEXT, context_limit=32768)
    used = lambda p: p.input_tokens_bound(p.window_s) + p.max_new_tokens(p.window_s)  # noqa: E731
    steps = 0
    with pytest.raises(PlanError, match="already the smallest"):
        while True:
            smaller = plan.shrink(0.7)
            smallest = smaller.window_s == 1 and smaller.geometry == v.frame_sizes(720, 1280)[0]
            assert used(smaller) <= 0.7 * used(plan) or (smallest and used(smaller) < used(plan))
            plan, steps = smaller, steps + 1
    assert steps >= 5 and plan.window_s == 1 and plan.geometry == v.frame_sizes(720, 1280)[0]


def test_memory_model_matches_the_documented_7b_figures():
    """~16 GB at 1 token, ~29 GB at 14k, ~44 GB at 30k (Qwen2-VL-7B bf16): linear, ~1 MB per token."""
    m = MemoryModel(reserve_bytes=0, safety=1.0)
    weights = 16 * GIB
    assert abs(m.tokens_for(29 * GIB - weights) - 14_000) < 1_000
    assert abs(m.tokens_for(44 * GIB - weights) - 30_000) < 1_500


FAMILIES = ["qwen2_vl", "qwen2_5_vl", "llava_next_video"]
HD_1E6_16 = dict(source=(720, 1280), bytes_per_token=1e6, max_window=16)


@settings(max_examples=20, deadline=None)
@given(
    duration=st.floats(3.0, 7200.0),
    family=st.sampled_from(FAMILIES),
    source=st.sampled_from([(720, 1280), (1280, 720), (480, 640), (90, 160), (1280, 1280)]),
    context=st.integers(1024, 32768),
    budget_bytes=st.one_of(st.none(), st.integers(int(1.2 * GIB), 40 * GIB)),
    bytes_per_token=st.sampled_from([2.0e5, 1.0e6, 4.0e6]),
    max_window=st.integers(1, 40),
)
# A 3 s clip, the old system's case (2 h at a 4096-token limit) and 2 h inside a small memory budget.
@example(duration=3.0, family="qwen2_vl", context=32768, budget_bytes=None, **HD_1E6_16)
@example(duration=7200.0, family="llava_next_video", context=4096, budget_bytes=None, **HD_1E6_16)
@example(duration=7200.0, family="qwen2_vl", context=32768, budget_bytes=int(1.3 * GIB), **HD_1E6_16)
def test_planned_windows_never_exceed_the_budget(
    loaded, duration, family, source, context, budget_bytes, bytes_per_token, max_window
):
    """For videos from 3 s to 2 h: every planned window, counted exactly with the real tokenizer,
    fits the context and the memory budget, and the windows cover every second."""
    model, processor = loaded[family]
    adapter = adapter_for(model, processor)
    memory = MemoryModel(bytes_per_token=bytes_per_token)
    memory_tokens = None if budget_bytes is None else memory.tokens_for(budget_bytes)
    options = PlanOptions(max_window_s=max_window, min_window_s=min(8, max_window))
    text = adapter.text_cost(seconds_in(duration), PROMPT)
    try:
        plan = plan_windows(
            duration, source, adapter.visual, text, context_limit=context, memory_tokens=memory_tokens, options=options
        )
    except PlanError:
        # Only when one second at the smallest frame size does not fit (up to the few tokens of
        # slack in the text bounds).
        smallest = adapter.visual.frame_sizes(*source)[0]
        one = adapter.count([seconds_in(duration) - 1], smallest, adapter.visual.min_frames_per_second, PROMPT).total
        assert (
            one + options.answer_overhead_tokens + options.new_tokens_per_second
            > min(context, memory_tokens or context) - 8
        )
        return
    windows = plan.windows(duration)
    counts = adapter.count_many([list(w) for w in windows], plan.geometry, plan.frames_per_second, PROMPT)
    for w, c in zip(windows, counts):
        sequence = c.total + plan.max_new_tokens(len(w))
        assert sequence <= context
        if budget_bytes is not None:
            assert sequence * bytes_per_token <= (budget_bytes - memory.reserve_bytes) * memory.safety
        assert len(w) <= plan.window_s <= max_window
    covered = [s for w in windows for s in w]
    assert sorted(set(covered)) == list(range(seconds_in(duration)))
    assert all(b.start == a.stop - plan.overlap_s for a, b in itertools.pairwise(windows))
