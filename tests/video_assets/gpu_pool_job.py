"""A one-step job in the `gpu` pool that records when it holds the pool (for test_gpu_pool.py).

`python -m tests.video_assets.gpu_pool_job LOG HOLD_S` runs it in-process against $DAGSTER_HOME,
the way `video-timeline analyze` runs the graph: the step appends "start"/"end" lines (run id,
time, pid) to LOG and holds the pool for HOLD_S seconds.
"""

import os
import sys
import time

from dagster import Definitions, asset, define_asset_job, in_process_executor

from video_assets.gpu_slots import open_local_instance


@asset(pool="gpu")  # the pool of every heavy asset (resources.heavy_models.GPU_POOL)
def heavy_step(context) -> None:
    log, hold = os.environ["GPU_POOL_LOG"], float(os.environ["GPU_POOL_HOLD_S"])
    with open(log, "a") as f:
        f.write(f"start {context.run_id} {time.time():.6f} {os.getpid()}\n")
    time.sleep(hold)
    with open(log, "a") as f:
        f.write(f"end {context.run_id} {time.time():.6f} {os.getpid()}\n")


defs = Definitions(assets=[heavy_step], jobs=[define_asset_job("heavy_job", executor_def=in_process_executor)])

if __name__ == "__main__":
    os.environ["GPU_POOL_LOG"], os.environ["GPU_POOL_HOLD_S"] = sys.argv[1], sys.argv[2]
    with open_local_instance() as instance:  # as `video-timeline analyze` opens it
        result = defs.resolve_job_def("heavy_job").execute_in_process(instance=instance)
    sys.exit(0 if result.success else 1)
