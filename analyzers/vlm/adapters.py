"""One adapter per model family: frame preparation, prompt, exact token count, model inputs.

The family comes from `config.model_type`. Adapters use transformers' own processor classes for
everything textual (placeholder expansion, tokenisation, `mm_token_type_ids`, Qwen2.5-VL's
`second_per_grid_ts`) with a torchvision-free video processor in the `video_processor` slot
(see video_processing.py and docs/vlm.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from transformers import (
    AutoConfig,
    AutoTokenizer,
    LlavaNextImageProcessorPil,
    LlavaNextVideoProcessor,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessorPil,
    Qwen2VLProcessor,
)

from analyzers.vlm.planner import Geometry, QwenVisual, SquareVisual, TextCost, VisualCost
from analyzers.vlm.prompts import Prompt
from analyzers.vlm.video_processing import (
    CLIP_MEAN,
    CLIP_STD,
    ArrayVideoProcessor,
    LlavaArrayVideoProcessor,
    QwenArrayVideoProcessor,
    center_square,
    resize_frames,
)

# Qwen's own default for video frames (qwen-vl-utils): at most 768 tokens per frame pair.
QWEN_VIDEO_MAX_PIXELS = 768 * 28 * 28


class UnsupportedModel(ValueError):
    pass


def _accepting_array_video(base: type) -> type:
    """`base` processor class that also accepts our torchvision-free video processors."""

    def check_argument_for_proper_class(self, argument_name, argument):
        if argument_name == "video_processor" and isinstance(argument, ArrayVideoProcessor):
            return type(argument)
        return base.check_argument_for_proper_class(self, argument_name, argument)

    return type(f"Array{base.__name__}", (base,), {"check_argument_for_proper_class": check_argument_for_proper_class})


ArrayQwen2VLProcessor = _accepting_array_video(Qwen2VLProcessor)
ArrayQwen2_5_VLProcessor = _accepting_array_video(Qwen2_5_VLProcessor)
ArrayLlavaNextVideoProcessor = _accepting_array_video(LlavaNextVideoProcessor)


@dataclass(frozen=True)
class TokenCount:
    video: int  # video placeholder tokens after expansion
    total: int  # whole prompt, as the model sees it


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _chat_template(path: Path, tokenizer) -> str:
    if (p := path / "chat_template.jinja").is_file():
        return p.read_text()
    if template := _read_json(path / "chat_template.json").get("chat_template"):
        return template
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.chat_template
    raise FileNotFoundError(
        f"{path}: no chat template (chat_template.jinja, chat_template.json or tokenizer_config.json)"
    )


def _video_settings(path: Path) -> dict:
    """Video settings: video_preprocessor_config.json, else preprocessor_config.json (older checkpoints)."""
    settings = _read_json(path / "video_preprocessor_config.json")
    return settings or _read_json(path / "preprocessor_config.json")


class FamilyAdapter:
    families: ClassVar[tuple[str, ...]] = ()
    processor_class: ClassVar[type]
    video_processor_class: ClassVar[type]  # a processor with another video processor is converted to it

    def __init__(self, config, processor):
        if not isinstance(processor.video_processor, self.video_processor_class):
            processor = self.convert_processor(processor)
        self.config = config
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.video_token = processor.video_token
        if len(self.tokenizer(self.video_token, add_special_tokens=False)["input_ids"]) != 1:
            raise ValueError(
                f"{self.name}: the video token {self.video_token!r} is not a single token in this tokenizer"
            )
        self._affixes = self._template_affixes()

    @property
    def name(self) -> str:
        return getattr(self.config, "_name_or_path", "") or self.config.model_type

    @property
    def context_limit(self) -> int:
        text_config = getattr(self.config, "text_config", self.config)
        return int(text_config.max_position_embeddings)

    visual: VisualCost
    video_marker: str  # text standing for one clip in the prompt

    # -- prompt -------------------------------------------------------------------------------
    def prompt(self, seconds: Sequence[int], prompt: Prompt) -> str:
        """Chat-formatted prompt for consecutive seconds, one video marker per second."""
        clips = "".join(f"{prompt.label_for(s)} {self.video_marker}\n" for s in seconds)
        if len(seconds) == 1:
            text = prompt.single.format(clips=clips, second=seconds[0])
        else:
            text = prompt.window.format(clips=clips, first=seconds[0], last=seconds[-1], count=len(seconds))
        if self._affixes is not None:
            return self._affixes[0] + text + self._affixes[1]
        return self._render(text)

    def _render(self, text: str) -> str:
        messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
        return self.tokenizer.apply_chat_template(
            messages, chat_template=self.processor.chat_template, tokenize=False, add_generation_prompt=True
        )

    def _template_affixes(self) -> tuple[str, str] | None:
        """(prefix, suffix) when the chat template puts the user text in verbatim, so that
        prompts need not be rendered one by one (planning counts thousands of windows)."""
        probes = ["[3s] a\nb", "x  y [12s] z\n"]
        rendered = [self._render(p) for p in probes]
        head, _, tail = rendered[0].partition(probes[0])
        if all(r == head + p + tail for r, p in zip(rendered, probes)):
            return head, tail
        return None

    def _text_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])

    # -- counting -----------------------------------------------------------------------------
    def count(self, seconds: Sequence[int], geometry: Geometry, fps: int, prompt: Prompt) -> TokenCount:
        """Exact prompt length for these seconds, computed without running the processor on pixels."""
        return self.count_many([seconds], geometry, fps, prompt)[0]

    def count_many(
        self, windows: Sequence[Sequence[int]], geometry: Geometry, fps: int, prompt: Prompt
    ) -> list[TokenCount]:
        """`count` for many windows at once (one batched tokenizer call)."""
        texts = [self.prompt(w, prompt) for w in windows]
        lengths = (
            [len(ids) for ids in self.tokenizer(texts)["input_ids"]]
            if len(texts) > 1
            else [self._text_tokens(texts[0])]
        )
        out = []
        for w, text, n in zip(windows, texts, lengths):
            video = len(w) * self.visual.tokens(geometry, fps)
            out.append(TokenCount(video=video, total=n - text.count(self.video_token) + video))
        return out

    def text_cost(self, n_seconds_total: int, prompt: Prompt) -> TextCost:
        """Upper bounds of a window's text for a video of n seconds (labels grow with their digits)."""
        last = max(2, n_seconds_total - 1)

        def text_only(seconds: list[int]) -> int:  # one placeholder per clip excluded
            return self._text_tokens(self.prompt(seconds, prompt)) - len(seconds)

        two, three = text_only([last - 1, last]), text_only([last - 2, last - 1, last])
        line = three - two  # one clip line with the longest label
        # Slack: a window's count of lines ({count}) may have more digits than 2 or 3, and a label
        # may tokenise differently next to other text.
        return TextCost(fixed=two - 2 * line + 3, per_second=line + 1, fixed_single=text_only([last]) - line + 1)

    # -- model inputs -------------------------------------------------------------------------
    def prepare_clip(self, frames: Sequence[np.ndarray], geometry: Geometry) -> np.ndarray:
        return resize_frames(frames, geometry.height, geometry.width)

    def encode(self, seconds: Sequence[int], clips: Sequence[np.ndarray], fps: int, prompt: Prompt):
        """Model inputs for these seconds; clips[i] holds the frames of seconds[i] at the planned size."""
        return self.encode_many([seconds], [clips], fps, prompt)

    def encode_many(
        self, windows: Sequence[Sequence[int]], clips: Sequence[Sequence[np.ndarray]], fps: int, prompt: Prompt
    ):
        """Model inputs for several windows in one batch, left-padded (generation appends on the right);
        clips[k][i] holds the frames of windows[k][i]. The clips of all windows go in prompt order: the
        processors expand, and the models fill, video placeholders in that order across the batch."""
        for seconds, window_clips in zip(windows, clips, strict=True):
            if len(window_clips) != len(seconds):
                raise ValueError(f"{len(seconds)} seconds but {len(window_clips)} clips")
        inputs = self.processor(
            text=[self.prompt(seconds, prompt) for seconds in windows],
            videos=[clip for window_clips in clips for clip in window_clips],
            fps=fps,
            padding=True,
            padding_side="left",
            return_tensors="pt",
        )
        inputs.pop("video_metadata", None)
        return inputs

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def load_processor(cls, path: Path, config):
        raise NotImplementedError

    @classmethod
    def convert_processor(cls, processor):
        raise NotImplementedError


class QwenVLAdapter(FamilyAdapter):
    families = ("qwen2_vl",)
    processor_class = ArrayQwen2VLProcessor
    video_processor_class = QwenArrayVideoProcessor

    def __init__(self, config, processor):
        super().__init__(config, processor)
        self.visual = QwenVisual.of_processor(config.model_type, self.processor.video_processor)
        start = self.tokenizer.convert_ids_to_tokens(config.vision_start_token_id)
        end = self.tokenizer.convert_ids_to_tokens(config.vision_end_token_id)
        self.video_marker = f"{start}{self.video_token}{end}"

    @staticmethod
    def _video_processor(settings: dict) -> QwenArrayVideoProcessor:
        size = settings.get("size") or {}
        min_pixels = settings.get("min_pixels") or size.get("shortest_edge") or 56 * 56
        max_pixels = settings.get("max_pixels") or size.get("longest_edge") or QWEN_VIDEO_MAX_PIXELS
        return QwenArrayVideoProcessor(
            patch_size=settings.get("patch_size", 14),
            temporal_patch_size=settings.get("temporal_patch_size", 2),
            merge_size=settings.get("merge_size", 2),
            image_mean=settings.get("image_mean", CLIP_MEAN),
            image_std=settings.get("image_std", CLIP_STD),
            rescale_factor=settings.get("rescale_factor", 1 / 255),
            min_pixels=min_pixels,
            # Image settings of older checkpoints allow 16k tokens per frame: cap at Qwen's video default.
            max_pixels=min(max_pixels, QWEN_VIDEO_MAX_PIXELS),
        )

    @classmethod
    def load_processor(cls, path: Path, config):
        tokenizer = AutoTokenizer.from_pretrained(path)
        return cls.processor_class(
            image_processor=Qwen2VLImageProcessorPil.from_pretrained(path),
            tokenizer=tokenizer,
            video_processor=cls._video_processor(_video_settings(path)),
            chat_template=_chat_template(path, tokenizer),
        )

    @classmethod
    def convert_processor(cls, processor):
        vp = processor.video_processor
        size = getattr(vp, "size", None) or {}
        settings = {
            k: getattr(vp, k)
            for k in ("patch_size", "temporal_patch_size", "merge_size", "image_mean", "image_std", "rescale_factor")
            if getattr(vp, k, None) is not None
        }
        settings["size"] = dict(size) if size else {}
        return cls.processor_class(
            image_processor=processor.image_processor,
            tokenizer=processor.tokenizer,
            video_processor=cls._video_processor(settings),
            chat_template=processor.chat_template,
        )


class Qwen25VLAdapter(QwenVLAdapter):
    """Same vision input as Qwen2-VL; the processor adds `second_per_grid_ts` for absolute time."""

    families = ("qwen2_5_vl",)
    processor_class = ArrayQwen2_5_VLProcessor


class LlavaNextVideoAdapter(FamilyAdapter):
    families = ("llava_next_video",)
    processor_class = ArrayLlavaNextVideoProcessor
    video_processor_class = LlavaArrayVideoProcessor

    def __init__(self, config, processor):
        super().__init__(config, processor)
        vision = config.vision_config
        size = self.processor.video_processor.crop_size
        if size != vision.image_size:
            raise ValueError(f"{self.name}: video crop size {size} differs from the vision tower's {vision.image_size}")
        if config.spatial_pool_stride != 2 or vision.image_size // vision.patch_size % 2:
            # The processor's placeholder count assumes 2x2 pooling of an even patch grid.
            raise UnsupportedModel(f"{self.name}: only 2x2 pooling of an even patch grid is supported")
        self.visual = SquareVisual(size=size, patch_size=vision.patch_size, pool_stride=config.spatial_pool_stride)
        self.video_marker = self.video_token

    def prepare_clip(self, frames: Sequence[np.ndarray], geometry: Geometry) -> np.ndarray:
        return center_square(frames, geometry.height)

    @staticmethod
    def _video_processor(settings: dict, config) -> LlavaArrayVideoProcessor:
        crop = settings.get("crop_size") or {}
        crop = crop.get("height") if isinstance(crop, dict) else crop
        if not crop and config is None:
            raise ValueError("LLaVA-NeXT-Video video settings name no crop size")
        return LlavaArrayVideoProcessor(
            crop_size=crop or config.vision_config.image_size,
            image_mean=settings.get("image_mean", CLIP_MEAN),
            image_std=settings.get("image_std", CLIP_STD),
            rescale_factor=settings.get("rescale_factor", 1 / 255),
        )

    @classmethod
    def load_processor(cls, path: Path, config):
        tokenizer = AutoTokenizer.from_pretrained(path)
        extra = _read_json(path / "processor_config.json")
        optional = {k: extra[k] for k in ("num_additional_image_tokens", "image_token", "video_token") if k in extra}
        return cls.processor_class(
            video_processor=cls._video_processor(_video_settings(path), config),
            image_processor=LlavaNextImageProcessorPil.from_pretrained(path),
            tokenizer=tokenizer,
            chat_template=_chat_template(path, tokenizer),
            patch_size=extra.get("patch_size", config.vision_config.patch_size),
            vision_feature_select_strategy=extra.get(
                "vision_feature_select_strategy", config.vision_feature_select_strategy
            ),
            **optional,
        )

    @classmethod
    def convert_processor(cls, processor):
        vp = processor.video_processor
        crop = getattr(vp, "crop_size", None)
        settings = {"crop_size": dict(crop) if crop else None}
        settings |= {
            k: getattr(vp, k) for k in ("image_mean", "image_std", "rescale_factor") if getattr(vp, k, None) is not None
        }
        return cls.processor_class(
            video_processor=cls._video_processor(settings, None),
            image_processor=processor.image_processor,
            tokenizer=processor.tokenizer,
            chat_template=processor.chat_template,
            patch_size=processor.patch_size,
            vision_feature_select_strategy=processor.vision_feature_select_strategy,
            num_additional_image_tokens=processor.num_additional_image_tokens,
        )


ADAPTERS: dict[str, type[FamilyAdapter]] = {
    f: a for a in (QwenVLAdapter, Qwen25VLAdapter, LlavaNextVideoAdapter) for f in a.families
}


def adapter_class(config) -> type[FamilyAdapter]:
    model_type = getattr(config, "model_type", None)
    try:
        return ADAPTERS[model_type]
    except KeyError:
        name = getattr(config, "_name_or_path", "") or "model"
        raise UnsupportedModel(
            f"{name}: model_type {model_type!r} is not supported; supported: {sorted(ADAPTERS)}"
        ) from None


def adapter_for(model, processor) -> FamilyAdapter:
    """The adapter of a loaded model (family from `model.config.model_type`)."""
    return adapter_class(model.config)(model.config, processor)


def to_model(inputs, model) -> dict:
    """Encoded inputs on the model's device, pixel values also in its dtype (other values as they are)."""
    import torch

    device, dtype = model.device, model.dtype
    return {
        k: (v.to(device, dtype) if k.startswith("pixel_values") else v.to(device)) if torch.is_tensor(v) else v
        for k, v in inputs.items()
    }


def load_processor(path: str | Path, *, trust_remote_code: bool = False):
    """Processor of a local checkpoint folder, usable without torchvision."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not a model folder")
    config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    return adapter_class(config).load_processor(path, config)
