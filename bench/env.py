"""A throw-away Dagster instance and data root for a bench run, and the worker processes it starts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.corpus import ROOT


class BenchEnv:
    """Temp DAGSTER_HOME (a copy of the project's dagster.yaml) and data root, so the project's own
    instance is untouched."""

    def __init__(self, keep: bool = False):
        self.root = Path(tempfile.mkdtemp(prefix="video-timeline-bench-"))
        self.keep = keep
        self.home = self.root / "dagster_home"
        self.home.mkdir()
        shutil.copy(ROOT / "dagster_home" / "dagster.yaml", self.home / "dagster.yaml")
        self.data = self.root / "data"
        self.media = self.root / "media"
        self.media.mkdir()
        self.env = {**os.environ, "DAGSTER_HOME": str(self.home), "VIDEO_TIMELINE_DATA": str(self.data)}

    def scratch(self, name: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))
        return path

    def worker(self, *args: str, timeout: float = 1200) -> dict:
        """Runs `python -m bench.worker ARGS`; its JSON result plus the process's own wall time."""
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "bench.worker", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        wall = round(time.perf_counter() - started, 3)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            return {"error": f"worker {' '.join(args)} exited {proc.returncode}: {tail}", "process_s": wall}
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["process_s"] = wall
        return result

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def loop_video(source: Path, seconds: float, target: Path) -> Path:
    """The same content repeated to `seconds`, streams copied (no re-encode, so every length decodes alike)."""
    ffmpeg("-stream_loop", "-1", "-i", str(source), "-t", f"{seconds:.3f}", "-c", "copy", str(target))
    return target


def speech_video(wav: Path, target: Path) -> Path:
    """A speech recording under black frames, so the whole graph (transcript included) can analyse it."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=320x240:r=10",
        "-i",
        str(wav),
        "-shortest",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(target),
    )
    return target


@contextmanager
def instance_at(home: Path) -> Iterator:
    """The Dagster instance of a bench home, opened in this process: the project's dagster.yaml names its
    storage folder through $DAGSTER_HOME, so that is set to `home` while it is open."""
    from dagster import DagsterInstance

    before = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            yield instance
    finally:
        if before is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = before


def step_spans(instance, run_id: str) -> list[tuple[str, float, float]]:
    """(step, start, end) of each step of a run that finished (success or failure), times in epoch seconds."""
    starts, spans = {}, []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts:
            spans.append((event.step_key, starts.pop(event.step_key), record.timestamp))
    return spans
