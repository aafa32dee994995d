import mmap

from analyzers.process_memory import peak_rss_bytes, reset_peak_rss, rss_bytes

MIB = 1024**2


def test_peak_follows_an_allocation_and_resets_to_the_current_size():
    assert reset_peak_rss()
    before = rss_bytes()
    # Fresh pages from the kernel: memory freed earlier in this process (and kept by malloc) cannot serve them,
    # so the resident size must grow by what is written.
    block = mmap.mmap(-1, 64 * MIB)
    mib_of_ones = b"\x01" * MIB
    for _ in range(64):
        block.write(mib_of_ones)
    assert rss_bytes() - before >= 60 * MIB
    block.close()
    assert peak_rss_bytes() - before >= 60 * MIB  # the peak outlives the allocation
    assert reset_peak_rss()
    assert peak_rss_bytes() - rss_bytes() < 16 * MIB
