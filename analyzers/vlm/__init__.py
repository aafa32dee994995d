"""Per-second video descriptions from vision-language models (Qwen2-VL, Qwen2.5-VL, LLaVA-NeXT-Video).

Entry points: `load_processor(path)` (works without torchvision), `plan_for(...)` / `plan_windows(...)`
(the token budget of every call, counted before the call), `describe_video(...)` (the coverage loop).
See docs/vlm.md.

Names are imported on first use: the planner and prompts are plain Python, but the rest needs torch
and transformers, which a code location that only plans (or does not describe at all) never loads.
"""

from importlib import import_module

_HOME = {
    "UnsupportedModel": "adapters",
    "adapter_for": "adapters",
    "load_processor": "adapters",
    "DescribeOutOfMemory": "describe",
    "DescriptionResult": "describe",
    "describe_video": "describe",
    "plan_for": "describe",
    "memory_model_for": "memory",
    "MemoryModel": "planner",
    "PlanError": "planner",
    "PlanOptions": "planner",
    "WindowPlan": "planner",
    "plan_windows": "planner",
    "DEFAULT_PROMPT_VERSION": "prompts",
    "PROMPTS": "prompts",
    "parse_answer": "timestamps",
}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
