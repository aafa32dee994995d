"""Aligns every analyzer's events into one row per second, and scores how truthfully they describe it.

Reconstruction score: the mean, over the (second, aspect) cells of the aspects the configured graph
produces, of each cell's weight (`cell_weight`):
- 0 where the cell is null (not analysed: no analyzer, or the stream did not decode there);
- 0 where the value is derived, not observed: a description composed from the other columns, silence
  where there is no audio stream (an event with `detail[DERIVED]`), and every video aspect of a second in
  which no frame is shown (the picture starts late or ends before the sound: nothing is seen there);
- otherwise how sure the analyzer is: its event's `confidence`. For "analysed, found nothing" without a
  confidence, the evidence the input gave: the picture's visibility for faces, objects and text, and the
  voice activity detector's certainty of silence for an empty transcript. A cell nobody qualifies counts 1.
  A second of which part of the stream did not decode counts in proportion to the part that did.
The per-row `coverage` stays the plain share of contract columns analysed (not null), configured or not.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzers.records import DERIVED, per_second_spans

# The timeline contract: column -> (arrow type, aspect that fills it).
CONTRACT_ASPECTS = (
    "shot", "cut", "camera", "faces", "objects", "text", "speech", "transcript", "loudness_db", "description",
    "object_tracks", "persons", "sounds", "speakers",
)  # fmt: skip
# Columns filled from events but not counted in coverage: the visual statistics, the picture's visibility,
# and the language of the transcript (the same analysis as `transcript`, which coverage already counts).
EXTRA_ASPECTS = ("language", "brightness", "saturation", "sharpness", "motion_energy", "colour", "visibility")
# Which stream each aspect is seen in: a second whose stream did not decode is not analysed for them.
AUDIO_ASPECTS = ("speech", "transcript", "language", "loudness_db", "sounds", "speakers")
VIDEO_ASPECTS = tuple(a for a in CONTRACT_ASPECTS + EXTRA_ASPECTS if a not in AUDIO_ASPECTS)
# "Analysed, found nothing" values whose weight, without a confidence, is the evidence of absence.
NOTHING_FOUND = {
    "faces": 0, "objects": [], "text": [], "transcript": "", "object_tracks": [], "persons": [], "sounds": [],
    "speakers": [],
}  # fmt: skip
# Found by looking at sampled frames: evidence = visibility.
FRAME_ASPECTS = ("faces", "objects", "text", "object_tracks", "persons")
MAX_LOST = 0.5  # a second with at least this share of a stream lost is not analysed for that stream's aspects

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
        ("score", pa.float64()),
        ("confidence", pa.struct([(a, pa.float64()) for a in CONTRACT_ASPECTS])),
        ("derived", pa.list_(pa.string())),
        ("brightness", pa.float64()),
        ("saturation", pa.float64()),
        ("sharpness", pa.float64()),
        ("motion_energy", pa.float64()),
        ("colour", pa.string()),
        ("visibility", pa.float64()),
        ("object_tracks", pa.list_(pa.string())),  # "label#id": one id per object within a shot
        ("persons", pa.list_(pa.string())),  # "P1", "P2" ...: the same id for the same person across the video
        # Sound events (analyzers/sound_events.py) and who speaks (analyzers/speakers.py).
        ("sounds", pa.list_(pa.struct([("label", pa.string()), ("score", pa.float64())]))),
        ("speakers", pa.list_(pa.string())),
    ]
)
COMPOSED_SOURCE = "composed"


@dataclass
class _Cells:
    """One aspect's first event in every second: value, source, confidence, and whether it is derived."""

    values: list
    sources: list
    confidences: list
    derived: list
    details: list


def _per_second_cells(events: pd.DataFrame, aspect: str, seconds: int) -> _Cells:
    cells = _Cells(*([None] * seconds for _ in range(3)), [False] * seconds, [None] * seconds)
    rows = events[events["aspect"] == aspect]
    confidence = rows["confidence"] if "confidence" in rows else [None] * len(rows)
    detail = rows["detail"] if "detail" in rows else [None] * len(rows)
    for start, value, source, conf, info in zip(rows["start_s"], rows["value"], rows["source"], confidence, detail):
        s = int(math.floor(start + 1e-6))
        if 0 <= s < seconds and cells.values[s] is None:
            cells.values[s] = json.loads(value)
            cells.sources[s] = source
            cells.confidences[s] = None if conf is None or pd.isna(conf) else float(conf)
            if isinstance(info, str):
                info = json.loads(info)
                cells.details[s] = info
                cells.derived[s] = isinstance(info, dict) and DERIVED in info
    return cells


def compose_description(row: dict, picture: bool = True) -> str | None:
    """A sentence from the observed aspects of one second (used where no language model described it);
    `picture` False: no frame of the video is shown in the second, so nothing is said about what is seen."""
    parts = (_seen(row) if picture else ["no picture"]) + _heard(row)
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _seen(row: dict) -> list[str]:
    parts = []
    if row.get("shot") is not None:
        parts.append(f"Shot {row['shot'] + 1}" + (", a cut in this second" if row.get("cut") else ""))
    camera = row.get("camera")
    if camera and camera != "unknown":
        parts.append("static camera" if camera == "static" else f"camera {camera.replace('_', ' ')}")
    if row.get("colour") is not None and row.get("brightness") is not None:
        tone = "dark" if row["brightness"] < 0.15 else "bright" if row["brightness"] > 0.7 else ""
        tone = "" if row["colour"] in ("black", "white") else tone  # a black image is dark already
        parts.append(f"{tone} {row['colour']} image".strip())
    if row.get("faces") is not None:
        n = row["faces"]
        parts.append("no face visible" if n == 0 else f"{n} face{'s' if n != 1 else ''} visible")
    if row.get("objects"):
        parts.append("objects: " + ", ".join(row["objects"]))
    if row.get("text"):
        parts.append("on screen: " + "; ".join(f'"{t}"' for t in row["text"]))
    return parts


def _heard(row: dict) -> list[str]:
    parts = []
    speech, transcript = row.get("speech"), row.get("transcript")
    who = " and ".join(row.get("speakers") or [])
    if transcript:
        parts.append(f'speech: "{transcript}"' + (f" ({who})" if who else ""))
    elif who:
        parts.append(f"{who} speaks")
    elif speech is not None:
        loud = row.get("loudness_db")
        if speech >= 0.25:
            parts.append("someone speaks")
        elif loud is not None and loud <= -60:
            parts.append("silence")
        elif loud is not None:
            parts.append("sound without speech")
    heard = [x["label"] for x in row.get("sounds") or [] if x["label"] not in ("Speech", "Silence")]
    if heard:
        parts.append("sounds: " + ", ".join(heard[:3]))
    return parts


@dataclass
class _StreamShares:
    """Per second: the share of each stream that decoded and that was lost to damage, and whether no frame of
    the video is shown at all (the picture starts later or has ended: other streams run longer)."""

    video_ok: list[float]
    video_lost: list[float]
    audio_ok: list[float]
    audio_lost: list[float]
    pictureless: list[bool]


def stream_shares(events: pd.DataFrame, seconds: int) -> _StreamShares:
    """From the decode stage's `video_decoded` and the audio analyzer's `audio_decoded` events; all decoded
    where absent."""
    video = _per_second_cells(events, "video_decoded", seconds)
    audio = _per_second_cells(events, "audio_decoded", seconds)
    video_ok = [1.0 if v is None else float(v) for v in video.values]
    audio_ok = [1.0 if v is None else float(v) for v in audio.values]
    audio_lost = [float((d or {}).get("lost", 0.0)) for d in audio.details]
    return _StreamShares(video_ok, [1.0 - v for v in video_ok], audio_ok, audio_lost, video.derived)


def seconds_without_picture(events: pd.DataFrame, seconds: int) -> set[int]:
    """The seconds in which no frame is shown, or whose frames mostly did not decode (from `video_decoded`)."""
    shares = stream_shares(events, seconds)
    return {s for s in range(seconds) if shares.pictureless[s] or shares.video_lost[s] >= MAX_LOST}


def cell_weight(
    aspect: str, value, confidence: float | None, *, derived: bool, evidence: float | None, decoded: float
) -> float | None:
    """How much one (second, aspect) cell counts in the reconstruction score (see the module docstring).

    `evidence`: how sure "nothing found" is when the analyzer gives no confidence (visibility, or the voice
    detector's certainty of silence); `decoded`: the share of the second whose stream decoded."""
    if value is None:
        return None
    if derived:
        return 0.0
    if confidence is None and aspect in NOTHING_FOUND and value == NOTHING_FOUND[aspect]:
        confidence = evidence
    sure = 1.0 if confidence is None else min(1.0, max(0.0, confidence))
    return round(sure * min(1.0, max(0.0, decoded)), 4)


def build_timeline(
    video: str, duration_s: float, events: pd.DataFrame, expected: tuple[str, ...] = CONTRACT_ASPECTS
) -> pd.DataFrame:
    """One row per second (`per_second_spans`) from the concatenated events of all analyzers; `score` is the
    mean cell weight over the `expected` aspects (those the configured graph produces)."""
    spans = per_second_spans(duration_s)
    n = len(spans)
    cells = {aspect: _per_second_cells(events, aspect, n) for aspect in CONTRACT_ASPECTS + EXTRA_ASPECTS}
    streams = stream_shares(events, n)
    rows = []
    for s, start, end in spans:
        row = {"video": video, "second": s, "start_s": start, "end_s": end}
        blank = streams.pictureless[s]
        for aspect, c in cells.items():
            lost = (streams.audio_lost if aspect in AUDIO_ASPECTS else streams.video_lost)[s] >= MAX_LOST
            row[aspect] = None if lost else c.values[s]
            if blank and aspect in FRAME_ASPECTS:
                row[aspect] = NOTHING_FOUND[aspect]  # nothing is seen, whatever was carried from the last frame
            elif blank and aspect in VIDEO_ASPECTS and aspect in EXTRA_ASPECTS:
                row[aspect] = None  # no picture to measure
        derived = {a for a in CONTRACT_ASPECTS if row[a] is not None and cells[a].derived[s]}
        if blank:  # what the video aspects hold there was not seen: shot and camera carry on, nothing is seen
            derived |= {a for a in CONTRACT_ASPECTS if a in VIDEO_ASPECTS and row[a] is not None}
        source = cells["description"].sources[s] if row["description"] is not None else None
        if row["description"] is None:
            row["description"] = compose_description(row, picture=not blank)
            if row["description"] is not None:
                source = COMPOSED_SOURCE
                derived.add("description")
        if row["transcript"] == "" and "speech" in derived:
            derived.add("transcript")  # nothing said where nothing could be heard: silence by definition
        row["description_source"] = source
        row["coverage"] = sum(row[a] is not None for a in CONTRACT_ASPECTS) / len(CONTRACT_ASPECTS)
        weights: dict[str, float | None] = {}
        for aspect in CONTRACT_ASPECTS:  # speech before transcript: the transcript's evidence of silence
            if aspect in FRAME_ASPECTS:
                evidence = row["visibility"]
            elif aspect == "transcript" and weights.get("speech") is not None and row["speech"] is not None:
                evidence = weights["speech"] * (1.0 - float(row["speech"]))
            else:
                evidence = None
            weights[aspect] = cell_weight(
                aspect,
                row[aspect],
                cells[aspect].confidences[s],
                derived=aspect in derived,
                evidence=evidence,
                decoded=(streams.audio_ok if aspect in AUDIO_ASPECTS else streams.video_ok)[s],
            )
        row["confidence"] = weights
        row["score"] = round(float(np.mean([weights[a] or 0.0 for a in expected])), 4) if expected else 0.0
        row["derived"] = [a for a in CONTRACT_ASPECTS if a in derived]
        rows.append(row)
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
class AspectScore:
    """One aspect over the video. score + not_analysed + derived + unsure == 1: where the rest went."""

    score: float  # mean cell weight
    analysed: float  # share of seconds with a value (coverage)
    not_analysed: float  # lost to null cells
    derived: float  # lost to derived values (composed description, silence without an audio stream)
    unsure: float  # lost to confidence below 1, weak evidence of absence, or a partly decoded second
    confidence: float | None  # mean weight over the observed cells


@dataclass(frozen=True)
class Score:
    score: float  # mean cell weight over the expected aspects
    coverage: float  # share of the expected aspects' cells that hold a value (analysed)
    aspects: dict[str, AspectScore]  # every contract aspect
    expected: tuple[str, ...]
    model_described_seconds: int  # seconds whose description a model gave (not composed)
    seconds: int

    @property
    def per_aspect(self) -> dict[str, float]:
        return {a: s.score for a, s in self.aspects.items()}

    def reasons(self, limit: int = 4) -> list[str]:
        """Why the score is below 1, biggest loss first: one phrase per expected aspect below 1."""
        out = []
        for aspect in sorted(self.expected, key=lambda a: self.aspects[a].score):
            a = self.aspects[aspect]
            if a.score >= 1.0:
                continue
            parts = []
            if a.not_analysed:
                parts.append(f"not analysed {a.not_analysed:.0%}")
            if a.derived:
                parts.append(f"derived {a.derived:.0%}")
            if a.unsure:
                parts.append(f"confidence {a.confidence:.2f} where observed")
            out.append(f"{aspect} {a.score:.2f} ({', '.join(parts)})")
        return out[:limit]


def reconstruction_score(timeline: pd.DataFrame, expected_aspects: tuple[str, ...]) -> Score:
    """The score of a built timeline, from its `confidence`, `derived` and value columns."""
    n = len(timeline)
    weights = pd.DataFrame(list(timeline["confidence"]), columns=list(CONTRACT_ASPECTS)) if n else None
    derived_lists = [list(d) if d is not None else [] for d in timeline["derived"]] if n else []
    aspects = {}
    for a in CONTRACT_ASPECTS:
        if not n:
            aspects[a] = AspectScore(0.0, 0.0, 1.0, 0.0, 0.0, None)
            continue
        analysed = timeline[a].notna().to_numpy()
        w = weights[a].astype(float).fillna(0.0).to_numpy()
        derived = np.array([a in d for d in derived_lists]) & analysed
        observed = analysed & ~derived
        score = float(w.sum()) / n
        aspects[a] = AspectScore(
            score=round(score, 4),
            analysed=round(float(analysed.mean()), 4),
            not_analysed=round(1.0 - float(analysed.mean()), 4),
            derived=round(float(derived.mean()), 4),
            unsure=round(float((observed.sum() - w[observed].sum()) / n), 4),
            confidence=round(float(w[observed].mean()), 4) if observed.any() else None,
        )
    expected = tuple(a for a in expected_aspects if a in aspects)
    score = float(np.mean([aspects[a].score for a in expected])) if expected and n else 0.0
    coverage = float(np.mean([aspects[a].analysed for a in expected])) if expected and n else 0.0
    model = int((timeline["description"].notna() & (timeline["description_source"] != COMPOSED_SOURCE)).sum())
    return Score(round(score, 4), round(coverage, 4), aspects, expected, model, n)


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
