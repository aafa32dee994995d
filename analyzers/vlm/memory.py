"""The planner's memory model per family, size, dtype and device, calibrated by measurement.

Peak memory of one `generate` call = weights + fixed + bytes_per_token x sequence tokens (all rows of
a batch, input and generated), where
  bytes_per_token = transient (one layer's activations and the call's inputs, per token; measured)
                  + layers x KV cache per token and layer (2 x kv heads x head size x element size; exact).
The transient part was measured on models of the published architectures with the real widths and
1-2 language-model layers (bench/vlm_calibrate.py; figures and method in docs/vlm.md); the KV part is
arithmetic. Entries are keyed by family, language-model width, dtype and device kind. A combination
that was not measured falls back to the public figure (~1 MB per token for a 7B model in bf16, scaled
by element size), which overestimates: plans stay safe, with shorter windows than necessary.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzers.vlm.calibrations import CALIBRATIONS as _MEASURED
from analyzers.vlm.planner import GIB, MemoryModel

ELEMENT_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class Calibration:
    transient_bytes_per_token: float
    fixed_bytes: float
    source: str


# (model_type, language-model hidden size, dtype, device kind) -> measured transient and intercept.
CALIBRATIONS: dict[tuple[str, int, str, str], Calibration] = {key: Calibration(*v) for key, v in _MEASURED.items()}

PUBLIC_BYTES_PER_TOKEN_BF16 = 1.0e6  # Qwen2-VL-7B bf16: ~13 GiB more at 14k input tokens


def _text_config(config):
    return getattr(config, "text_config", None) or config


def kv_bytes_per_token(config, dtype: str) -> int:
    """KV cache of one sequence token across all language-model layers."""
    text = _text_config(config)
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return 2 * text.num_hidden_layers * kv_heads * head_dim * ELEMENT_BYTES[dtype]


def _dtype_name(dtype) -> str:
    name = str(dtype).removeprefix("torch.")
    return name if name in ELEMENT_BYTES else "bfloat16"


def memory_model_for_config(config, dtype, device_type: str) -> MemoryModel:
    """The calibrated memory model of an architecture in `dtype` on a device of `device_type`."""
    dtype = _dtype_name(dtype)
    kind = "cuda" if device_type == "cuda" else "cpu"
    text = _text_config(config)
    key = (config.model_type, int(text.hidden_size), "bfloat16" if dtype == "float16" else dtype, kind)
    reserve = GIB if kind == "cuda" else GIB // 2
    kv = kv_bytes_per_token(config, dtype)
    if (cal := CALIBRATIONS.get(key)) is not None:
        return MemoryModel(
            bytes_per_token=cal.transient_bytes_per_token + kv,
            fixed_bytes=int(cal.fixed_bytes),
            reserve_bytes=reserve,
            source=cal.source,
        )
    scaled = PUBLIC_BYTES_PER_TOKEN_BF16 * ELEMENT_BYTES[dtype] / 2
    return MemoryModel(
        bytes_per_token=max(scaled, kv), reserve_bytes=reserve, source=f"public figure (no calibration for {key})"
    )


def memory_model_for(model) -> MemoryModel:
    """The calibrated memory model of a loaded model (its family, width, dtype and device)."""
    device = next(model.parameters()).device
    return memory_model_for_config(model.config, model.dtype, device.type)
