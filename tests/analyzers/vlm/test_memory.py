"""The calibrated memory model: measured transient per family, width, dtype and device, plus the KV cache."""

import pytest
from transformers import AutoConfig

from analyzers.vlm.calibrations import CALIBRATIONS as MEASURED
from analyzers.vlm.memory import kv_bytes_per_token, memory_model_for, memory_model_for_config
from analyzers.vlm.planner import GIB, QwenVisual, TextCost, plan_windows
from bench.vlm_models import config_dir, source


def _config(name):
    return AutoConfig.from_pretrained(config_dir(name))


def test_kv_cache_per_token_follows_the_architecture():
    # 28 layers x (k, v) x 4 key-value heads x 128 x 2 bytes: grouped-query attention keeps it small
    assert kv_bytes_per_token(_config("Qwen2-VL-7B-Instruct"), "bfloat16") == 57344
    # LLaVA-NeXT-Video's Vicuna has 32 key-value heads in 32 layers: 9x more per token
    assert kv_bytes_per_token(_config("LLaVA-NeXT-Video-7B-hf"), "bfloat16") == 524288
    assert kv_bytes_per_token(_config("Qwen2-VL-2B-Instruct"), "float32") == 28 * 2 * 2 * 128 * 4


@pytest.mark.parametrize(
    "name, dtype, device",
    [
        ("Qwen2-VL-7B-Instruct", "bfloat16", "cuda"),
        ("Qwen2-VL-2B-Instruct", "bfloat16", "cuda"),
        ("Qwen2.5-VL-7B-Instruct", "bfloat16", "cuda"),
        ("LLaVA-NeXT-Video-7B-hf", "bfloat16", "cuda"),
        ("Qwen2-VL-2B-Instruct", "float32", "cpu"),
        ("Qwen2-VL-7B-Instruct", "float32", "cpu"),
    ],
)
def test_each_measured_architecture_uses_its_own_calibration(name, dtype, device):
    config = _config(name)
    key = (config.model_type, config.get_text_config().hidden_size, dtype, device)
    transient, fixed, _ = MEASURED[key]
    model = memory_model_for_config(config, dtype, device)
    assert model.bytes_per_token == transient + kv_bytes_per_token(config, dtype)
    assert model.fixed_bytes == fixed
    # the CUDA entries are the GPU kit's allocator peaks on the device, the CPU ones RSS growth
    assert ("allocator peak on NVIDIA" if device == "cuda" else "RSS growth on CPU") in model.source
    assert model.reserve_bytes == (GIB if device == "cuda" else GIB // 2)


def test_an_unmeasured_width_falls_back_to_the_public_figure(loaded):
    model, _ = loaded["qwen2_vl"]  # a tiny random Qwen2-VL in float32 on the CPU
    memory = memory_model_for(model)
    assert memory.bytes_per_token == 2.0e6 and memory.source.startswith("public figure")
    bf16 = memory_model_for_config(model.config, "bfloat16", "cuda")
    assert bf16.bytes_per_token == 1.0e6


@pytest.mark.parametrize("budget_gb", [24, 44, 80])
def test_planned_calls_keep_the_predicted_peak_inside_the_budget(budget_gb):
    config = _config("Qwen2-VL-7B-Instruct")
    memory = memory_model_for_config(config, "bfloat16", "cuda")
    weights = int(source("Qwen2-VL-7B-Instruct")["published_parameters"] * 2)
    budget = budget_gb * GIB
    plan = plan_windows(
        600,
        (720, 1280),
        QwenVisual(),
        TextCost(fixed=120, per_second=12),
        context_limit=32768,
        memory_tokens=memory.tokens_for(budget - weights),
    )
    call_tokens = plan.batch_size * (plan.input_tokens_bound(plan.window_s) + plan.max_new_tokens(plan.window_s))
    assert memory.peak_bytes(weights, call_tokens) <= budget - memory.reserve_bytes
    # one more window per call would not have fitted (unless the batch is at its cap)
    more = (plan.batch_size + 1) * (plan.input_tokens_bound(plan.window_s) + plan.max_new_tokens(plan.window_s))
    assert plan.batch_size == plan.options.max_batch_windows or not plan.batch_fits(
        plan.input_tokens_bound(plan.window_s), plan.max_new_tokens(plan.window_s), plan.batch_size + 1
    )
    assert more > plan.memory_tokens or plan.batch_size == plan.options.max_batch_windows
