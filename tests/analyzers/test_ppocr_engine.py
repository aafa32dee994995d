import numpy as np
import pytest

from analyzers import ocr
from analyzers.ppocr_engine import TableNormalisedInput, normalise_by_table, rapidocr_engine
from support.media_factory import caption_lines, latin_font


@pytest.fixture(scope="module")
def detector():
    return rapidocr_engine().text_det


@pytest.mark.parametrize("height, width", [(448, 800), (450, 800), (37, 61), (360, 641)])
def test_the_table_gives_the_detector_exactly_rapidocrs_input(detector, height, width):
    image = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    preprocess = detector.get_preprocess(max(height, width))
    expected = preprocess(image)
    got = TableNormalisedInput(preprocess)(image)
    assert got.dtype == expected.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
    assert np.array_equal(got, expected)


def test_an_image_the_table_cannot_serve_goes_through_rapidocrs_own_step(detector):
    float_image = np.random.default_rng(1).random((64, 96, 3)).astype(np.float32) * 255
    preprocess = detector.get_preprocess(96)
    assert np.array_equal(TableNormalisedInput(preprocess)(float_image), preprocess(float_image))


def test_the_engine_finds_the_same_lines_with_the_table():
    frame = caption_lines(["Gate B12 closed", "Abfahrt 10:45"], 800, 450, 30, font=latin_font("Sans"))
    plain, tabled = rapidocr_engine(), rapidocr_engine()
    normalise_by_table(tabled)
    expected, _ = plain.text_det(frame)
    found, _ = tabled.text_det(frame)
    assert len(expected) == 2 and np.array_equal(found, expected)
    assert isinstance(ocr.ocr_engine().text_det.get_preprocess(800), TableNormalisedInput)
