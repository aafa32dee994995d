"""Operations sensors: the inbox (new files -> partitions and runs), bounded retries of failed videos, and the
UI path of `backfill-stale` (one run per video of exactly its stale assets)."""

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    AssetRecordsFilter,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from resources.settings import OperationsSettings
from resources.storage import TimelineStorage
from video_assets.backfill import stale_assets_by_partition
from video_assets.names import ANALYZE_JOB, ATTEMPT_TAG, BACKFILL_TAG, PARTITION_TAG, RETRY_OF_TAG, SOURCE_TAG
from video_assets.partitions import videos
from video_assets.runs import deliberate_failure, run_events

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".m2ts",
        ".wmv",
        ".flv",
        ".3gp",
        ".ogv",
    }
)
# Names that copy tools, browsers and editors give files that are still being written.
TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".filepart", ".!qb", "~")
TEMPORARY_PREFIXES = (".", "~$", "#")


@dataclass(frozen=True)
class InboxFile:
    relative: str  # path below the inbox: the cursor's name for the file
    path: Path  # resolved, always inside the inbox
    signature: str  # size and mtime: a file being written changes it
    settled: bool  # last modified at least the settle time ago


def is_candidate(name: str) -> bool:
    lowered = name.lower()
    if lowered.startswith(TEMPORARY_PREFIXES) or lowered.endswith(TEMPORARY_SUFFIXES):
        return False
    return os.path.splitext(lowered)[1] in VIDEO_EXTENSIONS


def scan_inbox(inbox: Path, settle_seconds: float, now: float | None = None) -> list[InboxFile]:
    """Video files below the inbox, never following a link out of it; hidden folders are skipped."""
    root = inbox.resolve()
    now = time.time() if now is None else now
    found: dict[Path, InboxFile] = {}
    for folder, subfolders, names in os.walk(root, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(names):
            if not is_candidate(name):
                continue
            link = Path(folder) / name
            path = link.resolve()
            if root not in path.parents or not path.is_file():
                continue  # a link leading out of the inbox (or nowhere)
            if path in found and link.is_symlink():
                continue  # a second name for a file already found: the file's own name wins
            stat = path.stat()
            relative = os.fsdecode(link.relative_to(root))
            found[path] = InboxFile(
                relative, path, f"{stat.st_size}:{stat.st_mtime_ns}", now - stat.st_mtime >= settle_seconds
            )
    return list(found.values())


@sensor(
    job_name=ANALYZE_JOB,
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Each new, settled video file in the inbox folder becomes a `videos` partition and one run.",
)
def inbox_sensor(context: SensorEvaluationContext, storage: TimelineStorage, operations: OperationsSettings):
    inbox = Path(operations.inbox_folder).expanduser()
    if not inbox.is_dir():
        return SkipReason(f"inbox folder {inbox} does not exist (set VIDEO_TIMELINE_INBOX or create it)")
    # Cursor: files submitted (name -> signature) and files seen last tick but not yet settled.
    state = json.loads(context.cursor) if context.cursor else {"submitted": {}, "seen": {}}
    submitted, seen = {}, {}
    run_requests, new_keys = [], []
    known = set(context.instance.get_dynamic_partitions(videos.name))
    for item in scan_inbox(inbox, operations.inbox_settle_seconds):
        if state["submitted"].get(item.relative) == item.signature:
            submitted[item.relative] = item.signature
        elif state["seen"].get(item.relative) == item.signature and item.settled:
            key = storage.register_source(item.path)
            if key not in known:
                new_keys.append(key)
                known.add(key)
            context.log.info(f"inbox: {item.relative} -> partition {key}")
            run_requests.append(
                RunRequest(partition_key=key, run_key=f"inbox:{key}:{item.signature}", tags={SOURCE_TAG: "inbox"})
            )
            submitted[item.relative] = item.signature
        else:
            seen[item.relative] = item.signature  # new or still growing: look again next tick
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[videos.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps({"submitted": submitted, "seen": seen}, sort_keys=True),
    )


@sensor(
    job_name=ANALYZE_JOB,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Re-runs a video whose latest run failed for a reason other than a bad input, "
    "a bounded number of times.",
)
def retry_failed_sensor(context: SensorEvaluationContext, operations: OperationsSettings):
    after = float(context.cursor) if context.cursor else 0.0
    records = context.instance.get_run_records(
        RunsFilter(
            job_name=ANALYZE_JOB,
            statuses=[DagsterRunStatus.FAILURE],
            updated_after=datetime.fromtimestamp(after, UTC) if after else None,
        ),
        order_by="update_timestamp",
        ascending=True,
    )
    requests = []
    for record in records:
        run, after = record.dagster_run, max(after, record.update_timestamp.timestamp())
        key = run.tags.get(PARTITION_TAG)
        if not key:
            continue
        latest = context.instance.get_runs(RunsFilter(job_name=ANALYZE_JOB, tags={PARTITION_TAG: key}), limit=1)
        if latest and latest[0].run_id != run.run_id:
            continue  # the video was run again since
        attempt = int(run.tags.get(ATTEMPT_TAG, "0"))
        reason = deliberate_failure(run_events(context.instance, run.run_id))
        if reason:
            context.log.warning(f"partition {key}: not retried, the input is at fault: {reason}; run {run.run_id}")
        elif attempt >= operations.max_retries:
            context.log.error(f"partition {key}: failed after {attempt} retries, giving up; run {run.run_id}")
        else:
            context.log.info(f"partition {key}: retry {attempt + 1} of {operations.max_retries} for run {run.run_id}")
            requests.append(
                RunRequest(
                    partition_key=key,
                    run_key=f"retry:{run.run_id}",
                    asset_selection=list(run.asset_selection) if run.asset_selection else None,
                    tags={ATTEMPT_TAG: str(attempt + 1), RETRY_OF_TAG: run.run_id, SOURCE_TAG: "retry"},
                )
            )
    return SensorResult(run_requests=requests, cursor=repr(after))


@sensor(
    job_name=ANALYZE_JOB,
    minimum_interval_seconds=60,
    description="The UI path of `video-timeline backfill-stale`: one run per video of exactly its stale assets. "
    "Start it, or use 'Preview tick result' then 'Apply requests & commit tick result'.",
)
def rebuild_stale_sensor(context: SensorEvaluationContext):
    graph = context.repository_def.asset_graph
    for partition, keys in stale_assets_by_partition(graph, context.instance).items():
        # Keyed on the state being replaced: a rebuild in flight is not requested twice, a later change is.
        latest = context.instance.fetch_materializations(
            AssetRecordsFilter(keys[0], asset_partitions=[partition]), limit=1
        )
        state = f"{[(k.to_user_string(), graph.get(k).code_version) for k in keys]}{latest.records[0].storage_id}"
        yield RunRequest(
            partition_key=partition,
            asset_selection=keys,
            run_key=f"stale:{partition}:{hashlib.sha256(state.encode()).hexdigest()[:16]}",
            tags={BACKFILL_TAG: "stale"},
        )


OPERATIONS_SENSORS = [inbox_sensor, retry_failed_sensor, rebuild_stale_sensor]
