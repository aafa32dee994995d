"""Runs a bench module as on the bare GPU machine, where neither PyAV nor Dagster is installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_without_pyav_and_dagster(module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m module args` in a fresh interpreter where importing `av` or `dagster` fails."""
    code = (
        "import runpy, sys\n"
        "for name in ('av', 'dagster'):\n"
        "    sys.modules[name] = None\n"
        f"sys.argv = {[module, *args]!r}\n"
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
