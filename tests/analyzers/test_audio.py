import numpy as np
import pytest

from analyzers.audio import SILENCE_DB, WINDOW, analyze_audio, speech_probabilities, voiced_stretches
from analyzers.decode import decode_audio
from analyzers.probe import probe_video
from analyzers.records import DERIVED
from support.clips import SPEECH_AT, TONE_AT
from support.media_factory import place, speech, write_audio_store


def per_second(events, aspect):
    return [e.value for e in events if e.aspect == aspect]


def test_speech_is_found_where_spoken_and_not_in_a_tone(clip, tmp_path):
    probe = probe_video(clip)
    decode_audio(probe, tmp_path / "a.parquet")
    events = analyze_audio(tmp_path / "a.parquet", probe.duration_s)
    speech = per_second(events, "speech")
    assert len(speech) == 11
    assert speech[0] < 0.1 and max(speech[1:3]) > 0.8  # speech starts at 1 s
    tone_seconds = range(int(TONE_AT[0]), int(TONE_AT[0] + TONE_AT[1]))
    assert all(speech[s] < 0.1 for s in tone_seconds)
    assert speech[10] == 0.0
    assert SPEECH_AT[0] == 1.0


def test_loudness_follows_the_signal(clip, tmp_path):
    probe = probe_video(clip)
    decode_audio(probe, tmp_path / "a.parquet")
    loud = per_second(analyze_audio(tmp_path / "a.parquet", probe.duration_s), "loudness_db")
    assert loud[6] == pytest.approx(-13.5, abs=1.5)  # 0.3-amplitude sine: 20*log10(0.3/sqrt(2))
    assert loud[10] < -60
    assert loud[0] < loud[2]


def test_without_audio_every_second_is_silent_not_missing_and_marked_derived():
    events = analyze_audio(None, 3.5)
    assert per_second(events, "speech") == [0.0] * 4
    assert per_second(events, "loudness_db") == [SILENCE_DB] * 4
    # nothing was heard, so nothing was observed: the reconstruction score counts these cells 0
    assert all(e.detail[DERIVED] == "no audio stream" for e in events)


def test_speech_confidence_is_the_voice_probability_and_falls_with_noise(tmp_path):
    said = speech("Please open the red door and close the window.")
    rng = np.random.default_rng(0)
    mean_confidence = {}
    for noise in (0.0, 0.2):
        pcm = np.clip(place(5, [(1.0, said)]) + noise * rng.standard_normal(5 * 16_000).astype(np.float32), -1, 1)
        events = analyze_audio(write_audio_store(tmp_path / f"{noise}.parquet", pcm), 5.0)
        speech_events = [e for e in events if e.aspect == "speech"]
        assert [e.value >= 0.5 for e in speech_events] == [False, True, True, True, False]
        assert all(0.5 <= e.confidence <= 1.0 for e in speech_events)
        mean_confidence[noise] = float(np.mean([e.confidence for e in speech_events]))
    assert mean_confidence[0.0] > 0.95 and mean_confidence[0.2] < mean_confidence[0.0] - 0.05


def test_speech_across_a_chunk_border_stays_one_segment(tmp_path):
    store = write_audio_store(
        tmp_path / "audio.parquet", place(12, [(3.0, speech("Please open the red door and close the window."))])
    )
    whole = analyze_audio(store, 12.0)
    chunked = analyze_audio(store, 12.0, chunk_s=5)  # a border at 5 s, inside the sentence
    segments = lambda events: [t for e in events if e.aspect == "speech_segment" for t in (e.start_s, e.end_s)]  # noqa: E731
    assert len(segments(whole)) == len(segments(chunked)) >= 2
    assert segments(chunked) == pytest.approx(segments(whole), abs=0.1)
    assert per_second(chunked, "speech") == pytest.approx(per_second(whole, "speech"), abs=0.1)
    assert per_second(chunked, "loudness_db") == per_second(whole, "loudness_db")
    assert [e.start_s for e in chunked if e.aspect == "loudness_db"] == [float(s) for s in range(12)]


def test_the_torch_free_vad_gives_the_silero_packages_probabilities_and_stretches():
    """The ONNX model with its numpy front end against silero-vad's own torch model and rules (the test may
    import torch; the analyzer must not)."""
    import torch
    from silero_vad import get_speech_timestamps_from_probs, load_silero_vad

    said = speech("Please open the red door and close the window.")
    rng = np.random.default_rng(3)
    pcm = np.clip(place(6.01, [(0.5, said), (4.2, said[:8000])]) + 0.05 * rng.standard_normal(96_160), -1, 1)
    pcm = pcm.astype(np.float32)
    ours = speech_probabilities(pcm)
    model = load_silero_vad()
    model.reset_states()
    padded = torch.from_numpy(np.pad(pcm, (0, -len(pcm) % WINDOW)))
    theirs = np.array([model(padded[k : k + WINDOW], 16_000).item() for k in range(0, len(padded), WINDOW)])
    assert len(ours) == len(theirs) == 188
    assert np.abs(ours - theirs).max() < 1e-3
    assert (ours > 0.5).sum() > 50  # the speech is there

    def stretches(probs, n):
        found = get_speech_timestamps_from_probs(list(probs), sampling_rate=16_000, audio_length_samples=n)
        return [(s["start"], s["end"]) for s in found]

    assert voiced_stretches(ours, len(pcm)) == stretches(theirs, len(pcm)) != []
    # The rules' corners (short bursts, dips between the two thresholds, stretches that nearly touch, speech
    # running to the end) on random probability tracks.
    for seed in range(300):
        track = np.random.default_rng(seed)
        probs = np.repeat(track.uniform(0, 1, 40), track.integers(1, 12, 40))[: track.integers(20, 300)]
        n = len(probs) * WINDOW - int(track.integers(0, WINDOW))
        assert voiced_stretches(probs, n) == stretches(probs, n), seed
