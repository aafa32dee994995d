"""The frame models' warm-up thread (analyzers/warm_up.py): the step that needs a model while the thread is
still loading it waits for that load and gets the same model; the model is loaded once."""

import time

import rapidocr_onnxruntime

from analyzers import ocr, warm_up


def test_a_step_asking_for_the_ocr_engine_during_the_warm_up_gets_the_one_it_loads(monkeypatch):
    monkeypatch.setattr(ocr, "_engine", None)  # as in a new process
    real, loads = rapidocr_onnxruntime.RapidOCR, []

    def slow_load(*args, **kwargs):
        loads.append(time.monotonic())
        time.sleep(0.3)  # still loading when the step asks
        return real(*args, **kwargs)

    monkeypatch.setattr(rapidocr_onnxruntime, "RapidOCR", slow_load)
    thread = warm_up.start(ocr=True, faces=False)
    while not loads:
        time.sleep(0.01)
    engine = ocr.ocr_engine()
    thread.join(timeout=60)
    assert len(loads) == 1
    assert ocr.ocr_engine() is engine
    assert isinstance(engine, real)
