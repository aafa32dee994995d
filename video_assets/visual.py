"""Visual stage: shots and cuts, camera motion and picture statistics from the per-frame signals, and
objects from a detector over the sampled frames (only when models.toml has an [objects] section: no
detector weights ship, so without it the timeline's `objects` column stays null, not analysed)."""

import time
from collections.abc import Mapping

import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition

from analyzers import camera_motion as camera_analyzer
from analyzers import objects as objects_analyzer
from analyzers import shots as shots_analyzer
from analyzers import visual_stats as visual_analyzer
from analyzers.records import frame_events
from resources.heavy_models import HeavyModelRuntime
from resources.model_specs import ModelSpec
from video_assets.events import event_asset, events_output, frames_path, probe_of
from video_assets.heavy import check_options, heavy_asset, model_errors_are_final, session_metadata
from video_assets.names import VISUAL_GROUP

OBJECTS = "objects"  # models.toml section and asset name
OBJECTS_OPTIONS = {"threshold", "batch_size"}


@event_asset(group=VISUAL_GROUP, version=shots_analyzer.VERSION, aspects=("shot", "cut"))
def shots(context: AssetExecutionContext, video_probe: pd.DataFrame, frame_signals: pd.DataFrame):
    """Shot boundaries (hard cuts and fades) and the shot index of every second."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    events = shots_analyzer.analyze_shots(frame_signals, probe.fps, probe.duration_s)
    context.log.info(f"{sum(e.aspect == 'shot_boundary' for e in events)} shot boundaries")
    return events_output(context, events, probe, started)


@event_asset(group=VISUAL_GROUP, version=camera_analyzer.VERSION, aspects=("camera",))
def camera_motion(
    context: AssetExecutionContext, video_probe: pd.DataFrame, frame_signals: pd.DataFrame, shots: pd.DataFrame
):
    """Camera motion label per second (static, pan, tilt, zoom, moving, unknown)."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    cuts = shots_analyzer.boundaries(frame_events(shots))
    events = camera_analyzer.analyze_camera_motion(frame_signals, probe.duration_s, cuts)
    return events_output(context, events, probe, started)


@event_asset(group=VISUAL_GROUP, version=visual_analyzer.VERSION, aspects=())
def visual_stats(context: AssetExecutionContext, video_probe: pd.DataFrame, frame_signals: pd.DataFrame):
    """Brightness, saturation, sharpness, motion energy and dominant colour per second."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    return events_output(context, visual_analyzer.analyze_visual_stats(frame_signals, probe.duration_s), probe, started)


def build_objects_asset(spec: ModelSpec) -> AssetsDefinition:
    check_options(spec, OBJECTS_OPTIONS)
    threshold = float(spec.options.get("threshold", objects_analyzer.DEFAULT_THRESHOLD))
    first_batch = int(spec.options.get("batch_size", objects_analyzer.DEFAULT_BATCH))

    @heavy_asset(spec, OBJECTS, objects_analyzer.VERSION, ("objects",), group=VISUAL_GROUP)
    def objects(
        context: AssetExecutionContext, heavy_models: HeavyModelRuntime, video_probe: pd.DataFrame, sampled_frames
    ):
        """Objects visible per second (a transformers detector); boxes in each event's detail."""
        from transformers import AutoModelForObjectDetection

        started, probe = time.perf_counter(), probe_of(video_probe)
        frames = frames_path(sampled_frames, context)
        with model_errors_are_final(spec), heavy_models.session(spec, log=context.log) as heavy:
            model = heavy.load_pretrained(AutoModelForObjectDetection)
            processor = objects_analyzer.load_processor(heavy.model_path)
            events = heavy.shrink_on_oom(
                lambda batch: objects_analyzer.analyze_objects(
                    model, processor, frames, probe.duration_s, spec.model, threshold, batch, progress=context.log.info
                ),
                first_batch,
                lambda batch, _exc: batch // 2 or None,
                lambda batch: f"{batch} frames per batch",
            )
        return events_output(
            context, events, probe, started, threshold=threshold, model=spec.model, **session_metadata(heavy)
        )

    return objects


def stage_assets(specs: Mapping[str, ModelSpec]) -> list[AssetsDefinition]:
    heavy = [build_objects_asset(specs[OBJECTS])] if OBJECTS in specs else []
    return [shots, camera_motion, visual_stats, *heavy]
