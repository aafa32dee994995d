"""deploy/celery for real on one machine: Postgres and Redis on loopback, two GPU workers (queue `gpu`,
one process each) and one light worker (queue `dagster`, two processes), the code server and the
daemon, all started with the commands docs/operations.md gives. The same definitions as locally;
only the environment differs.

Two GPU workers stand for two GPU machines: heavy steps then land on either, and only the `gpu`
pool (limit 1) keeps them from running at once. Figures for docs/operations.md are printed (-s).
"""

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from resources.heavy_models import GPU_POOL
from resources.storage import TimelineStorage
from tests.distributed.cluster import Cluster, max_overlap_s, max_parallel_groups, step_records
from tests.media_factory import Shot, place, render_shots, speech, write_video
from video_assets.celery_executor import LOST_WORKER_BOUND_S

pytestmark = pytest.mark.slow

HEAVY = {"transcript"}  # the default graph's assets in the gpu pool (models.toml: bundled Whisper)
PHRASE = "Hello there, this is a test."
RUN_TIMEOUT_S = 300


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


def gpu_slots(c: Cluster):
    info = c.instance.event_log_storage.get_concurrency_info(GPU_POOL)
    return info.claimed_slots, info.pending_steps


def test_a_backfill_runs_its_steps_across_workers_one_heavy_step_at_a_time(cluster, tmp_path):
    c = cluster
    specs = [(3 + i % 2, 1 + i % 2, 10 + i, [0.2]) for i in range(6)]  # seconds, cut, seed, speech
    clips = [make_clip(tmp_path, f"clip{i}", *spec) for i, spec in enumerate(specs)]
    keys = register(c, clips)

    started = time.monotonic()
    backfill = c.backfill(keys)
    assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    c.daemon()  # its first backfill pass, right at start, launches the runs
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
    assert gpu_slots(c) == ([], [])
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
