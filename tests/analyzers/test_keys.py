from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.keys import check_key, partition_key


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=60).filter(lambda s: "\x00" not in s and "/" not in s))
def test_keys_are_safe_for_any_file_name(name):
    key = partition_key(Path("/inbox") / name)
    assert check_key(key) == key
    assert "/" not in key and ".." not in key and not key.startswith("-")


def test_keys_are_stable_and_distinct_per_folder(tmp_path):
    a, b = tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4"
    assert partition_key(a) == partition_key(a)
    assert partition_key(a) != partition_key(b)
    assert partition_key(a).startswith("clip-")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "-rf", "A" * 70, "x y"])
def test_unsafe_keys_are_refused(bad):
    with pytest.raises(ValueError, match="unsafe partition key"):
        check_key(bad)


@pytest.mark.parametrize("name", ["a\x00b.mp4", "\ud800.mp4"])
def test_a_name_no_file_can_have_is_refused_clearly(name):
    with pytest.raises(ValueError, match="cannot name a file") as err:
        partition_key(Path("/inbox") / name)
    assert repr(f"/inbox/{name}") in str(err.value)
