"""The CPU trace that gives each step of a measured run its CPU seconds (bench.cpu_trace)."""

import json
import subprocess
import sys
import time

from bench.cpu_trace import SAMPLE_S, CpuTrace, cpu_seconds

# Spins for 0.4 CPU s, then sleeps 0.4 s; prints the epoch times between the stretches and the CPU it spun.
SPIN_THEN_SLEEP = """
import json, time
t0 = time.time(); c0 = time.process_time()
while time.process_time() - c0 < 0.4: pass
t1 = time.time(); spun = time.process_time() - c0
time.sleep(0.4)
print(json.dumps([t0, t1, time.time(), spun]), flush=True)
time.sleep(0.1)
"""


def test_a_stretch_of_work_gets_its_cpu_and_a_stretch_of_sleep_gets_none():
    with subprocess.Popen([sys.executable, "-c", SPIN_THEN_SLEEP], stdout=subprocess.PIPE, text=True) as child:
        trace = CpuTrace(child.pid)
        t0, t1, t2, spun = json.loads(child.stdout.readline())
        child.wait()
    trace.stop()
    assert len(trace.samples) > 10
    assert trace.used(t0, t1) >= 0.8 * spun  # clock ticks and sampling lose a little at the edges
    assert trace.used(t1 + 0.05, t2) <= 0.03
    assert trace.used(t0, t1) / (t1 - t0) > 5 * trace.used(t1 + 0.05, t2) / (t2 - t1 - 0.05)


def test_a_process_that_is_gone_has_no_cpu_and_no_samples():
    with subprocess.Popen([sys.executable, "-c", "pass"]) as gone:
        gone.wait()
    assert cpu_seconds(gone.pid) is None
    trace = CpuTrace(gone.pid)
    time.sleep(5 * SAMPLE_S)  # a live process would have been sampled by now
    trace.stop()
    assert trace.samples == []
    assert trace.used(0.0, 1e12) == 0.0
