"""The model cache: files derived from shipped models (a joined Whisper, decoded weights), kept between
processes so that only the first one pays for the slow step that made them."""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

CACHE_ENV = "VIDEO_TIMELINE_MODEL_CACHE"
log = logging.getLogger(__name__)


def model_cache_dir() -> Path:
    """$VIDEO_TIMELINE_MODEL_CACHE, else the user's cache folder ($XDG_CACHE_HOME or ~/.cache) /
    video-timeline / models."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "video-timeline" / "models"


def cached_arrays(
    source: Path, kind: str, build: Callable[[], dict[str, np.ndarray]], cache_dir: Path | None = None
) -> dict[str, np.ndarray]:
    """`build()`'s arrays, made once per content of `source` (its SHA-256 names the file) and kept as
    <kind>-<digest>.npz in the model cache; a damaged cache file is made again. A cache that cannot be
    written (disk full, read-only) costs only the next process's rebuild: the arrays are returned."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    cache = (cache_dir or model_cache_dir()) / f"{kind}-{digest}.npz"
    if cache.is_file():
        try:
            with np.load(cache) as stored:
                return {k: stored[k] for k in stored.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # damaged (a truncated or flipped byte)
            pass
    arrays = build()
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as out:
            np.savez(out, **arrays)
        os.replace(tmp, cache)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        log.warning("%s: not kept in the model cache (%s); the next process builds it again", cache, e)
    return arrays
