"""Text and faces stage: on-screen text (PP-OCR with Tesseract's marked letters) and faces (RetinaFace) over
the sampled frames. Their models ship in wheels (and Debian's Tesseract language data) and run on the CPU,
so both assets are always in the graph."""

import os
import time
from collections.abc import Mapping

import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition

from analyzers import faces as faces_analyzer
from analyzers import ocr as ocr_analyzer
from analyzers import persons as persons_analyzer
from analyzers.records import frame_events
from resources.model_specs import ModelSpec
from video_assets.events import errors_are_final, event_asset, events_output, frames_path, model_metadata, probe_of
from video_assets.names import TEXT_FACES_GROUP


def _ocr_version() -> str:
    """The OCR code version with its languages, so configuring other languages marks screen_text stale."""
    try:
        return f"{ocr_analyzer.VERSION}-{ocr_analyzer.ocr_languages()}"
    except ocr_analyzer.OcrSetupError:
        return f"{ocr_analyzer.VERSION}-invalid-languages"  # the step fails with the reason


@event_asset(name="screen_text", group=TEXT_FACES_GROUP, version=_ocr_version(), aspects=("text",))
def screen_text(context: AssetExecutionContext, video_probe: pd.DataFrame, sampled_frames):
    """On-screen text per second: PP-OCRv4 (rapidocr wheel) with the marked letters Tesseract reads in the
    configured languages ($VIDEO_TIMELINE_OCR_LANGUAGES, default deu+eng); boxes in each event's detail."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    frames = frames_path(sampled_frames, context)
    with errors_are_final(ocr_analyzer.OcrSetupError, prefix="screen_text: "):
        reader, runtime = ocr_analyzer.default_reader(), ocr_analyzer.ocr_runtime()
        ocr_analyzer.ocr_engine()  # loaded once per process (often already, by the warm-up thread)
    events = ocr_analyzer.analyze_text(frames, probe.duration_s, progress=context.log.info, reader=reader)
    read = sum(e.detail["frames_read"] for e in events)
    source = ocr_analyzer.source_of("combined", reader)
    return events_output(
        context, events, probe, started, frames_read=read, source=source, languages=reader.languages, runtime=runtime
    )


@event_asset(group=TEXT_FACES_GROUP, version=faces_analyzer.VERSION, aspects=("faces",))
def faces(context: AssetExecutionContext, video_probe: pd.DataFrame, sampled_frames):
    """Faces visible per second (RetinaFace, frontal to near-profile); boxes and scores in each event's detail."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    frames = frames_path(sampled_frames, context)
    events = faces_analyzer.analyze_faces(frames, probe.duration_s, progress=context.log.info)
    detected = sum(e.detail["frames_detected"] for e in events)
    detector = faces_analyzer.DETECTOR
    model = model_metadata(detector, faces_analyzer.LICENCES[detector], faces_analyzer.SOURCE)
    return events_output(context, events, probe, started, frames_detected=detected, **model)


FACE_EMBEDDER_ENV = "VIDEO_TIMELINE_FACE_EMBEDDER"


def build_persons_asset() -> AssetsDefinition:
    embedder = os.environ.get(FACE_EMBEDDER_ENV, persons_analyzer.DEFAULT_EMBEDDER)

    @event_asset(
        name="persons",
        group=TEXT_FACES_GROUP,
        version=f"{persons_analyzer.VERSION}-{embedder}",
        aspects=("persons",),
        metadata=model_metadata(embedder, persons_analyzer.LICENCES.get(embedder, "unknown")),
    )
    def persons(context: AssetExecutionContext, video_probe: pd.DataFrame, sampled_frames, faces: pd.DataFrame):
        """The same person recognised: every counted face embedded (dlib ResNet by default) and clustered over
        the video into person ids; per second the ids on screen, one `person` row per person (seconds on
        screen, first and last second, thumbnail)."""
        started, probe = time.perf_counter(), probe_of(video_probe)
        frames = frames_path(sampled_frames, context)
        with errors_are_final(persons_analyzer.EmbedderUnavailable, prefix="persons: "):
            events = persons_analyzer.analyze_persons(
                frames, frame_events(faces), probe.duration_s, embedder, progress=context.log.info
            )
        model = model_metadata(embedder, persons_analyzer.LICENCES[embedder], persons_analyzer.SOURCES[embedder])
        return events_output(context, events, probe, started, ("person", "persons", "person_table"), **model)

    return persons


def stage_assets(specs: Mapping[str, ModelSpec]) -> list[AssetsDefinition]:
    return [screen_text, faces, build_persons_asset()]
