"""Agglomerative clustering cut at a distance: the flat clusters of complete or average linkage.

Our own, not scipy's `linkage` and `fcluster`: importing scipy's clustering takes 0.15 s of every run that
clusters faces (0.2 s with its assignment solver), on the interpreter lock while the other steps wait. Same
partition as scipy's `fcluster(linkage(d, method), threshold, "distance")` (tested against it): clusters are
the merges at a height of at most `threshold`.

The merges are found by the nearest-neighbour chain: follow each cluster to its nearest one until two are
each other's nearest, merge them, go on from the chain's rest. For complete and average linkage (a merged
cluster is never nearer to a third than both its parts were) this makes the same merges as always joining
the globally nearest pair, in O(n²) time and one n x n matrix.
"""

from __future__ import annotations

import numpy as np

METHODS = ("complete", "average")


def flat_clusters(d: np.ndarray, method: str, threshold: float) -> np.ndarray:
    """A cluster index per row of the square distance matrix `d` (0-based, in order of each cluster's first
    row): rows end in one cluster when their clusters merge at a linkage distance of at most `threshold`."""
    if method not in METHODS:
        raise ValueError(f"linkage method {method!r}: one of {', '.join(METHODS)}")
    n = len(d)
    dist = np.array(d, dtype=np.float64)  # a copy: a merged cluster's distances overwrite its row and column
    if dist.shape != (n, n):
        raise ValueError(f"the distances must be a square matrix, not of shape {dist.shape}")
    if not np.isfinite(dist).all():  # a NaN would send the chain round in circles
        raise ValueError("the distances hold a value that is not finite")
    np.fill_diagonal(dist, np.inf)
    size = np.ones(n)  # rows in each cluster
    still_open = np.ones(n, bool)
    joined_to = np.arange(n)  # the cluster each one merged into at or under the threshold (itself if none)
    chain: list[int] = []
    for _ in range(n - 1):
        if not chain:
            chain.append(int(np.argmax(still_open)))  # the first cluster still open
        while True:
            a = chain[-1]
            b = int(np.argmin(dist[a]))
            if len(chain) > 1 and dist[a, chain[-2]] <= dist[a, b]:
                b = chain[-2]  # on a tie the chain's previous cluster: the pair is mutual, the chain ends
                break
            chain.append(b)
        del chain[-2:]
        height = dist[a, b]
        x, y = min(a, b), max(a, b)  # the merged cluster takes the larger index
        if method == "complete":
            merged = np.maximum(dist[x], dist[y])
        else:
            merged = (size[x] * dist[x] + size[y] * dist[y]) / (size[x] + size[y])
        merged[y] = np.inf
        dist[y], dist[:, y] = merged, merged
        dist[x], dist[:, x] = np.inf, np.inf
        size[y] += size[x]
        still_open[x] = False
        if height <= threshold:
            joined_to[x] = y
    roots = joined_to.copy()
    for i in range(n - 1, -1, -1):  # a cluster merges into a larger index, so its root is resolved already
        roots[i] = roots[joined_to[i]] if joined_to[i] != i else i
    _, first, labels = np.unique(roots, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[labels]
