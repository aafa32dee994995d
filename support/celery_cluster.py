"""The distributed set-up of deploy/celery on one machine: Postgres, Redis, Celery workers and the daemon,
each a real process started with the commands docs/operations.md gives, and stopped by process id."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType

from support.servers import PostgresServer, RedisServer, free_port, port_open, wait_until

PROJECT = Path(__file__).resolve().parents[1]
DEPLOY = PROJECT / "deploy" / "celery"
VENV_BIN = Path(sys.executable).parent


class Cluster:
    """`with Cluster(root) as c:` servers up; `c.worker(...)`, `c.daemon()` start processes; all stop at exit."""

    def __init__(self, root: Path, extra_env: dict[str, str] | None = None):
        self.root = root
        self.home, self.data, self.logs = root / "dagster_home", root / "data", root / "logs"
        self.extra_env = extra_env or {}
        self.processes: dict[str, subprocess.Popen] = {}
        self._stack = ExitStack()

    def __enter__(self) -> Cluster:
        for folder in (self.home, self.data, self.logs, self.root / "inbox"):
            folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY / "dagster.yaml", self.home / "dagster.yaml")
        try:
            self.postgres = self._stack.enter_context(PostgresServer())
            self.redis = self._stack.enter_context(RedisServer())
        except BaseException:
            self._stack.close()
            raise
        self.env = {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "DAGSTER_HOME": str(self.home),
            **self.postgres.env(),
            "VIDEO_TIMELINE_DATA": str(self.data),
            "VIDEO_TIMELINE_EXECUTOR": "celery",
            "VIDEO_TIMELINE_CELERY_BROKER": self.redis.url(0),
            "VIDEO_TIMELINE_CELERY_BACKEND": self.redis.url(1),
            "VIDEO_TIMELINE_INBOX": str(self.root / "inbox"),
            "VIDEO_TIMELINE_MAX_RETRIES": "0",  # the tests re-run failed videos themselves
            "VIDEO_TIMELINE_CODE_HOST": "127.0.0.1",
            "VIDEO_TIMELINE_CODE_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        # The tables first, as docs/operations.md says: workers and the code server starting together on an
        # empty database race to create them ("type secondary_indexes already exists": a worker fails).
        try:
            subprocess.run(
                [str(VENV_BIN / "dagster"), "instance", "migrate"], env=self.env, check=True, capture_output=True
            )
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc):
        self.stop_all()
        self._stack.close()

    # -- processes ---------------------------------------------------------------------------------
    def start(self, name: str, cmd: list[str]) -> subprocess.Popen:
        """A process in its own process group (its children with it), output to logs/<name>.log."""
        with open(self.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                cmd, cwd=PROJECT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes[name] = process
        return process

    def worker(self, kind: str, name: str, procs: int | None = None) -> subprocess.Popen:
        args = [str(DEPLOY / "worker.sh"), kind, name] + ([str(procs)] if procs else [])
        return self.start(f"worker-{name}", args)

    def code_server(self) -> subprocess.Popen:
        host, port = self.env["VIDEO_TIMELINE_CODE_HOST"], self.env["VIDEO_TIMELINE_CODE_PORT"]
        cmd = ["code-server", "start", "-m", "video_assets.definitions", "-h", host, "-p", port]
        return self.start("code-server", [str(VENV_BIN / "dagster"), *cmd])

    def wait_for_code_server(self, timeout_s: float = 180) -> None:
        port = int(self.env["VIDEO_TIMELINE_CODE_PORT"])
        process = self.processes["code-server"]
        wait_until(lambda: port_open(port), timeout_s, "the code server", process, self.logs / "code-server.log")

    def daemon(self) -> subprocess.Popen:
        return self.start("daemon", [str(VENV_BIN / "dagster-daemon"), "run", "-w", str(DEPLOY / "workspace.yaml")])

    def ensure_daemon(self) -> None:
        if "daemon" not in self.processes:
            self.daemon()

    def backfill(self, keys: list[str]) -> subprocess.CompletedProcess:
        """`dagster job backfill` of the analyze job through the code server, as docs/operations.md shows."""
        cmd = ["job", "backfill", "-w", str(DEPLOY / "workspace.yaml"), "-j", "analyze_video"]
        return subprocess.run(
            [str(VENV_BIN / "dagster"), *cmd, "--partitions", ",".join(keys), "--noprompt"],
            cwd=PROJECT, env=self.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signals the process group of a started process (its process id is the group's id)."""
        with suppress(ProcessLookupError):
            os.killpg(self.processes[name].pid, sig)

    def stop(self, name: str, timeout_s: float = 20) -> None:
        """SIGTERM to the group, SIGKILL to whatever of it is left after the timeout."""
        self.kill(name, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.processes[name].wait(timeout=timeout_s)
        self.kill(name, signal.SIGKILL)  # a celery child or a run's process that outlived its parent
        self.processes[name].wait(timeout=timeout_s)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def wait_for_worker(self, name: str, timeout_s: float = 120) -> None:
        process = self.processes[f"worker-{name}"]
        wait_until(
            lambda: " ready." in self.log(f"worker-{name}"),
            timeout_s,
            f"celery worker {name} to be ready",
            process,
            self.logs / f"worker-{name}.log",
        )

    def launch(self, key: str) -> subprocess.Popen:
        """`dagster job launch` of one video's run into the run queue (docs/operations.md: a re-run)."""
        tags = json.dumps({"dagster/partition": key})
        cmd = ["job", "launch", "-w", str(DEPLOY / "workspace.yaml"), "-j", "analyze_video", "--tags", tags]
        return subprocess.Popen(
            [str(VENV_BIN / "dagster"), *cmd], cwd=PROJECT, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip


# -- what the event log says about steps ------------------------------------------------------------


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    step: str
    worker: str | None  # the Celery worker that ran it
    start: float | None
    end: float | None  # None: the step never reported its end
    ok: bool
    pid: int | None = None  # the process that ran it


def step_records(instance, run_ids) -> list[StepRecord]:
    """Each step of the runs, from its STEP_START and STEP_SUCCESS / STEP_FAILURE events and the
    engine event in which a Celery worker took it."""
    records = []
    for run_id in run_ids:
        steps: dict[str, dict] = {}
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            step = steps.setdefault(event.step_key, {})
            if event.event_type == DagsterEventType.STEP_START:
                step["start"], step["pid"] = entry.timestamp, event.pid
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                step["end"], step["ok"] = entry.timestamp, event.event_type == DagsterEventType.STEP_SUCCESS
            elif event.event_type == DagsterEventType.ENGINE_EVENT and "Celery worker" in (
                event.engine_event_data.metadata or {}
            ):
                step["worker"] = event.engine_event_data.metadata["Celery worker"].value
        records += [
            StepRecord(run_id, key, s.get("worker"), s.get("start"), s.get("end"), s.get("ok", False), s.get("pid"))
            for key, s in steps.items()
        ]
    return records


def max_overlap_s(intervals: list[tuple[float, float]]) -> float:
    """The longest time any two intervals share; negative: the smallest gap between two of them."""
    ordered = sorted(intervals)
    worst = float("-inf")
    for i, (start, end) in enumerate(ordered):
        for other_start, other_end in ordered[i + 1 :]:
            worst = max(worst, min(end, other_end) - max(start, other_start))
    return worst


def max_parallel_groups(intervals: list[tuple[float, float, str]]) -> int:
    """The most distinct groups (runs) with an interval open at one moment."""
    best = 0
    for moment, _, _ in intervals:
        best = max(best, len({group for start, end, group in intervals if start <= moment < end}))
    return best
