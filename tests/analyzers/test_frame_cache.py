import os

import numpy as np
import pytest

from analyzers import frame_cache, frame_models
from analyzers.frame_models import answers_for_changed_frames
from analyzers.frames import iter_frames
from analyzers.object_tracks import iter_frames_at
from support.media_factory import caption, write_frame_store

WORDS = ["EXIT", "EXIT", "GATE", "GATE", "GATE", "EXIT", "OPEN", "OPEN"]  # 2 frames a second: t = 0, 0.5, ... 3.5


@pytest.fixture(autouse=True)
def fresh_cache():
    frame_cache.release()
    yield
    frame_cache.release()


def _store(tmp_path, words=WORDS, name="frames.parquet"):
    return write_frame_store(tmp_path / name, [caption(w, 320, 180, size=40) for w in words])


@pytest.fixture
def decoded(monkeypatch):
    """The times of the frames decoded from a store, in the order decoded."""
    times = []

    def counted(path, start=0.0):
        for frame in iter_frames(path, start):
            times.append(frame.t)
            yield frame

    monkeypatch.setattr(frame_models, "iter_frames", counted)
    return times


def _answers(store):
    """(t, answer, reused, image) of a pass whose model answers with a checksum of each picture it sees."""
    passes = answers_for_changed_frames(store, lambda images: [int(i.astype(np.int64).sum()) for i in images], 3)
    return [(f.t, answer, reused, f.image.copy()) for f, answer, reused in passes]


def _same(a, b):
    return len(a) == len(b) and all(x[:3] == y[:3] and np.array_equal(x[3], y[3]) for x, y in zip(a, b))


def test_a_second_pass_over_a_store_decodes_nothing_and_answers_the_same(tmp_path, decoded):
    store = _store(tmp_path)
    first = _answers(store)
    assert len(decoded) == len(WORDS)
    second = _answers(store)
    assert len(decoded) == len(WORDS)  # nothing decoded again
    assert _same(first, second)
    frame_cache.release()
    third = _answers(store)  # decoded again after a release, the same answers
    assert len(decoded) == 2 * len(WORDS) and _same(first, third)


@pytest.mark.parametrize(
    ("budget_frames", "decoded_again"),
    [
        (0, 8),  # nothing kept: every frame decoded again
        (3, 5),  # the first 3 kept: the 5 after them decoded again
        (8, 0),  # all kept
    ],
)
def test_the_budget_bounds_the_frames_kept_and_the_rest_is_decoded_again(
    tmp_path, decoded, monkeypatch, budget_frames, decoded_again
):
    store = _store(tmp_path)
    frame = next(iter_frames(store))
    per_frame = frame.image.nbytes + frame_models.thumbnail(frame.image).nbytes
    budget_mb = budget_frames * per_frame / 2**20
    monkeypatch.setattr(frame_cache, "budget_bytes", lambda: int(budget_mb * 2**20))
    first = _answers(store)
    second = _answers(store)
    assert decoded[len(WORDS) :] == [t for t, *_ in first[budget_frames:]]
    assert len(decoded) - len(WORDS) == decoded_again
    assert _same(first, second)
    assert len(frame_cache.kept_frames(store)) == budget_frames


def test_the_budget_is_read_from_the_environment_with_a_clear_error(monkeypatch):
    monkeypatch.setenv(frame_cache.BUDGET_ENV, "16")
    assert frame_cache.budget_bytes() == 16 * 2**20
    monkeypatch.delenv(frame_cache.BUDGET_ENV)
    assert frame_cache.budget_bytes() == frame_cache.DEFAULT_BUDGET_MB * 2**20
    for bad in ("lots", "-1", "1.5"):
        monkeypatch.setenv(frame_cache.BUDGET_ENV, bad)
        with pytest.raises(ValueError, match=rf"\$VIDEO_TIMELINE_FRAME_CACHE_MB='{bad}'.*megabytes"):
            frame_cache.budget_bytes()


def test_a_rewritten_store_is_read_again_not_taken_from_memory(tmp_path, decoded):
    store = _store(tmp_path)
    _answers(store)
    new = _store(tmp_path, ["NEW"] * 4, name="next.parquet")
    os.replace(new, store)  # a new decode pass's store moved into place, as the IO manager does
    again = _answers(store)
    assert len(decoded) == len(WORDS) + 4
    assert [t for t, *_ in again] == [0.0, 0.5, 1.0, 1.5]


def test_another_store_starts_again(tmp_path, decoded):
    a, b = _store(tmp_path, name="a.parquet"), _store(tmp_path, ["B"] * 2, name="b.parquet")
    _answers(a)
    _answers(b)
    assert frame_cache.kept_frames(a) == [] and len(frame_cache.kept_frames(b)) == 2
    _answers(a)
    assert len(decoded) == len(WORDS) + 2 + len(WORDS)


def test_kept_frames_are_read_only_so_no_model_changes_what_the_next_sees(tmp_path):
    store = _store(tmp_path)

    def scribbling_model(images):
        for image in images:
            image[0, 0] = 255
        return [None] * len(images)

    with pytest.raises(ValueError, match="read-only"):
        list(answers_for_changed_frames(store, scribbling_model, 2))
    assert all(not f.image.flags.writeable for f in frame_cache.kept_frames(store))


def test_frames_at_chosen_times_come_from_memory_then_from_the_store(tmp_path, monkeypatch):
    store = _store(tmp_path)
    expected = list(iter_frames_at(store, {0.5, 2.0, 3.5}))  # nothing kept yet: all decoded
    monkeypatch.setattr(frame_cache, "budget_bytes", lambda: 1)  # nothing would be kept
    _answers(store)
    assert frame_cache.kept_frames(store) == []
    monkeypatch.setattr(frame_cache, "budget_bytes", lambda: 2**30)
    frame_cache.release()
    _answers(store)
    kept = frame_cache.kept_frames(store)
    assert len(kept) == len(WORDS)
    got = list(iter_frames_at(store, {0.5, 2.0, 3.5}))
    assert [t for t, _ in got] == [t for t, _ in expected] == [0.5, 2.0, 3.5]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, expected))
    assert got[1][1] is next(f.image for f in kept if f.t == 2.0)  # from memory, not decoded


def test_heavy_models_and_a_new_decode_pass_take_the_memory_back(tmp_path, clip):
    from analyzers.decode import decode_video
    from analyzers.probe import probe_video
    from resources.heavy_models import HeavyModelRuntime
    from resources.model_specs import ModelSpec

    store = _store(tmp_path)
    _answers(store)
    assert frame_cache.kept_frames(store)
    decode_video(probe_video(clip), tmp_path / "new.parquet")
    assert frame_cache.kept_frames(store) == []
    _answers(store)
    assert frame_cache.kept_frames(store)
    with HeavyModelRuntime().session(ModelSpec(name="transcribe", model=str(tmp_path))):
        assert frame_cache.kept_frames(store) == []
