"""Visual statistics per second, from the real decode pass and from frames made in the test."""

import numpy as np
import pytest

from analyzers.decode import decode_video
from analyzers.frame_signals import FrameSignals
from analyzers.probe import probe_video
from analyzers.visual_stats import analyze_visual_stats, colour_name
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


@pytest.mark.parametrize(
    ("rgb", "pixel_saturation", "name"),
    [
        ((0.02, 0.02, 0.03), 0.9, "black"),  # darkness decides, however noisy its pixels' hue
        ((0.97, 0.97, 0.96), 0.0, "white"),
        ((0.5, 0.5, 0.5), 0.0, "grey"),
        ((0.5, 0.5, 0.5), 0.24, "grey"),  # pixels tinted a little: still grey
        ((0.5, 0.5, 0.5), 0.25, "multicoloured"),  # pixels clearly coloured, the mean grey: colours cancel
        ((0.45, 0.5, 0.55), 0.6, "multicoloured"),  # a faint hue in the mean says nothing of such pixels
        ((0.8, 0.1, 0.1), 0.8, "red"),
        ((0.2, 0.3, 0.8), 0.7, "blue"),
        ((0.9, 0.5, 0.1), 0.0, "orange"),  # a hue in the mean is named whatever the pixels' mean
    ],
)
def test_colour_names_at_their_boundaries(rgb, pixel_saturation, name):
    assert colour_name(*rgb, saturation=pixel_saturation) == name


@pytest.mark.parametrize(
    ("halves", "name"),
    [
        (((230, 110, 20), (30, 90, 200)), "multicoloured"),  # an orange suit on a blue wall
        (((128, 128, 128), (100, 100, 100)), "grey"),
        (((200, 30, 30), (160, 20, 20)), "red"),
    ],
)
def test_a_picture_of_two_strong_colours_is_multicoloured_not_the_grey_of_their_mean(halves, name):
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[:, :80], frame[:, 80:] = halves
    signals = FrameSignals()
    for i in range(5):
        signals.process_frame(i / 5, frame)
    (colour,) = [e.value for e in analyze_visual_stats(signals.table(), 1.0) if e.aspect == "colour"]
    assert colour == name
