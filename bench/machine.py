"""What the figures were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from bench.corpus import ROOT

PACKAGES = ("dagster", "av", "opencv-python", "numpy", "torch", "silero-vad", "scenedetect")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def describe() -> dict:
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "commit": _commit(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def measured_on(m: dict, command: str) -> str:
    """A section's line naming the machine, time, commit and command of a `describe()` result."""
    return (
        f"{m['cpu']}, {m['cores']} cores, load {m['load_average_start']}; {m['date_utc']}; commit {m['commit']}; "
        f"`{command}`."
    )


RESULTS = ROOT / "bench" / "results"


def save_results(results: dict, name: str, started: float, command: str, latest: bool = False, tag: str = "") -> Path:
    """Adds the machine, the command and the wall time to `results` and writes
    bench/results/<name>-<UTC start><tag>.json (and <name>-latest<tag>.json with `latest`)."""
    import json

    results["machine"] = describe()
    results["command"] = command
    results["wall_s"] = round(time.time() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    text = json.dumps(results, indent=1, ensure_ascii=False)
    for file in [f"{name}-{stamp}{tag}.json"] + ([f"{name}-latest{tag}.json"] if latest else []):
        (RESULTS / file).write_text(text)
    return RESULTS / f"{name}-{stamp}{tag}.json"


def publish(text: str, results_path: Path | None, out: Path | None) -> None:
    """Prints a section (and where its results were saved) and writes it to `out` when given."""
    print(text)
    if results_path is not None:
        print(f"results: {results_path}", file=sys.stderr)
    if out:
        out.write_text(text)
