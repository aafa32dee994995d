"""The probe step says which audio track of a file with several is analysed, in its log and its metadata."""

import pytest
from dagster import AssetKey, DagsterInstance

from support.media_factory import tone_tracks
from video_assets.definitions import build_definitions
from video_assets.runs import analyze_file

pytestmark = pytest.mark.slow


def _probe_step(instance_home, path):
    defs = build_definitions(data_root=instance_home["VIDEO_TIMELINE_DATA"], model_specs={})
    with DagsterInstance.get() as instance:
        run = analyze_file(defs, instance, path, asset_selection=[AssetKey("video_probe"), AssetKey("audio_pcm")])
        assert run.success, run.failure
        [probed] = instance.fetch_materializations(AssetKey("video_probe"), limit=1).records
        messages = [e.user_message for e in instance.all_logs(run.run_id)]
    return probed.asset_materialization.metadata, messages


def test_a_description_track_listed_first_is_named_and_left_out(instance_home, tmp_path):
    path = tone_tracks(tmp_path / "broadcast.ts", [("visual_impaired", "deu"), ("0", "deu")])
    metadata, messages = _probe_step(instance_home, path)
    assert metadata["audio_track"].value == "#2 (deu)"
    assert any(
        m.endswith("2 audio tracks: analysing #2 (deu); not #1 (deu, visual_impaired, descriptions)") for m in messages
    )


def test_a_default_first_track_is_named_with_the_track_left_out(instance_home, tmp_path):
    path = tone_tracks(tmp_path / "film.mkv", [("default", "deu"), ("0", "eng")])
    metadata, messages = _probe_step(instance_home, path)
    assert metadata["audio_track"].value == "#1 (deu, default)"
    assert any(m.endswith("2 audio tracks: analysing #1 (deu, default); not #2 (eng)") for m in messages)
