"""The CLI end to end against a private instance: the real graph, in-process, on generated media."""

import os
import re
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from analyzers.keys import partition_key
from analyzers.timeline import TIMELINE_SCHEMA
from support.clips import CLIP_CUTS
from support.instance import digest as file_digest
from support.media_factory import tiny_object_detector
from video_assets.runs import recorded_score, recorded_score_metadata

pytestmark = pytest.mark.slow


def run_cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "video_assets.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_analyze_writes_the_timeline_and_records_the_run(clip, instance_home, tmp_path):
    before = file_digest(clip)
    out = tmp_path / "out" / "t.parquet"
    proc = run_cli(instance_home, "analyze", str(clip), "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 0.0 < printed_score(proc.stdout) < 1.0  # composed descriptions count 0
    timeline = pd.read_parquet(out)
    assert timeline["second"].tolist() == list(range(11))
    assert sorted(timeline.loc[timeline["cut"], "second"].tolist()) == [int(c) for c in CLIP_CUTS]
    assert timeline["description"].notna().all() and (timeline["description_source"] == "composed").all()
    assert timeline["speech"].iloc[1:3].min() > 0.5
    assert file_digest(clip) == before

    key = partition_key(clip)
    with DagsterInstance.get() as instance:
        assert key in instance.get_dynamic_partitions("videos")
        runs = instance.get_runs(RunsFilter(tags={"dagster/partition": key}))
        assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS]
        evaluations = {
            e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data.passed
            for e in instance.all_logs(runs[0].run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        }
        assert evaluations == {"timeline_dense": True, "reconstruction_score": True}

    shown = run_cli(instance_home, "show", str(clip), "--rows", "3")
    assert shown.returncode == 0
    lines = shown.stdout.strip().splitlines()
    assert len(lines) == 4 and lines[0].split()[:4] == ["second", "shot", "cut", "camera"]
    assert lines[3].split()[:4] == ["2", "1", "True", "pan_right"]


def test_mistyped_arguments_are_named_with_the_problem(clip, instance_home, tmp_path):
    folder = run_cli(instance_home, "analyze", str(tmp_path))
    assert folder.returncode == 1 and f"error: {tmp_path}: a folder, not a video file" in folder.stderr
    missing = run_cli(instance_home, "show", "nope.mp4")
    assert missing.returncode == 1 and "nope.mp4: no such file, and not a partition key" in missing.stderr
    for rows in ("0", "-1", "x"):
        bad = run_cli(instance_home, "show", str(clip), "--rows", rows)
        assert bad.returncode == 2 and "give a whole number of seconds, 1 or more" in bad.stderr


def test_a_broken_file_fails_clearly_and_leaves_other_videos_alone(clip, silent_clip, instance_home, tmp_path):
    both = run_cli(instance_home, "analyze", str(clip), str(silent_clip))
    assert both.returncode == 0, both.stderr[-3000:]
    assert len(re.findall(r"reconstruction score \d\.\d{3}\n", both.stdout)) == 2  # checks run per partition
    silent_timeline = tmp_path / "data" / "timeline" / f"video={partition_key(silent_clip)}" / "timeline.parquet"
    silent = pd.read_parquet(silent_timeline)
    assert silent["second"].tolist() == [0, 1, 2, 3] and (silent["speech"] == 0).all()
    good_timeline = tmp_path / "data" / "timeline" / f"video={partition_key(clip)}" / "timeline.parquet"
    # Every video's file has the contract's types, even where a column holds only nulls or empty lists
    # (no text on screen, objects not configured), so the files can be read as one table.
    for stored in (silent_timeline, good_timeline):
        assert pq.read_schema(stored).remove_metadata() == TIMELINE_SCHEMA.remove_metadata()
    assert pa.concat_tables([pq.read_table(silent_timeline), pq.read_table(good_timeline)]).num_rows == 15
    good_bytes = good_timeline.read_bytes()
    broken = tmp_path / "broken clip.mp4"
    broken.write_bytes(clip.read_bytes()[:2000])  # cut mid-file
    before = file_digest(broken)
    proc = run_cli(instance_home, "analyze", str(broken))
    assert proc.returncode != 0
    assert f"error: {broken}: not a readable media file" in proc.stderr and "(step video_probe)" in proc.stderr
    assert file_digest(broken) == before
    assert good_timeline.read_bytes() == good_bytes


def printed_score(stdout: str) -> float:
    return float(re.search(r"reconstruction score (\d\.\d{3})", stdout).group(1))


@pytest.mark.parametrize("heavy_objects", [False, True], ids=["default graph", "objects detector configured"])
def test_the_printed_score_is_the_score_the_check_recorded(silent_clip, instance_home, tmp_path, heavy_objects):
    models = tmp_path / "models.toml"
    if heavy_objects:
        detector = tiny_object_detector(tmp_path / "detector")
        models.write_text(f'[objects]\nmodel = "{detector}"\n[objects.options]\nthreshold = 0.0\n')
    else:
        models.write_text("# nothing configured: the default graph\n")
    proc = run_cli({**instance_home, "VIDEO_TIMELINE_MODELS": str(models)}, "analyze", str(silent_clip))
    assert proc.returncode == 0, proc.stderr[-3000:]
    key = partition_key(silent_clip)
    with DagsterInstance.get() as instance:
        run = instance.get_runs(RunsFilter(tags={"dagster/partition": key}))[0]
        checks = {
            e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data
            for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        }
        materialized = {
            e.dagster_event.event_specific_data.materialization.asset_key.to_user_string()
            for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        }
        assert recorded_score(instance, key) == checks["reconstruction_score"].metadata["score"].value
        recorded = recorded_score_metadata(instance, key)
    # objects are in every graph: the shipped detector by default, the configured one instead
    assert {"objects", "persons"} <= materialized
    assert printed_score(proc.stdout) == round(checks["reconstruction_score"].metadata["score"].value, 3)
    # the printed reasons are the check's, and name the configured aspects that fell short
    assert f"  coverage {recorded['coverage']:.3f}; below 1: {recorded['below_1']}\n" in proc.stdout
    assert "speech 0.00 (derived 100%)" in recorded["below_1"]


def test_an_unchanged_file_is_not_analysed_again_a_changed_one_is(silent_clip, instance_home, tmp_path, capsys):
    import av

    from support.decode_counter import DecodeCounts, counting_open
    from support.media_factory import Shot, render_shots, write_video
    from video_assets import cli

    video = tmp_path / "clip.mp4"
    video.write_bytes(silent_clip.read_bytes())
    assert cli.main(["analyze", str(video)]) == 0
    analysed = capsys.readouterr().out
    score = printed_score(analysed)

    def analyse_again(*args):
        counts = DecodeCounts()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(av, "open", counting_open(av.open, counts))
            assert cli.main(["analyze", *args, str(video)]) == 0
        return capsys.readouterr().out, counts

    def runs():
        with DagsterInstance.get() as instance:
            return len(instance.get_runs(RunsFilter(tags={"dagster/partition": partition_key(video)})))

    out, counts = analyse_again()
    assert "unchanged since its last analysis" in out and printed_score(out) == score
    assert counts.opened == [] and counts.video_frames == 0 and runs() == 1  # no run, nothing decoded

    os.utime(video)  # touched: a new mtime, the same bytes
    out, counts = analyse_again()
    assert "unchanged since its last analysis" in out and counts.video_frames == 0 and runs() == 1

    gone = tmp_path / "gone.mp4"
    assert cli.main(["analyze", str(video), str(gone)]) == 1  # a batch ends with its outcome in one line
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary == f"2 files: 0 analysed, 1 unchanged, 1 failed ({gone}: see the error lines)"

    out, counts = analyse_again("--force")
    assert "analysing" in out and counts.video_frames > 0 and runs() == 2

    write_video(video, render_shots([Shot(2.0, 9)], 160, 96, 10), 10)  # new content under the same path
    out, counts = analyse_again()
    assert "analysing" in out and counts.video_frames > 0 and runs() == 3
    timeline = re.search(r"^timeline: (.+)$", out, re.MULTILINE).group(1)
    assert pd.read_parquet(timeline)["second"].tolist() == [0, 1]
