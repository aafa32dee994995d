"""On-screen text per second: PP-OCR finds and reads the lines, Tesseract gives back what PP-OCR cannot write.

- Detection: the PP-OCRv4 text detector that ships inside the `rapidocr_onnxruntime` wheel (ONNX, CPU, run
  by OpenVINO where installed, else onnxruntime: analyzers.ppocr_engine), on the frame scaled down to
  DET_MAX_SIDE (the detector's cost grows with pixels; text about 12 px high at the detector is found in
  some frames only, 7 px not at all: angle marks in an 800x600 frame).
- Recognition: PP-OCRv4's recognizer (same wheel) reads each detected line from the full-size frame;
  it reads robustly but writes most accented letters bare and ß as B ("GroBte Ubersicht fur
  Bäcker"). Tesseract's LSTM line recognizer (the `tesserocr` wheel, libtesseract inside), with the
  language data of Debian's tesseract-ocr-<lang> packages (default German + English,
  `VIDEO_TIMELINE_OCR_LANGUAGES`), reads the same line; the two readings are aligned character by
  character and Tesseract's is taken only where PP-OCR cannot write the character (ä ö ß © € ...,
  outside its dictionary), writes a symbol as its lookalike (° as 0), lost a space between confidently
  read words or collapsed a doubled letter (analyzers.letters). Tesseract alone writes the letters
  right but reads band edges and texture as characters; the measured comparison is in docs/perception.md.
- A frame showing the same picture as the last frame read (analyzers.frame_models) reuses its
  result instead of being read again: slides, titles and static shots cost one read. In a frame read
  again, lines whose pixels did not change keep their box and reading (analyzers.text_reuse).
- Readings of one string that differ by a letter or two ("Casteliano", "Castellano") are merged into
  the reading seen most, within a second and across the neighbouring seconds the string stays on
  screen (analyzers.text_merge).
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from analyzers.frame_models import answers_for_changed_frames, frames_by_second, scaled_down
from analyzers.letters import SIGNS, agreement, fuse_readings, plain_forms
from analyzers.model_cache import model_cache_dir
from analyzers.ppocr_engine import (
    OcrSetupError,
    normalise_by_table,
    ocr_runtime,
    rapidocr_engine,
    reopen_sessions,
    run_on_openvino,
)
from analyzers.progress import Progress, Say
from analyzers.records import Event, per_second_spans
from analyzers.text_merge import merge_near_duplicates
from analyzers.text_reuse import LastRead, SeenLine, line_key
from analyzers.warm_up import loaded_once

VERSION = "4"  # 4: a line whose pixels did not change keeps its box and reading (text_reuse); 3: signs from Tesseract
DET_SOURCE = "rapidocr:PP-OCRv4-det"
PPOCR_SOURCE = "rapidocr:PP-OCRv4"
RECOGNIZERS = ("combined", "ppocr", "tesseract")
# Measured on the labelled set (docs/perception.md): 480 misses text under ~12 px ("30°" on a diagram),
# 800 finds it at 1.4x the CPU per frame read; 960 finds nothing more.
DET_MAX_SIDE = 800
MIN_SCORE = 0.8  # PP-OCR recognizer confidence below this is mostly texture read as letters
MIN_TESSERACT_SCORE = 0.6  # the Tesseract-alone recognizer: mean word confidence (0..1) kept (not tuned)
LANGUAGES_ENV = "VIDEO_TIMELINE_OCR_LANGUAGES"
TESSDATA_ENV = "TESSDATA_PREFIX"
DEFAULT_LANGUAGES = "deu+eng"
REMEMBERED_LINES = 512  # Tesseract readings kept per PP-OCR reading (combined recognizer)
REMEMBER_AGREEMENT = 0.9  # only a Tesseract reading that agrees with PP-OCR's this well is reused
LINE_HEIGHT = 40  # a line is scaled to this height (pixels) for Tesseract (only 40 was measured)
_TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
)


Words = list[tuple[str, float]]  # a line read word by word: (word, confidence 0..1)


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels


@loaded_once
def ocr_engine():
    """The bundled PP-OCR engine (`ppocr_engine.rapidocr_engine`), its networks run by `ocr_runtime()`: OpenVINO,
    or onnxruntime with its memory arena and without spinning threads; its detector input normalised by table.
    The same answers, cheaper. Loaded once per process."""
    engine = rapidocr_engine()
    if ocr_runtime() == "openvino":
        run_on_openvino(engine, model_cache_dir())
    else:
        reopen_sessions(engine)
    normalise_by_table(engine)
    return engine


def ocr_languages() -> str:
    """Tesseract languages to read, '+'-joined ISO 639-2 codes: $VIDEO_TIMELINE_OCR_LANGUAGES or deu+eng."""
    raw = os.environ.get(LANGUAGES_ENV, "").strip() or DEFAULT_LANGUAGES
    codes = [c for c in re.split(r"[+,\s]+", raw) if c]
    bad = [c for c in codes if not re.fullmatch(r"[a-z]{3}(_[a-z]+)?", c)]
    if bad or not codes:
        raise OcrSetupError(
            f"${LANGUAGES_ENV}={raw!r}: expected Tesseract language codes joined by '+', e.g. deu+eng+fra"
        )
    return "+".join(codes)


def tessdata_dir(languages: str) -> Path:
    """The folder holding <lang>.traineddata for every language ($TESSDATA_PREFIX, else Debian's folders)."""
    candidates = [os.environ[TESSDATA_ENV]] if os.environ.get(TESSDATA_ENV) else list(_TESSDATA_DIRS)
    codes = languages.split("+")
    for folder in map(Path, candidates):
        if all((folder / f"{code}.traineddata").is_file() for code in codes):
            return folder
    where = " or ".join(candidates)
    packages = " ".join(f"tesseract-ocr-{c.replace('_', '-')}" for c in codes)
    raise OcrSetupError(
        f"Tesseract language data for {languages} not found in {where}: install it (apt-get install {packages}; "
        f"scripts/setup.sh does for the default), or set ${TESSDATA_ENV} to a folder with those .traineddata files"
    )


class TesseractReader:
    """Tesseract's LSTM recognizer on single text lines, one libtesseract instance per thread (not thread-safe).
    `prepare()` starts an instance ahead of use (0.1 s), which the first thread to read then takes as its own."""

    def __init__(self, languages: str | None = None):
        self.languages = languages or ocr_languages()
        self.folder = tessdata_dir(self.languages)
        try:
            import tesserocr  # noqa: F401
        except ImportError as exc:
            raise OcrSetupError("the tesserocr package is not installed (pip install tesserocr)") from exc
        self._local = threading.local()
        self._spare: list = []  # instances prepared ahead, not yet any thread's (guarded by _spare_lock)
        self._spare_lock = threading.Lock()
        self._reading = False  # a thread has asked for its instance: a spare made now would go unused
        self._lettered: OrderedDict[str, Words] = OrderedDict()  # recent readings of the combined recognizer

    def remembered(self, reading: str) -> Words | None:
        """Tesseract's earlier reading of a line PP-OCR read as `reading` (see `remember`)."""
        return self._lettered.get(reading)

    def remember(self, reading: str, lettered: Words) -> None:
        """Keeps Tesseract's reading of a line for PP-OCR's `reading` of it: a caption stays on screen
        for many frames and comes back, and is then read by Tesseract once."""
        self._lettered[reading] = lettered
        while len(self._lettered) > REMEMBERED_LINES:
            self._lettered.popitem(last=False)

    def prepare(self) -> None:
        """Starts one Tesseract instance now (e.g. on the warm-up thread) for the first thread that reads;
        nothing when a thread has read already (it has its own)."""
        if self._reading:
            return
        api = self._new_api()
        with self._spare_lock:
            self._spare.append(api)

    def _new_api(self):
        import tesserocr

        return tesserocr.PyTessBaseAPI(
            path=str(self.folder), lang=self.languages, psm=tesserocr.PSM.SINGLE_LINE, oem=tesserocr.OEM.LSTM_ONLY
        )

    def _api(self):
        api = getattr(self._local, "api", None)
        if api is None:
            self._reading = True
            with self._spare_lock:
                api = self._spare.pop() if self._spare else None
            api = self._local.api = api or self._new_api()
        return api

    def read(self, crop: np.ndarray) -> tuple[str, float]:
        """(text, score 0..1) of one RGB line crop; score is the mean confidence of the words kept."""
        words = self.read_words(crop)
        if not words:
            return "", 0.0
        return " ".join(t for t, _ in words), float(np.mean([c for _, c in words]))

    def read_words(self, crop: np.ndarray) -> Words:
        """The words of one RGB line crop with their confidence 0..1, band edges dropped."""
        import tesserocr
        from PIL import Image

        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        f = LINE_HEIGHT / max(1, grey.shape[0])
        grey = cv2.resize(grey, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA)
        grey = cv2.copyMakeBorder(grey, 8, 8, 8, 8, cv2.BORDER_REPLICATE)
        api = self._api()
        api.SetImage(Image.fromarray(grey))
        api.Recognize()
        level, words = tesserocr.RIL.WORD, []
        for word in tesserocr.iterate_level(api.GetIterator(), level):
            try:
                words.append((word.GetUTF8Text(level).strip(), word.Confidence(level) / 100.0))
            except RuntimeError:  # tesserocr raises for an empty word
                continue
        return _without_edge_marks([(t, c) for t, c in words if t])


def _without_edge_marks(words: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Drops a one-character word at either end that is a mark, or a letter below 0.8: the edge of a
    caption band or of texture read as a character (seen on generated captions: "|" at 0.45-0.96, "!"
    at 0.0, "J" at 0.23, "B" at 0.69). A sign (© § € ...) read at 0.8 or more stays ("© 2024")."""

    def mark(word: tuple[str, float]) -> bool:
        text, confidence = word
        if text in SIGNS:
            return confidence < 0.8
        return len(text) == 1 and (not text.isalnum() or confidence < 0.8)

    while words and mark(words[0]):
        words = words[1:]
    while words and mark(words[-1]):
        words = words[:-1]
    return words


@lru_cache(maxsize=4)
def tesseract_reader(languages: str) -> TesseractReader:
    return TesseractReader(languages)


def writable_characters(engine) -> frozenset[str] | None:
    """The characters PP-OCR's recognizer can write (its dictionary), None when the engine does not say."""
    try:
        return _characters(tuple(engine.text_rec.postprocess_op.character))
    except (AttributeError, TypeError):
        return None


@lru_cache(maxsize=4)
def _characters(dictionary: tuple[str, ...]) -> frozenset[str]:
    return frozenset(c for c in dictionary if len(c) == 1)


def default_reader() -> TesseractReader:
    """The Tesseract reader of the configured languages (one per process and language set)."""
    return tesseract_reader(ocr_languages())


_DIGIT_TOKEN = re.compile(r"^[0-9Oo.,:%/+-]*[0-9][0-9Oo.,:%/+-]*$")


def clean_text(text: str) -> str:
    """Collapses whitespace; in a token made of digits, a letter O is the digit 0 ("CLIP O1" -> "CLIP 01")."""
    tokens = text.split()
    return " ".join(t.replace("O", "0").replace("o", "0") if _DIGIT_TOKEN.match(t) else t for t in tokens)


def _detected_quads(
    engine, image: np.ndarray, small: np.ndarray, scale: float, last: LastRead | None
) -> list[np.ndarray]:
    """The lines in `small` (the detector's image, its pixels), top to bottom; with `last`, the last frame's
    lines that are still shown settled in (analyzers.text_reuse)."""
    found, _ = engine.text_det(small)
    quads = [] if found is None else list(found)
    if last is not None:

        def grey_at(quad: np.ndarray) -> np.ndarray:
            in_frame = (quad / scale).astype(np.float32)
            return line_key(in_frame, engine.get_crop_img_list(image, [in_frame])[0])[1]

        quads = last.settle(quads, grey_at)
    return engine.sorted_boxes(np.array(quads)) if quads else []


def _ppocr_readings(engine, crops: list[np.ndarray], keys: list, last: LastRead | None) -> list[tuple[str, float]]:
    """PP-OCR's (text, score) of each crop; with `last` (and each crop's `line_key`), only crops showing a new
    line are read."""
    readings = [last.recall(box, grey) for box, grey in keys] if last is not None else [None] * len(crops)
    todo = [i for i, reading in enumerate(readings) if reading is None]
    if todo:
        for i, (text, score) in zip(todo, engine.text_rec([crops[i] for i in todo])[0]):
            readings[i] = (text, score)
    return readings


def read_text(
    image: np.ndarray,
    engine=None,
    det_max_side: int = DET_MAX_SIDE,
    min_score: float | None = None,
    recognizer: str = "combined",
    reader: TesseractReader | None = None,
    last: LastRead | None = None,
) -> list[TextLine]:
    """Text lines of one RGB frame, top to bottom. The detector sees the frame scaled down to at most
    det_max_side on its longest side (smaller frames as they are); each line is read from the full-size
    frame. recognizer "combined" (default): PP-OCRv4's reading fused with Tesseract's (analyzers.letters),
    score PP-OCR's times the two readings' agreement (lines are kept on PP-OCR's
    score alone); "ppocr": PP-OCRv4 alone; "tesseract": Tesseract alone, its score. `last` (one per video,
    frames in order, PP-OCR recognizers): what the frame can take over from the last frame read
    (analyzers.text_reuse), updated to this frame.
    rapidocr_onnxruntime is pinned to the release whose detector/recognizer API this uses."""
    if recognizer not in RECOGNIZERS:
        raise ValueError(f"OCR recognizer {recognizer!r} is not one of {', '.join(RECOGNIZERS)}")
    engine = engine or ocr_engine()
    if recognizer != "ppocr":
        reader = reader or default_reader()
    if last is not None and recognizer == "tesseract":
        raise ValueError("`last` holds PP-OCR's readings: it serves the ppocr and combined recognizers")
    small, scale = scaled_down(image, det_max_side)
    detected = _detected_quads(engine, image, small, scale, last)
    quads = [(q / scale).astype(np.float32) for q in detected]
    crops = engine.get_crop_img_list(image, quads) if quads else []
    if recognizer == "tesseract":
        recognized = [reader.read(crop) for crop in crops]
        min_score = MIN_TESSERACT_SCORE if min_score is None else min_score
    else:
        keys = [line_key(quad, crop) for quad, crop in zip(quads, crops)] if last is not None else []
        recognized = _ppocr_readings(engine, crops, keys, last)
        min_score = MIN_SCORE if min_score is None else min_score
        if last is not None:  # lines read, not boxes around texture or too doubtful to keep
            read = zip(detected, keys, recognized)
            last.replace([SeenLine(d, *key, r) for d, key, r in read if r[1] >= min_score and r[0].strip()])
    writable = writable_characters(engine)
    foreign_dropped = recognizer == "combined" and not any(
        code.startswith(_EAST_ASIAN_LANGUAGES) for code in reader.languages.split("+")
    )
    lines = []
    for quad, crop, (text, score) in zip(quads, crops, recognized):
        if score < min_score or not text.strip():
            continue
        if recognizer != "tesseract":
            text = plain_forms(text)
        if foreign_dropped and _east_asian_only(text):
            continue  # texture read as a Chinese character ("典"): none of the configured languages writes it
        if recognizer == "combined":
            known = reader.remembered(text)
            words = known if known is not None else reader.read_words(crop)
            lettered = " ".join(w for w, _ in words)
            reading, text = text, fuse_readings(text, lettered, writable, [c for _, c in words])
            agreed = agreement(text, lettered)
            if known is None and agreed >= REMEMBER_AGREEMENT:  # a reading of junk is not reused
                reader.remember(reading, words)
            score *= agreed  # two recognizers that disagree: a doubtful reading
        text = clean_text(text)
        if text:
            x0, y0 = np.floor(quad.min(axis=0)).astype(int)
            x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
            lines.append(TextLine(text, round(float(score), 4), (int(x0), int(y0), int(x1 - x0), int(y1 - y0))))
    return lines


_EAST_ASIAN_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL")
_EAST_ASIAN_LANGUAGES = ("chi", "jpn", "kor")


def _east_asian_only(text: str) -> bool:
    """Whether every letter of `text` is Chinese, Japanese or Korean (PP-OCR's dictionary is Chinese)."""
    letters = [c for c in text if c.isalnum()]
    return bool(letters) and all(unicodedata.name(c, "").startswith(_EAST_ASIAN_SCRIPTS) for c in letters)


def source_of(recognizer: str = "combined", reader: TesseractReader | None = None) -> str:
    if recognizer == "ppocr":
        return PPOCR_SOURCE
    languages = (reader or default_reader()).languages
    return (
        f"{DET_SOURCE}+tesseract:{languages}" if recognizer == "tesseract" else f"{PPOCR_SOURCE}+tesseract:{languages}"
    )


@dataclass(frozen=True)
class FrameText:
    t: float
    lines: list[TextLine]
    reused: bool  # the answer of an earlier frame showing the same picture


def read_frames(
    frames_path: Path,
    engine=None,
    progress: Progress | None = None,
    recognizer: str = "combined",
    reader: TesseractReader | None = None,
    det_max_side: int | None = None,
    reuse_lines: bool = True,
) -> Iterable[FrameText]:
    """Text of every sampled frame, reading only frames whose picture changed since the last read, and in
    them (with reuse_lines, PP-OCR recognizers) only what changed (analyzers.text_reuse)."""
    side = det_max_side or DET_MAX_SIDE
    last = LastRead() if reuse_lines and recognizer != "tesseract" else None
    for frame, lines, reused in answers_for_changed_frames(
        frames_path,
        lambda images: [
            read_text(image, engine, side, recognizer=recognizer, reader=reader, last=last) for image in images
        ],
        1,
        progress,
    ):
        yield FrameText(frame.t, lines, reused=reused)


def analyze_text(
    frames_path: Path,
    duration_s: float,
    engine=None,
    progress: Say | None = None,
    recognizer: str = "combined",
    reader: TesseractReader | None = None,
    det_max_side: int | None = None,
    reuse_lines: bool = True,
) -> list[Event]:
    """Per second a `text` event: the distinct strings on screen in any of its frames, near-duplicate
    readings merged (within the second and across neighbouring seconds); boxes and scores in detail."""
    if recognizer != "ppocr":
        reader = reader or default_reader()
    frames = list(
        read_frames(
            frames_path,
            engine,
            Progress(progress, "reading text", duration_s),
            recognizer,
            reader,
            det_max_side,
            reuse_lines,
        )
    )
    grouped = frames_by_second(frames, duration_s)
    spans = per_second_spans(duration_s)
    merged = merge_near_duplicates([[line for f in grouped[s] for line in f.lines] for s, _, _ in spans])
    source = source_of(recognizer, reader)
    events = []
    for (s, start, end), lines in zip(spans, merged):
        group = grouped[s]
        if not group:
            continue
        detail = {
            "boxes": [{"text": m.text, "read": m.read, "box": list(m.box), "score": m.score} for m in lines],
            "frames": len(group),
            "frames_read": sum(not f.reused for f in group),
        }
        confidence = round(min(m.score for m in lines), 4) if lines else None
        events.append(Event(start, end, "text", [m.text for m in lines], confidence, source, detail))
    return events
