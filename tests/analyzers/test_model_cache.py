"""The model cache keeps derived arrays between processes; a cache it cannot write costs nothing else."""

import numpy as np
import pytest

from analyzers import model_cache
from analyzers.model_cache import cached_arrays

ARRAY = np.arange(50_000.0)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights")
    return path


@pytest.fixture
def builds():
    return []


@pytest.fixture
def build(builds):
    def build():
        builds.append(1)
        return {"w": ARRAY}

    return build


def test_arrays_are_built_once_per_source_content(tmp_path, source, builds, build):
    for _ in range(2):
        np.testing.assert_array_equal(cached_arrays(source, "kind", build, tmp_path / "cache")["w"], ARRAY)
    assert len(builds) == 1
    source.write_bytes(b"other weights")
    cached_arrays(source, "kind", build, tmp_path / "cache")
    assert len(builds) == 2


def test_a_failed_write_leaves_no_temp_file_and_still_returns_the_arrays(tmp_path, source, monkeypatch, caplog):
    def disk_full(out, **arrays):
        out.write(b"PK\x03\x04 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model_cache.np, "savez", disk_full)
    arrays = cached_arrays(source, "kind", lambda: {"w": np.ones(3)}, tmp_path / "cache")
    np.testing.assert_array_equal(arrays["w"], np.ones(3))
    assert list((tmp_path / "cache").iterdir()) == []  # neither the half file nor a cache entry
    assert "No space left on device" in caplog.text


def test_a_damaged_cache_file_is_built_again(tmp_path, source, builds, build):
    cached_arrays(source, "kind", build, tmp_path / "cache")
    (cache,) = (tmp_path / "cache").iterdir()
    damaged = bytearray(cache.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte inside the array's data
    cache.write_bytes(bytes(damaged))
    np.testing.assert_array_equal(cached_arrays(source, "kind", build, tmp_path / "cache")["w"], ARRAY)
    assert len(builds) == 2
    cache.write_bytes(cache.read_bytes()[:100])  # and a truncated one
    cached_arrays(source, "kind", build, tmp_path / "cache")
    assert len(builds) == 3
