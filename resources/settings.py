"""Analysis settings shared by the light analyzers and the timeline checks."""

import os
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field


class AnalysisSettings(ConfigurableResource):
    sample_fps: float = Field(default=2.0, gt=0, description="Sampled frames per second for frame-based analyzers.")
    frame_max_side: int = Field(default=1280, ge=64, description="Longest side of sampled frames, in pixels.")
    score_threshold: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Minimum reconstruction score for the timeline check to pass (below it the check warns): "
        "under half of the configured (second, aspect) cells backed by a confident observation.",
    )


def _env(name: str, default):
    """A default read from the environment when the code location loads, with an error naming the variable."""

    def read():
        raw = os.environ.get(name)
        try:
            return default if raw is None else type(default)(raw)
        except ValueError:
            raise ValueError(f"${name}={raw!r} is not a {type(default).__name__}") from None

    return read


class OperationsSettings(ConfigurableResource):
    """The inbox sensor and the retry sensor; every field can be set by environment variable."""

    inbox_folder: str = Field(
        default_factory=_env("VIDEO_TIMELINE_INBOX", str(Path(__file__).resolve().parents[1] / "inbox")),
        description="Folder watched for new videos (VIDEO_TIMELINE_INBOX); files in it are only ever read.",
    )
    inbox_settle_seconds: float = Field(
        default_factory=_env("VIDEO_TIMELINE_INBOX_SETTLE_S", 10.0),
        ge=0,
        description="A file is picked up once its size and mtime are unchanged across two sensor ticks and "
        "it was last modified at least this long ago (a file still being copied keeps changing).",
    )
    max_retries: int = Field(
        default_factory=_env("VIDEO_TIMELINE_MAX_RETRIES", 2),
        ge=0,
        description="Failed runs of a video are retried at most this many times (VIDEO_TIMELINE_MAX_RETRIES).",
    )
