"""Partition keys from file paths: stable, unique per path, and safe anywhere a key is used."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

_SAFE_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def partition_key(path: str | Path) -> str:
    """A readable slug of the file name plus a hash of the absolute path.

    Same path -> same key; same name in another folder -> another key; never a path separator,
    a dot-dot, a leading dash or a character outside [a-z0-9_-].
    """
    try:
        resolved = Path(path).expanduser().resolve()
        # surrogateescape: the bytes of a name that is not valid UTF-8, as the file system holds them
        digest = hashlib.sha256(str(resolved).encode("utf-8", "surrogateescape")).hexdigest()[:10]
    except ValueError as exc:  # a NUL byte or a lone surrogate: no file can have this name
        raise ValueError(f"{str(path)!r} cannot name a file: {exc}") from None
    stem = unicodedata.normalize("NFKD", resolved.stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")[:40] or "video"
    return f"{slug}-{digest}"


def check_key(key: str) -> str:
    """Rejects anything that is not a key made by `partition_key` (keys reach file paths)."""
    if not _SAFE_KEY.match(key or ""):
        raise ValueError(f"unsafe partition key {key!r}: keys are [a-z0-9_-], at most 63 characters")
    return key
