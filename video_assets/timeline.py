"""Timeline stage: one row per second from every event asset, with its reconstruction-score and density checks.

Which contract columns each event asset fills comes from the assets themselves (`ASPECTS_KEY` in their
metadata, read by `video_assets.events.aspects_by_asset`), so the score covers exactly the configured graph.
The score is computed once per materialization by `analyzers.timeline.reconstruction_score`; the timeline's
metadata, the check's metadata, the CLI (`video_assets.runs.recorded_score`) and the UI show that number.
"""

import time

import pandas as pd
from dagster import (
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
from analyzers.timeline import CONTRACT_ASPECTS, Score, build_timeline, density_problems, reconstruction_score
from resources.settings import AnalysisSettings
from resources.storage import TimelineStorage
from video_assets.events import probe_of
from video_assets.names import DENSITY_CHECK, SCORE_CHECK, TIMELINE_ASSET, TIMELINE_GROUP
from video_assets.partitions import videos

# 5: the video aspects of a second without a frame shown are derived; 4: no "dark black" or "bright white" in
# composed descriptions; 3: confidence-weighted score, score/confidence/derived/visibility columns, damaged streams
TIMELINE_VERSION = "5"


def expected_aspects(event_assets: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Aspects the configured graph produces; the description is always there (composed at least)."""
    produced = {a for aspects in event_assets.values() for a in aspects} | {"description"}
    return tuple(a for a in CONTRACT_ASPECTS if a in produced)


def _pct(x: float) -> str:
    return f"{x:.0%}" if x else "-"


def score_table(score: Score) -> str:
    """Per aspect: its score and where the rest went (not analysed, derived, confidence below 1)."""
    lines = [
        "| aspect | score | analysed | derived | confidence where observed | in score |",
        "|---|---|---|---|---|---|",
    ]
    for aspect, a in score.aspects.items():
        confidence = "-" if a.confidence is None else f"{a.confidence:.2f}"
        configured = "yes" if aspect in score.expected else "not configured"
        lines.append(
            f"| {aspect} | {a.score:.2f} | {a.analysed:.0%} | {_pct(a.derived)} | {confidence} | {configured} |"
        )
    return "\n".join(lines)


def score_markdown(frame: pd.DataFrame, score: Score) -> str:
    """The picture of every cell's weight, the score and coverage, why it is below 1, and the per-aspect table."""
    png = render_coverage_png(frame, CONTRACT_ASPECTS, score.expected, score.score, score.coverage)
    picture = markdown_image(png, "score per second")
    summary = (
        f"**Reconstruction score {score.score:.3f}**, coverage {score.coverage:.3f}, {score.seconds} s "
        "(green: observed, darker the surer; amber: derived, counts 0; grey: not analysed; (off): not configured)"
    )
    why = "; ".join(score.reasons(limit=len(CONTRACT_ASPECTS))) or "every configured cell observed with confidence 1"
    return f"{summary}\n\nBelow 1: {why}\n\n{picture}\n\n{score_table(score)}"


def stream_metadata(events: pd.DataFrame) -> dict:
    """Seconds of each stream that decoded, from the decode stage's and the audio analyzer's events."""
    out = {}
    for stream in ("video", "audio"):
        rows = events[events["aspect"] == f"{stream}_decoded"]
        if len(rows):
            shares = rows["value"].astype(float)
            out[f"{stream}_seconds_decoded"] = round(float((shares * (rows["end_s"] - rows["start_s"])).sum()), 3)
    return out


def check_metadata(score: Score, threshold: float) -> dict:
    return {
        "score": score.score,
        "coverage": score.coverage,
        "threshold": threshold,
        "below_1": "; ".join(score.reasons(limit=len(CONTRACT_ASPECTS))) or "nothing",
        "model_described_seconds": score.model_described_seconds,
        "seconds": score.seconds,
        **{f"score_{a}": v.score for a, v in score.aspects.items()},
        **{f"coverage_{a}": v.analysed for a, v in score.aspects.items()},
    }


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
        table = pd.concat(list(events.values()), ignore_index=True)
        frame = build_timeline(context.partition_key, probe.duration_s, table, expected)
        score = reconstruction_score(frame, expected)
        context.log.info(
            f"timeline: {len(frame)} seconds, reconstruction score {score.score:.3f}, coverage {score.coverage:.3f}"
        )
        return Output(
            frame,
            metadata={
                "rows": len(frame),
                "model_described_seconds": score.model_described_seconds,
                "seconds_taken": round(time.perf_counter() - started, 3),
                "reconstruction_score": score.score,
                "coverage": score.coverage,
                **stream_metadata(table),
                "score_breakdown": MetadataValue.md(score_markdown(frame, score)),
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
        description=(
            "Confidence-weighted share of the (second, aspect) cells observed, over the configured aspects; "
            "warns below the threshold (not blocking: a low score describes the video, e.g. no audio)."
        ),
    )
    def reconstruction_score_check(settings: AnalysisSettings, timeline: pd.DataFrame) -> AssetCheckResult:
        score = reconstruction_score(timeline, expected)
        return AssetCheckResult(
            passed=score.score >= settings.score_threshold,
            severity=AssetCheckSeverity.WARN,
            metadata=check_metadata(score, settings.score_threshold),
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
