"""Text scores against a truth that knows when each string is on screen (bench.perception_quality.text_scores,
bench.corpus's synthetic ground truth)."""

import json

import pytest

from analyzers.records import Event
from bench.corpus import _synthetic
from bench.perception_quality import text_scores

TRUTH = [[], ["Title"], ["Title"]]  # the truth's per-second list: the title at the middle of seconds 1 and 2
SHOWN = [["Title"], ["Title"], ["Title"]]  # on screen from 0.5 s: in second 0 too


def _read(*per_second):
    return [Event(float(s), s + 1.0, "text", strings) for s, strings in enumerate(per_second)]


@pytest.mark.parametrize(
    ("read", "shown", "precision"),
    [
        (_read(["Title"], ["Title"], ["Title"]), SHOWN, 1.0),  # on screen in second 0: right
        (_read(["Title"], ["Title"], ["Title"]), None, 0.6667),  # without `shown` the convention counts it wrong
        (_read(["Title", "★"], ["Title"], ["Title"]), SHOWN, 0.75),  # never on screen: wrong either way
        (_read(["Title", "★"], ["Title"], ["Title"]), None, 0.5),
        (_read([], ["Title"], ["T1tle"]), SHOWN, 0.5),  # a misreading stays wrong
    ],
)
def test_precision_counts_what_was_on_screen_in_the_second_and_falls_for_what_was_not(read, shown, precision):
    assert text_scores(read, TRUTH, shown)["precision_spaces_ignored"] == precision


def test_recall_is_still_against_the_truths_per_second_list():
    assert text_scores(_read([], ["Title"], []), TRUTH, SHOWN)["recall"] == 0.5
    assert text_scores(_read([], ["Title"], ["Title"]), TRUTH, SHOWN)["recall"] == 1.0


def test_the_synthetic_truth_lists_every_string_on_screen_at_any_time_in_a_second(tmp_path):
    seconds = [
        {"camera_motion": ["static"], "face_count": 0, "text": [], "speech": {"fraction": 0.0}},
        {"camera_motion": ["static"], "face_count": 0, "text": [{"string": "Title"}], "speech": {"fraction": 0.0}},
        {"camera_motion": ["static"], "face_count": 0, "text": [], "speech": {"fraction": 0.0}},
    ]
    events = [{"string": "Title", "start": 0.5, "end": 2.0}, {"string": "Count 1", "start": 2.0, "end": 3.0}]
    path = tmp_path / "clip.gt.json"
    path.write_text(json.dumps({"cuts": [], "seconds": seconds, "text_events": events, "utterances": []}))
    truth = _synthetic(path)
    assert truth.text == [[], ["Title"], []]
    assert truth.text_shown == [["Title"], ["Title"], ["Count 1"]]  # a string ending at 2.0 is not in second 2
