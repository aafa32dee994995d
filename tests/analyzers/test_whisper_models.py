"""The one-time join of a Whisper model split over two wheels: verified, atomic, safe when two processes join."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from analyzers import whisper_models
from analyzers.whisper_models import JOIN_RECORD, WhisperModelError, join_parts

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def parts(tmp_path):
    """Two parts of a 6 MB model.bin and a config file, as the wheels hold them."""
    data = bytes(range(256)) * (3 * 4096)
    files = [tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"]
    files[0].write_bytes(data)
    files[1].write_bytes(data[::-1])
    (tmp_path / "config.json").write_text('{"n": 1}')
    whole = data + data[::-1]
    return files, [tmp_path / "config.json"], len(whole), hashlib.sha256(whole).hexdigest()


def test_parts_are_joined_once_and_verified(parts, tmp_path):
    files, side, size, digest = parts
    target = tmp_path / "cache" / "model"
    assert join_parts(files, side, target, size, digest) == target
    assert (target / "model.bin").read_bytes() == files[0].read_bytes() + files[1].read_bytes()
    assert (target / "config.json").read_text() == '{"n": 1}'
    assert json.loads((target / JOIN_RECORD).read_text())["sha256"] == digest
    stamp = (target / "model.bin").stat().st_mtime_ns
    join_parts(files, side, target, size, digest)  # a complete join is used as it is
    assert (target / "model.bin").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in target.parent.iterdir()) == [".model.lock", "model"]  # no temporary left


def test_damaged_parts_are_refused_with_their_names_and_leave_nothing(parts, tmp_path):
    files, side, size, digest = parts
    files[1].write_bytes(files[1].read_bytes()[:-1] + b"x")
    target = tmp_path / "cache" / "model"
    with pytest.raises(WhisperModelError, match=rf"model.bin.part2.*SHA-256.*expected {size} bytes"):
        join_parts(files, side, target, size, digest)
    assert [p.name for p in target.parent.iterdir()] == [".model.lock"]


def test_an_incomplete_folder_under_the_name_is_replaced(parts, tmp_path):
    files, side, size, digest = parts
    target = tmp_path / "cache" / "model"
    target.mkdir(parents=True)
    (target / "model.bin").write_bytes(b"half")  # e.g. a copy interrupted by hand, no join record
    join_parts(files, side, target, size, digest)
    assert (target / "model.bin").stat().st_size == size


def test_two_processes_joining_at_once_both_get_the_whole_model(parts, tmp_path):
    files, side, size, digest = parts
    target = tmp_path / "cache" / "model"
    code = (
        "import sys; from pathlib import Path; from analyzers.whisper_models import join_parts; "
        f"join_parts([Path(p) for p in {[str(f) for f in files]!r}], [Path({str(side[0])!r})], "
        f"Path({str(target)!r}), {size}, {digest!r}); print('ok')"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT, stdout=subprocess.PIPE, text=True) for _ in range(3)
    ]
    assert [p.communicate(timeout=60)[0].strip() for p in procs] == ["ok"] * 3
    assert hashlib.sha256((target / "model.bin").read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in target.parent.iterdir()) == [".model.lock", "model"]


def test_the_bundled_multilingual_model_is_joined_into_the_cache_not_site_packages(model_cache):
    folder = whisper_models.bundled_folder(whisper_models.WHISPER_BASE)
    assert folder.parent == model_cache == whisper_models.model_cache_dir()
    assert (folder / "model.bin").stat().st_size == whisper_models.WHISPER_BASE.size
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in folder.iterdir()}
    assert whisper_models.WHISPER_BASE.licence == "MIT" and whisper_models.WHISPER_TINY_EN.licence == "MIT"


def test_an_unwritable_cache_is_a_clear_error(parts, tmp_path):
    files, side, size, digest = parts
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(WhisperModelError, match=rf"{blocker}.*VIDEO_TIMELINE_MODEL_CACHE"):
        join_parts(files, side, blocker / "model", size, digest)
