"""A private Dagster instance and data root per test module, and the CLI run as a user runs it."""

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from analyzers.frames import iter_frames
from analyzers.keys import partition_key

PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Workspace:
    root: Path  # inputs live here
    data: Path  # VIDEO_TIMELINE_DATA
    env: dict

    def output(self, asset: str, source: Path) -> Path:
        return self.data / asset / f"video={partition_key(source)}" / f"{asset}.parquet"

    def timeline(self, source: Path) -> pd.DataFrame:
        return pd.read_parquet(self.output("timeline", source))

    def frames(self, source: Path):
        return list(iter_frames(self.output("sampled_frames", source)))

    def temp_files(self) -> list[Path]:
        return sorted(self.data.rglob("*.tmp"))


def make_workspace(root: Path) -> Workspace:
    home, data = root / "dagster_home", root / "data"
    home.mkdir(parents=True)
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return Workspace(root, data, {**os.environ, "DAGSTER_HOME": str(home), "VIDEO_TIMELINE_DATA": str(data)})


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("reliability"))


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "video_assets.cli", *args]


def run_cli(ws: Workspace, *args: str, cwd: Path = PROJECT, timeout: float = 400) -> subprocess.CompletedProcess:
    # surrogateescape: file names that are not UTF-8 come back as the same str Python gives the path
    return subprocess.run(
        cli_command(*args),
        env=ws.env,
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=timeout,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def error_lines(stderr: str, source: Path) -> list[str]:
    """The CLI's own error lines (`error: ...`) that name this file."""
    return [line for line in stderr.splitlines() if line.startswith("error: ") and str(source) in line]
