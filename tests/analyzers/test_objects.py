"""The object detector path on a tiny random RT-DETR built here (config -> save_pretrained -> load)."""

import pytest
from transformers import AutoModelForObjectDetection

from analyzers import objects
from support.media_factory import DETECTOR_LABELS, texture, tiny_object_detector, write_frame_store

QUERIES = 6


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    folder = tiny_object_detector(tmp_path_factory.mktemp("rtdetr"), num_queries=QUERIES)
    model = AutoModelForObjectDetection.from_pretrained(folder, use_safetensors=True, local_files_only=True).eval()
    return model, objects.load_processor(folder)


def test_every_second_gets_the_labels_of_its_frames_and_boxes_inside_the_frame(detector, tmp_path):
    model, processor = detector
    frames = [
        texture(1, 320, 180),
        texture(2, 320, 180),
        texture(3, 320, 180),
        texture(3, 320, 180),
        texture(4, 320, 180),
    ]
    store = write_frame_store(tmp_path / "frames.parquet", frames)
    events = objects.analyze_objects(model, processor, store, 2.5, source="tiny-rtdetr", threshold=0.0, batch_size=2)
    assert [e.start_s for e in events] == [0.0, 1.0, 2.0] and {e.aspect for e in events} == {"objects"}
    for event in events:
        assert event.value and set(event.value) <= set(DETECTOR_LABELS.values()) and event.value == sorted(event.value)
        assert {b["label"] for b in event.detail["boxes"]} == set(event.value)
        best = {label: max(b["score"] for b in event.detail["boxes"] if b["label"] == label) for label in event.value}
        # the detection score the reconstruction score weighs the cell by: the labels' best scores, averaged
        assert event.confidence == pytest.approx(sum(best.values()) / len(best), abs=1e-4)
        for box in event.detail["boxes"]:
            x, y, w, h = box["box"]
            assert x >= 0 and x + w <= 320 and y >= 0 and y + h <= 180 and 0 <= box["score"] <= 1
    # threshold 0 keeps every query: each frame read contributes one box per query
    assert len(events[0].detail["boxes"]) == 2 * QUERIES
    assert events[1].detail["frames_detected"] == 1  # its second frame shows the same picture


def test_nothing_above_the_threshold_means_analysed_and_empty(detector, tmp_path):
    model, processor = detector
    store = write_frame_store(tmp_path / "frames.parquet", [texture(5, 320, 180)] * 2)
    (event,) = objects.analyze_objects(model, processor, store, 1.0, source="tiny-rtdetr", threshold=1.01)
    assert event.value == [] and event.detail["boxes"] == [] and event.confidence is None


def test_batches_give_the_same_answer_as_single_frames(detector, tmp_path):
    model, processor = detector
    store = write_frame_store(tmp_path / "frames.parquet", [texture(s, 160, 96) for s in range(6, 11)])
    one = objects.detect_frames(model, processor, store, threshold=0.0, batch_size=1)
    many = objects.detect_frames(model, processor, store, threshold=0.0, batch_size=4)
    assert [[d.label for d in f.detections] for f in one] == [[d.label for d in f.detections] for f in many]
    assert all(abs(a.score - b.score) < 1e-3 for f, g in zip(one, many) for a, b in zip(f.detections, g.detections))
