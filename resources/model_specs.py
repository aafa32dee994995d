"""Heavy-model specs: which model each heavy analyzer runs, read from one file (`models.toml`).

Each TOML section names an analyzer ("describe", "transcribe", "objects", ...). A section that is
absent or commented out means that analyzer is not configured and its asset is left out of the
graph. A spec's content determines its assets' `code_version`, so editing a section (another
model, revision, dtype, prompt version, option) marks exactly those assets stale.

    [describe]
    model = "/models/Qwen2-VL-7B-Instruct"   # local folder, or a hub id already in the local cache
    revision = "main"
    dtype = "bfloat16"
    quantization = "8bit"                    # optional: "8bit" | "4bit" (bitsandbytes, CUDA only)
    prompt_version = "v1"
    memory_budget_gb = 40
    [describe.options]                       # analyzer-specific settings
    max_window_s = 16
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODELS_ENV = "VIDEO_TIMELINE_MODELS"
DTYPES = ("auto", "bfloat16", "float16", "float32")
QUANTIZATIONS = (None, "8bit", "4bit")


class ModelSpecError(ValueError):
    """A model spec file or section that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class ModelSpec:
    name: str  # analyzer key: "describe", "transcribe", "objects", ...
    model: str  # hub id (resolved from the local cache only when offline) or a local folder
    revision: str | None = None
    dtype: str = "auto"
    quantization: str | None = None
    prompt_version: str | None = None
    memory_budget_gb: float | None = None
    trust_remote_code: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.name or not isinstance(self.model, str) or not self.model:
            raise ModelSpecError(f"model spec {self.name!r}: 'model' (hub id or local folder) is required, as a string")
        if not isinstance(self.trust_remote_code, bool):
            raise ModelSpecError(
                f"model spec {self.name!r}: trust_remote_code must be true or false, got {self.trust_remote_code!r}"
            )
        if not isinstance(self.options, Mapping):
            raise ModelSpecError(
                f"model spec {self.name!r}: options must be a table ([{self.name}.options]), got {self.options!r}"
            )
        if self.dtype not in DTYPES:
            raise ModelSpecError(f"model spec {self.name!r}: dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if self.quantization not in QUANTIZATIONS:
            raise ModelSpecError(
                f"model spec {self.name!r}: quantization {self.quantization!r} is not one of 8bit, 4bit (or absent)"
            )
        if self.memory_budget_gb is not None and self.memory_budget_gb <= 0:
            raise ModelSpecError(
                f"model spec {self.name!r}: memory_budget_gb must be positive, got {self.memory_budget_gb}"
            )
        # A private copy: later edits to the caller's dict must not change a spec (or its code_version).
        object.__setattr__(self, "options", dict(self.options))

    @property
    def memory_budget_bytes(self) -> int | None:
        return None if self.memory_budget_gb is None else int(self.memory_budget_gb * 1024**3)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "options": dict(self.options)}

    def code_version(self) -> str:
        """Short stable hash of everything in the spec: a change to any field marks its assets stale."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


_FIELDS = {
    "model",
    "revision",
    "dtype",
    "quantization",
    "prompt_version",
    "memory_budget_gb",
    "trust_remote_code",
    "options",
}


def spec_from_table(name: str, table: Mapping[str, Any], origin: str = "<dict>") -> ModelSpec:
    if not isinstance(table, Mapping):
        raise ModelSpecError(f"{origin}: [{name}] must be a table of settings")
    unknown = sorted(set(table) - _FIELDS)
    if unknown:
        raise ModelSpecError(
            f"{origin}: [{name}] has unknown keys {', '.join(unknown)} (known: {', '.join(sorted(_FIELDS))})"
        )
    if "model" not in table:
        raise ModelSpecError(f"{origin}: [{name}] needs 'model' (a hub id or a local folder)")
    try:
        return ModelSpec(name=name, **table)
    except ModelSpecError as exc:
        raise ModelSpecError(f"{origin}: {exc}") from None
    except TypeError as exc:
        raise ModelSpecError(f"{origin}: [{name}]: {exc}") from None


def models_file(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(MODELS_ENV) or PROJECT_ROOT / "models.toml").expanduser()


def load_model_specs(path: str | Path | None = None) -> dict[str, ModelSpec]:
    """Specs by analyzer name from `path`, $VIDEO_TIMELINE_MODELS or <project>/models.toml.

    A missing default file means nothing is configured; a missing file named explicitly is an error.
    """
    file = models_file(path)
    if not file.is_file():
        if path is None and MODELS_ENV not in os.environ:
            return {}
        raise ModelSpecError(f"{file}: model spec file not found")
    try:
        tables = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ModelSpecError(f"{file}: not valid TOML: {exc}") from None
    return {name: spec_from_table(name, table, str(file)) for name, table in tables.items()}
