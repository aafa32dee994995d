"""The VLM description asset in the whole graph, with a tiny random Qwen2-VL loaded through the runtime.

A random model answers with garbage, so `generate` is wrapped: the real model still generates
(through the production loading path, on the production inputs), then its answer is replaced by
one line per second label found in the prompt. An input longer than a token cap raises a real
`torch.OutOfMemoryError`, as a device with little memory would, to drive the runtime's backoff.
"""

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from dagster import AssetKey, DagsterInstance
from transformers import AutoModelForImageTextToText, Qwen2VLForConditionalGeneration

from analyzers.vlm import load_processor
from resources.heavy_models import GPU_POOL, HeavyModelRuntime, HeavyOutOfMemory
from resources.model_specs import ModelSpec, ModelSpecError
from support.media_factory import Shot, render_shots, write_video
from support.tiny_vlm import build, frame_store, sampled_frames
from video_assets.dagster_private import StaleStatus, claimed_pool_slots, stale_status_resolver
from video_assets.definitions import build_definitions
from video_assets.descriptions import DESCRIPTIONS_ASSET, describe_with_backoff, plan_options
from video_assets.runs import analyze_file, register_video, run_partition

pytestmark = pytest.mark.slow

OPTIONS = {"max_window_s": 4, "min_window_s": 2, "overlap_s": 1, "new_tokens_per_second": 32}
OOM_ABOVE_TOKENS = 200
CUDA = torch.cuda.is_available()
DEFAULT_DEVICE = "cuda:0" if CUDA else "cpu"  # where the runtime's "auto" runs the model on this machine
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    return build(tmp_path_factory.mktemp("tiny_qwen2_vl"), "qwen2_vl")


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory):
    """6 s, 192x108 at 10 fps, no audio: two shots, one panning."""
    path = tmp_path_factory.mktemp("media") / "moving.mp4"
    return write_video(path, render_shots([Shot(3, 11), Shot(3, 12, pan_px_s=40)], 192, 108, 10), 10)


def scripted_generate(monkeypatch, folder, oom_above_tokens=None, during=None):
    """Wraps Qwen2-VL's generate as described above (calling `during()` first, if given); returns
    the list of (seconds, input tokens) asked."""
    tokenizer = load_processor(folder).tokenizer
    real = Qwen2VLForConditionalGeneration.generate
    calls = []

    def generate(self, **kwargs):
        n_input = kwargs["input_ids"].shape[1]
        seconds = [int(s) for s in re.findall(r"\[(\d+)s\] <", tokenizer.decode(kwargs["input_ids"][0]))]
        calls.append((seconds, n_input))
        if during is not None:
            during()
        if oom_above_tokens is not None and n_input > oom_above_tokens:
            raise torch.OutOfMemoryError(
                f"CUDA out of memory: {n_input} input tokens above the test device's {oom_above_tokens}"
            )
        out = real(self, **kwargs)
        assert out.shape[1] > n_input
        text = "".join(f"[{s}] A red square moves across a gradient in second {s}.\n" for s in seconds)
        new = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"][:, : kwargs["max_new_tokens"]]
        return torch.cat([kwargs["input_ids"], new.to(kwargs["input_ids"].device)], dim=1)

    monkeypatch.setattr(Qwen2VLForConditionalGeneration, "generate", generate)
    return calls


def describe_spec(folder, **changes) -> ModelSpec:
    return ModelSpec(
        **{
            "name": "describe",
            "model": str(folder),
            "dtype": "float32",
            "prompt_version": "v1",
            "options": OPTIONS,
            **changes,
        }
    )


@dataclass
class GraphRun:
    instance: DagsterInstance
    data_root: str
    key: str
    result: object
    calls: list
    gpu_slot_holders: set


@pytest.fixture(scope="module")
def described(tmp_path_factory, tiny_qwen, moving_clip):
    """The whole default graph plus `video_descriptions`, run once on a private instance."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    data = str(tmp_path_factory.mktemp("data"))
    defs = build_definitions(data_root=data, model_specs={"describe": describe_spec(tiny_qwen)})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))  # dagster.yaml keeps the instance's storage under $DAGSTER_HOME
        with DagsterInstance.from_config(str(home)) as instance:
            holders = set()  # who holds gpu slots while the model generates

            def record_gpu_slot_holders():
                holders.update(claimed_pool_slots(instance, GPU_POOL))

            calls = scripted_generate(
                patch, tiny_qwen, oom_above_tokens=OOM_ABOVE_TOKENS, during=record_gpu_slot_holders
            )
            key = register_video(defs, instance, moving_clip)
            run = run_partition(defs, instance, key)
            yield GraphRun(instance, data, key, run.result, calls, holders)


def test_the_whole_graph_describes_every_second_with_the_model_through_the_gpu_pool(described, tiny_qwen):
    result = described.result
    assert result.success
    assert described.gpu_slot_holders == {(result.run_id, DESCRIPTIONS_ASSET)}  # the model ran holding the one gpu slot
    timeline = result.output_for_node("timeline")
    assert len(timeline) == 6
    assert (timeline["description_source"] == str(tiny_qwen)).all()
    for row in timeline.itertuples():
        assert row.description == f"A red square moves across a gradient in second {row.second}."

    meta = result.asset_materializations_for_node(DESCRIPTIONS_ASSET)[0].metadata
    assert meta["device"].value == DEFAULT_DEVICE and meta["dtype"].value == "float32"  # the spec's dtype
    if CUDA:  # the tiny model's weights and activations on the GPU
        assert meta["peak_memory_kind"].value == "cuda_max_allocated" and meta["peak_memory_bytes"].value > 0
    else:  # the whole process: Python, torch and the graph's other steps
        assert meta["peak_memory_kind"].value == "process_peak_rss" and meta["peak_memory_bytes"].value > 50 * 2**20
    assert meta["load_s"].value > 0 and meta["coverage"].value == 1.0
    # windows above the test device's cap ran out of memory: each time the plan shrank and resumed
    steps = meta["oom_steps"].value
    oomed = [n for _, n in described.calls if n > OOM_ABOVE_TOKENS]
    assert len(oomed) == len(steps) == meta["oom_retries"].value >= 1
    assert steps[0]["from"].startswith("4 s windows") and all(step["to"] for step in steps)
    assert all(t <= OOM_ABOVE_TOKENS for t in meta["tokens_per_window"].value) and meta["windows"].value >= 3
    assert meta["video_s_per_compute_s"].value > 0 and meta["reasks"].value == 0
    assert meta["frames_in_sparsest_second"].value == 2
    assert meta["attention"].value == "sdpa_grouped_decode"  # the tiny model's grouped-query decode steps


def statuses(run: GraphRun, spec: ModelSpec) -> dict[str, StaleStatus]:
    graph = build_definitions(data_root=run.data_root, model_specs={"describe": spec}).resolve_asset_graph()
    resolver = stale_status_resolver(run.instance, graph)
    return {k.to_user_string(): resolver.get_status(k, run.key) for k in graph.materializable_asset_keys}


def test_a_describe_spec_change_marks_exactly_the_descriptions_stale(described, tiny_qwen):
    assert set(statuses(described, describe_spec(tiny_qwen)).values()) == {StaleStatus.FRESH}
    for change in (
        {"options": {**OPTIONS, "max_window_s": 3}},
        {"dtype": "bfloat16"},
        {"revision": "v2"},
        {"memory_budget_gb": 8},
    ):
        after = statuses(described, describe_spec(tiny_qwen, **change))
        stale = {k for k, v in after.items() if v == StaleStatus.STALE}
        assert stale == {DESCRIPTIONS_ASSET}, change  # the timeline follows once they are rebuilt
        assert {v for k, v in after.items() if k not in stale} == {StaleStatus.FRESH}


def test_sampling_below_two_frames_per_second_fails_clearly_for_qwen(moving_clip, instance_home, tiny_qwen):
    spec = ModelSpec(name="describe", model=str(tiny_qwen), dtype="float32", options=OPTIONS)
    defs = build_definitions(data_root=instance_home["VIDEO_TIMELINE_DATA"], model_specs={"describe": spec})
    with DagsterInstance.get() as instance:
        run = analyze_file(
            defs,
            instance,
            moving_clip,
            asset_selection=[
                AssetKey(k) for k in ("video_probe", "frame_signals", "sampled_frames", DESCRIPTIONS_ASSET)
            ],
            run_config={"resources": {"settings": {"config": {"sample_fps": 1.0}}}},
        )
    assert not run.success
    assert "needs at least 2 sampled frames per second" in run.failure and f"(step {DESCRIPTIONS_ASSET})" in run.failure


@pytest.mark.parametrize(
    "spec, problem",
    [
        (dict(prompt_version="v9"), "unknown prompt_version 'v9'"),
        (dict(options={"max_window": 4}), "unknown keys max_window"),
    ],
)
def test_a_bad_describe_spec_fails_when_the_code_location_loads(tmp_path, spec, problem):
    with pytest.raises(ModelSpecError, match=problem):
        build_definitions(
            data_root=str(tmp_path), model_specs={"describe": ModelSpec(name="describe", model="/m", **spec)}
        )


def test_without_a_describe_spec_the_asset_is_absent_and_descriptions_stay_composed(tmp_path):
    defs = build_definitions(data_root=str(tmp_path), model_specs={})
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert DESCRIPTIONS_ASSET not in keys and "timeline" in keys
    timeline_inputs = {k.to_user_string() for k in defs.get_assets_def("timeline").dependency_keys}
    assert DESCRIPTIONS_ASSET not in timeline_inputs


def test_out_of_memory_even_for_one_second_at_the_smallest_frames_fails_clearly(tiny_qwen, tmp_path, monkeypatch):
    calls = scripted_generate(monkeypatch, tiny_qwen, oom_above_tokens=0)
    store = frame_store(tmp_path / "frames.parquet", sampled_frames(6, height=180, width=320))
    spec = ModelSpec(name="describe", model=str(tiny_qwen), dtype="float32", options=OPTIONS)
    with HeavyModelRuntime().session(spec) as heavy:
        model = heavy.load_pretrained(AutoModelForImageTextToText)
        with pytest.raises(
            HeavyOutOfMemory,
            match=rf"describe \(.*\) runs out of memory on {DEFAULT_DEVICE} even at the smallest unit of work "
            r"\(1 s windows",
        ):
            describe_with_backoff(heavy, store, 6.0, model, load_processor(tiny_qwen), *plan_options(spec))
    steps = heavy.metadata["oom_steps"]
    assert len(steps) == len(calls) >= 3 and steps[-1]["to"] is None
    assert [n for _, n in calls] == sorted((n for _, n in calls), reverse=True)  # every retry asks for less
    assert len(set(n for _, n in calls)) == len(calls)


def test_the_description_asset_is_in_the_gpu_pool_and_requests_a_gpu_on_kubernetes(tmp_path, tiny_qwen):
    spec = ModelSpec(name="describe", model=str(tiny_qwen))
    defs = build_definitions(data_root=str(tmp_path), model_specs={"describe": spec})
    described = defs.get_assets_def(DESCRIPTIONS_ASSET)
    assert described.op.pool == "gpu" and "heavy_models" in described.required_resource_keys
    assert "nvidia.com/gpu" in described.op.tags["dagster-k8s/config"]
    assert described.code_versions_by_key[described.key] == f"2-{spec.code_version()}"
