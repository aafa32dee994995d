"""The `report` asset: the video's account as one self-contained HTML page (analyzers/report.py), written
atomically to <data_root>/report/video=<key>/report.html after the timeline."""

import time
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MaterializeResult, MetadataValue, asset

from analyzers import report as report_renderer
from analyzers.timeline import CONTRACT_ASPECTS, seconds_without_picture
from resources.storage import TimelineStorage
from video_assets.events import probe_of
from video_assets.names import TIMELINE_GROUP, VIDEO_QUALITY
from video_assets.partitions import videos

EXPECTED_ASPECTS = "video_timeline/expected_aspects"  # definition metadata: what the report's score counts


def report_expected_aspects(defs) -> tuple[str, ...]:
    """The aspects the configured graph produces, as its report asset records them."""
    spec = next(iter(defs.resolve_assets_def("report").specs))
    recorded = spec.metadata.get(EXPECTED_ASPECTS)
    return tuple(str(recorded).split(",")) if recorded else CONTRACT_ASPECTS


def build_report_asset(expected: tuple[str, ...]):
    """The report over the timeline; `expected`: the aspects the configured graph produces (for its score)."""

    @asset(
        partitions_def=videos,
        group_name=TIMELINE_GROUP,
        code_version=report_renderer.VERSION,
        ins={
            "timeline": AssetIn(),
            "sampled_frames": AssetIn(),
            "video_probe": AssetIn(),
            VIDEO_QUALITY: AssetIn(),
        },
        metadata={EXPECTED_ASPECTS: ",".join(expected)},
        description="One HTML page per video: a thumbnail per second, a lane per aspect, the source video "
        "seeking to a clicked second. Self-contained (opens offline); the video is referenced, not copied.",
    )
    def report(
        context: AssetExecutionContext,
        storage: TimelineStorage,
        timeline: pd.DataFrame,
        sampled_frames: Path | None,
        video_probe: pd.DataFrame,
        video_quality: pd.DataFrame,
    ) -> MaterializeResult:
        started, key = time.perf_counter(), context.partition_key
        source = Path(probe_of(video_probe).path)
        summary = report_renderer.render_report(
            timeline,
            storage.report_path(key),
            frames_path=sampled_frames,
            video_path=source,
            title=source.name,
            expected=expected,
            without_picture=seconds_without_picture(video_quality, len(timeline)),
        )
        context.log.info(f"report: {summary.path} ({summary.bytes / 1e6:.1f} MB, {summary.thumbnails} thumbnails)")
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(summary.path)),
                "link": MetadataValue.url(summary.path.as_uri()),
                "bytes": summary.bytes,
                "thumbnails": summary.thumbnails,
                "seconds": summary.seconds,
                "seconds_taken": round(time.perf_counter() - started, 3),
            }
        )

    return report
