"""The light graph: probe, one decode pass per stream, light analyzers. Each asset is a thin wrapper."""

import time

import pandas as pd
from dagster import AssetExecutionContext, AssetOut, Failure, Output, asset, multi_asset

from analyzers import audio as audio_analyzer
from analyzers import camera_motion as camera_analyzer
from analyzers import shots as shots_analyzer
from analyzers import visual_stats as visual_analyzer
from analyzers.decode import decode_audio, decode_video
from analyzers.probe import MediaError, VideoProbe, probe_video
from analyzers.records import events_frame, frame_events
from resources.settings import AnalysisSettings
from resources.storage import TimelineStorage, UnknownVideoError
from video_assets.io_manager import FILE_STORAGE
from video_assets.partitions import videos

DECODE_GROUP, ANALYSIS_GROUP = "decode", "analysis"


def probe_of(video_probe: pd.DataFrame) -> VideoProbe:
    return VideoProbe.from_row(video_probe.iloc[0].to_dict())


def events_output(context: AssetExecutionContext, events, probe: VideoProbe, started: float) -> Output:
    frame = events_frame(events, context.partition_key)
    seconds = frame["start_s"].floordiv(1).nunique() if len(frame) else 0
    return Output(
        frame,
        metadata={
            "rows": len(frame),
            "seconds_covered": int(seconds),
            "video_seconds": round(probe.duration_s, 3),
            "seconds_taken": round(time.perf_counter() - started, 3),
        },
    )


@asset(partitions_def=videos, group_name=DECODE_GROUP, code_version="1")
def video_probe(context: AssetExecutionContext, storage: TimelineStorage) -> pd.DataFrame:
    """Container facts of the source video; fails clearly when the file is not a decodable video."""
    try:
        path = storage.source_path(context.partition_key)
        probe = probe_video(path)
    except (MediaError, UnknownVideoError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
    context.add_output_metadata(
        {
            "file": str(path),
            "duration_s": round(probe.duration_s, 3),
            "fps": round(probe.fps, 3),
            "size": f"{probe.width}x{probe.height}",
            "rotation": probe.rotation,
            "codec": probe.video_codec,
            "audio_streams": len(probe.audio_streams),
        }
    )
    return pd.DataFrame([probe.as_row()])


@multi_asset(
    partitions_def=videos,
    group_name=DECODE_GROUP,
    outs={
        "frame_signals": AssetOut(code_version="1", description="Cheap per-frame signals of every decoded frame."),
        "sampled_frames": AssetOut(
            code_version="1",
            metadata={FILE_STORAGE: True},
            description="RGB frames sampled at a fixed rate (JPEG in Parquet).",
        ),
    },
)
def video_decode(
    context: AssetExecutionContext, storage: TimelineStorage, settings: AnalysisSettings, video_probe: pd.DataFrame
):
    """The single decode pass over the video stream."""
    probe = probe_of(video_probe)
    frames_tmp = storage.temp_path("sampled_frames", context.partition_key)
    try:
        result = decode_video(
            probe,
            frames_tmp,
            sample_fps=settings.sample_fps,
            max_side=settings.frame_max_side,
            progress=context.log.info,
        )
    except MediaError as exc:
        frames_tmp.unlink(missing_ok=True)
        raise Failure(description=str(exc), allow_retries=False) from exc
    except BaseException:
        frames_tmp.unlink(missing_ok=True)
        raise
    fps = result.decoded / result.seconds if result.seconds else 0.0
    context.log.info(
        f"decoded {result.decoded} frames in {result.seconds:.1f} s ({fps:.0f} fps), sampled {result.sampled}"
    )
    common = {"decode_passes": 1, "seconds_taken": round(result.seconds, 3)}
    yield Output(result.signals, "frame_signals", metadata={**common, "frames_decoded": result.decoded})
    yield Output(
        frames_tmp,
        "sampled_frames",
        metadata={**common, "frames_sampled": result.sampled, "sample_fps": settings.sample_fps},
    )


@asset(partitions_def=videos, group_name=DECODE_GROUP, code_version="1", metadata={FILE_STORAGE: True})
def audio_pcm(context: AssetExecutionContext, storage: TimelineStorage, video_probe: pd.DataFrame):
    """The single decode pass over the first audio stream: 16 kHz mono, one row per second; none without audio."""
    probe = probe_of(video_probe)
    if not probe.audio_streams:
        context.log.info("no audio stream: the video is analysed as silent")
        context.add_output_metadata({"audio_streams": 0})
        return None
    started = time.perf_counter()
    tmp = storage.temp_path("audio_pcm", context.partition_key)
    try:
        seconds = decode_audio(probe, tmp)
    except MediaError as exc:
        tmp.unlink(missing_ok=True)
        raise Failure(description=str(exc), allow_retries=False) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    context.add_output_metadata(
        {"seconds": seconds, "decode_passes": 1, "seconds_taken": round(time.perf_counter() - started, 3)}
    )
    return tmp


@asset(partitions_def=videos, group_name=ANALYSIS_GROUP, code_version=shots_analyzer.VERSION)
def shots(context: AssetExecutionContext, video_probe: pd.DataFrame, frame_signals: pd.DataFrame) -> Output:
    """Shot boundaries (hard cuts and fades) and the shot index of every second."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    events = shots_analyzer.analyze_shots(frame_signals, probe.fps, probe.duration_s)
    context.log.info(f"{sum(e.aspect == 'shot_boundary' for e in events)} shot boundaries")
    return events_output(context, events, probe, started)


@asset(partitions_def=videos, group_name=ANALYSIS_GROUP, code_version=camera_analyzer.VERSION)
def camera_motion(
    context: AssetExecutionContext, video_probe: pd.DataFrame, frame_signals: pd.DataFrame, shots: pd.DataFrame
) -> Output:
    """Camera motion label per second (static, pan, tilt, zoom, moving, unknown)."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    cuts = shots_analyzer.boundaries(frame_events(shots))
    return events_output(
        context, camera_analyzer.analyze_camera_motion(frame_signals, probe.duration_s, cuts), probe, started
    )


@asset(partitions_def=videos, group_name=ANALYSIS_GROUP, code_version=visual_analyzer.VERSION)
def visual_stats(context: AssetExecutionContext, video_probe: pd.DataFrame, frame_signals: pd.DataFrame) -> Output:
    """Brightness, saturation, sharpness, motion energy and dominant colour per second."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    return events_output(context, visual_analyzer.analyze_visual_stats(frame_signals, probe.duration_s), probe, started)


@asset(partitions_def=videos, group_name=ANALYSIS_GROUP, code_version=audio_analyzer.VERSION)
def audio(context: AssetExecutionContext, video_probe: pd.DataFrame, audio_pcm) -> Output:
    """Loudness (RMS dBFS) and speech activity (silero-vad) per second."""
    started, probe = time.perf_counter(), probe_of(video_probe)
    return events_output(context, audio_analyzer.analyze_audio(audio_pcm, probe.duration_s), probe, started)


# Event assets of the light graph and the timeline aspects each one fills.
LIGHT_EVENT_ASSETS = {
    "shots": ("shot", "cut"),
    "camera_motion": ("camera",),
    "visual_stats": (),
    "audio": ("speech", "loudness_db"),
}
LIGHT_ASSETS = [video_probe, video_decode, audio_pcm, shots, camera_motion, visual_stats, audio]
