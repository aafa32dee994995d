"""Descriptions stage: `video_descriptions`, one sentence per second from a vision-language model.

Present only when models.toml has a [describe] section (no weights ship with the project); without it
the timeline's description stays composed from the other aspects. Runs in the `gpu` pool through the
heavy-model runtime, which loads the model, measures it and owns the OOM backoff. torch and
transformers are imported when the asset runs, not when the code location loads.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition, Failure, MetadataValue

from analyzers.frames import frame_times, iter_frames
from analyzers.vlm.planner import MemoryModel, PlanError, PlanOptions, WindowPlan
from analyzers.vlm.prompts import DEFAULT_PROMPT_VERSION, PROMPTS
from resources.heavy_models import HeavyModelRuntime, HeavyModelSession
from resources.model_specs import ModelSpec, ModelSpecError
from video_assets.events import events_output, frames_path, probe_of
from video_assets.heavy import check_options, heavy_asset, model_errors_are_final, session_metadata
from video_assets.names import DESCRIPTIONS_GROUP

if TYPE_CHECKING:
    from analyzers.vlm.describe import DescriptionResult

DESCRIBE = "describe"  # models.toml section
DESCRIPTIONS_ASSET = "video_descriptions"
# Bumped when the asset's own logic changes; the spec's hash covers the model side.
# 2: batched windows and the calibrated memory model change the plans (window length, frame size).
DESCRIPTIONS_VERSION = "2"
_PLAN_KEYS = {f.name for f in fields(PlanOptions)}
_MEMORY_KEYS = {"bytes_per_token"}


def plan_options(spec: ModelSpec) -> tuple[PlanOptions, MemoryModel | None]:
    """PlanOptions and MemoryModel from [describe.options] (None: the calibrated one of the loaded
    model); unknown keys or prompt versions are an error when the code location loads, not at run time."""
    if spec.prompt_version is not None and spec.prompt_version not in PROMPTS:
        raise ModelSpecError(
            f"models.toml [{spec.name}]: unknown prompt_version {spec.prompt_version!r} "
            f"(known: {', '.join(sorted(PROMPTS))})"
        )
    check_options(spec, _PLAN_KEYS | _MEMORY_KEYS)
    plan = PlanOptions(**{k: v for k, v in spec.options.items() if k in _PLAN_KEYS})
    memory = {k: v for k, v in spec.options.items() if k in _MEMORY_KEYS}
    return plan, MemoryModel(**memory) if memory else None


def frames_in_sparsest_second(times: list[float], duration_s: float) -> int:
    """Fewest sampled frames inside any whole second of the video (the last, partial one excluded):
    what per-second grounding needs, whatever the source frame rate rounded the sampling to."""
    whole = max(1, int(duration_s + 1e-9))
    counts = np.bincount(np.floor(np.asarray(times, dtype=float)).astype(int).clip(0, whole), minlength=whole + 1)
    return int(counts[:whole].min())


@dataclass(frozen=True)
class _Attempt:
    plan: WindowPlan
    partial: "DescriptionResult | None"  # what earlier attempts described


def _attempt_label(attempt: _Attempt) -> str:
    p, done = attempt.plan, attempt.partial.metadata["described_seconds"] if attempt.partial else 0
    return (
        f"{p.window_s} s windows of {p.geometry.height}x{p.geometry.width} frames, {p.frames_per_second}/s, "
        f"{p.batch_size} per call, budget {p.budget_tokens} tokens ({done} seconds done)"
    )


def describe_with_backoff(
    heavy: HeavyModelSession,
    frames: Path,
    duration_s: float,
    model,
    processor,
    options: PlanOptions,
    memory: MemoryModel | None,
) -> "DescriptionResult":
    """describe_video; out of memory shrinks the plan (fewer windows per call, then fewer pixels, then
    shorter windows) and resumes."""
    from analyzers.vlm.describe import DescribeOutOfMemory, describe_video, plan_for

    spec = heavy.spec
    prompt = spec.prompt_version or DEFAULT_PROMPT_VERSION
    plan = plan_for(
        model,
        processor,
        duration_s,
        _frame_size(frames),
        prompt_version=prompt,
        options=options,
        memory_budget_bytes=spec.memory_budget_bytes,
        memory_model=memory,
    )

    def run(attempt: _Attempt) -> "DescriptionResult":
        return describe_video(
            frames,
            duration_s,
            model,
            processor,
            attempt.plan,
            prompt_version=prompt,
            source=spec.model,
            resume=attempt.partial,
            progress=heavy.log.info,
        )

    def shrink(attempt: _Attempt, exc: BaseException) -> _Attempt | None:
        # An OOM outside a model call (no DescribeOutOfMemory) keeps the previous partial result.
        partial = exc.partial if isinstance(exc, DescribeOutOfMemory) else attempt.partial
        try:
            return _Attempt(attempt.plan.shrink(), partial)
        except PlanError:
            return None

    return heavy.shrink_on_oom(run, _Attempt(plan, None), shrink, _attempt_label)


def _frame_size(frames: Path) -> tuple[int, int]:
    for frame in iter_frames(frames):
        return frame.image.shape[:2]
    raise ValueError(f"{frames}: no frames")


def build_description_asset(spec: ModelSpec) -> AssetsDefinition:
    options, memory = plan_options(spec)

    @heavy_asset(spec, DESCRIPTIONS_ASSET, DESCRIPTIONS_VERSION, ("description",), group=DESCRIPTIONS_GROUP)
    def video_descriptions(
        context: AssetExecutionContext, heavy_models: HeavyModelRuntime, video_probe: pd.DataFrame, sampled_frames
    ):
        """One sentence per second of video from a vision-language model."""
        from transformers import AutoConfig, AutoModelForImageTextToText

        from analyzers.vlm.adapters import adapter_class, load_processor

        started, probe = time.perf_counter(), probe_of(video_probe)
        frames = frames_path(sampled_frames, context)
        times = frame_times(frames)
        with model_errors_are_final(spec), heavy_models.session(spec, log=context.log) as heavy:
            # Family and processor first (small files): a video sampled too sparsely fails before the load.
            config = AutoConfig.from_pretrained(heavy.model_path, trust_remote_code=spec.trust_remote_code)
            processor = load_processor(heavy.model_path, trust_remote_code=spec.trust_remote_code)
            visual = adapter_class(config)(config, processor).visual
            needed = options.frames_per_second or visual.min_frames_per_second
            per_second = frames_in_sparsest_second(times, probe.duration_s)
            if per_second < needed:
                raise Failure(
                    description=f"{DESCRIPTIONS_ASSET}: {visual.family} needs at least {needed} sampled frames per "
                    f"second for per-second grounding, a second of {context.partition_key} has only {per_second} "
                    f"sampled frames; set resource settings.sample_fps >= {needed} and rematerialize sampled_frames",
                    allow_retries=False,
                )
            model = heavy.load_pretrained(AutoModelForImageTextToText)
            describing = time.perf_counter()
            result = describe_with_backoff(heavy, frames, probe.duration_s, model, processor, options, memory)
            describe_s = time.perf_counter() - describing
            del model  # the session frees the model at exit only if nothing else holds it
        meta = result.metadata
        context.log.info(
            f"{DESCRIPTIONS_ASSET}: {meta['described_seconds']}/{meta['seconds']} seconds described, "
            f"{meta['windows']} windows, {meta['reasks']} re-asks"
        )
        return events_output(
            context,
            result.events,
            probe,
            started,
            model=spec.model,
            **session_metadata(heavy),
            windows=meta["windows"],
            batch_size=meta["batch_size"],
            reasks=meta["reasks"],
            tokens_per_window=MetadataValue.json(meta["tokens_per_window"]),
            coverage=meta["coverage"],
            described_seconds=meta["described_seconds"],
            failed_seconds=MetadataValue.json(meta["failed_seconds"]),
            # All attempts together (OOM retries included), model load excluded.
            video_s_per_compute_s=round(probe.duration_s / describe_s, 4) if describe_s > 0 else None,
            generated_tokens=meta["generated_tokens"],
            plan=MetadataValue.json(meta["plan"]),
            prompt_version=meta["prompt_version"],
            attention=meta["attention"],
            frames_in_sparsest_second=per_second,
        )

    return video_descriptions


def stage_assets(specs: Mapping[str, ModelSpec]) -> list[AssetsDefinition]:
    return [build_description_asset(specs[DESCRIBE])] if DESCRIBE in specs else []
