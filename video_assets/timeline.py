"""Timeline stage: one row per second from every event asset, with its reconstruction-score and density checks.

Which contract columns each event asset fills comes from the assets themselves (`ASPECTS_KEY` in their
metadata, read by `video_assets.events.aspects_by_asset`), so the score covers exactly the configured graph.
"""

import time

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from analyzers.coverage_picture import markdown_image, render_coverage_png
from analyzers.report import per_aspect_line, preview_markdown
from analyzers.timeline import CONTRACT_ASPECTS, build_timeline, density_problems, reconstruction_score
from resources.settings import AnalysisSettings
from resources.storage import TimelineStorage
from video_assets.events import probe_of
from video_assets.names import DENSITY_CHECK, SCORE_CHECK, TIMELINE_ASSET, TIMELINE_GROUP
from video_assets.partitions import videos

TIMELINE_VERSION = "2"  # 2: files keep the contract types (list<string>, not list<null>)


def expected_aspects(event_assets: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Aspects the configured graph produces; the description is always there (composed at least)."""
    produced = {a for aspects in event_assets.values() for a in aspects} | {"description"}
    return tuple(a for a in CONTRACT_ASPECTS if a in produced)


def coverage_table(per_aspect: dict[str, float], expected: tuple[str, ...]) -> str:
    lines = ["| aspect | seconds analysed | in score |", "|---|---|---|"]
    lines += [f"| {a} | {v:.0%} | {'yes' if a in expected else 'not configured'} |" for a, v in per_aspect.items()]
    return "\n".join(lines)


def coverage_markdown(frame: pd.DataFrame, score, expected: tuple[str, ...]) -> str:
    """The picture of which aspect is analysed at which second, the score, and the per-aspect table."""
    picture = markdown_image(render_coverage_png(frame, CONTRACT_ASPECTS, expected, score.score), "coverage per second")
    summary = (
        f"**Reconstruction score {score.score:.3f}**, {score.seconds} s "
        "(green: analysed, grey: not analysed, (off): not configured)"
    )
    return f"{summary}\n\n{picture}\n\n{coverage_table(score.per_aspect, expected)}"


def build_timeline_assets(event_assets: dict[str, tuple[str, ...]]):
    """The timeline asset over the given event assets, with its reconstruction-score and density checks."""
    expected = expected_aspects(event_assets)

    @asset(
        partitions_def=videos,
        name=TIMELINE_ASSET,
        group_name=TIMELINE_GROUP,
        code_version=TIMELINE_VERSION,
        ins={"video_probe": AssetIn(), **{name: AssetIn() for name in event_assets}},
        description="One row per second of the video; every aspect a column (null = not analysed).",
    )
    def timeline(
        context: AssetExecutionContext, storage: TimelineStorage, video_probe: pd.DataFrame, **events: pd.DataFrame
    ) -> Output:
        started, probe = time.perf_counter(), probe_of(video_probe)
        frame = build_timeline(
            context.partition_key, probe.duration_s, pd.concat(list(events.values()), ignore_index=True)
        )
        score = reconstruction_score(frame, expected)
        context.log.info(f"timeline: {len(frame)} seconds, reconstruction score {score.score:.3f}")
        return Output(
            frame,
            metadata={
                "rows": len(frame),
                "seconds_covered": score.described_seconds,
                "seconds_taken": round(time.perf_counter() - started, 3),
                "reconstruction_score": score.score,
                "coverage": MetadataValue.md(coverage_markdown(frame, score, expected)),
                # Content, not only status: the aspects' scores inline, the first rows, the report's link.
                "score_by_aspect": MetadataValue.text(per_aspect_line(score.per_aspect, expected)),
                "preview": MetadataValue.md(preview_markdown(frame)),
                "report": MetadataValue.url(storage.report_path(context.partition_key).as_uri()),
                "report_file": MetadataValue.path(str(storage.report_path(context.partition_key))),
            },
        )

    @asset_check(
        asset=timeline,
        name=SCORE_CHECK,
        partitions_def=videos,
        description="Share of (second, aspect) cells analysed, over the configured aspects.",
    )
    def reconstruction_score_check(
        context: AssetCheckExecutionContext, settings: AnalysisSettings, timeline: pd.DataFrame
    ) -> AssetCheckResult:
        score = reconstruction_score(timeline, expected)
        missing = [a for a in expected if score.per_aspect[a] < 1.0]
        return AssetCheckResult(
            passed=score.score >= settings.score_threshold,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "score": score.score,
                "threshold": settings.score_threshold,
                "described_seconds": score.described_seconds,
                "seconds": score.seconds,
                "incomplete_aspects": ", ".join(missing) or "none",
                **{f"coverage_{a}": v for a, v in score.per_aspect.items()},
            },
        )

    @asset_check(
        asset=timeline,
        name=DENSITY_CHECK,
        blocking=True,
        partitions_def=videos,
        additional_ins={"video_probe": AssetIn()},
        description="Exactly one row per second, contiguous, matching the probed duration.",
    )
    def timeline_dense(timeline: pd.DataFrame, video_probe: pd.DataFrame) -> AssetCheckResult:
        probe = probe_of(video_probe)
        problems = density_problems(timeline, probe.duration_s)
        return AssetCheckResult(
            passed=not problems,
            metadata={
                "rows": len(timeline),
                "duration_s": round(probe.duration_s, 3),
                "problems": "; ".join(problems) or "none",
            },
        )

    return timeline, [reconstruction_score_check, timeline_dense]
