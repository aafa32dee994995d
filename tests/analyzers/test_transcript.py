"""Transcription of real synthesized speech (espeak-ng) by the offline Whisper tiny.en model."""

import re

import numpy as np
import pytest

from analyzers import transcript
from analyzers.audio_store import AUDIO_RATE, iter_audio_windows
from support.media_factory import place, speech, write_audio_store

SENTENCE = "Please open the red door and close the window."


@pytest.fixture(scope="module")
def whisper():
    return transcript.load_whisper(transcript.resolve_whisper_folder(transcript.BUNDLED_MODEL))


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z ]", "", text.lower()).split()


def test_spoken_words_land_in_the_seconds_they_are_said(whisper, tmp_path):
    store = write_audio_store(tmp_path / "audio.parquet", place(8, [(2.0, speech(SENTENCE))]))
    events = transcript.analyze_transcript(whisper, store, 8.0, source="whisper-tiny.en")
    assert [e.start_s for e in events] == [float(s) for s in range(8)] and {e.aspect for e in events} == {"transcript"}
    heard = " ".join(e.value for e in events)
    expected = _words(SENTENCE)
    assert sum(w in _words(heard) for w in expected) >= len(expected) - 1  # at most one word misheard
    assert [e.value for e in events[:2]] == ["", ""]  # silence before the speech
    said = [e for e in events if e.value]
    assert 2 <= said[0].start_s <= 3 and said[-1].start_s <= 6
    for event in said:
        for word in event.detail["words"]:
            assert int((word["start"] + word["end"]) / 2) == int(event.start_s) and 0 <= word["p"] <= 1
        assert event.confidence is not None


def test_a_video_without_audio_is_analysed_as_silent(whisper):
    events = transcript.analyze_transcript(whisper, None, 2.5, source="whisper-tiny.en")
    assert [(e.start_s, e.value) for e in events] == [(0.0, ""), (1.0, ""), (2.0, "")]


def test_a_folder_that_is_not_a_ctranslate2_model_is_refused_with_its_name(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(
        transcript.WhisperModelError, match=rf"{tmp_path}.*missing model.bin.*ct2-transformers-converter"
    ):
        transcript.resolve_whisper_folder(str(tmp_path))
    with pytest.raises(transcript.WhisperModelError, match="not found"):
        transcript.resolve_whisper_folder(str(tmp_path / "absent"))


@pytest.mark.parametrize("seconds, chunk_s, pad_s", [(23, 5, 2), (20, 5, 2), (21, 5, 5), (4, 5, 2), (12, 4, 0)])
def test_padded_audio_windows_answer_for_every_second_once(tmp_path, seconds, chunk_s, pad_s):
    ramp = np.arange(seconds * AUDIO_RATE, dtype=np.float32) / (seconds * AUDIO_RATE)  # each sample's time, as a level
    store = write_audio_store(tmp_path / "audio.parquet", ramp)
    windows = list(iter_audio_windows(store, chunk_s, pad_s))
    kept = [s for w in windows for s in range(seconds) if w.keep_from <= s < w.keep_to]
    assert kept == list(range(seconds))  # every second answered for by exactly one window
    for w in windows:
        first, last = max(0, w.keep_from - pad_s), min(seconds, w.keep_to + pad_s)
        assert w.start_s == first and len(w.pcm) == (last - first) * AUDIO_RATE
        np.testing.assert_allclose(w.pcm, ramp[first * AUDIO_RATE : last * AUDIO_RATE], atol=1 / 32767)


def test_a_sentence_across_a_chunk_border_is_heard_whole_once(whisper, tmp_path):
    store = write_audio_store(tmp_path / "audio.parquet", place(12, [(3.0, speech(SENTENCE))]))  # spoken ~3-6 s
    whole = transcript.analyze_transcript(whisper, store, 12.0, source="w")
    chunked = transcript.analyze_transcript(whisper, store, 12.0, source="w", chunk_s=5)  # a border at 5 s
    heard = lambda events: _words(" ".join(e.value for e in events))  # noqa: E731
    expected = _words(SENTENCE)
    assert sum(w in heard(whole) for w in expected) >= len(expected) - 1
    assert heard(chunked) == heard(whole)  # nothing lost, split or said twice at the border
