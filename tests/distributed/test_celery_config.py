"""deploy/celery loads and validates with the schemas of Dagster and dagster-celery, configuration alone
picks the executor, heavy steps are routed to the `gpu` queue, and the overlap measures of the
end-to-end test see overlap when there is some. No server is started here (test_celery_workers.py)."""

import pytest
from dagster import QueuedRunCoordinator
from dagster_celery.cli import get_validated_config
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG
from dagster_postgres import DagsterPostgresStorage

from resources.model_specs import ModelSpec
from support.celery_cluster import DEPLOY, max_overlap_s, max_parallel_groups
from support.instance import validated
from video_assets.dagster_private import dagster_instance_config
from video_assets.definitions import build_definitions
from video_assets.distributed import EXECUTOR_ENV, ExecutorConfigError, executor_from_env
from video_assets.names import ANALYZE_JOB

ENV = {
    "DAGSTER_PG_HOST": "db",
    "DAGSTER_PG_PORT": "5433",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "secret",
    "VIDEO_TIMELINE_CELERY_BROKER": "redis://queue:6379/0",
    "VIDEO_TIMELINE_CELERY_BACKEND": "redis://queue:6379/1",
}


@pytest.fixture
def deploy_env(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def test_the_instance_file_stores_everything_in_postgres_and_frees_slots_of_ended_runs(deploy_env):
    config, _ = dagster_instance_config(str(DEPLOY))
    storage = validated(DagsterPostgresStorage.config_type(), config["storage"]["postgres"])
    db = storage["postgres_db"]
    assert (db["hostname"], db["port"], db["password"], db["scheme"]) == ("db", 5433, "secret", "postgresql+psycopg2")
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert validated(QueuedRunCoordinator.config_type(), coordinator["config"])["dequeue_use_threads"] is True
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    assert config["run_monitoring"]["enabled"] and config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0


def test_the_executor_file_is_what_the_workers_read(deploy_env):
    # the same function `dagster-celery worker start -y` validates its file with
    config = get_validated_config(str(DEPLOY / "celery.yaml"))
    assert (config["broker"], config["backend"]) == (
        ENV["VIDEO_TIMELINE_CELERY_BROKER"],
        ENV["VIDEO_TIMELINE_CELERY_BACKEND"],
    )
    assert config["config_source"]["task_track_started"] is True


def test_configuration_alone_picks_the_executor_and_heavy_steps_go_to_the_gpu_queue(deploy_env, monkeypatch, tmp_path):
    specs = {"transcribe": ModelSpec(name="transcribe", model=str(tmp_path / "whisper"))}
    local = build_definitions(data_root=str(tmp_path), model_specs=specs)
    assert local.resolve_job_def(ANALYZE_JOB).executor_def.name == "in_process"

    monkeypatch.setenv(EXECUTOR_ENV, "celery")
    distributed = build_definitions(data_root=str(tmp_path), model_specs=specs)
    job = distributed.resolve_job_def(ANALYZE_JOB)
    assert job.executor_def.name == "celery_workers"
    # the implicit job behind the UI's own materializations and asset backfills uses the workers too
    assert distributed.resolve_implicit_global_asset_job_def().executor_def.name == "celery_workers"
    assert {k for a in local.assets for k in a.keys} == {k for a in distributed.assets for k in a.keys}
    # read back the way dagster-celery picks a step's queue: step.tags.get(DAGSTER_CELERY_QUEUE_TAG, default)
    queues = {node.name: node.definition.tags.get(DAGSTER_CELERY_QUEUE_TAG) for node in job.graph.nodes}
    assert queues["transcript"] == "gpu"
    assert {name for name, queue in queues.items() if queue} == {"transcript"}


def test_a_wrong_executor_setting_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv(EXECUTOR_ENV, "dask")
    with pytest.raises(
        ExecutorConfigError, match=r"\$VIDEO_TIMELINE_EXECUTOR='dask': choose one of in_process, celery"
    ):
        executor_from_env()
    monkeypatch.setenv(EXECUTOR_ENV, "celery")
    monkeypatch.setenv("VIDEO_TIMELINE_CELERY_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ExecutorConfigError, match=r"missing\.yaml does not exist"):
        executor_from_env()
    (tmp_path / "empty.yaml").write_text("broker: redis://x\n")
    monkeypatch.setenv("VIDEO_TIMELINE_CELERY_CONFIG", str(tmp_path / "empty.yaml"))
    with pytest.raises(ExecutorConfigError, match="no `execution: config:` block"):
        executor_from_env()


def test_the_overlap_measures_see_overlap_and_parallelism():
    apart = [(0.0, 1.0), (1.5, 2.0), (3.0, 4.0)]
    assert max_overlap_s(apart) == pytest.approx(-0.5)
    assert max_overlap_s([*apart, (3.5, 5.0)]) == pytest.approx(0.5)
    one_at_a_time = [(0.0, 1.0, "a"), (1.0, 2.0, "b"), (0.2, 0.8, "a")]
    assert max_parallel_groups(one_at_a_time) == 1
    assert max_parallel_groups([*one_at_a_time, (1.5, 3.0, "c")]) == 2
