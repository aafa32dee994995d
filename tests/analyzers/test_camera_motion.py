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


def estimates(rows: list[tuple[float, float, float]], rate: float = 4.0):
    """Per-frame signals holding only motion estimates: (content dx, dy per second, share of frame explained)."""
    import pandas as pd

    t = [(i + 1) / rate for i in range(len(rows))]
    return pd.DataFrame(
        {
            "t": t,
            "motion_dx": [r[0] for r in rows],
            "motion_dy": [r[1] for r in rows],
            "motion_scale": [1.0] * len(rows),
            "motion_inliers": [r[2] for r in rows],
            "motion_span": [1 / rate] * len(rows),
        }
    )


@pytest.mark.parametrize(
    ("second", "label"),
    [
        ([(0.0, 0.0, 0.9)] * 4, "static"),
        ([(-0.2, 0.0, 0.9)] * 3 + [(0.0, 0.0, 0.9)], "pan_right"),  # 3 of 4 agree: a clear majority
        ([(-0.2, 0.0, 0.9)] * 2 + [(0.0, 0.2, 0.9)] * 2, "unknown"),  # split: no label
        ([(-0.2, 0.0, 0.9), (0.0, 0.2, 0.9), (0.2, 0.0, 0.9), (0.0, -0.2, 0.9)], "unknown"),  # wobble
        ([(-0.2, 0.0, 0.1)] * 4, "unknown"),  # the fitted motion explains too little of the frame
        ([(0.02, 0.0, 0.9)] * 4, "static"),  # a drift of 2 % of the frame per second is no pan
    ],
)
def test_a_second_gets_a_label_only_from_a_clear_majority(second, label):
    (event,) = analyze_camera_motion(estimates(second), 1.0, [])
    assert event.value == label
    assert (event.confidence > 0) == (label != "unknown")


def test_confidence_falls_with_the_share_of_the_frame_explained_and_with_disagreement():
    def confidence(rows):
        return analyze_camera_motion(estimates(rows), 1.0, [])[0].confidence

    full, half = confidence([(0.0, 0.0, 0.9)] * 4), confidence([(0.0, 0.0, 0.45)] * 4)
    split = confidence([(0.0, 0.0, 0.9)] * 3 + [(0.3, 0.0, 0.9)])
    assert full == pytest.approx(0.9) and half == pytest.approx(0.45) and split == pytest.approx(0.9 * 0.75)


def test_a_short_last_second_without_its_own_estimate_uses_the_shots_nearest():
    events = analyze_camera_motion(estimates([(-0.2, 0.0, 0.9)] * 4), 1.1, [])
    assert [e.value for e in events] == ["pan_right", "pan_right"]
