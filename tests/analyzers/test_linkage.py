"""Flat clusters of complete and average linkage: the same partitions as scipy's `linkage` + `fcluster`
(the reference, a test dependency only) on clustered, uniform, tied and single-precision distances, the
threshold's boundary (a merge at exactly the threshold joins), and the cases a table states by hand."""

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform

from analyzers.linkage import flat_clusters


def _scipy_partition(points: np.ndarray, method: str, threshold: float) -> np.ndarray:
    return fcluster(linkage(pdist(points), method), threshold, "distance")


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("method", ["complete", "average"])
@pytest.mark.parametrize(
    ("n", "dims", "groups", "spread", "threshold"),
    [
        (2, 4, 1, 0.1, 0.5),
        (3, 4, 2, 0.1, 0.5),
        (40, 16, 5, 0.05, 0.6),  # well-separated groups
        (200, 128, 30, 0.03, 0.6),  # faces-like: 128 dimensions, groups about 0.5 wide
        (300, 8, 1, 1.0, 1.5),  # uniform cloud: the cut falls inside a dense dendrogram
        (500, 2, 1, 1.0, 0.3),  # many small clusters in the plane
    ],
)
def test_partitions_equal_scipys(method, n, dims, groups, spread, threshold):
    rng = np.random.default_rng(n * 7 + dims)
    centres = rng.normal(0, 1, (groups, dims)) * (0 if groups == 1 else 0.5)
    points = centres[rng.integers(0, groups, n)] + rng.normal(0, spread, (n, dims))
    ours = flat_clusters(squareform(pdist(points)), method, threshold)
    reference = _scipy_partition(points, method, threshold)
    assert 1 < len(set(reference.tolist())) < n or n <= 3  # a cut that splits: the comparison means something
    assert _same_partition(ours, reference)


@pytest.mark.parametrize("method", ["complete", "average"])
def test_ties_and_duplicates_give_scipys_partition(method):
    # integer grid points: many equal distances; and each point twice (distance 0)
    grid = np.array([(x, y) for x in range(6) for y in range(6)], float)
    points = np.vstack([grid, grid[::3]])
    for threshold in (0.0, 1.0, 1.5, 2.0, 3.0):
        ours = flat_clusters(squareform(pdist(points)), method, threshold)
        assert _same_partition(ours, _scipy_partition(points, method, threshold)), threshold


def test_single_precision_distances_give_the_same_partition():
    rng = np.random.default_rng(3)
    points = rng.normal(0, 1, (120, 16))
    d = squareform(pdist(points)).astype(np.float32)
    reference = fcluster(linkage(squareform(d, checks=False), "complete"), 4.0, "distance")
    assert _same_partition(flat_clusters(d, "complete", 4.0), reference)


@pytest.mark.parametrize(
    ("distances", "method", "threshold", "labels"),
    [
        ([[0]], "complete", 1.0, [0]),  # one row
        ([[0, 1], [1, 0]], "complete", 1.0, [0, 0]),  # a merge at exactly the threshold joins
        ([[0, 1], [1, 0]], "complete", 0.999, [0, 1]),
        # 0-1 close, 2 at 1.0 from 0 and 3.0 from 1: complete linkage 3.0 keeps it apart, average 2.0 too
        ([[0, 0.5, 1], [0.5, 0, 3], [1, 3, 0]], "complete", 2.5, [0, 0, 1]),
        ([[0, 0.5, 1], [0.5, 0, 3], [1, 3, 0]], "average", 2.0, [0, 0, 0]),
        ([[0, 0.5, 1], [0.5, 0, 3], [1, 3, 0]], "average", 1.99, [0, 0, 1]),
        ([[0, 5, 5], [5, 0, 5], [5, 5, 0]], "average", 1.0, [0, 1, 2]),  # labels in order of first row
    ],
)
def test_hand_made_cases(distances, method, threshold, labels):
    assert flat_clusters(np.array(distances, float), method, threshold).tolist() == labels


def test_an_unknown_method_is_refused_by_name():
    with pytest.raises(ValueError, match="'single'"):
        flat_clusters(np.zeros((2, 2)), "single", 1.0)


@pytest.mark.parametrize(
    "d", [np.array([[0, np.nan], [np.nan, 0]]), np.array([[0, np.inf], [np.inf, 0]]), np.zeros((2, 3))]
)
def test_distances_that_are_no_finite_square_matrix_are_refused(d):
    with pytest.raises(ValueError, match=r"square matrix|not finite"):
        flat_clusters(d, "complete", 1.0)
