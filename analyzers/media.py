"""Probing and decoding: one pass over the video, one pass over the audio.

The video pass yields everything the visual analyzers need, so no analyzer decodes again:
  * per-frame cheap signals (brightness, colour, sharpness, frame difference, histogram
    difference) for cut detection and visual statistics,
  * global motion (affine fit of tracked corners) a few times per second for camera motion,
  * sampled RGB frames at a fixed rate, streamed into a frame store for the heavier analyzers.
The audio pass resamples the first audio stream to 16 kHz mono (any layout, 5.1 included) and
streams it to an audio store.
"""

from __future__ import annotations

import json
import logging
import math
import time
from array import array
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
from av.video.reformatter import VideoReformatter

from analyzers.audio_store import AUDIO_RATE, AudioStoreWriter
from analyzers.frames import FrameStoreWriter, SampledFrame
from analyzers.progress import Progress, Say

log = logging.getLogger(__name__)

SIGNAL_WIDTH = 320  # analysis width of the cheap per-frame signals (height follows the aspect ratio)
MOTION_RATE = 4.0  # global-motion estimates per second (each over a ~1/MOTION_RATE s baseline)
# Frames may end this much before the video stream's declared end (edit lists, a damaged last GOP);
# beyond it (or 2 % of the length) the file counts as truncated rather than silently shortened.
TRUNCATION_TOLERANCE_S = 1.0


class MediaError(ValueError):
    """A file that cannot be analysed; the message names the file and the reason."""


@dataclass(frozen=True)
class VideoProbe:
    path: str
    duration_s: float
    fps: float
    frame_count: int
    width: int  # as displayed (after rotation)
    height: int
    rotation: int  # degrees clockwise the frames are turned for display
    video_codec: str
    container: str
    audio_streams: list[dict] = field(default_factory=list)
    # Where duration and rate came from: "container" (its timestamps), or "stream" for a raw
    # elementary stream (its own timing info; ffmpeg's 25 fps when it has none).
    timing: str = "container"

    @property
    def seconds(self) -> int:
        return max(1, math.ceil(self.duration_s - 1e-9))

    def as_row(self) -> dict:
        """A flat record (audio streams as JSON) for a one-row table."""
        row = asdict(self)
        row["audio_streams"] = json.dumps(self.audio_streams)
        row["path"] = _path_as_text(self.path)
        return row

    @classmethod
    def from_row(cls, row: dict) -> VideoProbe:
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k in row}  # rows stored before a field existed
        fields["audio_streams"] = json.loads(fields["audio_streams"])
        fields["path"] = _path_from_text(fields["path"])
        for name in ("frame_count", "width", "height", "rotation"):
            fields[name] = int(fields[name])
        for name in ("duration_s", "fps"):
            fields[name] = float(fields[name])
        return cls(**fields)


_ESCAPED = "json:"  # marks a path stored JSON-escaped


def _path_as_text(path: str) -> str:
    """The path as valid UTF-8 text (Parquet strings must be): a name holding bytes that are not
    UTF-8 (surrogate-escaped by Python) is stored JSON-escaped, so it still round-trips exactly."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return _ESCAPED + json.dumps(path)
    return _ESCAPED + json.dumps(path) if path.startswith(_ESCAPED) else path


def _path_from_text(text: str) -> str:
    return json.loads(text[len(_ESCAPED) :]) if text.startswith(_ESCAPED) else text


def _open(path: Path):
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes)")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: not a readable media file: {_why_unreadable(path, exc)}") from exc


# How common containers start: a file that starts like one but cannot be opened was most likely cut short.
_SIGNATURES = ((4, b"ftyp", "MP4/MOV"), (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"), (0, b"RIFF", "AVI"),
               (0, b"OggS", "Ogg"), (0, b"FLV", "FLV"), (0, b"\x00\x00\x01\xba", "MPEG-PS"))  # fmt: skip


def _iso_boxes_overrun(path: Path) -> str | None:
    """For an MP4/MOV: the top-level box that runs past the end of the file, or the missing index."""
    size, offset, names = path.stat().st_size, 0, []
    with open(path, "rb") as f:
        while offset + 8 <= size:
            f.seek(offset)
            header = f.read(16)
            length, name = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if length == 1 and len(header) == 16:
                length = int.from_bytes(header[8:16], "big")
            elif length == 0:
                length = size - offset
            if length < 8:
                return None  # not a box structure we can follow
            if offset + length > size:
                return f"its '{name}' box needs {offset + length} bytes but the file ends at {size}"
            names.append(name)
            offset += length
    if "moov" not in names:
        return f"it has no 'moov' index box (it ends at {size} bytes; players write that index last)"
    return None


def _why_unreadable(path: Path, exc: Exception) -> str:
    """The reason in words: a file that starts like a video but breaks off says it looks truncated;
    otherwise ffmpeg's reason without its errno ("[Errno 1094995529] ...")."""
    reason = getattr(exc, "strerror", None) or str(exc)
    with open(path, "rb") as f:
        head = f.read(16)
    kind = next((name for at, magic, name in _SIGNATURES if head[at : at + len(magic)] == magic), None)
    if kind is None and head[:1] == b"\x47" and path.stat().st_size % 188 != 0:  # MPEG-TS sync byte, a cut packet
        kind = "MPEG-TS"
    if kind is None:
        return f"ffmpeg: {reason}"
    detail = _iso_boxes_overrun(path) if kind == "MP4/MOV" else None
    article = "a" if kind.startswith("Matroska") else "an"
    return (
        f"it looks truncated (a copy or download that stopped early?): it starts like {article} {kind} file, "
        f"but {detail or 'ffmpeg cannot read it'} (ffmpeg: {reason})"
    )


def probe_video(path: str | Path) -> VideoProbe:
    """Container facts. Raises MediaError for anything that is not a decodable video."""
    path = Path(path)
    with _open(path) as container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["nothing"]
            raise MediaError(f"{path}: no video stream (the file holds {', '.join(kinds)})")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration = _duration(container, stream)
        frames = int(stream.frames or 0)
        timing = "container"
        # The first frame proves the stream decodes and carries the display rotation.
        stream.thread_type = "AUTO"
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: the video stream does not decode ({exc})") from exc
        if first is None:
            raise MediaError(f"{path}: the video stream holds no decodable frame")
        rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        audio = [
            {"index": a.index, "codec": a.codec_context.name, "channels": a.channels, "rate": a.rate}
            for a in container.streams.audio
        ]
        video_codec, container_name = stream.codec_context.name, container.format.name
    if duration <= 0:
        frames, duration, fps, timing = _measure_untimed(path)
    if duration <= 0:
        raise MediaError(f"{path}: the video has no measurable duration")
    return VideoProbe(
        path=str(path),
        duration_s=duration,
        fps=fps,
        frame_count=frames or (int(round(duration * fps)) if fps else 0),
        width=width,
        height=height,
        rotation=rotation,
        video_codec=video_codec,
        container=container_name,
        audio_streams=audio,
        timing=timing,
    )


def _measure_untimed(path: Path) -> tuple[int, float, float, str]:
    """Frames, duration, fps and timing of a raw elementary stream (.h264, .mjpeg), whose container
    declares no duration: counted from the packets (demuxed, not decoded).

    Packet durations come from the stream's own timing (H.264/HEVC VUI), which beats the demuxer's
    nominal rate; a stream without timing gets ffmpeg's 25 fps convention.
    """
    with _open(path) as container:
        stream = container.streams.video[0]
        count, seconds = 0, Fraction(0)
        for packet in container.demux(stream):
            if packet.size:
                count += 1
                if packet.duration and packet.time_base:
                    seconds += packet.duration * packet.time_base
        nominal = float(stream.guessed_rate or 25)
    if not count:
        return 0, 0.0, 0.0, "stream"
    fps = count / float(seconds) if seconds else nominal
    return count, count / fps, fps, "stream"


def _duration(container, stream) -> float:
    """The presentation length over all streams (what a player shows), else the video stream's."""
    if container.duration:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


def _declared_end(container, stream) -> float | None:
    """Where the video stream says it ends, in seconds on the container's clock; None when it does not say."""
    if stream.duration and stream.time_base:
        start = stream.start_time * stream.time_base if stream.start_time is not None else 0
        return float(start + stream.duration * stream.time_base) - _origin(container)
    if container.duration and len(container.streams) == 1:  # e.g. Matroska: only the container's length
        return container.duration / av.time_base
    return None


def _origin(container) -> float:
    """Time zero of the timeline: the container's start, so video and audio share one clock."""
    return container.start_time / av.time_base if container.start_time is not None else 0.0


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


def _global_motion(prev: np.ndarray, cur: np.ndarray) -> tuple[float, float, float, float]:
    """Content motion between two gray frames: (dx, dy) at the frame centre in pixels, scale, inlier share."""
    corners = cv2.goodFeaturesToTrack(prev, maxCorners=200, qualityLevel=0.01, minDistance=6)
    if corners is None or len(corners) < 12:
        return (math.nan,) * 4
    moved, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, corners, None, winSize=(21, 21), maxLevel=3)
    ok = status.ravel() == 1
    if ok.sum() < 12:
        return (math.nan,) * 4
    matrix, inliers = cv2.estimateAffinePartial2D(corners[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=1.5)
    if matrix is None:
        return (math.nan,) * 4
    h, w = prev.shape
    centre = np.array([w / 2, h / 2, 1.0])
    dx, dy = matrix @ centre - centre[:2]
    scale = math.hypot(matrix[0, 0], matrix[1, 0])
    return float(dx), float(dy), float(scale), float(inliers.mean())


@dataclass
class DecodeResult:
    signals: pd.DataFrame  # one row per decoded frame
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
    motion_gap = 1.0 / MOTION_RATE

    # One typed column per signal (8 bytes a value): an hour at 60 fps is ~25 MB, a tenth of a list of dicts.
    columns: dict[str, array] = {}
    writer = FrameStoreWriter(frames_path)
    next_sample = 0.0
    prev_gray = prev_hist = None
    motion_ref: tuple[float, np.ndarray] | None = None
    report = Progress(progress, f"decoding {path.name}", probe.duration_s)
    # One scaler per output size for the whole pass: `frame.reformat` builds a new swscale context for
    # every frame, which cost more than the scaling itself.
    to_signal, to_sample = VideoReformatter(), VideoReformatter()
    try:
        with _open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            t0 = _origin(container)
            declared_end = _declared_end(container, stream)
            fps = probe.fps or 25.0
            try:
                for index, frame in enumerate(container.decode(stream)):
                    # Raw elementary streams carry no timestamps: their frames follow at the stream's rate.
                    t = frame.time - t0 if frame.time is not None else index / fps
                    if t < -1e-3:  # frames before the container start are not shown by players
                        continue
                    t = max(t, 0.0)
                    small = _rotate(
                        to_signal.reformat(
                            frame, width=sig_w, height=sig_h, format="rgb24", interpolation="AREA"
                        ).to_ndarray(),
                        rot,
                    )
                    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
                    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
                    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
                    cv2.normalize(hist, hist, 1.0, 0.0, cv2.NORM_L1)
                    # cv2's reductions: several times faster per frame than numpy's on these small images.
                    red, green, blue, _ = cv2.mean(small)
                    _, sharp_std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_16S))
                    row = {
                        "t": t,
                        "brightness": cv2.mean(gray)[0] / 255.0,
                        "saturation": cv2.mean(hsv)[1] / 255.0,
                        "red": red / 255.0,
                        "green": green / 255.0,
                        "blue": blue / 255.0,
                        "sharpness": float(sharp_std[0, 0]) ** 2,
                        "diff": math.nan if prev_gray is None else cv2.mean(cv2.absdiff(gray, prev_gray))[0] / 255.0,
                        "hist_diff": math.nan if prev_hist is None else 0.5 * float(np.abs(hist - prev_hist).sum()),
                        "motion_dx": math.nan,
                        "motion_dy": math.nan,
                        "motion_scale": math.nan,
                        "motion_inliers": math.nan,
                        "motion_span": math.nan,
                    }
                    if motion_ref is None:
                        motion_ref = (t, gray)
                    elif t - motion_ref[0] >= motion_gap - 1e-6:
                        dx, dy, scale, inl = _global_motion(motion_ref[1], gray)
                        span = t - motion_ref[0]
                        h, w = gray.shape
                        # Normalised to fractions of the frame per second, scale to a factor per second.
                        row.update(
                            motion_dx=dx / w / span,
                            motion_dy=dy / h / span,
                            motion_scale=scale ** (1.0 / span) if scale == scale and scale > 0 else math.nan,
                            motion_inliers=inl,
                            motion_span=span,
                        )
                        motion_ref = (t, gray)
                    for name, value in row.items():
                        columns.setdefault(name, array("d")).append(value)
                    prev_gray, prev_hist = gray, hist
                    if t + 1e-6 >= next_sample:
                        image = to_sample.reformat(
                            frame, width=smp_w, height=smp_h, format="rgb24", interpolation="AREA"
                        ).to_ndarray()
                        writer.add(SampledFrame(t=t, frame_index=index, image=_rotate(image, rot)))
                        next_sample = (math.floor(t * sample_fps + 1e-6) + 1) / sample_fps
                    report.at(t)
            except av.error.FFmpegError as exc:
                if not columns:
                    raise MediaError(f"{path}: the video stream does not decode ({exc})") from exc
                # A damaged tail: keep what decoded, say so.
                log.warning("%s: decoding stopped at %.2f s: %s", path, columns["t"][-1], exc)
    finally:
        writer.close()
    if not columns:
        raise MediaError(f"{path}: no frame could be decoded")
    decoded_end = columns["t"][-1] + 1.0 / fps
    if declared_end is not None and declared_end - decoded_end > max(TRUNCATION_TOLERANCE_S, 0.02 * declared_end):
        raise MediaError(
            f"{path}: the file is truncated or damaged: its video stream declares {declared_end:.1f} s "
            f"but frames decode only up to {decoded_end:.1f} s"
        )
    return DecodeResult(
        signals=pd.DataFrame({name: np.asarray(values) for name, values in columns.items()}),
        sampled=writer.count,
        decoded=len(columns["t"]),
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
        with _open(path) as container:
            stream = container.streams.audio[0]
            origin = _origin(container)
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
