"""The least-cost assignment: the same total as scipy's `linear_sum_assignment` (the reference, a test
dependency only) on square, wide and tall matrices, with and without many equal entries; the same pairs
where the optimum is unique; the cases a table states by hand."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from analyzers.assignment import least_cost_assignment


@pytest.mark.parametrize("zeros", [0.0, 0.5])  # 0.5: half the entries 0, like the overlaps of boxes far apart
@pytest.mark.parametrize(("largest_side", "seed"), [(3, 0), (6, 1), (12, 2), (30, 3)])
def test_totals_equal_scipys_and_the_pairs_where_the_optimum_is_unique(largest_side, seed, zeros):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        shape = rng.integers(1, largest_side + 1, 2)
        cost = rng.random(shape)
        cost[rng.random(shape) < zeros] = 0.0
        rows, cols = least_cost_assignment(cost)
        ref_rows, ref_cols = linear_sum_assignment(cost)
        assert len(rows) == min(shape) and len(set(cols.tolist())) == len(cols) and list(rows) == sorted(rows)
        assert cost[rows, cols].sum() == pytest.approx(cost[ref_rows, ref_cols].sum(), abs=1e-12)
        if zeros == 0.0:  # continuous random costs: one optimum
            assert rows.tolist() == ref_rows.tolist() and cols.tolist() == ref_cols.tolist()


@pytest.mark.parametrize(
    ("cost", "rows", "cols"),
    [
        ([[4, 1, 3], [2, 0, 5], [3, 2, 2]], [0, 1, 2], [1, 0, 2]),  # the greedy pick (1, 1) is not optimal
        ([[1, 2, 0.5]], [0], [2]),  # one row: its cheapest column
        ([[1], [0.2], [3]], [1], [0]),  # one column: its cheapest row
        ([[-0.9, -0.8], [-0.8, -0.1]], [0, 1], [1, 0]),  # negated overlaps: the largest total, not the largest one
        (np.zeros((0, 3)), [], []),
    ],
)
def test_hand_made_cases(cost, rows, cols):
    got_rows, got_cols = least_cost_assignment(cost)
    assert got_rows.tolist() == rows and got_cols.tolist() == cols


@pytest.mark.parametrize("cost", [np.zeros(3), [[1.0, np.nan]], [[np.inf, 1.0]]])
def test_a_cost_that_is_no_finite_matrix_is_refused(cost):
    with pytest.raises(ValueError, match=r"matrix|finite"):
        least_cost_assignment(cost)
