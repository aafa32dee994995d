from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from transformers import AutoModelForImageTextToText

from analyzers.frames import FrameStoreWriter, SampledFrame
from analyzers.vlm import load_processor
from tests.analyzers.vlm.tiny import build

FAMILIES = ["qwen2_vl", "qwen2_5_vl", "llava_next_video"]


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_vlm")
    return {family: build(root / family, family) for family in FAMILIES}


def load(folder: Path):
    """A fresh (model, processor) pair from a saved tiny checkpoint."""
    model = AutoModelForImageTextToText.from_pretrained(folder)
    model.eval()
    return model, load_processor(folder)


@pytest.fixture(scope="session")
def loaded(checkpoints) -> dict[str, tuple]:
    """Shared read-only models; tests that change a model load their own with `load`."""
    return {family: load(folder) for family, folder in checkpoints.items()}


def scene(t: float, height: int = 90, width: int = 160) -> np.ndarray:
    """A frame whose content changes every second: a coloured square moving across a gradient."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    s = int(t)
    colour = tuple(int(c) for c in ((s * 67) % 256, (s * 131) % 256, (s * 29 + 80) % 256))
    x = int((t * 23) % (width - 20))
    cv2.rectangle(img, (x, height // 3), (x + 20, height // 3 + 20), colour, -1)
    return img


def sampled_frames(duration_s: float, fps: float = 2.0, height: int = 90, width: int = 160) -> list[SampledFrame]:
    n = int(np.ceil(duration_s * fps - 1e-9))
    return [SampledFrame(t=i / fps, frame_index=i, image=scene(i / fps, height, width)) for i in range(n)]


def frame_store(path: Path, frames: list[SampledFrame]) -> Path:
    writer = FrameStoreWriter(path)
    for f in frames:
        writer.add(f)
    writer.close()
    return path
