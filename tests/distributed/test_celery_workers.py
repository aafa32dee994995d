"""deploy/celery for real on one machine: Postgres and Redis on loopback, two GPU workers (queue `gpu`,
one process each) and one light worker (queue `dagster`, two processes), the code server and the
daemon, all started with the commands docs/operations.md gives. The same definitions as locally;
only the environment differs.

Two GPU workers stand for two GPU machines: heavy steps then land on either, and only the `gpu`
pool (limit 1) keeps them from running at once. Figures for docs/operations.md are printed (-s).
"""

import json
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from resources.heavy_models import GPU_POOL
from resources.storage import TimelineStorage
from support.celery_cluster import Cluster, max_overlap_s, max_parallel_groups, step_records
from support.media_factory import Shot, place, render_shots, speech, write_video
from support.servers import wait_until
from video_assets.celery_executor import LOST_WORKER_BOUND_S
from video_assets.dagster_private import claimed_pool_slots, pending_pool_steps

pytestmark = pytest.mark.slow

HEAVY = {"transcript"}  # the default graph's assets in the gpu pool (models.toml: bundled Whisper)
PHRASE = "Hello there, this is a test."
# a bound for a hung run, not a speed target: on a busy 2-core machine the six backfill runs have taken over
# 300 s (each step a new worker process), where an idle one takes well under it
RUN_TIMEOUT_S = 600
POSTGRES_DOWN_S = 2.0  # as long as a service restart on a loaded machine


def make_clip(folder: Path, name: str, seconds: int, cut_at: int, seed: int, speech_at: list[float]) -> Path:
    """Tiny (160x96, 10 fps): a cut at `cut_at` s, the phrase spoken at each of `speech_at`."""
    words = speech(PHRASE)
    audio = place(seconds, [(t, words) for t in speech_at])
    frames = render_shots([Shot(cut_at, seed), Shot(seconds - cut_at, seed + 100)], 160, 96, 10)
    return write_video(folder / f"{name}.mp4", frames, 10, audio=audio)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    with Cluster(root) as c, pytest.MonkeyPatch.context() as env:
        for name, value in c.env.items():
            env.setenv(name, value)
        c.code_server()
        c.worker("gpu", "gpu-a")
        c.worker("gpu", "gpu-b")
        c.worker("default", "light", 2)
        c.wait_for_code_server()
        for name in ("gpu-a", "gpu-b", "light"):
            c.wait_for_worker(name)
        c.instance = DagsterInstance.get()
        c.storage = TimelineStorage(data_root=str(c.data))
        yield c
        c.instance.dispose()


def register(c: Cluster, clips: list[Path]) -> list[str]:
    keys = [c.storage.register_source(clip) for clip in clips]
    c.instance.add_dynamic_partitions("videos", keys)
    return keys


def runs_of(c: Cluster, keys: list[str]):
    return c.instance.get_runs(RunsFilter(tags={"dagster/partition": keys}))


def wait_for_runs(c: Cluster, keys: list[str], count: int, timeout_s: float = RUN_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = [r for k in keys for r in runs_of(c, [k])]
        if len(runs) >= count and all(r.is_finished for r in runs):
            return runs
        time.sleep(1)
    states = {r.tags["dagster/partition"]: r.status.value for r in runs_of(c, keys)}
    raise AssertionError(f"runs not finished after {timeout_s} s: {states}\ndaemon:\n{c.log('daemon')[-3000:]}")


def failure_message(c: Cluster, run_id: str) -> str:
    messages = [
        (e.dagster_event.event_specific_data.error.to_string() if e.dagster_event.event_specific_data.error else "")
        + (e.message or "")
        for e in c.instance.all_logs(run_id, of_type={DagsterEventType.RUN_FAILURE, DagsterEventType.STEP_FAILURE})
    ]
    return "\n".join(messages)


def check_timeline(c: Cluster, key: str, seconds: int, cut_at: int, speech_at: list[float]) -> None:
    timeline = pd.read_parquet(c.storage.asset_path("timeline", key))
    assert timeline["second"].tolist() == list(range(seconds)), key
    assert timeline.loc[timeline["cut"], "second"].tolist() == [cut_at], key
    for t in speech_at:
        assert timeline["speech"].iloc[int(t) + 1] > 0.5, (key, timeline["speech"].tolist())
    assert "test" in " ".join(timeline["transcript"]).lower(), (key, timeline["transcript"].tolist())
    assert timeline["description"].notna().all(), key


def checks_passed(c: Cluster, run_id: str) -> dict[str, bool]:
    return {
        e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data.passed
        for e in c.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    }


def gpu_slots(c: Cluster) -> tuple[set, set]:
    """(run id, step key) of the `gpu` pool's claimed slots and of the steps waiting for one."""
    return claimed_pool_slots(c.instance, GPU_POOL), pending_pool_steps(c.instance, GPU_POOL)


def test_a_backfill_runs_its_steps_across_workers_one_heavy_step_at_a_time(cluster, tmp_path):
    c = cluster
    specs = [(3 + i % 2, 1 + i % 2, 10 + i, [0.2]) for i in range(6)]  # seconds, cut, seed, speech
    clips = [make_clip(tmp_path, f"clip{i}", *spec) for i, spec in enumerate(specs)]
    keys = register(c, clips)

    started = time.monotonic()
    backfill = c.backfill(keys)
    assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    c.ensure_daemon()  # its first backfill pass, right at start, launches the runs (later ones: every 30 s)
    runs = wait_for_runs(c, keys, len(keys))
    wall_s = time.monotonic() - started
    assert {r.status for r in runs} == {DagsterRunStatus.SUCCESS}, [failure_message(c, r.run_id) for r in runs]
    assert len({r.tags["dagster/partition"] for r in runs}) == len(keys)
    for key, spec in zip(keys, specs):
        seconds, cut, _, speech_at = spec
        check_timeline(c, key, seconds, cut, speech_at)
    assert all(checks_passed(c, r.run_id) == {"timeline_dense": True, "reconstruction_score": True} for r in runs)

    records = step_records(c.instance, [r.run_id for r in runs])
    heavy = [r for r in records if r.step in HEAVY]
    light = [r for r in records if r.step not in HEAVY]
    assert len(heavy) == len(keys) and all(r.ok for r in records)
    # routing: heavy steps only on the gpu queue's workers, the rest only on the light worker
    assert {r.worker.split("@")[0] for r in heavy} <= {"gpu-a", "gpu-b"}
    assert {r.worker.split("@")[0] for r in light} == {"light"}
    heavy_overlap = max_overlap_s([(r.start, r.end) for r in heavy])
    assert heavy_overlap < 0, f"heavy steps overlapped by {heavy_overlap:.2f} s"
    light_parallel = max_parallel_groups([(r.start, r.end, r.run_id) for r in light])
    assert light_parallel >= 2, "light steps of different videos never ran at the same time"
    assert gpu_slots(c) == (set(), set())
    figures = {
        "workers": "2 gpu (1 process each) + 1 light (2 processes)",
        "partitions": len(keys),
        "wall_s_backfill_to_last_run_end": round(wall_s, 1),
        "heavy_steps": len(heavy),
        "heavy_workers": sorted({r.worker.split("@")[0] for r in heavy}),
        "gpu_step_overlap_s": round(max(heavy_overlap, 0), 3),
        "smallest_gap_between_heavy_steps_s": round(-heavy_overlap, 3),
        "most_runs_with_a_light_step_at_once": light_parallel,
    }
    print("distributed backfill:", json.dumps(figures))


def heavy_step_started(c: Cluster, run_id: str) -> str | None:
    """The worker running the run's heavy step, once the step has started."""
    records = [r for r in step_records(c.instance, [run_id]) if r.step in HEAVY]
    return records[0].worker if records and records[0].start and records[0].worker else None


def test_a_killed_gpu_worker_and_a_postgres_restart_lose_nothing(cluster, tmp_path):
    c = cluster
    long_spec = (12, 6, 50, [0.5, 4.5, 8.5])  # its heavy step lasts seconds: the worker dies inside it
    specs = [long_spec, (4, 2, 60, [0.2]), (4, 1, 61, [0.2])]
    clips = [make_clip(tmp_path, f"fault{i}", *spec) for i, spec in enumerate(specs)]
    keys = register(c, clips)
    assert c.launch(keys[0]).wait(timeout=120) == 0  # straight into the run queue, as a re-run would be
    c.ensure_daemon()

    # 1. SIGKILL to the whole GPU worker (its processes, as when its machine dies) inside the heavy step.
    victim_run = wait_until(lambda: next(iter(runs_of(c, keys[:1])), None), 120, "the first run")
    worker = wait_until(lambda: heavy_step_started(c, victim_run.run_id), 180, "its heavy step to start")
    c.kill(f"worker-{worker.split('@')[0]}")
    killed_at = time.time()
    assert [r.end for r in step_records(c.instance, [victim_run.run_id]) if r.step in HEAVY] == [None]
    others = [c.launch(k) for k in keys[1:]]  # their heavy steps queue behind the dead worker's slot
    holds = lambda: any(run_id == victim_run.run_id for run_id, _ in gpu_slots(c)[0])  # noqa: E731
    assert holds()
    wait_until(lambda: not holds(), LOST_WORKER_BOUND_S + 10, "the dead worker's gpu slot to be freed")
    slot_freed_s = time.time() - killed_at
    assert slot_freed_s <= LOST_WORKER_BOUND_S + 2
    assert all(p.wait(timeout=120) == 0 for p in others)

    # 2. Postgres restarted (fast shutdown, start) while the other runs are in flight.
    def both_running():
        runs = runs_of(c, keys[1:])
        return len(runs) == 2 and all(any(r.start for r in step_records(c.instance, [run.run_id])) for run in runs)

    wait_until(both_running, 180, "the other runs to start steps")
    in_flight = [r.tags["dagster/partition"] for r in runs_of(c, keys[1:]) if not r.is_finished]
    down_s = c.postgres.restart(pause_s=POSTGRES_DOWN_S)
    assert in_flight, "the other runs ended before the restart"
    runs = {r.tags["dagster/partition"]: r for r in wait_for_runs(c, keys, len(keys))}

    victim = runs[keys[0]]
    assert victim.status == DagsterRunStatus.FAILURE
    message = failure_message(c, victim.run_id)
    assert "CeleryWorkerLost" in message and worker in message and "wrote no result" in message, message
    assert not c.storage.asset_path("transcript", keys[0]).exists()  # nothing half-written in its place
    outcomes = {}
    for key in keys[1:]:
        run = runs[key]
        outcomes[key] = run.status.value
        if run.status != DagsterRunStatus.SUCCESS:  # failing is allowed, failing unclearly is not
            message = failure_message(c, run.run_id)
            assert run.status == DagsterRunStatus.FAILURE and "connect" in message.lower(), message
            outcomes[key] += ": " + next(line for line in message.splitlines() if "connect" in line.lower()).strip()
    # Nothing left claimed: slots of failed runs are freed by run monitoring after they end.
    wait_until(lambda: gpu_slots(c) == (set(), set()), 30, "every gpu slot free and no step waiting")
    for parquet in c.data.glob("*/video=*/*.parquet"):  # every stored file is whole (its footer is intact)
        pq.read_metadata(parquet)

    # 3. The video again, and this time only the process running its heavy step is killed (as the OOM
    #    killer does): the worker itself lives and reports the loss, the slot is free at once.
    assert c.launch(keys[0]).wait(timeout=120) == 0
    second = wait_until(lambda: next((r for r in runs_of(c, keys[:1]) if r.run_id != victim.run_id), None), 60, "")
    wait_until(lambda: heavy_step_started(c, second.run_id), 180, "the heavy step of the second run")
    pid = next(r.pid for r in step_records(c.instance, [second.run_id]) if r.step in HEAVY)
    os.kill(pid, signal.SIGKILL)
    process_killed_at = time.time()
    wait_until(lambda: not any(run_id == second.run_id for run_id, _ in gpu_slots(c)[0]), 15, "the slot to be freed")
    process_slot_freed_s = time.time() - process_killed_at
    second = wait_for_runs(c, keys[:1], 2)[0]
    assert second.status == DagsterRunStatus.FAILURE
    message = failure_message(c, second.run_id)
    assert "WorkerLostError" in message and "signal 9" in message, message

    # 4. Every failed video runs again on the workers that are left and completes.
    failed = [runs_of(c, [k])[0] for k in keys if runs_of(c, [k])[0].status != DagsterRunStatus.SUCCESS]
    for launch in [c.launch(r.tags["dagster/partition"]) for r in failed]:
        assert launch.wait(timeout=120) == 0, launch.stdout.read()
    wait_for_runs(c, keys, len(keys) + 1 + len(failed))
    assert all(runs_of(c, [k])[0].status == DagsterRunStatus.SUCCESS for k in keys)
    for key, (seconds, cut, _, speech_at) in zip(keys, specs):
        check_timeline(c, key, seconds, cut, speech_at)
    assert sorted(c.data.rglob("*.tmp")) == []
    assert gpu_slots(c) == (set(), set())

    # Across all of it, heavy steps never overlapped (a killed one ran until its kill).
    all_runs = runs_of(c, keys)
    ends = {victim.run_id: killed_at, second.run_id: process_killed_at}
    heavy = [
        (r.start, r.end or ends[r.run_id]) for r in step_records(c.instance, [r.run_id for r in all_runs])
        if r.step in HEAVY and r.start
    ]  # fmt: skip
    assert max_overlap_s(heavy) < 0
    figures = {
        "killed_worker": worker,
        "slot_free_after_worker_kill_s": round(slot_freed_s, 1),
        "bound_s": LOST_WORKER_BOUND_S,
        "slot_free_after_process_kill_s": round(process_slot_freed_s, 1),
        "postgres_down_s": round(down_s, 2),
        "runs_in_flight_at_restart": len(in_flight),
        "runs_after_restart": outcomes,
        "reruns": len(failed),
        "runs": len(all_runs),
    }
    print("distributed faults:", json.dumps(figures))
