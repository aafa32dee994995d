"""Progress lines for long steps: at most one every few seconds, so an hour of video shows it is moving."""

from __future__ import annotations

import time
from collections.abc import Callable

Say = Callable[[str], None]
EVERY_S = 10.0  # wall seconds between two lines of one step


class Progress:
    """`at(t)` tells `say` (a logger) how far into the video a step is, at most every EVERY_S seconds."""

    def __init__(self, say: Say | None, what: str, total_s: float):
        self._say, self._what, self._total = say, what, total_s
        self._next = time.perf_counter() + EVERY_S

    def at(self, t: float) -> None:
        if self._say is None or time.perf_counter() < self._next:
            return
        self._say(f"{self._what}: {min(t, self._total):.0f}/{self._total:.0f} s of video")
        self._next = time.perf_counter() + EVERY_S
