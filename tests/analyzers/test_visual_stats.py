"""Visual statistics per second, from the real decode pass."""

import pytest

from analyzers.decode import decode_video
from analyzers.probe import probe_video
from analyzers.visual_stats import analyze_visual_stats
from support.media_factory import ffmpeg


def test_a_slideshow_second_without_a_new_frame_shows_the_picture_still_on_screen(tmp_path):
    path = tmp_path / "slides.mp4"  # one picture every 2 s: no frame starts in seconds 1, 3 and 5
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x90:rate=0.5",
        "-t",
        "6",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(path),
    )
    probe = probe_video(path)
    signals = decode_video(probe, tmp_path / "frames.parquet").signals
    assert signals["t"].round(3).tolist() == [0.0, 2.0, 4.0]
    events = analyze_visual_stats(signals, probe.duration_s)
    per_second = {(int(e.start_s), e.aspect): e for e in events}
    assert sorted({s for s, _ in per_second}) == list(range(6))  # every second analysed
    for held, shown in ((1, 0), (3, 2), (5, 4)):
        assert per_second[(held, "brightness")].value == per_second[(shown, "brightness")].value
        assert per_second[(held, "colour")].value == per_second[(shown, "colour")].value
        assert per_second[(held, "motion_energy")].value == 0.0  # the picture does not change
        assert per_second[(held, "sharpness")].detail == {"held_frame_t": float(shown)}
    assert per_second[(2, "motion_energy")].value > 0  # a new picture replaced the last one
    assert per_second[(0, "brightness")].detail is None
    assert per_second[(0, "brightness")].value == pytest.approx(signals["brightness"].iloc[0], abs=1e-5)
