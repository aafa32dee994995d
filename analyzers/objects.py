"""Objects per second: a transformers object detector (DETR, RT-DETR, Conditional/Deformable DETR,
YOLOS, ... anything `AutoModelForObjectDetection` loads) on the sampled frames.

No detector weights ship with the project or inside a wheel: the model is a folder (or cached hub
id) the user configures in models.toml [objects]. The image processor is loaded with the PIL
backend, because transformers' torchvision backend cannot import beside the CPU torch build here.
Frames showing the same picture as the last detected one reuse its answer (analyzers.frame_models).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyzers.frame_models import answers_for_changed_frames, seconds_with_frames
from analyzers.progress import Progress, Say
from analyzers.records import Event

VERSION = "2"  # 2: confidence is the mean of the labels' best scores (was the lowest)
DEFAULT_THRESHOLD = 0.5
DEFAULT_BATCH = 8


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels


def load_processor(folder: str | Path):
    from transformers import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(str(folder), backend="pil", local_files_only=True)


def detect_objects(
    model, processor, images: list[np.ndarray], threshold: float = DEFAULT_THRESHOLD
) -> list[list[Detection]]:
    """Detections of each RGB image above `threshold`, most confident first."""
    import torch

    inputs = processor(images=images, return_tensors="pt")
    dtype = next(model.parameters()).dtype
    inputs = {k: v.to(model.device, dtype=dtype if v.is_floating_point() else v.dtype) for k, v in inputs.items()}
    with torch.inference_mode():
        outputs = model(**inputs)
    sizes = [image.shape[:2] for image in images]
    results = processor.post_process_object_detection(outputs, threshold=threshold, target_sizes=sizes)
    names = model.config.id2label
    found = []
    for (h, w), result in zip(sizes, results):
        detections = []
        for score, label, box in zip(result["scores"].tolist(), result["labels"].tolist(), result["boxes"].tolist()):
            x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
            x1, y1 = min(w, int(round(box[2]))), min(h, int(round(box[3])))
            detections.append(
                Detection(
                    str(names.get(label, label)), round(float(score), 4), (x0, y0, max(0, x1 - x0), max(0, y1 - y0))
                )
            )
        found.append(sorted(detections, key=lambda d: -d.score))
    return found


@dataclass(frozen=True)
class FrameObjects:
    t: float
    detections: list[Detection]
    reused: bool


def detect_frames(
    model,
    processor,
    frames_path: Path,
    threshold: float = DEFAULT_THRESHOLD,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> list[FrameObjects]:
    return [
        FrameObjects(frame.t, found, reused=reused)
        for frame, found, reused in answers_for_changed_frames(
            frames_path, lambda images: detect_objects(model, processor, images, threshold), batch_size, progress
        )
    ]


def analyze_objects(
    model,
    processor,
    frames_path: Path,
    duration_s: float,
    source: str,
    threshold: float = DEFAULT_THRESHOLD,
    batch_size: int = DEFAULT_BATCH,
    progress: Say | None = None,
) -> list[Event]:
    """Per second an `objects` event: the distinct labels seen in any of its frames (sorted), boxes in detail."""
    report = Progress(progress, "detecting objects", duration_s)
    events = []
    for start, end, group in seconds_with_frames(
        detect_frames(model, processor, frames_path, threshold, batch_size, report), duration_s
    ):
        best: dict[str, float] = {}
        boxes = []
        for frame in group:
            for d in frame.detections:
                best[d.label] = max(best.get(d.label, 0.0), d.score)
                boxes.append({"t": round(frame.t, 3), "label": d.label, "box": list(d.box), "score": d.score})
        detail = {"boxes": boxes, "frames": len(group), "frames_detected": sum(not f.reused for f in group)}
        # How sure the listed labels are: the mean of each label's best detection score in the second (one
        # weak label among sure ones lowers it in proportion, not to its own score).
        confidence = round(sum(best.values()) / len(best), 4) if best else None
        events.append(Event(start, end, "objects", sorted(best), confidence, source, detail))
    return events
