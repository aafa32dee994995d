"""Backfill after a change: find, per video, exactly the assets Dagster calls stale, and rebuild them.

Staleness is Dagster's own (the same the UI shows): an asset whose `code_version` differs from the one
its stored materialization was made with; its dependents are rebuilt with it. Model specs drive the
heavy assets' code versions, so a model change is one case of this; nothing here is model-specific.
"""

import os
import warnings
from collections.abc import Callable

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    PreviewWarning,
    in_process_executor,
)

from video_assets.dagster_private import BaseAssetGraph, StaleStatus, stale_status_resolver
from video_assets.names import BACKFILL_TAG
from video_assets.partitions import videos
from video_assets.runs import run_partition

AUTO_BACKFILL_ENV = "VIDEO_TIMELINE_AUTO_BACKFILL"

# Opt-in automation: rebuild a materialized partition when its asset's code version changed, and its
# dependents with it (any_deps_updated counts a parent requested in the same tick). Never-materialized
# partitions (new or failed videos) are left to the inbox and retry sensors, so no video gets two runs
# at once. Kept small on purpose: each operand costs storage queries per asset on every tick.
REBUILD_AFTER_CODE_CHANGE = (
    (AutomationCondition.code_version_changed() | AutomationCondition.any_deps_updated()).since_last_handled()
    & ~AutomationCondition.missing()
    & ~AutomationCondition.in_progress()
).with_label("rebuild after a code version change")


def auto_backfill_enabled() -> bool:
    return os.environ.get(AUTO_BACKFILL_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def with_auto_backfill(defs: Definitions) -> Definitions:
    """Every asset gets REBUILD_AFTER_CODE_CHANGE, evaluated by a running automation sensor."""
    sensor = AutomationConditionSensorDefinition(
        "rebuild_after_code_change",
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)  # map_asset_specs is "preview" in 1.13
        mapped = defs.map_asset_specs(
            func=lambda spec: spec.replace_attributes(automation_condition=REBUILD_AFTER_CODE_CHANGE)
        )
    # The automation sensor launches runs of the implicit asset job: in-process too, like analyze_video.
    return Definitions.merge(mapped, Definitions(sensors=[sensor], executor=in_process_executor))


def backfill_plan(
    graph: BaseAssetGraph, instance: DagsterInstance
) -> tuple[dict[str, list[AssetKey]], dict[str, list[AssetKey]]]:
    """({partition: asset keys to rebuild, in graph order}, {partition: inputs it lacks}) over every `videos`
    partition; fresh videos are in neither.

    Dagster calls only the changed asset stale until it is rebuilt; its dependents then become stale
    (their input has a new data version). They are included at once, so one run per video suffices.
    A video is rebuilt only when every input the rebuild reads from outside it is stored: one whose analysis
    failed part-way (some assets never materialized) would fail again loading them, so it is left out, with
    the inputs it lacks (it needs `analyze`, not a backfill).
    """
    resolver = stale_status_resolver(instance, graph)
    keys = [k for k in graph.toposorted_asset_keys if graph.get(k).is_materializable]
    stored: dict[AssetKey, set[str]] = {}  # asset -> partitions with a materialization, read once per asset

    def missing_inputs(partition: str, selected: set[AssetKey]) -> list[AssetKey]:
        inputs = {parent for key in selected for parent in graph.get(key).parent_keys} - selected
        for key in inputs - stored.keys():
            stored[key] = instance.get_materialized_partitions(key)
        return [k for k in keys if k in inputs and partition not in stored[k]]

    rebuild: dict[str, list[AssetKey]] = {}
    skipped: dict[str, list[AssetKey]] = {}
    for partition in instance.get_dynamic_partitions(videos.name):
        selected: set[AssetKey] = set()
        for key in keys:  # graph order: parents are decided before their children
            if key in selected or resolver.get_status(key, partition) == StaleStatus.STALE:
                selected.add(key)
                selected.update(graph.get(key).child_keys)
        if not selected:
            continue
        lacking = missing_inputs(partition, selected)
        if lacking:
            skipped[partition] = lacking
        else:
            rebuild[partition] = [k for k in keys if k in selected]
    return rebuild, skipped


def stale_assets_by_partition(graph: BaseAssetGraph, instance: DagsterInstance) -> dict[str, list[AssetKey]]:
    """{partition key: asset keys to rebuild, in graph order}: the videos a backfill rebuilds (backfill_plan)."""
    return backfill_plan(graph, instance)[0]


def backfill_stale(
    defs: Definitions,
    instance: DagsterInstance,
    on_start: Callable[[str, list[AssetKey]], None] = lambda *_: None,
) -> dict[str, bool]:
    """Runs the job once per stale video, selecting only its stale assets (checks of selected assets run too).

    Returns {partition: succeeded}. Missing partitions are not touched: they never ran or failed, which
    is `analyze`'s and the retry sensor's business, not a model change's.
    """
    outcome = {}
    for partition, keys in stale_assets_by_partition(defs.resolve_asset_graph(), instance).items():
        on_start(partition, keys)
        run = run_partition(defs, instance, partition, asset_selection=keys, tags={BACKFILL_TAG: "stale"})
        outcome[partition] = run.success
    return outcome
