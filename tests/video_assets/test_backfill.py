"""Backfills after a code change on a real instance: staleness, the `backfill-stale` command, the opt-in automation."""

import shutil
import warnings

import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    PreviewWarning,
    build_sensor_context,
    evaluate_automation_conditions,
)

from support.instance import private_instance
from video_assets import cli, definitions
from video_assets.backfill import stale_assets_by_partition, with_auto_backfill
from video_assets.definitions import build_definitions
from video_assets.names import BACKFILL_TAG
from video_assets.runs import analyze_file, run_partition
from video_assets.sensors import rebuild_stale_sensor

pytestmark = pytest.mark.slow
# objects depends on shots too: its tracks start anew at every cut.
SHOTS_AND_DOWNSTREAM = [AssetKey(n) for n in ("shots", "camera_motion", "objects", "timeline", "report")]


def with_new_code_version(defs, asset: str, version: str):
    """The same definitions with one asset's code_version changed (what a model spec edit does to a heavy asset)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return defs.map_asset_specs(
            func=lambda spec: spec.replace_attributes(code_version=version) if spec.key == AssetKey(asset) else spec
        )


@pytest.fixture(scope="module")
def analysed(silent_clip, tmp_path_factory) -> tuple:
    """An instance and data root holding one fully analysed video (made once: the whole graph takes a while)."""
    root = tmp_path_factory.mktemp("analysed")
    env = private_instance(root)
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DAGSTER_HOME", "VIDEO_TIMELINE_DATA"):
            patch.setenv(name, env[name])
        with DagsterInstance.get() as instance:
            run = analyze_file(build_definitions(model_specs={}), instance, silent_clip)
            assert run.success, run.failure
    return root, run.key


@pytest.fixture
def analysed_instance(analysed, instance_home, tmp_path) -> str:
    """A private copy of `analysed` as this test's instance (instance_home's environment); returns the partition key."""
    root, key = analysed
    for folder in ("dagster_home", "data"):
        shutil.copytree(root / folder, tmp_path / folder, dirs_exist_ok=True)
    return key


def materialization_count(instance, asset: str, key: str) -> int:
    return len(
        instance.fetch_materializations(AssetRecordsFilter(AssetKey(asset), asset_partitions=[key]), limit=100).records
    )


def test_a_code_version_change_makes_exactly_its_assets_stale_and_backfill_stale_rebuilds_them(
    analysed_instance, monkeypatch, capsys
):
    base, key = build_definitions(model_specs={}), analysed_instance
    with DagsterInstance.get() as instance:
        assert stale_assets_by_partition(base.resolve_asset_graph(), instance) == {}

        changed = with_new_code_version(base, "shots", "shots-v2")
        assert stale_assets_by_partition(changed.resolve_asset_graph(), instance) == {key: SHOTS_AND_DOWNSTREAM}

        # The UI path: the rebuild_stale sensor requests the same runs (a second tick: the same run key).
        ticks = [
            list(
                rebuild_stale_sensor(
                    build_sensor_context(instance=instance, repository_def=changed.get_repository_def())
                )
            )
            for _ in "ab"
        ]
        assert [(r.partition_key, r.asset_selection) for r in ticks[0]] == [(key, SHOTS_AND_DOWNSTREAM)]
        assert ticks[0][0].run_key == ticks[1][0].run_key

        monkeypatch.setattr(definitions, "defs", changed)  # the command uses the code location's definitions
        assert cli.main(["backfill-stale", "--dry-run"]) == 0
        assert f"{key}: shots, camera_motion, objects, timeline, report" in capsys.readouterr().out
        assert cli.main(["backfill-stale"]) == 0
        printed = capsys.readouterr()
        assert "rebuilt 1 video(s), 0 failed" in printed.out
        assert " info " in printed.err and " debug " not in printed.err  # the step log, not every event

        assert stale_assets_by_partition(changed.resolve_asset_graph(), instance) == {}
        runs = instance.get_runs()
        backfill_runs = [r for r in runs if r.tags.get(BACKFILL_TAG) == "stale"]
        assert len(runs) == 2 and len(backfill_runs) == 1
        assert backfill_runs[0].asset_selection == set(SHOTS_AND_DOWNSTREAM)
        assert materialization_count(instance, "video_probe", key) == 1  # fresh assets are not rebuilt
        assert materialization_count(instance, "frame_signals", key) == 1
        assert materialization_count(instance, "timeline", key) == 2
        assert cli.main(["backfill-stale"]) == 0  # nothing stale: nothing runs
        assert "rebuilt 0 video(s)" in capsys.readouterr().out and len(instance.get_runs()) == 2


def test_a_video_whose_analysis_failed_part_way_is_not_part_of_a_backfill(
    analysed_instance, silent_clip, tmp_path, monkeypatch, capsys
):
    """Its first assets are stored (here: probe and audio), the rest never were: a rebuild of the changed
    audio asset and the timeline would fail loading camera_motion, so it is skipped, and said so."""
    base, key = build_definitions(model_specs={}), analysed_instance
    other = tmp_path / "other" / "clip.mp4"
    other.parent.mkdir()
    shutil.copy(silent_clip, other)
    with DagsterInstance.get() as instance:
        partial = [AssetKey("video_probe"), AssetKey("audio_pcm"), AssetKey("audio")]
        run = analyze_file(base, instance, other, asset_selection=partial)
        assert run.success, run.failure
        failed = run.key

        changed = with_new_code_version(base, "audio", "audio-v2")
        # audio and what reads it: sound events, speakers, the transcript (its words carry the speakers)
        downstream = ["audio", "sound_events", "speakers", "transcript", "timeline", "report"]
        assert stale_assets_by_partition(changed.resolve_asset_graph(), instance) == {
            key: [AssetKey(name) for name in downstream]
        }
        monkeypatch.setattr(definitions, "defs", changed)
        assert cli.main(["backfill-stale", "--dry-run"]) == 0
        printed = capsys.readouterr().out
        [skipped] = [line for line in printed.splitlines() if line.startswith(f"skipped {failed}: its analysis never")]
        assert "camera_motion" in skipped and "audio" not in skipped.split("(")[0].split(", ")
        assert f"{key}: {', '.join(downstream)}" in printed and f"{failed}: audio" not in printed
        assert cli.main(["backfill-stale"]) == 0
        assert "rebuilt 1 video(s), 0 failed" in capsys.readouterr().out
        assert materialization_count(instance, "audio", failed) == 1  # untouched


def test_opt_in_automation_rebuilds_materialized_partitions_after_a_code_change(analysed_instance):
    base, key = build_definitions(model_specs={}), analysed_instance
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("videos", ["never_run-0123456789"])  # missing: not the automation's job

        first = evaluate_automation_conditions(with_auto_backfill(base), instance)
        assert first.total_requested == 0  # nothing changed since the first look

        changed = with_auto_backfill(with_new_code_version(base, "shots", "shots-v2"))
        second = evaluate_automation_conditions(changed, instance, cursor=first.cursor)
        # the changed asset and, in the same tick, its dependents (their parent is about to change)
        assert second.total_requested == len(SHOTS_AND_DOWNSTREAM)
        assert all(second.get_requested_partitions(k) == {key} for k in SHOTS_AND_DOWNSTREAM)

        assert run_partition(changed, instance, key, asset_selection=SHOTS_AND_DOWNSTREAM).success
        third = evaluate_automation_conditions(changed, instance, cursor=second.cursor)
        assert third.total_requested == 0  # rebuilt: no loop
        assert stale_assets_by_partition(changed.resolve_asset_graph(), instance) == {}


def test_auto_backfill_is_off_unless_enabled(monkeypatch):
    monkeypatch.delenv("VIDEO_TIMELINE_AUTO_BACKFILL", raising=False)
    graph = build_definitions(model_specs={}).resolve_asset_graph()
    assert all(graph.get(k).automation_condition is None for k in graph.get_all_asset_keys())
    monkeypatch.setenv("VIDEO_TIMELINE_AUTO_BACKFILL", "1")
    enabled = build_definitions(model_specs={})
    assert all(
        enabled.resolve_asset_graph().get(k).automation_condition is not None for k in graph.get_all_asset_keys()
    )
    assert enabled.resolve_sensor_def("rebuild_after_code_change").default_status.value == "RUNNING"
