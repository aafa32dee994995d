"""Decode-step attention that reads each key/value head once, whatever the batch's padding.

Batched windows are left-padded, so every decode step passes an attention mask. With a mask,
transformers' SDPA function (releases before 5.23) expands the whole key/value cache to one copy per
query head (`repeat_kv`) at every step and layer: for Qwen2-VL-7B (28 query heads on 4 key/value heads)
7 copies of each row's cache, written and read again per generated token, a cost that grows with the
rows of the batch. One query token needs no copy: the query heads sharing a key/value head become that
head's queries, shape (batch, kv heads, group, dim), and the mask (batch, 1, 1, length) serves them
all. Prefill and everything else go to transformers' own SDPA function unchanged.

`use_grouped_decode(model)` switches a model that uses "sdpa" to it; results are the same (tested).
"""

from __future__ import annotations

import logging

import torch
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

NAME = "sdpa_grouped_decode"
log = logging.getLogger(__name__)


def grouped_decode_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    groups = getattr(module, "num_key_value_groups", 1)
    mask_per_head = attention_mask is not None and attention_mask.shape[1] != 1
    if query.shape[2] != 1 or groups == 1 or mask_per_head or kwargs.get("position_bias") is not None:
        return ALL_ATTENTION_FUNCTIONS["sdpa"](
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    batch, heads, _, dim = query.shape
    if attention_mask is not None:
        attention_mask = attention_mask[:, :, :, : key.shape[-2]]
    out = torch.nn.functional.scaled_dot_product_attention(
        query.reshape(batch, heads // groups, groups, dim),  # query head h reads key/value head h // groups
        key,
        value,
        attn_mask=attention_mask,
        dropout_p=dropout if module.training else 0.0,
        scale=scaling,
    )
    return out.reshape(batch, heads, 1, dim).transpose(1, 2).contiguous(), None


def register() -> None:
    AttentionInterface.register(NAME, grouped_decode_attention)
    AttentionMaskInterface.register(NAME, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


def use_grouped_decode(model) -> bool:
    """Switches a model whose language model uses "sdpa" to the grouped decode step (its vision tower
    too: there every call is a prefill, passed on to SDPA). False where it uses something else
    (eager, flash attention, a quantized kernel): left as it is."""

    def attention() -> str:
        return model.config.get_text_config()._attn_implementation

    if attention() != "sdpa":
        return attention() == NAME
    register()
    try:
        model.set_attn_implementation(NAME)
    except (ValueError, TypeError) as e:  # a release that refuses it: slower decode steps, the same answers
        log.warning("%s: keeps transformers' SDPA for its decode steps (%s)", type(model).__name__, e)
        return False
    return attention() == NAME
