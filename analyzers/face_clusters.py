"""Face embeddings of a whole video clustered into persons, in memory that does not grow with the square of
the number of faces.

Agglomeration (analyzers.linkage: complete for dlib's descriptor, average for ArcFace: LINKAGE) cut at the
embedder's same-person distance (TOLERANCE), then two faces of one frame are never one person: the later
one is moved to its next-nearest person or a new one. Then the faces of each frame with several are given
the persons they hold jointly: the assignment with the least total distance to the persons' centres (each
without the face itself), so one unsure face cannot take a neighbour's person and push the neighbour to a
third (two audience faces of a frame had swapped ids). Ids are numbered by first appearance.

Up to EXACT_FACES faces (about 20 minutes of a talk show) the linkage runs over all of them at once: its
distance matrix takes n² floats. A longer video's faces are taken in time order, EXACT_FACES at a time:
each batch is clustered the same way, and each of its clusters joins the earlier person it is nearest to
under the same linkage and tolerance (for complete linkage: every pair of their faces within it), or
becomes a new person; one person takes at most one cluster of a batch. Distances are computed in blocks
of BLOCK, so memory stays bounded whatever the length; time grows with the square of the faces (33-48 s
for 100,000 faces, a crowded video of several hours, on 2 cores: bench/long_video_clusters.py).
"""

from __future__ import annotations

import functools

import numpy as np

from analyzers.assignment import least_cost_assignment
from analyzers.linkage import flat_clusters

TOLERANCE = {"dlib": 0.6, "arcface": 0.6}  # distance below which two faces are one person
# Linkage of the clustering. dlib: complete (every pair of one person's faces within the tolerance, the
# pairwise rule dlib's 0.6 is defined by); ArcFace: average. Both measured with both on the labelled set
# (docs/perception.md): average linkage chained dlib's small dark audience faces into one another, complete
# linkage split ArcFace's same person across poses.
LINKAGE = {"dlib": "complete", "arcface": "average"}
EXACT_FACES = 3000  # faces clustered in one linkage (its matrices: about 100 MB)
BLOCK = 1 << 22  # distances computed at a time (16 MB of float32)


def distances(a: np.ndarray, b: np.ndarray, embedder: str) -> np.ndarray:
    """Pairwise distances: Euclidean for dlib's descriptor, cosine for ArcFace's unit vectors."""
    if embedder == "arcface":
        return 1.0 - a @ b.T
    return np.sqrt(np.maximum(0.0, (a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T))


def cluster(embeddings: np.ndarray, frames: list[float], embedder: str) -> np.ndarray:
    """A person index per face (0 = the first person to appear), faces of one frame kept apart."""
    emb = np.asarray(embeddings)
    n = len(emb)
    if n <= 1:
        return np.zeros(n, int)
    if n <= EXACT_FACES:
        d = _distance_matrix(emb, embedder)
        labels = _linkage_labels(d, embedder)

        def row(i: int) -> np.ndarray:
            return d[i]
    else:
        labels = _labels_in_batches(emb, frames, embedder)

        def row(i: int) -> np.ndarray:
            return distances(emb[i : i + 1], emb, embedder)[0]

    _one_person_per_face_in_a_frame(labels, frames, row, TOLERANCE[embedder])
    _faces_of_a_frame_assigned_jointly(labels, frames, emb, embedder)
    order: dict[int, int] = {}
    for i in np.argsort(frames, kind="stable"):  # number persons by first appearance
        order.setdefault(int(labels[i]), len(order))
    return np.array([order[int(x)] for x in labels])


def _distance_matrix(emb: np.ndarray, embedder: str) -> np.ndarray:
    d = distances(emb, emb, embedder)
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0.0)
    return np.maximum(d, 0.0)


def _linkage_labels(d: np.ndarray, embedder: str) -> np.ndarray:
    """Cluster index per row of a square distance matrix (0-based, in no particular order)."""
    return flat_clusters(d, LINKAGE[embedder], TOLERANCE[embedder])


def _faces_by_frame(frames: list[float]) -> list[list[int]]:
    """The indices of the faces of each frame, frames in the order their first face comes."""
    by_frame: dict[float, list[int]] = {}
    for i, t in enumerate(frames):
        by_frame.setdefault(round(t, 6), []).append(i)
    return list(by_frame.values())


def _one_person_per_face_in_a_frame(labels: np.ndarray, frames: list[float], row, tolerance: float) -> None:
    """Two faces in one frame are two people: keeps the first member, moves the others to their next-nearest
    person (mean distance to its faces, within the tolerance) without a face in that frame, or to a new one.
    `row(i)`: the distances of face i to every face."""
    for members in _faces_by_frame(frames):
        if len(members) == 1:
            continue
        taken: set[int] = set()
        for i in members:
            if labels[i] not in taken:
                taken.add(int(labels[i]))
                continue
            counts = np.bincount(labels)
            mean = np.bincount(labels, weights=row(i), minlength=len(counts)) / np.maximum(counts, 1)
            mean[[*taken, labels[i]]] = np.inf
            mean[counts == 0] = np.inf
            choice = int(np.argmin(mean))
            labels[i] = labels.max() + 1 if mean[choice] >= tolerance else choice
            taken.add(int(labels[i]))


def _faces_of_a_frame_assigned_jointly(labels: np.ndarray, frames: list[float], emb: np.ndarray, embedder: str) -> None:
    """Among the persons the faces of one frame hold, each face takes one so that the total distance to the
    persons' centres (without the face itself) is least; frame by frame, centres kept up to date. Only
    permutes ids within a frame (no person is made or merged), and only of persons seen more than once."""
    sums = np.zeros((labels.max() + 1, emb.shape[1]))
    np.add.at(sums, labels, emb)
    counts = np.bincount(labels, minlength=len(sums))
    for faces in _faces_by_frame(frames):
        members = [i for i in faces if counts[labels[i]] > 1]  # a person seen once has no centre to weigh
        if len(members) < 2:
            continue
        people, x = labels[members], emb[members]
        own = np.eye(len(members), dtype=bool)  # the frame's faces hold different persons
        centres = (sums[people][None] - own[..., None] * x[:, None]) / (counts[people][None] - own)[..., None]
        if embedder == "arcface":
            centres = centres / np.maximum(np.linalg.norm(centres, axis=2, keepdims=True), 1e-12)
        cost = np.array([distances(x[a : a + 1], centres[a], embedder)[0] for a in range(len(members))])
        _, choice = least_cost_assignment(cost)
        moved = people[choice]
        for i, old, new in zip(members, people, moved):
            if old != new:
                sums[old] -= emb[i]
                sums[new] += emb[i]
        labels[members] = moved


def _labels_in_batches(emb: np.ndarray, frames: list[float], embedder: str) -> np.ndarray:
    """Person index per face of a video with more than EXACT_FACES faces (see the module docstring)."""
    order = np.argsort(frames, kind="stable")
    labels = np.full(len(emb), -1)
    persons = 0
    for start in range(0, len(emb), EXACT_FACES):
        batch = order[start : start + EXACT_FACES]
        local = _linkage_labels(_distance_matrix(emb[batch], embedder), embedder)
        earlier = order[:start]
        links = _links(emb[batch], local, emb[earlier], labels[earlier], embedder) if start else []
        home: dict[int, int] = {}
        taken: set[int] = set()
        for _, group, person in sorted(links):
            if group not in home and person not in taken:
                home[group] = person
                taken.add(person)
        for group in dict.fromkeys(local.tolist()):  # the batch's new persons in order of appearance
            if group not in home:
                home[group] = persons + len(home) - len(taken)
        persons += len(home) - len(taken)
        labels[batch] = [home[g] for g in local.tolist()]
    return labels


def _links(x: np.ndarray, groups: np.ndarray, y: np.ndarray, persons: np.ndarray, embedder: str) -> list[tuple]:
    """(linkage distance, group, person) for every group of the faces `x` and person of the faces `y` that are
    within the tolerance; the linkage is the embedder's (complete: the largest distance of a pair of their
    faces; average: the mean)."""
    complete = LINKAGE[embedder] == "complete"
    reduce = np.maximum if complete else np.add
    rows = np.argsort(groups, kind="stable")
    x, groups = x[rows], groups[rows]
    row_starts = _run_starts(groups)
    row_sizes = np.diff(np.r_[row_starts, len(x)])
    cols = np.argsort(persons, kind="stable")
    y, persons = y[cols], persons[cols]
    col_starts = _run_starts(persons)
    col_ends = np.r_[col_starts[1:], len(y)]
    step = max(1, BLOCK // len(x))

    def by_group(a: int, b: int) -> np.ndarray:  # groups x faces y[a:b]
        return reduce.reduceat(distances(x, y[a:b], embedder), row_starts, axis=0)

    found = []
    k = 0
    while k < len(col_starts):
        j = k + 1  # persons k..j-1 whose faces fit in one block; a larger person alone, block by block
        while j < len(col_starts) and col_ends[j] - col_starts[k] <= step:
            j += 1
        lo, hi = col_starts[k], col_ends[j - 1]
        if hi - lo > step:
            parts = (reduce.reduce(by_group(a, min(hi, a + step)), axis=1, keepdims=True) for a in range(lo, hi, step))
            link = functools.reduce(reduce, parts)
        else:
            link = reduce.reduceat(by_group(lo, hi), col_starts[k:j] - lo, axis=1)
        if not complete:
            link = link / np.outer(row_sizes, col_ends[k:j] - col_starts[k:j])
        for r, c in zip(*np.nonzero(link <= TOLERANCE[embedder])):
            found.append((float(link[r, c]), int(groups[row_starts[r]]), int(persons[col_starts[k + c]])))
        k = j
    return found


def _run_starts(keys: np.ndarray) -> np.ndarray:
    """Where each run of equal values of sorted `keys` starts (the offsets `np.ufunc.reduceat` takes)."""
    return np.flatnonzero(np.r_[True, np.diff(keys) != 0])


def face_confidences(embeddings: np.ndarray, labels: np.ndarray, scores: list[float], embedder: str) -> np.ndarray:
    """Detection score x min(1, distance to the nearest other person's centre / tolerance)."""
    emb = np.asarray(embeddings)
    if len(emb) == 0:
        return np.zeros(0)
    people, index = np.unique(labels, return_inverse=True)
    if len(people) == 1:
        return np.asarray(scores, float)
    by_person = np.argsort(index, kind="stable")
    sums = np.add.reduceat(emb[by_person].astype(np.float64), _run_starts(index[by_person]))
    centres = sums / np.bincount(index)[:, None]
    if embedder == "arcface":
        centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    nearest_other = np.empty(len(emb))
    step = max(1, BLOCK // len(people))
    for a in range(0, len(emb), step):
        d = distances(emb[a : a + step], centres, embedder)
        d[np.arange(len(d)), index[a : a + step]] = np.inf
        nearest_other[a : a + step] = d.min(axis=1)
    return np.asarray(scores, float) * np.minimum(1.0, nearest_other / TOLERANCE[embedder])
