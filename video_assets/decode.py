"""Decode stage: the container facts, then one decode pass per stream; every later stage reads these."""

import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetOut, AssetsDefinition, DataVersion, Failure, Output, asset, multi_asset

from analyzers.decode import decode_audio, decode_video
from analyzers.fingerprint import content_fingerprint
from analyzers.probe import MediaError, probe_video
from resources.model_specs import ModelSpec
from resources.settings import AnalysisSettings
from resources.storage import TimelineStorage, UnknownVideoError
from video_assets.events import probe_of
from video_assets.names import CONTENT_SHA256, DECODE_GROUP, FILE_STORAGE
from video_assets.partitions import videos


@asset(partitions_def=videos, group_name=DECODE_GROUP, code_version="1")
def video_probe(context: AssetExecutionContext, storage: TimelineStorage):
    """Container facts of the source video; fails clearly when the file is not a decodable video. Its data
    version is the file's content fingerprint, so a changed file is told from an unchanged one."""
    key = context.partition_key
    try:
        path = storage.source_path(key)
        probe = probe_video(path)
    except (MediaError, UnknownVideoError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
    # An OSError here (the file changed while hashed) is not the input's fault: a retry may succeed.
    fingerprint = content_fingerprint(path, known=storage.source_fingerprint(key))
    storage.record_fingerprint(key, fingerprint)
    return Output(
        pd.DataFrame([probe.as_row()]),
        data_version=DataVersion(fingerprint["sha256"]),
        metadata={
            "file": str(path),
            CONTENT_SHA256: fingerprint["sha256"],
            "duration_s": round(probe.duration_s, 3),
            "fps": round(probe.fps, 3),
            "size": f"{probe.width}x{probe.height}",
            "rotation": probe.rotation,
            "codec": probe.video_codec,
            "audio_streams": len(probe.audio_streams),
        },
    )


def _into_temp_file(write, tmp: Path):
    """`write()` into a temp file that is removed on any failure; a bad input is a final Failure."""
    try:
        return write()
    except MediaError as exc:
        tmp.unlink(missing_ok=True)
        raise Failure(description=str(exc), allow_retries=False) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    result = _into_temp_file(
        lambda: decode_video(
            probe,
            frames_tmp,
            sample_fps=settings.sample_fps,
            max_side=settings.frame_max_side,
            progress=context.log.info,
        ),
        frames_tmp,
    )
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
    seconds = _into_temp_file(lambda: decode_audio(probe, tmp), tmp)
    context.add_output_metadata(
        {"seconds": seconds, "decode_passes": 1, "seconds_taken": round(time.perf_counter() - started, 3)}
    )
    return tmp


def stage_assets(specs: Mapping[str, ModelSpec]) -> list[AssetsDefinition]:
    return [video_probe, video_decode, audio_pcm]
