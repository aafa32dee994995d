"""What every event asset shares: its decorator (partitioned by video, the aspects it fills declared
in its metadata), the probe it reads, and the output it returns.

An event asset returns a table of `analyzers.records.Event` rows. The timeline, its score and its
coverage picture learn which contract columns each asset fills from `ASPECTS_KEY` in the asset's
metadata (`aspects_by_asset`), so adding an analyzer is one asset module plus its columns.
"""

import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition, Failure, MetadataValue, Output, asset

from analyzers.probe import VideoProbe
from analyzers.records import events_frame
from video_assets.names import ASPECTS_KEY
from video_assets.partitions import videos


def event_asset(*, group: str, version: str, aspects: Sequence[str], name: str | None = None, **kwargs):
    """The decorator of an event asset: partitioned by video, versioned, with the timeline aspects it fills."""
    metadata = {**kwargs.pop("metadata", {}), ASPECTS_KEY: list(aspects)}
    return asset(name=name, partitions_def=videos, group_name=group, code_version=version, metadata=metadata, **kwargs)


def aspects_by_asset(assets: Iterable[AssetsDefinition]) -> dict[str, tuple[str, ...]]:
    """{event asset name: timeline aspects it fills}, from the assets' own metadata."""
    found = {}
    for definition in assets:
        for spec in definition.specs:
            if ASPECTS_KEY in (spec.metadata or {}):
                found[spec.key.to_user_string()] = tuple(spec.metadata[ASPECTS_KEY])
    return found


def probe_of(video_probe: pd.DataFrame) -> VideoProbe:
    return VideoProbe.from_row(video_probe.iloc[0].to_dict())


def events_output(
    context: AssetExecutionContext,
    events,
    probe: VideoProbe,
    started: float,
    table: tuple[str, str, str] | None = None,
    **metadata,
) -> Output[pd.DataFrame]:
    """The events as the asset's table, with the metadata every event asset records (and `metadata`).
    `table` = (aspect, count key, table key) adds the video-level rows of that aspect (`video_table`)."""
    if table:
        metadata.update(video_table(events, *table))
    frame = events_frame(events, context.partition_key)
    seconds = frame["start_s"].floordiv(1).nunique() if len(frame) else 0
    return Output(
        frame,
        metadata={
            "rows": len(frame),
            "seconds_covered": int(seconds),
            "video_seconds": round(probe.duration_s, 3),
            "seconds_taken": round(time.perf_counter() - started, 3),
            **metadata,
        },
    )


@contextmanager
def errors_are_final(*errors: type[Exception], prefix: str = ""):
    """These errors fail the step as a deliberate `Failure`: a retry would meet the same file or model, so
    the retry sensor leaves it alone."""
    try:
        yield
    except errors as exc:
        raise Failure(description=f"{prefix}{exc}", allow_retries=False) from exc


def model_metadata(name: str, licence: str, source: str = "") -> dict[str, str]:
    """How a model-backed asset names its model: the same keys on every asset, so a licence audit reads one
    key (`model_licence`) across the graph."""
    return {"model": name, "model_licence": licence, **({"model_source": source} if source else {})}


VIDEO_TABLE_ROWS = 200  # rows of a video-level table kept in the metadata (all are in the asset's events)


def video_table(events, aspect: str, count: str, table: str) -> dict:
    """The video-level rows (one per track, one per person) as asset metadata: `count` their number, `table`
    the first VIDEO_TABLE_ROWS of them without their thumbnails."""
    rows = [
        {k: v for k, v in e.detail.items() if not k.startswith("thumbnail_jpeg")} for e in events if e.aspect == aspect
    ]
    return {count: len(rows), table: MetadataValue.json(rows[:VIDEO_TABLE_ROWS])}


def frames_path(sampled_frames, context: AssetExecutionContext) -> Path:
    """The stored sampled frames of this partition; a clear failure when there are none."""
    if sampled_frames is None or not Path(sampled_frames).is_file():
        raise Failure(
            description=f"{context.asset_key.to_user_string()}: no sampled frames for {context.partition_key}",
            allow_retries=False,
        )
    return Path(sampled_frames)
