"""Visual stage: shots and cuts, camera motion and picture statistics from the per-frame signals, and
objects over the sampled frames: by default NanoDet (Apache-2.0, shipped) with ByteTrack tracks reset at
cuts (`object_tracks`); a transformers detector instead when models.toml has an [objects] section.
$VIDEO_TIMELINE_OBJECT_DETECTOR picks the default path's detector (nanodet, or the AGPL-3.0 opt-in yolo11n)."""

import os
import time
from collections.abc import Mapping

import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition

from analyzers import camera_motion as camera_analyzer
from analyzers import object_detector
from analyzers import object_tracks as tracks_analyzer
from analyzers import objects as objects_analyzer
from analyzers import shots as shots_analyzer
from analyzers import visual_stats as visual_analyzer
from analyzers.progress import Progress
from analyzers.records import frame_events
from resources.heavy_models import HeavyModelRuntime
from resources.model_specs import ModelSpec
from video_assets.events import errors_are_final, event_asset, events_output, frames_path, model_metadata, probe_of
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

    @heavy_asset(
        spec,
        OBJECTS,
        f"{objects_analyzer.VERSION}-t{tracks_analyzer.VERSION}",
        ("objects", "object_tracks"),
        group=VISUAL_GROUP,
    )
    def objects(
        context: AssetExecutionContext,
        heavy_models: HeavyModelRuntime,
        video_probe: pd.DataFrame,
        sampled_frames,
        shots: pd.DataFrame,
    ):
        """Objects visible per second (a transformers detector) and their tracks (ByteTrack, reset at cuts);
        boxes in each event's detail."""
        from transformers import AutoModelForObjectDetection

        started, probe = time.perf_counter(), probe_of(video_probe)
        frames = frames_path(sampled_frames, context)
        with model_errors_are_final(spec), heavy_models.session(spec, log=context.log) as heavy:
            model = heavy.load_pretrained(AutoModelForObjectDetection)
            processor = objects_analyzer.load_processor(heavy.model_path)
            found = heavy.shrink_on_oom(
                lambda batch: objects_analyzer.detect_frames(
                    model, processor, frames, threshold, batch, Progress(context.log.info, "objects", probe.duration_s)
                ),
                first_batch,
                lambda batch, _exc: batch // 2 or None,
                lambda batch: f"{batch} frames per batch",
            )
        events = tracks_analyzer.track_detected(
            [(f.t, f.detections, f.reused) for f in found],
            frames,
            probe.duration_s,
            shots_analyzer.boundaries(frame_events(shots)),
            spec.model,
            sure=threshold,  # the user's threshold: every box it keeps is reported
        )
        return events_output(
            context, events, probe, started, threshold=threshold, model=spec.model, **session_metadata(heavy)
        )

    return objects


OBJECT_DETECTOR_ENV = "VIDEO_TIMELINE_OBJECT_DETECTOR"


def object_detector_name() -> str:
    return os.environ.get(OBJECT_DETECTOR_ENV, object_detector.DEFAULT_DETECTOR)


def build_tracked_objects_asset() -> AssetsDefinition:
    detector = object_detector_name()

    @event_asset(
        name=OBJECTS,
        group=VISUAL_GROUP,
        version=f"{tracks_analyzer.VERSION}-{detector}",
        aspects=("objects", "object_tracks"),
        metadata=model_metadata(detector, object_detector.LICENCES.get(detector, "unknown")),
    )
    def objects(
        context: AssetExecutionContext,
        video_probe: pd.DataFrame,
        sampled_frames,
        shots: pd.DataFrame,
    ):
        """Objects per second (COCO labels) and their tracks: NanoDet on the sampled frames, ByteTrack ids kept
        within a shot; one `object_track` row per track (label, id, first and last second, thumbnail)."""
        started, probe = time.perf_counter(), probe_of(video_probe)
        frames = frames_path(sampled_frames, context)
        cuts = shots_analyzer.boundaries(frame_events(shots))
        with errors_are_final(object_detector.DetectorUnavailable, prefix="objects: "):
            events = tracks_analyzer.analyze_object_tracks(
                frames, probe.duration_s, cuts, detector, progress=context.log.info
            )
        model = model_metadata(detector, object_detector.LICENCES[detector], object_detector.SOURCES[detector])
        table = ("object_track", "tracks", "track_table")
        return events_output(context, events, probe, started, table, **model)

    return objects


def stage_assets(specs: Mapping[str, ModelSpec]) -> list[AssetsDefinition]:
    objects = build_objects_asset(specs[OBJECTS]) if OBJECTS in specs else build_tracked_objects_asset()
    return [shots, camera_motion, visual_stats, objects]
