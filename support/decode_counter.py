"""Counts how a run reads media through PyAV: every open of a file and every frame decoded, whichever
PyAV API does the decoding.

PyAV decodes through `container.decode()`, `packet.decode()` (packets from `container.demux()`),
`stream.decode(packet)` and `stream.codec_context.decode(packet)`. Its classes are C types whose
methods cannot be patched, so `counting_open` wraps what `av.open` returns instead: the container,
its streams, their codec contexts and the packets it demuxes are proxies. A proxy's decode method
counts the frames the real one returns; everything else is passed through, with proxies unwrapped
wherever PyAV's C code needs the real object (`container.decode(stream)`, `stream.decode(packet)`).
Frames are PyAV's own objects, never proxies.

Used by the decode-once test and by bench/worker.py (the "decoded once" figures).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import av
import av.container

# What a proxy hands back in place of PyAV objects of these types (filled in below the classes).
_PROXIES: list[tuple[type, type]] = []


@dataclass
class DecodeCounts:
    opened: list[str] = field(default_factory=list)
    video_frames: int = 0
    audio_frames: int = 0
    other_frames: int = 0  # subtitles and data
    by_api: Counter = field(default_factory=Counter)  # frames per decoding call, e.g. "packet.decode"

    def add(self, frame, api: str) -> None:
        if isinstance(frame, av.VideoFrame):
            self.video_frames += 1
        elif isinstance(frame, av.AudioFrame):
            self.audio_frames += 1
        else:
            self.other_frames += 1
        self.by_api[api] += 1


def _unwrap(value):
    if isinstance(value, _Proxy):
        return object.__getattribute__(value, "_real")
    if isinstance(value, list | tuple):
        return type(value)(_unwrap(v) for v in value)
    return value


def _wrap(value, counts: DecodeCounts):
    for real_type, proxy_type in _PROXIES:
        if isinstance(value, real_type):
            return proxy_type(value, counts)
    if isinstance(value, tuple) and any(isinstance(v, av.stream.Stream) for v in value):
        return tuple(_wrap(v, counts) for v in value)  # container.streams.video, .audio, ...
    if callable(value) and not isinstance(value, type):
        return _passing_through(value, counts)
    return value


def _passing_through(method, counts: DecodeCounts):
    """A method of a real object: arguments unwrapped, results (and what generators yield) wrapped."""

    def call(*args, **kwargs):
        result = method(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
        if isinstance(result, Iterator) and not isinstance(result, av.container.Container):
            return (_wrap(item, counts) for item in result)
        return _wrap(result, counts)

    return call


class _Proxy:
    """Forwards to the real PyAV object; subclasses count the frames of its decode methods."""

    __slots__ = ("_counts", "_real")

    def __init__(self, real, counts: DecodeCounts):
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "_counts", counts)

    def __getattr__(self, name):
        return _wrap(getattr(self._real, name), self._counts)

    def __setattr__(self, name, value):  # e.g. `stream.thread_type = "AUTO"` sets it on the real stream
        setattr(self._real, name, _unwrap(value))

    def __eq__(self, other):
        return self._real == _unwrap(other)

    def __hash__(self):
        return hash(self._real)

    def __repr__(self):
        return f"<counting {self._real!r}>"

    def _counted(self, frames, api: str):
        for frame in frames:
            self._counts.add(frame, api)
        return frames


class _Container(_Proxy):
    __slots__ = ()

    def __enter__(self):
        self._real.__enter__()
        return self

    def __exit__(self, *exc):
        return self._real.__exit__(*exc)

    def decode(self, *streams, **kwargs):
        for frame in self._real.decode(*_unwrap(streams), **kwargs):
            self._counts.add(frame, "container.decode")
            yield frame


class _Streams(_Proxy):
    """`container.streams`: indexing, iterating and `.video` / `.audio` give stream proxies."""

    __slots__ = ()

    def __getitem__(self, index):
        return _wrap(self._real[index], self._counts)

    def __iter__(self):
        return (_wrap(s, self._counts) for s in self._real)

    def __len__(self):
        return len(self._real)

    def __bool__(self):
        return len(self._real) > 0


class _Stream(_Proxy):
    __slots__ = ()

    def decode(self, packet=None):
        return self._counted(self._real.decode(_unwrap(packet)), "stream.decode")


class _CodecContext(_Proxy):
    __slots__ = ()

    def decode(self, packet=None):
        return self._counted(self._real.decode(_unwrap(packet)), "codec_context.decode")


class _Packet(_Proxy):
    __slots__ = ()

    def decode(self):
        return self._counted(self._real.decode(), "packet.decode")

    def __bytes__(self):
        return bytes(self._real)


_PROXIES += [
    (av.container.Container, _Container),
    (av.container.streams.StreamContainer, _Streams),
    (av.stream.Stream, _Stream),
    (av.codec.context.CodecContext, _CodecContext),
    (av.packet.Packet, _Packet),
]


def counting_open(real_open, counts: DecodeCounts):
    """A stand-in for `av.open` that records every open and every decoded frame into `counts`."""

    def open_and_count(file, *args, **kwargs):
        counts.opened.append(str(file))
        return _wrap(real_open(file, *args, **kwargs), counts)

    return open_and_count


def _names_of(module, target) -> list[str]:
    try:
        return [name for name, value in vars(module).items() if value is target]
    except TypeError:  # not a module (a few packages put other objects in sys.modules)
        return []


@contextmanager
def counting_media_reads() -> Iterator[DecodeCounts]:
    """Counts every PyAV open and decoded frame while the block runs: `av.open`, `av.container.open`,
    and any module-level name already bound to them (`from av import open`) are replaced, then restored."""
    counts = DecodeCounts()
    real_open = av.open
    stand_in = counting_open(real_open, counts)
    replaced = [(module, name) for module in list(sys.modules.values()) for name in _names_of(module, real_open)]
    for module, name in replaced:
        setattr(module, name, stand_in)
    try:
        yield counts
    finally:
        for module, name in replaced:
            setattr(module, name, real_open)
