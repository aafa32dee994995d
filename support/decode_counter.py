"""Counts how a run reads media: every open of a file and every frame decoded through PyAV.

Used by the decode-once test and by bench/worker.py (the "decoded once" figures)."""

from dataclasses import dataclass, field

import av


@dataclass
class DecodeCounts:
    opened: list[str] = field(default_factory=list)
    video_frames: int = 0
    audio_frames: int = 0


class _CountingContainer:
    def __init__(self, container, counts: DecodeCounts):
        self._c, self._counts = container, counts

    def __getattr__(self, name):
        return getattr(self._c, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._c.__exit__(*exc)

    def decode(self, *streams, **kw):
        for frame in self._c.decode(*streams, **kw):
            _count(self._counts, frame)
            yield frame

    def demux(self, *streams, **kw):
        """Packets whose `decode()` counts the frames it returns (decoding packet by packet)."""
        for packet in self._c.demux(*streams, **kw):
            yield _CountingPacket(packet, self._counts)


class _CountingPacket:
    def __init__(self, packet, counts: DecodeCounts):
        self._p, self._counts = packet, counts

    def __getattr__(self, name):
        return getattr(self._p, name)

    def decode(self):
        frames = self._p.decode()
        for frame in frames:
            _count(self._counts, frame)
        return frames


def _count(counts: DecodeCounts, frame) -> None:
    if isinstance(frame, av.VideoFrame):
        counts.video_frames += 1
    else:
        counts.audio_frames += 1


def counting_open(real_open, counts: DecodeCounts):
    """A stand-in for `av.open` that records into `counts`."""

    def open_and_count(file, *args, **kwargs):
        counts.opened.append(str(file))
        return _CountingContainer(real_open(file, *args, **kwargs), counts)

    return open_and_count
