"""The scores bench/audio_events.py publishes fall when what they measure gets worse."""

import numpy as np

from bench.audio_events import build_mix, mapped_accuracy, top_label_accuracy


def test_top_label_accuracy_counts_the_best_label_and_falls_with_wrong_or_missing_labels():
    truth = {0: "music", 1: "music", 2: "speech", 3: "speech"}
    accepted = {"music": {"Music", "Guitar"}, "speech": {"Speech"}}
    right = {0: ["Guitar", "Speech"], 1: ["Music"], 2: ["Speech"], 3: ["Speech", "Music"]}
    assert top_label_accuracy(right, truth, accepted)["pooled"] == 1.0
    worse = {**right, 1: ["Speech", "Music"], 3: []}  # a wrong best label, and nothing heard
    scored = top_label_accuracy(worse, truth, accepted)
    assert scored["pooled"] == 0.5 and scored["music"] == 0.5 and scored["speech"] == 0.5


def test_speaker_accuracy_is_invariant_to_id_names_and_falls_with_confusions():
    truth = {0: "ann", 1: "ann", 2: "bob", 3: "bob", 4: "cy", 5: "cy"}
    found = {0: "S2", 1: "S2", 2: "S1", 3: "S1", 4: "S3", 5: "S3"}
    assert mapped_accuracy(found, truth) == 1.0
    assert mapped_accuracy({**found, 3: "S2"}, truth) < 1.0
    assert mapped_accuracy({s: "S1" for s in truth}, truth) == round(2 / 6, 3)  # one id for everybody
    assert mapped_accuracy({**found, 5: None}, truth) == round(5 / 6, 3)


def test_a_mix_labels_only_seconds_one_sound_mostly_fills():
    sources = {"a": np.ones(32_000, np.float32) * 0.1, "b": np.ones(16_000, np.float32) * 0.1}
    spec = {
        "seconds": 5,
        "segments": [
            {"source": "a", "from_s": 0.0, "seconds": 1.5, "at_s": 0, "class": "x"},
            {"source": "b", "from_s": 0.0, "seconds": 1.0, "at_s": 1.8, "class": "y"},
            {"source": "a", "from_s": 0.0, "seconds": 1.0, "at_s": 3.6, "class": "x"},
        ],
    }
    track, truth = build_mix(spec, sources)
    assert len(track) == 5 * 16_000
    # 0: x; 1: x (0.5 s) and y (0.2 s) both sound; 2: y 0.8 s; 3: x only 0.4 s; 4: x 0.6 s
    assert truth == {0: "x", 2: "y", 4: "x"}
