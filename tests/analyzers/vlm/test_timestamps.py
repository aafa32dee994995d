import numpy as np
import pytest
import torch

from analyzers.vlm.adapters import adapter_for
from analyzers.vlm.planner import Geometry
from analyzers.vlm.prompts import get_prompt
from analyzers.vlm.timestamps import parse_answer, parse_time

W = list(range(10, 16))  # a window of seconds 10..15

FORMATS = [
    ("[12s] A man opens the door.", {12}),
    ("[12 s] A man opens the door.", {12}),
    ("[00:12] A man opens the door.", {12}),
    ("[0:00:12] A man opens the door.", {12}),
    ("(12s) A man opens the door.", {12}),
    ("[12] A man opens the door.", {12}),
    ("12s: A man opens the door.", {12}),
    ("12 sec - A man opens the door.", {12}),
    ("00:12 A man opens the door.", {12}),
    ("0:00:12 - A man opens the door.", {12}),
    ("At 12s, a man opens the door.", {12}),
    ("12-13s: A man opens the door.", {12}),
    ("12s-14s: A man opens the door.", {12, 13}),
    ("00:12-00:14 A man opens the door.", {12, 13}),
    ("[12-14s] A man opens the door.", {12, 13}),
    ("Second 12: A man opens the door.", {12}),
    ("seconds 12-14: A man opens the door.", {12, 13, 14}),
    ("sec 12 to 13 - A man opens the door.", {12, 13}),
    ("[12s]-[14s] A man opens the door.", {12, 13, 14}),
    ("- **[12s]** A man opens the door.", {12}),
    ("3. [12s] A man opens the door.", {12}),
    ("* 12.5s: A man opens the door.", {12}),
]


@pytest.mark.parametrize("answer,seconds", FORMATS)
def test_formats_models_produce(answer, seconds):
    parsed = parse_answer(answer, W)
    assert set(parsed.descriptions) == seconds
    assert all(d.lower() == "a man opens the door." for d in parsed.descriptions.values())


def test_one_line_per_second_and_several_markers_on_one_line():
    answer = (
        "[10s] A red car parks.\n[11s] The driver gets out. [12s] She locks the car.\n\n[13s] She walks away from it."
    )
    parsed = parse_answer(answer, W)
    assert parsed.descriptions == {
        10: "A red car parks.",
        11: "The driver gets out.",
        12: "She locks the car.",
        13: "She walks away from it.",
    }


def test_window_relative_times_are_shifted_to_the_video():
    parsed = parse_answer("[0s] A dog runs on grass.\n[1s] The dog stops and sits.", W)
    assert parsed.relative and parsed.descriptions == {10: "A dog runs on grass.", 11: "The dog stops and sits."}
    assert parsed.flags[10] == ["relative_time"]


def test_seconds_outside_the_window_are_dropped_not_shifted():
    parsed = parse_answer("[14s] A bird lands on a wire.\n[27s] The bird flies off again.", W)
    assert parsed.descriptions == {14: "A bird lands on a wire."} and parsed.out_of_window == 1 and not parsed.relative


def test_first_answer_wins_and_ranges_are_flagged():
    parsed = parse_answer("seconds 10-11: Two people talk at a table.\n[11s] One of them stands up.", W)
    assert parsed.descriptions == {10: "Two people talk at a table.", 11: "Two people talk at a table."}
    assert parsed.flags[10] == ["range"]


def test_list_numbers_and_prose_numbers_are_not_times():
    assert parse_answer("1. A man walks in.\n2. He sits down.", [0, 1, 2]).descriptions == {}
    assert parse_answer("[10s] The clock shows 00:13 and (2) cups stand there.", W).descriptions == {
        10: "The clock shows 00:13 and (2) cups stand there."
    }


def test_one_second_question_may_be_answered_without_label():
    assert parse_answer("  A woman waves at the camera.\n", [42]).descriptions == {42: "A woman waves at the camera."}
    assert parse_answer("A woman waves at the camera.", W).descriptions == {}  # several seconds need labels


GARBAGE = [
    "",
    "W9W9W9W9W9W9W9W9W9W9W9W9W9W9W9",
    "T9$\ufffdksLK+\ufffd screen\ufffd\ufffdex\ufffdyam\ufffdroding",
    "[12s] \ufffd\ufffd~~ 0x1f $$$ ###",
    "[12s] 12 13 14 15 16",
    "[12s]",
    "::::----",
    "[10s][11s][12s][13s]",
]


@pytest.mark.parametrize("answer", GARBAGE)
def test_garbage_gives_nothing(answer):
    assert parse_answer(answer, W).descriptions == {}
    assert parse_answer(answer, [12]).descriptions == {}


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "llava_next_video"])
def test_garbage_from_a_random_model_gives_nothing(loaded, family):
    model, processor = loaded[family]
    adapter = adapter_for(model, processor)
    geometry = Geometry(56, 56)
    fps = adapter.visual.min_frames_per_second
    clips = [adapter.prepare_clip([np.full((56, 56, 3), 40 * s, np.uint8)] * fps, geometry) for s in range(3)]
    inputs = adapter.encode([0, 1, 2], clips, fps, get_prompt("v1"))
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=60, do_sample=False)
    text = processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert parse_answer(text, [0, 1, 2]).descriptions == {}, text


def test_parse_time():
    assert parse_time("12s") == 12 and parse_time("00:12") == 12 and parse_time("1:02:03") == 3723
    assert parse_time("12.5 sec") == 12.5 and parse_time("7 seconds") == 7
