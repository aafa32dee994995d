"""Describing every second of a video with a vision-language model.

Coverage loop: the plan's windows are asked in order; seconds an answer leaves out (or answers
with something that is not a description) are asked again in windows of half the size, down to a
single second; a second that a one-second question cannot describe is recorded as a failure.
Windows overlap (the plan's `overlap_s`): the overlap seconds give the next window context, a
second described twice keeps the answer from the call where it sat farther from the edge, and
seconds a window leaves out in its overlap with the next window are left to that window. Every
call is counted exactly before it is made and never exceeds the plan's budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteriaList

from analyzers.frames import SampledFrame, iter_frames
from analyzers.progress import Progress, Say
from analyzers.records import Event, per_second_spans
from analyzers.vlm.adapters import FamilyAdapter, adapter_for, to_model
from analyzers.vlm.attention import use_grouped_decode
from analyzers.vlm.guard import RepetitionGuard
from analyzers.vlm.memory import memory_model_for
from analyzers.vlm.planner import MemoryModel, PlanOptions, WindowPlan, plan_windows, seconds_in
from analyzers.vlm.prompts import DEFAULT_PROMPT_VERSION, Prompt, get_prompt
from analyzers.vlm.timestamps import parse_answer

log = logging.getLogger(__name__)

FrameSource = str | Path | Callable[[float, float], Iterable[SampledFrame]] | Sequence[SampledFrame]


@dataclass
class Described:
    text: str
    window: tuple[int, int]  # [start, end) seconds of the call that produced it
    depth: int  # 0: planned window, >0: re-asked in a smaller window
    flags: list[str]
    centrality: int  # distance to the call's nearer edge: overlapping windows keep the more central answer
    confidence: float | None = None  # geometric mean probability of the answer's tokens (`AnswerProbability`)


class AnswerProbability(LogitsProcessor):
    """Keeps, per row of the batch, the probability of the token greedy decoding picks at each step (the
    scores pass unchanged): their geometric mean over a row's answer is how sure the model was of it, the
    description's confidence."""

    def __init__(self):
        self._log_p: list[torch.Tensor] = []  # one [batch] tensor per step, kept on the device

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._log_p.append(torch.log_softmax(scores.float(), dim=-1).max(dim=-1).values)
        return scores

    def value(self, row: int, tokens: int) -> float | None:
        """The geometric mean probability of the first `tokens` answer tokens of `row`."""
        steps = self._log_p[:tokens]
        return round(float(torch.stack([step[row] for step in steps]).mean().exp()), 4) if steps else None


@dataclass
class DescriptionResult:
    events: list[Event]
    metadata: dict
    asks: list[dict] = field(default_factory=list)  # one entry per model call


class DescribeOutOfMemory(torch.OutOfMemoryError):
    """Out of memory during a call. `partial` holds what was described; retry with
    `plan.shrink()` and `resume=partial` to go on with smaller windows."""

    def __init__(self, message: str, partial: DescriptionResult | None, plan: WindowPlan):
        super().__init__(message)
        self.partial = partial
        self.plan = plan


class _Frames:
    """Random access to sampled frames by time, from a frame store, a callable or a list."""

    def __init__(self, source: FrameSource):
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: frame store not found")
            self._between = lambda a, b: iter_frames(path, a, b)
        elif callable(source):
            self._between = source
        else:
            frames = sorted(source, key=lambda f: f.t)
            self._between = lambda a, b: [f for f in frames if a <= f.t < b]

    def between(self, start: float, end: float) -> list[SampledFrame]:
        return list(self._between(start, end))

    def size(self, duration_s: float) -> tuple[int, int]:
        for frame in self._between(0.0, duration_s + 1.0):
            return frame.image.shape[:2]
        raise ValueError("no frames to describe: the frame source is empty")


def _pick(frames: list[SampledFrame], n: int) -> list[np.ndarray]:
    """n frames spread evenly over the given ones (repeating when there are fewer)."""
    idx = [min(len(frames) - 1, int((k + 0.5) * len(frames) / n)) for k in range(n)]
    return [frames[i].image for i in idx]


def _runs(seconds: Iterable[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for s in sorted(seconds):
        if runs and runs[-1][-1] == s - 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    return runs


def _weights_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def memory_tokens_for(model, memory_budget_bytes: int | None, memory_model: MemoryModel | None) -> int | None:
    """Tokens the memory budget allows: `memory_budget_bytes` is everything the model may use
    (weights included); without it, the free memory of the model's CUDA device; on CPU, no limit.
    `memory_model` None: the calibrated model of this family, size, dtype and device (memory.py)."""
    memory_model = memory_model or memory_model_for(model)
    if memory_budget_bytes is not None:
        return memory_model.tokens_for(memory_budget_bytes - _weights_bytes(model))
    device = next(model.parameters()).device
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return memory_model.tokens_for(free)


class _Describer:
    def __init__(
        self,
        frames: _Frames,
        duration_s: float,
        model,
        adapter: FamilyAdapter,
        plan: WindowPlan,
        prompt: Prompt,
        source: str,
        generate_kwargs: dict,
        progress: Progress,
        memory_model: MemoryModel,
    ):
        self.frames, self.duration_s, self.model, self.adapter = frames, duration_s, model, adapter
        self.progress = progress
        self.plan, self.prompt, self.source, self.generate_kwargs = plan, prompt, source, generate_kwargs
        self.described: dict[int, Described] = {}
        self.failed: dict[int, str] = {}
        self.asks: list[dict] = []
        self.memory_model, self.weights_bytes = memory_model, _weights_bytes(model)
        self.calls = 0  # generate calls
        self.prepare_s = self.encode_s = self.generate_s = 0.0  # frames to planned size / processor / model
        self._clips: dict[int, tuple[np.ndarray, list[str]]] = {}
        self._clip_range: range = range(0)

    # -- frames -------------------------------------------------------------------------------
    def _load_clips(self, window: range) -> None:
        """Frames of each second of the window (or group of windows) at the planned size, kept for re-asks."""
        if window.start >= self._clip_range.start and window.stop <= self._clip_range.stop:
            return
        fps, geometry = self.plan.frames_per_second, self.plan.geometry
        # One second either side, to borrow from when a second has no frame of its own.
        frames = self.frames.between(max(0, window.start - 1), window.stop + 1)
        self._clips, self._clip_range = {}, window
        for s in window:
            own = [f for f in frames if s <= f.t < s + 1]
            flags = []
            if not own:  # borrow the nearest frame of a neighbouring second, if any
                near = sorted((f for f in frames if s - 1 <= f.t < s + 2), key=lambda f: abs(f.t - (s + 0.5)))[:1]
                if not near:
                    continue
                own, flags = near, ["borrowed_frames"]
            self._clips[s] = (self.adapter.prepare_clip(_pick(own, fps), geometry), flags)

    # -- model calls --------------------------------------------------------------------------
    def ask(self, seconds: list[int], depth: int) -> bool:
        """Asks about consecutive seconds; False when they do not fit the budget (caller splits)."""
        return self.ask_batch([seconds], depth)[0]

    def ask_batch(self, calls: list[list[int]], depth: int) -> list[bool]:
        """Asks about several runs of consecutive seconds, as many per `generate` call as the plan's
        batch size and memory allow. Per run False when it alone exceeds the budget (not asked)."""
        plan = self.plan
        counts = self.adapter.count_many(calls, plan.geometry, plan.frames_per_second, self.prompt)
        fits = [plan.fits(c.total, len(seconds)) for seconds, c in zip(calls, counts)]
        batch: list[int] = []
        for i in (i for i, ok in enumerate(fits) if ok):
            rows = batch + [i]
            padded = max(counts[j].total for j in rows)
            answer = max(plan.max_new_tokens(len(calls[j])) for j in rows)
            if batch and (len(rows) > plan.batch_size or not plan.batch_fits(padded, answer, len(rows))):
                self._generate([calls[j] for j in batch], [counts[j] for j in batch], depth)
                batch = [i]
            else:
                batch = rows
        if batch:
            self._generate([calls[j] for j in batch], [counts[j] for j in batch], depth)
        return fits

    def _end_ids(self) -> set[int]:
        eos = self.generate_kwargs.get("eos_token_id", getattr(self.model.generation_config, "eos_token_id", None))
        if eos is None:
            eos = self.adapter.tokenizer.eos_token_id
        return set(eos if isinstance(eos, (list, tuple)) else [] if eos is None else [eos])

    def _generate(self, calls: list[list[int]], counts: list, depth: int) -> None:
        """One `generate` call for these runs (left-padded when several); greedy, so each row's answer
        is the one it gets alone (tested)."""
        plan = self.plan
        started = time.perf_counter()
        inputs = self.adapter.encode_many(
            calls, [[self._clips[s][0] for s in seconds] for seconds in calls], plan.frames_per_second, self.prompt
        )
        encode_s = time.perf_counter() - started
        prompt_length = inputs["input_ids"].shape[1]
        mask = inputs.get("attention_mask")
        lengths = mask.sum(dim=1).tolist() if mask is not None else [prompt_length]
        for seconds, count, length in zip(calls, counts, lengths, strict=True):
            if length != count.total:
                raise RuntimeError(
                    f"{self.adapter.name}: counted {count.total} prompt tokens for seconds {seconds[0]}-{seconds[-1]}, "
                    f"the processor made {length}"
                )
        device = self.model.device
        inputs = to_model(inputs, self.model)
        end_ids = self._end_ids()
        guard, sure = RepetitionGuard(prompt_length, end_ids=end_ids), AnswerProbability()
        answer_caps = [plan.max_new_tokens(len(seconds)) for seconds in calls]
        cuda = device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        started = time.perf_counter()
        try:
            with torch.inference_mode():
                out = self.model.generate(
                    **inputs,
                    max_new_tokens=max(answer_caps),
                    do_sample=False,
                    stopping_criteria=StoppingCriteriaList([guard]),
                    logits_processor=LogitsProcessorList([sure]),
                    **self.generate_kwargs,
                )
        except torch.OutOfMemoryError as e:
            raise DescribeOutOfMemory(
                f"{self.adapter.name}: out of memory on seconds {calls[0][0]}-{calls[-1][-1]} "
                f"({len(calls)} windows of up to {prompt_length} input tokens)",
                None,
                plan,
            ) from e
        wall_s = time.perf_counter() - started
        self.encode_s += encode_s
        self.generate_s += wall_s
        call = self.calls
        self.calls += 1
        peak = {"peak_bytes": torch.cuda.max_memory_allocated(device)} if cuda else {}
        planned = self.memory_model.peak_bytes(self.weights_bytes, len(calls) * (prompt_length + max(answer_caps)))
        pad = self.generate_kwargs.get("pad_token_id", getattr(self.model.generation_config, "pad_token_id", None))
        for row, (seconds, count, cap) in enumerate(zip(calls, counts, answer_caps)):
            new = out[row, prompt_length:][:cap].tolist()
            # A row ends at its first end-of-answer token, or where the guard stopped it; generate pads a
            # finished row while other rows go on.
            new = new[: next((k + 1 for k, t in enumerate(new) if t in end_ids), len(new))]
            stop = guard.stopped_at.get(row)
            if stop is not None and all(t == pad for t in new[stop:]):
                new = new[:stop]
            self._take_answer(seconds, count, new, cap, depth, row in guard.stopped_at, sure.value(row, len(new)))
            self.asks[-1] |= {
                "call": call,
                "batch": len(calls),
                "padded_input_tokens": prompt_length,
                "encode_s": round(encode_s, 4),
                "wall_s": round(wall_s, 4),
                "planned_peak_bytes": planned,
                **peak,
            }

    def _take_answer(
        self, seconds: list[int], count, new: list[int], cap: int, depth: int, looped: bool, confidence: float | None
    ) -> None:
        text = self.adapter.tokenizer.decode(new, skip_special_tokens=True)
        parsed = parse_answer(text, seconds)
        window = (seconds[0], seconds[-1] + 1)
        call_flags = (["repetition"] if looped else []) + (["truncated"] if len(new) >= cap else [])
        if depth:
            call_flags.append("reasked")
        for s, desc in parsed.descriptions.items():
            candidate = Described(
                desc,
                window,
                depth,
                call_flags + self._clips[s][1] + parsed.flags.get(s, []),
                min(s - window[0], window[1] - 1 - s),
                confidence,
            )
            old = self.described.get(s)
            if old is None or candidate.centrality > old.centrality:
                self.described[s] = candidate
                self.failed.pop(s, None)
        self.asks.append(
            {
                "start": window[0],
                "end": window[1],
                "depth": depth,
                "input_tokens": count.total,
                "video_tokens": count.video,
                "new_tokens": len(new),
                "max_new_tokens": cap,
                "described": len(parsed.descriptions),
                "repetition": looped,
                "truncated": len(new) >= cap,
                "relative_time": parsed.relative,
                "out_of_window": parsed.out_of_window,
                "rejected": parsed.rejected,
            }
        )
        log.debug("seconds %d-%d: %d/%d described", window[0], window[1] - 1, len(parsed.descriptions), len(seconds))

    # -- coverage -----------------------------------------------------------------------------
    def cover(self, seconds: list[int], depth: int) -> None:
        """Describes consecutive seconds, re-asking what is missing in halves down to one second."""
        missing = [s for s in seconds if s not in self._clips]
        for s in missing:
            self.failed[s] = "no frames"
        seconds = [s for s in seconds if s in self._clips]
        for run in _runs(seconds):
            if self.ask(run, depth):
                left = [s for s in run if s not in self.described]
                depth_next = depth + 1
            else:
                left, depth_next = run, depth  # over budget: split without counting it as a re-ask
            if not left:
                continue
            if len(run) == 1:
                self.failed[run[0]] = (
                    "no description in the answer to a one-second question"
                    if depth_next > depth
                    else "one second exceeds the token budget"
                )
                continue
            half = max(1, len(run) // 2)
            for part in _runs(left):
                for i in range(0, len(part), half):
                    self.cover(part[i : i + half], depth_next)

    def run(self) -> None:
        windows = self.plan.windows(self.duration_s)
        size = max(1, self.plan.batch_size)
        for first in range(0, len(windows), size):
            group = range(first, min(first + size, len(windows)))
            started = time.perf_counter()
            self._load_clips(range(windows[group[0]].start, windows[group[-1]].stop))
            self.prepare_s += time.perf_counter() - started
            # The group's windows are asked together; each asks what was not described before the group.
            planned: list[tuple[int, list[int], list[int]]] = []  # (window, run, seconds asked)
            for i in group:
                window = windows[i]
                todo = [s for s in window if s not in self.described and s not in self.failed]
                later = set(windows[i + 1]) if i + 1 < len(windows) else set()
                for s in todo:
                    if s not in self._clips and s not in later:
                        self.failed[s] = "no frames"
                for run in _runs(s for s in todo if s in self._clips):
                    # Described seconds just before the run (the overlap) are asked again as context.
                    start = max(window.start, run[0] - self.plan.overlap_s)
                    planned.append((i, run, [s for s in range(start, run[-1] + 1) if s in self._clips]))
            fits = self.ask_batch([asked for _, _, asked in planned], 0) if planned else []
            for (i, run, asked), ok in zip(planned, fits):
                if not ok:
                    self.cover(run, 0)
                    continue
                # Seconds left out in the overlap with the next window are that window's to re-ask.
                later = set(windows[i + 1]) if i + 1 < len(windows) else set()
                left = [s for s in run if s not in self.described and s not in later]
                half = max(1, len(asked) // 2)
                for part in _runs(left):
                    for j in range(0, len(part), half):
                        self.cover(part[j : j + half], 1)
            self.progress.at(windows[group[-1]].stop)

    # -- output -------------------------------------------------------------------------------
    def result(self, wall_s: float) -> DescriptionResult:
        events = []
        for s, start, end in per_second_spans(self.duration_s):
            if (d := self.described.get(s)) is not None:
                detail = {
                    "window": list(d.window),
                    "depth": d.depth,
                    "flags": d.flags,
                    "prompt_version": self.prompt.version,
                }
                events.append(Event(start, end, "description", d.text, d.confidence, self.source, detail))
            elif s in self.failed:
                events.append(
                    Event(
                        start,
                        end,
                        "description_failure",
                        self.failed[s],
                        None,
                        self.source,
                        {"prompt_version": self.prompt.version},
                    )
                )
        n = seconds_in(self.duration_s)
        first = [a for a in self.asks if a["depth"] == 0]
        tokens = [a["input_tokens"] for a in first]
        metadata = {
            "model": self.source,
            "family": self.adapter.visual.family,
            "attention": self.model.config.get_text_config()._attn_implementation,
            "prompt_version": self.prompt.version,
            "plan": self.plan.summary(),
            "seconds": n,
            "described_seconds": len(self.described),
            "failed_seconds": sorted(self.failed),
            "coverage": round(len(self.described) / n, 4),
            "windows": len(first),
            "batch_size": self.plan.batch_size,
            "calls": self.calls,
            "asks": len(self.asks),
            "reasks": len(self.asks) - len(first),
            "tokens_per_window": tokens,
            "max_input_tokens": max((a["input_tokens"] for a in self.asks), default=0),
            "generated_tokens": sum(a["new_tokens"] for a in self.asks),
            "repetition_stops": sum(a["repetition"] for a in self.asks),
            "truncated_answers": sum(a["truncated"] for a in self.asks),
            "relative_time_answers": sum(a["relative_time"] for a in self.asks),
            "wall_s": round(wall_s, 3),
            "video_s_per_compute_s": round(self.duration_s / wall_s, 4) if wall_s > 0 else None,
            "prepare_s": round(self.prepare_s, 3),
            "encode_s": round(self.encode_s, 3),
            "generate_s": round(self.generate_s, 3),
            "memory_model": {
                "bytes_per_token": round(self.memory_model.bytes_per_token),
                "fixed_bytes": self.memory_model.fixed_bytes,
                "source": self.memory_model.source,
            },
        }
        peaks = [a["peak_bytes"] for a in self.asks if "peak_bytes" in a]
        if peaks:
            metadata["peak_memory_bytes"] = max(peaks)
        return DescriptionResult(events, metadata, list(self.asks))


def _resumed(result: DescriptionResult) -> dict[int, Described]:
    out = {}
    for e in result.events:
        if e.aspect == "description" and e.detail:
            out[int(e.start_s)] = Described(
                e.value, tuple(e.detail["window"]), e.detail["depth"], list(e.detail["flags"]), 1 << 30, e.confidence
            )
    return out


def _plan(
    model,
    adapter: FamilyAdapter,
    prompt: Prompt,
    duration_s: float,
    frame_size: tuple[int, int],
    options: PlanOptions,
    memory_budget_bytes: int | None,
    memory_model: MemoryModel | None,
) -> WindowPlan:
    return plan_windows(
        duration_s,
        frame_size,
        adapter.visual,
        adapter.text_cost(seconds_in(duration_s), prompt),
        context_limit=adapter.context_limit,
        memory_tokens=memory_tokens_for(model, memory_budget_bytes, memory_model),
        options=options,
    )


def plan_for(
    model,
    processor,
    duration_s: float,
    frame_size: tuple[int, int],
    *,
    prompt_version: str = DEFAULT_PROMPT_VERSION,
    options: PlanOptions | None = None,
    memory_budget_bytes: int | None = None,
    memory_model: MemoryModel | None = None,
) -> WindowPlan:
    """The window plan for a video of `duration_s` seconds whose frames are `frame_size` (h, w)."""
    adapter = adapter_for(model, processor)
    options = options or PlanOptions()
    return _plan(
        model, adapter, get_prompt(prompt_version), duration_s, frame_size, options, memory_budget_bytes, memory_model
    )


def describe_video(
    frames: FrameSource,
    duration_s: float,
    model,
    processor,
    plan: WindowPlan | None = None,
    *,
    prompt_version: str = DEFAULT_PROMPT_VERSION,
    source: str | None = None,
    options: PlanOptions | None = None,
    memory_budget_bytes: int | None = None,
    memory_model: MemoryModel | None = None,
    resume: DescriptionResult | None = None,
    generate_kwargs: dict | None = None,
    progress: Say | None = None,
) -> DescriptionResult:
    """One description per second of the video (aspect "description", source = model id).

    frames: the frame store path, a callable (start_s, end_s) -> frames, or a list of frames.
    plan: window plan; by default planned here from the model's context, the memory budget and
      `options` (see `plan_for`). Out of memory raises DescribeOutOfMemory: call again with
      `plan=err.plan.shrink()` and `resume=err.partial`.
    """
    started = time.perf_counter()
    options = options or PlanOptions()
    memory_model = memory_model or memory_model_for(model)
    adapter = adapter_for(model, processor)
    use_grouped_decode(model)  # batched decode steps without copying the cache per query head
    prompt = get_prompt(prompt_version)
    reader = _Frames(frames)
    if plan is None:
        plan = _plan(
            model, adapter, prompt, duration_s, reader.size(duration_s), options, memory_budget_bytes, memory_model
        )
    elif plan.family != adapter.visual.family:
        raise ValueError(f"plan is for {plan.family}, the model is {adapter.visual.family}")
    describer = _Describer(
        reader,
        duration_s,
        model,
        adapter,
        plan,
        prompt,
        source or getattr(model.config, "_name_or_path", "") or adapter.visual.family,
        generate_kwargs or {},
        Progress(progress, "describing", duration_s),
        memory_model,
    )
    if resume is not None:
        describer.described.update(_resumed(resume))
        describer.asks.extend(resume.asks)
        describer.calls = 1 + max((a.get("call", -1) for a in resume.asks), default=-1)
    try:
        describer.run()
    except DescribeOutOfMemory as e:
        e.partial = describer.result(time.perf_counter() - started)
        raise
    result = describer.result(time.perf_counter() - started)
    log.info(
        "%s: %d/%d seconds described in %d calls (%d re-asks)",
        result.metadata["model"],
        result.metadata["described_seconds"],
        result.metadata["seconds"],
        result.metadata["asks"],
        result.metadata["reasks"],
    )
    return result
