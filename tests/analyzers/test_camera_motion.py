import pytest

from analyzers.camera_motion import LABELS, analyze_camera_motion, classify
from analyzers.decode import decode_video
from analyzers.probe import probe_video
from support.clips import CLIP_CAMERA, CLIP_CUTS


def test_labels_per_second_follow_the_camera(clip, tmp_path):
    probe = probe_video(clip)
    sig = decode_video(probe, tmp_path / "f.parquet").signals
    events = analyze_camera_motion(sig, probe.duration_s, CLIP_CUTS)
    assert [e.value for e in events] == CLIP_CAMERA
    assert all(e.value in LABELS for e in events)


@pytest.mark.parametrize(
    "dx, dy, scale, label",
    [
        (0.0, 0.0, 1.0, "static"),
        (-0.2, 0.01, 1.0, "pan_right"),  # content moves left: the camera pans right
        (0.2, 0.0, 1.0, "pan_left"),
        (0.0, 0.1, 1.0, "tilt_up"),  # content moves down: the camera tilts up
        (0.0, -0.1, 1.0, "tilt_down"),
        (0.0, 0.0, 1.2, "zoom_in"),
        (0.0, 0.0, 0.8, "zoom_out"),
        (0.1, 0.1, 1.0, "moving"),
        (float("nan"), 0.0, 1.0, "unknown"),
    ],
)
def test_classify_maps_content_motion_to_camera_motion(dx, dy, scale, label):
    assert classify(dx, dy, scale) == label
