"""Decoding: one pass over the video stream, one pass over the audio stream.

The video pass yields everything the visual analyzers need, so no analyzer decodes again: the
per-frame signals of every frame (analyzers/frame_signals.py) and sampled RGB frames at a fixed
rate, streamed into a frame store for the frame models. The audio pass resamples the audio track a
viewer hears (analyzers.probe.main_audio) to 16 kHz mono (any layout, 5.1 included) and streams it to
an audio store.

Both passes decode past packets the decoder rejects, as ffmpeg does (analyzers/packets.py): a damaged
stretch in the middle is recorded (`StreamDamage`; its `warning` names the file, stream and time, for the
caller to log) and left unanalysed, and the rest of the stream is analysed. So is the missing end of a
file cut short (its data ends well before the stream's declared end: a download or copy that broke off).
Only a video stream of which no frame decodes fails.
"""

from __future__ import annotations

import bisect
import math
import time
from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from analyzers.frame_signals import MOTION_RATE, SIGNAL_WIDTH, FrameSignals
from analyzers.hdr import SdrView, sdr_view
from analyzers.packets import PacketLog, decode_packets, share_per_second, spans_text
from analyzers.probe import MediaError, VideoProbe, clock_origin, declared_end, open_media, video_stream
from analyzers.progress import Progress, Say
from analyzers.read_ahead import read_ahead
from analyzers.records import DERIVED, Event, per_second_spans
from analyzers.write_behind import WriteBehind

if TYPE_CHECKING:
    import pandas as pd

    from analyzers.audio_store import AudioStoreWriter

SOURCE = "decode"

# A pause in the audio's timestamps longer than this is kept as silence (ffmpeg's resampler fills gaps from 0.1 s
# too); shorter ones are encoder jitter and the audio is written on as it comes.
AUDIO_GAP_S = 0.1

# Frames may end this much before the video stream's declared end (edit lists, a damaged last GOP);
# beyond it (or 2 % of the length) the missing end is lost (`_ends_early`) rather than the video silently shortened.
TRUNCATION_TOLERANCE_S = 1.0


def _as_sdr(image: np.ndarray, view: SdrView | None) -> np.ndarray:
    return image if view is None else view(image)


def deinterlaced(frames: Iterator, stream) -> Iterator:
    """The frames as a player shows them: from the first frame flagged interlaced on (both fields of a TV picture
    woven into one frame: moving edges and changing text combed, which faces, objects and text read worse),
    through ffmpeg's bwdif, one frame out per frame in, at its own time (about 2.4 ms a 1080-line frame); the
    frames before it, and every frame of a progressive stream, as they are. Should the filter refuse a frame
    (the picture size changed mid-stream), the frames it holds and the rest pass as they are."""
    graph, held = None, deque()  # held: frames pushed whose deinterlaced frame has not come out yet
    for frame in frames:
        if graph is None and frame.interlaced_frame:
            graph = _deinterlacer(stream)
        if graph is None or graph is False:
            yield frame
            continue
        try:
            graph.push(frame)
            held.append(frame)
            for shown in _pulled(graph):
                held.popleft()
                yield shown
        except (av.error.FFmpegError, ValueError):
            if not held or held[-1] is not frame:  # refused by push, not by the pull after it
                held.append(frame)
            yield from held  # not deinterlaced, but neither lost nor shown twice
            held.clear()
            graph = False
    if graph:
        try:
            graph.push(None)
            yield from _pulled(graph)
        except (av.error.FFmpegError, ValueError):
            yield from held


def _deinterlacer(stream):
    graph = av.filter.Graph()
    source, sink = graph.add_buffer(template=stream), graph.add("buffersink")
    bwdif = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
    source.link_to(bwdif)
    bwdif.link_to(sink)
    graph.configure()
    return graph


def _pulled(graph) -> Iterator:
    while True:
        try:
            yield graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return


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
class StreamDamage:
    """What part of one stream did not decode (times on the video's clock)."""

    stream: str  # "video stream #0 (h264)"
    failed_packets: int  # packets the decoder rejected (ffmpeg skips them too)
    lost: list[tuple[float, float]]  # stretches whose media did not decode: left unanalysed
    error: str | None  # the first decoder or read error
    ends_early: str | None = None  # why the data ends before the stream's declared end (a file cut short), or None

    @property
    def lost_s(self) -> float:
        return sum(b - a for a, b in self.lost)

    def warning(self, path: Path, what: str) -> str:
        """One line for a person: the file, the stream, where and what was lost."""
        what_broke = [self.ends_early] if self.ends_early else []
        if self.failed_packets:
            what_broke.append(f"{self.failed_packets} packet(s) did not decode ({self.error})")
        elif self.error or not self.ends_early:
            what_broke.append(f"the data is damaged ({self.error})")
        lost = f"{what} lost at {spans_text(self.lost)}, left unanalysed there" if self.lost else "no time lost"
        return f"{path}: {self.stream}: {'; '.join(what_broke)}; {lost}"


def _ends_early(kind: str, declared_end: float | None, data_end: float, packets: int) -> str | None:
    """Why a stream's data ends well before its declared end (a download or copy that broke off, a track that
    holds nothing), None when it does not: the missing part is then lost, not silence or a shorter video."""
    if declared_end is None or declared_end - data_end <= max(TRUNCATION_TOLERANCE_S, 0.02 * declared_end):
        return None
    if not packets:
        return f"the {kind} stream holds no data though it declares {declared_end:.1f} s"
    return (
        f"the file is truncated: its {kind} stream declares {declared_end:.1f} s but its data ends at {data_end:.1f} s"
    )


def _with_tail(lost: list[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """`lost` with the stretch from `start` to `end` (the part of a truncated file that is not there) added."""
    if lost and lost[-1][1] >= start - 1e-3:
        return [*lost[:-1], (lost[-1][0], max(lost[-1][1], end))]
    return [*lost, (start, end)]


def _stream_name(stream) -> str:
    codec = stream.codec_context.name if stream.codec_context else "no decoder for its codec"
    return f"{stream.type} stream #{stream.index} ({codec})"


@dataclass
class DecodeResult:
    columns: dict[str, np.ndarray]  # the per-frame signals: one array per analyzers.frame_signals.METRIC_KEYS
    sampled: int  # frames written to the frame store
    decoded: int  # frames decoded
    seconds: float  # wall time of the pass
    visibility: list[tuple[float, float]] = field(default_factory=list)  # (t, visibility) of each sampled frame
    damage: StreamDamage | None = None  # None: every packet decoded
    # Where the frames are shown on the video's clock: from the first frame to the end of the last. Other
    # streams may run longer (audio that goes on after the picture ends, a picture that starts late).
    picture: tuple[float, float] = (0.0, math.inf)
    resets: int = 0  # places where the video's timestamps started again, mended (analyzers.packets.TimestampMender)
    hdr: str | None = None  # the HDR transfer ("PQ (SMPTE ST 2084)") whose frames were shown as SDR (analyzers.hdr)

    @cached_property
    def signals(self) -> pd.DataFrame:
        """The per-frame signals as a table, one row per decoded frame."""
        import pandas as pd  # here, not at the top: see analyzers.records.events_frame

        return pd.DataFrame(self.columns)

    def decoded_share(self, duration_s: float) -> list[float]:
        """Per second of the video, the share of it whose frames decoded."""
        lost = share_per_second(self.damage.lost if self.damage else [], per_second_spans(duration_s))
        return [round(1.0 - x, 4) for x in lost]

    def pictureless(self, duration_s: float) -> list[bool]:
        """Per second of the video: True where no frame at all is shown (the video stream starts after the
        second ends, or ends before it starts)."""
        first, last = self.picture
        return [end <= first + 1e-3 or start >= last - 1e-3 for _, start, end in per_second_spans(duration_s)]


def decode_video(
    probe: VideoProbe,
    frames_path: Path | None,
    *,
    sample_fps: float = 2.0,
    max_side: int = 1280,
    motion: bool = True,
    visibility: bool = False,
    progress: Say | None = None,
) -> DecodeResult:
    """The one pass over the video stream: per-frame signals and sampled frames (written to frames_path).

    The sampled frames' visibility is measured when they are stored, or without storing them (no JPEG encoded)
    with `visibility`. A caller that needs only the signals for cut detection (analyzers.cut_list) passes no
    frames_path (no frame is sampled) and motion=False (the global-motion columns stay NaN): about 40 % of the
    pass's time. Packets the decoder rejects are skipped and decoding goes on, as ffmpeg does; what could
    not be decoded is in `damage`, and so is the missing end of a file cut short (its data ends well before the
    stream's declared end). Raises MediaError when no frame decodes."""
    path = Path(probe.path)
    started = time.perf_counter()
    rot = probe.rotation
    # The displayed size before rotation (square pixels): what the signal and sample scalers make of each frame.
    shown_w, shown_h = (probe.height, probe.width) if rot in (90, 270) else (probe.width, probe.height)
    sig_scale = min(1.0, SIGNAL_WIDTH / max(shown_w, shown_h))
    sig_w, sig_h = _even(shown_w * sig_scale), _even(shown_h * sig_scale)
    sample_scale = min(1.0, max_side / max(shown_w, shown_h))
    smp_w, smp_h = _even(shown_w * sample_scale), _even(shown_h * sample_scale)

    signals = FrameSignals(motion_rate=MOTION_RATE if motion else 0.0)
    seen: list[tuple[float, float]] = []
    writer = sampling = None
    if frames_path is not None or visibility:
        # The frame store's module (and pyarrow) is imported by the passes that sample: the cut list samples none.
        from analyzers.frames import FrameStoreWriter, SampledFrame
        from analyzers.visibility import visibility as visibility_of

        if frames_path is not None:
            from analyzers import frame_cache

            frame_cache.release()  # another video's frames (or this one's before) are not read again
            writer = FrameStoreWriter(frames_path)

        def store(sampled: SampledFrame) -> None:
            if writer is not None:
                writer.add(sampled)
            seen.append((sampled.t, visibility_of(sampled.image)))

        # JPEG-encoding and measuring the sampled frames on a third thread: on the decoding thread they made it
        # the slower of the two on 720p video (the signals' thread waited for frames for a quarter of the pass).
        sampling = WriteBehind(store, name="frame-store")
    report = Progress(progress, f"decoding {path.name}", probe.duration_s)
    # One scaler per output size for the whole pass: `frame.reformat` builds a new swscale context for
    # every frame, which cost more than the scaling itself.
    to_signal, to_sample = VideoReformatter(), VideoReformatter()
    fps = probe.fps or 25.0
    shown = array("d")  # the time of every decoded frame, before any is skipped: what `packets` is matched against

    def scaled(frames) -> Iterator[tuple[float, np.ndarray]]:
        """(t, signal-size RGB) of each frame shown; the frames at sample_fps go to the frame store on the way."""
        next_sample = 0.0
        for index, frame in enumerate(frames):
            # A frame without a timestamp (all of a raw elementary stream's, or one whose damaged timestamp was
            # dropped) follows the one before at the stream's rate.
            t = frame.time - t0 if frame.time is not None else (shown[-1] + 1.0 / fps if shown else 0.0)
            shown.append(t)
            if t < -1e-3:  # frames before the container start are not shown by players
                continue
            t = max(t, 0.0)
            small = to_signal.reformat(frame, width=sig_w, height=sig_h, format="rgb24", interpolation="AREA")
            if sampling is not None and t + 1e-6 >= next_sample:
                sample = to_sample.reformat(frame, width=smp_w, height=smp_h, format="rgb24", interpolation="AREA")
                image = _rotate(_as_sdr(sample.to_ndarray(), sdr), rot)
                sampling.put(SampledFrame(t=t, frame_index=index, image=image))
                next_sample = (math.floor(t * sample_fps + 1e-6) + 1) / sample_fps
            yield t, _rotate(_as_sdr(small.to_ndarray(), sdr), rot)

    try:
        with open_media(path) as container:
            stream = video_stream(container)
            stream.thread_type = "AUTO"
            t0 = clock_origin(container)
            end = declared_end(container, stream)
            codec = stream.codec_context
            sdr = sdr_view(codec.color_trc, codec.color_primaries)  # HDR frames: as an SDR display shows them
            packets = PacketLog(t0, keep_spans=True)
            # Decoding, scaling and the frame store (they release the GIL) run on a second core while this
            # one computes the per-frame signals.
            decoded = deinterlaced(decode_packets(container, stream, packets, probe.clock_restarts), stream)
            with read_ahead(scaled(decoded), name="decode") as frames:
                for t, small in frames:
                    signals.process_frame(t, small)
                    report.at(t)
            name = _stream_name(stream)
    finally:
        try:
            if sampling is not None:
                sampling.close()  # every sampled frame stored: a store error (a full disk) is raised here
        finally:
            if writer is not None:
                writer.close()
    if not signals.frames:
        reason = packets.read_error or packets.first_error
        raise MediaError(f"{path}: no frame could be decoded" + (f" ({reason})" if reason else ""))
    data_end = packets.data_end if packets.data_end is not None else signals.last_t + 1.0 / fps
    if packets.resets:
        end = None  # declared on the clock before it was mended: says nothing about the mended length
    ends_early = _ends_early("video", end, data_end, packets.packets)
    first_shown = min((t for t in shown if t >= -1e-3), default=0.0)
    damage = None
    if packets.failed or packets.read_error or len(shown) < packets.packets or ends_early:
        lost = packets.lost_spans(shown, 1.0 / fps)
        if ends_early:
            lost = _with_tail(lost, data_end, end)
        if lost or packets.failed or packets.read_error:
            damage = StreamDamage(name, packets.failed, lost, packets.first_error or packets.read_error, ends_early)
    return DecodeResult(
        columns=signals.columns(),
        sampled=writer.count if writer is not None else 0,
        decoded=signals.frames,
        seconds=time.perf_counter() - started,
        visibility=seen,
        damage=damage,
        # A truncated file's picture goes on where its data is missing: those seconds are lost, not pictureless.
        picture=(max(first_shown, 0.0), max(data_end, signals.last_t + 1.0 / fps, end if ends_early else 0.0)),
        resets=packets.resets,
        hdr=sdr.name if sdr is not None else None,
    )


def video_quality_events(result: DecodeResult, duration_s: float, source: str = SOURCE) -> list[Event]:
    """Per second: `video_decoded` (share of the second whose frames decoded; `detail[DERIVED]` where no frame
    is shown in it at all) and `visibility` (mean over its sampled frames; a second without a sampled frame of
    its own shows the last earlier one)."""
    decoded = result.decoded_share(duration_s)
    pictureless = result.pictureless(duration_s)
    times = [t for t, _ in result.visibility]
    events = []
    for (_, start, end), share, blank in zip(per_second_spans(duration_s), decoded, pictureless):
        detail = {"lost_s": round((1.0 - share) * (end - start), 3)} if share < 1.0 else {}
        if blank:
            detail[DERIVED] = "no picture at this time (the video stream " + (
                "has ended)" if start >= result.picture[1] - 1e-3 else "starts later)"
            )
        events.append(Event(start, end, "video_decoded", share, source=source, detail=detail or None))
        inside = [v for t, v in result.visibility if start - 1e-6 <= t < end - 1e-6]
        if not inside:
            k = bisect.bisect_left(times, start - 1e-6)
            inside = [result.visibility[k - 1][1]] if k else []
        if inside and not blank:
            events.append(Event(start, end, "visibility", round(float(np.mean(inside)), 4), source=source))
    return events


@dataclass
class AudioDecodeResult:
    seconds: int  # rows written (one per second of video); 0 without an audio stream
    decoded_s: float = 0.0  # seconds of audio that decoded
    damage: StreamDamage | None = None  # None: every packet decoded


def decode_audio(probe: VideoProbe, audio_path: Path) -> AudioDecodeResult:
    """The one pass over the audio track a viewer hears (`VideoProbe.audio`), streamed to `audio_path` as 16 kHz
    mono.

    Writes one row per second of video (the audio is cut or padded with silence to the video's
    duration, so audio seconds line up with video seconds), each with the share of it that decoded and the
    share lost to damage. Packets the decoder rejects are skipped, as ffmpeg does: their time is kept as
    lost (not silence), so the audio after them stays in place. No file is written without an audio stream.
    """
    from analyzers.audio_store import AUDIO_RATE, AudioStoreWriter  # see decode_video

    path = Path(probe.path)
    if not probe.audio_streams:
        return AudioDecodeResult(0)
    seconds = probe.seconds
    total = int(round(probe.duration_s * AUDIO_RATE))
    writer = AudioStoreWriter(Path(audio_path))
    try:
        with open_media(path) as container:
            stream = next((a for a in container.streams.audio if a.index == probe.audio["index"]), None)
            if stream is None:  # the probe's row is of another file than the one now at the path
                raise MediaError(f"{path}: audio track #{probe.audio['index']} of its probe is not in the file")
            origin = clock_origin(container)
            packets = PacketLog(origin)
            resampler, setup = _resampler(AUDIO_RATE), None
            failed_before = 0  # packets.failed when the last frame was written
            fed_end = None  # where the audio fed so far ends, by its timestamps
            resets_before, skip = 0, 0  # clock restarts so far; samples to drop where a stretch overlaps the last
            for frame in decode_packets(container, stream, packets, probe.clock_restarts):
                t = frame.time - origin if frame.time is not None else None
                if setup is not None and (frame.format.name, frame.layout.name, frame.sample_rate) != setup:
                    # The decoder changed its output (a stream switching layout, or a damaged header it took
                    # at its word): a resampler serves one input format, so flush it and start another.
                    resampler = _restarted(writer, resampler)
                setup = (frame.format.name, frame.layout.name, frame.sample_rate)
                if packets.failed > failed_before and t is not None:
                    # Packets were rejected since the last frame: flush what the resampler holds, then keep
                    # their time as lost so this frame lands at its own time.
                    resampler = _restarted(writer, resampler)
                    writer.add_lost(int(round(t * AUDIO_RATE)) - writer.samples)
                elif writer.samples == 0 and t is not None and t > 1e-3:
                    # Audio that starts after the container start: silence until it does.
                    writer.add_silence(int(round(t * AUDIO_RATE)))
                elif (
                    t is not None
                    and fed_end is not None
                    and (t - fed_end > AUDIO_GAP_S or packets.resets > resets_before)
                ):
                    # The stream pauses (a recorder's dropout), or a stretch after a restart of the clock starts
                    # a little before or after this stream's last one ended: silence for a pause, the overlap
                    # dropped, so what follows stays with its picture.
                    resampler = _restarted(writer, resampler)
                    at = int(round(t * AUDIO_RATE))
                    writer.add_silence(max(0, at - writer.samples))
                    skip = max(0, writer.samples - at)
                resets_before = packets.resets
                if t is not None:
                    fed_end = t + frame.samples / frame.sample_rate
                failed_before = packets.failed
                frame.pts = None  # let the resampler ignore gaps in timestamps
                skip = _resample_into(writer, resampler, frame, skip)
            _resample_into(writer, resampler, None)
            name = _stream_name(stream)
            stream_end = None if packets.resets else declared_end(container, stream)  # see decode_video
        data_end = packets.data_end if packets.data_end is not None else writer.samples / AUDIO_RATE
        ends_early = _ends_early("audio", stream_end, data_end, packets.packets)
        if packets.read_error:
            writer.add_lost(total - writer.samples)  # nothing after the read error is known
        elif packets.failed > failed_before or ends_early:
            # Rejected packets after the last frame: lost up to where the stream's data or declared length ends
            # (a parser that lost sync may hand the whole damaged rest over as one packet of unknown length);
            # the same for the missing end of a file cut short, which is not silence.
            ends = [e for e in (packets.data_end, stream_end) if e is not None]
            writer.add_lost(min(total, int(round(max(ends, default=0.0) * AUDIO_RATE))) - writer.samples)
        writer.finish(total, seconds)
    finally:
        writer.close()
    damage = None
    if packets.failed or packets.read_error or ends_early:
        error = packets.first_error or packets.read_error
        damage = StreamDamage(name, packets.failed, writer.lost_spans(), error, ends_early)
    return AudioDecodeResult(seconds, round(writer.decoded / AUDIO_RATE, 3), damage)


def _resampler(rate: int):
    return av.AudioResampler(format="flt", layout="mono", rate=rate)


def _restarted(writer: AudioStoreWriter, resampler):
    """A new resampler, after the one given has written what it still holds (it serves one input format and
    one run of timestamps)."""
    _resample_into(writer, resampler, None)
    return _resampler(resampler.rate)


def _resample_into(writer: AudioStoreWriter, resampler, frame, skip: int = 0) -> int:
    """Resamples `frame` (None: flushes) into the writer, dropping its first `skip` samples; returns how many
    are still to drop."""
    for out in resampler.resample(frame):
        samples = out.to_ndarray().reshape(-1)
        dropped = min(skip, len(samples))
        skip -= dropped
        writer.add(samples[dropped:])
    return skip
