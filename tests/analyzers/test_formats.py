"""The decode pass over the codecs, pixel formats and containers that users' archives hold.

One known source (two scenes, a cut at 2 s) is transcoded by ffmpeg into each format; every
format must give the same account: its length, a frame store at 2 fps whose pictures match the
source's colours (10-bit, full-range, 4:4:4, grey and palette frames converted correctly), and
the one cut at 2 s.
"""

from pathlib import Path

import numpy as np
import pytest

from analyzers.decode import decode_video
from analyzers.frames import iter_frames
from analyzers.probe import probe_video
from analyzers.shots import analyze_shots, boundaries
from support.media_factory import Shot, ffmpeg, render_shots, write_video

FPS = 25  # a rate every format here can carry (MPEG-2's list, GIF's centiseconds)
SHOTS = [Shot(2, 21), Shot(2, 22)]
WIDTH, HEIGHT = 192, 112

# name: (file suffix, ffmpeg output arguments, whether the pictures are grey)
FORMATS = {
    "h264_high10_mkv": (".mkv", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le"], False),
    "h264_444_odd_size_mp4": (
        ".mp4",
        ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p", "-vf", "crop=191:111:0:0"],
        False,
    ),
    "h264_interlaced_mp4": (
        ".mp4",
        ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-flags", "+ildct+ilme"],
        False,
    ),
    "hevc_main10_mp4": (
        ".mp4",
        ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error"],
        False,
    ),
    "vp9_webm": (".webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M"], False),
    "vp8_webm": (".webm", ["-c:v", "libvpx", "-deadline", "realtime", "-b:v", "1M"], False),
    "av1_mkv": (".mkv", ["-c:v", "libsvtav1", "-preset", "12", "-svtav1-params", "lp=1"], False),
    "mpeg2_ts": (".ts", ["-c:v", "mpeg2video", "-q:v", "3"], False),
    "prores_422hq_mov": (".mov", ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le"], False),
    "mjpeg_full_range_avi": (".avi", ["-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p"], False),
    "ffv1_grey_mkv": (".mkv", ["-c:v", "ffv1", "-pix_fmt", "gray"], True),
    "gif_palette": (".gif", ["-vf", "split[a][b];[a]palettegen[p];[b][p]paletteuse=dither=none"], False),
}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    frames = list(render_shots(SHOTS, WIDTH, HEIGHT, FPS))
    path = tmp_path_factory.mktemp("formats") / "source.mp4"
    # Near-lossless, so what each format adds is its own conversion.
    return write_video(path, iter(frames), FPS, crf=4), frames


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_gives_the_same_account(source, tmp_path, name):
    suffix, args, grey = FORMATS[name]
    src, frames = source
    path = tmp_path / f"{name}{suffix}"
    ffmpeg("-i", str(src), "-an", *args, str(path))

    probe = probe_video(path)
    assert probe.duration_s == pytest.approx(4.0, abs=0.1), probe
    assert probe.seconds == 4
    result = decode_video(probe, tmp_path / "frames.parquet")
    assert result.decoded == pytest.approx(4 * FPS, abs=1)
    t = result.signals["t"].to_numpy()
    assert t[0] == pytest.approx(0.0, abs=0.05)  # the container's start offset (MPEG-TS: 1.4 s) is removed
    assert np.all(np.diff(t) > 0)

    stored = list(iter_frames(tmp_path / "frames.parquet"))
    assert [round(f.t * 2) / 2 for f in stored] == [i / 2 for i in range(8)]
    for frame in stored:
        original = frames[frame.frame_index][: frame.image.shape[0], : frame.image.shape[1]]
        expected = original @ np.array([[0.299], [0.587], [0.114]]) if grey else original  # BT.601 luma
        decoded = frame.image.astype(float).reshape(-1)
        expected = np.broadcast_to(expected, frame.image.shape).reshape(-1)
        # Colours survive the format's range, depth and subsampling: a small mean error, and levels that map
        # one to one: the contrast is kept (measured 0.96-0.99 here; reading full range as limited, or the
        # reverse, would scale it by 0.86 or 1.16).
        error = np.abs(decoded - expected).mean()
        gain = decoded.std() / expected.std()
        assert error < 8 and 0.93 < gain < 1.07, (
            f"{name}: frame at {frame.t:.2f} s: error {error:.1f} levels, gain {gain:.3f}"
        )

    cuts = boundaries(analyze_shots(result.signals, probe.fps, probe.duration_s))
    assert cuts == [pytest.approx(2.0, abs=1.5 / FPS)]
