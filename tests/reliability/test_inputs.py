"""Generated inputs, each with its stated outcome, through the real path: one `video-timeline analyze`
call (one instance, many files) against a private DAGSTER_HOME and data root.

A good input yields a correct timeline; a bad one exactly one `error:` line that names the file and
the reason, without disturbing the other files of the batch. No source changes by a single byte.
"""

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyzers.keys import partition_key
from support.instance import Workspace, digest, error_lines, run_cli
from support.media_factory import (
    Shot,
    ffmpeg,
    pattern_video,
    phone_video,
    portrait_picture,
    remux,
    render_shots,
    truncated_copy,
    write_video,
)

pytestmark = pytest.mark.slow


def assert_upright(ws: Workspace, path: Path) -> None:
    frames = ws.frames(path)
    assert frames and all(f.image.shape == (160, 96, 3) for f in frames)
    target = portrait_picture().astype(np.float32)
    error = np.abs(frames[0].image.astype(np.float32) - target).mean()
    turned = np.abs(frames[0].image.astype(np.float32) - np.rot90(target, 2)).mean()
    assert error < 12 < turned, (error, turned)


def tiny_clip(name: str, seconds: float = 1, seed: int = 3) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_video(path, render_shots([Shot(seconds, seed)], 64, 48, 5), 5)

    return make


def written(name: str, content: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(content)
        return folder / name

    return make


def truncated(name: str, *faststart: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        whole = pattern_video(folder / "work" / f"whole {name}", 4, 320, 180, 25, codec_args=faststart)
        return truncated_copy(whole, folder / name, 0.5)

    return make


def audio_only(folder: Path) -> Path:
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=16000",
        "-t",
        "1",
        "-c:a",
        "aac",
        str(folder / "voice memo.m4a"),
    )
    return folder / "voice memo.m4a"


def raw_h264(folder: Path) -> Path:
    """An H.264 elementary stream at 10 fps: no container, so no timestamps and no duration."""
    return remux(pattern_video(folder / "work" / "ten fps.mp4", 3, 160, 96, 10), folder / "elementary.h264")


# Frames 0-29 at 1/15 s, then 30-89 at 1/30 s: 4 s whose rate changes at 2 s.
VFR_TIMES = [i * 2 / 30 for i in range(30)] + [(i + 30) / 30 for i in range(30, 90)]


def variable_rate(folder: Path) -> Path:
    target = folder / "variable rate.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=30", "-frames:v", "90",
        "-vf", "setpts='if(lt(N,30),N*2,N+30)/30/TB'",
        "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(target),
    )  # fmt: skip
    return target


def probe_row(ws: Workspace, path: Path) -> dict:
    return pd.read_parquet(ws.output("video_probe", path)).iloc[0].to_dict()


def check_vfr(ws: Workspace, path: Path) -> None:
    times = pd.read_parquet(ws.output("frame_signals", path))["t"].tolist()
    assert times == pytest.approx(VFR_TIMES, abs=2e-3)
    sampled = [round(f.t, 2) for f in ws.frames(path)]
    assert [int(t) for t in sampled] == [0, 0, 1, 1, 2, 2, 3, 3]  # two per second on both sides of the change


def check_raw_h264(ws: Workspace, path: Path) -> None:
    row = probe_row(ws, path)
    assert (row["timing"], row["fps"], row["frame_count"]) == ("stream", pytest.approx(10.0), 30)
    assert pd.read_parquet(ws.output("frame_signals", path))["t"].tolist() == pytest.approx([i / 10 for i in range(30)])


def check_silent(ws: Workspace, path: Path) -> None:
    timeline = ws.timeline(path)
    assert (timeline["loudness_db"] == -120).all() and (timeline["speech"] == 0).all()
    assert not ws.output("audio_pcm", path).exists()


def check_cut_short(ws: Workspace, path: Path) -> None:
    """A file cut at half its bytes: its first seconds analysed, its missing end lost (null), not a shorter video."""
    analysed = ws.timeline(path)["brightness"].notna().tolist()
    assert analysed[0] and not analysed[-1], analysed


def check_frame_size(height: int, width: int) -> Callable[[Workspace, Path], None]:
    def check(ws: Workspace, path: Path) -> None:
        assert {f.image.shape for f in ws.frames(path)} == {(height, width, 3)}
        timeline = ws.timeline(path)
        assert timeline[["shot", "cut", "camera", "brightness"]].notna().all().all()

    return check


@dataclass(frozen=True)
class Case:
    make: Callable[[Path], Path]  # writes the input into a folder, returns its path
    seconds: int | None = None  # expected: a timeline of this many seconds ...
    error: str | None = None  # ... or one error naming the file, with this reason
    check: Callable[[Workspace, Path], None] | None = None  # further facts of the timeline


HOSTILE = '-rf --output it\'s a "quoted" clip; $(touch pwned) `touch pwned` | rm -rf ~.mp4'
# Unicode, a Latin-1 byte that is not UTF-8 (as old archives hold), and dots.
ODD_NAME = os.fsdecode("..vidéo ünïcødé 日本語 🎬 ".encode() + b"caf\xe9..mp4")

# Rotations other than the phone's 90, the display-matrix variant and a raw stream without any rate
# are covered without Dagster in tests/analyzers/test_media.py: every good input here is a whole run.
CASES = {
    "zero_byte": Case(written("empty.mp4", b""), error="the file is empty (0 bytes)"),
    "variable_frame_rate": Case(variable_rate, seconds=4, check=check_vfr),
    "truncated_mp4": Case(truncated("cut.mp4"), error="not a readable media file"),
    "raw_h264_10fps": Case(raw_h264, seconds=3, check=check_raw_h264),
    "truncated_faststart_mp4": Case(
        truncated("cut faststart.mp4", "-movflags", "+faststart"), seconds=4, check=check_cut_short
    ),
    "phone_portrait_rotate_90": Case(
        lambda folder: phone_video(folder / "phone.mp4", portrait_picture(), 90), seconds=2, check=assert_upright
    ),
    "truncated_mkv": Case(truncated("cut.mkv"), seconds=4, check=check_cut_short),
    "4k": Case(
        lambda folder: pattern_video(folder / "uhd.mp4", 1, 3840, 2160, 5), seconds=1, check=check_frame_size(720, 1280)
    ),
    "text_named_mp4": Case(
        written("notes.mp4", b"this is a text file, not a video\n" * 40), error="not a readable media file"
    ),
    "16x16": Case(
        lambda folder: write_video(folder / "tiny.mp4", render_shots([Shot(3, 8)], 16, 16, 10), 10),
        seconds=3,
        check=check_frame_size(16, 16),
    ),
    "audio_only": Case(audio_only, error="no video stream (the file holds audio)"),
    # Same hostile name in two folders: two partitions. Its dashes, quotes and shell syntax reach no shell.
    "same_hostile_name_a_no_audio": Case(tiny_clip(HOSTILE, 1, seed=4), seconds=1, check=check_silent),
    "same_hostile_name_b": Case(tiny_clip(f"b/{HOSTILE}", 2, seed=5), seconds=2),
    "name_unicode_not_utf8_dots_in_dotdot_path": Case(
        lambda folder: tiny_clip(f"sub/{ODD_NAME}")(folder).parent / ".." / "sub" / ODD_NAME, seconds=1
    ),
}


@dataclass(frozen=True)
class Batch:
    ws: Workspace
    inputs: dict[str, Path]  # absolute
    args: dict[str, str]  # as given on the command line
    before: dict[str, str]
    proc: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def batch(workspace) -> Batch:
    folder = workspace.root / "inputs"
    (folder / "work").mkdir(parents=True)
    inputs = {name: case.make(folder) for name, case in CASES.items()}
    before = {name: digest(path) for name, path in inputs.items()}
    # A name starting with a dash is given as it is, relative to the working folder; "--" ends the
    # options, as for any POSIX tool.
    args = {
        name: os.path.relpath(path, folder) if path.name.startswith("-") else str(path) for name, path in inputs.items()
    }
    proc = run_cli(workspace, "analyze", "--", *args.values(), cwd=folder)
    return Batch(workspace, inputs, args, before, proc)


@pytest.mark.parametrize("name", CASES)
def test_each_input_has_its_stated_outcome(batch, name):
    case, path = CASES[name], batch.inputs[name]
    errors = error_lines(batch.proc.stderr, path.resolve())
    if case.error:
        assert len(errors) == 1 and f"error: {path.resolve()}: " in errors[0] and case.error in errors[0], (
            batch.proc.stderr[-3000:]
        )
        assert not batch.ws.output("timeline", path).exists()
        return
    assert errors == [], errors
    report = re.search(
        rf"^{re.escape(batch.args[name])}: (\d+) seconds in .* reconstruction score ([\d.]+)$", batch.proc.stdout, re.M
    )
    assert report and report.group(1) == str(case.seconds), batch.proc.stderr[-3000:]
    assert 0.0 < float(report.group(2)) < 1.0  # composed descriptions count 0
    timeline = batch.ws.timeline(path)
    assert timeline["second"].tolist() == list(range(case.seconds))
    assert (timeline["video"] == partition_key(path)).all()
    if case.check:
        case.check(batch.ws, path)


@pytest.mark.parametrize("name", ["truncated_faststart_mp4", "truncated_mkv"])
def test_a_file_cut_short_is_named_as_truncated_in_a_warning(batch, name):
    path = re.escape(str(batch.inputs[name].resolve()))
    declared = r"the file is truncated: its video stream declares 4\.0 s but its data ends at [\d.]+ s"
    assert re.search(rf"{path}: video stream #0 \(h264\): {declared}; frames lost at [\d.]+-4\.00 s", batch.proc.stderr)


def test_the_batch_reports_exactly_the_bad_files(batch):
    bad = [name for name, case in CASES.items() if case.error]
    assert batch.proc.returncode == 1
    assert sum(line.startswith("error: ") for line in batch.proc.stderr.splitlines()) == len(bad)
    assert batch.proc.stdout.count("reconstruction score") == len(CASES) - len(bad)
    summary = batch.proc.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{len(CASES)} files: {len(CASES) - len(bad)} analysed, 0 unchanged, {len(bad)} failed (")
    assert all(batch.args[name] in summary for name in bad)


def test_sources_are_byte_identical_afterwards(batch):
    assert {name: digest(path) for name, path in batch.inputs.items()} == batch.before


def test_outputs_stay_in_the_layout_and_no_temp_file_is_left(batch):
    data = batch.ws.data
    keys = {partition_key(path) for path in batch.inputs.values()}
    assert len(keys) == len(CASES)  # the same name in two folders: two keys
    for path in data.rglob("*"):
        if path.is_dir():
            continue
        parts = path.relative_to(data).parts
        if parts[0] == "sources":
            assert len(parts) == 2 and parts[1].removesuffix(".json") in keys
            assert Path(json.loads(path.read_text())["path"]).is_file()
        else:
            asset, partition, name = parts
            stored_as = "report.html" if asset == "report" else f"{asset}.parquet"
            assert partition.removeprefix("video=") in keys and name == stored_as
    assert batch.ws.temp_files() == []


def test_shell_metacharacters_in_names_run_nothing(batch):
    assert not list(batch.ws.root.rglob("pwned")) and not (Path.cwd() / "pwned").exists()
    assert batch.ws.timeline(batch.inputs["same_hostile_name_a_no_audio"])["second"].tolist() == [0]


# The memory bound for a 1-hour video: decode + light analyzers in a fresh interpreter, its peak RSS
# compared with the same pipeline on a 1-minute video of the same format. Held in memory, the hour's
# frames alone (3600 x 160x120 RGB) would be ~200 MB and its 16 kHz audio ~230 MB.
MEMORY_SCRIPT = """
import resource, sys
from pathlib import Path
from analyzers import camera_motion, shots, visual_stats
from analyzers.decode import decode_audio, decode_video
from analyzers.probe import probe_video
src, out = Path(sys.argv[1]), Path(sys.argv[2])
probe = probe_video(src)
result = decode_video(probe, out / "frames.parquet")
seconds = decode_audio(probe, out / "audio.parquet").seconds
events = shots.analyze_shots(result.signals, probe.fps, probe.duration_s)
camera = camera_motion.analyze_camera_motion(result.signals, probe.duration_s, shots.boundaries(events))
stats = visual_stats.analyze_visual_stats(result.signals, probe.duration_s)
print(result.decoded, result.sampled, seconds, len(camera) > 0, len(stats) > 0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def peak_rss_mb(video: Path, out: Path) -> tuple[list[str], int]:
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(video), str(out)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    facts, peak = proc.stdout.strip().splitlines()[-2:]
    return facts.split(), int(peak)


def test_a_one_hour_video_is_streamed_in_bounded_memory(tmp_path):
    hour = pattern_video(tmp_path / "hour.mkv", 3600, 160, 120, 1, audio_rate=8000)
    minute = pattern_video(tmp_path / "minute.mkv", 60, 160, 120, 1, audio_rate=8000)
    hour_facts, hour_peak = peak_rss_mb(hour, tmp_path / "hour")
    minute_facts, minute_peak = peak_rss_mb(minute, tmp_path / "minute")
    assert hour_facts == ["3600", "3600", "3600", "True", "True"]
    assert minute_facts == ["60", "60", "60", "True", "True"]
    assert hour_peak - minute_peak < 64, (hour_peak, minute_peak)
