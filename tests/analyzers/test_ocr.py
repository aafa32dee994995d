"""OCR on tiny generated frames: rendered strings are read, unchanged frames are not read again."""

import numpy as np

from analyzers import ocr
from analyzers.frame_models import block_difference, same_picture, thumbnail
from support.media_factory import caption, texture, write_frame_store


def _key(text: str) -> str:
    # PP-OCRv4 sometimes drops the narrow spaces of Pillow's font; the letters are what is read.
    return text.casefold().replace(" ", "")


def test_rendered_strings_are_read_per_second_with_boxes(tmp_path):
    frames = [texture(1, 320, 180)] * 2 + [caption("Gate B12 closed")] * 2 + [caption("Exit only")] * 2
    store = write_frame_store(tmp_path / "frames.parquet", frames)
    events = ocr.analyze_text(store, 3.0)
    assert [e.start_s for e in events] == [0.0, 1.0, 2.0] and {e.aspect for e in events} == {"text"}
    assert [[_key(t) for t in e.value] for e in events] == [[], ["gateb12closed"], ["exitonly"]]
    box = events[1].detail["boxes"][0]
    x, y, w, h = box["box"]
    assert 20 < x < 160 and 50 < y < 110 and 100 < w < 300 and 15 < h < 50  # the caption's band
    assert box["score"] >= ocr.MIN_SCORE and events[1].confidence == box["score"]


def test_a_frame_showing_the_same_picture_reuses_the_last_reading(tmp_path):
    card = caption("Exit only")
    noisy = np.clip(card.astype(int) + np.random.default_rng(0).integers(-2, 3, card.shape), 0, 255).astype(np.uint8)
    store = write_frame_store(tmp_path / "frames.parquet", [card, noisy, card, caption("Exit 7")])
    read = list(ocr.read_frames(store))
    assert [f.reused for f in read] == [False, True, True, False]
    assert [_key(line.text) for line in read[1].lines] == ["exitonly"]
    assert [_key(line.text) for line in read[3].lines] == ["exit7"]


def test_a_small_change_like_a_ticking_clock_counts_as_a_new_picture():
    before, after = caption("00:03", 1280, 720, size=36), caption("00:04", 1280, 720, size=36)
    assert not same_picture(thumbnail(before), thumbnail(after))
    assert block_difference(thumbnail(before), thumbnail(before.copy())) == 0.0


def test_letter_o_among_digits_is_read_as_zero():
    assert ocr.clean_text("CLIP  O1") == "CLIP 01"
    assert ocr.clean_text("CO2 Oslo 1O:3O") == "CO2 Oslo 10:30"


def test_a_second_without_its_own_frame_keeps_the_picture_before_it(tmp_path):
    store = write_frame_store(tmp_path / "frames.parquet", [caption("Exit only")], fps=1.0)
    events = ocr.analyze_text(store, 2.5)
    assert [[_key(t) for t in e.value] for e in events] == [["exitonly"]] * 3
