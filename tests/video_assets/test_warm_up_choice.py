"""Which models `analyze` warms up: those of the graph's assets, as the assets name them."""

import pytest

from analyzers import warm_up
from video_assets import cli
from video_assets.definitions import build_definitions


@pytest.fixture
def asked(monkeypatch):
    calls = []
    monkeypatch.setattr(warm_up, "start", lambda **kwargs: calls.append(kwargs))
    return calls


def test_the_default_graph_warms_up_every_frame_model_and_the_sound_models(asked, tmp_path):
    cli._warm_up_models(build_definitions(data_root=str(tmp_path)))
    assert asked == [{"ocr": True, "faces": True, "objects": "nanodet", "persons": True, "sound": True}]


def test_the_configured_detector_is_warmed_up_and_an_opt_in_embedder_left_to_its_step(asked, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEO_TIMELINE_FACE_EMBEDDER", "arcface")
    monkeypatch.setenv("VIDEO_TIMELINE_OBJECT_DETECTOR", "yolo11n")
    cli._warm_up_models(build_definitions(data_root=str(tmp_path)))
    assert asked == [{"ocr": True, "faces": True, "objects": "yolo11n", "persons": False, "sound": True}]
