"""Camera motion per second from the global-motion estimates of the decode pass.

The decode pass measures how the CONTENT moves (at the frame centre, as a fraction of the
frame per second) and how much it scales. The camera moves the other way: content moving
left means the camera pans right; content growing means the camera zooms in.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analyzers.records import Event, per_second_spans

VERSION = "1"
SOURCE = "camera:affine-flow"
LABELS = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "moving", "unknown")


def classify(dx: float, dy: float, scale: float, *, still: float = 0.015, zoom: float = 0.04) -> str:
    """Label from content motion dx, dy (frame fractions per second) and scale factor per second."""
    if not all(map(math.isfinite, (dx, dy, scale))) or scale <= 0:
        return "unknown"
    z = abs(math.log(scale))
    m = math.hypot(dx, dy)
    if z >= zoom and z >= m:
        return "zoom_in" if scale > 1 else "zoom_out"
    if m < still:
        return "static"
    if abs(dx) >= 2 * abs(dy):
        return "pan_right" if dx < 0 else "pan_left"
    if abs(dy) >= 2 * abs(dx):
        return "tilt_down" if dy < 0 else "tilt_up"
    return "moving"


def analyze_camera_motion(
    signals: pd.DataFrame, duration_s: float, cut_times: list[float], *, min_inliers: float = 0.5
) -> list[Event]:
    """One `camera` event per second: the label of the median motion over estimates not spanning a cut."""
    m = signals.dropna(subset=["motion_span"])
    t = m["t"].to_numpy(float)
    span = m["motion_span"].to_numpy(float)
    cuts = np.asarray(sorted(cut_times), float)
    # An estimate whose baseline [t - span, t] contains a cut compares two different shots.
    crosses = np.array([bool(((cuts > a - 1e-6) & (cuts <= b + 1e-6)).any()) for a, b in zip(t - span, t)], bool)
    inliers = m["motion_inliers"].to_numpy(float)
    reliable = (~crosses) & (inliers >= min_inliers)
    # Tracked, but no single camera motion explains the image (handheld shake, subject filling the frame).
    erratic = (~crosses) & (inliers < min_inliers)
    dx, dy = m["motion_dx"].to_numpy(float), m["motion_dy"].to_numpy(float)
    scale = m["motion_scale"].to_numpy(float)
    events = []
    for _, start, end in per_second_spans(duration_s):
        inside = (t > start) & (t <= end + 1e-6) & np.isfinite(dx)
        sel = reliable & inside
        if not sel.any():
            label, conf, detail = ("moving", 0.5, None) if (erratic & inside).any() else ("unknown", 0.0, None)
        else:
            mdx, mdy = float(np.median(dx[sel])), float(np.median(dy[sel]))
            mscale = float(np.exp(np.median(np.log(np.clip(scale[sel], 1e-3, None)))))
            label = classify(mdx, mdy, mscale)
            agree = [classify(a, b, c) == label for a, b, c in zip(dx[sel], dy[sel], scale[sel])]
            conf = float(np.mean(agree))
            detail = {"content_dx": round(mdx, 5), "content_dy": round(mdy, 5), "scale_per_s": round(mscale, 5)}
        events.append(Event(start, end, "camera", label, confidence=conf, source=SOURCE, detail=detail))
    return events
