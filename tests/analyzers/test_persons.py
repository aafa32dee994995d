"""The same person recognised: dlib's real face descriptor on a real portrait, the video-wide clustering
(faces of one frame kept apart, ids in order of appearance; a long video's faces in batches, in bounded
memory), confidences, the per-second and person tables, and the refusal of an opt-in embedder that is not
installed."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analyzers import face_clusters, faces, persons, progress
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
    d = face_clusters.distances(np.stack(vectors), np.stack([vectors[0], other]), "dlib")
    assert vectors[0].shape == (128,)
    assert d[1, 0] < face_clusters.TOLERANCE["dlib"] < d[0, 1]


def _cloud(centre, n, seed, spread=0.01):  # 128 dimensions: about 0.16 apart within a cloud
    rng = np.random.default_rng(seed)
    return centre + rng.normal(0, spread, (n, len(centre)))


def test_clusters_follow_identity_number_by_first_appearance_and_keep_one_frame_apart():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 128) * 0.1, rng.normal(0, 1, 128) * 0.1  # about 1.4 apart: two people
    embeddings = np.vstack([_cloud(b, 3, 1), _cloud(a, 3, 2)])
    times = [0.0, 5.0, 9.0, 1.0, 6.0, 9.5]  # b first, then a, both back after a cut
    assert face_clusters.cluster(embeddings, times, "dlib").tolist() == [0, 0, 0, 1, 1, 1]
    # two faces in one frame are two people even when they look alike (twins, a mirror)
    twins = np.vstack([a, a + 0.001, a + 0.002])
    assert sorted(face_clusters.cluster(twins, [0.0, 0.0, 3.0], "dlib").tolist()[:2]) == [0, 1]


def _video_of_faces(embedder: str):
    """300 faces over 100 s: 6 people in turns, two of them in most seconds, one of them (the host) in
    every second, so the host alone has more faces than a block holds; 2 faces of one frame look alike."""
    rng = np.random.default_rng(7)
    people = rng.normal(0, 1, (6, 128)) * 0.1
    rows, times, who = [], [], []
    for second in range(100):
        for person in (0, 1 + (second // 10) % 5):  # the host and a guest; guests return after others
            rows.append(people[person] + rng.normal(0, 0.01, 128))
            times.append(float(second))
            who.append(person)
        if second == 55:  # a twin of the guest in the same frame: another person
            rows.append(rows[-1] + 0.001)
            times.append(float(second))
            who.append(6)
    embeddings = np.array(rows, np.float32)
    if embedder == "arcface":
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings, times, np.array(who)


@pytest.mark.parametrize(
    ("embedder", "exact_faces", "block"),
    [
        ("dlib", 64, 64 * 20),  # 5 batches; the host's faces span several blocks
        ("dlib", 64, 1 << 22),  # 5 batches; every earlier person in one block
        ("dlib", 200, 200 * 7),  # 2 batches, unequal
        ("arcface", 64, 64 * 20),  # average linkage
    ],
)
def test_a_long_videos_faces_are_clustered_in_batches_as_they_are_at_once_in_bounded_memory(
    monkeypatch, embedder, exact_faces, block
):
    embeddings, times, who = _video_of_faces(embedder)
    at_once = face_clusters.cluster(embeddings, times, embedder)
    assert len(set(at_once.tolist())) == 7  # the 6 people and the twin
    assert all(len(set(at_once[who == p].tolist())) == 1 for p in range(7))
    largest = []
    distances = face_clusters.distances

    def measured(a, b, name):
        result = distances(a, b, name)
        largest.append(result.size)
        return result

    monkeypatch.setattr(face_clusters, "distances", measured)
    monkeypatch.setattr(face_clusters, "EXACT_FACES", exact_faces)
    monkeypatch.setattr(face_clusters, "BLOCK", block)
    in_batches = face_clusters.cluster(embeddings, times, embedder)
    assert in_batches.tolist() == at_once.tolist()  # the same persons, numbered the same
    assert max(largest) <= max(exact_faces**2, block)  # never all faces against all faces


def test_a_later_batch_adds_new_people_and_finds_earlier_ones_again(monkeypatch):
    rng = np.random.default_rng(3)
    a, b, c = rng.normal(0, 1, (3, 128)) * 0.1
    embeddings = np.vstack([_cloud(a, 10, 1), _cloud(b, 5, 2), _cloud(c, 5, 3), _cloud(a, 10, 4)])
    times = [float(i) for i in range(30)]
    monkeypatch.setattr(face_clusters, "EXACT_FACES", 10)
    labels = face_clusters.cluster(embeddings, times, "dlib")
    assert labels.tolist() == [0] * 10 + [1] * 5 + [2] * 5 + [0] * 10


@pytest.mark.parametrize("embedder", ["dlib", "arcface"])
def test_faces_of_one_frame_that_hold_each_others_persons_get_their_own_back(embedder):
    rng = np.random.default_rng(5)
    a, b, c = rng.normal(0, 1, (3, 128)) * 0.1
    embeddings = np.vstack([_cloud(a, 6, 1), _cloud(b, 6, 2), _cloud(c, 1, 3), _cloud(a, 1, 4), _cloud(b, 1, 5)])
    if embedder == "arcface":
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    times = [float(i) for i in range(12)] + [20.0, 20.0, 20.0]  # the last frame: c (seen once), a and b
    labels = np.array([0] * 6 + [1] * 6 + [2, 1, 0])  # a's face holds b's person and b's face a's
    face_clusters._faces_of_a_frame_assigned_jointly(labels, times, embeddings, embedder)
    assert labels.tolist() == [0] * 6 + [1] * 6 + [2, 0, 1]
    face_clusters._faces_of_a_frame_assigned_jointly(labels, times, embeddings, embedder)
    assert labels.tolist() == [0] * 6 + [1] * 6 + [2, 0, 1]  # right already: left alone


def test_a_face_is_less_sure_of_its_id_when_another_person_looks_alike():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 128) * 0.1
    far, near = a + rng.normal(0, 1, 128) * 0.1, a + rng.normal(0, 1, 128) * 0.025
    confidences = []
    for other in (far, near):
        embeddings = np.vstack([_cloud(a, 3, 2, 0.01), _cloud(other, 3, 3, 0.01)])
        labels = np.array([0, 0, 0, 1, 1, 1])
        confidences.append(face_clusters.face_confidences(embeddings, labels, [0.95] * 6, "dlib").mean())
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
    monkeypatch.setattr(progress, "EVERY_S", 0.0)
    monkeypatch.setattr(face_clusters, "EXACT_FACES", 1)  # the log also says when a long video's faces go in batches
    lines = []
    assert persons.analyze_persons(store, face_events, 3.0, progress=lines.append) == events
    assert lines == ["embedding faces: 0/3 s of video", "embedding faces: 2/3 s of video"] + [
        "clustering 2 faces, 1 at a time"
    ]


def test_seconds_the_faces_analyzer_did_not_analyse_stay_unanalysed(tmp_path):
    store = write_frame_store(tmp_path / "frames.parquet", [texture(1, 320, 180)] * 2)
    face_events = [e for e in faces.analyze_faces(store, 2.0) if e.start_s < 1]
    events = persons.analyze_persons(store, face_events, 2.0)
    assert [(e.start_s, e.value) for e in events] == [(0.0, [])]


def test_an_opt_in_embedder_that_is_not_installed_is_refused_with_its_licence(monkeypatch):
    monkeypatch.setattr(persons.face_descriptors, "package_folder", lambda name: None)
    persons.load_embedder.cache_clear()  # as in a new process
    with pytest.raises(persons.EmbedderUnavailable, match=r"non-commercial.*persons-noncommercial"):
        persons.load_embedder("arcface")
    with pytest.raises(persons.EmbedderUnavailable, match="unknown face embedder 'vgg'"):
        persons.load_embedder("vgg")
    with pytest.raises(persons.EmbedderUnavailable, match="unknown face embedder 'vgg'"):  # even with no face
        persons.analyze_persons(Path("no frames needed"), [], 2.0, "vgg")


def test_clustering_and_contested_tracks_import_no_scipy():
    # scipy's clustering and assignment imports were 0.2 s of every run with faces, on the interpreter lock
    code = (
        "import sys, numpy as np\n"
        "from analyzers import box_tracker, face_clusters\n"
        "rng = np.random.default_rng(0)\n"
        "emb = np.vstack([rng.normal(0, 0.01, (4, 128)), 0.2 + rng.normal(0, 0.01, (4, 128))])\n"
        "labels = face_clusters.cluster(emb, [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0], 'dlib')\n"
        "assert len(set(labels.tolist())) >= 2, labels\n"
        "assert box_tracker.pairs(np.array([[0.6, 0.5], [0.5, 0.1]])) == [(0, 1), (1, 0)]\n"
        "print('scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
