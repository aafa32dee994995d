"""The CPU bound that bench.whole_process publishes beside the default and light graphs' speed."""

import sys

import pytest

from bench.whole_process import _bound, _cores_lines, realtime_bound, timed_cpu


@pytest.mark.parametrize(
    ("cpu_s", "cores", "bound"),
    [(10.0, 2, 9.6), (20.0, 2, 4.8), (40.0, 2, 2.4), (20.0, 4, 9.6), (48.0, 1, 1.0)],
)
def test_the_bound_falls_as_the_work_grows_and_rises_with_cores(cpu_s, cores, bound):
    assert realtime_bound(48.0, cpu_s, cores) == bound


def test_timed_cpu_counts_the_commands_own_cpu_and_its_childrens():
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {spin!r}], check=True)\n{spin}"
    wall, cpu, proc, trace = timed_cpu([sys.executable, "-c", child], {})
    assert proc.returncode == 0
    assert cpu >= 0.55  # both processes' 0.3 s, less rounding
    assert wall >= 0.3
    own = trace.samples[-1][1] - trace.samples[0][1]
    assert 0.2 <= own < cpu  # its own process's spin is traced, its child's is not


def test_the_table_states_the_bound_and_old_results_without_it_still_render():
    figure = {"cpu_s": 35.2, "cores": 2, "realtime_bound": 2.73}
    assert _bound(figure) == "; 35.2 CPU s: at most 2.7x with 2 cores busy throughout"
    assert _bound({"wall_s": 3.9}) == ""


def test_the_section_lists_the_steps_by_cores_busy_and_old_results_without_them_still_render():
    lines = _cores_lines({"cores": 2, "steps_cores": {"faces": 1.71, "timeline": 0.96, "screen_text": 1.9}})
    assert lines[-1].endswith(": screen_text 1.90, faces 1.71, timeline 0.96.")
    assert _cores_lines({"cores": 2, "steps_s": {"faces": 1.4}}) == []
