"""Merging readings of one on-screen string that differ by a letter or two.

A recognizer reads the same caption slightly differently from frame to frame ("Casteliano",
"Castellano"). Listing both says two strings were on screen when one was. Readings are merged when
they are near-duplicates (below); the merged string is the reading seen in most frames, counted over
every second the string stays on screen, so a second with one misreading gets the majority's text.
Strings whose digits differ are never merged: a clock, a price or a counter changes by one digit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

MIN_LENGTH = 6  # shorter strings (letters and digits, spaces ignored) are merged only when equal
MIN_SIMILARITY = 0.85  # 1 - edit distance / length of the longer: one letter in 7, two in 14


class Reading(Protocol):
    text: str
    score: float
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class MergedLine:
    text: str  # the string as the timeline shows it: the reading seen most
    read: str  # this second's most confident reading (before merging)
    score: float  # the best recognition score among the merged readings of this second
    box: tuple[int, int, int, int]  # the box of that reading


def _key(text: str) -> str:
    return "".join(text.casefold().split())


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def near_duplicates(a: str, b: str) -> bool:
    """Whether two readings are one string: equal ignoring case and spaces, or, both at least MIN_LENGTH
    long with the same digits, at most one edit in seven characters apart."""
    ka, kb = _key(a), _key(b)
    if ka == kb:
        return True
    if min(len(ka), len(kb)) < MIN_LENGTH or [c for c in ka if c.isdigit()] != [c for c in kb if c.isdigit()]:
        return False
    return 1 - edit_distance(ka, kb) / max(len(ka), len(kb)) >= MIN_SIMILARITY


@dataclass
class _Cluster:
    readings: Counter  # text -> frames that read it
    best: Reading

    def matches(self, text: str) -> bool:
        return any(near_duplicates(text, seen) for seen in self.readings)


def _clusters(lines: Sequence[Reading]) -> list[_Cluster]:
    """One cluster per string in one second, in order of first appearance."""
    clusters: list[_Cluster] = []
    for line in lines:
        home = next((c for c in clusters if c.matches(line.text)), None)
        if home is None:
            clusters.append(_Cluster(Counter({line.text: 1}), line))
            continue
        home.readings[line.text] += 1
        if line.score > home.best.score:
            home.best = line
    return clusters


def merge_near_duplicates(seconds: Sequence[Sequence[Reading]]) -> list[list[MergedLine]]:
    """Per second the distinct strings of its readings (all frames of the second), near-duplicates
    merged within the second and along runs of neighbouring seconds; order of first appearance."""
    per_second = [_clusters(lines) for lines in seconds]
    track_of: list[list[int]] = []  # per second, per cluster: its track (a string followed across seconds)
    tracks: list[Counter] = []
    previous: list[tuple[_Cluster, int]] = []
    for clusters in per_second:
        ids, taken, current = [], set(), []
        for cluster in clusters:
            track = next(
                (t for c, t in previous if t not in taken and any(cluster.matches(text) for text in c.readings)), None
            )
            if track is None:
                track = len(tracks)
                tracks.append(Counter())
            taken.add(track)
            tracks[track].update(cluster.readings)
            ids.append(track)
            current.append((cluster, track))
        track_of.append(ids)
        previous = current
    canonical = [readings.most_common(1)[0][0] for readings in tracks]
    return [
        [MergedLine(canonical[t], c.best.text, c.best.score, c.best.box) for c, t in zip(clusters, ids)]
        for clusters, ids in zip(per_second, track_of)
    ]
