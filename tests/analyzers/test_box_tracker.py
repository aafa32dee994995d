"""The tracker of one kind of object: ByteTrack's two matching stages, motion prediction, track lifetimes."""

from itertools import count

import numpy as np
import pytest

from analyzers.box_tracker import BoxTracker, corners, overlaps, pairs


def _square(x, y=0, side=60):
    return [x, y, x + side, y + side]


def _tracker(lost_s=1.5):
    return BoxTracker(sure=0.4, lost_s=lost_s, ids=count(1))


@pytest.mark.parametrize(
    "iou, expected",
    [
        (np.zeros((0, 2)), []),
        ([[0.5]], [(0, 0)]),
        ([[0.09]], []),  # below MIN_IOU: not the same object
        ([[0.6, 0.3]], [(0, 0)]),  # one track, two boxes: the one it overlaps more
        ([[0.6], [0.3]], [(0, 0)]),
        ([[0.5, 0.0], [0.0, 0.2]], [(0, 0), (1, 1)]),  # nothing contested
        ([[0.9, 0.8], [0.7, 0.05]], [(0, 1), (1, 0)]),  # taking the best pair first would leave the other unmatched
    ],
)
def test_pairs_have_the_largest_total_overlap_each_box_and_track_once(iou, expected):
    assert pairs(np.asarray(iou, float)) == expected


@pytest.mark.parametrize(
    "boxes, expected",
    [
        ([], np.zeros((0, 4))),  # a frame without boxes: no rows, still four columns
        ([(10, 20, 30, 40)], [[10, 20, 40, 60]]),  # x, y, width, height -> x0, y0, x1, y1
        ([(0, 0, 5, 5), (7, 3, 1, 2)], [[0, 0, 5, 5], [7, 3, 8, 5]]),
    ],
)
def test_corners_of_record_boxes(boxes, expected):
    np.testing.assert_array_equal(corners(boxes), np.asarray(expected, float).reshape(-1, 4))


def test_overlaps_of_boxes():
    a = np.array([_square(0), _square(100)], float)
    b = np.array([_square(30), _square(0), _square(500)], float)
    np.testing.assert_allclose(overlaps(a, b), [[1800 / 5400, 1.0, 0.0], [0.0, 0.0, 0.0]])


def test_two_objects_that_cross_keep_their_tracks():
    # A moves right and B left at 80 px/s, sampled at 2 fps; at 2.0 s, A's last box overlaps B's new box more
    # than A's own (0.5 against 0.2): only the predicted positions tell them apart.
    tracker = _tracker()
    ids = []
    for i in range(7):
        a, b = _square(40 * i), _square(300 - 40 * i, 10)
        ids.append(tracker.update(i / 2, np.array([a, b], float), [0.9, 0.9]))
    assert ids == [[1, 2]] * 7


def test_a_fast_object_keeps_its_track_over_a_frame_the_detector_missed():
    tracker = _tracker()
    times = [0.0, 0.5, 1.5]  # no box at 1.0 s; by 1.5 s the box has moved past its last place
    found = [tracker.update(t, np.array([_square(80 * t)], float), [0.9]) for t in times]
    assert found == [[1], [1], [1]]


@pytest.mark.parametrize("gap, same", [(1.0, True), (1.5, True), (2.0, False)])
def test_a_track_unseen_for_longer_than_lost_s_ends(gap, same):
    tracker = _tracker(lost_s=1.5)
    first = tracker.update(0.0, np.array([_square(0)], float), [0.9])
    again = tracker.update(gap, np.array([_square(0)], float), [0.9])
    assert (again == first) is same and again[0] is not None


def test_a_weak_box_extends_a_track_and_starts_none():
    tracker = _tracker()
    assert tracker.update(0.0, np.array([_square(300)], float), [0.3]) == [None]  # weak, no track there
    assert tracker.update(0.5, np.array([_square(0)], float), [0.9]) == [1]
    assert tracker.update(1.0, np.array([_square(5)], float), [0.3]) == [1]  # the detector hesitates
    assert tracker.update(1.5, np.array([_square(10)], float), [0.9]) == [1]


def test_a_sure_box_is_matched_before_a_weak_one():
    tracker = _tracker()
    tracker.update(0.0, np.array([_square(0)], float), [0.9])
    # The weak box overlaps the track more, but sure boxes are matched first; the weak one is left over.
    found = tracker.update(0.5, np.array([_square(0), _square(20)], float), [0.3, 0.9])
    assert found == [None, 1]


def test_trackers_sharing_an_id_sequence_never_give_one_id_twice():
    ids = count(1)
    people, cars = BoxTracker(0.4, 1.5, ids), BoxTracker(0.4, 1.5, ids)
    assert people.update(0.0, np.array([_square(0)], float), [0.9]) == [1]
    assert cars.update(0.0, np.array([_square(0)], float), [0.9]) == [2]
    assert people.update(0.5, np.array([_square(0), _square(200)], float), [0.9, 0.9]) == [1, 3]
