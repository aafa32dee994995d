"""The seen-and-heard growth figures fall when the four assets get faster, and rise when they get slower."""

import pytest

from bench.seen_speed import summary
from bench.worker import SEEN_AND_HEARD


def _runs(base: float, added: float) -> dict[str, list[dict]]:
    steps = dict.fromkeys(SEEN_AND_HEARD, added / len(SEEN_AND_HEARD))
    return {
        "without-seen": [{"process_s": base + d, "steps": {}} for d in (0.0, 0.4, 0.2)],
        "default": [{"process_s": base + added + d, "steps": steps} for d in (0.1, 0.5, 0.3)],
    }


@pytest.mark.parametrize("key", ["growth_of_medians", "growth_of_best", "new_steps_share_of_without"])
def test_each_growth_figure_follows_the_added_time(key):
    figures = [summary(_runs(20.0, added))[key] for added in (1.0, 3.0, 6.0)]
    assert figures == sorted(figures) and figures[0] < figures[-1]
    assert summary(_runs(20.0, 6.0))["growth_of_medians"] == pytest.approx(6.1 / 20.2, abs=1e-3)
