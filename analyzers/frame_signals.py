"""Cheap per-frame signals for cut detection, camera motion and visual statistics.

`FrameSignals.process_frame` takes every decoded frame of a video in order, as a small RGB image
(about SIGNAL_WIDTH pixels wide), and returns one row of `METRIC_KEYS`: brightness, colour,
sharpness, the change from the previous frame, and about MOTION_RATE times a second the global
motion of the content since the last estimate. It works on plain arrays, so it is tested without
a video; the decode pass feeds it.
"""

from __future__ import annotations

import math
from array import array

import cv2
import numpy as np
import pandas as pd

SIGNAL_WIDTH = 320  # analysis width of the per-frame signals (height follows the aspect ratio)
MOTION_RATE = 4.0  # global-motion estimates per second (each over a ~1/MOTION_RATE s baseline)

METRIC_KEYS = (
    "t",
    "brightness",  # mean grey level, 0..1
    "saturation",  # mean HSV saturation, 0..1
    "red",
    "green",
    "blue",
    "sharpness",  # variance of the Laplacian of the grey image
    "diff",  # mean absolute grey difference to the previous frame, 0..1
    "hist_diff",  # half the L1 distance of hue-saturation histograms to the previous frame, 0..1
    "motion_dx",  # content motion at the frame centre, fractions of the width per second
    "motion_dy",  # ... of the height per second
    "motion_scale",  # zoom factor per second (> 1: content grows)
    "motion_inliers",  # share of tracked corners the similarity fit explains
    "motion_span",  # seconds between the two frames of the estimate
)
_NO_MOTION = dict.fromkeys(("motion_dx", "motion_dy", "motion_scale", "motion_inliers", "motion_span"), math.nan)


def global_motion(prev: np.ndarray, cur: np.ndarray) -> tuple[float, float, float, float]:
    """Content motion between two grey frames: (dx, dy) at the frame centre in pixels, scale, inlier share.
    NaNs where too few corners can be tracked (flat or black frames)."""
    corners = cv2.goodFeaturesToTrack(prev, maxCorners=200, qualityLevel=0.01, minDistance=6)
    if corners is None or len(corners) < 12:
        return (math.nan,) * 4
    moved, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, corners, None, winSize=(21, 21), maxLevel=3)
    ok = status.ravel() == 1
    if ok.sum() < 12:
        return (math.nan,) * 4
    matrix, inliers = cv2.estimateAffinePartial2D(corners[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=1.5)
    if matrix is None:
        return (math.nan,) * 4
    h, w = prev.shape
    centre = np.array([w / 2, h / 2, 1.0])
    dx, dy = matrix @ centre - centre[:2]
    scale = math.hypot(matrix[0, 0], matrix[1, 0])
    return float(dx), float(dy), float(scale), float(inliers.mean())


class FrameSignals:
    """The per-frame signals of one video, frame by frame; `table()` gives them as one row per frame."""

    def __init__(self, motion_rate: float = MOTION_RATE):
        self._motion_gap = 1.0 / motion_rate
        self._prev_gray: np.ndarray | None = None
        self._prev_hist: np.ndarray | None = None
        self._motion_ref: tuple[float, np.ndarray] | None = None
        # One typed column per signal (8 bytes a value): an hour at 60 fps is ~25 MB.
        self._columns = {key: array("d") for key in METRIC_KEYS}

    def process_frame(self, t: float, rgb: np.ndarray) -> dict[str, float]:
        """Signals of the frame shown at `t` seconds (an H x W x 3 uint8 RGB image); frames come in time order."""
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
        cv2.normalize(hist, hist, 1.0, 0.0, cv2.NORM_L1)
        # cv2's reductions: several times faster per frame than numpy's on these small images.
        red, green, blue, _ = cv2.mean(rgb)
        _, sharp_std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_16S))
        prev_gray, prev_hist = self._prev_gray, self._prev_hist
        row = {
            "t": t,
            "brightness": cv2.mean(gray)[0] / 255.0,
            "saturation": cv2.mean(hsv)[1] / 255.0,
            "red": red / 255.0,
            "green": green / 255.0,
            "blue": blue / 255.0,
            "sharpness": float(sharp_std[0, 0]) ** 2,
            "diff": math.nan if prev_gray is None else cv2.mean(cv2.absdiff(gray, prev_gray))[0] / 255.0,
            "hist_diff": math.nan if prev_hist is None else 0.5 * float(np.abs(hist - prev_hist).sum()),
            **self._motion(t, gray),
        }
        for key in METRIC_KEYS:
            self._columns[key].append(row[key])
        self._prev_gray, self._prev_hist = gray, hist
        return row

    def _motion(self, t: float, gray: np.ndarray) -> dict[str, float]:
        """Global motion since the last estimate, when at least one motion gap has passed."""
        if self._motion_ref is None:
            self._motion_ref = (t, gray)
            return _NO_MOTION
        ref_t, ref_gray = self._motion_ref
        if t - ref_t < self._motion_gap - 1e-6:
            return _NO_MOTION
        self._motion_ref = (t, gray)
        dx, dy, scale, inliers = global_motion(ref_gray, gray)
        span = t - ref_t
        h, w = gray.shape
        # Normalised to fractions of the frame per second, scale to a factor per second.
        return {
            "motion_dx": dx / w / span,
            "motion_dy": dy / h / span,
            "motion_scale": scale ** (1.0 / span) if scale == scale and scale > 0 else math.nan,
            "motion_inliers": inliers,
            "motion_span": span,
        }

    @property
    def frames(self) -> int:
        return len(self._columns["t"])

    @property
    def last_t(self) -> float:
        return self._columns["t"][-1]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({key: np.asarray(values) for key, values in self._columns.items()})
