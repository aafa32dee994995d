import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.media_factory import Shot, place, render_shots, speech, tone, write_video

PROJECT = Path(__file__).resolve().parents[1]

# Shots of the standard test clip: cuts at 2, 4 and 6 s, a 1 s dip to black (one transition,
# placed at its middle), one camera motion per shot.
CLIP_SHOTS = [
    Shot(2, 1),
    Shot(2, 2, pan_px_s=60),
    Shot(2, 3, tilt_px_s=-40),
    Shot(2, 4, zoom_per_s=1.25),
    Shot(1, 5, black=True),
    Shot(2, 6, pan_px_s=-60),
]
CLIP_CUTS = [2.0, 4.0, 6.0, 8.5]
CLIP_CAMERA = [
    "static",
    "static",
    "pan_right",
    "pan_right",
    "tilt_up",
    "tilt_up",
    "zoom_in",
    "zoom_in",
    "unknown",
    "pan_left",
    "pan_left",
]
SPEECH_AT = (1.0, "Hello there, this is a test of the speech detector.")
TONE_AT = (6.0, 2.0)  # start, seconds of a 440 Hz tone (sound, not speech)


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """A private cache for joined models (bundled:whisper-base is joined there once per test session),
    set in the environment so the CLI's child processes use it too."""
    from analyzers.whisper_models import CACHE_ENV

    cache = tmp_path_factory.mktemp("model_cache")
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """11 s, 320x180 at 15 fps, H.264 + AAC: known cuts, camera motion, speech and a tone."""
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    audio = place(11, [(SPEECH_AT[0], speech(SPEECH_AT[1])), (TONE_AT[0], tone(TONE_AT[1]))])
    return write_video(path, render_shots(CLIP_SHOTS, 320, 180, 15), 15, audio=audio)


@pytest.fixture(scope="session")
def silent_clip(tmp_path_factory) -> Path:
    """3.5 s, 160x96 at 10 fps, no audio stream."""
    path = tmp_path_factory.mktemp("media") / "silent.mp4"
    return write_video(path, render_shots([Shot(3.5, 7)], 160, 96, 10), 10)


@pytest.fixture
def instance_home(tmp_path, monkeypatch) -> dict[str, str]:
    """A private Dagster instance (the project's dagster.yaml) and data root; returns the environment."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    data = tmp_path / "data"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("VIDEO_TIMELINE_DATA", str(data))
    return {**os.environ, "DAGSTER_HOME": str(home), "VIDEO_TIMELINE_DATA": str(data)}


def file_digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


__all__ = ["file_digest", "np"]
