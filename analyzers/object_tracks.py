"""Objects followed across seconds: a COCO detector on every sampled frame (analyzers.object_detector),
boxes linked into tracks by ByteTrack's two matching stages (analyzers.box_tracker), a new tracker at every cut.

Per second two events: `objects`, the distinct labels seen (as the transformers path answers), and
`object_tracks`, the tracks present as "label#id" (an id is unique in the video; one object keeps it while
its shot lasts, a cut always starts new ids). Per track one `object_track` event over its life with the
first and last second, the frames it was seen in and a small JPEG thumbnail of its surest box, so the
video-level table of tracks needs no second pass over the frames.

Boxes are tracked per kind (person, vehicle, animal, or the label itself for other objects): a detector
that calls the same van a car in one frame and a truck in the next still gives it one track, named after
the label its boxes carried most surely. The detector suppresses overlapping boxes per label only, so
boxes of one kind at one place (one deer as a cow and a horse) are suppressed again per kind first.

Why ByteTrack's matching: its second stage keeps a track through frames where the detector's score dips
(partly hidden, blurred), which at 2 sampled frames per second is most of what breaks a track. Each track
predicts its box from its velocity at the frames' real times, so any sampling rate works. A track has its id
from its first sighting.
"""

from __future__ import annotations

import base64
import os
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from itertools import count
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from analyzers import frame_cache, object_detector
from analyzers.box_tracker import BoxTracker, corners
from analyzers.frame_models import answers_for_changed_frames, seconds_with_frames
from analyzers.frames import decoded_jpeg
from analyzers.objects import Detection
from analyzers.progress import Progress, Say
from analyzers.records import Event

K = TypeVar("K")  # the key a thumbnail is asked for under (a track id, a person)

VERSION = "4"  # 2: one box per object and kind; 3: NanoDet input padded to a multiple of 32; 4: our own tracker
TRACK_SCORE = 0.4  # boxes from here start tracks; weaker ones (>= detector MIN_SCORE) only extend them
LOST_S = 1.5  # a track unseen this long ends (its object left, or the detector lost it for good)
THUMB_SIDE = 96  # longest side of a track's thumbnail, pixels
_CHUNK = 16


@dataclass(frozen=True)
class TrackedBox:
    label: str
    score: float
    box: tuple[int, int, int, int]  # x, y, w, h
    track: int | None  # None: a weak box no track claimed


@dataclass(frozen=True)
class TrackedFrame:
    t: float
    boxes: list[TrackedBox]
    reused: bool = False


@dataclass
class Track:
    id: int
    label: str
    first_t: float
    last_t: float
    frames: int = 0
    best_score: float = 0.0
    best_t: float = 0.0
    best_box: tuple[int, int, int, int] = (0, 0, 0, 0)
    scores: list[float] = field(default_factory=list)
    votes: dict[str, float] = field(default_factory=dict)  # label -> summed score of the boxes carrying it

    @property
    def name(self) -> str:
        return f"{self.label}#{self.id}"

    def seen(self, label: str, score: float, t: float, box: tuple[int, int, int, int]) -> None:
        self.last_t, self.frames = t, self.frames + 1
        self.scores.append(score)
        self.votes[label] = self.votes.get(label, 0.0) + score
        if score > self.best_score:
            self.best_score, self.best_t, self.best_box = score, t, box


def kind_of(label: str) -> str:
    """What one tracker follows: the label's category (a van the detector calls car, then truck, is one
    vehicle), or the label itself outside the categories."""
    return object_detector.CATEGORY_OF.get(label, label)


def one_box_per_object(found: list[Detection]) -> tuple[list[Detection], np.ndarray, np.ndarray]:
    """One kind's boxes as (detections, x0 y0 x1 y1, scores), suppressed again across labels: the detector
    keeps a box per label, so one deer can come as a cow and a horse at the same place, and a tracker given
    both would follow two objects."""
    xyxy = corners([d.box for d in found])
    scores = np.array([d.score for d in found], float)
    if len(found) < 2:
        return found, xyxy, scores
    keep = sorted(object_detector.suppress(xyxy, scores))
    return [found[i] for i in keep], xyxy[keep], scores[keep]


def track_frames(
    frames: list[tuple[float, list[Detection]]], cuts: list[float], sure: float = TRACK_SCORE
) -> tuple[list[TrackedFrame], dict[int, Track]]:
    """Links each frame's detections into tracks, one label per track, a fresh tracker after every cut.
    Boxes from `sure` start tracks; weaker ones only extend them."""
    cuts = sorted(cuts)
    tracked: list[TrackedFrame] = []
    tracks: dict[int, Track] = {}
    ids = count(1)  # one sequence for every tracker: an id is unique in the video
    shot = None
    trackers: dict[str, BoxTracker] = {}
    for t, detections in frames:
        frame_shot = bisect_right(cuts, t + 1e-6)
        if frame_shot != shot:
            shot, trackers = frame_shot, {}
        boxes: list[TrackedBox] = []
        by_kind: dict[str, list[Detection]] = defaultdict(list)
        for d in detections:
            by_kind[kind_of(d.label)].append(d)
        for kind, found in by_kind.items():  # one tracker per kind: a track never leaves its kind
            found, xyxy, scores = one_box_per_object(found)
            tracker = trackers.setdefault(kind, BoxTracker(sure, LOST_S, ids))
            for d, gid in zip(found, tracker.update(t, xyxy, scores)):
                if gid is not None:
                    if gid not in tracks:
                        tracks[gid] = Track(gid, d.label, t, t)
                    tracks[gid].seen(d.label, float(d.score), t, d.box)
                boxes.append(TrackedBox(d.label, round(float(d.score), 4), d.box, gid))
        tracked.append(TrackedFrame(t, sorted(boxes, key=lambda b: -b.score)))
    for track in tracks.values():  # a track is named after the label its boxes carried most surely
        track.label = max(track.votes, key=track.votes.get)
    return tracked, tracks


def detect_frames(
    frames_path: Path, detector: str = object_detector.DEFAULT_DETECTOR, progress: Progress | None = None
) -> list[tuple[float, list[Detection], bool]]:
    """(t, detections, reused) for every sampled frame; a frame like the last detected one reuses its answer."""
    detect = partial(object_detector.detect, detector=detector)
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        return [
            (frame.t, found, reused)
            for frame, found, reused in answers_for_changed_frames(
                frames_path, lambda images: list(pool.map(detect, images)), _CHUNK, progress
            )
        ]


def iter_frames_at(frames_path: Path, times: set[float]) -> Iterator[tuple[float, np.ndarray]]:
    """(t, RGB frame) of the stored frames at `times`, in stored order: those an earlier pass kept in memory
    (`frame_cache`), then the others decoded one at a time."""
    import pyarrow.parquet as pq

    wanted = {round(t, 3) for t in times}
    kept = frame_cache.kept_frames(frames_path)
    for frame in kept:
        if round(frame.t, 3) in wanted:
            yield round(frame.t, 3), frame.image
    if kept:
        wanted = {t for t in wanted if t > round(kept[-1].t, 3)}
    if not wanted:
        return
    reader = pq.ParquetFile(str(frames_path))
    for group in range(reader.num_row_groups):
        ts = [round(t, 3) for t in reader.read_row_group(group, columns=["t"]).column("t").to_pylist()]
        rows = [i for i, t in enumerate(ts) if t in wanted]
        if not rows:
            continue
        jpegs = reader.read_row_group(group, columns=["jpeg"]).column("jpeg")
        for i in rows:
            yield ts[i], decoded_jpeg(jpegs[i].as_py())


def thumbnails(frames_path: Path, tracks: dict[int, Track]) -> dict[int, str]:
    """A base64 JPEG of each track's surest box (the crop, longest side THUMB_SIDE)."""
    return crops_at(frames_path, {track.id: (track.best_t, track.best_box) for track in tracks.values()})


def crops_at(frames_path: Path, boxes: dict[K, tuple[float, tuple[int, int, int, int]]]) -> dict[K, str]:
    """A thumbnail (`crop_thumbnail`) of each (time, box) from the stored frames: one frame decoded at a time,
    so a long video's many tracks never hold their frames at once (each 720p frame is 2.8 MB)."""
    wanted: dict[float, list] = {}
    for key, (t, box) in boxes.items():
        wanted.setdefault(round(t, 3), []).append((key, box))
    crops = {}
    for t, image in iter_frames_at(frames_path, set(wanted)) if wanted else ():
        for key, box in wanted[t]:
            crops[key] = crop_thumbnail(image, box)
    return crops


def crop_thumbnail(image: np.ndarray, box: tuple[int, int, int, int]) -> str:
    x, y, w, h = box
    crop = image[max(0, y) : y + max(1, h), max(0, x) : x + max(1, w)]
    if crop.size == 0:
        return ""
    scale = min(1.0, THUMB_SIDE / max(crop.shape[:2]))
    if scale < 1:  # at least one pixel either way: a box may be a sliver
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return base64.b64encode(buf.tobytes()).decode("ascii") if ok else ""


def per_second_events(
    tracked: list[TrackedFrame],
    tracks: dict[int, Track],
    duration_s: float,
    source: str,
    thumbs: dict[int, str],
    sure: float = TRACK_SCORE,
) -> list[Event]:
    """`objects` and `object_tracks` per analysed second, one `object_track` per track."""
    events = []
    for start, end, group in seconds_with_frames(tracked, duration_s):
        best: dict[str, float] = {}
        present: dict[int, float] = {}
        boxes = []
        for frame in group:
            for b in frame.boxes:
                if b.track is None and b.score < sure:
                    continue  # a weak box no track took: not reported
                best[b.label] = max(best.get(b.label, 0.0), b.score)
                if b.track is not None:
                    present[b.track] = max(present.get(b.track, 0.0), b.score)
                boxes.append({"t": round(frame.t, 3), "label": b.label, "box": list(b.box), "score": b.score,
                              "track": None if b.track is None else tracks[b.track].name})  # fmt: skip
        counts: dict[str, int] = defaultdict(int)
        for tid in present:
            counts[tracks[tid].label] += 1
        detail = {"boxes": boxes, "counts": dict(sorted(counts.items())), "frames": len(group)}
        # How sure the listed labels (tracks) are: the mean of each one's best score in the second.
        label_conf = round(sum(best.values()) / len(best), 4) if best else None
        track_conf = round(sum(present.values()) / len(present), 4) if present else None
        events.append(Event(start, end, "objects", sorted(best), label_conf, source, detail))
        names = sorted((tracks[tid].name for tid in present), key=lambda n: (n.split("#")[0], int(n.split("#")[1])))
        events.append(Event(start, end, "object_tracks", names, track_conf, source, {"counts": detail["counts"]}))
    for track in sorted(tracks.values(), key=lambda k: k.id):
        first_s, last_s = int(np.floor(track.first_t + 1e-6)), int(np.floor(track.last_t + 1e-6))
        detail = {
            "id": track.name,
            "label": track.label,
            "first_second": first_s,
            "last_second": last_s,
            "frames": track.frames,
            "thumbnail_t": round(track.best_t, 3),
            "thumbnail_box": list(track.best_box),
            "thumbnail_jpeg_base64": thumbs.get(track.id, ""),
        }
        confidence = round(float(np.mean(track.scores)), 4) if track.scores else None
        events.append(
            Event(
                float(first_s),
                float(min(last_s + 1, duration_s)),
                "object_track",
                track.name,
                confidence,
                source,
                detail,
            )
        )
    return events


def track_detected(
    found: list[tuple[float, list[Detection], bool]],
    frames_path: Path,
    duration_s: float,
    cuts: list[float],
    source: str,
    sure: float = TRACK_SCORE,
) -> list[Event]:
    """The per-second and per-track events of any detector's answers (t, detections, reused) per frame."""
    tracked, tracks = track_frames([(t, d) for t, d, _ in found], cuts, sure)
    tracked = [TrackedFrame(f.t, f.boxes, reused) for f, (_, _, reused) in zip(tracked, found)]
    return per_second_events(tracked, tracks, duration_s, source, thumbnails(frames_path, tracks), sure)


def analyze_object_tracks(
    frames_path: Path,
    duration_s: float,
    cuts: list[float],
    detector: str = object_detector.DEFAULT_DETECTOR,
    progress: Say | None = None,
) -> list[Event]:
    """Objects and their tracks per second of a video (see the module docstring)."""
    found = detect_frames(frames_path, detector, Progress(progress, "detecting objects", duration_s))
    return track_detected(found, frames_path, duration_s, cuts, object_detector.SOURCES[detector])
