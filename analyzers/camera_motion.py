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

VERSION = "2"
SOURCE = "camera:background-vote"
LABELS = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "moving", "unknown")
STILL = 0.03  # content motion below 3 % of the frame per second reads as a fixed camera (a slow drift is no pan)
MAJORITY = 0.6  # share of a second's estimates that must agree before it gets their label
MIN_SHARE = 0.3  # an estimate whose background motion explains less of the frame than this does not vote


def classify(dx: float, dy: float, scale: float, *, still: float = STILL, zoom: float = 0.04) -> str:
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


def analyze_camera_motion(signals: pd.DataFrame, duration_s: float, cut_times: list[float]) -> list[Event]:
    """One `camera` event per second: the label most of its motion estimates agree on.

    Each estimate (about four a second, none across a cut) is the background's motion and the share of
    the frame it explains (analyzers.frame_signals.global_motion). A second takes the label of at least
    MAJORITY of its estimates; without such a majority (hand-held wobble, a subject filling the frame)
    it is `unknown`, as where nothing can be tracked. A second with no estimate of its own (a short last
    second) uses the nearest estimates of the same shot within half a second. The confidence is the mean
    share of the frame that the agreeing estimates explain, times the share of estimates that agree.
    """
    m = signals.dropna(subset=["motion_span"])
    t = m["t"].to_numpy(float)
    span = m["motion_span"].to_numpy(float)
    cuts = np.asarray(sorted(cut_times), float)
    # An estimate whose baseline [t - span, t] contains a cut compares two different shots.
    crosses = np.array([bool(((cuts > a - 1e-6) & (cuts <= b + 1e-6)).any()) for a, b in zip(t - span, t)], bool)
    share = np.nan_to_num(m["motion_inliers"].to_numpy(float), nan=0.0)
    dx, dy = m["motion_dx"].to_numpy(float), m["motion_dy"].to_numpy(float)
    scale = m["motion_scale"].to_numpy(float)
    labels = np.array(
        [classify(a, b, c) if w >= MIN_SHARE else "unknown" for a, b, c, w in zip(dx, dy, scale, share)], object
    )
    usable = ~crosses
    shot_of = np.searchsorted(cuts, t - span / 2, side="right")  # shot index of each estimate
    events = []
    for _, start, end in per_second_spans(duration_s):
        sel = usable & (t > start) & (t <= end + 1e-6)
        if not sel.any():
            # No estimate of its own: the nearest ones of the shot shown at the second's middle.
            mid = (start + end) / 2
            near = (
                usable
                & (np.abs(t - mid) <= 0.5 + (end - start) / 2)
                & (shot_of == np.searchsorted(cuts, mid, side="right"))
            )
            sel = near
        label, conf, detail = "unknown", 0.0, None
        if sel.any():
            values, counts = np.unique(labels[sel], return_counts=True)
            top = int(np.argmax(counts))
            agree = counts[top] / sel.sum()
            if values[top] != "unknown" and agree >= MAJORITY:
                label = str(values[top])
                pick = sel & (labels == label)
                conf = float(np.mean(share[pick]) * agree)
                mdx, mdy = float(np.median(dx[pick])), float(np.median(dy[pick]))
                mscale = float(np.exp(np.median(np.log(np.clip(scale[pick], 1e-3, None)))))
                detail = {
                    "content_dx": round(mdx, 5),
                    "content_dy": round(mdy, 5),
                    "scale_per_s": round(mscale, 5),
                    "frame_explained": round(float(np.mean(share[pick])), 3),
                    "estimates": int(sel.sum()),
                    "agree": int(counts[top]),
                }
            else:
                conf = 0.0
        events.append(Event(start, end, "camera", label, confidence=round(conf, 4), source=SOURCE, detail=detail))
    return events
