"""The one output record every analyzer emits, and its table form.

Contract: for each aspect it owns, an analyzer emits one `Event` per analysed second (the spans of
`per_second_spans`: [s, s + 1], the last one ending at the duration), whose `value` is already the
per-second answer (a count, a label, a list of strings, a fraction...). A second with no event of an aspect
is "not analysed" (null in the timeline); "analysed, found nothing" is an event with 0 or [].
Analyzers may add finer events under their own aspect names (a cut instant, a face box);
the timeline ignores aspects it has no column for.

`confidence` (0..1, or None) says how sure the analyzer is of the per-second `value`: the
reconstruction score weighs each (second, aspect) cell by it (analyzers/timeline.py `cell_weight`;
what each analyzer's confidence means is listed there and in README's timeline section). For
"analysed, found nothing" it is how sure the analyzer is that nothing is there; None leaves that
to the evidence the decode pass measured (the picture's visibility, the voice activity).
A value that was not observed but follows from something else (silence where there is no audio
stream) carries `detail[DERIVED]` with the reason: it fills the column and counts 0 in the score.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

DERIVED = "derived"  # detail key: why a value is derived rather than observed

EVENT_COLUMNS = ["video", "start_s", "end_s", "aspect", "value", "confidence", "source", "detail"]


@dataclass(frozen=True)
class Event:
    start_s: float
    end_s: float
    aspect: str
    value: Any
    confidence: float | None = None
    source: str = ""
    detail: dict | None = field(default=None, compare=False)


# A rest after the last whole second shorter than this is not a second of its own but joins the one before:
# containers end a few ms to a frame past the last whole second (audio encoder padding of up to ~48 ms, the
# last frame's display time, 1.001 frame rates: 300 frames at 29.97 fps last 10.01 s), and a row for that
# would show an almost empty second that no player shows.
TAIL_S = 0.1


def seconds_in(duration_s: float) -> int:
    """Number of per-second slots of a video: every started second counts, except a rest under TAIL_S."""
    whole = math.floor(duration_s + 1e-9)
    return max(1, whole if duration_s - whole < TAIL_S - 1e-9 else whole + 1)


def per_second_spans(duration_s: float) -> list[tuple[int, float, float]]:
    """(second, start, end) for every second of a video; the last one ends at the duration: it may be partial,
    or longer than a second by a rest under TAIL_S."""
    n = seconds_in(duration_s)
    last_end = float(duration_s) if duration_s > n - 1 + 1e-9 else float(n)
    return [(s, float(s), float(s + 1) if s < n - 1 else last_end) for s in range(n)]


def events_frame(events: Iterable[Event], video: str) -> pd.DataFrame:
    # pandas is imported where a table is made: `video-timeline cuts` makes none and starts 0.2 s sooner.
    import pandas as pd

    rows = [
        {
            "video": video,
            "start_s": float(e.start_s),
            "end_s": float(e.end_s),
            "aspect": e.aspect,
            "value": json.dumps(e.value, ensure_ascii=False),
            "confidence": None if e.confidence is None else float(e.confidence),
            "source": e.source,
            "detail": None if e.detail is None else json.dumps(e.detail, ensure_ascii=False),
        }
        for e in events
    ]
    frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    return frame.astype({"start_s": "float64", "end_s": "float64", "confidence": "float64"})


def frame_events(frame: pd.DataFrame) -> list[Event]:
    """Inverse of `events_frame` (the video column is dropped)."""
    import pandas as pd

    return [
        Event(
            start_s=r.start_s,
            end_s=r.end_s,
            aspect=r.aspect,
            value=json.loads(r.value),
            confidence=None if pd.isna(r.confidence) else r.confidence,
            source=r.source,
            detail=None
            if r.detail is None or (isinstance(r.detail, float) and pd.isna(r.detail))
            else json.loads(r.detail),
        )
        for r in frame.itertuples(index=False)
    ]
