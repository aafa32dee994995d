"""Window planner: how many seconds of video go into one model call, at which frame size.

Everything is counted in tokens before the model runs. One second of video costs
  visual tokens (family arithmetic, exact) + its label and vision-wrapper tokens (text, upper bound)
and a window of n seconds additionally carries the fixed prompt text and reserves room for its
answer (`new_tokens_per_second` per second). A window is admissible when
  input tokens + answer tokens <= min(context limit, tokens the memory budget allows).
The adapters count every window exactly (real tokenizer) before calling the model; the text upper
bounds here only decide window length and frame size.

Memory is modelled as linear in sequence length on top of the loaded weights, calibrated per family,
size, dtype and device (memory.py, docs/vlm.md):
  tokens = (free bytes - reserve - fixed) * safety / bytes_per_token.
Several windows can share one `generate` call (a batch, left-padded): a call of b windows holds b
sequences, so the batch size is the number of whole windows whose tokens fit the memory tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Protocol

from analyzers.records import seconds_in

GIB = 1024**3


class PlanError(ValueError):
    """The budget cannot hold even one second of video at the smallest frame size."""


@dataclass(frozen=True)
class Geometry:
    """Pixel size of every frame fed to the vision tower."""

    height: int
    width: int


class VisualCost(Protocol):
    family: str
    min_frames_per_second: int

    def frame_sizes(self, src_h: int, src_w: int) -> list[Geometry]:
        """Admissible frame sizes for a source size, cheapest first."""

    def tokens(self, geometry: Geometry, n_frames: int) -> int:
        """Visual tokens of one clip of n_frames frames at this size."""


@dataclass(frozen=True)
class QwenVisual:
    """Qwen2-VL / Qwen2.5-VL: a frame pair resized to h x w costs (h/28)*(w/28) tokens."""

    family: str = "qwen2_vl"
    patch_size: int = 14
    merge_size: int = 2
    temporal_patch_size: int = 2
    min_pixels: int = 56 * 56
    max_pixels: int = 28 * 28 * 768

    @classmethod
    def of_processor(cls, family: str, video_processor) -> QwenVisual:
        """The costs of a Qwen video processor, whose settings carry the same names as these fields."""
        settings = {f.name: getattr(video_processor, f.name) for f in fields(cls) if f.name != "family"}
        return cls(family=family, **settings)

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size

    @property
    def min_frames_per_second(self) -> int:
        # One temporal patch per second, so that every second has tokens of its own.
        return self.temporal_patch_size

    def tokens(self, geometry: Geometry, n_frames: int) -> int:
        f = self.factor
        return math.ceil(n_frames / self.temporal_patch_size) * (geometry.height // f) * (geometry.width // f)

    def frame_sizes(self, src_h: int, src_w: int) -> list[Geometry]:
        """One size per token count of the shorter side (1, 2, ... up to the source's own), the longer
        side rounded to the source aspect; within the processor's pixel bounds."""
        f = self.factor
        lo = max(1, math.ceil(self.min_pixels / (f * f)))
        hi = max(lo, self.max_pixels // (f * f))
        short, long = sorted((src_h, src_w))
        grids = []
        for a in range(1, max(1, round(short / f)) + 1):
            b = max(1, round(a * long / short))
            if lo <= a * b <= hi:
                grids.append((a, b))
        if not grids:  # extreme aspect or bounds: the long side is clamped
            grids = [(1, min(hi, max(lo, round(long / short))))]
        if src_h > src_w:
            grids = [(b, a) for a, b in grids]
        return [Geometry(r * f, c * f) for r, c in grids]


@dataclass(frozen=True)
class SquareVisual:
    """LLaVA-NeXT-Video: square frames at the tower's size, patches average-pooled by `pool_stride`."""

    family: str = "llava_next_video"
    size: int = 336
    patch_size: int = 14
    pool_stride: int = 2
    min_frames_per_second: int = 1

    @property
    def tokens_per_frame(self) -> int:
        return (self.size // self.patch_size // self.pool_stride) ** 2

    def tokens(self, geometry: Geometry, n_frames: int) -> int:
        return n_frames * self.tokens_per_frame

    def frame_sizes(self, src_h: int, src_w: int) -> list[Geometry]:
        return [Geometry(self.size, self.size)]


@dataclass(frozen=True)
class TextCost:
    """Upper bounds of the text tokens of a window prompt (placeholders excluded)."""

    fixed: int  # chat template, instructions: tokens not tied to a particular second
    per_second: int  # the label and vision-wrapper tokens of one second
    fixed_single: int | None = None  # `fixed` of the shorter one-second prompt (None: same as `fixed`)

    def tokens(self, n_seconds: int) -> int:
        fixed = self.fixed if n_seconds > 1 or self.fixed_single is None else self.fixed_single
        return fixed + n_seconds * self.per_second


@dataclass(frozen=True)
class MemoryModel:
    """Peak memory of one call: weights + fixed + bytes_per_token x its sequence tokens (every row of a
    batch, input and generated). memory.py has the calibrated values per family, size, dtype and device;
    the defaults are the public figures for Qwen2-VL-7B bf16 (~13 GiB more at 14k tokens, ~28 GiB at 30k)."""

    bytes_per_token: float = 1.0e6
    reserve_bytes: int = GIB  # CUDA context, allocator slack
    safety: float = 0.9
    fixed_bytes: int = 0  # per call, independent of length (the measured intercept)
    source: str = "public figures, Qwen2-VL-7B bf16"

    def tokens_for(self, free_bytes: float) -> int:
        """Sequence tokens (input + generated, all rows) that fit in `free_bytes` left after the weights."""
        usable = (free_bytes - self.reserve_bytes - self.fixed_bytes) * self.safety
        return max(0, math.floor(usable / self.bytes_per_token))

    def peak_bytes(self, weights_bytes: int, tokens: int) -> int:
        """Predicted peak of a call holding `tokens` sequence tokens (no safety margin, no reserve)."""
        return int(weights_bytes + self.fixed_bytes + self.bytes_per_token * tokens)


@dataclass(frozen=True)
class PlanOptions:
    frames_per_second: int | None = None  # None: the family's minimum (2 for Qwen, 1 for LLaVA)
    max_window_s: int = 16
    min_window_s: int = 8  # below this, frames get fewer pixels before windows get shorter
    overlap_s: int = 1
    new_tokens_per_second: int = 40  # answer room per second: one sentence and its label
    answer_overhead_tokens: int = 16
    max_visual_tokens_per_second: int | None = None  # pixel cap; None: the processor's own cap
    max_batch_windows: int = 8  # windows per generate call, when the memory budget holds them


@dataclass(frozen=True)
class WindowPlan:
    family: str
    source_size: tuple[int, int]
    geometry: Geometry
    frames_per_second: int
    window_s: int
    overlap_s: int
    visual_tokens_per_second: int
    text: TextCost
    context_limit: int
    memory_tokens: int | None
    options: PlanOptions
    visual: VisualCost = field(repr=False, compare=False)
    batch_size: int = 1  # planned windows per generate call

    @property
    def budget_tokens(self) -> int:
        """Most tokens (input + generated) any single sequence may use."""
        return self.context_limit if self.memory_tokens is None else min(self.context_limit, self.memory_tokens)

    def batch_fits(self, padded_input_tokens: int, max_new_tokens: int, rows: int) -> bool:
        """A call of `rows` sequences, each padded to `padded_input_tokens`, fits the memory tokens."""
        if rows <= 1 or self.memory_tokens is None:
            return True
        return rows * (padded_input_tokens + max_new_tokens) <= self.memory_tokens

    def max_new_tokens(self, n_seconds: int) -> int:
        return self.options.answer_overhead_tokens + n_seconds * self.options.new_tokens_per_second

    def input_tokens_bound(self, n_seconds: int) -> int:
        return self.text.tokens(n_seconds) + n_seconds * self.visual_tokens_per_second

    def fits(self, input_tokens: int, n_seconds: int) -> bool:
        return input_tokens + self.max_new_tokens(n_seconds) <= self.budget_tokens

    def windows(self, duration_s: float) -> list[range]:
        """Consecutive windows of `window_s` seconds overlapping by `overlap_s`, covering every second."""
        n = seconds_in(duration_s)
        step = self.window_s - self.overlap_s
        out, start = [], 0
        while True:
            end = min(start + self.window_s, n)
            out.append(range(start, end))
            if end >= n:
                return out
            start += step

    def shrink(self, factor: float = 0.7) -> WindowPlan:
        """A plan whose calls use at most `factor` of this plan's tokens: fewer windows per call
        first, then windows of fewer tokens, down to the smallest plan (one second at the smallest
        frame size). For out-of-memory retries; PlanError when this plan is already the smallest."""
        if not 0 < factor < 1:
            raise ValueError(f"shrink factor must be in (0, 1), got {factor}")
        if self.batch_size > 1:
            return replace(self, batch_size=max(1, min(self.batch_size - 1, math.floor(self.batch_size * factor))))
        used = self.input_tokens_bound(self.window_s) + self.max_new_tokens(self.window_s)
        smallest = self.visual.frame_sizes(*self.source_size)[0]
        least = self.text.tokens(1) + self.visual.tokens(smallest, self.frames_per_second) + self.max_new_tokens(1)
        if least >= used:
            raise PlanError(
                f"{self.family}: already the smallest plan (one second at {smallest.height}x{smallest.width})"
            )
        return plan_windows(
            self.window_s,
            self.source_size,
            self.visual,
            self.text,
            context_limit=self.context_limit,
            memory_tokens=max(least, math.floor(used * factor)),
            options=replace(
                self.options,
                frames_per_second=self.frames_per_second,
                min_window_s=min(self.options.min_window_s, self.window_s),
                max_batch_windows=1,
            ),
        )

    def summary(self) -> dict:
        return {
            "family": self.family,
            "frame_height": self.geometry.height,
            "frame_width": self.geometry.width,
            "frames_per_second": self.frames_per_second,
            "window_s": self.window_s,
            "overlap_s": self.overlap_s,
            "visual_tokens_per_second": self.visual_tokens_per_second,
            "window_input_tokens_bound": self.input_tokens_bound(self.window_s),
            "window_max_new_tokens": self.max_new_tokens(self.window_s),
            "context_limit": self.context_limit,
            "memory_tokens": self.memory_tokens,
            "budget_tokens": self.budget_tokens,
            "batch_size": self.batch_size,
        }


def plan_windows(
    duration_s: float,
    source_size: tuple[int, int],
    visual: VisualCost,
    text: TextCost,
    *,
    context_limit: int,
    memory_tokens: int | None = None,
    options: PlanOptions = PlanOptions(),
) -> WindowPlan:
    """Chooses frame size and window length for a video of `duration_s` seconds of frames `source_size` (h, w).

    Policy: windows of `max_window_s` seconds (fewer for short videos) at the largest frame size
    that still allows windows of at least `min_window_s`; if even the smallest size does not allow
    that, the smallest size with the longest window that fits (down to one second).
    """
    fps = options.frames_per_second or visual.min_frames_per_second
    if fps < visual.min_frames_per_second:
        raise PlanError(f"{visual.family} needs at least {visual.min_frames_per_second} frames per second, got {fps}")
    budget = context_limit if memory_tokens is None else min(context_limit, memory_tokens)
    n_total = seconds_in(duration_s)
    longest = max(1, min(options.max_window_s, n_total))
    wanted = max(1, min(options.min_window_s, longest))

    sizes = visual.frame_sizes(*source_size)
    if options.max_visual_tokens_per_second is not None:
        sizes = [g for g in sizes if visual.tokens(g, fps) <= options.max_visual_tokens_per_second] or sizes[:1]

    def need(g: Geometry, n: int) -> int:
        return (
            text.tokens(n)
            + n * visual.tokens(g, fps)
            + options.answer_overhead_tokens
            + n * options.new_tokens_per_second
        )

    def fitting_seconds(g: Geometry) -> int:
        per_second = visual.tokens(g, fps) + text.per_second + options.new_tokens_per_second
        n = (budget - text.fixed - options.answer_overhead_tokens) // per_second
        return n if n >= 2 else int(need(g, 1) <= budget)  # one second has a shorter prompt

    chosen = next((g for g in reversed(sizes) if fitting_seconds(g) >= wanted), sizes[0])
    window = min(fitting_seconds(chosen), longest)
    if window < 1:
        raise PlanError(
            f"{visual.family}: one second at {chosen.height}x{chosen.width}, {fps} frames needs {need(chosen, 1)} "
            f"tokens but the budget allows {budget} (context {context_limit}, memory {memory_tokens})"
        )
    overlap = options.overlap_s if window > 2 * options.overlap_s else 0
    # Whole windows per call within the memory tokens; without a memory figure, one (nothing to go by).
    n_windows = 1 if window >= n_total else 1 + math.ceil((n_total - window) / (window - overlap))
    batch = 1 if memory_tokens is None else memory_tokens // need(chosen, window)
    batch = max(1, min(batch, options.max_batch_windows, n_windows))
    return WindowPlan(
        family=visual.family,
        source_size=tuple(source_size),
        geometry=chosen,
        frames_per_second=fps,
        window_s=window,
        overlap_s=overlap,
        visual_tokens_per_second=visual.tokens(chosen, fps),
        text=text,
        context_limit=context_limit,
        memory_tokens=memory_tokens,
        options=options,
        visual=visual,
        batch_size=batch,
    )
