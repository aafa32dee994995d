"""Every use of Dagster's private API (`dagster._...`), in one place.

Pinned release: dagster 1.13.27 (constraints.txt). Each of these has no public equivalent in that
release; on an upgrade, this module is the one to check.
"""

import fcntl
import functools
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import AssetCheckKey, AssetKey, DagsterEvent, DagsterInstance
from dagster._config import process_config
from dagster._config.field_utils import convert_potential_field
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.execution.plan.objects import ErrorSource, StepFailureData
from dagster._core.execution.retries import RetryMode
from dagster._core.instance.config import dagster_instance_config
from dagster._core.storage.dagster_run import FINISHED_STATUSES
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._serdes import serialize_value
from dagster._time import get_current_datetime
from dagster._utils.error import serializable_error_info_from_exc_info

__all__ = [
    "FINISHED_STATUSES",
    "SQLITE_BUSY_TIMEOUT_SECONDS",
    "BaseAssetGraph",
    "RetryMode",
    "SqliteEventLogStorage",
    "SqliteEventLogStorageWatchdog",
    "SqliteRunStorage",
    "SqliteScheduleStorage",
    "StaleStatus",
    "claimed_pool_slots",
    "create_db_conn_string",
    "dagster_instance_config",
    "free_pool_slots_of_run",
    "init_pool_to_default_limit",
    "latest_check_evaluation",
    "pending_pool_steps",
    "pool_holders",
    "pool_slot_count",
    "serialise_sqlite_pool_claims",
    "serialized_step_failure",
    "stale_status_resolver",
    "validate_config",
]


def stale_status_resolver(instance: DagsterInstance, graph: BaseAssetGraph) -> CachingStaleStatusResolver:
    """The resolver behind the UI's stale/unsynced status (`get_status(asset_key, partition)`)."""
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    return CachingStaleStatusResolver(instance, graph, loading_context=view)


def latest_check_evaluation(instance: DagsterInstance, asset: str, check: str, partition: str):
    """The newest evaluation (`AssetCheckEvaluation`) of an asset check for one partition, or None."""
    records = instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey(asset), check), limit=1, partition_filter=PartitionKeyFilter(key=partition)
    )
    if not records or records[0].event is None or records[0].event.dagster_event is None:
        return None
    return records[0].event.dagster_event.event_specific_data


def claimed_pool_slots(instance: DagsterInstance, pool: str) -> set[tuple[str, str]]:
    """(run id, step key) of every claimed slot of a concurrency pool."""
    return {(s.run_id, s.step_key) for s in instance.event_log_storage.get_concurrency_info(pool).claimed_slots}


def pending_pool_steps(instance: DagsterInstance, pool: str) -> set[tuple[str, str]]:
    """(run id, step key) of every step waiting for a slot of a concurrency pool."""
    return {(s.run_id, s.step_key) for s in instance.event_log_storage.get_concurrency_info(pool).pending_steps}


def pool_slot_count(instance: DagsterInstance, pool: str) -> int:
    """Slots a concurrency pool has (0 before its first claim creates them)."""
    return instance.event_log_storage.get_concurrency_info(pool).slot_count


def pool_holders(instance: DagsterInstance, pool: str) -> set[str]:
    """Run ids that hold or wait for a slot of a concurrency pool."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    return {s.run_id for s in info.claimed_slots} | {s.run_id for s in info.pending_steps}


def init_pool_to_default_limit(instance: DagsterInstance, pool: str) -> None:
    instance.event_log_storage.initialize_concurrency_limit_to_default(pool)


def free_pool_slots_of_run(instance: DagsterInstance, run_id: str) -> None:
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def serialized_step_failure(step_context, message: str) -> str:
    """A STEP_FAILURE event for the exception being handled, serialized as a step's events travel from a
    Celery worker to the run (video_assets/celery_executor.py)."""
    failure = DagsterEvent.step_failure_event(
        step_context=step_context,
        step_failure_data=StepFailureData(
            error=serializable_error_info_from_exc_info(sys.exc_info()),
            user_failure_data=None,
            error_source=ErrorSource.UNEXPECTED_ERROR,
        ),
        message=message,
    )
    return serialize_value(failure)


def validate_config(schema, config: dict):
    """Validates `config` against a Dagster config schema (as the instance and executors do)."""
    return process_config(convert_potential_field(schema).config_type, config)


CLAIMS_LOCK_FILE = "pool_claims.lock"  # beside the SQLite event log (`$DAGSTER_HOME/history/runs`)


@contextmanager
def _claims_lock(storage) -> Iterator[None]:
    with open(os.path.join(storage._base_dir, CLAIMS_LOCK_FILE), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when the process dies
        yield


def serialise_sqlite_pool_claims() -> None:
    """Makes each pool-slot claim on a SQLite instance one step at a time across the machine's processes.

    Dagster 1.13's SQL claim (`claim_concurrency_slot`) counts free slots, marks the step assigned, then
    selects a free slot and updates it by id, each in its own statement. Postgres locks the selected
    row (`SELECT ... FOR UPDATE SKIP LOCKED`); SQLite ignores that clause, so two steps that claim at
    the same moment can both be assigned, both select the one free slot, and both update it: both are
    told CLAIMED and run at once in a pool limited to 1 (tests/video_assets/test_gpu_pool.py makes
    two claims interleave exactly there). Holding an exclusive file lock for the whole claim closes
    that window; the lock is per machine, as a SQLite instance is. Idempotent.
    """
    for storage_class in (SqliteEventLogStorage, ConsolidatedSqliteEventLogStorage):
        claim = storage_class.claim_concurrency_slot
        if getattr(claim, "serialised", False):
            continue

        @functools.wraps(claim)
        def serialised_claim(self, *args, _claim=claim, **kwargs):
            with _claims_lock(self):
                return _claim(self, *args, **kwargs)

        serialised_claim.serialised = True
        storage_class.claim_concurrency_slot = serialised_claim
