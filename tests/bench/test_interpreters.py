"""The interpreter comparison: each ratio falls when that interpreter gets slower, and the section marks the
issue's targets met or not from the medians."""

import pytest

from bench.interpreters import FIGURES, HIGHER_IS_BETTER, section, summary


def _runs(slower: float) -> dict[str, list[dict]]:
    base = {
        "one_second_s": 3.2,
        "definitions_s": 1.5,
        "unchanged_s": 1.3,
        "light_realtime": 13.0,
        "default_realtime": 2.7,
    }

    def scaled(factor: float) -> dict:
        return {k: (v / factor if k in HIGHER_IS_BETTER else v * factor) for k, v in base.items()}

    return {"a": [scaled(1.0), scaled(1.02), scaled(0.98)], "b": [scaled(slower * f) for f in (1.0, 1.02, 0.98)]}


@pytest.mark.parametrize("key", list(FIGURES))
def test_each_ratio_falls_as_the_second_interpreter_slows(key):
    ratios = [summary(_runs(slower))["better_than_first"]["b"][key] for slower in (0.8, 0.9, 1.0, 1.2)]
    assert ratios == sorted(ratios, reverse=True) and ratios[0] > 1.0 > ratios[-1]
    assert summary(_runs(1.0))["better_than_first"]["b"][key] == pytest.approx(1.0)
    assert summary(_runs(0.8))["better_than_first"]["b"][key] == pytest.approx(1.25, abs=1e-3)


def test_section_marks_a_target_by_the_median():
    result = summary(_runs(0.9))  # b: 1-second clip 3.2 * 0.9 = 2.88 s
    result["interpreters"] = {
        n: {
            "version": "3.11",
            "build": "(main)",
            "base": "/usr/bin/python3.11",
            "libpython": "in the executable",
            "configure_flags": [],
        }
        for n in "ab"
    }
    result["machine"] = {"cpu": "cpu", "cores": 2, "load_average_start": [0.0], "date_utc": "now", "commit": "x"}
    result["command"] = "python -m bench.interpreters"
    row = next(line for line in section(result).splitlines() if "1-second clip" in line)
    assert "3.2 (not met)" in row and "2.88 (met) [1.111x]" in row
