import importlib.util
import logging
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from analyzers import ocr
from analyzers.ppocr_engine import (
    RUNTIME_ENV,
    SHAPES_KEPT,
    OcrSetupError,
    OpenVinoModel,
    TableNormalisedInput,
    model_path,
    normalise_by_table,
    ocr_runtime,
    rapidocr_engine,
    reopen_sessions,
    run_on_openvino,
)
from support.media_factory import caption_lines, latin_font


@pytest.fixture(scope="module")
def detector():
    return rapidocr_engine().text_det


@pytest.mark.parametrize("height, width", [(448, 800), (450, 800), (37, 61), (360, 641)])
def test_the_table_gives_the_detector_exactly_rapidocrs_input(detector, height, width):
    image = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    preprocess = detector.get_preprocess(max(height, width))
    expected = preprocess(image)
    got = TableNormalisedInput(preprocess)(image)
    assert got.dtype == expected.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
    assert np.array_equal(got, expected)


def test_an_image_the_table_cannot_serve_goes_through_rapidocrs_own_step(detector):
    float_image = np.random.default_rng(1).random((64, 96, 3)).astype(np.float32) * 255
    preprocess = detector.get_preprocess(96)
    assert np.array_equal(TableNormalisedInput(preprocess)(float_image), preprocess(float_image))


def test_the_engine_finds_the_same_lines_with_the_table():
    frame = caption_lines(["Gate B12 closed", "Abfahrt 10:45"], 800, 450, 30, font=latin_font("Sans"))
    plain, tabled = rapidocr_engine(), rapidocr_engine()
    normalise_by_table(tabled)
    expected, _ = plain.text_det(frame)
    found, _ = tabled.text_det(frame)
    assert len(expected) == 2 and np.array_equal(found, expected)
    assert isinstance(ocr.ocr_engine().text_det.get_preprocess(800), TableNormalisedInput)


def test_with_onnxruntime_the_sessions_reuse_their_memory_and_their_threads_sleep_between_calls():
    engine = rapidocr_engine()
    reopen_sessions(engine)
    for session in (engine.text_det.infer.session, engine.text_rec.session.session):
        options = session.get_session_options()
        assert options.enable_cpu_mem_arena
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """PP-OCR on onnxruntime and on OpenVINO, both with the detector's input by table."""
    onnx, vino = rapidocr_engine(), rapidocr_engine()
    reopen_sessions(onnx)
    run_on_openvino(vino, tmp_path_factory.mktemp("models"))
    for engine in (onnx, vino):
        normalise_by_table(engine)
    return onnx, vino


@pytest.mark.parametrize("width, height", [(800, 450), (416, 240)])
def test_openvino_gives_onnxruntimes_outputs_for_the_detector_and_the_recognizer(engines, width, height):
    onnx, vino = engines
    frame = caption_lines(["Gate B12 closed", "Größte Übersicht 10:45"], width, height, height // 15, font=latin_font())
    batch = onnx.text_det.get_preprocess(width)(frame)
    np.testing.assert_allclose(vino.text_det.infer(batch)[0], onnx.text_det.infer(batch)[0], atol=1e-4)
    boxes, _ = onnx.text_det(frame)
    assert len(boxes) == 2 and np.array_equal(vino.text_det(frame)[0], boxes)
    crops = onnx.get_crop_img_list(frame, list(boxes.astype(np.float32)))
    read = onnx.text_rec(crops)[0]
    assert [text for text, _ in vino.text_rec(crops)[0]] == [text for text, _ in read]
    assert [round(score, 3) for _, score in vino.text_rec(crops)[0]] == [round(score, 3) for _, score in read]


@pytest.mark.parametrize("per_shape", [False, True])
def test_each_thread_calling_an_openvino_model_gets_its_own_request(tmp_path, per_shape):
    model = OpenVinoModel(model_path("Det"), tmp_path, per_shape=per_shape)
    rng = np.random.default_rng(3)
    batches = [rng.random((1, 3, 96, 160), dtype=np.float32) for _ in range(4)]
    expected = [model(b)[0] for b in batches]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda b: model(b)[0], batches * 4))
    assert all(np.array_equal(g, e) for g, e in zip(got, expected * 4))


def test_a_per_shape_model_is_compiled_once_for_each_input_shape_and_keeps_the_last_ones(tmp_path):
    any_shape = OpenVinoModel(model_path("Det"), tmp_path)
    per_shape = OpenVinoModel(model_path("Det"), tmp_path, per_shape=True)
    compiled, compile_model = [], per_shape._compile
    per_shape._compile = lambda model: compiled.append(tuple(model.inputs[0].get_shape())) or compile_model(model)
    rng = np.random.default_rng(5)
    a, b, c = (rng.random((1, 3, h, w), dtype=np.float32) for h, w in ((96, 160), (64, 128), (128, 96)))
    for batch in (a, a, b, a, c, b):
        np.testing.assert_allclose(per_shape(batch)[0], any_shape(batch)[0], atol=1e-4)
    assert SHAPES_KEPT == 2  # so b, pushed out by a and c, is compiled again
    assert compiled == [a.shape, b.shape, c.shape, b.shape]


@pytest.mark.parametrize("per_shape", [False, True])
def test_compiled_models_are_kept_for_the_next_process_and_a_cache_that_cannot_be_used_costs_only_the_compile(
    tmp_path, caplog, per_shape
):
    batch = np.random.default_rng(4).random((1, 3, 96, 160), dtype=np.float32)
    first = OpenVinoModel(model_path("Det"), tmp_path / "cache", per_shape=per_shape)(batch)[0]
    kept = sorted((tmp_path / "cache").iterdir())
    assert kept
    assert np.array_equal(OpenVinoModel(model_path("Det"), tmp_path / "cache", per_shape=per_shape)(batch)[0], first)
    assert sorted((tmp_path / "cache").iterdir()) == kept  # loaded, not compiled and stored again
    (tmp_path / "a-file").write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        model = OpenVinoModel(model_path("Det"), tmp_path / "a-file" / "openvino", per_shape=per_shape)
    assert np.array_equal(model(batch)[0], first)
    assert "a-file/openvino not used" in caplog.text and "ch_PP-OCRv4_det_infer.onnx" in caplog.text


@pytest.mark.parametrize(
    "asked, installed, runtime",
    [
        ("", True, "openvino"),
        ("", False, "onnxruntime"),
        ("onnxruntime", True, "onnxruntime"),
        ("OpenVINO", True, "openvino"),
    ],
)
def test_the_runtime_is_openvino_where_installed_unless_asked_otherwise(monkeypatch, asked, installed, runtime):
    _openvino_installed(monkeypatch, installed)
    monkeypatch.setenv(RUNTIME_ENV, asked)
    assert ocr_runtime() == runtime


@pytest.mark.parametrize(
    "asked, installed, error",
    [
        ("tensorrt", True, r"\$VIDEO_TIMELINE_OCR_RUNTIME='tensorrt': expected one of openvino, onnxruntime"),
        ("openvino", False, r"=openvino but the openvino package is not installed \(pip install openvino\)"),
    ],
)
def test_a_runtime_that_cannot_run_is_refused_with_the_reason(monkeypatch, asked, installed, error):
    _openvino_installed(monkeypatch, installed)
    monkeypatch.setenv(RUNTIME_ENV, asked)
    with pytest.raises(OcrSetupError, match=error):
        ocr_runtime()


def _openvino_installed(monkeypatch, installed: bool) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: find_spec(name, *a) if installed or name != "openvino" else None
    )


def test_an_openvino_that_does_not_load_is_refused_with_the_way_around(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    with pytest.raises(OcrSetupError, match=r"OpenVINO cannot be loaded .*VIDEO_TIMELINE_OCR_RUNTIME=onnxruntime"):
        OpenVinoModel(model_path("Det"))
