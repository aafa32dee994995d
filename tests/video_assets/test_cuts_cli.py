"""`video-timeline cuts`: the shot boundaries of files, printed without touching the instance or the data."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from support.clips import CLIP_CUTS
from support.damage import av_clip, damage_packets


def run_cuts(tmp_path, *args):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir(exist_ok=True)
    data.mkdir(exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(home), "VIDEO_TIMELINE_DATA": str(data)}
    proc = subprocess.run(
        [sys.executable, "-m", "video_assets.cli", "cuts", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert not any(home.iterdir()) and not any(data.iterdir())  # no instance, no stored output
    return proc


def test_csv_lists_the_cuts_of_each_file_and_a_bad_file_is_named(clip, tmp_path):
    bad = tmp_path / "not a video.mp4"
    bad.write_bytes(b"\x00" * 4096)
    folder = tmp_path / "clips"
    folder.mkdir()
    proc = run_cuts(tmp_path, clip, bad, folder, "--format", "csv")
    assert proc.returncode == 1
    assert f"error: {bad}: not a readable media file" in proc.stderr
    assert f"error: {folder}: a folder, not a video file" in proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert {r["file"] for r in rows} == {str(clip)}
    assert [float(r["time_s"]) for r in rows] == pytest.approx(CLIP_CUTS, abs=0.1)
    assert [r["kind"] for r in rows] == ["cut", "cut", "cut", "fade"]
    assert all(0.0 <= float(r["confidence"]) <= 1.0 for r in rows)


def test_json_and_table_say_the_same(clip, tmp_path):
    proc = run_cuts(tmp_path, clip, "--format", "json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    [entry] = json.loads(proc.stdout)
    assert entry["file"] == str(clip) and entry["duration_s"] == pytest.approx(11.0, abs=0.1)
    times = [b["time_s"] for b in entry["boundaries"]]
    assert times == pytest.approx(CLIP_CUTS, abs=0.1)
    table = run_cuts(tmp_path, clip)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0] == f"{clip}: 4 shot boundaries in {entry['duration_s']:.2f} s"
    assert [float(line.split()[0]) for line in lines[1:]] == times


def test_a_damaged_stretch_is_warned_about_and_the_rest_is_listed(tmp_path):
    whole = av_clip(tmp_path / "whole.mp4", audio="aac")
    broken, _ = damage_packets(whole, tmp_path / "broken.mp4", "video", 2.0, 4.0, keep=4)
    before = broken.read_bytes()
    proc = run_cuts(tmp_path, broken, "--format", "json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"warning: {broken}: video stream #0 (h264): " in proc.stderr and "frames lost at 2.00-4.00 s" in proc.stderr
    [entry] = json.loads(proc.stdout)
    assert entry["file"] == str(broken) and entry["duration_s"] == pytest.approx(6.0, abs=0.1)
    assert broken.read_bytes() == before
