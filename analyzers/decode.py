"""Decoding: one pass over the video stream, one pass over the audio stream.

The video pass yields everything the visual analyzers need, so no analyzer decodes again: the
per-frame signals of every frame (analyzers/frame_signals.py) and sampled RGB frames at a fixed
rate, streamed into a frame store for the frame models. The audio pass resamples the first audio
stream to 16 kHz mono (any layout, 5.1 included) and streams it to an audio store.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
from av.video.reformatter import VideoReformatter

from analyzers.audio_store import AUDIO_RATE, AudioStoreWriter
from analyzers.frame_signals import SIGNAL_WIDTH, FrameSignals
from analyzers.frames import FrameStoreWriter, SampledFrame
from analyzers.probe import MediaError, VideoProbe, clock_origin, declared_end, open_media
from analyzers.progress import Progress, Say

log = logging.getLogger(__name__)

# Frames may end this much before the video stream's declared end (edit lists, a damaged last GOP);
# beyond it (or 2 % of the length) the file counts as truncated rather than silently shortened.
TRUNCATION_TOLERANCE_S = 1.0


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    # PyAV reports the display matrix angle counter-clockwise-positive, as ffmpeg does.
    if rotation == 90:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    if rotation == 180:
        return cv2.rotate(image, cv2.ROTATE_180)
    if rotation == 270:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    return image


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


@dataclass
class DecodeResult:
    signals: pd.DataFrame  # one row per decoded frame (analyzers.frame_signals.METRIC_KEYS)
    sampled: int  # frames written to the frame store
    decoded: int  # frames decoded
    seconds: float  # wall time of the pass


def decode_video(
    probe: VideoProbe,
    frames_path: Path,
    *,
    sample_fps: float = 2.0,
    max_side: int = 1280,
    progress: Say | None = None,
) -> DecodeResult:
    """The one pass over the video stream: per-frame signals and sampled frames (written to frames_path)."""
    path = Path(probe.path)
    started = time.perf_counter()
    rot = probe.rotation
    # Decoded (pre-rotation) sizes for the signal and sample scalers.
    coded_w, coded_h = (probe.height, probe.width) if rot in (90, 270) else (probe.width, probe.height)
    sig_scale = min(1.0, SIGNAL_WIDTH / max(coded_w, coded_h))
    sig_w, sig_h = _even(coded_w * sig_scale), _even(coded_h * sig_scale)
    sample_scale = min(1.0, max_side / max(coded_w, coded_h))
    smp_w, smp_h = _even(coded_w * sample_scale), _even(coded_h * sample_scale)

    signals = FrameSignals()
    writer = FrameStoreWriter(frames_path)
    next_sample = 0.0
    report = Progress(progress, f"decoding {path.name}", probe.duration_s)
    # One scaler per output size for the whole pass: `frame.reformat` builds a new swscale context for
    # every frame, which cost more than the scaling itself.
    to_signal, to_sample = VideoReformatter(), VideoReformatter()
    fps = probe.fps or 25.0
    try:
        with open_media(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            t0 = clock_origin(container)
            end = declared_end(container, stream)
            try:
                for index, frame in enumerate(container.decode(stream)):
                    # Raw elementary streams carry no timestamps: their frames follow at the stream's rate.
                    t = frame.time - t0 if frame.time is not None else index / fps
                    if t < -1e-3:  # frames before the container start are not shown by players
                        continue
                    t = max(t, 0.0)
                    small = to_signal.reformat(frame, width=sig_w, height=sig_h, format="rgb24", interpolation="AREA")
                    signals.process_frame(t, _rotate(small.to_ndarray(), rot))
                    if t + 1e-6 >= next_sample:
                        image = to_sample.reformat(
                            frame, width=smp_w, height=smp_h, format="rgb24", interpolation="AREA"
                        ).to_ndarray()
                        writer.add(SampledFrame(t=t, frame_index=index, image=_rotate(image, rot)))
                        next_sample = (math.floor(t * sample_fps + 1e-6) + 1) / sample_fps
                    report.at(t)
            except av.error.FFmpegError as exc:
                if not signals.frames:
                    raise MediaError(f"{path}: the video stream does not decode ({exc})") from exc
                # A damaged tail: keep what decoded, say so.
                log.warning("%s: decoding stopped at %.2f s: %s", path, signals.last_t, exc)
    finally:
        writer.close()
    if not signals.frames:
        raise MediaError(f"{path}: no frame could be decoded")
    decoded_end = signals.last_t + 1.0 / fps
    if end is not None and end - decoded_end > max(TRUNCATION_TOLERANCE_S, 0.02 * end):
        raise MediaError(
            f"{path}: the file is truncated or damaged: its video stream declares {end:.1f} s "
            f"but frames decode only up to {decoded_end:.1f} s"
        )
    return DecodeResult(
        signals=signals.table(),
        sampled=writer.count,
        decoded=signals.frames,
        seconds=time.perf_counter() - started,
    )


def decode_audio(probe: VideoProbe, audio_path: Path) -> int:
    """The one pass over the first audio stream, streamed to `audio_path` as 16 kHz mono.

    Writes one row per second of video (the audio is cut or padded with silence to the video's
    duration, so audio seconds line up with video seconds). Returns the seconds written; 0 when
    the file has no audio stream (no file is written then).
    """
    path = Path(probe.path)
    if not probe.audio_streams:
        return 0
    seconds = probe.seconds
    total = int(round(probe.duration_s * AUDIO_RATE))
    writer = AudioStoreWriter(Path(audio_path))
    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
    try:
        with open_media(path) as container:
            stream = container.streams.audio[0]
            origin = clock_origin(container)
            try:
                for frame in container.decode(stream):
                    if writer.samples == 0 and frame.time is not None and frame.time - origin > 1e-3:
                        # Audio that starts after the container start: silence until it does.
                        writer.add(np.zeros(int(round((frame.time - origin) * AUDIO_RATE)), np.float32))
                    frame.pts = None  # let the resampler ignore gaps in timestamps
                    for out in resampler.resample(frame):
                        writer.add(out.to_ndarray().reshape(-1))
            except av.error.FFmpegError as exc:
                if writer.samples == 0:
                    raise MediaError(f"{path}: the audio stream does not decode ({exc})") from exc
                log.warning("%s: audio decoding stopped early: %s", path, exc)
            for out in resampler.resample(None):
                writer.add(out.to_ndarray().reshape(-1))
        writer.finish(total, seconds)
    finally:
        writer.close()
    return seconds
