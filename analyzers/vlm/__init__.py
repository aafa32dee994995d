"""Per-second video descriptions from vision-language models (Qwen2-VL, Qwen2.5-VL, LLaVA-NeXT-Video).

Entry points: `load_processor(path)` (works without torchvision), `plan_for(...)` / `plan_windows(...)`
(the token budget of every call, counted before the call), `describe_video(...)` (the coverage loop).
See docs/vlm.md.
"""

from analyzers.vlm.adapters import UnsupportedModel, adapter_for, load_processor
from analyzers.vlm.describe import DescribeOutOfMemory, DescriptionResult, describe_video, plan_for
from analyzers.vlm.memory import memory_model_for
from analyzers.vlm.planner import MemoryModel, PlanError, PlanOptions, WindowPlan, plan_windows
from analyzers.vlm.prompts import DEFAULT_PROMPT_VERSION, PROMPTS
from analyzers.vlm.timestamps import parse_answer

__all__ = [
    "DEFAULT_PROMPT_VERSION",
    "PROMPTS",
    "DescribeOutOfMemory",
    "DescriptionResult",
    "MemoryModel",
    "PlanError",
    "PlanOptions",
    "UnsupportedModel",
    "WindowPlan",
    "adapter_for",
    "describe_video",
    "load_processor",
    "memory_model_for",
    "parse_answer",
    "plan_for",
    "plan_windows",
]
