"""The perception assets in the whole graph on a tiny video with a caption, a real face and speech;
objects through the heavy-model runtime with a tiny random RT-DETR configured in the model specs."""

import re

import pytest
import torch
from dagster import DagsterInstance

from analyzers import frame_cache
from analyzers import transcript as transcript_analyzer
from resources.model_specs import ModelSpec, ModelSpecError
from support.media_factory import caption, face_photo, paste, place, speech, texture, tiny_object_detector, write_video
from support.words import word_error_rate
from video_assets import audio, text_faces, visual
from video_assets.definitions import build_definitions
from video_assets.events import aspects_by_asset
from video_assets.runs import analyze_file, deliberate_failure, run_events

TEXT_ASSET, FACES_ASSET, TRANSCRIPT_ASSET, OBJECTS_ASSET = "screen_text", "faces", "transcript", "objects"

pytestmark = pytest.mark.slow

SAID = "Please open the red door and close the window."


@pytest.fixture(scope="module")
def perception_clip(tmp_path_factory):
    """4 s, 320x180 at 10 fps: a caption for 2 s, then a face photo for 2 s; speech from 0.3 s."""
    card = caption("Exit only")
    face = paste(texture(2, 320, 180), face_photo(), 180, 10, 160)
    frames = [card] * 20 + [face] * 20
    audio = place(4, [(0.3, speech(SAID))])
    return write_video(tmp_path_factory.mktemp("perception") / "perception.mp4", frames, 10, audio=audio)


def _run(defs, clip):
    with DagsterInstance.get() as instance:
        run = analyze_file(defs, instance, clip)
        assert run.success, run.failure
        timeline = run.result.output_for_node("timeline")
        records = {
            name: instance.get_latest_materialization_event(
                defs.get_assets_def(name).key
            ).asset_materialization.metadata
            for name in (TEXT_ASSET, FACES_ASSET, TRANSCRIPT_ASSET, OBJECTS_ASSET)
        }
    return timeline, records


def test_the_graph_fills_text_faces_transcript_and_objects(perception_clip, instance_home, tmp_path, monkeypatch):
    detector = tiny_object_detector(tmp_path / "rtdetr")
    specs = {"objects": ModelSpec(name="objects", model=str(detector), options={"threshold": 0.0, "batch_size": 4})}
    defs = build_definitions(data_root=instance_home["VIDEO_TIMELINE_DATA"], model_specs=specs)
    kept_when_transcribing, heard = [], transcript_analyzer.speech_heard

    def speech_heard(*args, **kwargs):  # the frames the frame models shared are let go before the transcript
        kept_when_transcribing.append(frame_cache.kept_bytes())
        return heard(*args, **kwargs)

    monkeypatch.setattr(transcript_analyzer, "speech_heard", speech_heard)
    timeline, meta = _run(defs, perception_clip)
    assert kept_when_transcribing == [0]
    assert len(timeline) == 4
    assert [[t.casefold().replace(" ", "") for t in v] for v in timeline["text"]] == [
        ["exitonly"],
        ["exitonly"],
        [],
        [],
    ]
    assert timeline["faces"].tolist() == [0, 0, 1, 1]
    heard = " ".join(timeline["transcript"])
    assert word_error_rate(SAID, heard) <= 1 / 9, heard  # at most one of the nine words misheard
    assert all(len(labels) and set(labels) <= {"cat", "cup", "rocket"} for labels in timeline["objects"])
    assert timeline["coverage"].tolist() == [1.0] * 4  # every contract column analysed
    described = timeline["description"][0]
    assert "on screen:" in described and "no face visible" in described and "objects:" in described
    assert "1 face visible" in timeline["description"][2]
    assert any("speech:" in d for d in timeline["description"])
    # 2 pictures in 8 sampled frames: each read once, maybe twice (the encoder sharpens a picture a few
    # frames after a cut, which can change it by more than re-encoding noise)
    assert 2 <= meta[TEXT_ASSET]["frames_read"].value <= 4 and 2 <= meta[FACES_ASSET]["frames_detected"].value <= 4
    assert meta[TEXT_ASSET]["runtime"].value == "openvino"  # installed with the project: the default
    # the runtime's default device: the first GPU where CUDA is present, else the CPU
    assert meta[OBJECTS_ASSET]["device"].value == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert meta[OBJECTS_ASSET]["load_s"].value > 0
    assert meta[TRANSCRIPT_ASSET]["words"].value >= 6
    spoken = [lang for lang, said in zip(timeline["language"], timeline["transcript"]) if said]
    assert spoken and set(spoken) == {"en"} and meta[TRANSCRIPT_ASSET]["language"].value == "en"
    assert meta[TRANSCRIPT_ASSET]["model"].value == "bundled:whisper-base"  # the multilingual default
    assert meta[TRANSCRIPT_ASSET]["model_licence"].value == "MIT"
    # CTranslate2's own precision, not a torch dtype: int8 on the CPU, float16 on CUDA (analyzers.transcript)
    assert meta[TRANSCRIPT_ASSET]["dtype"].value.startswith("float16" if torch.cuda.is_available() else "int8")


def test_without_an_objects_spec_the_shipped_detector_and_face_embedder_are_the_defaults(tmp_path):
    perception = [*text_faces.stage_assets({}), *audio.stage_assets({}), *visual.stage_assets({})]
    assert aspects_by_asset(perception) == {
        "audio": ("speech", "loudness_db"),
        "sound_events": ("sounds",),
        "speakers": ("speakers",),
        TEXT_ASSET: ("text",),
        FACES_ASSET: ("faces",),
        "persons": ("persons",),
        TRANSCRIPT_ASSET: ("transcript", "language"),
        "shots": ("shot", "cut"),
        "camera_motion": ("camera",),
        "visual_stats": (),
        OBJECTS_ASSET: ("objects", "object_tracks"),
    }
    defs = build_definitions(data_root=str(tmp_path), model_specs={})
    objects = defs.get_assets_def(OBJECTS_ASSET)
    meta = next(iter(objects.specs)).metadata
    assert meta["model"] == "nanodet" and meta["model_licence"].startswith("Apache-2.0")
    assert "gpu" not in str(objects.op.tags)  # no heavy-model pool: it runs with the light assets
    persons_meta = next(iter(defs.get_assets_def("persons").specs)).metadata
    assert persons_meta["model"] == "dlib" and persons_meta["model_licence"].startswith("CC0-1.0")
    for name in ("sound_events", "speakers"):  # every model-backed asset names its licence under one key
        assert next(iter(defs.get_assets_def(name).specs)).metadata["model_licence"] == "Apache-2.0"
    inputs = {k.to_user_string() for k in defs.get_assets_def("timeline").dependency_keys}
    assert {TEXT_ASSET, FACES_ASSET, TRANSCRIPT_ASSET, OBJECTS_ASSET, "persons"} <= inputs


def test_a_changed_transcribe_spec_changes_the_code_version_and_bad_options_are_refused(tmp_path):
    def version(spec):
        return audio.build_transcript_asset(spec).code_versions_by_key.popitem()[1]

    bundled = ModelSpec(name="transcribe", model="bundled:whisper-tiny.en")
    assert version(bundled) != version(
        ModelSpec(name="transcribe", model="bundled:whisper-tiny.en", options={"beam_size": 5})
    )
    with pytest.raises(ModelSpecError, match=r"\[objects.options\]: unknown keys treshold"):
        visual.stage_assets({"objects": ModelSpec(name="objects", model=str(tmp_path), options={"treshold": 0.3})})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"languages": ["de", "xx"]}, r"\[transcribe.options\]: languages: 'xx' not among Whisper's language codes"),
        ({"languages": ["de"], "language": "de"}, r"\[transcribe.options\]: give `language` \(one\) or `languages`"),
    ],
)
def test_the_transcribe_languages_option_is_checked_when_the_definitions_load(options, message):

    with pytest.raises(ModelSpecError, match=message):
        audio.build_transcript_asset(ModelSpec(name="transcribe", model="bundled:whisper-base", options=options))


def test_a_transcribe_folder_that_is_not_a_whisper_model_fails_the_step_naming_it(
    perception_clip, instance_home, tmp_path
):
    (tmp_path / "not_whisper").mkdir()
    specs = {"transcribe": ModelSpec(name="transcribe", model=str(tmp_path / "not_whisper"))}
    defs = build_definitions(data_root=instance_home["VIDEO_TIMELINE_DATA"], model_specs=specs)
    selection = [defs.get_assets_def(name).key for name in ("video_probe", "audio_pcm", TRANSCRIPT_ASSET)]
    with DagsterInstance.get() as instance:
        run = analyze_file(defs, instance, perception_clip, asset_selection=selection)
    failure = next(e for e in run.result.all_events if e.event_type_value == "STEP_FAILURE")
    assert re.search(
        rf"\[transcribe\].*{tmp_path / 'not_whisper'}.*missing model.bin", failure.event_specific_data.error.message
    )


def test_a_video_without_audio_is_transcribed_as_silent_without_loading_a_model(silent_clip, instance_home):
    defs = build_definitions(data_root=instance_home["VIDEO_TIMELINE_DATA"], model_specs={})
    selection = [defs.get_assets_def(name).key for name in ("video_probe", "audio_pcm", TRANSCRIPT_ASSET)]
    with DagsterInstance.get() as instance:
        run = analyze_file(defs, instance, silent_clip, asset_selection=selection)
        assert run.success, run.failure
        meta = instance.get_latest_materialization_event(selection[-1]).asset_materialization.metadata
    events = run.result.output_for_node(TRANSCRIPT_ASSET)
    for aspect in ("transcript", "language"):
        rows = events[events["aspect"] == aspect]
        assert rows["start_s"].tolist() == [0.0, 1.0, 2.0, 3.0] and set(rows["value"]) == {'""'}
    assert meta["words"].value == 0 and meta["language"].value == "" and "load_s" not in meta


def test_missing_detector_weights_fail_once_naming_the_model_and_are_not_retried(
    perception_clip, instance_home, tmp_path
):
    from dagster import AssetKey, build_sensor_context

    from resources.settings import OperationsSettings
    from video_assets.sensors import retry_failed_sensor

    missing = tmp_path / "no_such_detector"
    defs = build_definitions(
        data_root=instance_home["VIDEO_TIMELINE_DATA"],
        model_specs={"objects": ModelSpec(name="objects", model=str(missing))},
    )
    selection = [AssetKey(name) for name in ("video_probe", "frame_signals", "sampled_frames", "shots", OBJECTS_ASSET)]
    with DagsterInstance.get() as instance:
        run = analyze_file(defs, instance, perception_clip, asset_selection=selection)
        assert not run.success
        reason = deliberate_failure(run_events(instance, run.run_id))
        assert run.failure == reason
        assert (
            reason
            and "models.toml [objects]" in reason
            and str(missing) in reason
            and f"step {OBJECTS_ASSET}" in reason
        )
        retry = retry_failed_sensor(
            build_sensor_context(instance=instance, resources={"operations": OperationsSettings()})
        )
        assert retry.run_requests == []
