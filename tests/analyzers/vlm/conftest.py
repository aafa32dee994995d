from __future__ import annotations

from pathlib import Path

import pytest

from support.tiny_vlm import build, load

FAMILIES = ["qwen2_vl", "qwen2_5_vl", "llava_next_video"]


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_vlm")
    return {family: build(root / family, family) for family in FAMILIES}


@pytest.fixture(scope="session")
def loaded(checkpoints) -> dict[str, tuple]:
    """Shared read-only models; tests that change a model load their own with `load`."""
    return {family: load(folder) for family, folder in checkpoints.items()}
