import pandas as pd
import pytest

from analyzers.records import Event, events_frame, frame_events, per_second_spans, seconds_in
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


@pytest.mark.parametrize(
    ("duration", "rows", "last_span"),
    [
        (0.0, 1, (0.0, 1.0)),  # nothing measured: still one slot
        (0.4, 1, (0.0, 0.4)),
        (2.0, 2, (1.0, 2.0)),
        (2.008, 2, (1.0, 2.008)),  # Opus pre-skip, AAC padding: no row for 8 ms
        (10.01, 10, (9.0, 10.01)),  # 300 frames at 29.97 fps
        (2.0999, 2, (1.0, 2.0999)),
        (2.1, 3, (2.0, 2.1)),  # a tenth of a second is a second of its own
        (2.5, 3, (2.0, 2.5)),
    ],
)
def test_a_rest_under_a_tenth_of_a_second_joins_the_last_second(duration, rows, last_span):
    spans = per_second_spans(duration)
    assert seconds_in(duration) == len(spans) == rows
    assert spans[-1][1:] == last_span
    assert all(end == start + 1 for _, start, end in spans[:-1])


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


@pytest.mark.parametrize(
    ("colour", "brightness", "said"),
    [
        ("grey", 0.1, "dark grey image"),
        ("black", 0.02, "black image"),  # not "dark black"
        ("white", 0.95, "white image"),  # not "bright white"
        ("yellow", 0.8, "bright yellow image"),
        ("blue", 0.5, "blue image"),
    ],
)
def test_the_composed_description_names_the_tone_only_where_the_colour_does_not(colour, brightness, said):
    assert compose_description({"colour": colour, "brightness": brightness}) == said.capitalize() + "."


def test_score_counts_only_configured_aspects_and_coverage_counts_all():
    events = events_frame(
        per_second("shot", [0, 0]) + per_second("cut", [False, False]) + per_second("camera", ["static"]), "v"
    )
    timeline = build_timeline("v", 2, events)
    score = reconstruction_score(timeline, ("shot", "cut", "camera", "description"))
    assert score.per_aspect["camera"] == 0.5
    # the composed description fills the column (coverage) but counts 0 in the score
    assert score.per_aspect["description"] == 0.0 and score.aspects["description"].derived == 1.0
    assert score.score == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    assert score.coverage == pytest.approx((1 + 1 + 0.5 + 1) / 4)
    assert timeline["coverage"].tolist() == [4 / len(CONTRACT_ASPECTS), 3 / len(CONTRACT_ASPECTS)]
    assert timeline["derived"].tolist()[0].tolist() == ["description"]


def test_a_composed_description_scores_below_a_model_description_by_its_confidence():
    observed = per_second("shot", [0, 0]) + per_second("cut", [False, False])
    aspects = ("shot", "cut", "description")
    composed = reconstruction_score(build_timeline("v", 2, events_frame(observed, "v"), aspects), aspects)
    model = [Event(s, s + 1, "description", f"A dog runs in second {s}.", 0.8, "vlm") for s in range(2)]
    described = reconstruction_score(build_timeline("v", 2, events_frame(observed + model, "v"), aspects), aspects)
    assert composed.score == pytest.approx(2 / 3, abs=1e-4) and composed.per_aspect["description"] == 0.0
    assert described.per_aspect["description"] == 0.8 and described.score == pytest.approx(2.8 / 3, abs=1e-4)
    assert described.model_described_seconds == 2 and composed.model_described_seconds == 0


def test_each_cell_counts_its_confidence_and_found_nothing_counts_the_evidence():
    events = events_frame(
        [
            Event(0, 1, "faces", 2, 0.7, "det"),  # found: its detection score
            Event(1, 2, "faces", 0, None, "det"),  # found nothing in a sharp picture
            Event(2, 3, "faces", 0, None, "det"),  # found nothing in a blurred, tiny one
            Event(3, 4, "faces", 0, 0.9, "det"),  # the analyzer says how sure its "nothing" is
        ]
        + per_second("visibility", [1.0, 0.95, 0.1, 0.1])
        + per_second("speech", [0.0, 1.0, 0.0, 0.0])
        + per_second("transcript", ["", "", "hello", ""]),
        "v",
    )
    timeline = build_timeline("v", 4, events)
    weights = pd.DataFrame(list(timeline["confidence"]))
    assert weights["faces"].tolist() == [0.7, 0.95, 0.1, 0.9]
    # an empty transcript is as sure as the voice detector that nobody spoke (speech carries no confidence
    # here, so counts 1); where it heard voice, "nothing said" is not an observation
    assert weights["transcript"].tolist() == [1.0, 0.0, 1.0, 1.0]
    score = reconstruction_score(timeline, ("faces",))
    assert score.score == pytest.approx((0.7 + 0.95 + 0.1 + 0.9) / 4)
    assert score.aspects["faces"].unsure == pytest.approx(1 - score.score)
    assert timeline["score"].tolist() == pytest.approx(
        [float(weights.loc[s].fillna(0).mean()) for s in range(4)], abs=1e-4
    )


def test_silence_without_an_audio_stream_is_derived_and_counts_zero():
    from analyzers.audio import analyze_audio

    events = events_frame(analyze_audio(None, 3) + per_second("transcript", ["", "", ""]), "v")
    aspects = ("speech", "transcript", "loudness_db")
    timeline = build_timeline("v", 3, events, aspects)
    assert timeline["speech"].tolist() == [0.0] * 3 and timeline["loudness_db"].tolist() == [-120.0] * 3
    score = reconstruction_score(timeline, aspects)
    assert score.score == 0.0 and score.coverage == 1.0
    assert all(score.aspects[a].derived == 1.0 for a in aspects)
    assert score.reasons() == [f"{a} 0.00 (derived 100%)" for a in aspects]


def test_seconds_whose_stream_did_not_decode_are_not_analysed_and_part_decoded_ones_count_less():
    events = events_frame(
        per_second("shot", [0, 0, 0, 0])
        + per_second("camera", ["static"] * 4)
        + per_second("speech", [0.0] * 4)
        + per_second("video_decoded", [1.0, 0.4, 0.8, 1.0])
        + [Event(s, s + 1, "audio_decoded", 1 - lost, detail={"lost": lost}) for s, lost in enumerate([0, 0, 0.7, 0])],
        "v",
    )
    timeline = build_timeline("v", 4, events)
    assert timeline["shot"].isna().tolist() == [False, True, False, False]
    assert timeline["camera"].isna().tolist() == [False, True, False, False]
    assert timeline["speech"].isna().tolist() == [False, False, True, False]
    weights = pd.DataFrame(list(timeline["confidence"]))
    assert weights["shot"].tolist()[2] == 0.8 and weights["speech"].tolist()[3] == 1.0
    score = reconstruction_score(timeline, ("shot", "speech"))
    assert score.aspects["shot"].not_analysed == 0.25 and score.aspects["shot"].score == pytest.approx(2.8 / 4)
    assert score.reasons() == [
        "shot 0.70 (not analysed 25%, confidence 0.93 where observed)",
        "speech 0.75 (not analysed 25%)",
    ]


def test_seconds_without_a_frame_shown_see_nothing_and_score_less_than_seen_ones():
    """Frame analyzers carry the last frame over seconds after the picture ended; the timeline shows nothing seen
    there, marks every video aspect derived and counts them 0, so the score falls where the picture is missing."""
    from analyzers.records import DERIVED

    def timeline_with_picture_until(second):
        shown = [Event(s, s + 1, "video_decoded", 1.0) for s in range(second)]
        blank = [Event(s, s + 1, "video_decoded", 1.0, detail={DERIVED: "no picture"}) for s in range(second, 3)]
        events = (
            per_second("shot", [0, 0, 0])
            + per_second("camera", ["static"] * 3)
            + [Event(s, s + 1, "faces", 2, 0.9) for s in range(3)]  # the last frame's faces, carried over
            + per_second("text", [["EXIT"]] * 3)
            + per_second("speech", [0.9] * 3)
            + per_second("brightness", [0.5] * 3)
            + shown
            + blank
        )
        return build_timeline("v", 3, events_frame(events, "v"))

    whole, cut_short = timeline_with_picture_until(3), timeline_with_picture_until(1)
    assert cut_short["faces"].tolist() == [2, 0, 0] and [list(t) for t in cut_short["text"]] == [["EXIT"], [], []]
    assert cut_short["brightness"].isna().tolist() == [False, True, True]
    assert cut_short["shot"].tolist() == [0, 0, 0] and cut_short["speech"].tolist() == [0.9] * 3
    assert [sorted(d) for d in cut_short["derived"]][1] == sorted(
        ["shot", "camera", "faces", "objects", "text", "description", "object_tracks", "persons"]
    )
    assert cut_short["description"].tolist()[1] == "No picture; someone speaks."
    assert cut_short["score"].tolist()[0] == whole["score"].tolist()[0]
    assert all(cut < seen for cut, seen in zip(cut_short["score"].tolist()[1:], whole["score"].tolist()[1:]))
    assert reconstruction_score(cut_short, CONTRACT_ASPECTS).score < reconstruction_score(whole, CONTRACT_ASPECTS).score


def test_density_finds_gaps_duplicates_and_wrong_lengths():
    good = pd.DataFrame({"second": [0, 1, 2]})
    assert density_problems(good, 2.5) == []
    assert density_problems(pd.DataFrame({"second": [0, 2]}), 2.5) != []
    assert any("missing seconds [1]" in p for p in density_problems(pd.DataFrame({"second": [0, 2]}), 2.5))
    assert any("duplicate" in p for p in density_problems(pd.DataFrame({"second": [0, 1, 1]}), 3))
    assert density_problems(pd.DataFrame({"second": [0, 1]}), 3.0) != []


def test_object_tracks_and_persons_columns_keep_null_apart_from_nothing_and_score_their_confidence():
    events = events_frame(
        [
            Event(0, 1, "object_tracks", ["car#1", "person#2"], 0.8, "nanodet"),
            Event(1, 2, "object_tracks", [], None, "nanodet"),  # looked, nothing: the picture's visibility counts
            Event(0, 1, "persons", ["P1"], 0.6, "dlib"),
            Event(1, 2, "persons", ["P1", "P2"], 0.9, "dlib"),
            Event(0, 3, "object_track", "car#1", 0.8, "nanodet"),  # the track table: not a column
        ]
        + per_second("visibility", [1.0, 0.5, 1.0]),
        "v",
    )
    timeline = build_timeline("v", 3, events)
    assert [list(v) if v is not None else None for v in timeline["object_tracks"]] == [["car#1", "person#2"], [], None]
    assert [list(v) if v is not None else None for v in timeline["persons"]] == [["P1"], ["P1", "P2"], None]
    weights = pd.DataFrame(list(timeline["confidence"]))
    assert weights["object_tracks"].tolist()[:2] == [0.8, 0.5] and pd.isna(weights["object_tracks"][2])
    score = reconstruction_score(timeline, ("object_tracks", "persons"))
    assert score.aspects["persons"].score == pytest.approx((0.6 + 0.9) / 3)
    assert score.aspects["object_tracks"].not_analysed == pytest.approx(1 / 3, abs=1e-4)
