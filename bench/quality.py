"""Per-aspect quality of a graph run's timeline against the corpus ground truth.

Scores whatever the timeline holds: a column that is all null was not analysed and is reported
as n/a, so aspects from analyzers added later are scored once they run. Text and transcript use
the perception benchmark's own scorers (bench/perception_quality.py), so both report alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analyzers.records import Event
from bench import perception_quality, scores
from bench.corpus import GroundTruth

NOT_ANALYSED = "n/a (not analysed)"


def _value(v):
    if isinstance(v, (list, tuple, np.ndarray)):  # list columns (text, objects)
        return list(v)
    return None if v is None or pd.isna(v) else v


def _column(timeline: pd.DataFrame, name: str) -> list | None:
    """The column as Python values (None for null), or None when the column is absent or all null."""
    if name not in timeline or timeline[name].isna().all():
        return None
    return [_value(v) for v in timeline[name].astype(object).tolist()]


def found_cuts(shots_path: Path) -> list[float]:
    """Boundary instants the shots analyzer stored (finer than the timeline's per-second `cut` flag)."""
    events = pd.read_parquet(shots_path)
    return sorted(events.loc[events["aspect"] == "shot_boundary", "start_s"].astype(float).tolist())


def score_timeline(timeline_path: Path, shots_path: Path, truth: GroundTruth) -> dict:
    timeline = pd.read_parquet(timeline_path)
    out: dict[str, dict | str] = {}
    if truth.cuts is not None:
        out["cuts"] = scores.cut_f1(found_cuts(shots_path), truth.cuts)
    checks = [
        ("camera", truth.camera, lambda p, t: scores.per_second_accuracy(p, t)),
        ("faces", truth.faces, lambda p, t: scores.per_second_accuracy([None if v is None else int(v) for v in p], t)),
        (
            "text",
            truth.text,
            lambda p, t: perception_quality.text_scores(
                [Event(float(i), float(i + 1), "text", v) for i, v in enumerate(p) if v is not None],
                t,
                truth.text_shown,
            ),
        ),
        ("speech", truth.speech, lambda p, t: scores.speech_activity([None if v is None else float(v) for v in p], t)),
    ]
    for column, expected, score in checks:
        if expected is None:
            continue
        values = _column(timeline, column)
        out[column] = NOT_ANALYSED if values is None else score(values, expected)
    if truth.transcript is not None or truth.transcript_vocabulary is not None:
        values = _column(timeline, "transcript")
        if values is None:
            out["transcript"] = NOT_ANALYSED
        else:
            spoken = " ".join(v for v in values if v)
            out["transcript"] = (
                {"wer": round(perception_quality.word_error_rate(truth.transcript, spoken), 3)}
                if truth.transcript is not None
                else scores.vocabulary_precision(spoken, truth.transcript_vocabulary)
            )
            out["transcript"]["text"] = spoken[:300]
    return out
