"""The cut list alone (analyzers.cut_list): the boundaries of the full analysis from a leaner decode pass."""

import subprocess
import sys

import numpy as np
import pytest

from analyzers.cut_list import find_cuts
from analyzers.decode import decode_video
from analyzers.frame_signals import METRIC_KEYS
from analyzers.probe import MediaError, probe_video
from analyzers.shots import detect_cuts
from support.clips import CLIP_CUTS

MOTION_KEYS = ("motion_dx", "motion_dy", "motion_scale", "motion_inliers", "motion_span")


def test_the_signals_only_pass_leaves_out_frames_and_motion_and_nothing_else(clip, tmp_path):
    probe = probe_video(clip)
    full = decode_video(probe, tmp_path / "f.parquet")
    lean = decode_video(probe, None, motion=False)
    assert lean.decoded == full.decoded and full.sampled > 0
    assert lean.sampled == 0 and lean.visibility == []
    assert [p.name for p in tmp_path.iterdir()] == ["f.parquet"]  # the lean pass wrote nothing
    for key in METRIC_KEYS:
        if key in MOTION_KEYS:
            assert np.isnan(lean.columns[key]).all() and np.isfinite(full.columns[key]).any(), key
        else:  # NaN where the full pass has NaN, the same number everywhere else
            np.testing.assert_array_equal(lean.columns[key], full.columns[key], err_msg=key)


def test_find_cuts_gives_the_boundaries_of_the_full_analysis(clip, tmp_path):
    probe = probe_video(clip)
    full = detect_cuts(decode_video(probe, tmp_path / "f.parquet").signals, probe.fps)
    found = find_cuts(clip)
    assert [(b.t, b.kind, b.confidence) for b in found.boundaries] == [(t, k, min(1.0, c)) for t, c, k in full]
    assert [b.t for b in found.boundaries] == pytest.approx(CLIP_CUTS, abs=1.5 / probe.fps)
    assert found.duration_s == probe.duration_s and found.damage is None


def test_a_file_that_is_no_video_is_named_in_the_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(MediaError, match=str(text)):
        find_cuts(text)


def test_the_cut_list_runs_without_importing_pandas_or_pyarrow(clip):
    # pandas and pyarrow are a quarter of a second of the start: the cut list makes no table and writes no store.
    code = (
        "import sys; from pathlib import Path; from analyzers.cut_list import find_cuts\n"
        "assert find_cuts(Path(sys.argv[1])).boundaries\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'dagster', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(clip)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
