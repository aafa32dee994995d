"""What a frame the text analyzer reads again can take over from the last frame it read.

A frame is read again when any part of its picture changed (analyzers.frame_models). Often only a part
did: a clock ticks, a speaker moves beside a slide, a caption stays over moving pictures. The detector
still looks at the whole frame (detecting only the changed part was tried: the detector, which sees
the whole frame's context, then missed small text it finds in the whole frame), but
- a line of the last frame whose pixels did not change (every 8x8 block of its crop within SAME_LINE_DIFF
  grey levels) is still shown: it keeps its box over what the detector finds within it now, so its
  reading is not recognized again, and neither the detector's jitter of a few pixels nor its misses of
  small text it found before (angle marks 8 px high at the detector) change it; a line found over it
  that reaches beyond it (the line grew), or two found within it (split), replace it (`LastRead.settle`);
  only lines that were read (kept at their score) are remembered;
- a line at the place of a line of the last frame (box within SAME_LINE_SHIFT pixels) with the same
  pixels keeps PP-OCR's reading (`LastRead.recall`).
Measured on janus and mwe (461 pairs of one line in consecutive reads): the same text differed by at most
5.1 grey levels in a block (re-encoding noise), a clock digit that changed by 80 or more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from analyzers.frame_models import BLOCK, block_difference

SAME_LINE_DIFF = 6.0
SAME_LINE_SHIFT = 2  # frame pixels a line's box may move between reads and still be the same line
GROWN = 4  # detector pixels: a quad found within a line's box grown by this is that line found again


@dataclass(frozen=True)
class SeenLine:
    quad: np.ndarray  # in the detector's image
    box: np.ndarray  # x0, y0, x1, y1 in the frame
    grey: np.ndarray  # the line's crop, grey
    reading: tuple[str, float]  # PP-OCR's text and score


def line_key(quad: np.ndarray, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(box, grey crop) of a line (quad in frame pixels): what `LastRead.recall` compares."""
    box = np.concatenate([quad.min(axis=0), quad.max(axis=0)])
    return box, cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _bounds(quad: np.ndarray) -> tuple[float, float, float, float]:
    return quad[:, 0].min(), quad[:, 1].min(), quad[:, 0].max(), quad[:, 1].max()


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    ax0, ay0, ax1, ay1 = _bounds(a)
    bx0, by0, bx1, by1 = _bounds(b)
    return not (ax1 < bx0 or ax0 > bx1 or ay1 < by0 or ay0 > by1)


def _within(quad: np.ndarray, line: np.ndarray) -> bool:
    x0, y0, x1, y1 = _bounds(quad)
    lx0, ly0, lx1, ly1 = _bounds(line)
    return x0 >= lx0 - GROWN and y0 >= ly0 - GROWN and x1 <= lx1 + GROWN and y1 <= ly1 + GROWN


def _same_pixels(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and min(a.shape) >= BLOCK and block_difference(a, b) <= SAME_LINE_DIFF


class LastRead:
    """The lines of the last frame read (one per video, frames in order)."""

    def __init__(self):
        self.lines: list[SeenLine] = []

    def settle(self, found: list[np.ndarray], grey_at: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
        """The frame's lines (quads in the detector's image): those `found` now, with the last frame's lines
        whose pixels did not change (`grey_at(quad)`: the grey crop at that quad now) in place of any found
        within them."""
        found = list(found)
        kept = []
        for line in self.lines:
            if not _same_pixels(grey_at(line.quad), line.grey):
                continue
            over = [i for i, quad in enumerate(found) if _overlap(line.quad, quad)]
            if len(over) <= 1 and all(_within(found[i], line.quad) for i in over):
                found = [quad for i, quad in enumerate(found) if i not in over]
                kept.append(line.quad)
        return found + kept

    def recall(self, box: np.ndarray, grey: np.ndarray) -> tuple[str, float] | None:
        """PP-OCR's reading of the last frame's line at this place, when its pixels are the same."""
        for line in self.lines:
            if np.abs(line.box - box).max() <= SAME_LINE_SHIFT and _same_pixels(line.grey, grey):
                return line.reading
        return None

    def replace(self, lines: list[SeenLine]) -> None:
        self.lines = lines
