import numpy as np
import pandas as pd
import pytest

from analyzers.decode import decode_video
from analyzers.frame_signals import FrameSignals
from analyzers.probe import probe_video
from analyzers.shots import analyze_shots, boundaries, detect_cuts, detect_dissolves
from support.clips import CLIP_CUTS
from support.media_factory import (
    Shot,
    dissolve_frames,
    exposure_ramp_frames,
    render_shots,
    swing_frames,
    write_video,
)


@pytest.fixture(scope="module")
def signals(clip, tmp_path_factory):
    probe = probe_video(clip)
    return probe, decode_video(probe, tmp_path_factory.mktemp("s") / "f.parquet").signals


def test_cuts_are_found_at_the_right_frames(signals):
    probe, sig = signals
    found = [t for t, _, _ in detect_cuts(sig, probe.fps)]
    assert len(found) == len(CLIP_CUTS)
    for got, want in zip(found, CLIP_CUTS):
        assert got == pytest.approx(want, abs=1.5 / probe.fps)
    assert [kind for _, _, kind in detect_cuts(sig, probe.fps)] == ["cut", "cut", "cut", "fade"]


def test_per_second_shot_index_and_cut_flags(signals):
    probe, sig = signals
    events = analyze_shots(sig, probe.fps, probe.duration_s)
    shot = [e.value for e in events if e.aspect == "shot"]
    cut = [e.value for e in events if e.aspect == "cut"]
    assert shot == [0, 0, 1, 1, 2, 2, 3, 3, 3, 4, 4]
    assert cut == [False, False, True, False, True, False, True, False, True, False, False]
    assert boundaries(events) == pytest.approx(CLIP_CUTS, abs=0.1)


def test_steady_motion_is_not_a_cut(signals):
    # The pan, tilt and zoom shots change every frame; none of those frames may be a boundary.
    probe, sig = signals
    found = [t for t, _, _ in detect_cuts(sig, probe.fps)]
    inside_motion = [t for t in found if any(a + 0.2 < t < a + 1.8 for a in (2.0, 4.0, 6.0, 9.0))]
    assert inside_motion == []


def signals_with_brightness(levels: list[float], fps: float) -> pd.DataFrame:
    """Per-frame signals of a video whose frames are flat grey at the given levels."""
    level = np.asarray(levels, float)
    jump = np.abs(np.diff(level, prepend=level[0]))
    jump_2 = np.abs(level - np.concatenate([level[:2], level[:-2]]))
    return pd.DataFrame(
        {
            "t": np.arange(len(level)) / fps,
            "brightness": level,
            "diff": jump,
            "hist_diff": (jump > 0.2).astype(float),
            "diff_2": jump_2,
            "hist_diff_2": (jump_2 > 0.2).astype(float),
        }
    )


def test_long_black_is_a_shot_and_leading_or_trailing_black_is_no_boundary():
    fps = 10.0
    frames = [0.0] * 10 + [0.5] * 30 + [0.0] * 25 + [0.6] * 30 + [0.0] * 10  # black 0-1, 4-6.5 s, 9.5-10.5 s
    cuts = detect_cuts(signals_with_brightness(frames, fps), fps)
    assert [(round(t, 1), kind) for t, _, kind in cuts] == [(4.0, "black_start"), (6.5, "black_end")]


def test_a_short_dip_to_black_is_one_transition_at_its_middle():
    fps = 10.0
    cuts = detect_cuts(signals_with_brightness([0.5] * 30 + [0.0] * 12 + [0.6] * 30, fps), fps)
    assert [(round(t, 1), kind) for t, _, kind in cuts] == [(3.6, "fade")]


@pytest.mark.parametrize(
    ("frames", "found"),
    [
        ([0.5] * 20 + [0.0] + [0.8] * 20, [(2.0, "fade")]),  # a black frame between two shots: a boundary
        ([0.5] * 20 + [0.0] + [0.5] * 20, []),  # the same picture on both sides: a dropped frame
        ([0.5] * 20 + [0.0] + [0.6] * 20, []),  # a difference below a cut's least change: the same picture
        ([0.9, 0.0] * 25, []),  # a strobe light, black every other frame
        ([0.5] * 20 + [0.0] * 2 + [0.5] * 20, [(2.1, "fade")]),  # two black frames: not told apart (see shots)
    ],
)
def test_one_black_frame_is_a_boundary_only_between_two_pictures(frames, found):
    fps = 10.0
    cuts = detect_cuts(signals_with_brightness(frames, fps), fps)
    assert [(round(t, 1), kind) for t, _, kind in cuts] == found


def signals_with_change(scores: list[float], fps: float) -> pd.DataFrame:
    """Per-frame signals of a mid-grey video whose content change per frame is the given score."""
    score = np.asarray(scores, float)
    return pd.DataFrame({"t": np.arange(len(score)) / fps, "brightness": 0.5, "diff": score / 4, "hist_diff": score})


def test_a_change_spread_over_three_frames_is_no_cut_but_one_spread_over_two_is():
    fps, calm = 25.0, [0.05] * 20
    whip = calm + [0.3, 0.45, 0.3] + calm  # both neighbours of the peak change by more than half as much
    assert detect_cuts(signals_with_change(whip, fps), fps) == []
    two_frame_cut = calm + [0.8, 0.3] + calm  # the encoder spread the cut onto the next frame
    assert [(round(t, 2), kind) for t, _, kind in detect_cuts(signals_with_change(two_frame_cut, fps), fps)] == [
        (0.8, "cut")
    ]


@pytest.mark.parametrize(
    ("peak_hist", "after_vs_before", "is_cut"),
    [
        (0.6, 0.8, True),  # colours change and the new picture stays: a cut
        (0.05, 0.8, False),  # pixels jump but colours stay (a fast swing, motion blur): no cut
        (0.6, 0.05, False),  # the frame after the peak is the frame before it again (a flash, a glitch)
    ],
)
def test_a_cut_changes_the_colours_and_lasts(peak_hist, after_vs_before, is_cut):
    fps, calm = 25.0, [0.03] * 20
    score = calm + [0.8] + calm
    sig = signals_with_change(score, fps)
    sig.loc[20, "hist_diff"] = peak_hist
    sig["diff_2"], sig["hist_diff_2"] = sig["diff"], sig["hist_diff"]
    sig.loc[21, ["diff_2", "hist_diff_2"]] = (after_vs_before / 4, after_vs_before)
    assert [kind for _, _, kind in detect_cuts(sig, fps)] == (["cut"] if is_cut else [])


def test_cut_confidence_is_its_margin_over_the_local_threshold():
    fps, calm = 25.0, [0.05] * 20
    strong = detect_cuts(signals_with_change(calm + [0.9] + calm, fps), fps)[0][1]
    weak = detect_cuts(signals_with_change(calm + [0.3] + calm, fps), fps)[0][1]
    assert 0 < weak < strong <= 1.0


def test_a_cut_is_a_new_picture_not_the_old_one_moved():
    # A peak that moving the previous frame explains (unexplained < 0.5) is motion; NaN: not measured.
    fps, calm = 25.0, [0.03] * 20
    found = []
    for unexplained in (0.3, 0.8, float("nan")):
        sig = signals_with_change(calm + [0.8] + calm, fps)
        sig["unexplained"] = np.nan
        sig.loc[20, "unexplained"] = unexplained
        found.append([kind for _, _, kind in detect_cuts(sig, fps)])
    assert found == [[], ["cut"], ["cut"]]


FPS = 25


def signals_of(frames, fps: int = FPS) -> pd.DataFrame:
    """The decode pass's per-frame signals of RGB frames (no video file: FrameSignals on the arrays)."""
    signals = FrameSignals()
    for i, frame in enumerate(frames):
        signals.process_frame(i / fps, frame)
    return signals.table()


@pytest.mark.parametrize(
    ("overlap_s", "linear_light", "pan_px_s"),
    [
        (0.4, False, 0),
        (1.0, False, 0),
        (2.0, False, 0),  # longer than the blend test's window
        (1.0, True, 0),  # mixed in linear light
        (1.0, False, 5),  # both shots moving slowly
    ],
)
def test_a_dissolve_is_one_boundary_at_its_middle(overlap_s, linear_light, pan_px_s):
    first, second = Shot(3, 1, pan_px_s=pan_px_s), Shot(3, 2, tilt_px_s=pan_px_s)
    sig = signals_of(dissolve_frames(first, second, overlap_s, 320, 180, FPS, linear_light=linear_light))
    ((t, confidence, kind),) = detect_cuts(sig, FPS)
    assert kind == "dissolve" and t == pytest.approx(3 - overlap_s / 2, abs=0.15) and 0 < confidence <= 1


def test_dissolve_confidence_drops_as_the_mix_gets_less_exact():
    # Shots that move while they are mixed make the middle frames less exactly a blend of the ends.
    confidence = []
    for pan in (0, 5):
        frames = dissolve_frames(Shot(3, 1, pan_px_s=pan), Shot(3, 2, tilt_px_s=pan), 1.0, 320, 180, FPS)
        (found,) = detect_dissolves(signals_of(frames))
        confidence.append(found[1])
    assert confidence[0] > confidence[1] + 0.2


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(lambda: render_shots([Shot(4, 5, pan_px_s=20)], 320, 180, FPS), id="slow pan"),
        pytest.param(lambda: render_shots([Shot(4, 5, pan_px_s=150)], 320, 180, FPS), id="fast pan"),
        pytest.param(lambda: render_shots([Shot(4, 5, zoom_per_s=1.3)], 320, 180, FPS), id="zoom"),
        pytest.param(lambda: exposure_ramp_frames(4, 4, 320, 180, FPS, at=1.5, ramp_s=1.0), id="exposure ramp"),
        *(
            pytest.param(
                lambda px=px, grey=grey: swing_frames(3, 3, 320, 180, FPS, at=1.0, swing_s=0.3, swing_px=px, grey=grey),
                id=f"blurred swing {px} px{' grey' if grey else ''}",
            )
            for px in (160, 320)
            for grey in (False, True)
        ),
        *(
            pytest.param(
                lambda px=px, grey=grey: swing_frames(
                    3, 3, 320, 180, FPS, at=1.0, swing_s=0, swing_px=px, blur=False, grey=grey
                ),
                id=f"jolt {px} px{' grey' if grey else ''}",
            )
            for px in (32, 64, 96)
            for grey in (False, True)
        ),
    ],
)
def test_a_continuous_shot_has_no_boundary(frames):
    # Motion however fast (up to a third of the width between two frames), blur and exposure change the
    # pixels of one shot; none of them is a cut or a dissolve.
    assert detect_cuts(signals_of(frames()), FPS) == []


def test_a_fade_through_black_is_one_fade_not_a_dissolve():
    black = Shot(0.8, 9, black=True)
    frames = [*dissolve_frames(Shot(2.5, 1), black, 0.5, 320, 180, FPS)]
    frames += [*dissolve_frames(Shot(0.5, 9, black=True), Shot(2.5, 2), 0.5, 320, 180, FPS)]
    ((t, _, kind),) = detect_cuts(signals_of(frames), FPS)
    assert kind == "fade" and 2.0 < t < 3.3


def test_signals_of_an_older_decode_pass_give_no_dissolve():
    sig = signals_of(dissolve_frames(Shot(2, 1), Shot(2, 2), 1.0, 160, 90, FPS))
    assert len(detect_dissolves(sig)) == 1
    assert detect_dissolves(sig.drop(columns=["mix_alpha"])) == []


def test_a_dissolve_in_an_encoded_video_is_found(tmp_path):
    # Through H.264 and the decode pass, as the graph sees it.
    path = write_video(tmp_path / "dissolve.mp4", dissolve_frames(Shot(3, 1), Shot(3, 2), 1.0, 320, 180, FPS), FPS)
    probe = probe_video(path)
    events = analyze_shots(decode_video(probe, tmp_path / "f.parquet").signals, probe.fps, probe.duration_s)
    assert boundaries(events) == pytest.approx([2.5], abs=0.15)
    assert [e.value for e in events if e.aspect == "shot_boundary"] == ["dissolve"]
    assert [e.value for e in events if e.aspect == "cut"] == [False, False, True, False, False]
