"""The `gpu` pool of the local instance serialises heavy steps of separate run processes, and a
run killed inside a heavy step stops blocking the pool once its slots are recovered.

Runs are started the way `video-timeline analyze` starts them: `execute_in_process` in separate
processes against one SQLite instance (a real DAGSTER_HOME: the ephemeral instance has no pools).
Measured: this honours the pool's limit (each step claims a slot before it starts).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context

from resources.heavy_models import GPU_POOL
from video_assets.dagster_private import claimed_pool_slots, pending_pool_steps
from video_assets.gpu_slots import CLAIM_POLL_MAX_S, dead_gpu_slot_holders, gpu_slot_recovery

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
HOLD_S = 3.0


def instance_with_pool_limit(tmp_path: Path, limit: int) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = (PROJECT / "dagster_home" / "dagster.yaml").read_text()
    assert "default_limit: 1" in config
    (home / "dagster.yaml").write_text(config.replace("default_limit: 1", f"default_limit: {limit}"))
    return {**os.environ, "DAGSTER_HOME": str(home)}


def start_run(env, log: Path, hold_s: float) -> subprocess.Popen:
    errors = open(log.with_suffix(f".{time.time_ns()}.err"), "w")  # noqa: SIM115 - the run writes to it
    return subprocess.Popen(
        [sys.executable, "-m", "tests.video_assets.gpu_pool_job", str(log), str(hold_s)],
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


@pytest.mark.parametrize("limit", [1, 2])
def test_heavy_steps_of_two_run_processes_never_overlap_with_the_pool_limited_to_one(tmp_path, limit):
    env = instance_with_pool_limit(tmp_path, limit)
    log = tmp_path / "heavy.log"
    runs = [start_run(env, log, HOLD_S) for _ in range(2)]
    assert [p.wait(timeout=120) for p in runs] == [0, 0]
    spans = sorted(intervals(log).values())
    assert len(spans) == 2 and all(len(s) == 2 for s in spans)
    (a_start, a_end), (b_start, b_end) = spans
    overlap = min(a_end, b_end) - max(a_start, b_start)
    if limit == 1:
        assert overlap < 0, f"heavy steps overlapped by {overlap:.2f} s with the pool limited to 1"
    else:  # the same runs do overlap once the pool allows two: the limit is what serialises them
        assert overlap > 0.5 * HOLD_S


def test_a_run_killed_in_a_heavy_step_blocks_the_pool_only_until_its_slots_are_recovered(tmp_path, monkeypatch):
    env = instance_with_pool_limit(tmp_path, 1)
    log = tmp_path / "heavy.log"
    killed = start_run(env, log, 600)
    first = wait_for(lambda: next(iter(intervals(log)), None), 60, "the first heavy step to start")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    waiting = start_run(env, log, 0.2)
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
