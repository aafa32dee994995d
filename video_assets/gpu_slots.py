"""Frees `gpu` pool slots held by runs whose process is gone.

A run worker killed outright (SIGKILL, OOM killer, a lost machine) never reports its end: its run
stays STARTED and keeps its pool slot, and Dagster's run monitoring cannot notice on the local
instance (the default run launcher has no worker health check; `free_slots_after_run_end_seconds`
only frees slots of runs already marked finished). Here a run that holds or waits for a slot is
dead when no process that wrote one of its events still exists; it is marked failed and its slots
are freed, so the next heavy step starts.

Pids are only meaningful on the machine that ran the worker, so this acts only on a local
(SQLite) instance; on Postgres with the Kubernetes or Celery executor, run monitoring does it.
Ways to run it: the `gpu_slot_recovery` sensor (daemon, `dagster dev`), or
`python -m video_assets.gpu_slots` (no daemon).

Importing this module (the code location does, so every run worker has) also makes each pool-slot
claim on a SQLite instance hold a machine-wide lock: without it, two heavy steps claiming the one
`gpu` slot at the same moment can both get it (`dagster_private.serialise_sqlite_pool_claims`).
"""

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance, DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from resources.heavy_models import GPU_POOL
from video_assets.dagster_private import (
    FINISHED_STATUSES,
    free_pool_slots_of_run,
    pool_holders,
    serialise_sqlite_pool_claims,
)

serialise_sqlite_pool_claims()

RECOVERY_INTERVAL_S = 15
# A waiting step re-tries its slot claim at growing intervals, at most this far apart (Dagster 1.13).
CLAIM_POLL_MAX_S = 15
# With the daemon running, a dead run blocks the pool at most: sensor interval + the sensor
# daemon's 5 s loop + the waiting step's claim poll (docs/heavy_models.md).
DEAD_RUN_BLOCK_BOUND_S = RECOVERY_INTERVAL_S + 5 + CLAIM_POLL_MAX_S


@dataclass(frozen=True)
class DeadHolder:
    run_id: str
    pid: int | None  # one of the run's worker processes, for the log
    status: str


def is_local_instance(instance: DagsterInstance) -> bool:
    return type(instance.event_log_storage).__name__.startswith(("Sqlite", "ConsolidatedSqlite"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _worker_pids(instance: DagsterInstance, run_id: str) -> set[int]:
    """Pids of every process that wrote an event of the run (orchestrator and step processes)."""
    return {
        r.dagster_event.pid
        for r in instance.all_logs(run_id)
        if r.dagster_event is not None and r.dagster_event.pid is not None
    }


def dead_gpu_slot_holders(instance: DagsterInstance) -> list[DeadHolder]:
    """Runs holding or waiting for a `gpu` slot whose worker process is gone (or that already ended)."""
    dead = []
    for run_id in sorted(pool_holders(instance, GPU_POOL)):
        run = instance.get_run_by_id(run_id)
        if run is None or run.status in FINISHED_STATUSES:
            dead.append(DeadHolder(run_id, None, "missing" if run is None else run.status.value))
            continue
        pids = _worker_pids(instance, run_id)
        if pids and not any(_alive(pid) for pid in pids):  # no events yet: still starting, not dead
            dead.append(DeadHolder(run_id, max(pids), run.status.value))
    return dead


@contextmanager
def _instance_lock(home: str | Path):
    with open(Path(home) / ".video_timeline.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def open_local_instance() -> Iterator[DagsterInstance]:
    """`DagsterInstance.get()` for a process that runs jobs itself (the CLI): the instance's storage is
    created under a file lock, since two processes creating a fresh SQLite instance at once can fail
    ("table ... already exists"). The `gpu` pool needs nothing here: Dagster creates its slots at the
    first claim, and on SQLite two first claims cannot both add one (the second waits for the first's
    write; tests/video_assets/test_gpu_pool.py interleaves them)."""
    with _instance_lock(os.environ["DAGSTER_HOME"]):
        instance = DagsterInstance.get()
    with instance:
        yield instance


def free_dead_gpu_slots(instance: DagsterInstance) -> list[DeadHolder]:
    """Marks runs with a dead worker failed and frees their slots; returns what it freed."""
    if not is_local_instance(instance):
        return []
    freed = dead_gpu_slot_holders(instance)
    for holder in freed:
        run = instance.get_run_by_id(holder.run_id)
        if run is not None and run.status not in FINISHED_STATUSES:
            instance.report_run_failed(
                run,
                f"run worker (pid {holder.pid}) is gone; its `{GPU_POOL}` pool slots were freed by "
                "video_assets.gpu_slots",
            )
        free_pool_slots_of_run(instance, holder.run_id)
    return freed


@sensor(
    minimum_interval_seconds=RECOVERY_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Frees gpu pool slots of runs whose process died (local instance).",
)
def gpu_slot_recovery(context: SensorEvaluationContext):
    freed = free_dead_gpu_slots(context.instance)
    for holder in freed:
        context.log.warning(f"freed the {GPU_POOL} slots of run {holder.run_id} (pid {holder.pid}, {holder.status})")
    return SkipReason(f"freed {len(freed)} run(s)" if freed else "no dead run holds a gpu slot")


def main() -> int:
    with DagsterInstance.get() as instance:
        if not is_local_instance(instance):
            print("not a local (SQLite) instance: run monitoring frees slots there", file=sys.stderr)
            return 2
        freed = free_dead_gpu_slots(instance)
    for holder in freed:
        print(f"freed {GPU_POOL} slots of run {holder.run_id} (pid {holder.pid}, was {holder.status})")
    if not freed:
        print(f"no dead run holds a {GPU_POOL} slot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
