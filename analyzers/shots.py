"""Shot boundaries from the per-frame signals of the decode pass.

Hard cuts: a frame whose content change (mean of the histogram and pixel differences to the
previous frame) stands out against its neighbourhood, so steady motion does not trigger
but a single-frame jump does. Fades: the content re-emerging after a run of near-black frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzers.records import Event, per_second_spans

VERSION = "1"
SOURCE = "shots:adaptive-content+fade"


def content_change(signals: pd.DataFrame) -> np.ndarray:
    diff = np.clip(signals["diff"].to_numpy(float) * 4.0, 0.0, 1.0)
    hist = signals["hist_diff"].to_numpy(float)
    return np.nan_to_num(0.5 * (diff + hist), nan=0.0)


def detect_cuts(
    signals: pd.DataFrame,
    fps: float,
    *,
    min_change: float = 0.12,
    ratio: float = 3.0,
    window_s: float = 0.5,
    min_shot_s: float = 0.4,
    black_level: float = 0.06,
) -> list[tuple[float, float, str]]:
    """(time of the new shot's first frame, strength, kind) for every boundary found."""
    t = signals["t"].to_numpy(float)
    if len(t) < 2:
        return []
    score = content_change(signals)
    half = max(2, int(round(window_s * (fps or 25.0))))
    candidates: list[tuple[float, float, str]] = []
    for i in range(1, len(t)):
        if score[i] < min_change:
            continue
        lo, hi = max(1, i - half), min(len(t), i + half + 1)
        neighbours = np.concatenate([score[lo : i - 1], score[i + 2 : hi]]) if hi > lo else np.zeros(0)
        base = float(np.median(neighbours)) if len(neighbours) else 0.0
        if score[i] >= ratio * max(base, 0.01) and score[i] >= score[max(1, i - 1) : i + 2].max():
            candidates.append((float(t[i]), float(score[i]), "cut"))
    # Fade-in: brightness rises out of a black run that a hard cut did not already end.
    dark = signals["brightness"].to_numpy(float) < black_level
    for i in range(1, len(t)):
        if dark[i - 1] and not dark[i] and i - 1 > 0:
            candidates.append((float(t[i]), 0.5, "fade_in"))
        if not dark[i - 1] and dark[i]:
            candidates.append((float(t[i]), 0.5, "fade_out"))
    candidates.sort()
    cuts: list[tuple[float, float, str]] = []
    for cand in candidates:
        if cand[0] < min_shot_s / 2:
            continue
        if cuts and cand[0] - cuts[-1][0] < min_shot_s:
            if cand[1] > cuts[-1][1]:
                cuts[-1] = cand
            continue
        cuts.append(cand)
    return cuts


def analyze_shots(signals: pd.DataFrame, fps: float, duration_s: float) -> list[Event]:
    """Per second: `shot` (index at the second's start) and `cut`; plus a `shot_boundary` event per cut."""
    cuts = detect_cuts(signals, fps)
    times = [c[0] for c in cuts]
    events = [
        Event(c[0], c[0], "shot_boundary", c[2], confidence=min(1.0, c[1]), source=SOURCE) for c in cuts
    ]
    for _, start, end in per_second_spans(duration_s):
        shot = sum(1 for x in times if x <= start + 1e-6)
        has_cut = any(start - 1e-6 <= x < end - 1e-6 for x in times)
        events.append(Event(start, end, "shot", shot, source=SOURCE))
        events.append(Event(start, end, "cut", has_cut, source=SOURCE))
    return events



def boundaries(events: list[Event]) -> list[float]:
    """Times of the shot boundaries among a shots analyzer's events."""
    return sorted(e.start_s for e in events if e.aspect == "shot_boundary")
