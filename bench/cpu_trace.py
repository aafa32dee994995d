"""CPU seconds of a running process over wall-clock time, so each stretch of its run (a step) gets what it used.

A whole process's CPU seconds over its wall seconds says how far the work could be sped up by keeping every
core busy; per step it says which steps leave a core idle. Linux: read from /proc/<pid>/stat (user and
system time of all its threads, in clock ticks) every SAMPLE_S on a thread of the measuring process.

    trace = CpuTrace(proc.pid)
    ...  # the process runs
    trace.stop()
    trace.used(step_start, step_end)  # CPU seconds between two epoch times
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np

SAMPLE_S = 0.02
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User plus system seconds of the process so far, all its threads; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime: fields 14 and 15 of proc(5)


class CpuTrace:
    """(epoch time, CPU seconds) of process `pid`, sampled until `stop` or until the process is gone."""

    def __init__(self, pid: int):
        self._pid = pid
        self._done = threading.Event()
        self.samples: list[tuple[float, float]] = []
        self._thread = threading.Thread(target=self._sample, name="cpu-trace", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.is_set():
            cpu = cpu_seconds(self._pid)
            if cpu is None:
                return
            self.samples.append((time.time(), cpu))
            self._done.wait(SAMPLE_S)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def used(self, start: float, end: float) -> float:
        """CPU seconds the process used between two epoch times (interpolated between samples)."""
        if len(self.samples) < 2:
            return 0.0
        times, cpu = np.array(self.samples).T
        return float(np.interp(end, times, cpu) - np.interp(start, times, cpu))
