import cv2
import numpy as np
import pandas as pd

from analyzers.coverage_picture import (
    ANALYSED,
    DERIVED_CELL,
    LABEL_WIDTH,
    MAX_PLOT_WIDTH,
    NOT_ANALYSED,
    ROW_HEIGHT,
    TOP,
    UNCONFIGURED,
    UNSURE,
    render_coverage_png,
)  # fmt: skip

ASPECTS = ("shot", "speech", "faces")


def decode(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def cell(image, row: int, x: int) -> np.ndarray:
    return image[TOP + row * ROW_HEIGHT + ROW_HEIGHT // 2, LABEL_WIDTH + x].astype(int)


def test_each_cell_says_whether_that_aspect_was_analysed_at_that_second():
    timeline = pd.DataFrame({"shot": [0, 0, 1, 1], "speech": [0.5, None, None, 0.0], "faces": [None] * 4})
    image = decode(render_coverage_png(timeline, ASPECTS, expected=("shot", "speech"), score=0.75))
    px = 28  # 4 seconds: the widest cells
    centre = [s * px + px // 2 for s in range(4)]
    assert all(np.abs(cell(image, 0, x) - ANALYSED).max() <= 2 for x in centre)
    assert [np.abs(cell(image, 1, x) - ANALYSED).max() <= 2 for x in centre] == [True, False, False, True]
    assert np.abs(cell(image, 1, centre[1]) - NOT_ANALYSED).max() <= 2
    assert all(np.abs(cell(image, 2, x) - UNCONFIGURED).max() <= 2 for x in centre)  # not configured: paler grey


def test_long_videos_are_binned_into_a_bounded_width():
    seconds = 7200
    speech = np.where(np.arange(seconds) < seconds // 2, 1.0, np.nan)
    timeline = pd.DataFrame({"shot": np.zeros(seconds), "speech": speech, "faces": np.zeros(seconds)})
    png = render_coverage_png(timeline, ASPECTS, expected=ASPECTS, score=0.83)
    image = decode(png)
    assert image.shape[1] <= LABEL_WIDTH + MAX_PLOT_WIDTH + 10 and len(png) < 20_000
    assert np.abs(cell(image, 1, 10) - ANALYSED).max() <= 2
    assert np.abs(cell(image, 1, MAX_PLOT_WIDTH - 10) - NOT_ANALYSED).max() <= 2


def test_a_cell_is_as_green_as_it_counts_and_derived_cells_are_amber():
    timeline = pd.DataFrame(
        {
            "shot": [0, 0, 0],
            "speech": [0.0, 0.0, None],
            "faces": [0, 0, 0],
            "confidence": [
                {"shot": 1.0, "speech": 0.0, "faces": 0.5},
                {"shot": 0.2, "speech": 0.0, "faces": 0.5},
                {"shot": 1.0, "speech": None, "faces": 0.5},
            ],
            "derived": [["speech"], ["speech"], []],
        }
    )
    image = decode(render_coverage_png(timeline, ASPECTS, expected=ASPECTS, score=0.5))
    centre = [s * 28 + 14 for s in range(3)]
    assert np.abs(cell(image, 0, centre[0]) - ANALYSED).max() <= 2
    sure, unsure = cell(image, 0, centre[1]), UNSURE + 0.2 * (ANALYSED - UNSURE)
    assert np.abs(sure - unsure).max() <= 2  # 0.2: mostly pale
    assert np.abs(cell(image, 2, centre[0]) - (UNSURE + 0.5 * (ANALYSED - UNSURE))).max() <= 2
    assert all(np.abs(cell(image, 1, x) - DERIVED_CELL).max() <= 2 for x in centre[:2])
    assert np.abs(cell(image, 1, centre[2]) - NOT_ANALYSED).max() <= 2
