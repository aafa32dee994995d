"""The `gpu` pool of the local instance lets one heavy step run at a time across run processes, even when
their claims for the one slot interleave at the worst moment, and a run killed inside a heavy step stops
blocking the pool once its slots are recovered.

Runs are started the way `video-timeline analyze` starts them: `execute_in_process` in separate
processes against one SQLite instance (a real DAGSTER_HOME: the ephemeral instance has no pools), in
the pool of the default graph's transcript asset (tests/video_assets/gpu_pool_job.py).

The interleavings are made, not waited for: each claimer stops before a chosen SQL statement of
Dagster's claim until the other claimer has reached the same statement (or `PAUSE_S` has passed, when
something keeps it out). Two claimers are two threads with an instance each, as two run processes have;
the file lock of the fix is taken per open file, so it separates threads as it separates processes.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context
from sqlalchemy import event
from sqlalchemy.engine import Engine

from resources.heavy_models import GPU_POOL
from video_assets.dagster_private import (
    claimed_pool_slots,
    init_pool_to_default_limit,
    pending_pool_steps,
    pool_slot_count,
)
from video_assets.gpu_slots import CLAIM_POLL_MAX_S, dead_gpu_slot_holders, gpu_slot_recovery

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
HOLD_S = 3.0  # how long a run's heavy step waits for the other run's to start (gpu_pool_job.py)
PAUSE_S = 1.5  # how long a claimer waits at a statement for the other claimer
# Dagster 1.13's claim, statement by statement: count free slots, queue the step (assigned if a slot was
# free), check it, select a free slot, mark that slot taken by id.
QUEUE_STEP = "INSERT INTO pending_steps"
TAKE_SLOT = "UPDATE concurrency_slots SET run_id"
ADD_SLOT = "INSERT INTO concurrency_slots"  # creating the pool's slots, at a step's first claim


def instance_with_pool_limit(tmp_path: Path, limit: int) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir(parents=True)
    config = (PROJECT / "dagster_home" / "dagster.yaml").read_text()
    assert "default_limit: 1" in config
    (home / "dagster.yaml").write_text(config.replace("default_limit: 1", f"default_limit: {limit}"))
    return {**os.environ, "DAGSTER_HOME": str(home)}


@contextmanager
def interleaved_before(*statements: str):
    """Threads named claimer-* stop before each SQL statement starting with one of `statements` until the
    other claimer has reached it too, or PAUSE_S has passed. Yields (who reached which statement, which
    claimer waited there in vain)."""
    reached: dict[str, set[str]] = defaultdict(set)
    waited_in_vain: list[tuple[str, str]] = []
    turn = threading.Condition()

    def stop(conn, cursor, statement, parameters, context, executemany):
        me = threading.current_thread().name
        point = next((s for s in statements if statement.startswith(s)), None)
        if point is None or not me.startswith("claimer-"):
            return
        with turn:
            reached[point].add(me)
            turn.notify_all()
            if not turn.wait_for(lambda: len(reached[point]) == 2, timeout=PAUSE_S):
                waited_in_vain.append((me, point))

    event.listen(Engine, "before_cursor_execute", stop)
    try:
        yield reached, waited_in_vain
    finally:
        event.remove(Engine, "before_cursor_execute", stop)


def claim_together(home: str, claim) -> dict[str, bool]:
    """Two claimers each claim the gpu slot for one step, as a step's first claim does: the pool's limit
    is set from the instance's default (which creates its slots if it has none), then `claim(storage,
    pool, run_id, step_key)`. Returns whether each got the slot."""
    claimed, errors = {}, []
    with DagsterInstance.from_config(home):  # its tables, made once (open_local_instance does it under a lock)
        pass

    def claimer(name: str) -> None:
        try:
            with DagsterInstance.from_config(home) as instance:
                init_pool_to_default_limit(instance, GPU_POOL)
                status = claim(instance.event_log_storage, GPU_POOL, f"run_{name}", "transcript")
                claimed[name] = status.is_claimed
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(name,), name=f"claimer-{name}") for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return claimed


def dagsters_own_claim(storage, *args):
    return type(storage).claim_concurrency_slot.__wrapped__(storage, *args)  # without the project's lock


def the_claim_runs_use(storage, *args):
    return storage.claim_concurrency_slot(*args)


def test_two_first_claims_cannot_both_create_a_slot_of_a_fresh_pool(tmp_path, monkeypatch):
    """Why nothing creates the pool before runs start: Dagster creates a pool's slots at a step's first
    claim, counting and adding them in one write transaction, and SQLite keeps a second writer out until
    the first has committed. So the second claimer never reaches the insert while the first holds it."""
    home = instance_with_pool_limit(tmp_path, 1)["DAGSTER_HOME"]
    monkeypatch.setenv("DAGSTER_HOME", home)  # the instance's storage folder (dagster.yaml: base_dir)
    with interleaved_before(ADD_SLOT) as (reached, waited_in_vain):
        claimed = claim_together(home, the_claim_runs_use)
    assert len(reached[ADD_SLOT]) == 1 and waited_in_vain == [(*reached[ADD_SLOT], ADD_SLOT)]
    with DagsterInstance.from_config(home) as instance:
        assert pool_slot_count(instance, GPU_POOL) == 1
    assert sorted(claimed.values()) == [False, True]


def test_two_claims_interleaved_inside_dagsters_claim_get_the_one_slot_once(tmp_path, monkeypatch):
    """Both claimers queue their step before either has, then both select the free slot before either
    takes it. Dagster's SQL claim, alone, then tells both they hold the one slot (the control below);
    the claim as runs make it (under the lock of `serialise_sqlite_pool_claims`) gives it to one."""
    control = instance_with_pool_limit(tmp_path / "control", 1)["DAGSTER_HOME"]
    monkeypatch.setenv("DAGSTER_HOME", control)
    with interleaved_before(QUEUE_STEP, TAKE_SLOT) as (reached, waited_in_vain):
        claimed = claim_together(control, dagsters_own_claim)
    assert len(reached[QUEUE_STEP]) == len(reached[TAKE_SLOT]) == 2 and waited_in_vain == []
    assert claimed == {"a": True, "b": True}  # if this fails, Dagster closed the race: remove the lock

    home = instance_with_pool_limit(tmp_path / "fixed", 1)["DAGSTER_HOME"]
    monkeypatch.setenv("DAGSTER_HOME", home)
    with interleaved_before(QUEUE_STEP, TAKE_SLOT):
        claimed = claim_together(home, the_claim_runs_use)
    assert sorted(claimed.values()) == [False, True]
    with DagsterInstance.from_config(home) as instance:
        winner = next(name for name, won in claimed.items() if won)
        assert claimed_pool_slots(instance, GPU_POOL) == {(f"run_{winner}", "transcript")}
        assert pool_slot_count(instance, GPU_POOL) == 1


def start_run(env, log: Path, hold_s: float, runs: int) -> subprocess.Popen:
    errors = open(log.with_suffix(f".{time.time_ns()}.err"), "w")  # noqa: SIM115 - the run writes to it
    return subprocess.Popen(
        [sys.executable, "-m", "tests.video_assets.gpu_pool_job", str(log), str(hold_s), str(runs)],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors,
        start_new_session=True,
    )


def intervals(log: Path) -> dict[str, list[float]]:
    spans: dict[str, list[float]] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        _kind, run_id, t, _pid = line.split()
        spans.setdefault(run_id, []).append(float(t))
    return spans


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.mark.parametrize(
    "limit, pool_made_before",
    [(1, False), (1, True), (2, False)],
    ids=["limit1-pool_made_by_the_first_claims", "limit1-pool_made_before", "limit2"],
)
def test_heavy_steps_of_two_run_processes_overlap_only_when_the_pool_allows(
    tmp_path, monkeypatch, limit, pool_made_before
):
    env = instance_with_pool_limit(tmp_path, limit)
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    if pool_made_before:
        with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            init_pool_to_default_limit(instance, GPU_POOL)
    log = tmp_path / "heavy.log"
    runs = [start_run(env, log, HOLD_S, runs=2) for _ in range(2)]
    assert [p.wait(timeout=120) for p in runs] == [0, 0]
    spans = sorted(intervals(log).values())
    assert len(spans) == 2 and all(len(s) == 2 for s in spans)
    (a_start, a_end), (b_start, b_end) = spans
    overlap = min(a_end, b_end) - max(a_start, b_start)
    if limit == 1:
        assert overlap < 0, f"heavy steps overlapped by {overlap:.2f} s with the pool limited to 1"
    else:  # each step waits for the other: they overlap once the pool lets them, so the limit is what serialises
        assert overlap > 0.5
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:  # the steps claimed the gpu pool
        assert pool_slot_count(instance, GPU_POOL) == limit and claimed_pool_slots(instance, GPU_POOL) == set()


def test_a_run_killed_in_a_heavy_step_blocks_the_pool_only_until_its_slots_are_recovered(tmp_path, monkeypatch):
    env = instance_with_pool_limit(tmp_path, 1)
    log = tmp_path / "heavy.log"
    killed = start_run(env, log, 600, runs=1)
    first = wait_for(lambda: next(iter(intervals(log)), None), 60, "the first heavy step to start")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    waiting = start_run(env, log, 0.2, runs=1)
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    with DagsterInstance.get() as instance:
        # the dead run still holds the slot: the next heavy step waits for it
        wait_for(
            lambda: len(pending_pool_steps(instance, GPU_POOL)) == 1,
            60,
            "the second run to queue for the slot",
        )
        time.sleep(2)
        assert list(intervals(log)) == [first]
        assert [h.run_id for h in dead_gpu_slot_holders(instance)] == [first]

        recovered = time.monotonic()
        gpu_slot_recovery(build_sensor_context(instance=instance))  # what the daemon runs every RECOVERY_INTERVAL_S
        wait_for(lambda: len(intervals(log)) == 2, 60, "the waiting heavy step to start")
        started_after = time.monotonic() - recovered
        assert waiting.wait(timeout=60) == 0
        assert instance.get_run_by_id(first).status == DagsterRunStatus.FAILURE
        assert claimed_pool_slots(instance, GPU_POOL) == set()
    # once freed, the waiting step starts within its claim poll (the rest of the documented bound,
    # DEAD_RUN_BLOCK_BOUND_S, is the sensor's schedule)
    assert started_after < CLAIM_POLL_MAX_S
