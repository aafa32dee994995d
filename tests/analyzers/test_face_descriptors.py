"""dlib's face descriptor as an ONNX graph (analyzers/dlib_resnet.py): the numbers of dlib's own network on
real faces, in the faces' order, from a graph made once and kept in the model cache; a file that is not the
network is refused with its name."""

import numpy as np
import pytest

from analyzers import dlib_resnet, face_descriptors
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


def test_the_graph_gives_dlibs_own_descriptors_in_order(chips):
    import dlib

    network = dlib.face_recognition_model_v1(str(face_descriptors.resnet_file()))
    expected = [np.asarray(network.compute_face_descriptor(np.ascontiguousarray(c)), np.float32) for c in chips]
    got = face_descriptors.describe(chips)
    assert len({v.tobytes() for v in expected}) == len(chips)  # six different chips, six different descriptors
    assert len(got) == len(chips)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(b, a, atol=1e-5)
    assert face_descriptors.describe(chips[::-1])[0] == pytest.approx(got[-1], abs=1e-6)  # order kept


def test_many_chips_run_a_few_at_a_time_with_the_same_descriptors(chips, monkeypatch):
    whole = face_descriptors.describe(chips)
    session = dlib_resnet.session(face_descriptors.resnet_file())
    calls = []

    class Counted:
        def run(self, names, feeds):
            calls.append(len(feeds["chips"]))
            return session.run(names, feeds)

    monkeypatch.setattr(dlib_resnet, "RUN_BATCH", 4)
    monkeypatch.setattr(dlib_resnet, "session", lambda model_file: Counted())
    parts = face_descriptors.describe(chips)
    assert calls == [4, 2]  # onnxruntime's arena keeps the largest call's activations: calls stay small
    for a, b in zip(whole, parts):
        np.testing.assert_allclose(b, a, atol=1e-6)


def test_the_graph_is_made_once_and_kept_in_the_model_cache(chips, tmp_path, monkeypatch):
    from analyzers.model_cache import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    dlib_resnet.session.cache_clear()
    made = []
    real = dlib_resnet.onnx_model
    monkeypatch.setattr(dlib_resnet, "onnx_model", lambda layers: made.append(1) or real(layers))
    first = face_descriptors.describe(chips[:2])
    dlib_resnet.session.cache_clear()  # as a new process
    again = face_descriptors.describe(chips[:2])
    assert made == [1] and len(list(tmp_path.glob("dlib-resnet-onnx-*.npz"))) == 1
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_no_faces_load_no_model(monkeypatch):
    dlib_resnet.session.cache_clear()
    assert face_descriptors.describe([]) == [] and dlib_resnet.session.cache_info().currsize == 0


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 3],  # cut short
        lambda data: data.replace(b"\x01\x04fc_2", b"\x01\x04xx_2"),  # no final linear map
        lambda data: b"not a model",
    ],
)
def test_a_file_that_is_not_dlibs_network_is_refused_with_its_name(tmp_path, damage):
    path = tmp_path / "damaged.dat"
    path.write_bytes(damage(face_descriptors.resnet_file().read_bytes()))
    with pytest.raises(dlib_resnet.NetworkFormatError, match=r"damaged\.dat"):
        dlib_resnet.graph_of(path)
