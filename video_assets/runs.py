"""Running the graph for videos, and reading what a run did: one way for the CLI, the bench and the tests.

with open_local_instance() as instance:
    run = analyze_file(defs, instance, Path("clip.mp4"))   # register, add the partition, run
    run.success, run.failure, run.seconds
    recorded_score(instance, run.key)                       # what the reconstruction_score check recorded
    recorded_score_metadata(instance, run.key)              # all of it: coverage, why below 1, per aspect
"""

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter, DagsterEvent, DagsterInstance, Definitions, ExecuteInProcessResult

from analyzers.fingerprint import content_fingerprint
from video_assets.dagster_private import StaleStatus, latest_check_evaluation, stale_status_resolver
from video_assets.names import ANALYZE_JOB, CONTENT_SHA256, SCORE_CHECK, TIMELINE_ASSET
from video_assets.partitions import videos

# In-process runs print the step log (INFO), not every Dagster event.
CONSOLE_INFO = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass(frozen=True)
class VideoRun:
    key: str  # the video's partition key
    run_id: str
    success: bool
    seconds: float  # wall time of the run
    failure: str | None  # why it failed, for a person; None when it succeeded
    result: ExecuteInProcessResult = field(repr=False, compare=False)  # outputs and events of the run


def register_video(defs: Definitions, instance: DagsterInstance, path: str | Path) -> str:
    """Records the file as a source and adds its partition; returns the partition key."""
    key = defs.resources["storage"].register_source(path)
    instance.add_dynamic_partitions(videos.name, [key])
    return key


def run_partition(
    defs: Definitions,
    instance: DagsterInstance,
    key: str,
    *,
    asset_selection: Sequence[AssetKey] | None = None,
    tags: dict[str, str] | None = None,
    run_config: dict | None = None,
) -> VideoRun:
    """Materializes the job's assets (or `asset_selection`) for one video, in this process."""
    started = time.perf_counter()
    result = defs.resolve_job_def(ANALYZE_JOB).execute_in_process(
        instance=instance,
        partition_key=key,
        asset_selection=asset_selection,
        tags=tags,
        raise_on_error=False,
        run_config=CONSOLE_INFO if run_config is None else run_config,
    )
    failure = None if result.success else failure_reason(result.all_events)
    return VideoRun(key, result.run_id, result.success, time.perf_counter() - started, failure, result)


def analyze_file(defs: Definitions, instance: DagsterInstance, path: str | Path, **run_options) -> VideoRun:
    """`register_video` then `run_partition`: the whole graph for one file."""
    return run_partition(defs, instance, register_video(defs, instance, path), **run_options)


def analysis_is_current(defs: Definitions, instance: DagsterInstance, key: str) -> bool:
    """True when the video's file holds the content its last analysis read and every asset of the graph is
    materialized for it and fresh (no code or model change since): analysing it again would repeat the work.
    Costs a hash of the file only when its size, mtime or inode changed since it was last fingerprinted."""
    storage = defs.resources["storage"]
    probed = instance.fetch_materializations(
        AssetRecordsFilter(AssetKey("video_probe"), asset_partitions=[key]), limit=1
    ).records
    if not probed:
        return False
    analysed = probed[0].asset_materialization.metadata.get(CONTENT_SHA256)
    try:
        current = content_fingerprint(storage.source_path(key), known=storage.source_fingerprint(key))
    except OSError:
        return False
    if analysed is None or analysed.value != current["sha256"]:
        return False
    graph = defs.resolve_asset_graph()
    resolver = stale_status_resolver(instance, graph)
    return all(resolver.get_status(k, key) == StaleStatus.FRESH for k in graph.materializable_asset_keys)


def deliberate_failure(events: Iterable[DagsterEvent]) -> str | None:
    """The description of a `dagster.Failure` a step raised on purpose (a bad input, a missing model:
    a retry gives the same answer), naming the step; None when no step failed that way."""
    for event in events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.user_failure_data:
            description = event.step_failure_data.user_failure_data.description
            if description:
                return f"{description} (step {event.step_key})"
    return None


def failure_reason(events: Iterable[DagsterEvent]) -> str:
    """Why a run failed, from its events: a deliberate failure's description, else the first step error."""
    events = list(events)
    reason = deliberate_failure(events)
    if reason:
        return reason
    for event in events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None:  # Dagster wraps the user's error: the innermost one says what broke
                error = error.cause
            return f"step {event.step_key}: {error.message.strip().splitlines()[0]}"
    for event in events:  # no step failed: the run itself did (its worker died, it never started)
        if event.is_run_failure and event.message:
            return event.message
    return "the run failed without a step error (see the run in the Dagster UI)"


def run_events(instance: DagsterInstance, run_id: str) -> list[DagsterEvent]:
    """The Dagster events a run stored (for `failure_reason` of a run this process did not start)."""
    return [record.dagster_event for record in instance.all_logs(run_id) if record.dagster_event is not None]


def recorded_score(instance: DagsterInstance, key: str) -> float | None:
    """The reconstruction score the timeline's check recorded for this video (what the UI shows); None
    when the check has not run for it."""
    recorded = recorded_score_metadata(instance, key)
    return None if recorded is None or "score" not in recorded else float(recorded["score"])


def recorded_score_metadata(instance: DagsterInstance, key: str) -> dict | None:
    """Everything the reconstruction_score check recorded for this video (score, coverage, `below_1`: why the
    score is below 1, per-aspect scores), as plain values; None when the check has not run for it."""
    evaluation = latest_check_evaluation(instance, TIMELINE_ASSET, SCORE_CHECK, key)
    if evaluation is None:
        return None
    return {name: entry.value for name, entry in evaluation.metadata.items()}
