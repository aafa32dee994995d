"""Where everything lives: one data root holding every asset's Parquet and the source registry.

Layout: <data_root>/<asset>/video=<key>/<asset>.parquet (DuckDB reads it with hive partitioning)
and <data_root>/sources/<key>.json (which file a partition key stands for).
"""


import json
import os
import uuid
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from analyzers.keys import check_key, partition_key

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def default_data_root() -> str:
    return os.environ.get("VIDEO_TIMELINE_DATA", str(PROJECT_ROOT / "data"))


class UnknownVideoError(LookupError):
    pass


class TimelineStorage(ConfigurableResource):
    """The data root; every path below it is built from a checked partition key."""

    data_root: str = Field(default_factory=default_data_root, description="Folder for all outputs.")

    @property
    def root(self) -> Path:
        return Path(self.data_root).expanduser().resolve()

    def asset_path(self, asset: str, key: str) -> Path:
        check_key(key)
        if not asset.replace("_", "").isalnum():
            raise ValueError(f"unsafe asset name {asset!r}")
        path = self.root / asset / f"video={key}" / f"{asset}.parquet"
        if self.root not in path.resolve().parents:
            raise ValueError(f"{path} escapes the data root {self.root}")
        return path

    def temp_path(self, asset: str, key: str) -> Path:
        """A fresh file beside the final one (same file system, so the final rename is atomic)."""
        final = self.asset_path(asset, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        return final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")

    def register_source(self, path: str | Path) -> str:
        """Records which file a partition key stands for; returns the key."""
        source = Path(path).expanduser().resolve()
        key = partition_key(source)
        registry = self.root / "sources"
        registry.mkdir(parents=True, exist_ok=True)
        record = registry / f"{key}.json"
        tmp = registry / f".{key}.{uuid.uuid4().hex}.tmp"
        tmp.write_text(json.dumps({"key": key, "path": str(source)}, ensure_ascii=False))
        os.replace(tmp, record)
        return key

    def source_path(self, key: str) -> Path:
        record = self.root / "sources" / f"{check_key(key)}.json"
        if not record.is_file():
            raise UnknownVideoError(
                f"partition {key!r} has no registered source file under {record.parent}; "
                "add videos with `video-timeline analyze FILE` or the inbox sensor"
            )
        return Path(json.loads(record.read_text())["path"])
