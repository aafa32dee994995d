"""Cheap per-frame signals for cut detection, camera motion and visual statistics.

`FrameSignals.process_frame` takes every decoded frame of a video in order, as a small RGB image
(about SIGNAL_WIDTH pixels wide), and returns one row of `METRIC_KEYS`: brightness, colour,
sharpness, the change from the previous frame, about MOTION_RATE times a second the global
motion of the content since the last estimate, for an isolated peak of change how much of it
following the motion cannot explain (a cut's new picture cannot be made by moving the old one's
pixels; a fast swing's can), and how well the frame MIX_WINDOW_S / 2 back is a blend of the frames
at both ends of the last MIX_WINDOW_S (a dissolve mixes two pictures; motion does not).
It works on plain arrays, so it is tested without a video; the decode pass feeds it.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections import deque
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import pandas as pd

VERSION = "2"  # of the table's columns and their meaning
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
    "unexplained",  # share of the change from the previous frame that following its motion leaves (peaks only)
    "mix_t",  # time of the middle frame of the blend test (MIX_WINDOW_S / 2 back)
    "mix_change",  # mean absolute grey difference of the two ends of the window, 0..1
    "mix_alpha",  # weight of the older end in the blend that best makes the middle frame
    "mix_residual",  # share of the middle frame's difference from the nearer end that no blend explains
    "mix_corr",  # correlation of the two ends (near 1: the same picture, brighter or darker)
)
MIX_KEYS = ("mix_t", "mix_change", "mix_alpha", "mix_residual", "mix_corr")
_NO_MOTION = dict.fromkeys(("motion_dx", "motion_dy", "motion_scale", "motion_inliers", "motion_span"), math.nan)
_NO_MIX = dict.fromkeys(MIX_KEYS, math.nan)

# A frame's change is checked against its motion only where the cut rule (analyzers.shots) can see a cut: an
# isolated peak of change_score of at least PEAK_MIN_CHANGE, whose neighbours change by at most PEAK_SPREAD
# of it. That keeps the dense flow off the steady change of pans and zooms (measured: it ran on 165 of 600
# frames of synthetic_clip01 when every frame from 0.1 was checked, 0.7 ms a frame on average).
PEAK_MIN_CHANGE = 0.2
PEAK_SPREAD = 0.5
MIX_WINDOW_S = 1.0  # span of the blend test: a dissolve shorter than this is seen whole, a longer one in part
MIX_WIDTH = 64  # width of the grey thumbnails the blend test compares
MIX_FLOOR = 0.02  # window ends closer than this (mean grey difference) are not fitted: no transition to see
# Coded grey levels to linear light: editors blend either the coded values or linear light, so both are tried.
_LINEAR = ((np.arange(256, dtype=np.float32) / 255.0) ** 2.2).astype(np.float32)


def change_score(diff, hist_diff):
    """Content change (0..1) from the grey difference and the colour-histogram distance of two frames:
    the mean of the two, the grey difference scaled so a complete change of picture scores about 1."""
    return 0.5 * (np.minimum(np.asarray(diff, float) * 4.0, 1.0) + np.asarray(hist_diff, float))


def unexplained_change(prev: np.ndarray, cur: np.ndarray, flow) -> float:
    """Share of the grey difference between two frames left after moving `prev`'s pixels along the motion
    that best maps it onto `cur`: low for motion, however fast, and for moderate blur; near 1 for a new
    picture, which no motion of the old one makes. The motion is the dominant shift (phase correlation,
    which finds jumps of a third of the frame that the flow's pyramid alone misses) refined by a dense
    flow field (DIS), which follows parallax and movers."""
    raw = cv2.mean(cv2.absdiff(prev, cur))[0]
    h, w = prev.shape
    if raw <= 0 or min(h, w) < 16:  # DIS needs a few of its 8-pixel patches
        return math.nan
    (sx, sy), _ = cv2.phaseCorrelate(prev.astype(np.float32), cur.astype(np.float32))
    shifted = cv2.warpAffine(prev, np.float32([[1, 0, sx], [0, 1, sy]]), (w, h), borderMode=cv2.BORDER_REPLICATE)
    field = flow.calc(cur, shifted, None)  # for each pixel of `cur`, where it was in the shifted `prev`
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    moved = cv2.remap(
        shifted, gx + field[..., 0], gy + field[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return cv2.mean(cv2.absdiff(moved, cur))[0] / raw


def blend_fit(a: np.ndarray, m: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(alpha, residual): the blend b + alpha * (a - b) closest to m, and the mean distance of m from it as
    a share of m's mean distance from the nearer of a and b (0: m is exactly a blend of the ends)."""
    ab = a - b
    denom = float(np.dot(ab.ravel(), ab.ravel()))
    if denom <= 0:
        return math.nan, math.nan
    alpha = float(np.dot((m - b).ravel(), ab.ravel())) / denom
    off = float(np.abs(m - b - alpha * ab).mean())
    nearer = min(float(np.abs(m - a).mean()), float(np.abs(m - b).mean()))
    return alpha, (off / nearer if nearer > 0 else math.nan)


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

    def __init__(self, motion_rate: float = MOTION_RATE, mix_window_s: float = MIX_WINDOW_S):
        self._motion_gap = 1.0 / motion_rate if motion_rate > 0 else math.inf  # 0: no global-motion estimates
        self._mix_window = mix_window_s
        self._prev_gray: np.ndarray | None = None
        self._prev_hist: np.ndarray | None = None
        self._prev2: tuple[np.ndarray, np.ndarray] | None = None  # grey image and histogram two frames back
        self._last_scores: tuple[float, float] = (math.nan, math.nan)  # change_score of the two frames before
        self._motion_ref: tuple[float, np.ndarray] | None = None
        self._flow = None  # DIS optical flow, made on the first frame that changed a lot
        self._mix: deque[tuple[float, np.ndarray, np.ndarray]] = deque()  # (t, coded, linear) thumbnails
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
        diff = math.nan if prev_gray is None else cv2.mean(cv2.absdiff(gray, prev_gray))[0] / 255.0
        hist_diff = math.nan if prev_hist is None else 0.5 * float(np.abs(hist - prev_hist).sum())
        score = float(change_score(diff, hist_diff))
        self._check_previous_peak(score)
        row = {
            "t": t,
            "brightness": cv2.mean(gray)[0] / 255.0,
            "saturation": cv2.mean(hsv)[1] / 255.0,
            "red": red / 255.0,
            "green": green / 255.0,
            "blue": blue / 255.0,
            "sharpness": float(sharp_std[0, 0]) ** 2,
            "diff": diff,
            "hist_diff": hist_diff,
            "diff_2": math.nan if self._prev2 is None else cv2.mean(cv2.absdiff(gray, self._prev2[0]))[0] / 255.0,
            "hist_diff_2": math.nan if self._prev2 is None else 0.5 * float(np.abs(hist - self._prev2[1]).sum()),
            **self._motion(t, gray),
            "unexplained": math.nan,  # filled one frame later, when the frame turns out to be a peak
            **self._blend(t, gray),
        }
        for key in METRIC_KEYS:
            self._columns[key].append(row[key])
        if prev_gray is not None:
            self._prev2 = (prev_gray, prev_hist)
        self._last_scores = (self._last_scores[1], score)
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

    def _check_previous_peak(self, score: float) -> None:
        """With the current frame's change known, the previous frame's `unexplained` when it is an isolated peak."""
        before, peak = self._last_scores
        if not peak >= PEAK_MIN_CHANGE or self._prev2 is None:  # NaN: the first frames
            return
        before = 0.0 if math.isnan(before) else before
        if peak < max(before, score) or min(before, score) > PEAK_SPREAD * peak:
            return
        if self._flow is None:
            self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._columns["unexplained"][-1] = unexplained_change(self._prev2[0], self._prev_gray, self._flow)

    def _blend(self, t: float, gray: np.ndarray) -> dict[str, float]:
        """The blend test over the last MIX_WINDOW_S: is the middle frame a mix of the two ends?"""
        h, w = gray.shape
        size = (MIX_WIDTH, max(1, round(h * MIX_WIDTH / w)))
        small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        self._mix.append((t, small.astype(np.float32) / 255.0, _LINEAR[small]))
        while len(self._mix) > 2 and self._mix[1][0] <= t - self._mix_window + 1e-6:
            self._mix.popleft()  # keep one frame at or before the window's start
        t_a, coded_a, linear_a = self._mix[0]
        if len(self._mix) < 3 or t - t_a < 0.75 * self._mix_window:
            return _NO_MIX
        middle = (t_a + t) / 2
        t_m, coded_m, linear_m = self._mix[1]
        for entry in itertools.islice(self._mix, 2, len(self._mix) - 1):  # the frame nearest the middle
            if abs(entry[0] - middle) >= abs(t_m - middle):
                break
            t_m, coded_m, linear_m = entry
        coded_b, linear_b = self._mix[-1][1], self._mix[-1][2]
        change = cv2.norm(coded_a, coded_b, cv2.NORM_L1) / coded_a.size
        if change < MIX_FLOOR:  # the ends are the same picture: nothing to fit (most frames of most videos)
            return {**_NO_MIX, "mix_t": t_m, "mix_change": change}
        fits = [blend_fit(coded_a, coded_m, coded_b), blend_fit(linear_a, linear_m, linear_b)]
        alpha, residual = min(fits, key=lambda f: f[1] if f[1] == f[1] else math.inf)
        spread = float(coded_a.std()) * float(coded_b.std())
        corr = float(np.mean((coded_a - coded_a.mean()) * (coded_b - coded_b.mean()))) / spread if spread > 0 else 1.0
        return {"mix_t": t_m, "mix_change": change, "mix_alpha": alpha, "mix_residual": residual, "mix_corr": corr}

    @property
    def frames(self) -> int:
        return len(self._columns["t"])

    @property
    def last_t(self) -> float:
        return self._columns["t"][-1]

    def columns(self) -> dict[str, np.ndarray]:
        """The signals so far, one array per METRIC_KEYS (analyzers.shots reads these as it reads `table()`)."""
        return {key: np.asarray(values) for key, values in self._columns.items()}

    def table(self) -> pd.DataFrame:
        import pandas as pd  # here, not at the top: see analyzers.records.events_frame

        return pd.DataFrame(self.columns())
