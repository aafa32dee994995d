import numpy as np

from analyzers.process_memory import peak_rss_bytes, reset_peak_rss, rss_bytes


def test_peak_follows_an_allocation_and_resets_to_the_current_size():
    assert reset_peak_rss()
    before = rss_bytes()
    block = np.ones(64 * 1024**2 // 8)  # 64 MiB, touched
    assert rss_bytes() - before >= 60 * 1024**2
    del block
    assert peak_rss_bytes() - before >= 60 * 1024**2  # the peak outlives the allocation
    assert reset_peak_rss()
    assert peak_rss_bytes() - rss_bytes() < 16 * 1024**2
