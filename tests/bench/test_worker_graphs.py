"""The bench's graph without the seen-and-heard assets is the default graph minus exactly those four, its
timeline and report counting only what is left (what bench.seen_speed compares against)."""

import json
import os
import subprocess
import sys

import pytest

from bench.worker import SEEN_AND_HEARD, definitions_without, main
from video_assets.definitions import build_definitions
from video_assets.names import ANALYZE_JOB
from video_assets.report import report_expected_aspects


def _names(defs) -> set[str]:
    return {k.to_user_string() for a in defs.assets for k in a.keys}


def test_the_graph_without_the_four_keeps_everything_else_and_stops_expecting_their_aspects(tmp_path):
    full = build_definitions(data_root=str(tmp_path), model_specs={})
    without = definitions_without(full, SEEN_AND_HEARD)
    assert _names(without) == _names(full) - set(SEEN_AND_HEARD)
    assert set(SEEN_AND_HEARD) <= _names(full)  # the default install has all four
    dropped = {"objects", "object_tracks", "persons", "sounds", "speakers"}
    assert dropped <= set(report_expected_aspects(full))
    assert not dropped & set(report_expected_aspects(without))
    assert without.resolve_job_def(ANALYZE_JOB).executor_def == full.resolve_job_def(ANALYZE_JOB).executor_def


@pytest.mark.parametrize(("mode", "folder"), [("graph", "--data"), ("direct", "--scratch")])
def test_a_measured_run_without_its_output_folder_is_refused_before_it_writes(
    mode, folder, monkeypatch, capsys, tmp_path
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["bench.worker", mode, str(tmp_path / "clip.mp4")])
    with pytest.raises(SystemExit) as refused:
        main()
    assert refused.value.code == 2
    assert f"{mode} needs {folder} DIR" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # no folder named "None" (or anything else) was made


def test_the_light_graph_counts_its_decoding_only_when_asked(clip, instance_home, tmp_path):
    # The counter's proxies cost 2-5 % of a decode pass: timed runs go without them, one run counts.
    def run(*extra: str) -> dict:
        out = subprocess.run(
            [sys.executable, "-m", "bench.worker", "graph", str(clip), "--data", str(tmp_path / "data"), *extra],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **instance_home},
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    timed, counted = run(), run("--count-decodes")
    assert timed["success"] and counted["success"]
    assert "decoding" not in timed
    # the probe step decodes the first frame, the video pass every frame once; the probe's and the two passes' opens
    assert counted["decoding"]["video_frames"] == counted["frame_count"] + 1 > 1
    assert counted["decoding"]["opens"] == 3 and counted["decoding"]["audio_frames"] > 0
