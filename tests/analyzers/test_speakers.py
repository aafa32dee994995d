import numpy as np
import pytest
import torch

from analyzers import progress
from analyzers import speakers as sp
from analyzers.records import DERIVED, Event
from support.media_factory import place, speech, theme_sound, tone, write_audio_store


class TorchEncoder(torch.nn.Module):
    """The reference network (PyTorch's own LSTM), tiny and random, to check the numpy encoder against."""

    def __init__(self, hidden=8, layers=2, mels=sp.N_MELS):
        super().__init__()
        self.lstm = torch.nn.LSTM(mels, hidden, layers, batch_first=True)
        self.linear = torch.nn.Linear(hidden, hidden)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        raw = torch.relu(self.linear(h[-1]))
        return raw / raw.norm(dim=1, keepdim=True)


def test_the_numpy_encoder_computes_what_the_torch_network_computes(tmp_path):
    torch.manual_seed(0)
    reference = TorchEncoder()
    path = tmp_path / "tiny.pt"
    torch.save({"model_state": reference.state_dict(), "step": 1}, path)
    features = np.random.default_rng(1).random((5, 30, sp.N_MELS)).astype(np.float32)
    ours = sp.SpeakerEncoder(sp.read_state(path)).embed(features, batch=2)
    with torch.no_grad():
        expected = reference(torch.from_numpy(features)).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    (tmp_path / "bad.pt").write_bytes(b"no checkpoint")
    with pytest.raises(sp.SpeakerModelError, match=r"bad\.pt"):
        sp.read_state(tmp_path / "bad.pt")


def test_the_weights_are_read_with_torch_once_then_from_the_cache(tmp_path, monkeypatch):
    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    torch.save({"model_state": TorchEncoder().state_dict()}, path)
    first = sp.cached_state(path, tmp_path / "cache")
    (cached,) = (tmp_path / "cache").glob("speaker-encoder-*.npz")

    def no_torch(_path):
        raise AssertionError("the checkpoint was read again")

    monkeypatch.setattr(sp, "read_state", no_torch)
    again = sp.cached_state(path, tmp_path / "cache")
    assert again.keys() == first.keys()
    for name, value in first.items():
        np.testing.assert_array_equal(again[name], value)
    cached.write_bytes(b"damaged")  # a damaged cache is read from the checkpoint again
    with pytest.raises(AssertionError, match="read again"):
        sp.cached_state(path, tmp_path / "cache")


def test_features_put_a_tone_in_its_mel_band_and_raise_quiet_windows():
    mel = sp.mel_frames(tone(1.0, 1000.0))
    assert mel.shape == (101, sp.N_MELS)
    peak_hz = sp.mel_matrix().argmax(axis=0) * 16_000 / sp.N_FFT
    assert abs(peak_hz[int(mel.mean(axis=0).argmax())] - 1000.0) < 100
    quiet = tone(1.0, 300.0, level=0.001)
    assert np.sqrt(np.mean(sp.raise_level(quiet) ** 2)) == pytest.approx(10 ** (-30 / 20), rel=1e-3)
    loud = tone(1.0, 300.0, level=0.5)
    assert np.array_equal(sp.raise_level(loud), loud)  # never quieter


def test_windows_past_either_end_of_the_track_are_whole():
    pcm = tone(2.3, 300.0)
    features = sp.window_features(pcm, [0.0, 1.0, 2.25, 5.0])  # 5.0: wholly past the end
    assert features.shape == (4, sp.PARTIAL_FRAMES, sp.N_MELS)
    assert features[3].max() == 0 and features[1].min() > 0


def turns(rng, centres, pattern, noise):
    emb = np.stack([centres[k] + noise * rng.standard_normal(centres.shape[1]) for k in pattern])
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def accuracy(truth, found):
    # every true speaker mapped to the id it got most often (ids are distinct per speaker here)
    best = {t: np.bincount(found[truth == t]).argmax() for t in np.unique(truth)}
    return float(np.mean([best[t] == f for t, f in zip(truth, found)]))


def test_clustering_finds_the_speakers_in_turn_order_and_degrades_with_noise():
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((3, 64))
    pattern = np.array([2] * 6 + [0] * 5 + [1] * 7 + [2] * 4 + [0] * 6)
    labels, confidence = sp.cluster_speakers(turns(rng, centres, pattern, 0.05))
    assert labels.tolist() == [0] * 6 + [1] * 5 + [2] * 7 + [0] * 4 + [1] * 6  # ids in order of appearance
    assert confidence.min() > 0.9
    noisy_labels, noisy_confidence = sp.cluster_speakers(turns(rng, centres, pattern, 1.0))
    assert accuracy(pattern, noisy_labels) < 1.0 or len(set(noisy_labels)) != 3
    assert noisy_confidence.mean() < confidence.mean() - 0.1


def _merged_by_matrix(emb, members, merge_similarity):
    """The specification of the run merging: average linkage over the full clusters x clusters matrix."""
    link = np.array([[emb[a].sum(0) @ emb[b].sum(0) / (len(a) * len(b)) for b in members] for a in members])
    np.fill_diagonal(link, -np.inf)
    members = [list(m) for m in members]
    while True:
        i, j = np.unravel_index(np.argmax(link), link.shape)
        if link[i, j] < merge_similarity:
            return sorted(sorted(m) for m in members if m)
        members[i] += members[j]
        members[j] = []
        sums = emb[members[i]].sum(0)
        link[i] = link[:, i] = [sums @ emb[m].sum(0) / (len(members[i]) * len(m)) if m else -np.inf for m in members]
        link[i, i] = -np.inf
        link[j] = link[:, j] = -np.inf


@pytest.mark.parametrize("noise", [0.3, 0.8, 1.5])  # a few long runs ... a run for nearly every second
def test_runs_are_merged_as_the_full_matrix_would_merge_them_without_one(noise, monkeypatch):
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((4, 32))
    pattern = np.repeat(rng.integers(0, 4, 60), 5)
    emb = turns(rng, centres, pattern, noise)
    runs = [list(range(k, k + 3)) for k in range(0, len(emb), 3)]
    blocks = []
    outer = np.outer

    def measured(a, b):
        blocks.append(len(a) * len(b))
        return outer(a, b)

    monkeypatch.setattr(np, "outer", measured)
    monkeypatch.setattr(sp, "BLOCK", 7 * len(runs))
    merged = [list(r) for r in runs]
    alive = sp._merge_runs(emb, merged, sp.MERGE_SIMILARITY)
    monkeypatch.undo()
    assert max(blocks) <= 7 * len(runs)  # never every pair of clusters at once
    assert sorted(sorted(merged[k]) for k in np.flatnonzero(alive)) == _merged_by_matrix(emb, runs, sp.MERGE_SIMILARITY)


def test_a_long_tracks_seconds_are_embedded_a_chunk_at_a_time_as_from_the_whole_track(tmp_path, monkeypatch):
    voice = np.concatenate([theme_sound(f"audio-channel-{side}") for side in ("front-left", "front-right")])
    robot = speech("The next train to the airport leaves from platform four", voice="en-us")
    track = place(11, [(0.0, voice[: 3 * 16_000]), (3.2, robot[: 4 * 16_000]), (7.5, voice[: 3 * 16_000])])
    store = write_audio_store(tmp_path / "a.parquet", track)
    vad = {s: (1.0, 0.9, False) for s in range(11)}
    whole, _ = sp.analyze_speakers(store, 11.0, vad)
    windows = []
    iter_windows = sp.iter_audio_windows

    def measured(*args):
        for window in iter_windows(*args):
            windows.append(len(window.pcm))
            yield window

    monkeypatch.setattr(sp, "iter_audio_windows", measured)
    monkeypatch.setattr(sp, "CHUNK_S", 3)
    monkeypatch.setattr(progress, "EVERY_S", 0.0)
    lines = []
    chunked, _ = sp.analyze_speakers(store, 11.0, vad, progress=lines.append)
    assert len(windows) == 4 and max(windows) <= (3 + 2 * sp.PAD_S) * 16_000
    assert lines == [f"embedding voices: {t}/11 s of video" for t in (3, 6, 9, 11)]  # the log says how far
    assert [e.value for e in chunked] == [e.value for e in whole]
    assert [e.confidence for e in chunked] == pytest.approx([e.confidence for e in whole])


def test_a_speaker_heard_for_one_second_is_folded_into_the_nearest():
    rng = np.random.default_rng(4)
    centres = rng.standard_normal((2, 64))
    pattern = [0] * 5 + [1] + [0] * 5
    labels, _ = sp.cluster_speakers(turns(rng, centres, pattern, 0.05))
    assert set(labels.tolist()) == {0}
    # heard twice, never two seconds in a row (seconds blending two voices at turns): no new speaker either
    twice = [0] * 4 + [1] + [0] * 4 + [1] + [0] * 4
    labels, _ = sp.cluster_speakers(turns(rng, centres, twice, 0.05), np.arange(len(twice)))
    assert set(labels.tolist()) == {0}
    # two seconds in a row are a turn: a second speaker
    turn = [0] * 4 + [1, 1] + [0] * 4
    labels, _ = sp.cluster_speakers(turns(rng, centres, turn, 0.05), np.arange(len(turn)))
    assert labels.tolist() == turn


def test_a_real_voice_and_a_synthetic_one_are_two_speakers_and_the_first_returns(tmp_path):
    voice = theme_sound("audio-channel-front-left")  # a recorded human voice, about 1 s
    human = np.concatenate([voice, theme_sound("audio-channel-front-right"), theme_sound("audio-channel-rear-left")])
    robot = speech("Welcome to the station, the train leaves at nine", voice="en-us")
    track = place(13, [(0.0, human[: 4 * 16_000]), (4.5, robot[: 4 * 16_000]), (9.0, human[: 4 * 16_000])])
    store = write_audio_store(tmp_path / "a.parquet", track)
    from analyzers.audio import analyze_audio

    vad = sp.speech_by_second(analyze_audio(store, 13.0))
    events, summary = sp.analyze_speakers(store, 13.0, vad)
    who = {int(e.start_s): e.value for e in events}
    assert summary["speakers"] == 2
    first, second = who[1], who[6]
    assert first and second and first != second
    assert who[10] == first  # the same voice keeps its id after another spoke
    silent = [s for s, (share, _, _) in vad.items() if share < sp.MIN_SPEECH]
    assert silent and all(who[s] == [] for s in silent)


def test_without_audio_nobody_speaks_derived_and_transcripts_get_the_ids():
    events, summary = sp.analyze_speakers(None, 2.0, {})
    assert [e.value for e in events] == [[], []] and all(DERIVED in e.detail for e in events)
    assert summary["speakers"] == 0
    words = [{"word": "hi", "start": 1.1, "end": 1.4, "p": 0.9, "language": "en"}]
    edge = [{"word": "so", "start": 0.6, "end": 1.3, "p": 0.9, "language": "en"}]  # midpoint in a silent second
    said = [
        Event(0.0, 1.0, "transcript", "so", 0.9, "w", {"words": edge, "unclear": []}),
        Event(1.0, 2.0, "transcript", "hi", 0.9, "w", {"words": words, "unclear": []}),
    ]
    who = [Event(0.0, 1.0, sp.ASPECT, [], 0.9), Event(1.0, 2.0, sp.ASPECT, ["S2"], 0.8)]
    first, second = (e.detail for e in sp.attach_speakers(said, who))
    assert second["speakers"] == ["S2"] and second["words"][0]["speaker"] == "S2"
    assert first["speakers"] == [] and first["words"][0]["speaker"] == "S2"
