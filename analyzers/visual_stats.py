"""Per-second visual statistics from the decode pass's per-frame signals."""

from __future__ import annotations

import colorsys

import numpy as np
import pandas as pd

from analyzers.records import Event, per_second_spans

VERSION = "3"  # 3: "multicoloured" where strong colours average out to grey
SOURCE = "visual-stats"
STATS = ("brightness", "saturation", "sharpness", "motion_energy")
GREY = 0.15  # saturation (HLS) of the mean colour below which it has no hue
# Mean saturation (HSV) of the pixels from which a picture is clearly coloured: a quarter of the brightest
# channel's level. Where the mean colour is grey but the pixels are this coloured, strong colours of different
# hues cancel out in the mean (an orange suit on a blue wall): the picture is multicoloured, not grey.
COLOURED_PIXELS = 0.25


def colour_name(r: float, g: float, b: float, saturation: float = 0.0) -> str:
    """A coarse name for a picture's colour from its mean colour (r, g, b in 0..1) and the mean saturation of its
    pixels (0..1): black, white, grey, multicoloured, or the hue of the mean colour."""
    h, lightness, s = colorsys.rgb_to_hls(r, g, b)
    if lightness < 0.08:
        return "black"
    if lightness > 0.92:
        return "white"
    if s < GREY:
        return "multicoloured" if saturation >= COLOURED_PIXELS else "grey"
    names = ["red", "orange", "yellow", "green", "cyan", "blue", "purple", "magenta", "red"]
    edges = [15, 40, 70, 160, 200, 260, 290, 330, 361]
    return names[next(i for i, e in enumerate(edges) if h * 360 < e)]


def analyze_visual_stats(signals: pd.DataFrame, duration_s: float) -> list[Event]:
    t = signals["t"].to_numpy(float)
    columns = {
        "brightness": signals["brightness"].to_numpy(float),
        "saturation": signals["saturation"].to_numpy(float),
        "sharpness": signals["sharpness"].to_numpy(float),
        "motion_energy": np.nan_to_num(signals["diff"].to_numpy(float), nan=0.0),
    }
    rgb = signals[["red", "green", "blue"]].to_numpy(float)
    events = []
    for _, start, end in per_second_spans(duration_s):
        sel = (t >= start - 1e-6) & (t < end - 1e-6)
        detail = None
        if not sel.any():
            # No frame starts in this second (a slideshow, a short last second): the last earlier frame is
            # still on screen, unchanged; before the first frame nothing is shown and nothing is analysed.
            earlier = np.flatnonzero(t < start)
            if not len(earlier):
                continue
            sel = np.zeros(len(t), bool)
            sel[earlier[-1]] = True
            detail = {"held_frame_t": round(float(t[earlier[-1]]), 3)}
        for name, values in columns.items():
            value = 0.0 if detail and name == "motion_energy" else round(float(values[sel].mean()), 5)
            events.append(Event(start, end, name, value, source=SOURCE, detail=detail))
        colour = colour_name(*rgb[sel].mean(axis=0), saturation=float(columns["saturation"][sel].mean()))
        events.append(Event(start, end, "colour", colour, source=SOURCE, detail=detail))
    return events
