"""dlib's face descriptors on every core: helper processes give the same numbers as this process, in the
faces' order, and a helper that fails costs only time."""

import numpy as np
import pytest

from analyzers import face_descriptors
from support.media_factory import face_photo, paste, texture, turned


@pytest.fixture(scope="module")
def chips():
    portrait = face_photo()
    frames = [
        paste(texture(seed, 640, 360), turned(portrait, 1.0 - 0.08 * seed, 2 * seed), 60 + 20 * seed, 20, 300)
        for seed in range(6)
    ]
    boxes = [(70 + 20 * seed, 60, 230, 250) for seed in range(6)]
    return [face_descriptors.chip(frame, box) for frame, box in zip(frames, boxes)]


def test_helpers_describe_the_same_faces_to_the_same_numbers_in_order(chips, monkeypatch):
    here = face_descriptors.describe(chips, cores=1)
    assert len({v.tobytes() for v in here}) == len(chips)  # six different chips, six different descriptors
    monkeypatch.setattr(face_descriptors, "MIN_FACES_PER_HELPER", 2)
    shared = face_descriptors.describe(chips, cores=3)  # two helpers and this process, two faces each
    assert all(np.array_equal(a, b) for a, b in zip(here, shared))


def test_a_helper_that_fails_leaves_its_share_to_this_process(chips, monkeypatch, caplog):
    here = face_descriptors.describe(chips, cores=1)
    monkeypatch.setattr(face_descriptors, "MIN_FACES_PER_HELPER", 2)
    monkeypatch.setattr(face_descriptors.sys, "executable", "false")  # a helper that exits 1 at once
    shared = face_descriptors.describe(chips, cores=2)
    assert all(np.array_equal(a, b) for a, b in zip(here, shared))
    assert "helper failed (exit status 1); its 3 faces are described here" in caplog.text


def test_no_faces_load_no_model(monkeypatch):
    monkeypatch.setattr(face_descriptors, "_models", None)
    assert face_descriptors.describe([], cores=4) == [] and face_descriptors._models is None
