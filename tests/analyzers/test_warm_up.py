"""The frame models' warm-up thread (analyzers/warm_up.py): the step that needs a model while the thread is
still loading it waits for that load and gets the same model; the model is loaded once; a model the thread
cannot load is left to its step, which reports why; Tesseract's instance, one per thread, is started by the
thread and taken over by the thread that reads."""

import threading
import time

import cv2
import numpy as np
import pytest
import rapidocr_onnxruntime

from analyzers import ocr, warm_up


def test_a_step_asking_for_the_ocr_engine_during_the_warm_up_gets_the_one_it_loads(monkeypatch):
    ocr.ocr_engine.cache_clear()  # as in a new process
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


def test_the_warm_up_loads_the_object_detector_and_the_face_descriptor_the_steps_then_use(monkeypatch):
    from analyzers import dlib_resnet, face_descriptors, object_detector

    loads = (object_detector.load_detector, dlib_resnet.session, face_descriptors.landmark_predictor)
    for load in loads:
        load.cache_clear()  # as in a new process
    warm_up.start(ocr=False, faces=False, objects="nanodet", persons=True).join(timeout=120)
    assert [load.cache_info().currsize for load in loads] == [1, 1, 1]  # loaded by the warm-up
    loaded_detector = object_detector.load_detector("nanodet")
    loaded_descriptor = dlib_resnet.session(face_descriptors.resnet_file())
    loaded_landmarks = face_descriptors.landmark_predictor()
    assert [load.cache_info().currsize for load in loads] == [1, 1, 1]  # the steps got the warm-up's models
    assert object_detector.load_detector() is loaded_detector  # the default detector is the same load
    assert dlib_resnet.session(face_descriptors.resnet_file()) is loaded_descriptor
    assert face_descriptors.landmark_predictor() is loaded_landmarks


def test_the_warm_up_loads_the_sound_models_the_audio_steps_then_use():
    from analyzers import audio, sound_events

    audio.vad_session.cache_clear()  # as in a new process
    sound_events.load_yamnet.cache_clear()
    warm_up.start(ocr=False, faces=False, sound=True).join(timeout=120)
    vad, yamnet = audio.vad_session(), sound_events.load_yamnet()
    audio.vad_session.cache_clear()
    assert audio.vad_session() is not vad  # what the steps got above was the warm-up's load
    assert sound_events.load_yamnet() is yamnet


def test_a_model_asked_for_by_two_threads_at_once_is_loaded_once():
    loads, started = [], threading.Event()

    def slow_load():
        loads.append(threading.current_thread().name)
        started.set()
        time.sleep(0.3)
        return object()

    load = warm_up.loaded_once(slow_load)
    other = []
    thread = threading.Thread(target=lambda: other.append(load()))
    thread.start()
    started.wait(timeout=10)
    mine = load()  # asked while the other thread is still loading
    thread.join(timeout=10)
    assert len(loads) == 1 and other == [mine]
    load.cache_clear()
    assert load() is not mine and len(loads) == 2


def test_a_model_the_warm_up_cannot_load_is_left_to_its_step(monkeypatch):
    from analyzers import object_detector

    object_detector.load_detector.cache_clear()
    thread = warm_up.start(ocr=False, faces=False, objects="no-such-detector")
    thread.join(timeout=60)
    assert not thread.is_alive() and object_detector.load_detector.cache_info().currsize == 0
    with pytest.raises(object_detector.DetectorUnavailable, match="no-such-detector"):
        object_detector.load_detector("no-such-detector")


@pytest.fixture
def tesseract_starts(monkeypatch) -> list[str]:
    """The names of the threads that start a Tesseract instance, in order."""
    import tesserocr

    made, real = [], tesserocr.PyTessBaseAPI

    def counted(*args, **kwargs):
        made.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(tesserocr, "PyTessBaseAPI", counted)
    return made


def test_the_tesseract_instance_the_warm_up_starts_is_the_one_the_reading_thread_uses(monkeypatch, tesseract_starts):
    reader = ocr.TesseractReader()  # a new reader: no thread has an instance yet
    monkeypatch.setattr(ocr, "default_reader", lambda: reader)
    warm_up.start(ocr=True, faces=False).join(timeout=120)
    assert tesseract_starts == ["warm-up models"]
    crop = np.full((40, 200, 3), 255, np.uint8)
    cv2.putText(crop, "Hallo", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 0, 0), 2)
    assert reader.read(crop)[0] == "Hallo"  # read on this thread with the warm-up's instance
    assert tesseract_starts == ["warm-up models"]
    other = threading.Thread(target=reader.read, args=(crop,))
    other.start()
    other.join()
    assert tesseract_starts == ["warm-up models", other.name]  # another thread gets its own


def test_no_spare_tesseract_is_started_once_a_thread_reads(tesseract_starts):
    reader = ocr.TesseractReader()
    reader.read(np.full((40, 200, 3), 255, np.uint8))  # the step read before the warm-up got to Tesseract
    reader.prepare()
    assert tesseract_starts == [threading.current_thread().name]
