"""Visibility: how much detail a picture shows, the evidence behind "found nothing" (analyzers/visibility.py)."""

import cv2
import numpy as np

from analyzers.visibility import visibility
from support.media_factory import caption, face_photo


def photo(width: int = 640, height: int = 360) -> np.ndarray:
    return cv2.resize(face_photo(), (width, height), interpolation=cv2.INTER_AREA)


def test_a_sharp_picture_at_the_detectors_size_is_fully_visible():
    assert visibility(photo()) > 0.9
    assert visibility(photo(1280, 720)) > 0.9  # larger than the working size: no more than fully visible


def test_blur_and_downscaling_each_lower_it():
    sharp = visibility(photo())
    blurred = visibility(cv2.GaussianBlur(photo(), (0, 0), 3))
    small = visibility(photo(160, 90))
    both = visibility(cv2.GaussianBlur(photo(160, 90), (0, 0), 1.5))
    assert blurred < 0.6 * sharp and small < 0.3 * sharp and both < small
    assert visibility(cv2.GaussianBlur(caption("Exit only", 640, 360), (0, 0), 4)) < visibility(
        caption("Exit only", 640, 360)
    )


def test_a_flat_picture_hides_nothing_so_only_its_size_counts():
    assert visibility(np.zeros((360, 640, 3), np.uint8)) == 1.0
    assert visibility(np.full((90, 160, 3), 128, np.uint8)) == 0.25
