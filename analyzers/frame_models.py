"""Helpers of the analyzers that run a model on sampled frames (OCR, faces, objects).

`same_picture` tells whether a frame shows the same picture as an earlier one, so the model's answer
for the earlier frame can be reused instead of running the model again. The comparison is per
block, not over the whole frame: a clock ticking from 00:03 to 00:04 changes less than 0.1% of a
720p frame, which a whole-frame mean difference would call "unchanged", but it changes one block a
lot. Measured on the corpus: re-encoding noise between identical pictures stays below 1 grey level
per block, the smallest real change (the mwe clock) is above 11.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from analyzers import frame_cache
from analyzers.frames import SampledFrame, iter_frames
from analyzers.process_memory import release_free_memory
from analyzers.progress import Progress
from analyzers.read_ahead import read_ahead
from analyzers.records import per_second_spans

Answer = TypeVar("Answer")

THUMB_SIZE = (256, 144)  # width, height; blocks of 40x40 pixels of a 1280x720 frame
BLOCK = 8  # thumbnail pixels per block side
SAME_BLOCK_DIFF = 2.0  # largest mean absolute grey difference (0..255) of any block for "same picture"


def scaled_down(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """(the picture a model sees, its scale): `image` scaled down to max_side on its longest side (area
    interpolation), a smaller one as it is."""
    scale = min(1.0, max_side / max(image.shape[:2]))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1.0 else image
    return small, scale


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A small grey float image of an RGB frame, what `same_picture` compares."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, THUMB_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def block_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The largest mean absolute difference of any BLOCK x BLOCK block of two thumbnails."""
    diff = np.abs(a - b)
    h, w = (diff.shape[0] // BLOCK) * BLOCK, (diff.shape[1] // BLOCK) * BLOCK
    blocks = diff[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).mean(axis=(1, 3))
    return float(blocks.max())


def same_picture(a: np.ndarray, b: np.ndarray, threshold: float = SAME_BLOCK_DIFF) -> bool:
    return a.shape == b.shape and block_difference(a, b) <= threshold


def answers_for_changed_frames(
    frames_path: Path,
    run_model: Callable[[list[np.ndarray]], list[Answer]],
    batch_size: int,
    progress: Progress | None = None,
) -> Iterator[tuple[SampledFrame, Answer, bool]]:
    """(frame, answer, reused) for every sampled frame. The model runs, `batch_size` frames at a time,
    only on frames whose picture changed since the last one it saw; the others reuse that answer.
    The frames are decoded and their thumbnails made on a second thread, up to a batch ahead (`read_ahead`):
    while the model runs on one batch the next is read, on the core the model leaves idle (JPEG decoding
    and the thumbnail release the GIL). Frames an earlier pass in this process kept (`frame_cache`) are not
    decoded again. Beyond those, this holds at most twice the batch's frames and one more at a time; the
    memory they took is handed back to the system at the end."""
    last_thumb, last = None, None
    batch: list[tuple[SampledFrame, np.ndarray]] = []

    def flush():
        nonlocal last_thumb, last
        plan, todo = [], []  # per frame: index into `todo`, or None to reuse the previous answer
        for frame, thumb in batch:
            if last_thumb is not None and same_picture(thumb, last_thumb):
                plan.append(None)
            else:
                plan.append(len(todo))
                todo.append(frame.image)
                last_thumb = thumb
        found = run_model(todo) if todo else []
        for (frame, _), index in zip(batch, plan):
            if index is not None:
                last = found[index]
            yield frame, last, index is None
        if progress and batch:
            progress.at(batch[-1][0].t)

    with_thumbnails = frame_cache.frames_with_thumbnails(
        frames_path, lambda start: ((frame, thumbnail(frame.image)) for frame in iter_frames(frames_path, start))
    )
    try:
        with read_ahead(with_thumbnails, depth=max(2, batch_size), name="frames") as frames:
            for item in frames:
                batch.append(item)
                if len(batch) == batch_size:
                    yield from flush()
                    batch = []
            if batch:
                yield from flush()
    finally:
        release_free_memory()  # the reader thread's freed frames, kept in its malloc arena otherwise


def frames_by_second(items: list, duration_s: float) -> dict[int, list]:
    """Per second the items (with a `t`) inside it; a second without one gets the latest item before it
    (the picture still on screen), so every second of a video with frames is analysed."""
    spans = per_second_spans(duration_s)
    grouped: dict[int, list] = {s: [] for s, _, _ in spans}
    for item in items:
        s = int(np.floor(item.t + 1e-6))
        if s in grouped:
            grouped[s].append(item)
    previous = None
    for s, _, _ in spans:
        if grouped[s]:
            previous = grouped[s][-1]
        elif previous is not None:
            grouped[s] = [previous]
    return grouped


def seconds_with_frames(items: list, duration_s: float):
    """(start, end, its items) of every second that has an item, in order (`frames_by_second`)."""
    grouped = frames_by_second(items, duration_s)
    for s, start, end in per_second_spans(duration_s):
        if grouped[s]:
            yield start, end, grouped[s]
