"""Loading the frame models on a second thread while a run's first steps decode the video.

Dagster's in-process executor runs one step at a time, so while the probe, decode and audio steps work,
the second core idles; the on-screen text, face, object and person steps then start by loading their
models (PP-OCR's two ONNX sessions and its import, Tesseract's start, RetinaFace's session, NanoDet's
session and the tracker library, dlib's ResNet graph: about 1.5 s on 2 cores). `start()` loads them on a
daemon thread instead, so on a short clip much of that is gone from the run. The models are the process's
own (`ocr.ocr_engine`, `faces.retinaface_session`, `object_detector.load_detector`, `dlib_resnet.session`,
each created once under its lock; the tracker library under Python's import lock), so a step that needs one
before the thread has made it waits for that load, never loads it twice. Tesseract, one instance per
thread, is started here and taken over by the first thread that reads (`TesseractReader.prepare`). A
failure here is left to the step, which meets it again and reports it with its own clear error.
"""

from __future__ import annotations

import threading


def _load(ocr: bool, faces: bool, objects: str | None, persons: bool) -> None:
    try:
        if faces:
            from analyzers import faces as faces_analyzer

            faces_analyzer.retinaface_session()
        if ocr:
            from analyzers import ocr as ocr_analyzer

            ocr_analyzer.ocr_engine()
            ocr_analyzer.default_reader().prepare()  # Tesseract's start, taken over by the step's thread
        if objects:
            import trackers  # noqa: F401  (its import, 0.7 s, is most of a short clip's objects step)

            from analyzers import object_detector

            object_detector.load_detector(objects)
        if persons:  # also for a video that turns out to have no face: 0.15 s of the second core
            from analyzers import dlib_resnet, face_descriptors

            dlib_resnet.session(face_descriptors.resnet_file())
    except Exception:  # the step that needs the model meets the error again and reports it
        pass


def start(ocr: bool = True, faces: bool = True, objects: str | None = None, persons: bool = False) -> threading.Thread:
    """Starts loading the chosen frame models on a daemon thread (`objects`: the tracked detector's name;
    `persons`: dlib's ResNet, the default embedder); returns the thread."""
    thread = threading.Thread(
        target=_load, args=(ocr, faces, objects, persons), name="warm-up frame models", daemon=True
    )
    thread.start()
    return thread
