"""OCR on tiny generated frames: rendered strings are read (German letters included), unchanged frames
and unchanged lines are not read again, the score drops on worse text, the languages are configurable."""

import cv2
import numpy as np
import pytest

from analyzers import ocr
from analyzers.frame_models import block_difference, same_picture, thumbnail
from support.counted import Counted
from support.media_factory import caption, caption_lines, latin_font, texture, write_frame_store

GERMAN = ["Größte Übersicht für Bäcker", "Schöne Grüße aus Köln", "Fußgängerzone", "Jörg Weiß, Geschäftsführer"]


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


@pytest.mark.parametrize("reuse_lines, recognized", [(True, 2 + 1 + 1), (False, 2 + 2 + 2)])
def test_in_a_frame_read_again_only_its_changed_lines_are_recognized(tmp_path, monkeypatch, reuse_lines, recognized):
    # a caption that stays while a clock under it ticks: every frame changed, the caption's pixels did not
    frames = [caption_lines(["Gate B12 closed", f"00:0{s}"], 640, 360, 26, font=latin_font("Sans")) for s in (3, 4, 5)]
    store = write_frame_store(tmp_path / "frames.parquet", frames, fps=1.0)
    engine = ocr.ocr_engine()
    counted = Counted(engine.text_rec)
    monkeypatch.setattr(engine, "text_rec", counted)
    events = ocr.analyze_text(store, 3.0, reuse_lines=reuse_lines)
    assert [e.value for e in events] == [["Gate B12 closed", f"00:0{s}"] for s in (3, 4, 5)]
    assert [e.detail["frames_read"] for e in events] == [1, 1, 1] and counted.count == recognized


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


def test_german_letters_are_kept(tmp_path):
    frames = [
        caption_lines(GERMAN[:2], 640, 360, 26, font=latin_font("Sans")),
        caption_lines(GERMAN[2:], 640, 360, 26, texture(3, 640, 360), latin_font("Serif")),
    ]
    store = write_frame_store(tmp_path / "frames.parquet", frames, fps=1.0)
    events = ocr.analyze_text(store, 2.0)
    assert [e.value for e in events] == [GERMAN[:2], GERMAN[2:]]
    assert events[0].source == "rapidocr:PP-OCRv4+tesseract:deu+eng"
    assert all(0.8 <= b["score"] <= 1 for e in events for b in e.detail["boxes"])


@pytest.mark.parametrize("recognizer", ["combined", "tesseract"])
def test_the_score_drops_when_the_text_is_harder_to_read(recognizer):
    clean = caption_lines(GERMAN[:1], 640, 360, 26, font=latin_font("Sans"))
    # the same caption more and more out of focus: misread ("Bacher"), then garbled, and less and less sure
    read = [
        ocr.read_text(
            cv2.GaussianBlur(clean, (0, 0), sigma) if sigma else clean,
            det_max_side=480,
            min_score=0.0,
            recognizer=recognizer,
        )
        for sigma in (0, 3.0, 3.3)  # measured with the detector at 480 px (the line's box depends on it)
    ]
    assert [len(lines) for lines in read] == [1, 1, 1] and read[0][0].text == GERMAN[0] != read[1][0].text
    assert read[0][0].score > read[1][0].score > read[2][0].score + 0.2


def test_the_languages_are_configurable_and_missing_language_data_is_named(monkeypatch):
    monkeypatch.setenv(ocr.LANGUAGES_ENV, "deu+eng+xyz")
    with pytest.raises(ocr.OcrSetupError, match=r"xyz.*tesseract-ocr-xyz"):
        ocr.TesseractReader()
    monkeypatch.setenv(ocr.LANGUAGES_ENV, "German")
    with pytest.raises(ocr.OcrSetupError, match=r"VIDEO_TIMELINE_OCR_LANGUAGES='German'.*deu\+eng"):
        ocr.ocr_languages()
    monkeypatch.setenv(ocr.LANGUAGES_ENV, "eng")
    assert ocr.source_of("combined", ocr.TesseractReader()) == "rapidocr:PP-OCRv4+tesseract:eng"


def test_pp_ocr_recognizer_stays_selectable(tmp_path):
    store = write_frame_store(tmp_path / "frames.parquet", [caption("Exit only")], fps=1.0)
    events = ocr.analyze_text(store, 1.0, recognizer="ppocr")
    assert [[_key(t) for t in e.value] for e in events] == [["exitonly"]] and events[0].source == ocr.PPOCR_SOURCE


SIGNED = ["© 2024 Müller & Söhne GmbH", "Preis: 12,50 € pro Stück", "Winkel 45° nach links", "Kapitel 4.1 Einleitung"]


def test_signs_pp_ocr_cannot_write_are_read_in_two_fonts():
    frames = [
        caption_lines(SIGNED, 640, 360, 22, font=latin_font("Sans")),
        caption_lines(SIGNED, 640, 360, 22, texture(5, 640, 360), latin_font("Serif")),
    ]
    for frame in frames:
        assert [line.text for line in ocr.read_text(frame)] == SIGNED
        # PP-OCR alone writes ©, € and the umlauts as lookalikes (or leaves them out)
        alone = [line.text for line in ocr.read_text(frame, recognizer="ppocr")]
        assert len(alone) == 4 and alone[0] != SIGNED[0] and alone[1] != SIGNED[1]


def test_the_symbol_benchmark_score_drops_on_blurred_frames():
    from bench.text_symbols import symbol_scores

    sharp = symbol_scores(lines=SIGNED[:2], fonts=("Sans",), sizes=(22,), styles=("band",))
    blurred = symbol_scores(
        lines=SIGNED[:2],
        fonts=("Sans",),
        sizes=(22,),
        styles=("band",),
        degrade=lambda i: cv2.GaussianBlur(i, (0, 0), 2.5),
    )
    assert sharp["exact"] == 1.0 and sharp["character_error_rate"] == 0.0
    assert blurred["exact"] < 1.0 and blurred["character_error_rate"] > 0.05  # measured: 0 and 0.14


def test_chinese_only_readings_are_foreign_to_latin_languages():
    # PP-OCR's dictionary is Chinese: texture read as "典" is dropped unless chi/jpn/kor are configured
    assert ocr._east_asian_only("典") and ocr._east_asian_only("한국") and ocr._east_asian_only("カタ")
    assert (
        not ocr._east_asian_only("Köln") and not ocr._east_asian_only("東京 Tokyo") and not ocr._east_asian_only("12")
    )
