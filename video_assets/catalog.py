"""The analysed videos of an instance: each one's state (from its latest run), score, duration and source
(`video-timeline list`), why its analysis failed (`show`, `report`), and removing one (`forget`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

from analyzers.keys import check_key, partition_key
from resources.storage import TimelineStorage, UnknownVideoError
from video_assets.partitions import videos
from video_assets.runs import failure_reason, run_events

PARTITION_TAG = "dagster/partition"
STATES = {
    DagsterRunStatus.SUCCESS: "analysed",
    DagsterRunStatus.FAILURE: "failed",
    DagsterRunStatus.CANCELED: "canceled",
    DagsterRunStatus.CANCELING: "canceled",
    DagsterRunStatus.STARTED: "running",
    DagsterRunStatus.STARTING: "running",
    DagsterRunStatus.QUEUED: "queued",
    DagsterRunStatus.NOT_STARTED: "queued",
}
BUSY = {"running", "queued"}


class VideoNotFound(LookupError):
    """The target is neither an existing file nor a known partition key (the message says so)."""


@dataclass(frozen=True)
class VideoState:
    key: str
    state: str  # analysed, failed, canceled, running, queued, not analysed
    score: float | None  # reconstruction score of the stored timeline
    duration_s: float | None
    source: str | None  # the registered file
    last_run: datetime | None  # when the latest run ended (or started, while it runs)
    run_id: str | None
    reason: str | None  # why the latest run failed
    has_timeline: bool


def resolve_key(target: str, instance: DagsterInstance, storage: TimelineStorage) -> str:
    """A partition key from an existing file's path or a key; VideoNotFound otherwise."""
    if Path(target).exists():
        return partition_key(target)
    try:
        key = check_key(target)
    except ValueError as exc:
        raise VideoNotFound(f"{target}: no such file, and not a partition key ({exc})") from None
    if key not in instance.get_dynamic_partitions(videos.name) and not storage.asset_path("timeline", key).is_file():
        raise VideoNotFound(f"{target}: no such file, and no video with this partition key (see `video-timeline list`)")
    return key


def _latest_metadata(instance: DagsterInstance, asset: str, key: str) -> dict:
    records = instance.fetch_materializations(AssetRecordsFilter(AssetKey(asset), asset_partitions=[key]), limit=1)
    if not records.records:
        return {}
    return {k: v.value for k, v in records.records[0].asset_materialization.metadata.items()}


def video_state(instance: DagsterInstance, storage: TimelineStorage, key: str) -> VideoState:
    records = instance.get_run_records(RunsFilter(tags={PARTITION_TAG: key}), limit=1)
    run = records[0] if records else None
    has_timeline = storage.asset_path("timeline", key).is_file()
    if run is None:
        state = "analysed" if has_timeline else "not analysed"
    else:
        state = STATES.get(run.dagster_run.status, run.dagster_run.status.value.lower())
    try:
        source = str(storage.source_path(key))
    except UnknownVideoError:
        source = None
    timeline = _latest_metadata(instance, "timeline", key) if has_timeline else {}
    probe = _latest_metadata(instance, "video_probe", key)
    when = None
    if run is not None:
        stamp = run.end_time or run.start_time
        when = datetime.fromtimestamp(stamp, UTC) if stamp else run.create_timestamp
    return VideoState(
        key=key,
        state=state,
        score=timeline.get("reconstruction_score"),
        duration_s=probe.get("duration_s"),
        source=source,
        last_run=when,
        run_id=run.dagster_run.run_id if run else None,
        reason=failure_reason(run_events(instance, run.dagster_run.run_id)) if state == "failed" else None,
        has_timeline=has_timeline,
    )


def video_states(instance: DagsterInstance, storage: TimelineStorage) -> list[VideoState]:
    return [video_state(instance, storage, key) for key in instance.get_dynamic_partitions(videos.name)]


def why_no_timeline(state: VideoState, target: str) -> str:
    """What to tell someone asking for the timeline of a video that has none."""
    if state.state == "failed":
        return f"the analysis of {target} failed: {state.reason}; run {state.run_id}"
    if state.state in BUSY:
        return f"{target} is being analysed ({state.state}, run {state.run_id}); try again when it has finished"
    if state.state == "canceled":
        return f"the analysis of {target} was canceled (run {state.run_id}); run `video-timeline analyze` again"
    return f"no timeline for {target} (partition {state.key}); run `video-timeline analyze {target}` first"


def forget(instance: DagsterInstance, storage: TimelineStorage, key: str) -> list[Path]:
    """Removes the partition and every output below the data root (the report too); returns the removed paths.

    The source file is never touched. Run and materialization history stay in the instance: Dagster's SQL
    storages cannot wipe one partition's events (they raise NotImplementedError), and the runs are the record
    of what ran; analysing the same file again brings the key back with that history."""
    check_key(key)
    state = video_state(instance, storage, key)
    if state.state in BUSY:
        raise RuntimeError(f"{key} is being analysed ({state.state}, run {state.run_id}); forget it once the run ends")
    source = Path(state.source).resolve() if state.source else None
    root = storage.root
    targets = [folder for folder in root.glob(f"*/video={key}") if folder.is_dir()]
    record = root / "sources" / f"{key}.json"
    for folder in targets:
        if source is not None and (folder == source or folder in source.parents):
            raise RuntimeError(f"{folder} holds the source video {source}; move the video before forgetting {key}")
    instance.delete_dynamic_partition(videos.name, key)
    removed = []
    for folder in targets:
        shutil.rmtree(folder)
        removed.append(folder)
    if record.is_file():
        record.unlink()
        removed.append(record)
    return removed
