"""The reduced-precision bench's face comparison: faces found by both variants, by one only, per second."""

from analyzers.faces import FaceBox, FrameFaces
from bench.reduced_precision import face_agreement, per_second_counts


def _frame(t, *boxes):
    return FrameFaces(t, [FaceBox(box, 0.9) for box in boxes], reused=False)


def test_faces_match_by_overlap_and_the_rest_count_for_one_side():
    f32 = [_frame(0.0, (0, 0, 100, 100), (500, 0, 50, 50)), _frame(0.5, (0, 0, 100, 100)), _frame(1.0)]
    bf16 = [_frame(0.0, (10, 10, 100, 100), (580, 0, 50, 50)), _frame(0.5), _frame(1.0, (300, 300, 40, 40))]
    # (10, 10) overlaps (0, 0) by IoU 0.68: the same face; (580, 0) misses (500, 0): one face on each side
    assert face_agreement(f32, bf16) == {"both": 1, "only_f32": 2, "only_bf16": 2}
    assert face_agreement(f32, f32) == {"both": 3, "only_f32": 0, "only_bf16": 0}


def test_a_second_counts_the_most_faces_of_its_frames():
    found = [_frame(0.0, (0, 0, 9, 9)), _frame(0.5, (0, 0, 9, 9), (20, 0, 9, 9)), _frame(1.0), _frame(1.5)]
    assert per_second_counts(found, 3.0) == [2, 0, 0]  # second 2 has no frame: the picture of 1.5 s still shows
