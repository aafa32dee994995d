"""Boxes of one kind linked frame to frame into tracks, by ByteTrack's two matching stages on box overlap.

Each frame's boxes are split by score. Sure boxes (>= `sure`) are matched first, to every live track; weak
boxes then only to the tracks left over, so a track lives on through frames where the detector's score dips
(partly hidden, blurred), which at 2 sampled frames per second is most of what breaks a track. A sure box
that no track takes starts a track; a weak one stays without. A track unseen for longer than `lost_s` ends.

A box matches the track whose predicted box it overlaps most (IoU at least `min_iou`), one box per track.
Where no box is wanted by two tracks nor a track by two boxes (most frames), those pairs are the answer;
otherwise the pairs with the largest total overlap are chosen (analyzers.assignment).

Each track predicts where its box is at the frame's time from its velocity: measured between its last two
sightings and smoothed over earlier ones, in pixels per second, so frames at any rate or with gaps predict
alike; two objects that cross keep their tracks.

Our own, not a tracker library's: the library used before (`trackers` 2.6.1) imported supervision's
annotators and scipy's interpolation with itself, 0.4-0.7 s of every run that tracks anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from analyzers.assignment import least_cost_assignment

MIN_IOU = 0.1  # a box overlapping a track's predicted box less than this is not that track's object
VELOCITY_GAIN = 0.5  # how much of a new velocity measurement replaces the track's estimate


@dataclass
class _Track:
    id: int
    box: np.ndarray  # x0, y0, x1, y1 of its last sighting
    t: float  # the time of its last sighting
    velocity: np.ndarray | None = None  # of each coordinate, pixels per second; None until seen twice

    def predicted(self, t: float) -> np.ndarray:
        return self.box if self.velocity is None else self.box + self.velocity * (t - self.t)

    def seen(self, box: np.ndarray, t: float) -> None:
        if t > self.t:
            measured = (box - self.box) / (t - self.t)
            self.velocity = (
                measured if self.velocity is None else self.velocity + VELOCITY_GAIN * (measured - self.velocity)
            )
        self.box, self.t = box, t


def corners(boxes) -> np.ndarray:
    """Boxes as the records give them (x, y, width, height) as rows of x0, y0, x1, y1, what `overlaps` and
    `BoxTracker.update` take."""
    xywh = np.asarray(boxes, float).reshape(-1, 4)
    return np.hstack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])


def overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of `a` (rows) with every box of `b` (columns), boxes as x0, y0, x1, y1."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter, dtype=float), where=union > 0)


def pairs(iou: np.ndarray, min_iou: float = MIN_IOU) -> list[tuple[int, int]]:
    """(row, column) pairs, each row and column at most once, of the largest total overlap of at least `min_iou`."""
    if iou.size == 0:
        return []
    iou = np.where(iou >= min_iou, iou, 0.0)
    rows, cols = np.nonzero(iou)
    if len(set(rows.tolist())) < len(rows) or len(set(cols.tolist())) < len(cols):  # some box or track is contested
        rows, cols = least_cost_assignment(-iou)
    return [(r, c) for r, c in zip(rows.tolist(), cols.tolist()) if iou[r, c] > 0]


class BoxTracker:
    """Tracks of one kind of object within one shot; ids come from `ids`, shared by all trackers of a video so
    that an id is unique in it. Usage:

        tracker = BoxTracker(sure=0.4, lost_s=1.5, ids=itertools.count(1))
        for t, xyxy, scores in frames:
            track_ids = tracker.update(t, xyxy, scores)  # per box: its track's id, None for a weak box left over
    """

    def __init__(self, sure: float, lost_s: float, ids: Iterator[int], min_iou: float = MIN_IOU):
        self.sure, self.lost_s, self.min_iou = sure, lost_s, min_iou
        self._ids = ids
        self._tracks: list[_Track] = []

    def update(self, t: float, xyxy: np.ndarray, scores: np.ndarray) -> list[int | None]:
        """The track id of each box of the frame at `t` (boxes as x0, y0, x1, y1, in their given order)."""
        self._tracks = [track for track in self._tracks if t - track.t <= self.lost_s]
        xyxy = np.asarray(xyxy, float).reshape(-1, 4)
        found: list[int | None] = [None] * len(xyxy)
        sure = [i for i, score in enumerate(scores) if score >= self.sure]
        weak = [i for i, score in enumerate(scores) if score < self.sure]
        predicted = np.array([track.predicted(t) for track in self._tracks]).reshape(-1, 4)
        free = list(range(len(self._tracks)))
        for boxes in (sure, weak):
            matched = pairs(overlaps(predicted[free], xyxy[boxes]), self.min_iou)
            for row, col in matched:
                track = self._tracks[free[row]]
                track.seen(xyxy[boxes[col]], t)
                found[boxes[col]] = track.id
            taken = {free[row] for row, _ in matched}
            free = [k for k in free if k not in taken]
        for i in sure:
            if found[i] is None:
                track = _Track(next(self._ids), xyxy[i], t)
                self._tracks.append(track)
                found[i] = track.id
        return found
