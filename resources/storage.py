"""Where everything lives: one data root holding every asset's Parquet and the source registry.

Layout: <data_root>/<asset>/video=<key>/<asset>.parquet (DuckDB reads it with hive partitioning)
and <data_root>/sources/<key>.json (which file a partition key stands for).
"""

import glob
import json
import os
import re
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from analyzers.keys import check_key, partition_key

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_SAFE_ASSET = re.compile(r"[a-z][a-z0-9_]{0,62}")


def default_data_root() -> str:
    return os.environ.get("VIDEO_TIMELINE_DATA", str(PROJECT_ROOT / "data"))


class UnknownVideoError(LookupError):
    pass


_HOST = socket.gethostname().replace("-", "_")
_RUN_ID = re.compile(r"[0-9a-f]{32}")  # a Dagster run id without its dashes


def _remove_orphaned_temps(final: Path, run_is_over: Callable[[str], bool] | None) -> None:
    """Deletes temp files of `final` whose writer is gone: a process on this host that no longer exists, or
    (any host) a run that is over, whose step failed between writing the file and handing it on (a worker
    that lives on after its step failed, as when the event database was unreachable)."""
    for tmp in final.parent.glob(f".{glob.escape(final.name)}.*.tmp"):
        host, pid, run_id = (tmp.name[len(final.name) + 2 : -len(".tmp")].split("-", 3) + ["", ""])[:3]
        dead = host == _HOST and pid.isdigit() and not _process_exists(int(pid))
        over = run_is_over is not None and _RUN_ID.fullmatch(run_id) and run_is_over(str(uuid.UUID(run_id)))
        if dead or over:
            tmp.unlink(missing_ok=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class TimelineStorage(ConfigurableResource):
    """The data root; every path below it is built from a checked partition key."""

    data_root: str | None = Field(
        default=None,
        description="Folder for all outputs; unset: $VIDEO_TIMELINE_DATA, else <project>/data, read when used "
        "(so a process that sets the variable after loading the code location still writes where it says).",
    )

    @property
    def root(self) -> Path:
        return Path(self.data_root or default_data_root()).expanduser().resolve()

    def asset_path(self, asset: str, key: str) -> Path:
        check_key(key)
        if not _SAFE_ASSET.fullmatch(asset):
            raise ValueError(f"unsafe asset name {asset!r}: asset names are [a-z0-9_]")
        path = self.root / asset / f"video={key}" / f"{asset}.parquet"
        if self.root not in path.resolve().parents:
            raise ValueError(f"{path} escapes the data root {self.root}")
        return path

    def report_path(self, key: str) -> Path:
        """The video's HTML report: <data_root>/report/video=<key>/report.html."""
        return self.asset_path("report", key).with_name("report.html")

    def temp_path(
        self, asset: str, key: str, run_id: str = "", run_is_over: Callable[[str], bool] | None = None
    ) -> Path:
        """A fresh file beside the final one (same file system, so the final rename is atomic).

        Its name records the writer (host, process and the run's id, without its dashes), so temp files left
        by a killed process or a failed run are removed here when the partition runs again (`run_is_over`
        tells of a run id); a live writer's are left alone.
        """
        final = self.asset_path(asset, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphaned_temps(final, run_is_over)
        run = run_id.replace("-", "")
        return final.with_name(f".{final.name}.{_HOST}-{os.getpid()}-{run or 'norun'}-{uuid.uuid4().hex}.tmp")

    def register_source(self, path: str | Path) -> str:
        """Records which file a partition key stands for; returns the key."""
        source = Path(path).expanduser().resolve()
        key = partition_key(source)
        if not self._record_path(key).is_file() or self.source_path(key) != source:
            self._write_record(key, {"key": key, "path": str(source)})
        return key

    def source_path(self, key: str) -> Path:
        return Path(self._read_record(key)["path"])

    def source_fingerprint(self, key: str) -> dict | None:
        """The content fingerprint last recorded for the source (analyzers.fingerprint), None before any."""
        return self._read_record(key).get("fingerprint")

    def record_fingerprint(self, key: str, fingerprint: dict) -> None:
        self._write_record(key, {**self._read_record(key), "fingerprint": fingerprint})

    def _record_path(self, key: str) -> Path:
        return self.root / "sources" / f"{check_key(key)}.json"

    def _read_record(self, key: str) -> dict:
        record = self._record_path(key)
        if not record.is_file():
            raise UnknownVideoError(
                f"partition {key!r} has no registered source file under {record.parent}; "
                "add videos with `video-timeline analyze FILE` or the inbox sensor"
            )
        return json.loads(record.read_text())

    def _write_record(self, key: str, content: dict) -> None:
        record = self._record_path(key)
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_name(f".{key}.{uuid.uuid4().hex}.tmp")
        # ASCII JSON: a name that is not valid UTF-8 (surrogate-escaped bytes) round-trips too.
        tmp.write_text(json.dumps(content))
        os.replace(tmp, record)
