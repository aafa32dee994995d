"""Decode stage: the container facts, then one decode pass per stream; every later stage reads these."""

import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetOut, AssetsDefinition, DataVersion, Failure, Output, asset, multi_asset

from analyzers.decode import StreamDamage, decode_audio, decode_video, video_quality_events
from analyzers.fingerprint import content_fingerprint
from analyzers.frame_signals import VERSION as frame_signals_version
from analyzers.packets import spans_text
from analyzers.probe import MediaError, describe_track, probe_video
from analyzers.records import events_frame, per_second_spans
from resources.model_specs import ModelSpec
from resources.settings import AnalysisSettings
from resources.storage import TimelineStorage, UnknownVideoError
from video_assets.events import errors_are_final, probe_of
from video_assets.names import ASPECTS_KEY, CONTENT_SHA256, DECODE_GROUP, FILE_STORAGE, VIDEO_QUALITY
from video_assets.partitions import videos


# 2: a rest under 0.1 s after the last whole second joins it (records.TAIL_S), so the videos with one get
# fewer seconds; a cut Matroska file is told by its track's DURATION tag. Every asset downstream follows.
# Not raised for fixes that change few files' probes (non-square pixels, joined MPEG-TS, the audio track of a file
# with several): a backfill rebuilds everything downstream of a changed asset, for every video.
@asset(partitions_def=videos, group_name=DECODE_GROUP, code_version="2")
def video_probe(context: AssetExecutionContext, storage: TimelineStorage):
    """Container facts of the source video; fails clearly when the file is not a decodable video. Its data
    version is the file's content fingerprint, so a changed file is told from an unchanged one."""
    key = context.partition_key
    with errors_are_final(MediaError, UnknownVideoError):
        path = storage.source_path(key)
        probe = probe_video(path)
    # An OSError here (the file changed while hashed) is not the input's fault: a retry may succeed.
    fingerprint = content_fingerprint(path, known=storage.source_fingerprint(key))
    storage.record_fingerprint(key, fingerprint)
    track = probe.audio
    if len(probe.audio_streams) > 1:
        others = ", ".join(describe_track(a) for a in probe.audio_streams if a["index"] != track["index"])
        context.log.info(f"{len(probe.audio_streams)} audio tracks: analysing {describe_track(track)}; not {others}")
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
            "audio_track": describe_track(track) if track else "none",
        },
    )


def run_is_over(context: AssetExecutionContext) -> Callable[[str], bool]:
    """Whether a run id names a run of this instance that has ended: a temp file it left (its step failed
    after writing it, before the IO manager moved it) is then an orphan. Unknown runs and an unreachable
    database keep the file."""

    def over(run_id: str) -> bool:
        try:
            run = context.instance.get_run_by_id(run_id)
        except Exception:
            return False
        return run is not None and run.is_finished

    return over


def _run_temp_path(storage: TimelineStorage, asset: str, context: AssetExecutionContext) -> Path:
    """This run's temp file for `asset`; making it removes those of dead writers and ended runs."""
    return storage.temp_path(asset, context.partition_key, context.run.run_id, run_is_over(context))


def _into_temp_file(write, tmp: Path | None):
    """`write()` into a temp file (if any) that is removed on any failure; a bad input is a final Failure."""
    try:
        return write()
    except MediaError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise Failure(description=str(exc), allow_retries=False) from exc
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


@multi_asset(
    partitions_def=videos,
    group_name=DECODE_GROUP,
    can_subset=True,
    outs={
        "frame_signals": AssetOut(
            code_version=frame_signals_version,
            is_required=False,
            description="Cheap per-frame signals of every decoded frame.",
        ),
        "sampled_frames": AssetOut(
            code_version="1",
            is_required=False,
            metadata={FILE_STORAGE: True},
            description="RGB frames sampled at a fixed rate (JPEG in Parquet).",
        ),
        VIDEO_QUALITY: AssetOut(
            code_version="2",  # 2: seconds without a frame shown are marked (the picture starts late or ends early)
            is_required=False,
            # Read by the timeline like an event asset: it fills no contract column, but says per second how
            # much of the video decoded (less is left unanalysed) and how visible the picture is.
            metadata={ASPECTS_KEY: []},
            description="Per second: the share of the video stream that decoded, whether a frame is shown at "
            "all, and the picture's visibility.",
        ),
    },
)
def video_decode(
    context: AssetExecutionContext, storage: TimelineStorage, settings: AnalysisSettings, video_probe: pd.DataFrame
):
    """The single decode pass over the video stream (past packets the decoder rejects, as ffmpeg does)."""
    probe = probe_of(video_probe)
    selected = context.op_execution_context.selected_output_names
    # Frames are sampled only for an output that reads them, and JPEG-encoded only when their store is selected:
    # rebuilding frame_signals alone (a backfill after a change of the signals) samples none, video_quality
    # without the store measures the sampled frames' visibility and stores none.
    frames_tmp = _run_temp_path(storage, "sampled_frames", context) if "sampled_frames" in selected else None
    result = _into_temp_file(
        lambda: decode_video(
            probe,
            frames_tmp,
            sample_fps=settings.sample_fps,
            max_side=settings.frame_max_side,
            visibility=VIDEO_QUALITY in selected,
            progress=context.log.info,
        ),
        frames_tmp,
    )
    fps = result.decoded / result.seconds if result.seconds else 0.0
    context.log.info(
        f"decoded {result.decoded} frames in {result.seconds:.1f} s ({fps:.0f} fps), "
        f"sampled {len(result.visibility)} ({result.sampled} stored)"
    )
    if result.resets:
        context.log.warning(
            f"{probe.path}: the video's timestamps start again at {result.resets} place(s) (recordings joined, or a "
            "recorder restarted): each stretch is placed after the one before, as ffmpeg does"
        )
    if result.hdr:
        context.log.info(f"HDR video ({result.hdr}): its frames are analysed as an SDR display shows them")
    damage = {}
    if result.damage is not None:
        context.log.warning(result.damage.warning(Path(probe.path), "frames"))
        damage = damage_metadata(result.damage)
    shares = result.decoded_share(probe.duration_s)
    spans = per_second_spans(probe.duration_s)
    decoded_s = sum(share * (end - start) for share, (_, start, end) in zip(shares, spans))
    common = {"decode_passes": 1, "seconds_taken": round(result.seconds, 3), "hdr": result.hdr or "no"}
    if "frame_signals" in selected:
        yield Output(
            result.signals,
            "frame_signals",
            metadata={**common, "frames_decoded": result.decoded, "seconds_decoded": round(decoded_s, 3), **damage},
        )
    if "sampled_frames" in selected:
        yield Output(
            frames_tmp,
            "sampled_frames",
            metadata={**common, "frames_sampled": result.sampled, "sample_fps": settings.sample_fps},
        )
    if VIDEO_QUALITY in selected:
        events = video_quality_events(result, probe.duration_s)
        yield Output(
            events_frame(events, context.partition_key),
            VIDEO_QUALITY,
            metadata={"seconds_decoded": round(decoded_s, 3), **damage},
        )


def damage_metadata(damage: StreamDamage) -> dict:
    return {
        "packets_failed": damage.failed_packets,
        "seconds_lost": round(damage.lost_s, 3),
        "lost_at": spans_text(damage.lost) or "nothing",
        "decode_error": damage.error or "",
    }


@asset(partitions_def=videos, group_name=DECODE_GROUP, code_version="2", metadata={FILE_STORAGE: True})
def audio_pcm(context: AssetExecutionContext, storage: TimelineStorage, video_probe: pd.DataFrame):
    """The single decode pass over the audio track a viewer hears (see video_probe): 16 kHz mono, one row per
    second; none without audio.

    Past packets the decoder rejects, as ffmpeg does: the stretch that did not decode is marked lost in the
    store (its seconds are left unanalysed), the rest is analysed."""
    probe = probe_of(video_probe)
    if not probe.audio_streams:
        context.log.info("no audio stream: the video is analysed as silent")
        context.add_output_metadata({"audio_streams": 0})
        return None
    started = time.perf_counter()
    tmp = _run_temp_path(storage, "audio_pcm", context)
    result = _into_temp_file(lambda: decode_audio(probe, tmp), tmp)
    damage = {}
    if result.damage is not None:
        context.log.warning(result.damage.warning(Path(probe.path), "audio"))
        damage = damage_metadata(result.damage)
    context.add_output_metadata(
        {
            "seconds": result.seconds,
            "seconds_decoded": result.decoded_s,
            **damage,
            "decode_passes": 1,
            "seconds_taken": round(time.perf_counter() - started, 3),
        }
    )
    return tmp


def stage_assets(specs: Mapping[str, ModelSpec]) -> list[AssetsDefinition]:
    return [video_probe, video_decode, audio_pcm]
