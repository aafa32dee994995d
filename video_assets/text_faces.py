"""Text and faces stage: on-screen text (PP-OCR) and faces (RetinaFace) over the sampled frames.
Both models ship in their wheels and run on the CPU, so both assets are always in the graph."""

import time
from collections.abc import Mapping

import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition

from analyzers import faces as faces_analyzer
from analyzers import ocr as ocr_analyzer
from resources.model_specs import ModelSpec
from video_assets.events import event_asset, events_output, frames_path, probe_of
from video_assets.names import TEXT_FACES_GROUP


@event_asset(name="screen_text", group=TEXT_FACES_GROUP, version=ocr_analyzer.VERSION, aspects=("text",))
def screen_text(context: AssetExecutionContext, video_probe: pd.DataFrame, sampled_frames):
    """On-screen text per second (PP-OCRv4 from the rapidocr wheel); boxes in each event's detail."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    frames = frames_path(sampled_frames, context)
    events = ocr_analyzer.analyze_text(frames, probe.duration_s, progress=context.log.info)
    read = sum(e.detail["frames_read"] for e in events)
    return events_output(context, events, probe, started, frames_read=read, source=ocr_analyzer.SOURCE)


@event_asset(group=TEXT_FACES_GROUP, version=faces_analyzer.VERSION, aspects=("faces",))
def faces(context: AssetExecutionContext, video_probe: pd.DataFrame, sampled_frames):
    """Faces visible per second (RetinaFace, frontal to near-profile); boxes and scores in each event's detail."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    frames = frames_path(sampled_frames, context)
    events = faces_analyzer.analyze_faces(frames, probe.duration_s, progress=context.log.info)
    detected = sum(e.detail["frames_detected"] for e in events)
    licence = faces_analyzer.LICENCES[faces_analyzer.DETECTOR]
    return events_output(
        context, events, probe, started, frames_detected=detected, source=faces_analyzer.SOURCE, licence=licence
    )


def stage_assets(specs: Mapping[str, ModelSpec]) -> list[AssetsDefinition]:
    return [screen_text, faces]
