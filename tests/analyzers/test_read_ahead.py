import threading
import time
from contextlib import nullcontext

import pytest

from analyzers.read_ahead import read_ahead


def test_items_come_in_order_made_on_another_thread():
    makers = []

    def numbers():
        for i in range(100):
            makers.append(threading.get_ident())
            yield i

    with read_ahead(numbers()) as items:
        assert list(items) == list(range(100))
    assert set(makers) == {makers[0]} and makers[0] != threading.get_ident()


def test_the_producer_runs_at_most_depth_items_ahead():
    made = []

    def numbers():
        for i in range(1000):
            made.append(i)
            yield i

    with read_ahead(numbers(), depth=4) as items:
        assert next(items) == 0
        deadline = time.monotonic() + 10
        while len(made) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # an unbounded producer would make all 1000 in this time
        # 4 queued, one taken, one made and waiting for room
        assert len(made) == 6


def test_a_producer_error_is_raised_after_the_items_made_before_it():
    def failing():
        yield 1
        yield 2
        raise ValueError("bad packet")

    got = []
    with pytest.raises(ValueError, match="bad packet"), read_ahead(failing()) as items:
        for item in items:
            got.append(item)
    assert got == [1, 2]


@pytest.mark.parametrize("leave", ["break", "raise"])
def test_leaving_early_stops_the_producer_and_runs_its_clean_up_before_the_block_ends(leave):
    state = {"closed_on": None, "made": 0}

    def endless():
        try:
            while True:
                state["made"] += 1
                yield state["made"]
        finally:
            state["closed_on"] = threading.get_ident()

    expected = pytest.raises(RuntimeError) if leave == "raise" else nullcontext()
    with expected, read_ahead(endless(), depth=2) as items:
        for item in items:
            if item == 3:
                if leave == "raise":
                    raise RuntimeError("consumer failed")
                break
    assert state["closed_on"] not in (None, threading.get_ident())  # closed by the producer, already
    made = state["made"]
    time.sleep(0.1)
    assert state["made"] == made  # nothing is made after the block
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
