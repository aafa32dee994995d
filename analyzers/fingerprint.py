"""The identity of a file's content: a SHA-256 of its bytes, with the file's size, mtime and inode.

Hashing a large video takes seconds, so a fingerprint taken earlier is reused while the file's size,
modification time and inode are unchanged (nothing has written to it since); otherwise the bytes are
hashed again. Two files with the same bytes have the same `sha256` wherever they are.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20


def _stat_of(path: Path) -> dict:
    stat = os.stat(path)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def content_fingerprint(path: str | Path, known: dict | None = None) -> dict:
    """{"sha256", "size", "mtime_ns", "inode"} of the file; `known` (an earlier fingerprint of the same
    path) saves the hashing when the file was not written since."""
    path = Path(path)
    stat = _stat_of(path)
    if known and known.get("sha256") and all(known.get(k) == v for k, v in stat.items()):
        return {"sha256": known["sha256"], **stat}
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    after = _stat_of(path)
    if after != stat:  # written to while hashing: this hash belongs to no stable content
        raise OSError(f"{path}: the file changed while it was read (still being written?)")
    return {"sha256": digest.hexdigest(), **stat}
