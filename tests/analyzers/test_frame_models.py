import threading
import time

import pytest

from analyzers import frame_models
from analyzers.frame_models import answers_for_changed_frames
from support.media_factory import caption, write_frame_store


def _store(tmp_path, words: list[str]):
    return write_frame_store(tmp_path / "frames.parquet", [caption(w, 320, 180, size=40) for w in words])


def test_the_model_sees_only_changed_pictures_and_the_others_reuse_its_answer(tmp_path):
    store = _store(tmp_path, ["EXIT", "EXIT", "GATE", "GATE", "GATE", "EXIT"])
    calls = []

    def run_model(images):
        calls.append(len(images))
        return [f"answer {sum(calls) - len(images) + i}" for i in range(len(images))]

    got = [(answer, reused) for _, answer, reused in answers_for_changed_frames(store, run_model, 2)]
    assert got == [
        ("answer 0", False),
        ("answer 0", True),
        ("answer 1", False),
        ("answer 1", True),
        ("answer 1", True),
        ("answer 2", False),
    ]
    assert calls == [1, 1, 1]  # one changed picture in each batch of two


def test_the_next_batch_is_read_while_the_model_runs_on_one(tmp_path, monkeypatch):
    store = _store(tmp_path, [f"F{i}" for i in range(12)])
    read = []
    iter_frames = frame_models.iter_frames

    def counted(path, start=0.0):
        for frame in iter_frames(path, start):
            read.append(threading.current_thread().name)
            yield frame

    monkeypatch.setattr(frame_models, "iter_frames", counted)
    seen_at_first_call = []

    def run_model(images):
        if not seen_at_first_call:  # wait (at most 5 s) for the reader to fill the next batch
            deadline = time.monotonic() + 5
            while len(read) < 8 and time.monotonic() < deadline:
                time.sleep(0.01)
            seen_at_first_call.append(len(read))
        return [None] * len(images)

    assert len(list(answers_for_changed_frames(store, run_model, 4))) == 12
    # the first batch and the next read ahead; at most the one frame more that the reader holds, waiting
    assert 8 <= seen_at_first_call[0] <= 9
    assert set(read) == {"frames"}  # decoded on the reader's thread, not on the model's caller


def test_a_frame_that_cannot_be_read_fails_where_it_comes_and_stops_the_reader(tmp_path, monkeypatch):
    store = _store(tmp_path, ["A", "B", "C"])
    iter_frames = frame_models.iter_frames

    def damaged(path, start=0.0):
        frames = iter_frames(path, start)
        yield next(frames)
        raise ValueError(f"{path}: frame at 0.5 s is damaged")

    monkeypatch.setattr(frame_models, "iter_frames", damaged)
    answers = answers_for_changed_frames(store, lambda images: [1] * len(images), 1)
    assert next(answers)[1] == 1
    with pytest.raises(ValueError, match=r"frames\.parquet: frame at 0\.5 s is damaged"):
        next(answers)
    assert not any(t.name == "frames" for t in threading.enumerate())
