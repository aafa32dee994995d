import threading
import time

import pytest

from analyzers.write_behind import WriteBehind


def test_items_are_written_in_order_on_another_thread():
    written, threads = [], set()

    def write(item):
        threads.add(threading.current_thread().name)
        written.append(item)

    behind = WriteBehind(write, name="store")
    for i in range(50):
        behind.put(i)
    behind.close()
    assert written == list(range(50))
    assert len(threads) == 1 and next(iter(threads)).startswith("store")


def test_the_feeder_waits_when_depth_items_are_pending():
    release, put = threading.Event(), []

    def feed(behind):
        for i in range(6):
            behind.put(i)
            put.append(i)

    behind = WriteBehind(lambda item: release.wait(5), depth=3)
    feeder = threading.Thread(target=feed, args=(behind,))
    feeder.start()
    deadline = time.monotonic() + 5
    while len(put) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # time enough for a fourth put, had it not waited
    assert put == [0, 1, 2]
    release.set()
    feeder.join(5)
    behind.close()
    assert put == list(range(6))


@pytest.mark.parametrize("items", [1, 8])
def test_a_write_error_is_raised_in_the_feeder_and_the_worker_ends(items):
    def write(item):
        if item == 0:
            raise OSError(28, "No space left on device (injected)")

    behind = WriteBehind(write, depth=2, name="failing")
    with pytest.raises(OSError, match="No space left on device"):
        for i in range(items):
            behind.put(i)
        behind.close()  # with one item, the error comes here
    behind.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("failing")]
