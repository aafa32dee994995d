"""The sound event and speaker assets in the default graph: timeline columns, metadata, transcript speaker ids."""

import json

import pytest
from dagster import AssetKey, DagsterInstance

from analyzers.sound_events import SPEECH_LABELS
from analyzers.timeline import CONTRACT_ASPECTS
from support.clips import SPEECH_AT, TONE_AT
from video_assets.definitions import build_definitions
from video_assets.runs import analyze_file

pytestmark = pytest.mark.slow


def test_the_default_graph_fills_sounds_and_speakers_and_the_transcript_names_the_speaker(clip, instance_home):
    defs = build_definitions(data_root=instance_home["VIDEO_TIMELINE_DATA"])
    with DagsterInstance.get() as instance:
        run = analyze_file(defs, instance, clip)
        assert run.success, run.failure
        timeline = run.result.output_for_node("timeline")
        meta = {
            name: instance.get_latest_materialization_event(AssetKey(name)).asset_materialization.metadata
            for name in ("sound_events", "speakers", "transcript")
        }
        said_in_log = step_messages(instance, run.run_id, "sound_events")
    assert {"sounds", "speakers"} <= set(CONTRACT_ASPECTS)
    sounds = {int(r.second): [x["label"] for x in r.sounds] for r in timeline.itertuples()}
    spoken = range(int(SPEECH_AT[0]) + 1, int(SPEECH_AT[0]) + 3)
    assert all(SPEECH_LABELS & set(sounds[s]) for s in spoken)
    tone_seconds = range(int(TONE_AT[0]), int(TONE_AT[0] + TONE_AT[1]))
    assert all(not SPEECH_LABELS & set(sounds[s]) for s in tone_seconds)
    assert all(sounds[s] for s in tone_seconds)  # a 440 Hz tone is a sound (YAMNet: sine wave, hum ...)
    who = {int(r.second): list(r.speakers) for r in timeline.itertuples()}
    assert all(who[s] == ["S1"] for s in spoken) and all(who[s] == [] for s in tone_seconds)
    assert meta["speakers"]["speakers"].value == 1
    assert meta["speakers"]["model_licence"].value == "Apache-2.0"
    assert meta["sound_events"]["model_licence"].value == "Apache-2.0"
    agreement = meta["sound_events"]["speech_agreement_with_vad"].value
    assert 0.7 <= agreement <= 1.0
    assert f"speech agrees with voice activity on {agreement:.0%} of the seconds analysed by both" in said_in_log
    confidence = {int(r.second): r.confidence for r in timeline.itertuples()}
    assert all(0 < confidence[s]["sounds"] <= 1 and 0 < confidence[s]["speakers"] <= 1 for s in spoken)
    transcript = run.result.output_for_node("transcript")
    said = [json.loads(d) for a, d in zip(transcript["aspect"], transcript["detail"]) if a == "transcript"]
    words = [w for d in said for w in d["words"]]
    assert words and all(w["speaker"] == "S1" for w in words)


def test_without_audio_the_speech_agreement_is_recorded_as_not_measured(silent_clip, instance_home):
    defs = build_definitions(data_root=instance_home["VIDEO_TIMELINE_DATA"])
    with DagsterInstance.get() as instance:
        run = analyze_file(defs, instance, silent_clip, asset_selection=SOUND_STEPS)
        assert run.success, run.failure
        meta = instance.get_latest_materialization_event(AssetKey("sound_events")).asset_materialization.metadata
        said_in_log = step_messages(instance, run.run_id, "sound_events")
    assert meta["speech_agreement_with_vad"].value == -1.0
    assert "speech vs voice activity: no second analysed by both (no audio, or none that decoded)" in said_in_log


SOUND_STEPS = [AssetKey(name) for name in ("video_probe", "audio_pcm", "audio", "sound_events")]


def step_messages(instance, run_id: str, step: str) -> list[str]:
    """The plain log lines (context.log) a step wrote in a run."""
    return [r.user_message for r in instance.all_logs(run_id) if r.step_key == step and r.dagster_event is None]
