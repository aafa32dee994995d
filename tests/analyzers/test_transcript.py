"""Transcription of real synthesized speech (espeak-ng) by the offline Whisper models: the multilingual
base (German and English, the language per second, speech it cannot make out left out) and tiny.en."""

import numpy as np
import pytest

from analyzers import transcript
from analyzers.audio_store import AUDIO_RATE, iter_audio_windows
from support.media_factory import place, speech, write_audio_store
from support.words import word_error_rate, words

SENTENCE = "Please open the red door and close the window."
GERMAN = (
    "Guten Morgen und herzlich willkommen. Heute zeigen wir Ihnen die neue Bäckerei am Marktplatz. "
    "Die Brötchen sind frisch und die Preise sind günstig."
)
LOJBAN = "coi rodo mi klama le zarci .i do klama ma .i mi nelci le nu citka le plise .i ko sarji le nu tavla"


@pytest.fixture(scope="module")
def whisper():
    return transcript.load_whisper(transcript.resolve_whisper_folder(transcript.BUNDLED_MODEL))


@pytest.fixture(scope="module")
def whisper_base():
    return transcript.load_whisper(transcript.resolve_whisper_folder(transcript.DEFAULT_MODEL))


def _by_aspect(events, aspect):
    return [e for e in events if e.aspect == aspect]


def test_spoken_words_land_in_the_seconds_they_are_said(whisper, tmp_path):
    store = write_audio_store(tmp_path / "audio.parquet", place(8, [(2.0, speech(SENTENCE))]))
    events = _by_aspect(transcript.analyze_transcript(whisper, store, 8.0, source="whisper-tiny.en"), "transcript")
    assert [e.start_s for e in events] == [float(s) for s in range(8)]
    heard = " ".join(e.value for e in events)
    expected = words(SENTENCE)
    assert sum(w in words(heard) for w in expected) >= len(expected) - 1  # at most one word misheard
    assert [e.value for e in events[:2]] == ["", ""]  # silence before the speech
    said = [e for e in events if e.value]
    assert 2 <= said[0].start_s <= 3 and said[-1].start_s <= 6
    for event in said:
        for word in event.detail["words"]:
            assert int((word["start"] + word["end"]) / 2) == int(event.start_s) and 0 <= word["p"] <= 1
        assert event.confidence is not None


def test_a_video_without_audio_is_analysed_as_silent(whisper):
    events = transcript.analyze_transcript(whisper, None, 2.5, source="whisper-tiny.en")
    assert [(e.start_s, e.value) for e in _by_aspect(events, "transcript")] == [(0.0, ""), (1.0, ""), (2.0, "")]
    assert [e.value for e in _by_aspect(events, "language")] == ["", "", ""]


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
    heard = lambda events: words(" ".join(e.value for e in _by_aspect(events, "transcript")))  # noqa: E731
    expected = words(SENTENCE)
    assert sum(w in heard(whole) for w in expected) >= len(expected) - 1
    assert heard(chunked) == heard(whole)  # nothing lost, split or said twice at the border


def test_german_speech_is_transcribed_in_german_with_its_language(whisper_base, tmp_path):
    pcm = speech(GERMAN, voice="de")
    seconds = len(pcm) / AUDIO_RATE + 1
    store = write_audio_store(tmp_path / "audio.parquet", place(seconds, [(0.5, pcm)]))
    events = transcript.analyze_transcript(whisper_base, store, seconds, source="whisper-base")
    said, languages = _by_aspect(events, "transcript"), _by_aspect(events, "language")
    assert word_error_rate(GERMAN, " ".join(e.value for e in said)) <= 0.3
    assert {e.value for e, w in zip(languages, said) if w.value} == {"de"}
    assert all(e.value == "" for e, w in zip(languages, said) if not w.value)
    assert np.mean([e.confidence for e in said if e.value]) >= 0.75
    assert all(w["language"] == "de" for e in said for w in e.detail["words"])
    assert transcript.languages_heard(events) == {"de": sum(1 for e in said if e.value)}


def test_each_window_is_encoded_once_when_its_language_is_detected(whisper_base, monkeypatch):
    """Multilingual decoding detects each window's language from the encoding it decodes with; faster-whisper's
    own detection up front would encode the first window a second time (a third of a short clip's time)."""
    encoded = []
    encode = whisper_base.encode
    monkeypatch.setattr(whisper_base, "encode", lambda features: encoded.append(features.shape) or encode(features))
    words = transcript.transcribe_words(whisper_base, place(12, [(0.5, speech(GERMAN[:80], voice="de"))]))
    assert {w.language for w in words} == {"de"}  # the placeholder language given to skip the detection decides nothing
    assert len(encoded) == 1


def test_english_stays_right_with_the_multilingual_model(whisper_base, tmp_path):
    store = write_audio_store(tmp_path / "audio.parquet", place(5, [(0.5, speech(SENTENCE))]))
    events = transcript.analyze_transcript(whisper_base, store, 5.0, source="whisper-base")
    assert word_error_rate(SENTENCE, " ".join(e.value for e in _by_aspect(events, "transcript"))) <= 0.1
    assert set(transcript.languages_heard(events)) == {"en"}


def test_speech_the_model_cannot_make_out_gives_an_empty_low_confidence_transcript(whisper_base, whisper, tmp_path):
    """Lojban (a language Whisper was not trained on) for base, German for English-only tiny.en: Whisper
    writes guesses (Latin or Spanish words, English nonsense); they stay out of the transcript."""
    german = speech(GERMAN, voice="de")
    for model, pcm in ((whisper_base, speech(LOJBAN, voice="jbo")), (whisper, german)):
        seconds = len(pcm) / AUDIO_RATE + 1
        store = write_audio_store(tmp_path / "audio.parquet", place(seconds, [(0.5, pcm)]))
        events = transcript.analyze_transcript(model, store, seconds, source="w")
        said = _by_aspect(events, "transcript")
        assert [e.value for e in said] == [""] * len(said)
        assert [e.value for e in _by_aspect(events, "language")] == [""] * len(said)
        guessed = [e for e in said if e.detail["unclear"]]
        assert guessed  # Whisper did write words there: they were left out
        assert all(e.confidence < transcript.MIN_SEGMENT_P for e in guessed)


def test_confidence_drops_when_the_speech_is_harder_to_make_out(whisper_base, tmp_path):
    pcm = place(6, [(0.5, speech(SENTENCE))])
    noisy = pcm + np.random.default_rng(0).normal(0, 0.12, len(pcm)).astype(np.float32)

    def mean_confidence(track):
        store = write_audio_store(tmp_path / "audio.parquet", track)
        said = _by_aspect(transcript.analyze_transcript(whisper_base, store, 6.0, source="w"), "transcript")
        return np.mean([e.confidence for e in said if e.confidence is not None])

    assert mean_confidence(noisy) < mean_confidence(pcm) - 0.05


def test_an_english_only_model_refuses_another_language(whisper):
    with pytest.raises(transcript.WhisperModelError, match=r"'de'.*English-only"):
        transcript.transcribe_words(whisper, speech(SENTENCE), language="de")


@pytest.mark.parametrize(("languages", "decoded_in"), [(("de", "en"), {"de"}), (("en", "fr"), {"en", "fr"})])
def test_language_detection_chooses_among_the_configured_languages_only(tmp_path, languages, decoded_in):
    """German speech: kept to German and English it is German; kept to English and French, Whisper must decode it
    in one of those (its words are then guesses, left out or not), never in German."""
    model = transcript.load_whisper(transcript.resolve_whisper_folder(transcript.DEFAULT_MODEL), languages=languages)
    words = transcript.transcribe_words(model, place(6, [(0.5, speech(GERMAN[:60], voice="de"))]))
    assert words and {w.language for w in words} <= decoded_in
    assert all(w.language_p is not None and 0 < w.language_p <= 1 for w in words)


@pytest.mark.parametrize("codes", ["de", [], ["de", "xx"], [3]])
def test_the_languages_option_must_be_a_list_of_whisper_language_codes(codes):
    with pytest.raises(transcript.WhisperModelError, match="languages: "):
        transcript.whisper_languages(codes)


def test_an_english_only_model_refuses_languages_beyond_english(tmp_path):
    english_only = transcript.load_whisper(
        transcript.resolve_whisper_folder(transcript.BUNDLED_MODEL), languages=("de",)
    )
    with pytest.raises(transcript.WhisperModelError, match=r"languages \['de'\].*English-only"):
        transcript.transcribe_words(english_only, speech(SENTENCE))
