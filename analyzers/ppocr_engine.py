"""PP-OCR as rapidocr builds it, and the changes that make the same engine cheaper per frame.

- `run_on_openvino`: the detector and recognizer run by OpenVINO's CPU plugin at float32 precision (the default
  runtime where the `openvino` package is installed, `ocr_runtime`): the same networks, their outputs within
  float rounding of onnxruntime's, at less than half the CPU per call on the Intel Xeon measured (BENCHMARKS.md).
- `reopen_sessions`: with onnxruntime, the detector's and recognizer's sessions reopened with its CPU memory
  arena, which rapidocr turns off, and with their threads waiting for work without spinning.
- `normalise_by_table`: the detector's input normalised through one 256-entry table per channel, holding the
  values rapidocr's own float64 arithmetic gives each grey level, so the network sees the same float32 input.

`analyzers.ocr.ocr_engine` applies them once per process.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

RUNTIME_ENV = "VIDEO_TIMELINE_OCR_RUNTIME"
RUNTIMES = ("openvino", "onnxruntime")
log = logging.getLogger(__name__)


class OcrSetupError(RuntimeError):
    """OCR cannot run as configured (language data, recognizer or runtime missing); the message says what to
    install."""


def ocr_runtime() -> str:
    """What runs PP-OCR's networks: $VIDEO_TIMELINE_OCR_RUNTIME (openvino or onnxruntime), else openvino where
    it is installed, else onnxruntime."""
    asked = os.environ.get(RUNTIME_ENV, "").strip().lower()
    installed = importlib.util.find_spec("openvino") is not None
    if not asked:
        return "openvino" if installed else "onnxruntime"
    if asked not in RUNTIMES:
        raise OcrSetupError(f"${RUNTIME_ENV}={asked!r}: expected one of {', '.join(RUNTIMES)}")
    if asked == "openvino" and not installed:
        raise OcrSetupError(f"${RUNTIME_ENV}=openvino but the openvino package is not installed (pip install openvino)")
    return asked


def rapidocr_engine():
    """PP-OCR as rapidocr builds it. Text is assumed upright: no angle classifier; `ocr.read_text` scales frames
    for the detector itself, so the engine's own rescaling is turned off."""
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(use_cls=False, det_limit_side_len=32, det_limit_type="min")


def model_path(part: str) -> str:
    """The ONNX file of rapidocr's "Det" or "Rec" network, as its configuration names it."""
    from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
    from rapidocr_onnxruntime.utils import read_yaml, update_model_path

    return update_model_path(read_yaml(DEFAULT_CFG_PATH))[part]["model_path"]


def reopen_sessions(engine, spinning: bool = False) -> None:
    """Reopens the detector's and recognizer's ONNX sessions with onnxruntime's CPU memory arena: without it
    every call allocates its buffers anew; with it a detector call on an 800x450 frame took 49 instead of 65 ms
    on 2 cores. Without `spinning`, their threads sleep between calls instead of spinning: between two network
    calls the analyzer's own work (Tesseract, cropping, the next frame) needs those cores (bench/ocr_speed.py).
    Costs one more load of each."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # as rapidocr: its models warn about unused initializers
    options.enable_cpu_mem_arena = True
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    for part, infer in (("Det", engine.text_det.infer), ("Rec", engine.text_rec.session)):
        infer.session = ort.InferenceSession(model_path(part), options, providers=["CPUExecutionProvider"])


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


SHAPES_KEPT = 2  # input shapes a per-shape OpenVinoModel keeps compiled (a video's frames share one)


class _Compiled:
    """A compiled model and its infer requests, one per calling thread (a request serves one call at a time)."""

    def __init__(self, compiled):
        self.compiled = compiled
        self.outputs = list(compiled.outputs)
        self._per_thread = threading.local()

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        request = getattr(self._per_thread, "request", None)
        if request is None:
            request = self._per_thread.request = self.compiled.create_infer_request()
        result = request.infer({0: batch})  # copies out of the request's buffers, which the next call reuses
        return [result[output] for output in self.outputs]


class OpenVinoModel:
    """One ONNX model compiled by OpenVINO's CPU plugin at float32 precision (its default on CPUs with bfloat16
    units is bfloat16, which moved the detector's map by up to 0.95 and changed what it found on a real clip:
    bench/reduced_precision.py, which alone asks for `precision="bf16"`), called as rapidocr calls its sessions:
    `model(batch)` gives the list of outputs. Each thread calling it gets its own infer request. Compiled once
    per model, shape and OpenVINO release into `cache_dir`, so the next process loads the compiled model
    (PP-OCR's detector: 0.03 instead of 0.15 s for any shape, 0.07-0.09 instead of 0.18 s for one); a cache that
    cannot be used costs that compile only.

    `per_shape`: compiled for each input shape it is called with (the last SHAPES_KEPT kept) instead of once
    for any shape. The CPU plugin runs a model compiled for one shape faster: PP-OCR's detector on a video's
    frames, which all have one size, 10-20 % (bench/sections/text_reuse.md)."""

    def __init__(
        self, onnx_file: str | Path, cache_dir: Path | None = None, precision: str = "f32", per_shape: bool = False
    ):
        try:
            import openvino as ov
        except ImportError as e:  # installed, but its libraries do not load here
            raise OcrSetupError(
                f"OpenVINO cannot be loaded ({e}); set {RUNTIME_ENV}=onnxruntime to read text with onnxruntime"
            ) from e
        self._ov, self._onnx, self._cache_dir = ov, str(onnx_file), cache_dir
        # Threads not pinned to cores: the process's other threads (Tesseract, the next frame) share them.
        self._config = {
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_CPU_PINNING": False,
        }
        self._core = ov.Core()
        if cache_dir is not None:
            try:
                cache_dir.mkdir(parents=True, exist_ok=True)
                self._core.set_property({"CACHE_DIR": str(cache_dir)})
            except (OSError, RuntimeError) as e:
                self._without_cache(e)
        self._lock = threading.Lock()
        self._by_shape: OrderedDict[tuple[int, ...], _Compiled] = OrderedDict()
        # Per shape: the network read here (on the warm-up thread, 0.07 s), so a new shape costs its reshape and
        # compile only (0.09 s from the cache).
        self._network = self._core.read_model(self._onnx) if per_shape else None
        self._any_shape = None if per_shape else self._compile(self._onnx)

    def _compile(self, model) -> _Compiled:
        try:
            return _Compiled(self._core.compile_model(model, "CPU", self._config))
        except (OSError, RuntimeError) as e:
            if self._cache_dir is None:
                raise
            self._without_cache(e)
            return _Compiled(self._core.compile_model(model, "CPU", self._config))

    def _without_cache(self, error: Exception) -> None:
        log.warning("%s: OpenVINO's cache in %s not used (%s); compiled without it", self._onnx, self._cache_dir, error)
        self._core, self._cache_dir = self._ov.Core(), None

    def _for_shape(self, shape: tuple[int, ...]) -> _Compiled:
        with self._lock:
            compiled = self._by_shape.get(shape)
            if compiled is None:
                model = self._network.clone()
                model.reshape({model.inputs[0]: list(shape)})
                compiled = self._by_shape[shape] = self._compile(model)
                while len(self._by_shape) > SHAPES_KEPT:
                    self._by_shape.popitem(last=False)
            self._by_shape.move_to_end(shape)
            return compiled

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        return (self._any_shape or self._for_shape(batch.shape)).infer(batch)


def run_on_openvino(engine, cache_dir: Path | None = None) -> None:
    """The engine's detector and recognizer run by OpenVINO (`OpenVinoModel`) instead of onnxruntime."""
    openvino_cache = cache_dir / "openvino" if cache_dir is not None else None
    engine.text_det.infer = OpenVinoModel(model_path("Det"), openvino_cache, per_shape=True)
    engine.text_rec.session = OpenVinoModel(model_path("Rec"), openvino_cache)


def normalise_by_table(engine) -> None:
    """The engine's detector builds its input with `TableNormalisedInput`."""
    detector = engine.text_det
    preprocess_for = detector.get_preprocess  # rapidocr picks the step by the frame's longest side
    detector.get_preprocess = lambda longest_side: TableNormalisedInput(preprocess_for(longest_side))
