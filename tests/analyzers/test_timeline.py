import pandas as pd
import pytest

from analyzers.records import Event, events_frame, frame_events
from analyzers.timeline import (
    COMPOSED_SOURCE,
    CONTRACT_ASPECTS,
    build_timeline,
    compose_description,
    density_problems,
    reconstruction_score,
)


def per_second(aspect, values, source="test"):
    return [Event(s, s + 1, aspect, v, source=source) for s, v in enumerate(values)]


def test_events_round_trip_through_the_table():
    events = [Event(0.0, 1.0, "text", ["A", "b"], 0.9, "ocr", {"box": [1, 2, 3, 4]}), Event(1.5, 1.5, "cut", True)]
    assert frame_events(events_frame(events, "v")) == events


def test_one_row_per_second_with_nulls_for_what_was_not_analysed():
    events = events_frame(
        per_second("shot", [0, 0, 1]) + per_second("cut", [False, False, True]) + per_second("faces", [2, None, 0])[:1],
        "v",
    )
    timeline = build_timeline("v", 2.4, events)
    assert timeline["second"].tolist() == [0, 1, 2]
    assert timeline["end_s"].tolist() == [1.0, 2.0, 2.4]
    assert timeline["shot"].tolist() == [0, 0, 1]
    assert timeline["faces"].tolist()[0] == 2 and timeline["faces"].isna().tolist() == [False, True, True]
    assert timeline["camera"].isna().all()  # camera never analysed: null, not "unknown"


def test_language_is_a_string_column_null_where_speech_was_not_analysed():
    events = per_second("transcript", ["", "Guten Morgen"]) + per_second("language", ["", "de"])
    timeline = build_timeline("v", 3, events_frame(events, "v"))
    assert timeline["language"].tolist()[:2] == ["", "de"] and timeline["language"].isna().tolist() == [
        False,
        False,
        True,
    ]
    assert str(timeline["language"].dtype) == "string"
    assert timeline["coverage"].tolist()[0] == 1 / len(CONTRACT_ASPECTS)  # counted once, as the transcript


def test_found_nothing_is_not_null():
    timeline = build_timeline(
        "v", 2, events_frame(per_second("text", [[], ["EXIT"]]) + per_second("faces", [0, 0]), "v")
    )
    assert timeline["text"].tolist()[0].tolist() == [] and timeline["text"].tolist()[1].tolist() == ["EXIT"]
    assert timeline["faces"].tolist() == [0, 0]


def test_a_model_description_wins_over_the_composed_one():
    events = events_frame(
        per_second("camera", ["pan_left", "static"]) + [Event(0, 1, "description", "A dog runs.", source="qwen2-vl")],
        "v",
    )
    timeline = build_timeline("v", 2, events)
    assert timeline["description"].tolist()[0] == "A dog runs."
    assert timeline["description_source"].tolist() == ["qwen2-vl", COMPOSED_SOURCE]
    assert timeline["description"].tolist()[1] == "Static camera."


def test_composed_description_uses_every_observed_aspect():
    text = compose_description(
        {
            "shot": 2,
            "cut": True,
            "camera": "pan_right",
            "faces": 1,
            "text": ["SALE"],
            "transcript": "hello there",
            "objects": ["dog"],
            "speech": 1.0,
            "loudness_db": -20.0,
            "colour": "red",
            "brightness": 0.5,
        }
    )
    for part in ("Shot 3", "cut", "pan right", "1 face", "SALE", "hello there", "dog", "red"):
        assert part in text
    assert compose_description({}) is None


def test_score_counts_only_configured_aspects_and_coverage_counts_all():
    events = events_frame(
        per_second("shot", [0, 0]) + per_second("cut", [False, False]) + per_second("camera", ["static"]), "v"
    )
    timeline = build_timeline("v", 2, events)
    score = reconstruction_score(timeline, ("shot", "cut", "camera", "description"))
    assert score.per_aspect["camera"] == 0.5
    assert score.score == pytest.approx((1 + 1 + 0.5 + 1) / 4)
    assert timeline["coverage"].tolist() == [4 / len(CONTRACT_ASPECTS), 3 / len(CONTRACT_ASPECTS)]


def test_density_finds_gaps_duplicates_and_wrong_lengths():
    good = pd.DataFrame({"second": [0, 1, 2]})
    assert density_problems(good, 2.5) == []
    assert density_problems(pd.DataFrame({"second": [0, 2]}), 2.5) != []
    assert any("missing seconds [1]" in p for p in density_problems(pd.DataFrame({"second": [0, 2]}), 2.5))
    assert any("duplicate" in p for p in density_problems(pd.DataFrame({"second": [0, 1, 1]}), 3))
    assert density_problems(pd.DataFrame({"second": [0, 1]}), 3.0) != []
