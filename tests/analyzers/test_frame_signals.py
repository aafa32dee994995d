"""The per-frame signals on plain arrays: no video, no decoder."""

import math

import cv2
import numpy as np
import pytest

from analyzers.frame_signals import METRIC_KEYS, FrameSignals, global_motion, unexplained_change
from support.media_factory import texture


def uniform(value: tuple[int, int, int], h: int = 90, w: int = 160) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_every_row_has_the_declared_keys_and_the_table_one_row_per_frame():
    signals = FrameSignals()
    rows = [signals.process_frame(i / 10, uniform((i * 20, 0, 0))) for i in range(5)]
    assert all(tuple(row) == METRIC_KEYS for row in rows)
    table = signals.table()
    assert list(table.columns) == list(METRIC_KEYS) and len(table) == 5 == signals.frames
    assert table["t"].tolist() == pytest.approx([0, 0.1, 0.2, 0.3, 0.4]) and signals.last_t == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("colour", "brightness", "saturation", "rgb"),
    [
        ((0, 0, 0), 0.0, 0.0, (0, 0, 0)),
        ((255, 255, 255), 1.0, 0.0, (1, 1, 1)),
        ((255, 0, 0), 0.299, 1.0, (1, 0, 0)),
        ((0, 0, 255), 0.114, 1.0, (0, 0, 1)),
        ((128, 128, 128), 0.502, 0.0, (0.502, 0.502, 0.502)),
    ],
)
def test_colour_signals_of_a_uniform_frame(colour, brightness, saturation, rgb):
    row = FrameSignals().process_frame(0.0, uniform(colour))
    assert row["brightness"] == pytest.approx(brightness, abs=0.01)
    assert row["saturation"] == pytest.approx(saturation, abs=0.01)
    assert (row["red"], row["green"], row["blue"]) == pytest.approx(rgb, abs=0.01)
    assert row["sharpness"] == 0.0


def test_the_first_frame_has_no_difference_and_a_cut_is_a_large_one():
    a, b = texture(1, 160, 90), texture(2, 160, 90)
    signals = FrameSignals()
    first = signals.process_frame(0.0, a)
    same = signals.process_frame(0.04, a)
    cut = signals.process_frame(0.08, b)
    assert math.isnan(first["diff"]) and math.isnan(first["hist_diff"])
    assert same["diff"] == 0.0 and same["hist_diff"] == 0.0
    assert cut["diff"] > 0.1 and cut["hist_diff"] > 0.2


def test_a_sharp_frame_scores_higher_than_its_blurred_copy():
    sharp = texture(3, 160, 90)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    assert (
        FrameSignals().process_frame(0, sharp)["sharpness"] > 4 * FrameSignals().process_frame(0, blurred)["sharpness"]
    )


@pytest.mark.parametrize(("dx", "dy"), [(6, 0), (-6, 0), (0, 4), (0, -4), (5, 3)])
def test_global_motion_of_a_shifted_picture(dx, dy):
    canvas = cv2.cvtColor(texture(4, 480, 320), cv2.COLOR_RGB2GRAY)
    prev = np.ascontiguousarray(canvas[20:110, 20:180])
    # Content moves by (dx, dy): the window onto the canvas moves the other way.
    cur = np.ascontiguousarray(canvas[20 - dy : 110 - dy, 20 - dx : 180 - dx])
    mx, my, scale, inliers = global_motion(prev, cur)
    assert (mx, my) == pytest.approx((dx, dy), abs=0.5)
    assert scale == pytest.approx(1.0, abs=0.01) and inliers > 0.8


def test_motion_is_estimated_about_motion_rate_times_a_second_over_whole_frames():
    canvas = texture(5, 640, 360)
    signals = FrameSignals(motion_rate=4.0)
    rows = []
    for i in range(25):  # 1 s at 25 fps, content moving right 40 px/s
        x = 80 - int(round(i * 40 / 25))
        rows.append(signals.process_frame(i / 25, np.ascontiguousarray(canvas[90:270, x : x + 320])))
    estimates = [r for r in rows if not math.isnan(r["motion_span"])]
    # At 25 fps the first frame at least 0.25 s after the last estimate is 7 frames (0.28 s) later.
    assert [round(r["t"], 2) for r in estimates] == [0.28, 0.56, 0.84]
    for r in estimates:
        assert r["motion_span"] == pytest.approx(0.28)
        assert r["motion_dx"] == pytest.approx(40 / 320, rel=0.15)  # an eighth of the width per second
        assert abs(r["motion_dy"]) < 0.02 and r["motion_scale"] == pytest.approx(1.0, abs=0.02)


def test_black_frames_have_no_motion():
    signals = FrameSignals()
    rows = [signals.process_frame(i / 10, uniform((0, 0, 0))) for i in range(6)]
    assert all(math.isnan(r["motion_dx"]) for r in rows)
    assert any(not math.isnan(r["motion_span"]) for r in rows)  # estimated, found nothing to track


def _scene(x_object: int, background_shift: int = 0) -> np.ndarray:
    """A 320x180 grey frame: a plain background with sparse marks, shifted by `background_shift` px, and a
    detailed object (a fourteenth of the frame, with several times the background's corners) at x_object."""
    rng = np.random.default_rng(3)
    canvas = np.full((200, 480), 120, np.uint8)
    for x, y in rng.integers(0, (480, 200), (60, 2)):
        cv2.circle(canvas, (int(x), int(y)), 3, 40, -1)
    frame = np.ascontiguousarray(canvas[10:190, 40 - background_shift : 360 - background_shift])
    obj = rng.integers(0, 2, (14, 12), dtype=np.uint8) * 255
    frame[50:120, x_object : x_object + 60] = cv2.resize(obj, (60, 70), interpolation=cv2.INTER_NEAREST)
    return frame


@pytest.mark.parametrize(
    ("object_dx", "background_dx", "expect_dx"),
    [
        (12, 0, 0.0),  # a detailed object crossing a fixed camera: the background does not move
        (-12, 0, 0.0),
        (0, 6, 6.0),  # the camera pans while the object stays in the frame (followed): the background moves
    ],
)
def test_global_motion_is_the_backgrounds_not_a_foreground_objects(object_dx, background_dx, expect_dx):
    prev = _scene(100)
    cur = _scene(100 + object_dx, background_dx)
    mx, my, scale, share = global_motion(prev, cur)
    assert mx == pytest.approx(expect_dx, abs=0.6) and my == pytest.approx(0.0, abs=0.6)
    assert scale == pytest.approx(1.0, abs=0.01)
    assert 0.5 <= share <= 1.0  # the background is most of the frame


def test_the_share_of_the_frame_the_motion_explains_drops_as_movers_cover_more_of_it():
    canvas = cv2.cvtColor(texture(9, 480, 260), cv2.COLOR_RGB2GRAY)
    prev = np.ascontiguousarray(canvas[40:220, 80:400])
    shares = []
    for covered in (0, 1, 2):  # columns of the 6-column grid whose content moves its own way
        cur = prev.copy()
        width = covered * 320 // 6
        if width:
            cur[:, :width] = canvas[40:220, 80 + 9 : 80 + 9 + width]  # those columns move 9 px left
        shares.append(global_motion(prev, cur)[3])
    assert shares[0] > shares[1] > shares[2] and shares[0] > 0.95


def test_a_new_picture_leaves_its_change_unexplained_and_moved_pixels_do_not():
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    canvas = cv2.cvtColor(texture(10, 640, 200), cv2.COLOR_RGB2GRAY)
    prev = np.ascontiguousarray(canvas[10:190, 0:320])
    moved = [unexplained_change(prev, np.ascontiguousarray(canvas[10:190, dx : dx + 320]), flow) for dx in (8, 40, 96)]
    other = cv2.cvtColor(texture(11, 320, 180), cv2.COLOR_RGB2GRAY)
    assert max(moved) < 0.3 and unexplained_change(prev, other, flow) > 0.6


def test_only_isolated_peaks_of_change_are_checked_against_their_motion():
    # A cut (an isolated peak) is checked once the next frame is known; the steady change of a fast pan is not
    # (only its onset, a step up from stillness, can be a peak).
    signals = FrameSignals()
    a, b = texture(1, 160, 90), texture(2, 160, 90)
    for i, frame in enumerate((a, a, b, b, b)):
        signals.process_frame(i * 0.04, frame)
    checked = signals.table()["unexplained"].tolist()
    assert checked[2] > 0.6 and all(math.isnan(v) for i, v in enumerate(checked) if i != 2)
    canvas, pan = texture(3, 960, 90), FrameSignals()
    for i in range(8):
        pan.process_frame(i * 0.04, np.ascontiguousarray(canvas[:, 40 * i : 40 * i + 160]))
    assert pan.table()["unexplained"].iloc[2:].isna().all()


def _last_blend_row(frames, fps: float = 25.0) -> dict:
    signals = FrameSignals()
    return [signals.process_frame(i / fps, frame) for i, frame in enumerate(frames)][-1]


def test_the_blend_test_sees_a_mix_of_the_window_ends_and_not_motion_or_exposure():
    a, b = texture(1, 320, 180).astype(float), texture(2, 320, 180).astype(float)
    n = 26  # one second at 25 fps: the whole window
    mix = _last_blend_row([((1 - i / (n - 1)) * a + i / (n - 1) * b).astype(np.uint8) for i in range(n)])
    assert mix["mix_t"] == pytest.approx(0.48, abs=0.03) and mix["mix_alpha"] == pytest.approx(0.5, abs=0.05)
    assert mix["mix_residual"] < 0.1 and mix["mix_change"] > 0.1 and mix["mix_corr"] < 0.5
    canvas = texture(3, 640, 180)
    pan = _last_blend_row([np.ascontiguousarray(canvas[:, 4 * i : 4 * i + 320]) for i in range(n)])
    assert pan["mix_residual"] > 0.5
    brighter = _last_blend_row([(a * (0.6 + 0.4 * i / n)).astype(np.uint8) for i in range(n)])
    assert brighter["mix_corr"] > 0.95  # one picture, more exposed: no mix of two
    assert math.isnan(_last_blend_row([a.astype(np.uint8)] * 10)["mix_t"])  # less than a window seen yet
