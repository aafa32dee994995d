"""A small PNG of a timeline's score: one row per aspect, one column per second.

Seen at a glance in the Dagster UI (embedded in the timeline's metadata): how much each cell counts in the
reconstruction score (green, darker the surer; pale green: observed but unsure), which cells are derived
rather than observed (amber), which are not analysed (grey) and which aspects are not configured at all.
"""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pandas as pd

MAX_PLOT_WIDTH = 640  # longer videos are binned: a pixel column shows the share of its seconds analysed
LABEL_WIDTH, ROW_HEIGHT, TOP, BOTTOM, RIGHT = 112, 16, 26, 22, 10
# BGR colours (OpenCV order); an observed cell goes from UNSURE (weight 0) to ANALYSED (weight 1)
ANALYSED, UNSURE, DERIVED_CELL, NOT_ANALYSED, UNCONFIGURED = (
    np.array([60, 160, 40.0]),
    np.array([215, 240, 205.0]),
    np.array([70, 180, 245.0]),
    np.array([215, 215, 215.0]),
    np.array([238, 238, 238.0]),
)
INK, FAINT, BACKGROUND = (40, 40, 40), (150, 150, 150), (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def cell_matrices(timeline: pd.DataFrame, aspects: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(weights, derived), aspects x seconds: each cell's weight in the score (NaN where not analysed) and
    whether its value is derived. A timeline without weights counts every analysed cell 1."""
    n = len(timeline)
    weights = np.full((len(aspects), n), np.nan)
    derived = np.zeros((len(aspects), n), bool)
    given = list(timeline["confidence"]) if "confidence" in timeline else None
    marks = [set(d) if d is not None else set() for d in timeline["derived"]] if "derived" in timeline else None
    for i, a in enumerate(aspects):
        if a not in timeline:
            continue
        analysed = timeline[a].notna().to_numpy()
        if given is None:
            weights[i] = np.where(analysed, 1.0, np.nan)
        else:
            w = np.array([np.nan if c is None or c.get(a) is None else c[a] for c in given], float)
            weights[i] = np.where(analysed, np.nan_to_num(w, nan=1.0), np.nan)
        if marks is not None:
            derived[i] = [a in m for m in marks]
    return weights, derived & ~np.isnan(weights)


def _tick_step(seconds: int, width: int) -> int:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if width * step / max(seconds, 1) >= 40:  # at least 40 px between labels
            return step
    return 7200


def render_coverage_png(
    timeline: pd.DataFrame,
    aspects: tuple[str, ...],
    expected: tuple[str, ...],
    score: float,
    coverage: float | None = None,
) -> bytes:
    """PNG bytes; rows of aspects outside `expected` (not configured) are drawn paler and labelled so."""
    weights, derived = cell_matrices(timeline, aspects)
    seconds = weights.shape[1]
    px_per_second = max(1, min(28, MAX_PLOT_WIDTH // max(seconds, 1)))
    width = min(MAX_PLOT_WIDTH, max(seconds * px_per_second, 1))
    configured = np.array([a in expected for a in aspects])[:, None, None]
    empty = np.where(configured, NOT_ANALYSED, UNCONFIGURED)
    w = np.nan_to_num(weights, nan=0.0)[..., None]
    cells = np.where(
        np.isnan(weights)[..., None],
        empty,
        np.where(derived[..., None], DERIVED_CELL, UNSURE + w * (ANALYSED - UNSURE)),
    ).astype(np.float32)
    if seconds:
        # INTER_AREA averages when binning many seconds into a column; NEAREST keeps sharp cells when enlarging
        method = cv2.INTER_AREA if seconds > width else cv2.INTER_NEAREST
        plot = cv2.resize(cells, (width, len(aspects)), interpolation=method)
    else:
        plot = np.repeat(empty, width, axis=1).astype(np.float32)
    plot = np.repeat(plot, ROW_HEIGHT, axis=0).astype(np.uint8)
    plot[ROW_HEIGHT - 1 :: ROW_HEIGHT] = 255  # a white line between rows
    if px_per_second >= 4:
        plot[:, px_per_second - 1 :: px_per_second] = (plot[:, px_per_second - 1 :: px_per_second] * 0.85 + 38).astype(
            np.uint8
        )

    canvas = np.full((TOP + plot.shape[0] + BOTTOM, LABEL_WIDTH + width + RIGHT, 3), BACKGROUND, np.uint8)
    canvas[TOP : TOP + plot.shape[0], LABEL_WIDTH : LABEL_WIDTH + width] = plot
    title = f"reconstruction score {score:.3f}" + (f"   coverage {coverage:.3f}" if coverage is not None else "")
    title += f"   {seconds} s"
    cv2.putText(canvas, title, (6, 17), FONT, 0.45, INK, 1, cv2.LINE_AA)
    for row, aspect in enumerate(aspects):
        y = TOP + row * ROW_HEIGHT + ROW_HEIGHT - 4
        label, colour = (aspect, INK) if aspect in expected else (f"{aspect} (off)", FAINT)
        cv2.putText(canvas, label, (6, y), FONT, 0.38, colour, 1, cv2.LINE_AA)
    step = _tick_step(seconds, width)
    for t in range(0, seconds + 1, step):
        x = LABEL_WIDTH + int(round(t * width / max(seconds, 1)))
        y = TOP + plot.shape[0]
        cv2.line(canvas, (x, y), (x, y + 3), INK, 1)
        label = f"{t}s" if t < 120 else f"{t // 60}m"
        cv2.putText(canvas, label, (min(x, canvas.shape[1] - 30), y + 15), FONT, 0.35, INK, 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", canvas, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("OpenCV could not encode the coverage picture")
    return png.tobytes()


def markdown_image(png: bytes, alt: str) -> str:
    """An inline markdown image (a data URI: the picture travels with the metadata, no file to serve)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
