"""The sampled frames of one frame store kept decoded in this process, for the next frame model that reads them.

The text, face and object analyzers (and the persons' embedder after them) each read the same stored frames:
decoding the JPEGs and making the change thumbnails cost 0.38 CPU s a pass over synthetic_clip01's 96 frames, on
the core the model would otherwise have. The first pass keeps what it decoded, from the first frame on, up to a
memory budget ($VIDEO_TIMELINE_FRAME_CACHE_MB, default 384 MB: about 65 s of 720p frames at 2 a second; 0 keeps
none); later passes over the same store take those frames from memory and decode only the rest. The frames kept
are the ones decoding gives, so every model's answer is the same as without them. They are made read-only: a
model that wrote into its input would change what the next one sees.

One store at a time: reading another store, or the same path rewritten (a new decode), starts again. `release()`
hands the memory back before work that needs it more (a new decode pass, a heavy model).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from analyzers.frames import SampledFrame
from analyzers.process_memory import release_free_memory

BUDGET_ENV = "VIDEO_TIMELINE_FRAME_CACHE_MB"
DEFAULT_BUDGET_MB = 384

Item = tuple[SampledFrame, np.ndarray]  # a frame and its change thumbnail (analyzers.frame_models.thumbnail)

_lock = threading.Lock()
_key: tuple | None = None  # the store the kept frames are of
_kept: list[Item] = []  # its first frames, in stored order
_kept_bytes = 0


def budget_bytes() -> int:
    raw = os.environ.get(BUDGET_ENV, "").strip()
    try:
        mb = int(raw) if raw else DEFAULT_BUDGET_MB
    except ValueError:
        mb = -1
    if mb < 0:
        raise ValueError(f"${BUDGET_ENV}={raw!r}: expected a whole number of megabytes (0 keeps no frames)")
    return mb * 1024 * 1024


def _store_key(path: Path) -> tuple:
    """Which store this is: a rewritten store (moved into place by the IO manager) differs in inode or mtime."""
    st = os.stat(path)
    return (os.path.realpath(path), st.st_ino, st.st_mtime_ns, st.st_size)


def _size(item: Item) -> int:
    return item[0].image.nbytes + item[1].nbytes


def release() -> None:
    """Forget the kept frames (their memory goes back once no pass still holds them)."""
    global _key, _kept, _kept_bytes
    with _lock:
        had = bool(_kept)
        _key, _kept, _kept_bytes = None, [], 0
    if had:
        release_free_memory()


def kept_bytes() -> int:
    """The memory the kept frames and thumbnails hold."""
    return _kept_bytes


def kept_frames(path: Path) -> list[SampledFrame]:
    """The frames of the store at `path` kept in memory (its first ones, in order); [] when none are."""
    key = _store_key(path)
    with _lock:
        return [frame for frame, _ in _kept] if key == _key else []


def frames_with_thumbnails(path: Path, read_from: Callable[[float], Iterator[Item]]) -> Iterator[Item]:
    """Every (frame, thumbnail) of the store at `path` in stored order: the kept ones from memory, then
    `read_from(t)` (the stored frames from time t on, decoded), keeping those that follow the kept ones while the
    budget allows."""
    global _key, _kept, _kept_bytes
    key, budget = _store_key(path), budget_bytes()
    with _lock:
        if key != _key:
            _key, _kept, _kept_bytes = key, [], 0
        kept = list(_kept)
    yield from kept
    start = float(np.nextafter(kept[-1][0].t, np.inf)) if kept else 0.0
    keeping = True  # until the first frame not kept: the kept ones are always the store's first
    for item in read_from(start):
        if keeping:
            with _lock:
                # Another pass over the store may have kept these frames meanwhile, or started another store.
                keeping = _key == key and len(_kept) == len(kept) and _kept_bytes + _size(item) <= budget
                if keeping:
                    for array in (item[0].image, item[1]):
                        array.flags.writeable = False
                    _kept.append(item)
                    _kept_bytes += _size(item)
                    kept.append(item)
        yield item
