"""A one-step job in the pool of the real transcript asset, recording when it holds the pool (for test_gpu_pool.py).

`python -m tests.video_assets.gpu_pool_job LOG HOLD_S RUNS` runs it in-process against $DAGSTER_HOME, the
way `video-timeline analyze` runs the graph. Each of the RUNS processes opens the instance, then waits
until all of them have, so their steps claim the pool together. The step appends "start"/"end" lines
(run id, time, pid) to LOG; after starting it holds the pool until another run's step has started too
or HOLD_S has passed, then one more second. So two runs overlap whenever the pool lets them, and a run
never waits for a peer that the pool keeps out for longer than HOLD_S.
"""

import os
import sys
import time
from pathlib import Path

from dagster import Definitions, asset, define_asset_job, in_process_executor

from video_assets import audio
from video_assets.gpu_slots import open_local_instance

OVERLAP_S = 1.0
# The pool the heavy assets really run in: that of the default graph's transcript asset.
(TRANSCRIPT,) = [a for a in audio.stage_assets({}) if a.key.to_user_string() == "transcript"]
POOL = TRANSCRIPT.op.pool


def _started(log: Path) -> set[str]:
    return {line.split()[1] for line in log.read_text().splitlines() if line.startswith("start")}


@asset(pool=POOL)
def heavy_step(context) -> None:
    log, hold = Path(os.environ["GPU_POOL_LOG"]), float(os.environ["GPU_POOL_HOLD_S"])
    with log.open("a") as f:
        f.write(f"start {context.run_id} {time.time():.6f} {os.getpid()}\n")
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline and not _started(log) - {context.run_id}:
        time.sleep(0.05)
    time.sleep(OVERLAP_S)
    with log.open("a") as f:
        f.write(f"end {context.run_id} {time.time():.6f} {os.getpid()}\n")


defs = Definitions(assets=[heavy_step], jobs=[define_asset_job("heavy_job", executor_def=in_process_executor)])


def _wait_for_all(log: Path, runs: int) -> None:
    log.with_name(f"{log.name}.ready.{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while len(list(log.parent.glob(f"{log.name}.ready.*"))) < runs and time.monotonic() < deadline:
        time.sleep(0.02)


if __name__ == "__main__":
    os.environ["GPU_POOL_LOG"], os.environ["GPU_POOL_HOLD_S"] = sys.argv[1], sys.argv[2]
    with open_local_instance() as instance:  # as `video-timeline analyze` opens it
        _wait_for_all(Path(sys.argv[1]), int(sys.argv[3]))
        result = defs.resolve_job_def("heavy_job").execute_in_process(instance=instance)
    sys.exit(0 if result.success else 1)
