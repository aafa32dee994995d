"""The heavy-model runtime loading tiny random models of real architectures through the production path.

Tests of the default device expect what is right for the machine they run on: the first GPU where CUDA
is present (memory measured as CUDA's peak allocation), else the CPU (the process's peak RSS)."""

import gc
import logging
import mmap
import os
import weakref

import pytest
import torch
from transformers import AutoModelForImageTextToText

from resources.heavy_models import (
    HeavyModelRuntime,
    HeavyOutOfMemory,
    ModelWeightsMissing,
    UnsafeWeights,
    is_out_of_memory,
)
from resources.model_specs import ModelSpec
from support.tiny_vlm import build

MIB = 2**20
CUDA = torch.cuda.is_available()
DEFAULT_DEVICE = "cuda:0" if CUDA else "cpu"  # the runtime's "auto"


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    return build(tmp_path_factory.mktemp("tiny_qwen2_vl"), "qwen2_vl")


def rss_bytes() -> int:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_in_use() -> int:
    """What the session's peak is measured against: CUDA's allocated bytes, else the process's RSS."""
    return torch.cuda.memory_allocated(DEFAULT_DEVICE) if CUDA else rss_bytes()


def ballast(nbytes: int):
    """Memory the session's peak must see. On the CPU a fresh anonymous mapping with every page written: a
    tensor may get pages that stayed resident after earlier tests freed them, and those raise no peak (in the
    full suite on one machine a 200 MiB tensor raised it by 3 MiB)."""
    if CUDA:
        return torch.ones(nbytes // 4, device=DEFAULT_DEVICE)
    pages = mmap.mmap(-1, nbytes)
    for offset in range(0, nbytes, mmap.PAGESIZE):
        pages[offset] = 1
    return pages


def spec_for(folder, **fields) -> ModelSpec:
    return ModelSpec(name="describe", model=str(folder), **fields)


def test_loads_a_tiny_model_on_the_default_device_and_records_device_dtype_load_time_and_peak_memory(tiny_qwen):
    runtime = HeavyModelRuntime()
    with runtime.session(spec_for(tiny_qwen, dtype="bfloat16")) as heavy:
        model = heavy.load_pretrained(AutoModelForImageTextToText)
        assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
        assert model.device == torch.device(DEFAULT_DEVICE) and model.dtype == torch.bfloat16 and not model.training
        before = memory_in_use()
        held = ballast(200 * MIB)  # the session's peak sees this allocation
        del held, model
    meta = heavy.metadata
    assert (meta["device"], meta["dtype"], meta["quantization"], meta["model"]) == (
        DEFAULT_DEVICE,
        "bfloat16",
        "none",
        str(tiny_qwen),
    )
    assert meta["load_s"] > 0 and meta["offline"] is True
    if CUDA:
        assert meta["peak_memory_kind"] == "cuda_max_allocated" and "peak_rss_scope" not in meta
    else:
        assert meta["peak_memory_kind"] == "process_peak_rss" and meta["peak_rss_scope"] == "session"
    assert meta["peak_memory_bytes"] >= before + 190 * MIB
    assert meta["oom_retries"] == 0 and meta["oom_steps"] == []


def test_a_new_session_measures_its_own_peak_not_the_previous_one(tiny_qwen):
    runtime = HeavyModelRuntime()
    with runtime.session(spec_for(tiny_qwen)) as big:
        held = ballast(300 * MIB)
        del held
    with runtime.session(spec_for(tiny_qwen)) as small:
        small.load_pretrained(AutoModelForImageTextToText)
    assert small.metadata["peak_memory_bytes"] < big.metadata["peak_memory_bytes"] - 200 * MIB


def test_the_session_frees_the_model_at_exit(tiny_qwen):
    with HeavyModelRuntime().session(spec_for(tiny_qwen)) as heavy:
        ref = weakref.ref(heavy.load_pretrained(AutoModelForImageTextToText))
    gc.collect()
    assert ref() is None and heavy.model is None


def test_from_pretrained_kwargs_are_safe_by_default_and_follow_the_spec(tiny_qwen, monkeypatch):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    with HeavyModelRuntime().session(spec_for(tiny_qwen)) as heavy:
        kwargs = heavy.pretrained_kwargs()
        assert os.environ["HF_HUB_OFFLINE"] == "1"
    # "auto" precision: float32 on the CPU, bfloat16 on CUDA that has it, else float16
    auto = torch.float32 if not CUDA else torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert kwargs == {
        "dtype": auto,
        "use_safetensors": True,
        "trust_remote_code": False,
        "local_files_only": True,
    }
    with HeavyModelRuntime(offline=False).session(spec_for(tiny_qwen, trust_remote_code=True)) as heavy:
        kwargs = heavy.pretrained_kwargs()
    assert kwargs["trust_remote_code"] is True and kwargs["local_files_only"] is False


def test_quantization_builds_bitsandbytes_configs_for_cuda_and_is_refused_on_cpu(tiny_qwen):
    runtime = HeavyModelRuntime()
    cuda = torch.device("cuda:0")
    eight = runtime.quantization_config(spec_for(tiny_qwen, quantization="8bit"), cuda)
    four = runtime.quantization_config(spec_for(tiny_qwen, quantization="4bit", dtype="bfloat16"), cuda)
    assert eight.load_in_8bit and not eight.load_in_4bit
    assert four.load_in_4bit and four.bnb_4bit_quant_type == "nf4" and four.bnb_4bit_compute_dtype == torch.bfloat16
    with (
        HeavyModelRuntime(device="cpu").session(spec_for(tiny_qwen, quantization="4bit")) as heavy,
        pytest.raises(ValueError, match=r"4bit quantization .* needs a CUDA device, this runs on cpu"),
    ):
        heavy.load_pretrained(AutoModelForImageTextToText)


def test_device_choice_on_this_machine():
    assert HeavyModelRuntime().resolve_device() == torch.device(DEFAULT_DEVICE)
    assert HeavyModelRuntime(device="cpu").resolve_device() == torch.device("cpu")
    if CUDA:
        assert HeavyModelRuntime(device="cuda:0").resolve_device() == torch.device("cuda:0")
    else:
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            HeavyModelRuntime(device="cuda").resolve_device()


@pytest.mark.parametrize("cuda", [False, True], ids=["without CUDA", "with CUDA"])
def test_device_choice_with_and_without_cuda(monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert HeavyModelRuntime().resolve_device() == torch.device("cuda:0" if cuda else "cpu")
    assert HeavyModelRuntime(device="cpu").resolve_device() == torch.device("cpu")
    if cuda:
        assert HeavyModelRuntime(device="cuda:1").resolve_device() == torch.device("cuda:1")
    else:
        with pytest.raises(RuntimeError, match=r"heavy_models.device is 'cuda:1' but CUDA is not available"):
            HeavyModelRuntime(device="cuda:1").resolve_device()


def test_missing_weights_name_the_model_and_how_to_provide_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache; offline, so nothing is fetched
    runtime = HeavyModelRuntime()
    with pytest.raises(ModelWeightsMissing) as err:
        runtime.session(spec_for(tmp_path / "no_such_model")).__enter__()
    assert "no_such_model" in str(err.value) and "models.toml" in str(err.value) and "[describe]" in str(err.value)
    with pytest.raises(ModelWeightsMissing) as err:
        runtime.session(ModelSpec(name="describe", model="Qwen/Qwen2-VL-2B-Instruct", revision="main")).__enter__()
    assert "'Qwen/Qwen2-VL-2B-Instruct' (hub id, revision main)" in str(err.value)
    assert "huggingface-cli download Qwen/Qwen2-VL-2B-Instruct --revision main" in str(err.value)


def test_a_folder_without_weights_fails_clearly(tmp_path, tiny_qwen):
    folder = tmp_path / "config_only"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_qwen / "config.json").read_text())
    with (
        HeavyModelRuntime().session(spec_for(folder)) as heavy,
        pytest.raises(ModelWeightsMissing, match="config_only"),
    ):
        heavy.load_pretrained(AutoModelForImageTextToText)


def test_pickle_weights_are_refused(tmp_path, tiny_qwen):
    folder = tmp_path / "pickled"
    folder.mkdir()
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen)
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with (
        HeavyModelRuntime().session(spec_for(folder)) as heavy,
        pytest.raises(UnsafeWeights, match="only pickle weights"),
    ):
        heavy.load_pretrained(AutoModelForImageTextToText)


def test_out_of_memory_shrinks_the_work_and_records_each_step(tiny_qwen, caplog):
    capacity = 4 * 2**10 * 2**10  # elements a pretend device holds: batches above 4 rows of 1 Mi run out

    def run(batch: int) -> float:
        if batch * 2**20 > capacity:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {batch * 4} MiB")
        return float(torch.ones(batch, 2**20).sum())

    with caplog.at_level(logging.WARNING), HeavyModelRuntime().session(spec_for(tiny_qwen)) as heavy:
        result = heavy.shrink_on_oom(run, 32, lambda b, _: b // 2 or None, describe=lambda b: f"batch {b}")
    assert result == 4 * 2**20
    assert [(s["from"], s["to"]) for s in heavy.metadata["oom_steps"]] == [
        ("batch 32", "batch 16"),
        ("batch 16", "batch 8"),
        ("batch 8", "batch 4"),
    ]
    assert heavy.metadata["oom_retries"] == 3
    assert "retrying with batch 4 (was batch 8)" in caplog.text


def test_out_of_memory_at_the_smallest_unit_fails_clearly_and_other_errors_are_not_retried(tiny_qwen):
    calls = []

    def never_fits(batch):
        calls.append(batch)
        raise RuntimeError("CUDA failed with error out of memory")  # as CTranslate2 reports it

    with HeavyModelRuntime().session(spec_for(tiny_qwen)) as heavy:
        with pytest.raises(
            HeavyOutOfMemory,
            match=rf"describe \(.*\) runs out of memory on {DEFAULT_DEVICE} even at the smallest unit of work "
            r"\(batch 1\)",
        ):
            heavy.shrink_on_oom(never_fits, 2, lambda b, _: b // 2 or None, describe=lambda b: f"batch {b}")
        assert calls == [2, 1]
        with pytest.raises(ZeroDivisionError):
            heavy.shrink_on_oom(lambda b: 1 / 0, 2, lambda b, _: pytest.fail("shrunk on a non-OOM error"))
    assert heavy.metadata["oom_steps"][-1]["to"] is None
    assert is_out_of_memory(torch.OutOfMemoryError("x")) and not is_out_of_memory(RuntimeError("shape mismatch"))
