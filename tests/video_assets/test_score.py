"""The reconstruction score measures what it says, through the whole default graph: a clip scores below 1
while its descriptions are composed, and lower again when its picture is downscaled and blurred or its
audio is removed. The number the check records is the one the timeline's metadata shows."""

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from support.media_factory import Shot, ffmpeg, place, render_shots, speech, write_video
from video_assets.definitions import build_definitions
from video_assets.runs import analyze_file, recorded_score, recorded_score_metadata

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """4 s, 320x180 at 10 fps, two shots and a spoken sentence; the same clip downscaled to 80x44 and blurred;
    the same clip without its audio stream."""
    folder = tmp_path_factory.mktemp("score")
    audio = place(4, [(0.5, speech("Hello there, how are you today?"))])
    frames = render_shots([Shot(2, 1, pan_px_s=40), Shot(2, 2)], 320, 180, 10)
    intact = write_video(folder / "intact.mp4", frames, 10, audio=audio)
    degraded, silent = folder / "degraded.mp4", folder / "silent.mp4"
    ffmpeg("-i", str(intact), "-vf", "scale=80:-2,gblur=sigma=1.5", "-c:v", "libx264", "-preset", "ultrafast",
           "-c:a", "copy", str(degraded))  # fmt: skip
    ffmpeg("-i", str(intact), "-c", "copy", "-an", str(silent))
    return {"intact": intact, "degraded": degraded, "silent": silent}


def timeline_metadata(instance, key: str) -> dict:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("timeline"), asset_partitions=[key]), limit=1
    ).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def test_the_score_falls_when_the_clip_is_degraded_and_is_below_1_with_composed_descriptions(variants, instance_home):
    defs = build_definitions(data_root=instance_home["VIDEO_TIMELINE_DATA"])
    recorded = {}
    with DagsterInstance.get() as instance:
        for name, path in variants.items():
            run = analyze_file(defs, instance, path)
            assert run.success, run.failure
            recorded[name] = recorded_score_metadata(instance, run.key)
            assert recorded[name]["score"] == recorded_score(instance, run.key)
            shown = timeline_metadata(instance, run.key)  # what the UI shows on the timeline
            assert shown["reconstruction_score"] == recorded[name]["score"]
            assert shown["coverage"] == recorded[name]["coverage"]
            assert f"**Reconstruction score {recorded[name]['score']:.3f}**" in shown["score_breakdown"]
    intact, degraded, silent = recorded["intact"], recorded["degraded"], recorded["silent"]
    # composed descriptions fill the column but count 0, so even the intact clip is below 1
    assert intact["score_description"] == 0.0 and intact["coverage_description"] == 1.0
    assert intact["score"] < 1.0 and "description 0.00 (derived 100%)" in intact["below_1"]
    # a smaller, blurred picture: "no face" and "no text" are weaker evidence
    assert degraded["score"] < intact["score"] - 0.03
    assert degraded["score_faces"] < 0.5 * intact["score_faces"]
    assert degraded["score_text"] < 0.5 * intact["score_text"]
    # no audio stream: the audio columns hold silence (analysed, coverage 1) but nothing was heard (score 0)
    assert silent["score"] < intact["score"] - 0.2
    for aspect in ("speech", "loudness_db", "transcript"):
        assert silent[f"coverage_{aspect}"] == 1.0 and silent[f"score_{aspect}"] == 0.0
        assert intact[f"score_{aspect}"] > 0.5
