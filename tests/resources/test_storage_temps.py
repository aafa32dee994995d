"""Temp files beside an asset's file: a new write removes those whose writer is gone (a process of this host
that no longer exists, or a run that has ended) and leaves a live writer's alone."""

import os
import subprocess
import sys
import uuid

from resources.storage import TimelineStorage


def test_a_new_temp_removes_the_orphans_of_ended_runs_and_dead_processes_only(tmp_path):
    storage = TimelineStorage(data_root=str(tmp_path))
    key, ended, running = "clip-0123456789", str(uuid.uuid4()), str(uuid.uuid4())
    left_by_ended_run = storage.temp_path("audio_pcm", key, ended)  # by this process, which lives on
    left_by_running_run = storage.temp_path("audio_pcm", key, running)
    host = left_by_ended_run.name.removeprefix(".audio_pcm.parquet.").split("-")[0]
    gone = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout)
    left_by_dead_process = left_by_ended_run.with_name(f".audio_pcm.parquet.{host}-{gone}-norun-{uuid.uuid4().hex}.tmp")
    named_before_runs = left_by_ended_run.with_name(f".audio_pcm.parquet.{host}-{os.getpid()}-{uuid.uuid4().hex}.tmp")
    for path in (left_by_ended_run, left_by_running_run, left_by_dead_process, named_before_runs):
        path.write_bytes(b"partial")
    fresh = storage.temp_path("audio_pcm", key, str(uuid.uuid4()), run_is_over=lambda run_id: run_id == ended)
    assert set(fresh.parent.glob(".*.tmp")) == {left_by_running_run, named_before_runs}
    assert ended.replace("-", "") in left_by_ended_run.name and not fresh.exists()
