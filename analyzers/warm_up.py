"""Loading the models of a run's steps on a second thread while its first steps decode the video.

Dagster's in-process executor runs one step at a time, so while the probe and decode steps work, the
second core idles; the audio, on-screen text, face, sound, object and person steps then start by loading
their models (Silero VAD's session, PP-OCR's two ONNX sessions and its import, Tesseract's start,
RetinaFace's session, YAMNet's session, NanoDet's session, dlib's landmark predictor and ResNet graph).
`start()` loads them on a daemon thread instead, so on a short clip much of that is gone from the run. The
models are the process's own (`audio.vad_session`, `ocr.ocr_engine`, `faces.retinaface_session`,
`sound_events.load_yamnet`, `object_detector.load_detector`, `face_descriptors.landmark_predictor`,
`dlib_resnet.session`, each created once under its lock, see `loaded_once`), so a step that needs one
before the thread has made it waits for that load, never loads it twice. Tesseract, one instance per
thread, is started here and taken over by the first thread that reads (`TesseractReader.prepare`). A
failure here is left to the step, which meets it again and reports it with its own clear error.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import TypeVar

Model = TypeVar("Model")


def loaded_once(load: Callable[..., Model]) -> Callable[..., Model]:
    """`load` run once per process and arguments (a detector's name, a model file) however many threads ask
    at the same time (this thread and a step): the others wait for that load and get the same model; a load
    that fails is tried again by the next caller. `cache_clear()` forgets the models; `cache_info().currsize`
    counts those loaded."""
    cached = functools.lru_cache(maxsize=None)(load)
    signature = inspect.signature(load)
    lock = threading.Lock()

    @functools.wraps(load)
    def get(*args, **kwargs) -> Model:
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()  # load_detector() and load_detector("nanodet") are one load
        with lock:
            return cached(*call.args)

    get.cache_clear, get.cache_info = cached.cache_clear, cached.cache_info
    return get


def _load(ocr: bool, faces: bool, objects: str | None, persons: bool, sound: bool) -> None:
    try:
        if sound:  # Silero VAD first: the audio step comes right after the decode steps
            from analyzers import audio, sound_events

            audio.vad_session()
        if faces:
            from analyzers import faces as faces_analyzer

            faces_analyzer.retinaface_session()
        if ocr:
            from analyzers import ocr as ocr_analyzer

            ocr_analyzer.ocr_engine()
            ocr_analyzer.default_reader().prepare()  # Tesseract's start, taken over by the step's thread
        if sound and sound_events.installed():
            sound_events.load_yamnet()
        if objects:
            from analyzers import object_detector

            object_detector.load_detector(objects)
        if persons:  # also for a video that turns out to have no face: 0.15 s of the second core
            from analyzers import dlib_resnet, face_descriptors

            face_descriptors.landmark_predictor()  # 0.05 s, on the persons step's thread otherwise
            dlib_resnet.session(face_descriptors.resnet_file())
    except Exception:  # the step that needs the model meets the error again and reports it
        pass


def start(
    ocr: bool = True, faces: bool = True, objects: str | None = None, persons: bool = False, sound: bool = False
) -> threading.Thread:
    """Starts loading the chosen models on a daemon thread (`objects`: the tracked detector's name; `persons`:
    dlib's landmarks and ResNet, the default embedder; `sound`: the voice detector and YAMNet); returns the
    thread."""
    thread = threading.Thread(
        target=_load, args=(ocr, faces, objects, persons, sound), name="warm-up models", daemon=True
    )
    thread.start()
    return thread
