import os
from pathlib import Path

import pytest

from support import clips
from support.instance import private_instance


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """A private cache for joined models (bundled:whisper-base is joined there once per test session),
    set in the environment so the CLI's child processes use it too."""
    from analyzers.model_cache import CACHE_ENV

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
    """The standard clip (support/clips.py): known cuts, camera motion, speech and a tone."""
    return clips.standard_clip(tmp_path_factory.mktemp("media") / "clip.mp4")


@pytest.fixture(scope="session")
def silent_clip(tmp_path_factory) -> Path:
    """3.5 s, 160x96 at 10 fps, no audio stream."""
    return clips.silent_clip(tmp_path_factory.mktemp("media") / "silent.mp4")


@pytest.fixture
def instance_home(tmp_path, monkeypatch) -> dict[str, str]:
    """A private Dagster instance (the project's dagster.yaml) and data root; returns the environment."""
    env = private_instance(tmp_path, heavy_models=True)
    for name in ("DAGSTER_HOME", "VIDEO_TIMELINE_DATA", "VIDEO_TIMELINE_INBOX"):
        monkeypatch.setenv(name, env[name])
    return env
