"""A video's account as one self-contained HTML page, and the timeline preview the Dagster UI shows.

The page holds everything it shows (thumbnails as JPEG sprite sheets in data URIs, the timeline as JSON,
its script and style inline), so it opens offline, from any folder, without a server. It draws one
thumbnail per second and one lane per aspect on a canvas, and only the seconds in view: an hour of
video is 3600 columns, too many for one DOM element each per lane. The source video plays in a
`<video>` element when the file is reachable from where the page is opened (see `video_sources`).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from analyzers.timeline import CONTRACT_ASPECTS, reconstruction_score

VERSION = "2"  # the report asset's code version: a change here re-renders every report
PAGE_TEMPLATE = Path(__file__).with_name("report_page.html")
THUMB_HEIGHT = 54  # pixels; width follows the video's aspect ratio (clamped), ~1-2 kB per thumbnail
THUMB_WIDTH_RANGE = (32, 128)
SHEET_COLUMNS, SHEET_ROWS = 10, 10  # thumbnails per sprite sheet: one JPEG header per 100 thumbnails
JPEG_QUALITY = 70
# Columns the page shows per second, in order (the `video` column is the same on every row).
ROW_COLUMNS = (
    "second", "start_s", "end_s", "shot", "cut", "camera", "faces", "objects", "text", "speech", "transcript",
    "language", "loudness_db", "description", "description_source", "score", "coverage",
    "brightness", "saturation", "sharpness", "motion_energy", "colour", "visibility", "object_tracks", "persons",
    "sounds", "speakers",
)  # fmt: skip
PREVIEW_COLUMNS = ("second", "shot", "cut", "camera", "faces", "text", "speech", "transcript", "description")


@dataclass(frozen=True)
class Thumbnails:
    sheets: list[bytes]  # JPEG sprite sheets, SHEET_COLUMNS x SHEET_ROWS thumbnails each, row-major
    width: int
    height: int
    count: int  # one per second of the timeline (0 when no frames were stored)


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    bytes: int
    seconds: int
    thumbnails: int
    video_sources: list[str]


def thumbnail_size(frame_width: int, frame_height: int, height: int = THUMB_HEIGHT) -> tuple[int, int]:
    low, high = THUMB_WIDTH_RANGE
    width = round(height * frame_width / max(frame_height, 1))
    return int(min(high, max(low, width))), height


def _frames_per_second(frames_path: Path, seconds: int):
    """(second, jpeg bytes) for every second: the first stored frame that starts in it; a second in which
    no frame starts (a picture held on screen) gets the last frame before it, and seconds before the
    first frame get the first frame."""
    reader = pq.ParquetFile(str(frames_path))
    last, second = None, 0
    for group in range(reader.num_row_groups):
        table = reader.read_row_group(group, columns=["t", "jpeg"])
        jpegs = table.column("jpeg")
        for i, t in enumerate(table.column("t").to_pylist()):
            if second >= seconds:
                return
            own = math.floor(t + 1e-6)
            while second < min(own, seconds):
                yield second, (last if last is not None else jpegs[i]).as_py()
                second += 1
            if own == second:
                yield second, jpegs[i].as_py()
                second += 1
            last = jpegs[i]
    while last is not None and second < seconds:
        yield second, last.as_py()
        second += 1


def _decode_small(jpeg: bytes, target_width: int) -> np.ndarray:
    """BGR image; decoded at 1/2, 1/4 or 1/8 size where that still covers the thumbnail (much faster)."""
    data = np.frombuffer(jpeg, np.uint8)
    header = cv2.imdecode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8)  # cheap: tells the frame's size / 8
    if header is None:
        raise ValueError("a stored frame is not a readable JPEG")
    full_width = header.shape[1] * 8
    for factor, flag in (
        (8, cv2.IMREAD_REDUCED_COLOR_8),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
        (2, cv2.IMREAD_REDUCED_COLOR_2),
    ):
        if full_width / factor >= target_width:
            return cv2.imdecode(data, flag)
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def thumbnail_sheets(
    frames_path: Path | None, seconds: int, height: int = THUMB_HEIGHT, blank: Collection[int] = ()
) -> Thumbnails:
    """One thumbnail per second from the sampled-frames store, packed into JPEG sprite sheets; the seconds in
    `blank` (no picture there, or it did not decode) stay black rather than show a frame from before."""
    if frames_path is None or not Path(frames_path).is_file():
        return Thumbnails([], 0, 0, 0)
    per_sheet = SHEET_COLUMNS * SHEET_ROWS
    sheets: list[bytes] = []
    sheet = None
    size = None
    count = 0
    for second, jpeg in _frames_per_second(Path(frames_path), seconds):
        if size is None:
            first = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_2)
            size = thumbnail_size(first.shape[1] * 2, first.shape[0] * 2, height)
        w, h = size
        slot = second % per_sheet
        if slot == 0:
            if sheet is not None:
                sheets.append(_encode(sheet))
            rows = min(SHEET_ROWS, math.ceil((seconds - second) / SHEET_COLUMNS))
            sheet = np.zeros((rows * h, SHEET_COLUMNS * w, 3), np.uint8)
        if second not in blank:
            image = cv2.resize(_decode_small(jpeg, w), (w, h), interpolation=cv2.INTER_AREA)
            y, x = (slot // SHEET_COLUMNS) * h, (slot % SHEET_COLUMNS) * w
            sheet[y : y + h, x : x + w] = image
        count += 1
    if sheet is not None:
        sheets.append(_encode(sheet))
    w, h = size or (0, 0)
    return Thumbnails(sheets, w, h, count)


def _encode(sheet: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", sheet, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:
        raise RuntimeError("OpenCV could not encode a thumbnail sheet")
    return buf.tobytes()


def video_sources(video_path: Path | None, page_path: Path) -> list[str]:
    """Where the page looks for the source video, tried in order by the browser.

    1. The path relative to the page's folder: works wherever the page and the video are opened or
       copied together (same relative layout), over file:// or a web server.
    2. The absolute file URL: works for a page opened from disk on the machine holding the video.
    """
    if video_path is None:
        return []
    video = Path(video_path).expanduser().resolve()
    relative = Path(os.path.relpath(video, Path(page_path).expanduser().resolve().parent))
    # Quoted as the file system's bytes: a name that is not valid UTF-8 still names the file.
    return [quote(os.fsencode(relative.as_posix())), "file://" + quote(os.fsencode(video))]


def readable(text: str) -> str:
    """`text` for display: bytes of a file name that are not UTF-8 (surrogate-escaped by Python) as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _cell(value):
    """A JSON-safe value: pandas NA -> None, numpy scalars -> Python, arrays -> lists."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.ndarray):
        return [_cell(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_cell(v) for v in value]
    if isinstance(value, dict) and set(value) == {"label", "score"}:  # a sound event: one readable string
        return f"{value['label']} {value['score']:.2f}"
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return _cell(value.item())
    if isinstance(value, float):
        return round(value, 4)
    return value


def timeline_columns(timeline: pd.DataFrame) -> dict[str, list]:
    """The page's columns, as the timeline holds them (`score`: the second's reconstruction score)."""
    return {c: [_cell(v) for v in timeline[c].tolist()] for c in ROW_COLUMNS if c in timeline}


def _json_for_script(data) -> str:
    # Inside <script>, "</" could end the element early; "\u003c" is the same character in JSON.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def report_html(
    timeline: pd.DataFrame,
    *,
    title: str,
    thumbnails: Thumbnails,
    sources: list[str],
    source_label: str = "",
    expected: tuple[str, ...] = CONTRACT_ASPECTS,
) -> str:
    score = reconstruction_score(timeline, expected)
    duration = float(timeline["end_s"].iloc[-1]) if len(timeline) else 0.0
    data = {
        "title": title,
        "source": source_label,
        "seconds": len(timeline),
        "duration": round(duration, 3),
        "score": score.score,
        "per_aspect": score.per_aspect,
        "expected": list(expected),
        "columns": timeline_columns(timeline),
        "thumbs": {
            "width": thumbnails.width,
            "height": thumbnails.height,
            "count": thumbnails.count,
            "columns": SHEET_COLUMNS,
            "per_sheet": SHEET_COLUMNS * SHEET_ROWS,
            "sheets": ["data:image/jpeg;base64," + base64.b64encode(s).decode("ascii") for s in thumbnails.sheets],
        },
        "sources": sources,
    }
    page = PAGE_TEMPLATE.read_text(encoding="utf-8")
    return page.replace("{{TITLE}}", html.escape(title)).replace("{{DATA}}", _json_for_script(data))


def render_report(
    timeline: pd.DataFrame,
    out_path: Path,
    *,
    frames_path: Path | None,
    video_path: Path | None,
    title: str,
    expected: tuple[str, ...] = CONTRACT_ASPECTS,
    without_picture: Collection[int] = (),
) -> ReportSummary:
    """Writes the page to out_path atomically (temp file + rename); the video is only referenced, never copied.
    The seconds `without_picture` (analyzers.timeline.seconds_without_picture) get a black thumbnail."""
    out_path = Path(out_path)
    thumbnails = thumbnail_sheets(frames_path, len(timeline), blank=without_picture)
    sources = video_sources(video_path, out_path)
    page = report_html(
        timeline,
        title=readable(title),
        thumbnails=thumbnails,
        sources=sources,
        source_label=readable(str(video_path)) if video_path else "",
        expected=expected,
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return ReportSummary(out_path, out_path.stat().st_size, len(timeline), thumbnails.count, sources)


def _short(value, limit: int = 60) -> str:
    value = _cell(value)
    if value is None:
        text = "·"  # not analysed
    elif isinstance(value, list):
        text = "; ".join(str(v) for v in value)
    elif isinstance(value, float):
        text = f"{value:.2f}"
    else:
        text = str(value)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|").replace("\n", " ")


def preview_markdown(timeline: pd.DataFrame, rows: int = 10) -> str:
    """The first rows of the timeline as a Markdown table (`·`: not analysed)."""
    columns = [c for c in PREVIEW_COLUMNS if c in timeline]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in timeline.head(rows).iterrows():
        lines.append("| " + " | ".join(_short(row[c]) for c in columns) + " |")
    more = len(timeline) - min(rows, len(timeline))
    footer = f"\n\n{more} more second(s) in the report and the Parquet file; `·` = not analysed." if more else ""
    return "\n".join(lines) + footer


def per_aspect_line(per_aspect: dict[str, float], expected: tuple[str, ...]) -> str:
    """One line, e.g. `shot 100% · camera 100% · objects off`: readable inline in the UI's metadata list."""
    return " · ".join(f"{a} {v:.0%}" if a in expected else f"{a} off" for a, v in per_aspect.items())
