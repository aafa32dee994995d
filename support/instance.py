"""Private Dagster instances and data roots, and the CLI run as a user runs it."""

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analyzers.frames import iter_frames
from analyzers.keys import partition_key

PROJECT = Path(__file__).resolve().parents[1]


def private_instance(root: Path, *, heavy_models: bool = False) -> dict[str, str]:
    """Environment for a throwaway instance (the project's dagster.yaml), data root and empty inbox.
    Without `heavy_models` the graph is the light one plus the bundled models, as a models.toml
    with no section configures it."""
    home, inbox = root / "dagster_home", root / "inbox"
    home.mkdir(parents=True)
    inbox.mkdir(exist_ok=True)
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "VIDEO_TIMELINE_DATA": str(root / "data"),
        "VIDEO_TIMELINE_INBOX": str(inbox),
    }
    if not heavy_models:
        (root / "models.toml").write_text("# no heavy-model section: the defaults\n")
        env["VIDEO_TIMELINE_MODELS"] = str(root / "models.toml")
    return env


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
    """A private instance under `root` with the project's models.toml (the CLI's default graph)."""
    env = private_instance(root, heavy_models=True)
    return Workspace(root, Path(env["VIDEO_TIMELINE_DATA"]), env)


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "video_assets.cli", *args]


def run_cli(ws: Workspace, *args: str, cwd: Path = PROJECT, timeout: float = 400) -> subprocess.CompletedProcess:
    # surrogateescape: file names that are not UTF-8 come back as the same str Python gives the path
    command = cli_command(*args)
    return subprocess.run(
        command, env=ws.env, cwd=cwd, capture_output=True, text=True, errors="surrogateescape", timeout=timeout
    )


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def error_lines(stderr: str, source: Path) -> list[str]:
    """The CLI's own error lines (`error: ...`) that name this file."""
    return [line for line in stderr.splitlines() if line.startswith("error: ") and str(source) in line]


def validated(config_type, value) -> dict:
    """`value` checked against a Dagster config type (an instance or executor schema): its resolved value, or
    a failed assertion listing every error."""
    from video_assets.dagster_private import validate_config

    result = validate_config(config_type, value)
    assert result.success, [e.message for e in result.errors]
    return result.value
