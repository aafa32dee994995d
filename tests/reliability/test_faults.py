"""Faults during a run lose nothing: a write that fails half-way leaves the previous value and no
temp file; a CLI process killed mid-decode leaves no half-written output and the video re-runs cleanly.
(Faults of the heavy-model runtime are tested with it, in tests/video_assets/test_heavy_assets.py.)"""

import errno
import io
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance

from analyzers.frames import FRAME_SCHEMA
from analyzers.keys import partition_key
from support.instance import PROJECT, cli_command, digest, make_workspace, run_cli
from support.media_factory import pattern_video

pytestmark = pytest.mark.slow


def finals(data) -> dict[str, bytes]:
    return {str(p.relative_to(data)): p.read_bytes() for p in sorted(data.glob("*/video=*/*.parquet"))}


def disk_full(*_):
    return OSError(errno.ENOSPC, "No space left on device (injected)")


def test_a_write_that_fails_half_way_keeps_the_previous_value(instance_home, tmp_path, monkeypatch, silent_clip):
    from video_assets.definitions import build_definitions
    from video_assets.runs import register_video, run_partition

    data = tmp_path / "data"
    defs = build_definitions(data_root=str(data))
    source_digest = digest(silent_clip)
    with DagsterInstance.get() as instance:
        key = register_video(defs, instance, silent_clip)

        def run(*assets: str):
            selection = [AssetKey(a) for a in assets] or None  # a re-materialization of just those, as from the UI
            return run_partition(defs, instance, key, asset_selection=selection)

        assert run().success
        before = finals(data)
        assert {
            f"timeline/video={key}/timeline.parquet",
            f"sampled_frames/video={key}/sampled_frames.parquet",
        } <= set(before)

        # 1. A table written through the IO manager: half the bytes reach the temp file, then the disk is full.
        real_write_table = pq.write_table

        def half_then_fail(table, where, *args, **kwargs):
            if "coverage" not in table.column_names:  # only the timeline's table
                return real_write_table(table, where, *args, **kwargs)
            buffer = io.BytesIO()
            real_write_table(table, buffer, *args, **kwargs)
            half = buffer.getvalue()[: len(buffer.getvalue()) // 2]
            if hasattr(where, "write"):
                where.write(half)
                where.flush()
            else:
                Path(where).write_bytes(half)
            (partial,) = data.glob(f"timeline/video={key}/.timeline.parquet.*.tmp")
            assert partial.stat().st_size == len(half) > 0  # the half-written temp file really exists
            raise disk_full()

        monkeypatch.setattr(pq, "write_table", half_then_fail)
        failed = run("timeline")
        monkeypatch.undo()
        assert not failed.success and "No space left on device (injected)" in failed.failure

        # 2. A streamed file (the sampled frames): the first row group is written, then the disk is full.
        real_writer_write = pq.ParquetWriter.write_table

        def first_group_then_fail(self, table, *args, **kwargs):
            real_writer_write(self, table, *args, **kwargs)
            if table.schema.equals(FRAME_SCHEMA):
                raise disk_full()

        monkeypatch.setattr(pq.ParquetWriter, "write_table", first_group_then_fail)
        failed = run("frame_signals", "sampled_frames")
        monkeypatch.undo()
        assert not failed.success

    after = finals(data)
    for name in ("timeline", "sampled_frames"):
        path = f"{name}/video={key}/{name}.parquet"
        assert after[path] == before[path]  # byte-identical: the failed writes never replaced it
    for path in after:
        pq.read_table(data / path)  # every stored value is a whole Parquet file
    assert sorted(data.rglob("*.tmp")) == []
    assert digest(silent_clip) == source_digest


def test_a_temp_file_of_a_failed_run_whose_process_lives_on_is_removed_by_the_next_run(
    instance_home, tmp_path, silent_clip
):
    """A step that fails between writing its file and the IO manager moving it (as when the event database is
    unreachable) leaves the temp file behind, and its worker process lives on: the run's end marks it."""
    from video_assets.definitions import build_definitions
    from video_assets.runs import register_video, run_partition

    defs = build_definitions(data_root=str(tmp_path / "data"))
    storage, decode = defs.resources["storage"], [AssetKey("video_probe"), AssetKey("sampled_frames")]
    with DagsterInstance.get() as instance:
        key = register_video(defs, instance, silent_clip)
        first = run_partition(defs, instance, key, asset_selection=decode)
        assert first.success, first.failure
        orphan = storage.temp_path("sampled_frames", key, first.run_id)  # named by this live process and that run
        orphan.write_bytes(b"frames that were never moved into place")
        again = run_partition(defs, instance, key, asset_selection=decode)
        assert again.success, again.failure
    assert not orphan.exists() and list(orphan.parent.glob("*.tmp")) == []


def test_a_cli_killed_mid_decode_leaves_no_half_output_and_reruns_cleanly(tmp_path):
    ws = make_workspace(tmp_path)
    # Many decoded frames (6 s at 100 fps), few sampled ones: a decode long enough to be caught in.
    video = pattern_video(tmp_path / "long decode.mp4", 6, 320, 180, 100)
    source_digest, key = digest(video), partition_key(video)
    frames_dir = ws.data / "sampled_frames" / f"video={key}"

    proc = subprocess.Popen(cli_command("analyze", str(video)), env=ws.env, cwd=PROJECT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not list(frames_dir.glob(".sampled_frames.parquet.*.tmp")):
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before its decode was seen"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    left = list(frames_dir.glob(".sampled_frames.parquet.*.tmp"))
    assert left, "killed mid-decode: the partial frames are in a temp file ..."
    stored = list(ws.data.glob(f"*/video={key}/*.parquet"))
    assert {p.parent.parent.name for p in stored} <= {"video_probe"}  # ... and no output of the decode or later exists
    for path in stored:
        pq.read_table(path)

    rerun = run_cli(ws, "analyze", str(video))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert pd.read_parquet(ws.output("timeline", video))["second"].tolist() == list(range(6))
    assert pq.read_table(ws.output("sampled_frames", video)).num_rows == 12
    assert ws.temp_files() == []  # the killed writer's temp file was cleared by the re-run
    assert digest(video) == source_digest
