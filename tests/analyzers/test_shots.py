import pytest

from analyzers.media import decode_video, probe_video
from analyzers.shots import analyze_shots, boundaries, detect_cuts
from tests.conftest import CLIP_CUTS


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


def test_per_second_shot_index_and_cut_flags(signals):
    probe, sig = signals
    events = analyze_shots(sig, probe.fps, probe.duration_s)
    shot = [e.value for e in events if e.aspect == "shot"]
    cut = [e.value for e in events if e.aspect == "cut"]
    assert shot == [0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 5]
    assert cut == [False, False, True, False, True, False, True, False, True, True, False]
    assert boundaries(events) == pytest.approx(CLIP_CUTS, abs=0.1)


def test_steady_motion_is_not_a_cut(signals):
    # The pan, tilt and zoom shots change every frame; none of those frames may be a boundary.
    probe, sig = signals
    found = [t for t, _, _ in detect_cuts(sig, probe.fps)]
    inside_motion = [t for t in found if any(a + 0.2 < t < a + 1.8 for a in (2.0, 4.0, 6.0, 9.0))]
    assert inside_motion == []
