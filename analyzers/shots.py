"""Shot boundaries from the per-frame signals of the decode pass.

Hard cuts: a frame whose content change (mean of the histogram and pixel differences to the
previous frame) stands out against its neighbourhood, so steady motion does not trigger
but a single-frame jump does. A cut replaces the picture within one frame (two when the encoder
spreads it); when the frames on both sides of a peak also change by more than half as much, the
change is spread over three or more frames (a whip pan, a handheld jolt, an exposure swing), so
it is no cut. A change that does not last is no cut either: when the frame after a peak is about as
close to the frame before it as neighbouring frames are (one motion-blurred frame in a fast hand-held
swing, a flash), the picture came back, so the peak was no new shot. Nor is a change that motion
explains: when moving the previous frame's pixels (dominant shift, then a dense flow field) removes at
least half of the difference (a hand-held swing, a subject lunging at the lens, a car passing close),
the picture moved rather than changed (on the labelled clips a cut's new picture leaves 0.66-1.0 of it,
motion at most 0.57). The decode pass measures this on isolated peaks of change only.

Black runs: a short one between two scenes (a fade out and in, a dip to black) is one transition,
placed at its middle; a long one is a shot of its own; black at the very start or end of the video is
no boundary, nor is a single black frame between two frames that differ by less than a cut's least
change (a dropped frame, a strobe light: the picture came back). Longer runs between the same picture
are still transitions: the signals compare a frame with the two before it only.

Dissolves: for every frame the decode pass tests whether the frame half a window back is a blend of
the frames at both ends of the window (analyzers.frame_signals, in coded values and in linear light,
as editors mix either). During a dissolve it is, with the blend weight falling from the old picture to
the new; under motion it is not (a moved picture is no mix of two others), nor under a cut (the middle
frame is one of the ends, weight 0 or 1), nor under a change of exposure (the ends are the same
picture, strongly correlated). A run of such frames whose weight falls is one dissolve, placed at the
middle of the run; a run that reaches black is a fade, left to the black-run rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from analyzers.frame_signals import MIX_KEYS, MIX_WINDOW_S, PEAK_MIN_CHANGE, PEAK_SPREAD, change_score
from analyzers.records import Event, per_second_spans

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

    # The per-frame signals (analyzers.frame_signals): their table, or its columns as arrays (analyzers.cut_list).
    Signals = pd.DataFrame | Mapping[str, np.ndarray]

VERSION = "5"  # 5: one black frame between the same picture is no boundary
SOURCE = "shots:adaptive-content+motion-check+dissolve+fade"
MIN_UNEXPLAINED = 0.5  # a cut leaves at least this share of the frame difference after following the motion
MIX_RESIDUAL = 0.35  # a middle frame this close to a blend of the window's ends is a mix of two pictures
MIX_MIN_CHANGE = 0.05  # the ends of a dissolve's window differ by at least this mean grey difference
MIX_MAX_CORR = 0.9  # ends correlated more than this are one picture (exposure, lighting), not two
MIX_ALPHA = (0.2, 0.8)  # blend weights of the old picture a dissolve's middle frames show
MIX_MIN_FRAMES = 3  # rows a dissolve's run needs (one or two blend-like frames are chance)
MIX_SWEEP = 0.3  # over a dissolve the blend weight falls from the old picture to the new by at least this


def _column(signals: Signals, key: str) -> np.ndarray:
    return np.asarray(signals[key], dtype=float)


def content_change(signals: Signals, diff: str = "diff", hist: str = "hist_diff") -> np.ndarray:
    """Per frame the change of content (0..1) from the previous frame (or, with the `_2` columns, two before)."""
    return np.nan_to_num(change_score(_column(signals, diff), _column(signals, hist)), nan=0.0)


def lasting_change(signals: Signals, score: np.ndarray) -> np.ndarray:
    """Per frame i, the change from frame i-1 to frame i+1: how much of frame i's change is still there one
    frame later. Signals without the two-frame columns count every change as lasting."""
    if "diff_2" not in signals or "hist_diff_2" not in signals:
        return score.copy()
    skip = content_change(signals, "diff_2", "hist_diff_2")
    out = np.empty_like(score)
    out[:-1] = skip[1:]
    out[-1] = score[-1]  # the last frame: nothing after it to compare
    return out


def black_runs(signals: Signals, black_level: float) -> list[tuple[int, int]]:
    """(first, last) frame indices of each run of near-black frames."""
    dark = _column(signals, "brightness") < black_level
    runs: list[tuple[int, int]] = []
    for i in np.flatnonzero(dark):
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def detect_dissolves(
    signals: Signals, runs: list[tuple[int, int]] | None = None, black_level: float = 0.06
) -> list[tuple[float, float, str]]:
    """(middle of the dissolve, confidence, "dissolve") for every dissolve found; the confidence is
    1 - the run's median residual / MIX_RESIDUAL. Signals without the blend-test columns (stored by an
    older decode pass) give none."""
    if not all(key in signals for key in MIX_KEYS):
        return []
    t = _column(signals, "t")
    mid = _column(signals, "mix_t")
    alpha = _column(signals, "mix_alpha")
    residual = _column(signals, "mix_residual")
    blend = (
        (_column(signals, "mix_change") >= MIX_MIN_CHANGE)
        & (_column(signals, "mix_corr") < MIX_MAX_CORR)
        & (alpha >= MIX_ALPHA[0])
        & (alpha <= MIX_ALPHA[1])
        & (residual <= MIX_RESIDUAL)
    )  # NaN (no full window yet) compares False
    window = 2 * float(np.nanmedian(t - mid)) if np.isfinite(mid).any() else MIX_WINDOW_S
    black = [(t[a], t[b]) for a, b in (runs if runs is not None else black_runs(signals, black_level))]
    found: list[tuple[float, float, str]] = []
    rows: list[list[int]] = []
    for i in np.flatnonzero(blend):
        if rows and i - rows[-1][-1] <= 2:  # one or two frames that miss the test do not split a dissolve
            rows[-1].append(i)
        else:
            rows.append([i])
    for run in rows:
        if len(run) < MIX_MIN_FRAMES or alpha[run[0]] - alpha[run[-1]] < MIX_SWEEP:
            continue  # too short, or the weight does not move from the old picture to the new
        lo, hi = mid[run[0]] - window, mid[run[-1]] + window
        if any(a <= hi and b >= lo for a, b in black):
            continue  # it runs into black: a fade, placed by the black-run rule
        confidence = float(np.clip(1.0 - np.median(residual[run]) / MIX_RESIDUAL, 0.0, 1.0))
        found.append((float(mid[run[0]] + mid[run[-1]]) / 2, confidence, "dissolve"))
    return found


def detect_cuts(
    signals: Signals,
    fps: float,
    *,
    min_change: float = PEAK_MIN_CHANGE,  # the decode pass checks the motion of peaks from here on
    ratio: float = 3.0,
    window_s: float = 0.5,
    min_shot_s: float = 0.4,
    max_spread: float = PEAK_SPREAD,
    min_lasting: float = 0.5,
    min_hist: float = 0.1,
    black_level: float = 0.06,
    black_shot_s: float = 2.0,
) -> list[tuple[float, float, str]]:
    """(time of the new shot's first frame, strength, kind) for every boundary found."""
    t = _column(signals, "t")
    if len(t) < 2:
        return []
    score = content_change(signals)
    lasting = lasting_change(signals, score)
    hist = np.nan_to_num(_column(signals, "hist_diff"), nan=0.0)
    # Share of a frame's change that following its motion leaves (NaN: not measured, counts as a new picture).
    unexplained = _column(signals, "unexplained") if "unexplained" in signals else np.full(len(t), np.nan)
    sat = _column(signals, "saturation") if "saturation" in signals else np.ones(len(t))
    coloured = np.minimum(sat, np.roll(sat, 1)) >= 0.05
    half = max(2, int(round(window_s * (fps or 25.0))))
    edge = 2.5 / (fps or 25.0)
    runs = black_runs(signals, black_level)
    # Content jumps into or out of a black run are handled by the black-run rule below.
    near_black = [(t[a] - edge, t[b] + edge) for a, b in runs]
    candidates: list[tuple[float, float, str]] = []
    for i in range(1, len(t)):
        if score[i] < min_change or any(lo <= t[i] <= hi for lo, hi in near_black):
            continue
        lo, hi = max(1, i - half), min(len(t), i + half + 1)
        neighbours = np.concatenate([score[lo : i - 1], score[i + 2 : hi]]) if hi > lo else np.zeros(0)
        base = float(np.median(neighbours)) if len(neighbours) else 0.0
        spread = min(score[i - 1], score[i + 1] if i + 1 < len(t) else 0.0) > max_spread * score[i]
        # The margin: how far the peak stands above the threshold its neighbourhood sets (0 at the threshold).
        threshold = max(ratio * max(base, 0.01), min_change)
        gone = lasting[i] < min_lasting * score[i]
        # Fast motion and blur move pixels but keep the colours: a cut changes the colour histogram too
        # (only where there are colours: grey frames all fall in one hue-saturation bin).
        gone = gone or (hist[i] < min_hist and coloured[i])
        # Motion, however fast, moves the old picture's pixels; a cut brings a picture no motion of the old makes.
        gone = gone or unexplained[i] < MIN_UNEXPLAINED
        if score[i] >= threshold and score[i] >= score[max(1, i - 1) : i + 2].max() and not spread and not gone:
            candidates.append((float(t[i]), float(min(1.0, (score[i] - threshold) / score[i] * 2)), "cut"))
    for a, b in runs:
        if a == 0 or b == len(t) - 1:
            continue  # leading or trailing black
        if a == b and lasting[a] < min_change:
            continue  # one black frame with the same picture on both sides: a dropped frame or a strobe
        if t[b + 1] - t[a] >= black_shot_s:
            candidates += [(float(t[a]), 1.0, "black_start"), (float(t[b + 1]), 1.0, "black_end")]
        else:
            middle = a + (b + 1 - a) // 2
            candidates.append((float(t[middle]), 1.0, "fade"))
    candidates += detect_dissolves(signals, runs)
    candidates.sort()
    cuts: list[tuple[float, float, str]] = []
    for cand in candidates:
        if cuts and cand[0] - cuts[-1][0] < min_shot_s:
            if cand[1] > cuts[-1][1]:
                cuts[-1] = cand
            continue
        cuts.append(cand)
    return cuts


def analyze_shots(signals: Signals, fps: float, duration_s: float) -> list[Event]:
    """Per second: `shot` (index at the second's start) and `cut`; plus a `shot_boundary` event per cut."""
    cuts = detect_cuts(signals, fps)
    times = [c[0] for c in cuts]
    events = [Event(c[0], c[0], "shot_boundary", c[2], confidence=min(1.0, c[1]), source=SOURCE) for c in cuts]
    for _, start, end in per_second_spans(duration_s):
        shot = sum(1 for x in times if x <= start + 1e-6)
        has_cut = any(start - 1e-6 <= x < end - 1e-6 for x in times)
        events.append(Event(start, end, "shot", shot, source=SOURCE))
        events.append(Event(start, end, "cut", has_cut, source=SOURCE))
    return events


def boundaries(events: list[Event]) -> list[float]:
    """Times of the shot boundaries among a shots analyzer's events."""
    return sorted(e.start_s for e in events if e.aspect == "shot_boundary")
