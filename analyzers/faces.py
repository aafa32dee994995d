"""Faces per second: dlib's HOG frontal-face detector on the sampled frames.

dlib's detector is compiled into the `dlib-bin` wheel (no weights file, no torch). Measured on
synthetic_clip01 against its ground truth (docs/perception.md): the same exact per-second counts as
MTCNN (facenet-pytorch) with about 30% less CPU time and no
torchvision workaround. Frames are scaled to DET_MAX_SIDE and upsampled once inside dlib, which
finds faces down to about 40 pixels of a 640-pixel frame. Frames showing the same picture as the
last frame detected reuse its answer (analyzers.frame_models). dlib releases the GIL, so frames
are detected on a few threads, each with its own detector: one detector object is not thread-safe
(measured: concurrent calls on one object return another frame's faces).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from analyzers.frame_models import answers_for_changed_frames, frames_by_second
from analyzers.progress import Progress, Say
from analyzers.records import Event, per_second_spans

VERSION = "1"
SOURCE = "dlib:hog-frontal-face"
DET_MAX_SIDE = 640
UPSAMPLE = 1
MIN_SCORE = 0.0  # dlib's own decision threshold
_CHUNK = 16  # frames detected together on the thread pool


@dataclass(frozen=True)
class FaceBox:
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    score: float


_per_thread = threading.local()


def face_detector():
    """This thread's detector (created once per thread)."""
    if not hasattr(_per_thread, "detector"):
        import dlib

        _per_thread.detector = dlib.get_frontal_face_detector()
    return _per_thread.detector


def detect_faces(
    image: np.ndarray, detector=None, det_max_side: int = DET_MAX_SIDE, min_score: float = MIN_SCORE
) -> list[FaceBox]:
    """Faces in one RGB frame, most confident first."""
    detector = detector or face_detector()
    scale = min(1.0, det_max_side / max(image.shape[:2]))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1.0 else image
    rects, scores, _ = detector.run(np.ascontiguousarray(small), UPSAMPLE, min_score)
    h, w = image.shape[:2]
    faces = []
    for rect, score in zip(rects, scores):
        x0, y0 = max(0, int(rect.left() / scale)), max(0, int(rect.top() / scale))
        x1, y1 = min(w, int(round((rect.right() + 1) / scale))), min(h, int(round((rect.bottom() + 1) / scale)))
        faces.append(FaceBox((x0, y0, x1 - x0, y1 - y0), round(float(score), 4)))
    return sorted(faces, key=lambda f: -f.score)


@dataclass(frozen=True)
class FrameFaces:
    t: float
    faces: list[FaceBox]
    reused: bool


def detect_frames(frames_path: Path, workers: int | None = None, progress: Progress | None = None) -> list[FrameFaces]:
    """Faces of every sampled frame; a frame showing the same picture as the last detected one reuses its answer."""
    with ThreadPoolExecutor(workers or min(4, os.cpu_count() or 1)) as pool:
        return [
            FrameFaces(frame.t, faces, reused=reused)
            for frame, faces, reused in answers_for_changed_frames(
                frames_path, lambda images: list(pool.map(detect_faces, images)), _CHUNK, progress
            )
        ]


def analyze_faces(
    frames_path: Path, duration_s: float, workers: int | None = None, progress: Say | None = None
) -> list[Event]:
    """Per second a `faces` event: the most faces seen in any of its frames, that frame's boxes in detail."""
    grouped = frames_by_second(
        detect_frames(frames_path, workers, Progress(progress, "detecting faces", duration_s)), duration_s
    )
    events = []
    for s, start, end in per_second_spans(duration_s):
        group = grouped[s]
        if not group:
            continue
        busiest = max(group, key=lambda f: len(f.faces))
        detail = {
            "t": round(busiest.t, 3),
            "boxes": [{"box": list(f.box), "score": f.score} for f in busiest.faces],
            "frames": len(group),
            "frames_detected": sum(not f.reused for f in group),
        }
        confidence = min(f.score for f in busiest.faces) if busiest.faces else None
        events.append(Event(start, end, "faces", len(busiest.faces), confidence, SOURCE, detail))
    return events
