"""The Dagster code location: `dagster dev -m video_assets.definitions`."""


import warnings

from dagster import AssetSelection, PreviewWarning, Definitions, define_asset_job, in_process_executor

from resources.settings import AnalysisSettings
from resources.storage import TimelineStorage
from video_assets.console_logger import concise_console_logger
from video_assets.assets import LIGHT_ASSETS, LIGHT_EVENT_ASSETS
from video_assets.io_manager import ParquetIOManager
from video_assets.timeline import build_timeline_assets

ANALYZE_JOB = "analyze_video"

# Per-partition asset checks are "preview" in Dagster 1.13; a timeline is checked per video.
warnings.filterwarnings("ignore", category=PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*")


def build_definitions(data_root: str | None = None) -> Definitions:
    storage = TimelineStorage(data_root=data_root) if data_root else TimelineStorage()
    timeline, checks = build_timeline_assets(LIGHT_EVENT_ASSETS)
    # In-process: on 2 cores a step's process start (2-3 s) costs more than the step; runs give parallelism.
    analyze = define_asset_job(ANALYZE_JOB, selection=AssetSelection.all(), executor_def=in_process_executor)
    return Definitions(
        assets=[*LIGHT_ASSETS, timeline],
        asset_checks=checks,
        jobs=[analyze],
        loggers={"console": concise_console_logger},
        resources={"storage": storage, "settings": AnalysisSettings(), "io_manager": ParquetIOManager(storage=storage)},
    )


defs = build_definitions()
