"""How much detail a picture shows, 0..1: the evidence a frame detector had when it found nothing.

A face detector or a text reader that finds nothing in a sharp 640x360 picture is good evidence that
nothing is there; finding nothing in a blurred 80x45 picture is not. Visibility is the product of
- resolution: the picture's short side at the detectors' working size (at most 640 px long), over 360 px;
- sharpness: from the no-reference blur measure of Crete et al. (2007, "The blur effect: perception and
  estimation with a new no-reference perceptual blur metric"): re-blur the picture and see how much of its
  neighbouring-pixel variation survives. The measure is about 0.1-0.4 for sharp pictures and rises towards
  1 with blur; it maps to sharpness 1 up to SHARP and 0 from BLURRED on.
A flat picture (black, one colour) hides nothing: its sharpness is 1.
"""

from __future__ import annotations

import cv2
import numpy as np

from analyzers.frame_models import scaled_down

WORK_SIDE = 640  # the face detector's working size (analyzers/faces.py DET_MAX_SIDE)
FULL_SHORT_SIDE = 360  # a short side of this many sharp pixels shows everything the detectors need
SHARP, BLURRED = 0.4, 0.9  # blur measure at which sharpness is 1 and 0
FLAT = 3.0  # standard deviation of the grey levels below which a picture is flat (black, one colour)


def blur_measure(gray: np.ndarray) -> float | None:
    """Crete's blur measure of a grey image, 0 (sharp) .. 1 (blurred); None for a flat picture."""
    if float(cv2.meanStdDev(gray)[1][0, 0]) < FLAT:
        return None
    f = gray.astype(np.float32)
    measures = []
    for axis, kernel in ((0, (1, 9)), (1, (9, 1))):  # cv2 kernel size is (width, height)
        blurred = cv2.blur(f, kernel)
        d_f = np.abs(np.diff(f, axis=axis))
        d_b = np.abs(np.diff(blurred, axis=axis))
        total = float(d_f.sum())
        if total <= 0:
            continue
        kept = float(np.maximum(0.0, d_f - d_b).sum())
        measures.append((total - kept) / total)
    return max(measures) if measures else None


def visibility(rgb: np.ndarray) -> float:
    """Visibility of one RGB picture (H x W x 3 uint8), 0..1."""
    small, _ = scaled_down(rgb, WORK_SIDE)
    resolution = min(1.0, min(small.shape[:2]) / FULL_SHORT_SIDE)
    blur = blur_measure(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    sharpness = 1.0 if blur is None else float(np.clip((BLURRED - blur) / (BLURRED - SHARP), 0.0, 1.0))
    return round(resolution * sharpness, 4)
