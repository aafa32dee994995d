"""The code location for Kubernetes: the project's graph with one pod per step.

`dagster api grpc -f deploy/k8s/definitions.py` in the code-location image. Same assets, checks,
sensors and resources as video_assets.definitions; only the job's executor differs. Steps still
claim their pool slot from the instance before starting, so the `gpu` pool limit holds.
"""

from dagster import AssetSelection, Definitions, define_asset_job
from dagster_k8s import k8s_job_executor

from video_assets.definitions import ANALYZE_JOB, build_definitions

STEP_EXECUTOR = k8s_job_executor.configured(
    {"max_concurrent": 4, "env_vars": ["VIDEO_TIMELINE_DATA", "VIDEO_TIMELINE_MODELS"]}, name="k8s_step_pods"
)


def build_k8s_definitions() -> Definitions:
    local = build_definitions()
    analyze = define_asset_job(ANALYZE_JOB, selection=AssetSelection.all(), executor_def=STEP_EXECUTOR)
    return Definitions(
        assets=local.assets,
        asset_checks=local.asset_checks,
        sensors=local.sensors,
        jobs=[analyze],
        resources=local.resources,
        loggers=local.loggers,
    )


defs = build_k8s_definitions()
