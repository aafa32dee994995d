"""How `video-timeline show` and `list` print tables: a table fitted to the terminal, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import sys

import numpy as np
import pandas as pd

FORMATS = ("table", "csv", "json")
SHOW_COLUMNS = (
    "second",
    "shot",
    "cut",
    "camera",
    "faces",
    "text",
    "speech",
    "loudness_db",
    "transcript",
    "description",
)
NOT_ANALYSED = "n/a"
MIN_WIDTH = 6  # a shrunk column keeps at least this many characters


def choose_columns(frame: pd.DataFrame, wanted: str | None, default=SHOW_COLUMNS) -> list[str]:
    """Columns named in a comma-separated list, in that order; ValueError naming the unknown ones."""
    if not wanted:
        return [c for c in default if c in frame]
    names = [c.strip() for c in wanted.split(",") if c.strip()]
    unknown = [c for c in names if c not in frame]
    if unknown or not names:
        raise ValueError(
            f"unknown column(s) {', '.join(unknown) or '(none given)'}; the timeline has: {', '.join(frame.columns)}"
        )
    return names


def plain(value):
    """A JSON-ready value: None for not analysed, Python scalars, lists for list cells."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.ndarray | list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _text(value) -> str:
    value = plain(value)
    if value is None:
        return NOT_ANALYSED
    if isinstance(value, list):  # a sound event {label, score} reads "Music 0.95"
        return "; ".join(
            f"{v['label']} {v['score']:.2f}" if isinstance(v, dict) and "label" in v else str(v) for v in value
        )
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"
    return " ".join(str(value).split())  # one line per row


def terminal_width() -> int | None:
    """$COLUMNS, else the terminal's width; None when printing to a pipe or file (nothing is cut)."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def fit_widths(natural: list[int], minimum: list[int], width: int | None, gap: int = 2) -> list[int]:
    """Column widths within `width`: the widest columns give way first, none below its minimum."""
    widths = list(natural)
    if width is None:
        return widths
    while sum(widths) + gap * (len(widths) - 1) > width:
        widest = max(range(len(widths)), key=lambda i: widths[i] - minimum[i])
        if widths[widest] <= minimum[widest]:
            break  # cannot shrink further: the terminal is narrower than the minimums
        excess = sum(widths) + gap * (len(widths) - 1) - width
        widths[widest] = max(minimum[widest], widths[widest] - excess)
    return widths


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def format_table(frame: pd.DataFrame, columns: list[str], width: int | None) -> str:
    cells = [[_text(v) for v in frame[c].tolist()] for c in columns]
    natural = [max([len(c), *map(len, col)]) for c, col in zip(columns, cells)]
    minimum = [min(n, MIN_WIDTH) for n in natural]  # on a narrow terminal headers are cut too
    widths = fit_widths(natural, minimum, width)
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) for c in columns]

    def line(values):
        parts = [
            _clip(v, w).rjust(w) if right else _clip(v, w).ljust(w) for v, w, right in zip(values, widths, numeric)
        ]
        return "  ".join(parts).rstrip()

    rows = [line(columns)] + [line(row) for row in zip(*cells)]
    return "\n".join(rows)


def format_csv(frame: pd.DataFrame, columns: list[str]) -> str:
    """Header and one line per row; list cells as JSON arrays, not analysed as an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in zip(*(frame[c].tolist() for c in columns)):
        values = [plain(v) for v in row]
        writer.writerow(
            ["" if v is None else json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v for v in values]
        )
    return out.getvalue().rstrip("\n")


def format_json(frame: pd.DataFrame, columns: list[str]) -> str:
    """A JSON array of one object per row; null = not analysed."""
    rows = [dict(zip(columns, (plain(v) for v in row))) for row in zip(*(frame[c].tolist() for c in columns))]
    return json.dumps(rows, ensure_ascii=False, indent=1, default=str)


def render(frame: pd.DataFrame, columns: list[str], fmt: str, width: int | None = None) -> str:
    if fmt == "csv":
        return format_csv(frame, columns)
    if fmt == "json":
        return format_json(frame, columns)
    return format_table(frame, columns, width)
