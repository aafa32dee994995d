"""Loading the frame models on a second thread while a run's first steps decode the video.

Dagster's in-process executor runs one step at a time, so while the probe, decode and audio steps work,
the second core idles; the on-screen text and face steps then start by loading their models (PP-OCR's
two ONNX sessions and its import, RetinaFace's session: about 1 s on 2 cores). `start()` loads them on a
daemon thread instead, so on a short clip that second is mostly gone from the run. The models are the
process's own (`ocr.ocr_engine`, `faces.retinaface_session`, each created once under its lock), so a step
that needs one before the thread has made it waits for that load, never loads it twice. A failure here is
left to the step, which meets it again and reports it with its own clear error.
"""

from __future__ import annotations

import threading


def _load(ocr: bool, faces: bool) -> None:
    try:
        if faces:
            from analyzers import faces as faces_analyzer

            faces_analyzer.retinaface_session()
        if ocr:
            from analyzers import ocr as ocr_analyzer

            ocr_analyzer.ocr_engine()
    except Exception:  # the step that needs the model meets the error again and reports it
        pass


def start(ocr: bool = True, faces: bool = True) -> threading.Thread:
    """Starts loading the chosen frame models on a daemon thread; returns the thread."""
    thread = threading.Thread(target=_load, args=(ocr, faces), name="warm-up frame models", daemon=True)
    thread.start()
    return thread
