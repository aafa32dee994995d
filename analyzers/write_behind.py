"""Work handed to a worker thread, in order, a bounded number of items behind the thread that hands it over.

For work that releases the GIL (JPEG encoding, image measures): the handing thread goes on with its own work
while the worker does this on another core. At most `depth` items wait or run at a time, so a slow worker holds
back its feeder instead of piling items up in memory. The worker's error is raised in the feeder, at its next
`put` or at `close`; `close` waits for everything handed over.

    behind = WriteBehind(store_frame, name="frame-store")
    try:
        for frame in frames:
            behind.put(frame)
    finally:
        behind.close()
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


class WriteBehind(Generic[T]):
    """`write(item)` for every item `put`, on one worker thread, in the order they were put."""

    def __init__(self, write: Callable[[T], object], depth: int = 4, name: str = "write-behind"):
        self._write = write
        self._depth = depth
        self._worker = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._pending: deque[Future] = deque()

    def put(self, item: T) -> None:
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()  # waits for the oldest; raises its error here
        self._pending.append(self._worker.submit(self._write, item))

    def close(self) -> None:
        """Waits for every item handed over; raises the first error of their writes."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._worker.shutdown(wait=True, cancel_futures=True)
