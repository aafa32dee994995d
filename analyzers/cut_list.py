"""The shot boundaries of one file without the rest of the analysis: probe, a signals-only decode pass, shots.

What `video-timeline cuts` prints. The decode pass leaves out what only other analyzers use (sampled frames
and their visibility, the global-motion estimates): on synthetic_clip01 it takes 1.6 s instead of 2.5-2.7 s.
The cut rule reads the same signals either way, so the boundaries are those the full analysis stores in `shots`.
Nothing here makes a table or writes a store, so neither pandas nor pyarrow is imported (0.25 s of start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analyzers import shots
from analyzers.decode import decode_video
from analyzers.probe import probe_video
from analyzers.progress import Say


@dataclass(frozen=True)
class Boundary:
    t: float  # seconds: the first frame of the new shot (the middle of a dissolve or of a short fade)
    kind: str  # cut, dissolve, fade, black_start, black_end (analyzers.shots.detect_cuts)
    confidence: float


@dataclass(frozen=True)
class CutList:
    path: Path
    duration_s: float
    boundaries: list[Boundary]
    damage: str | None  # a line naming what did not decode (left unanalysed); None when everything did


def find_cuts(path: Path, progress: Say | None = None) -> CutList:
    """Raises analyzers.probe.MediaError (naming the file) for a file that cannot be analysed."""
    probe = probe_video(path)
    decoded = decode_video(probe, None, motion=False, progress=progress)
    found = [
        Boundary(t, kind, min(1.0, strength)) for t, strength, kind in shots.detect_cuts(decoded.columns, probe.fps)
    ]
    damage = decoded.damage.warning(Path(path), "frames") if decoded.damage is not None else None
    return CutList(Path(path), probe.duration_s, found, damage)
