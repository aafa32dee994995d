"""On-screen text per second: PP-OCR (text detection + recognition) on the sampled frames.

The models are the PP-OCRv4 detector and recognizer that ship inside the `rapidocr_onnxruntime`
wheel (ONNX, CPU), so nothing is downloaded. Two measured choices keep it fast:
- detection runs on the frame scaled down to DET_MAX_SIDE (the detector's cost grows with pixels;
  lines 30 px high in a 1280 px frame, 11 px at the detector, are still found), while recognition
  reads each line from the full-size frame;
- a frame showing the same picture as the last frame read (analyzers.frame_models) reuses its
  result instead of being read again: slides, titles and static shots cost one read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from analyzers.frame_models import answers_for_changed_frames, frames_by_second
from analyzers.progress import Progress, Say
from analyzers.records import Event, per_second_spans

VERSION = "1"
SOURCE = "rapidocr:PP-OCRv4"
DET_MAX_SIDE = 480  # measured: same or better recall than 640 on the corpus at 60% of the CPU time
MIN_SCORE = 0.8  # recognizer confidence below this is mostly texture read as letters


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels


@lru_cache(maxsize=1)
def ocr_engine():
    """The bundled PP-OCR engine (loaded once per process). Text is assumed upright: no angle classifier;
    `read_text` scales frames for the detector itself, so the engine's own rescaling is turned off."""
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(use_cls=False, det_limit_side_len=32, det_limit_type="min")


_DIGIT_TOKEN = re.compile(r"^[0-9Oo.,:%/+-]*[0-9][0-9Oo.,:%/+-]*$")


def clean_text(text: str) -> str:
    """Collapses whitespace; in a token made of digits, a letter O is the digit 0 ("CLIP O1" -> "CLIP 01")."""
    tokens = text.split()
    return " ".join(t.replace("O", "0").replace("o", "0") if _DIGIT_TOKEN.match(t) else t for t in tokens)


def read_text(
    image: np.ndarray, engine=None, det_max_side: int = DET_MAX_SIDE, min_score: float = MIN_SCORE
) -> list[TextLine]:
    """Text lines of one RGB frame, top to bottom. The detector sees the frame scaled down to at most
    det_max_side on its longest side (smaller frames as they are); the engine's detector and
    recognizer stages are called separately for that (rapidocr_onnxruntime is pinned to the release
    whose stage API this uses)."""
    engine = engine or ocr_engine()
    scale = min(1.0, det_max_side / max(image.shape[:2]))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1.0 else image
    quads, _ = engine.text_det(small)
    if quads is None or len(quads) == 0:
        return []
    quads = [(q / scale).astype(np.float32) for q in engine.sorted_boxes(quads)]
    recognized, _ = engine.text_rec(engine.get_crop_img_list(image, quads))
    lines = []
    for quad, (text, score) in zip(quads, recognized):
        text = clean_text(text)
        if text and score >= min_score:
            x0, y0 = np.floor(quad.min(axis=0)).astype(int)
            x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
            lines.append(TextLine(text, round(float(score), 4), (int(x0), int(y0), int(x1 - x0), int(y1 - y0))))
    return lines


@dataclass(frozen=True)
class FrameText:
    t: float
    lines: list[TextLine]
    reused: bool  # the answer of an earlier frame showing the same picture


def read_frames(frames_path: Path, engine=None, progress: Progress | None = None) -> Iterable[FrameText]:
    """Text of every sampled frame, reading only frames whose picture changed since the last read."""
    for frame, lines, reused in answers_for_changed_frames(
        frames_path, lambda images: [read_text(image, engine) for image in images], 1, progress
    ):
        yield FrameText(frame.t, lines, reused=reused)


def _distinct(lines: Iterable[TextLine]) -> list[TextLine]:
    """One line per string (case and spaces ignored), the most confident reading, in reading order."""
    best: dict[str, TextLine] = {}
    for line in lines:
        key = line.text.casefold().replace(" ", "")
        if key not in best or line.score > best[key].score:
            best[key] = line
    return list(best.values())


def analyze_text(frames_path: Path, duration_s: float, engine=None, progress: Say | None = None) -> list[Event]:
    """Per second a `text` event: the distinct strings on screen in any of its frames, boxes in detail."""
    grouped = frames_by_second(
        list(read_frames(frames_path, engine, Progress(progress, "reading text", duration_s))), duration_s
    )
    events = []
    for s, start, end in per_second_spans(duration_s):
        group = grouped[s]
        if not group:
            continue
        lines = _distinct(line for f in group for line in f.lines)
        detail = {
            "boxes": [{"text": line.text, "box": list(line.box), "score": line.score} for line in lines],
            "frames": len(group),
            "frames_read": sum(not f.reused for f in group),
        }
        confidence = round(min(line.score for line in lines), 4) if lines else None
        events.append(Event(start, end, "text", [line.text for line in lines], confidence, SOURCE, detail))
    return events
