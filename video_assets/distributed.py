"""Which executor runs the analyze job: chosen by configuration, so one set of definitions serves one
machine and many.

`$VIDEO_TIMELINE_EXECUTOR`:
- `in_process` (default): every step in the run's own process; on 2 cores a step's process start
  (2-3 s) costs more than the step, so parallelism comes from several runs.
- `celery`: steps run on Celery workers (deploy/celery/, docs/operations.md), configured by the
  YAML file `$VIDEO_TIMELINE_CELERY_CONFIG` (default deploy/celery/celery.yaml), the same file the
  workers start from. Needs the `distributed` extra and a Postgres instance.
"""

import os
from pathlib import Path

from dagster import ExecutorDefinition, in_process_executor

from resources.storage import PROJECT_ROOT

EXECUTOR_ENV = "VIDEO_TIMELINE_EXECUTOR"
CELERY_CONFIG_ENV = "VIDEO_TIMELINE_CELERY_CONFIG"
DEFAULT_CELERY_CONFIG = PROJECT_ROOT / "deploy" / "celery" / "celery.yaml"
EXECUTORS = ("in_process", "celery")


class ExecutorConfigError(ValueError):
    pass


def celery_config_path() -> Path:
    return Path(os.environ.get(CELERY_CONFIG_ENV) or DEFAULT_CELERY_CONFIG)


def load_celery_config(path: Path) -> dict:
    """The `execution.config` block of a dagster-celery worker config file (the format of `-y`)."""
    from dagster_shared.yaml_utils import load_yaml_from_path

    if not path.is_file():
        raise ExecutorConfigError(f"${CELERY_CONFIG_ENV}: {path} does not exist (see deploy/celery/celery.yaml)")
    parsed = load_yaml_from_path(str(path)) or {}
    config = parsed.get("execution", {}).get("config") if isinstance(parsed, dict) else None
    if not isinstance(config, dict):
        raise ExecutorConfigError(f"{path}: no `execution: config:` block (the format of deploy/celery/celery.yaml)")
    return config


def executor_from_env() -> ExecutorDefinition:
    kind = os.environ.get(EXECUTOR_ENV, "").strip() or "in_process"
    if kind == "in_process":
        return in_process_executor
    if kind == "celery":
        try:
            from video_assets.celery_executor import watched_celery_executor
        except ImportError as exc:
            raise ExecutorConfigError(
                f"${EXECUTOR_ENV}=celery needs dagster-celery: "
                f'pip install -c constraints.txt -e ".[distributed]" ({exc})'
            ) from exc
        path = celery_config_path()
        return watched_celery_executor.configured(load_celery_config(path), name="celery_workers")
    raise ExecutorConfigError(f"${EXECUTOR_ENV}={kind!r}: choose one of {', '.join(EXECUTORS)}")
