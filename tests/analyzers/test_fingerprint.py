import hashlib
import os

from analyzers.fingerprint import content_fingerprint


def test_the_fingerprint_is_the_content_hash_and_is_reused_while_the_file_is_untouched(tmp_path, monkeypatch):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"frames" * 100_000)
    first = content_fingerprint(video)
    assert first["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest() and first["size"] == 600_000

    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    assert content_fingerprint(video, known=first) == first and opened == []  # untouched: not read again

    os.utime(video, ns=(first["mtime_ns"] + 10**9, first["mtime_ns"] + 10**9))  # touched, same bytes
    touched = content_fingerprint(video, known=first)
    assert opened == [video] and touched["sha256"] == first["sha256"] and touched["mtime_ns"] != first["mtime_ns"]

    video.write_bytes(b"frames" * 99_999 + b"framez")  # same size, other content
    assert content_fingerprint(video, known=touched)["sha256"] != first["sha256"]


def test_same_bytes_anywhere_have_the_same_fingerprint(tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "sub" / "b.mov"
    b.parent.mkdir()
    a.write_bytes(b"x" * 3000)
    b.write_bytes(b"x" * 3000)
    assert content_fingerprint(a)["sha256"] == content_fingerprint(b)["sha256"]
