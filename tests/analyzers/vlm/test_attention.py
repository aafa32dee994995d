"""The grouped decode step computes what transformers' SDPA computes, without repeating keys and values."""

import types

import numpy as np
import pytest
import torch
from transformers import AttentionInterface
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from analyzers.vlm import attention
from analyzers.vlm.adapters import adapter_for
from analyzers.vlm.attention import NAME, grouped_decode_attention, use_grouped_decode
from analyzers.vlm.planner import Geometry
from analyzers.vlm.prompts import get_prompt
from support.tiny_vlm import load


def _module(groups: int):
    return types.SimpleNamespace(num_key_value_groups=groups, training=False, is_causal=True)


@pytest.mark.parametrize(
    "heads, kv_heads, query_len, padded",
    [
        (28, 4, 1, True),  # Qwen2-VL-7B's grouping, a left-padded decode step: the grouped path
        (12, 2, 1, False),  # Qwen2-VL-2B's, no mask
        (8, 8, 1, True),  # no grouping (LLaVA-NeXT-Video-7B): passed on
        (28, 4, 5, True),  # a prefill: passed on
    ],
)
def test_equals_transformers_sdpa(heads, kv_heads, query_len, padded):
    g = torch.Generator().manual_seed(heads + query_len)
    batch, length, dim = 3, 40, 16
    q = torch.randn(batch, heads, query_len, dim, generator=g)
    k, v = (torch.randn(batch, kv_heads, length, dim, generator=g) for _ in range(2))
    mask = None
    if padded:  # rows 1 and 2 are left-padded by 7 and 19 positions; causal over the last query_len keys
        mask = torch.ones(batch, 1, query_len, length, dtype=torch.bool).tril(length - query_len)
        mask[1, :, :, :7] = False
        mask[2, :, :, :19] = False
    module = _module(heads // kv_heads)
    ours, _ = grouped_decode_attention(module, q, k, v, mask, scaling=dim**-0.5)
    stock, _ = ALL_ATTENTION_FUNCTIONS["sdpa"](module, q, k, v, mask, scaling=dim**-0.5)
    assert ours.shape == stock.shape == (batch, query_len, heads, dim)
    torch.testing.assert_close(ours, stock, rtol=1e-5, atol=1e-6)


def test_a_padded_key_is_not_attended():
    """Changing a padded position's key and value changes nothing; changing a real one does."""
    g = torch.Generator().manual_seed(1)
    q, k, v = torch.randn(2, 4, 1, 8, generator=g), torch.randn(2, 2, 10, 8, generator=g), torch.randn(2, 2, 10, 8)
    mask = torch.ones(2, 1, 1, 10, dtype=torch.bool)
    mask[1, ..., :3] = False
    before, _ = grouped_decode_attention(_module(2), q, k, v, mask)
    k2, v2 = k.clone(), v.clone()
    k2[1, :, 1], v2[1, :, 1] = 100.0, -100.0
    padded, _ = grouped_decode_attention(_module(2), q, k2, v2, mask)
    torch.testing.assert_close(padded, before)
    k2[1, :, 5] = 100.0
    real, _ = grouped_decode_attention(_module(2), q, k2, v, mask)
    assert not torch.allclose(real[1], before[1])


def test_a_batched_describe_call_decodes_through_it_with_the_same_answers(checkpoints, monkeypatch):
    model, processor = load(checkpoints["qwen2_vl"])
    assert model.config.get_text_config().num_key_value_heads < model.config.get_text_config().num_attention_heads
    adapter = adapter_for(model, processor)
    fps, geometry = adapter.visual.min_frames_per_second, Geometry(56, 84)
    rng = np.random.default_rng(0)
    windows = [[0, 1, 2], [2, 3], [11]]  # unequal lengths: a padded batch
    clips = [
        [adapter.prepare_clip([rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)] * fps, geometry) for _ in w]
        for w in windows
    ]
    inputs = adapter.encode_many(windows, clips, fps, get_prompt("v1"))

    def greedy():
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=10, min_new_tokens=10, do_sample=False)
        return out[:, inputs["input_ids"].shape[1] :].tolist()

    stock = greedy()
    decode_steps = []

    def counted(module, query, *args, **kwargs):
        decode_steps.append(query.shape[2] == 1)
        return grouped_decode_attention(module, query, *args, **kwargs)

    monkeypatch.setattr(attention, "grouped_decode_attention", counted)
    assert use_grouped_decode(model)
    assert model.config.get_text_config()._attn_implementation == NAME
    assert greedy() == stock
    layers = model.config.get_text_config().num_hidden_layers
    assert sum(decode_steps) == 9 * layers  # every decode step of every layer went through it
    AttentionInterface.register(NAME, grouped_decode_attention)


def test_a_model_on_another_attention_is_left_as_it_is(checkpoints):
    model, _ = load(checkpoints["qwen2_vl"])
    model.set_attn_implementation("eager")
    assert not use_grouped_decode(model)
    assert model.config.get_text_config()._attn_implementation == "eager"


def test_a_release_that_refuses_it_keeps_sdpa_and_says_so(checkpoints, monkeypatch, caplog):
    model, _ = load(checkpoints["qwen2_vl"])

    def refuse(self, implementation, *args, **kwargs):
        raise ValueError(f"{implementation} is not supported")

    monkeypatch.setattr(type(model), "set_attn_implementation", refuse)
    assert not use_grouped_decode(model)
    assert model.config.get_text_config()._attn_implementation == "sdpa"
    assert "keeps transformers' SDPA" in caplog.text
