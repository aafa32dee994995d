"""What every heavy-model asset shares: the `gpu` pool, a GPU request on Kubernetes, a code_version
from its model spec, model errors that are final, and the session's metadata.

    @heavy_asset(spec, "objects", objects_analyzer.VERSION, ("objects",), group=VISUAL_GROUP)
    def objects(context, heavy_models: HeavyModelRuntime, video_probe, sampled_frames):
        # its docstring, plus "Model: <spec.model>.", is the asset's description
        with model_errors_are_final(spec), heavy_models.session(spec, log=context.log) as heavy:
            ...
        return events_output(context, events, probe, started, **session_metadata(heavy))
"""

from collections.abc import Iterable, Sequence
from contextlib import contextmanager

from dagster import MetadataValue

from resources.heavy_models import (
    GPU_OP_TAGS,
    GPU_POOL,
    HeavyModelSession,
    HeavyOutOfMemory,
    ModelWeightsMissing,
    UnsafeWeights,
)
from resources.model_specs import ModelSpec, ModelSpecError
from video_assets.events import errors_are_final, event_asset
from video_assets.names import HEAVY_TAG


def heavy_asset(spec: ModelSpec, name: str, version: str, aspects: Sequence[str], *, group: str, **kwargs):
    """The decorator of a heavy-model event asset: in the `gpu` pool with a GPU request for Kubernetes,
    its code_version the asset's own version plus the spec's hash (a model change marks exactly it stale),
    its description the function's docstring plus the model it runs."""

    def decorate(fn):
        return event_asset(
            name=name,
            group=group,
            version=f"{version}-{spec.code_version()}",
            aspects=aspects,
            pool=GPU_POOL,
            op_tags=GPU_OP_TAGS,
            tags={HEAVY_TAG: spec.name},
            metadata={"model": spec.model, "model_spec": MetadataValue.json(spec.as_dict())},
            description=f"{(fn.__doc__ or '').strip()} Model: {spec.model}.",
            **kwargs,
        )(fn)

    return decorate


@contextmanager
def model_errors_are_final(spec: ModelSpec):
    """Missing or unsafe weights, and out of memory at the smallest unit, fail the step as a
    deliberate `Failure`: a retry would meet the same model and the same memory, so the retry
    sensor leaves it alone (no retry storm) until the spec changes."""
    with errors_are_final(ModelWeightsMissing, UnsafeWeights, HeavyOutOfMemory, prefix=f"models.toml [{spec.name}]: "):
        yield


def session_metadata(heavy: HeavyModelSession) -> dict:
    """The session's measurements (device, dtype, load time, peak memory, OOM steps) as asset metadata."""
    meta = {k: v for k, v in heavy.metadata.items() if k not in ("oom_steps", "model")}
    return {**meta, "oom_steps": MetadataValue.json(heavy.metadata.get("oom_steps", []))}


def check_options(spec: ModelSpec, known: Iterable[str]) -> None:
    """Unknown keys in [NAME.options] are an error when the code location loads, not at run time."""
    unknown = sorted(set(spec.options) - set(known))
    if unknown:
        raise ModelSpecError(
            f"models.toml [{spec.name}.options]: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
