"""This process's resident memory (Linux /proc; getrusage elsewhere): current, peak, and a peak reset,
so a step can measure its own peak (the heavy-model runtime and the benchmarks); and handing the allocator's
free memory back to the system after work done on worker threads (the frame models)."""

from __future__ import annotations

import ctypes
import resource
from pathlib import Path


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int:
    """Current resident set size (VmRSS; the peak where /proc is missing)."""
    kib = _status_kib("VmRSS:")
    return kib * 1024 if kib is not None else peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak resident set size since the process started or the last `reset_peak_rss` (VmHWM)."""
    kib = _status_kib("VmHWM:")
    return kib * 1024 if kib is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak_rss() -> bool:
    """Resets the peak RSS to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def release_free_memory() -> bool:
    """Hands the C allocator's free memory back to the system (glibc's malloc_trim). Memory a worker thread
    frees stays in that thread's malloc arena, where the main thread's later allocations do not reuse it: the
    frames a reader thread decoded for a model (analyzers.frame_models) kept 60-120 MB resident through the
    rest of a run. False where the C library has no malloc_trim (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True
