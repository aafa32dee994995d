"""PP-OCR as rapidocr builds it, and two changes that make the same engine cheaper per frame.

- `reopen_sessions`: the detector's and recognizer's ONNX sessions reopened with onnxruntime's CPU memory
  arena, which rapidocr turns off, and with their threads waiting for work without spinning.
- `normalise_by_table`: the detector's input normalised through one 256-entry table per channel, holding the
  values rapidocr's own float64 arithmetic gives each grey level, so the network sees the same float32 input.

Both leave every answer as it was; `analyzers.ocr.ocr_engine` applies them once per process.
"""

from __future__ import annotations

import cv2
import numpy as np


def rapidocr_engine():
    """PP-OCR as rapidocr builds it. Text is assumed upright: no angle classifier; `ocr.read_text` scales frames
    for the detector itself, so the engine's own rescaling is turned off."""
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(use_cls=False, det_limit_side_len=32, det_limit_type="min")


def reopen_sessions(engine, spinning: bool = False) -> None:
    """Reopens the detector's and recognizer's ONNX sessions with onnxruntime's CPU memory arena: without it
    every call allocates its buffers anew; with it a detector call on an 800x450 frame took 49 instead of 65 ms
    on 2 cores. Without `spinning`, their threads sleep between calls instead of spinning: between two network
    calls the analyzer's own work (Tesseract, cropping, the next frame) needs those cores (bench/ocr_speed.py).
    Costs one more load of each."""
    import onnxruntime as ort
    from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
    from rapidocr_onnxruntime.utils import read_yaml, update_model_path

    config = update_model_path(read_yaml(DEFAULT_CFG_PATH))
    options = ort.SessionOptions()
    options.log_severity_level = 4  # as rapidocr: its models warn about unused initializers
    options.enable_cpu_mem_arena = True
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    for part, infer in (("Det", engine.text_det.infer), ("Rec", engine.text_rec.session)):
        infer.session = ort.InferenceSession(config[part]["model_path"], options, providers=["CPUExecutionProvider"])


class TableNormalisedInput:
    """rapidocr's detector input step (resize to a multiple of 32, normalise, channels first) with the
    normalisation looked up per channel: rapidocr computes it in float64 numpy arithmetic over the whole frame,
    5-9 ms an 800x448 frame on one core while the detector's threads wait; the lookup takes about 1 ms and gives
    the identical array. Anything but an 8-bit 3-channel image goes through rapidocr's own step."""

    def __init__(self, preprocess):
        self._preprocess = preprocess  # rapidocr's DetPreProcess for this frame size
        levels = np.repeat(np.arange(256, dtype=np.uint8).reshape(1, 256, 1), 3, axis=2)
        table = preprocess.normalize(levels).astype(np.float32)  # rapidocr's arithmetic, once per level
        self._tables = [np.ascontiguousarray(table[..., c]) for c in range(3)]

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            return self._preprocess(image)
        resized = self._preprocess.resize(image)
        if resized is None:
            return None
        planes = [cv2.LUT(plane, table) for plane, table in zip(cv2.split(resized), self._tables)]
        return np.stack(planes)[np.newaxis]


def normalise_by_table(engine) -> None:
    """The engine's detector builds its input with `TableNormalisedInput`."""
    detector = engine.text_det
    preprocess_for = detector.get_preprocess  # rapidocr picks the step by the frame's longest side
    detector.get_preprocess = lambda longest_side: TableNormalisedInput(preprocess_for(longest_side))
