"""Faces on tiny generated frames with a real face photo pasted in (support.media_factory.face_photo)."""

import pytest

from analyzers import faces
from support.media_factory import face_photo, paste, texture, turned, write_frame_store


def test_a_pasted_face_is_counted_and_boxed_per_second(tmp_path):
    background = texture(3, 320, 180)
    one = paste(background, face_photo(), 200, 20, 140)
    two = paste(one, face_photo(), 20, 30, 120)
    store = write_frame_store(tmp_path / "frames.parquet", [background, background, one, one, two, two])
    events = faces.analyze_faces(store, 3.0)
    assert [e.value for e in events] == [0, 1, 2] and {e.aspect for e in events} == {"faces"}
    ((x, y, w, h),) = [b["box"] for b in events[1].detail["boxes"]]
    # the face of the portrait lies inside the pasted picture (x 200..320, y 20..160)
    assert x >= 200 and x + w <= 320 and y >= 20 and y + h <= 160 and w >= 25
    assert events[0].detail["boxes"] == [] and events[0].confidence is None


def test_identical_frames_are_detected_once(tmp_path):
    picture = paste(texture(4, 320, 180), face_photo(), 100, 20, 140)
    store = write_frame_store(tmp_path / "frames.parquet", [picture] * 4 + [texture(5, 320, 180)])
    found = faces.detect_frames(store)
    assert [f.reused for f in found] == [False, True, True, True, False]
    assert [len(f.faces) for f in found] == [1, 1, 1, 1, 0]


def test_large_frames_are_scaled_and_boxes_come_back_in_frame_pixels():
    frame = paste(texture(6, 1280, 720), face_photo(), 600, 100, 560)
    (face,) = faces.detect_faces(frame)
    x, y, w, h = face.box
    assert x >= 600 and x + w <= 1080 and y >= 100 and y + h <= 660 and w > 120


@pytest.mark.parametrize(
    ("width_share", "roll_deg"),
    [(0.4, 0), (1.0, 45), (1.0, 60), (0.5, 30)],
    ids=["turned away", "tilted 45", "tilted 60", "turned and tilted"],
)
def test_a_turned_or_tilted_face_is_counted(width_share, roll_deg):
    picture = turned(face_photo(), width_share, roll_deg)
    frame = paste(texture(7, 640, 360), picture, 160, 5, 300)
    (face,) = faces.detect_faces(frame)
    x, y, w, h = face.box
    right = 160 + 300 * picture.shape[1] / picture.shape[0]  # the pasted picture spans x 160..right, y 5..305
    assert x >= 155 and x + w <= right + 5 and y + h <= 310 and w >= 40


def test_face_confidence_drops_as_the_face_turns_away():
    background = texture(8, 480, 270)
    scores = [
        faces.detect_faces(paste(background, turned(face_photo(), share), 120, 5, 250))[0].score
        for share in (1.0, 0.4, 0.3)
    ]
    assert scores[0] > scores[1] > scores[2]


def test_dlib_remains_selectable_and_an_unknown_detector_is_named():
    frame = paste(texture(6, 320, 180), face_photo(), 100, 10, 160)
    assert len(faces.detect_faces(frame, detector="dlib")) == 1
    with pytest.raises(ValueError, match=r"unknown face detector 'mtcnn'.*retinaface, dlib"):
        faces.detect_faces(frame, detector="mtcnn")


@pytest.mark.parametrize(
    ("size", "min_score"), [((320, 180), 0.9), ((960, 540), 0.9), ((960, 540), 0.5), ((641, 359), 0.02)]
)
def test_only_the_likely_boxes_are_decoded_and_the_faces_are_tiny_retinafaces_own(size, min_score):
    from retinaface.postprocess import postprocess
    from retinaface.preprocess import preprocess

    width, height = size
    two = paste(
        paste(texture(7, width, height), face_photo(), width // 2, 5, height - 20), face_photo(), 5, 10, height // 2
    )
    for frame in (texture(8, width, height), two):
        batch = preprocess(frame)
        outputs = faces.retinaface_session().run(None, {"input": batch})
        theirs = postprocess([o.copy() for o in outputs], *batch.shape, score_threshold=min_score)[0]
        ours = faces._decoded(outputs, width, height, min_score)
        assert ours == [(f.x, f.y, f.width, f.height, f.score) for f in theirs]
    assert len(ours) >= 2  # the two faces, and at the lowest threshold more boxes
