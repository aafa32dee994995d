"""Decoding packet by packet, past packets the decoder rejects, as ffmpeg does.

PyAV's `container.decode(stream)` raises at the first packet the decoder rejects, which loses the rest of
the stream. Here each packet is decoded on its own: a rejected packet is skipped and recorded, and
decoding goes on (the decoder recovers at the next frame or keyframe it can decode). A read error of the
container ends the stream. `PacketLog` keeps what was demuxed and what did not decode, so a pass can say
which stretch of the stream was lost (`lost_spans`) and where the stream's data ends (`data_end`).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

import av
import numpy as np


class PacketLog:
    """What one pass over a stream demuxed and could not decode; times in seconds on the video's clock.

    With `keep_spans` it keeps every timed packet's span (16 bytes and a flag each) for `lost_spans`."""

    def __init__(self, origin: float = 0.0, keep_spans: bool = False):
        self.origin = origin  # the container's start (time zero of the timeline)
        self.packets = 0  # packets holding data
        self.failed = 0  # packets the decoder rejected
        self.first_error: str | None = None
        self.read_error: str | None = None  # the container could not be read past some point: the stream ends there
        self.data_end: float | None = None  # where the demuxed data ends (None: no packet had a timestamp)
        self.resets = 0  # places where the stream's timestamps started again (mended: `TimestampMender`)
        self._keep = keep_spans
        self._starts, self._ends, self._rejected = array("d"), array("d"), bytearray()

    def add(self, packet, rejected: bool = False) -> None:
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is None or packet.time_base is None:
            return  # a raw stream without timestamps: its packets cannot be placed in time
        start = float(ts * packet.time_base) - self.origin
        end = start + (float(packet.duration * packet.time_base) if packet.duration else 0.0)
        self.data_end = end if self.data_end is None else max(self.data_end, end)
        if self._keep:
            self._starts.append(start)
            self._ends.append(end)
            self._rejected.append(rejected)

    def lost_spans(self, frame_times: Iterable[float], frame_s: float) -> list[tuple[float, float]]:
        """Stretches of the stream whose packets yielded no frame: rejected packets, and packets whose time no
        decoded frame shows while the frames around them are further apart than usual (a decoder that drops
        frames after damage without an error). Frames a decoder merely retimes a little still fill their slot,
        so they count as decoded."""
        times = np.sort(np.fromiter(frame_times, float))
        tolerance = 0.5 * frame_s
        order = np.argsort(np.frombuffer(self._starts, float), kind="stable")
        lost: list[tuple[float, float]] = []
        for k in order:
            start, end, rejected = self._starts[k], self._ends[k], self._rejected[k]
            if start < -1e-3:
                continue  # before the container start (edit lists, priming): never shown
            i = int(np.searchsorted(times, start - tolerance))
            if i < len(times) and times[i] <= start + tolerance:
                continue  # a frame shows this packet's time
            before = times[i - 1] if i > 0 else -np.inf
            after = times[i] if i < len(times) else np.inf
            if not rejected and after - before <= 1.5 * frame_s:
                continue
            end = max(end, start + frame_s)
            if lost and start - lost[-1][1] < tolerance:
                lost[-1] = (lost[-1][0], max(lost[-1][1], end))
            else:
                lost.append((max(start, 0.0), end))
        return lost


# ffmpeg's command-line tool takes a step back of more than 0.1 s, or ahead of more than 10 s, in a format that
# allows timestamps to start again as such a start (its dts_delta_threshold is 10 s).
RESET_BACK_S, RESET_AHEAD_S = 0.1, 10.0


def restartable_clock(container) -> bool:
    """Whether the container's format allows its timestamps to start again mid-file (MPEG-TS does)."""
    return bool(container.format.flags & av.format.Flags.ts_discont.value)


class TimestampMender:
    """Keeps one stream's timestamps running on where the file's clock starts again, as ffmpeg's tool does.

    MPEG-TS (and the few other formats that flag `ts_discont`) may restart its clock mid-file: two recordings
    joined with `cat a.ts b.ts`, a recorder restarted, a splice. Read as they are, the second stretch lands on
    top of the first and the video seems half as long. A packet far behind (or far ahead of) where the stream's
    last one ended starts a stretch, moved to follow on. `restarts` holds, per restart of the file's clock, the
    total shift in seconds; menders of one file share it, so the stream that restarts first sets the shift and
    the others take the same one (their sound stays with their picture, whichever stream ended a little later).
    A shift that would leave this stream more than LONE_JUMP_S behind its own end is not its restart: it
    follows on itself. Formats whose timestamps must run on (MP4, Matroska...) are left as they are."""

    def __init__(self, container, restarts: list[float] | None = None):
        self.active = restartable_clock(container)
        self.restarts = [] if restarts is None else restarts
        self.offset = 0  # added to every timestamp, in the stream's time base
        self.end = None  # where the last packet ended, mended
        self.resets = 0

    def __call__(self, packet) -> None:
        ts = packet.dts if packet.dts is not None else packet.pts
        tb = packet.time_base
        if not self.active or ts is None or tb is None:
            return
        last_end = self.end
        if self.end is not None:
            step = (ts + self.offset - self.end) * float(tb)
            if step < -RESET_BACK_S or step > RESET_AHEAD_S:
                last_end = None  # the stretch starts here, even where it overlaps the last one a little
                own = self.end - ts
                shared = round(self.restarts[self.resets] / tb) if self.resets < len(self.restarts) else None
                if shared is not None and -LONE_JUMP_S <= float((ts + shared - self.end) * tb) <= RESET_AHEAD_S:
                    self.offset = shared
                else:
                    self.offset = own
                    if self.resets >= len(self.restarts):
                        self.restarts.append(float(own * tb))
                self.resets += 1
        if self.offset:
            packet.pts = None if packet.pts is None else packet.pts + self.offset
            packet.dts = None if packet.dts is None else packet.dts + self.offset
        ts += self.offset
        self.end = max(last_end if last_end is not None else ts, ts + (packet.duration or 0))


def demux_packets(container, *streams) -> Iterator:
    """`container.demux(*streams)`, to the end of a file whose streams are not all known at its start.

    MPEG-TS may begin a stream after the start (another programme of a broadcast recording, or damage that makes
    one seem to begin). PyAV knows only the streams found at the start; at the end of the file it sends every
    stream an empty packet to drain its decoder, and raised IndexError at the first one it did not know, which
    failed the whole analysis after every frame had decoded."""
    flushing = False
    while True:
        try:
            for packet in container.demux(*streams):
                flushing = not packet.size
                yield packet
            return
        except IndexError:
            if flushing:
                return  # the streams it knows are drained
            # mid-file, a packet of a stream it does not know: pass it and read on


# A timestamp this far from both neighbours while they agree is damaged (a bit error in a PES header), not a jump.
LONE_JUMP_S = 1.0


_NAMES = ("pts", "dts")


def _times(packet) -> list[float | None]:
    """The packet's pts and dts in seconds (None where it has none)."""
    if packet.time_base is None:
        return [None, None]
    scale = float(packet.time_base)
    return [None if ts is None else ts * scale for ts in (packet.pts, packet.dts)]


def without_lone_timestamps(packets: Iterable) -> Iterator:
    """Packets, each damaged timestamp dropped: a pts or dts more than LONE_JUMP_S from those of the packets
    before and after it in its stream while those two agree. A bit error in one header would otherwise throw a
    frame far ahead, where it stops the sampling until then, or make a false restart of the clock. A frame
    without a timestamp follows the one before (the decode pass does that). Each packet is passed on when the
    next one of its stream arrives; each packet's times are read once."""
    before: dict[int, list[float | None]] = {}  # per stream: the last pts and dts passed on
    held: dict[int, tuple[object, list[float | None]]] = {}
    try:
        for after in packets:
            times_after = _times(after)
            if after.stream_index in held:
                packet, times = held.pop(after.stream_index)
                seen = before.setdefault(after.stream_index, [None, None])
                for k, (t, a, b) in enumerate(zip(times, times_after, seen)):
                    if None not in (t, a, b) and min(abs(t - b), abs(t - a)) > LONE_JUMP_S >= abs(a - b):
                        setattr(packet, _NAMES[k], None)
                    elif t is not None:
                        seen[k] = t
                yield packet
            held[after.stream_index] = (after, times_after)
    except av.error.FFmpegError:  # a read error: the packets held back still count, then the caller hears of it
        yield from (packet for packet, _ in held.values())
        raise
    yield from (packet for packet, _ in held.values())


def decode_packets(container, stream, log: PacketLog, restarts: list[float] | None = None) -> Iterator:
    """Every frame of `stream` in decoding order, timestamps mended (`TimestampMender`, with the file's clock
    `restarts` as the probe measured them); rejected packets are skipped and counted in `log`."""
    packets = without_lone_timestamps(demux_packets(container, stream))
    mend = TimestampMender(container, None if restarts is None else list(restarts))
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:  # the container cannot be read further: the stream ends here
            log.read_error = ffmpeg_reason(exc)
            return
        if packet.size:
            log.packets += 1
        mend(packet)
        log.resets = mend.resets
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            log.failed += 1
            log.first_error = log.first_error or ffmpeg_reason(exc)
            if packet.size:
                log.add(packet, rejected=True)
            continue
        if packet.size:
            log.add(packet)
        yield from frames


def ffmpeg_reason(exc: av.error.FFmpegError) -> str:
    """ffmpeg's reason without PyAV's errno ("[Errno 1128613112] Decoder not found" -> "Decoder not found")."""
    return getattr(exc, "strerror", None) or str(exc)


def spans_text(spans: list[tuple[float, float]], limit: int = 5) -> str:
    """'2.50-3.00 s, 7.00-7.50 s' (the first `limit` spans, then how many more)."""
    shown = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in spans[:limit])
    return shown + (f" and {len(spans) - limit} more" if len(spans) > limit else "")


def share_per_second(spans: list[tuple[float, float]], seconds: list[tuple[int, float, float]]) -> list[float]:
    """For each (second, start, end), the share of it the spans cover."""
    out = []
    for _, start, end in seconds:
        covered = sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)
        out.append(min(1.0, covered / max(end - start, 1e-9)))
    return out
