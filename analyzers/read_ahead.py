"""An iterator advanced on a worker thread, a bounded number of items ahead of its consumer.

For a producer whose work releases the GIL (a decoder, a scaler): it then runs on the second core while the
consumer works on the items it already made. Items arrive in order; an exception of the producer is raised
in the consumer where the item it failed to make would have come. Leaving the `with` block, normally or by
an exception, stops the producer and waits for it, so what the producer reads (an open file) can be closed
right after.

    with read_ahead(decode(container)) as frames:
        for frame in frames:
            ...
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_END = object()
_POLL_S = 0.05  # how often a producer blocked on a full queue looks whether the consumer has left


@contextmanager
def read_ahead(items: Iterable[T], depth: int = 8, name: str = "read-ahead") -> Iterator[Iterator[T]]:
    """The items of `items`, made on a worker thread at most `depth` ahead of the consumer."""
    made: queue.Queue = queue.Queue(maxsize=depth)
    left = threading.Event()

    def put(entry: tuple) -> bool:
        while not left.is_set():
            try:
                made.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put((_END, exc))
        finally:
            close = getattr(source, "close", None)  # a generator's own clean-up runs on this thread
            if close is not None:
                close()

    def consume() -> Iterator[T]:
        while True:
            item, exc = made.get()
            if item is _END:
                if exc is not None:
                    raise exc
                return
            yield item

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        left.set()
        worker.join()
