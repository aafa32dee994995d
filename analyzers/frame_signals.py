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
    "diff_2",  # mean absolute grey difference to the frame two before, 0..1 (does a change persist?)
    "hist_diff_2",  # histogram distance to the frame two before, 0..1
    "motion_dx",  # content motion at the frame centre, fractions of the width per second
    "motion_dy",  # ... of the height per second
    "motion_scale",  # zoom factor per second (> 1: content grows)
    "motion_inliers",  # share of the textured frame area the background motion explains (global_motion)
    "motion_span",  # seconds between the two frames of the estimate
)
_NO_MOTION = dict.fromkeys(("motion_dx", "motion_dy", "motion_scale", "motion_inliers", "motion_span"), math.nan)


GRID = (6, 4)  # columns, rows of the cells that vote for the background motion
MAX_PER_CELL = 12  # tracked corners per cell at most, so a detailed object cannot outvote a plain background
FIT_TOLERANCE_PX = 1.0  # a corner follows a motion when it lands within this many pixels of where the motion puts it
_MAX_MOTIONS = 3  # motions fitted one after another (background, and up to two moving objects)


def _grid_corners(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Up to MAX_PER_CELL corners in every grid cell, each cell judged on its own: one quality threshold for
    the whole frame would let a high-contrast object hide every corner of a plainer background."""
    h, w = gray.shape
    pts, cells = [], []
    for cx in range(GRID[0]):
        for cy in range(GRID[1]):
            x0, x1, y0, y1 = cx * w // GRID[0], (cx + 1) * w // GRID[0], cy * h // GRID[1], (cy + 1) * h // GRID[1]
            found = cv2.goodFeaturesToTrack(
                gray[y0:y1, x0:x1], maxCorners=MAX_PER_CELL, qualityLevel=0.05, minDistance=5
            )
            if found is not None:
                pts.append(found.reshape(-1, 2) + (x0, y0))
                cells += [cx * GRID[1] + cy] * len(found)
    if not pts:
        return None
    return np.concatenate(pts).astype(np.float32).reshape(-1, 1, 2), np.asarray(cells)


def global_motion(prev: np.ndarray, cur: np.ndarray) -> tuple[float, float, float, float]:
    """The background's motion between two grey frames: (dx, dy) at the frame centre in pixels, scale, and
    the share of the frame's textured cells that motion explains. NaNs where too few corners can be tracked.

    Several similarity motions are fitted one after another (RANSAC on the corners the earlier ones left),
    plus "no motion"; each grid cell votes for the motion most of its corners follow, and the motion with
    the most cells is the background. Voting by area, not by corner count, keeps a detailed object that
    crosses a fixed camera (a car, a printed box) from being taken for the camera's motion.
    """
    found = _grid_corners(prev)
    if found is None or len(found[0]) < 12:
        return (math.nan,) * 4
    corners, cell = found
    moved, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, corners, None, winSize=(21, 21), maxLevel=3)
    back, status_back, _ = cv2.calcOpticalFlowPyrLK(cur, prev, moved, None, winSize=(21, 21), maxLevel=3)
    # Forward-backward check: a corner that does not track back to itself was lost (occlusion, blur).
    ok = (status.ravel() == 1) & (status_back.ravel() == 1) & (np.linalg.norm(back - corners, axis=2).ravel() < 1.0)
    if ok.sum() < 12:
        return (math.nan,) * 4
    src, dst, cell = corners[ok].reshape(-1, 2), moved[ok].reshape(-1, 2), cell[ok]
    motions = [np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])]  # "no motion" is always a candidate
    left = np.ones(len(src), bool)
    for _ in range(_MAX_MOTIONS):
        if left.sum() < 8:
            break
        matrix, inliers = cv2.estimateAffinePartial2D(
            src[left], dst[left], method=cv2.RANSAC, ransacReprojThreshold=FIT_TOLERANCE_PX
        )
        if matrix is None or inliers.sum() < 6:
            break
        motions.append(matrix)
        idx = np.flatnonzero(left)
        left[idx[inliers.ravel() == 1]] = False
    ones = np.hstack([src, np.ones((len(src), 1))])
    follows = np.stack([np.linalg.norm(ones @ m.T - dst, axis=1) <= FIT_TOLERANCE_PX for m in motions])
    cells = np.unique(cell)
    # Per cell and motion: does that motion explain most of the cell's corners?
    votes = np.array([[follows[k, cell == c].mean() > 0.5 for c in cells] for k in range(len(motions))])
    area = votes.sum(axis=1)
    # Most cells wins; on a tie "no motion" (a fixed camera half hidden by a moving object), then most corners.
    best = max(range(len(motions)), key=lambda k: (area[k], k == 0, follows[k].sum()))
    matrix = motions[best]
    h, w = prev.shape
    centre = np.array([w / 2, h / 2, 1.0])
    dx, dy = matrix @ centre - centre[:2]
    scale = math.hypot(matrix[0, 0], matrix[1, 0])
    return float(dx), float(dy), float(scale), float(area[best] / len(cells))


class FrameSignals:
    """The per-frame signals of one video, frame by frame; `table()` gives them as one row per frame."""

    def __init__(self, motion_rate: float = MOTION_RATE):
        self._motion_gap = 1.0 / motion_rate
        self._prev_gray: np.ndarray | None = None
        self._prev_hist: np.ndarray | None = None
        self._prev2: tuple[np.ndarray, np.ndarray] | None = None  # grey image and histogram two frames back
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
            "diff_2": math.nan if self._prev2 is None else cv2.mean(cv2.absdiff(gray, self._prev2[0]))[0] / 255.0,
            "hist_diff_2": math.nan if self._prev2 is None else 0.5 * float(np.abs(hist - self._prev2[1]).sum()),
            **self._motion(t, gray),
        }
        for key in METRIC_KEYS:
            self._columns[key].append(row[key])
        if prev_gray is not None:
            self._prev2 = (prev_gray, prev_hist)
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
