"""The labelled set's loader reads the clips' labels and passes over the other label files beside them."""

import json

from bench.accuracy import LABELS, load_labels


def test_every_clip_label_file_loads_and_the_audio_mixes_are_passed_over():
    files = sorted(LABELS.glob("*.json"))
    clips = [f.stem for f in files if "source" in json.loads(f.read_text())]
    assert len(clips) >= 10 and len(clips) < len(files)  # audio_mixes.json is not a clip's labels
    assert [lab.clip for lab in load_labels()] == clips
