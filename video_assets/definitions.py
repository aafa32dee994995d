"""The Dagster code location: `dagster dev -m video_assets.definitions`.

Assembled from the pipeline's stages, each a module with the assets of one step of the pipeline:
decode -> visual, audio, text and faces, descriptions -> timeline. Heavy assets exist only for the
analyzers that models.toml configures.
"""

import warnings

from dagster import AssetSelection, BetaWarning, Definitions, PreviewWarning, define_asset_job, in_process_executor

from resources.heavy_models import HeavyModelRuntime
from resources.model_specs import ModelSpec, load_model_specs
from resources.settings import AnalysisSettings, OperationsSettings
from resources.storage import TimelineStorage
from video_assets import audio, decode, descriptions, text_faces, visual
from video_assets.backfill import auto_backfill_enabled, with_auto_backfill
from video_assets.console_logger import concise_console_logger
from video_assets.distributed import executor_from_env
from video_assets.events import aspects_by_asset
from video_assets.gpu_slots import gpu_slot_recovery
from video_assets.io_manager import ParquetIOManager
from video_assets.names import ANALYZE_JOB
from video_assets.report import build_report_asset
from video_assets.sensors import OPERATIONS_SENSORS
from video_assets.timeline import build_timeline_assets, expected_aspects

STAGES = (decode, visual, audio, text_faces, descriptions)

# Per-partition asset checks are "preview" in Dagster 1.13; a timeline is checked per video.
warnings.filterwarnings("ignore", category=PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*")
# The probe's data version (the file's content hash) is "beta" in Dagster 1.13.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*`data_version` of initializer `Output.__init__`.*")


def build_definitions(data_root: str | None = None, model_specs: dict[str, ModelSpec] | None = None) -> Definitions:
    """The graph; heavy assets for the analyzers configured in `model_specs` (default: models.toml)."""
    storage = TimelineStorage(data_root=data_root) if data_root else TimelineStorage()
    specs = load_model_specs() if model_specs is None else model_specs
    assets = [definition for stage in STAGES for definition in stage.stage_assets(specs)]
    event_assets = aspects_by_asset(assets)
    timeline, checks = build_timeline_assets(event_assets)
    report = build_report_asset(expected_aspects(event_assets))
    # In-process unless configuration says otherwise ($VIDEO_TIMELINE_EXECUTOR, video_assets/distributed.py):
    # on 2 cores a step's process start (2-3 s) costs more than the step; runs give parallelism.
    executor = executor_from_env()
    analyze = define_asset_job(ANALYZE_JOB, selection=AssetSelection.all(), executor_def=executor)
    defs = Definitions(
        assets=[*assets, timeline, report],
        asset_checks=checks,
        jobs=[analyze],
        sensors=[*OPERATIONS_SENSORS, gpu_slot_recovery],
        loggers={"console": concise_console_logger},
        # Distributed: the UI's own materializations and asset backfills run on the workers too.
        executor=None if executor is in_process_executor else executor,
        resources={
            "storage": storage,
            "settings": AnalysisSettings(),
            "io_manager": ParquetIOManager(storage=storage),
            "heavy_models": HeavyModelRuntime(),
            "operations": OperationsSettings(),
        },
    )
    # Opt-in ($VIDEO_TIMELINE_AUTO_BACKFILL=1): the automation sensor rebuilds what a code change made stale.
    return with_auto_backfill(defs) if auto_backfill_enabled() else defs


defs = build_definitions()
