import pytest

from bench.seen_quality import UNCLEAR, matched_faces

ANNA = ((100, 100, 50, 50), "anna")  # x, y, w, h
BEN = ((300, 100, 50, 50), "ben")


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((100, 100, 50, 50), [("anna", 7)]),  # the same box
        ((110, 100, 50, 50), [("anna", 7)]),  # shifted by a fifth: IoU 0.67
        ((125, 100, 50, 50), [("anna", 7)]),  # shifted by half: IoU 1/3, just above the bar (0.3)
        ((130, 100, 50, 50), []),  # IoU 0.25
        ((200, 100, 50, 50), []),  # between the two, touching neither
        ((295, 100, 50, 50), [("ben", 7)]),  # nearer Ben
        ((100, 100, 250, 50), []),  # spans both, overlaps each by 0.2: below the bar
    ],
)
def test_a_reported_face_goes_to_the_labelled_face_it_overlaps_most(box, expected):
    assert matched_faces([ANNA, BEN], [{"box": box, "person": 7}]) == expected


def test_faces_labelled_unclear_and_missing_labels_match_nothing():
    unclear = ((100, 100, 50, 50), UNCLEAR)
    assert matched_faces([unclear, BEN], [{"box": (100, 100, 50, 50), "person": 1}]) == []
    assert matched_faces([], [{"box": (100, 100, 50, 50), "person": 1}]) == []
    assert matched_faces([ANNA], []) == []


def test_each_reported_face_is_matched_on_its_own():
    reported = [{"box": (102, 100, 50, 50), "person": 1}, {"box": (98, 102, 50, 50), "person": 2}]
    assert matched_faces([ANNA, BEN], reported) == [("anna", 1), ("anna", 2)]
