"""The scale-out configuration (deploy/k8s) loads and validates with Dagster's own schemas.

No cluster or Postgres is needed: the instance file is checked against the instance schema, and its
storage and run-launcher sections against the config schemas of the classes they name.
"""

from pathlib import Path

import pytest
from dagster import DagsterInvalidConfigError
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import get_user_defined_k8s_config
from dagster_postgres import DagsterPostgresStorage

from resources.model_specs import ModelSpec
from support.instance import validated
from video_assets.dagster_private import dagster_instance_config
from video_assets.descriptions import build_description_asset

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


@pytest.fixture
def cluster_env(monkeypatch):
    for name, value in {
        "DAGSTER_PG_HOST": "pg",
        "DAGSTER_PG_DB": "dagster",
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_PASSWORD": "secret",
        "DAGSTER_K8S_NAMESPACE": "video",
    }.items():
        monkeypatch.setenv(name, value)


def test_the_kubernetes_instance_file_is_a_valid_instance_config_with_the_gpu_pool(cluster_env):
    config, _ = dagster_instance_config(str(DEPLOY))
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    assert config["run_monitoring"]["enabled"] and config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    storage = validated(DagsterPostgresStorage.config_type(), config["storage"]["postgres"])
    assert storage["postgres_db"]["hostname"] == "pg" and storage["postgres_db"]["password"] == "secret"
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert validated(K8sRunLauncher.config_type(), launcher["config"])["job_namespace"] == "video"


def test_a_broken_instance_file_is_rejected(tmp_path, cluster_env):
    (tmp_path / "dagster.yaml").write_text(
        (DEPLOY / "dagster.yaml").read_text().replace("granularity: op", "granularity: opp")
    )
    with pytest.raises(
        DagsterInvalidConfigError, match=r"Found value `opp` for `granularity`, Expected value 'run' or 'op'"
    ):
        dagster_instance_config(str(tmp_path))


def test_the_kubernetes_code_location_loads_with_a_step_pod_executor_and_gpu_requests():
    import runpy

    defs = runpy.run_path(str(DEPLOY / "definitions.py"))["defs"]
    defs.validate_loadable(defs)
    assert defs.resolve_job_def("analyze_video").executor_def.name == "k8s_step_pods"
    heavy = build_description_asset(ModelSpec(name="describe", model="/models/qwen"))
    # read back the way the k8s executor reads a step's tags
    assert get_user_defined_k8s_config(heavy.op.tags).container_config == {
        "resources": {"limits": {"nvidia.com/gpu": "1"}}
    }
