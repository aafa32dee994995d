"""Faces on tiny generated frames with a real face photo pasted in (support.media_factory.face_photo)."""

from analyzers import faces
from support.media_factory import face_photo, paste, texture, write_frame_store


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
