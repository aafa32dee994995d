"""Analysis settings shared by the light analyzers and the timeline checks."""


from dagster import ConfigurableResource
from pydantic import Field


class AnalysisSettings(ConfigurableResource):
    sample_fps: float = Field(default=2.0, gt=0, description="Sampled frames per second for frame-based analyzers.")
    frame_max_side: int = Field(default=1280, ge=64, description="Longest side of sampled frames, in pixels.")
    score_threshold: float = Field(
        default=0.9, ge=0, le=1, description="Minimum reconstruction score for the timeline check to pass."
    )
