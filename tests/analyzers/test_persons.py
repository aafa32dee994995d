"""The same person recognised: dlib's real face descriptor on a real portrait, the video-wide clustering
(faces of one frame kept apart, ids in order of appearance), confidences, the per-second and person tables,
and the refusal of an opt-in embedder that is not installed."""

from pathlib import Path

import numpy as np
import pytest

from analyzers import faces, persons
from support.media_factory import face_photo, paste, texture, turned, write_frame_store


def test_one_real_face_at_two_sizes_and_turned_is_one_person_and_unlike_a_texture():
    portrait = face_photo()
    big = paste(texture(1, 640, 360), portrait, 100, 10, 340)
    small = paste(texture(2, 640, 360), turned(portrait, 0.7, 10), 380, 120, 200)
    vectors = []
    for frame in (big, small):
        (face,) = faces.detect_faces(frame)
        vectors.append(persons.embed_face(frame, face.box))
    other = persons.embed_face(texture(3, 640, 360), (200, 100, 120, 140))
    d = persons.distances(np.stack(vectors), np.stack([vectors[0], other]), "dlib")
    assert vectors[0].shape == (128,)
    assert d[1, 0] < persons.TOLERANCE["dlib"] < d[0, 1]


def _cloud(centre, n, seed, spread=0.01):  # 128 dimensions: about 0.16 apart within a cloud
    rng = np.random.default_rng(seed)
    return centre + rng.normal(0, spread, (n, len(centre)))


def test_clusters_follow_identity_number_by_first_appearance_and_keep_one_frame_apart():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 128) * 0.1, rng.normal(0, 1, 128) * 0.1  # about 1.4 apart: two people
    embeddings = np.vstack([_cloud(b, 3, 1), _cloud(a, 3, 2)])
    times = [0.0, 5.0, 9.0, 1.0, 6.0, 9.5]  # b first, then a, both back after a cut
    assert persons.cluster(embeddings, times).tolist() == [0, 0, 0, 1, 1, 1]
    # two faces in one frame are two people even when they look alike (twins, a mirror)
    twins = np.vstack([a, a + 0.001, a + 0.002])
    assert sorted(persons.cluster(twins, [0.0, 0.0, 3.0]).tolist()[:2]) == [0, 1]


def test_a_face_is_less_sure_of_its_id_when_another_person_looks_alike():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 128) * 0.1
    far, near = a + rng.normal(0, 1, 128) * 0.1, a + rng.normal(0, 1, 128) * 0.025
    confidences = []
    for other in (far, near):
        embeddings = np.vstack([_cloud(a, 3, 2, 0.01), _cloud(other, 3, 3, 0.01)])
        labels = np.array([0, 0, 0, 1, 1, 1])
        confidences.append(persons.face_confidences(embeddings, labels, [0.95] * 6, "dlib").mean())
    assert confidences[0] == pytest.approx(0.95) and confidences[1] < 0.8


def test_persons_per_second_and_the_person_table_from_the_faces_events(tmp_path, monkeypatch):
    portrait = face_photo()
    with_face = paste(texture(1, 480, 270), portrait, 150, 10, 250)
    moved = paste(texture(2, 480, 270), portrait, 20, 40, 200)
    frames = [with_face, with_face, texture(3, 480, 270), texture(3, 480, 270), moved, moved]
    store = write_frame_store(tmp_path / "frames.parquet", frames)
    face_events = faces.analyze_faces(store, 3.0)
    events = persons.analyze_persons(store, face_events, 3.0)
    assert [e.value for e in events if e.aspect == "persons"] == [["P1"], [], ["P1"]]
    second = [e for e in events if e.aspect == "persons"]
    assert second[1].confidence is None and 0 < second[0].confidence <= 1
    assert second[0].detail["boxes"][0]["person"] == "P1"
    (table,) = [e for e in events if e.aspect == "person"]
    assert table.detail["seconds_on_screen"] == 2 and (table.detail["first_second"], table.detail["last_second"]) == (
        0,
        2,
    )
    assert table.detail["thumbnail_jpeg_base64"]
    monkeypatch.setattr(persons, "EMBED_CHUNK", 1)  # each face embedded as soon as it is aligned
    assert persons.analyze_persons(store, face_events, 3.0) == events


def test_seconds_the_faces_analyzer_did_not_analyse_stay_unanalysed(tmp_path):
    store = write_frame_store(tmp_path / "frames.parquet", [texture(1, 320, 180)] * 2)
    face_events = [e for e in faces.analyze_faces(store, 2.0) if e.start_s < 1]
    events = persons.analyze_persons(store, face_events, 2.0)
    assert [(e.start_s, e.value) for e in events] == [(0.0, [])]


def test_an_opt_in_embedder_that_is_not_installed_is_refused_with_its_licence(monkeypatch):
    monkeypatch.setattr(persons.face_descriptors, "package_folder", lambda name: None)
    monkeypatch.setattr(persons, "_models", {})
    with pytest.raises(persons.EmbedderUnavailable, match=r"non-commercial.*persons-noncommercial"):
        persons.load_embedder("arcface")
    with pytest.raises(persons.EmbedderUnavailable, match="unknown face embedder 'vgg'"):
        persons.load_embedder("vgg")
    with pytest.raises(persons.EmbedderUnavailable, match="unknown face embedder 'vgg'"):  # even with no face
        persons.analyze_persons(Path("no frames needed"), [], 2.0, "vgg")
