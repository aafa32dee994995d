"""Aligns every analyzer's events into one row per second, and scores how completely they cover it.

Reconstruction score: the share of (second, aspect) cells that were analysed (not null), over the
aspects the configured graph is expected to produce. `coverage` per row is the same share over all
contract aspects, so a row says how completely that second is described, configured or not.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzers.records import per_second_spans

# The timeline contract: column -> (arrow type, aspect that fills it).
CONTRACT_ASPECTS = (
    "shot", "cut", "camera", "faces", "objects", "text", "speech", "transcript", "loudness_db", "description",
)  # fmt: skip
# Columns filled from events but not counted in coverage: the visual statistics, and the language of
# the transcript (the same analysis as `transcript`, which coverage already counts).
EXTRA_ASPECTS = ("language", "brightness", "saturation", "sharpness", "motion_energy", "colour")

TIMELINE_SCHEMA = pa.schema(
    [
        ("video", pa.string()),
        ("second", pa.int64()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("shot", pa.int64()),
        ("cut", pa.bool_()),
        ("camera", pa.string()),
        ("faces", pa.int64()),
        ("objects", pa.list_(pa.string())),
        ("text", pa.list_(pa.string())),
        ("speech", pa.float64()),
        ("transcript", pa.string()),
        ("language", pa.string()),
        ("loudness_db", pa.float64()),
        ("description", pa.string()),
        ("description_source", pa.string()),
        ("coverage", pa.float64()),
        ("brightness", pa.float64()),
        ("saturation", pa.float64()),
        ("sharpness", pa.float64()),
        ("motion_energy", pa.float64()),
        ("colour", pa.string()),
    ]
)
COMPOSED_SOURCE = "composed"


def _per_second_values(events: pd.DataFrame, aspect: str, seconds: int) -> tuple[list, list]:
    """(value, source) per second for one aspect; None where no event covers the second."""
    values: list = [None] * seconds
    sources: list = [None] * seconds
    rows = events[events["aspect"] == aspect]
    for start, value, source in zip(rows["start_s"], rows["value"], rows["source"]):
        s = int(math.floor(start + 1e-6))
        if 0 <= s < seconds and values[s] is None:
            values[s] = json.loads(value)
            sources[s] = source
    return values, sources


def compose_description(row: dict) -> str | None:
    """A sentence from the observed aspects of one second (used where no language model described it)."""
    parts = []
    if row.get("shot") is not None:
        parts.append(f"Shot {row['shot'] + 1}" + (", a cut in this second" if row.get("cut") else ""))
    camera = row.get("camera")
    if camera and camera != "unknown":
        parts.append("static camera" if camera == "static" else f"camera {camera.replace('_', ' ')}")
    if row.get("colour") is not None and row.get("brightness") is not None:
        tone = "dark" if row["brightness"] < 0.15 else "bright" if row["brightness"] > 0.7 else ""
        parts.append(f"{tone} {row['colour']} image".strip())
    if row.get("faces") is not None:
        n = row["faces"]
        parts.append("no face visible" if n == 0 else f"{n} face{'s' if n != 1 else ''} visible")
    if row.get("objects"):
        parts.append("objects: " + ", ".join(row["objects"]))
    if row.get("text"):
        parts.append("on screen: " + "; ".join(f'"{t}"' for t in row["text"]))
    speech, transcript = row.get("speech"), row.get("transcript")
    if transcript:
        parts.append(f'speech: "{transcript}"')
    elif speech is not None:
        loud = row.get("loudness_db")
        if speech >= 0.25:
            parts.append("someone speaks")
        elif loud is not None and loud <= -60:
            parts.append("silence")
        elif loud is not None:
            parts.append("sound without speech")
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def build_timeline(video: str, duration_s: float, events: pd.DataFrame) -> pd.DataFrame:
    """One row per second 0..ceil(duration)-1 from the concatenated events of all analyzers."""
    spans = per_second_spans(duration_s)
    n = len(spans)
    columns: dict[str, list] = {
        "video": [video] * n,
        "second": [s for s, _, _ in spans],
        "start_s": [a for _, a, _ in spans],
        "end_s": [b for _, _, b in spans],
    }
    description_source: list = [None] * n
    for aspect in CONTRACT_ASPECTS + EXTRA_ASPECTS:
        values, sources = _per_second_values(events, aspect, n)
        columns[aspect] = values
        if aspect == "description":
            description_source = sources
    rows = [dict(zip(columns, vals)) for vals in zip(*columns.values())]
    for i, row in enumerate(rows):
        if row["description"] is None:
            row["description"] = compose_description(row)
            description_source[i] = COMPOSED_SOURCE if row["description"] is not None else None
        row["description_source"] = description_source[i]
        row["coverage"] = sum(row[a] is not None for a in CONTRACT_ASPECTS) / len(CONTRACT_ASPECTS)
    table = pa.Table.from_pylist(rows, schema=TIMELINE_SCHEMA)
    return table.to_pandas(types_mapper=_nullable_types)


def timeline_table(timeline: pd.DataFrame) -> pa.Table:
    """The timeline with the contract's column types whatever the video held (a column of empty or null
    values stays list<string>, not list<null>), so every video's file has one schema and a query reads
    them together."""
    return pa.Table.from_pandas(timeline, schema=TIMELINE_SCHEMA, preserve_index=False)


def _nullable_types(arrow_type: pa.DataType):
    # Keep nulls as nulls (not NaN / False) in pandas so "not analysed" survives a round trip.
    return {
        pa.int64(): pd.Int64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
        pa.float64(): pd.Float64Dtype(),
        pa.string(): pd.StringDtype(),
    }.get(arrow_type)


@dataclass(frozen=True)
class Score:
    score: float  # share of analysed cells over the expected aspects
    per_aspect: dict[str, float]  # share of seconds analysed, every contract aspect
    described_seconds: int
    seconds: int


def reconstruction_score(timeline: pd.DataFrame, expected_aspects: tuple[str, ...]) -> Score:
    per_aspect = {a: float(timeline[a].notna().mean()) if len(timeline) else 0.0 for a in CONTRACT_ASPECTS}
    expected = [a for a in expected_aspects if a in per_aspect]
    score = float(np.mean([per_aspect[a] for a in expected])) if expected else 0.0
    return Score(
        score=round(score, 4),
        per_aspect={k: round(v, 4) for k, v in per_aspect.items()},
        described_seconds=int(timeline["description"].notna().sum()),
        seconds=len(timeline),
    )


def density_problems(timeline: pd.DataFrame, duration_s: float) -> list[str]:
    """Why the timeline is not exactly one contiguous row per second of the video (empty list: it is)."""
    expected = len(per_second_spans(duration_s))
    seconds = timeline["second"].astype(int).tolist()
    problems = []
    if len(seconds) != expected:
        problems.append(f"{len(seconds)} rows for a {duration_s:.2f} s video (expected {expected})")
    if len(set(seconds)) != len(seconds):
        problems.append("duplicate seconds")
    missing = sorted(set(range(expected)) - set(seconds))
    if missing:
        problems.append(f"missing seconds {missing[:10]}{'...' if len(missing) > 10 else ''}")
    extra = sorted(set(seconds) - set(range(expected)))
    if extra:
        problems.append(f"seconds beyond the video {extra[:10]}")
    if seconds != sorted(seconds):
        problems.append("rows out of order")
    return problems
