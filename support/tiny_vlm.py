"""Tiny random checkpoints of the three supported families, built and saved locally.

Real architectures and real preprocessing geometry (14-pixel patches, 2x2 merge, 2-frame temporal
patches for Qwen; CLIP tower + 2x2 pooling for LLaVA-NeXT-Video), with a few thousand parameters
and a byte-level BPE tokenizer trained here on a few sentences. Nothing comes from a hub.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForImageTextToText,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaNextImageProcessorPil,
    LlavaNextVideoConfig,
    LlavaNextVideoForConditionalGeneration,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessorPil,
)

from analyzers.frames import FrameStoreWriter, SampledFrame
from analyzers.vlm import load_processor

CORPUS = [
    "A man in a red coat walks across the street while cars pass behind him.",
    "The camera pans left over a quiet harbour; two boats are moored at the pier.",
    "Close-up of a cat sleeping on a sofa next to a window with white curtains.",
    "Text on screen reads Example Movie above a progress bar and a clock 00:12.",
    "A woman speaks to the camera in a bright kitchen, holding a cup of coffee.",
    "Black screen, nothing visible. Second 12 to 14: a cyclist rides past a shop.",
    "[0s] [1s] [2s] [10s] [12s] [59s] [120s] 0:00:12 00:13 12-13s seconds 3 to 5",
]

QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|video_pad|>",
    "<|image_pad|>",
]
LLAVA_SPECIALS = ["<unk>", "<s>", "</s>", "<image>", "<video>"]

# Minimal chat templates with the structure of the families' own (written for these tests).
QWEN_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'text' %}{{ c['text'] }}{% elif c['type'] == 'video' %}"
    "<|vision_start|><|video_pad|><|vision_end|>{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LLAVA_TEMPLATE = (
    "{% for m in messages %}{{ m['role'].upper() }}: "
    "{% for c in m['content'] %}{% if c['type'] == 'video' %}<video>\n"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
    "{% if m['role'] == 'assistant' %}</s>{% endif %} {% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def build_tokenizer(specials: list[str], bos: str | None = None, vocab_size: int = 360) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    # Digits one by one, as in Qwen's and Llama's tokenizers.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    if bos is not None:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    return tok


def _ids(tok: Tokenizer, names: list[str]) -> dict[str, int]:
    return {n: tok.token_to_id(n) for n in names}


# The language model of every tiny family: one layer, grouped-query attention as in the real ones.
TINY_DECODER = dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1
)


def _qwen_text(vocab: int, ids: dict[str, int], context: int) -> dict:
    return dict(
        vocab_size=vocab,
        **TINY_DECODER,
        max_position_embeddings=context,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )


def build_qwen(folder: Path, family: str = "qwen2_vl", context: int = 2048, seed: int = 0) -> Path:
    """Saves a tiny Qwen2-VL (or Qwen2.5-VL) checkpoint with its tokenizer and processor files."""
    tok = build_tokenizer(QWEN_SPECIALS)
    ids = _ids(tok, QWEN_SPECIALS)
    vocab = tok.get_vocab_size()
    common = dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    if family == "qwen2_vl":
        vision = dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2)
        config = Qwen2VLConfig(text_config=_qwen_text(vocab, ids, context), vision_config=vision, **common)
        model = Qwen2VLForConditionalGeneration(config)
    elif family == "qwen2_5_vl":
        vision = dict(
            depth=2,
            hidden_size=32,
            out_hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            window_size=56,
            fullatt_block_indexes=[1],
            tokens_per_second=2,
        )
        config = Qwen2_5_VLConfig(text_config=_qwen_text(vocab, ids, context), vision_config=vision, **common)
        model = Qwen2_5_VLForConditionalGeneration(config)
    else:
        raise ValueError(family)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(folder, safe_serialization=True)
    PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=QWEN_TEMPLATE
    ).save_pretrained(folder)
    # Older Qwen checkpoints keep the video settings in preprocessor_config.json, as here.
    Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=28 * 28 * 64).save_pretrained(folder)
    (folder / "chat_template.jinja").write_text(QWEN_TEMPLATE)
    return folder


def build_llava(folder: Path, context: int = 2048, seed: int = 0) -> Path:
    """Saves a tiny LLaVA-NeXT-Video checkpoint: 56-pixel CLIP tower, 4x4 patches pooled to 2x2."""
    tok = build_tokenizer(LLAVA_SPECIALS, bos="<s>")
    ids = _ids(tok, LLAVA_SPECIALS)
    torch.manual_seed(seed)
    config = LlavaNextVideoConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=56,
            patch_size=14,
            projection_dim=32,
        ).to_dict(),
        text_config=LlamaConfig(
            vocab_size=tok.get_vocab_size(),
            **TINY_DECODER,
            max_position_embeddings=context,
            bos_token_id=ids["<s>"],
            eos_token_id=ids["</s>"],
            pad_token_id=ids["<unk>"],
        ).to_dict(),
        video_token_index=ids["<video>"],
        image_token_index=ids["<image>"],
        image_grid_pinpoints=[[56, 56]],
        image_seq_length=4,
        video_seq_length=4,
    )
    model = LlavaNextVideoForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["</s>"]
    model.generation_config.pad_token_id = ids["<unk>"]
    model.save_pretrained(folder, safe_serialization=True)
    PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<unk>",
        chat_template=LLAVA_TEMPLATE,
    ).save_pretrained(folder)
    LlavaNextImageProcessorPil(
        size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56}, image_grid_pinpoints=[[56, 56]]
    ).save_pretrained(folder)
    (folder / "processor_config.json").write_text(
        json.dumps({"patch_size": 14, "vision_feature_select_strategy": "default"})
    )
    (folder / "chat_template.jinja").write_text(LLAVA_TEMPLATE)
    return folder


def build(folder: Path, family: str, **kwargs) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return build_llava(folder, **kwargs) if family == "llava_next_video" else build_qwen(folder, family, **kwargs)


def load(folder: Path):
    """A fresh (model, processor) pair from a saved tiny checkpoint."""
    model = AutoModelForImageTextToText.from_pretrained(folder)
    model.eval()
    return model, load_processor(folder)


def scene(t: float, height: int = 90, width: int = 160) -> np.ndarray:
    """A frame whose content changes every second: a coloured square moving across a gradient."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    s = int(t)
    colour = tuple(int(c) for c in ((s * 67) % 256, (s * 131) % 256, (s * 29 + 80) % 256))
    x = int((t * 23) % (width - 20))
    cv2.rectangle(img, (x, height // 3), (x + 20, height // 3 + 20), colour, -1)
    return img


def sampled_frames(duration_s: float, fps: float = 2.0, height: int = 90, width: int = 160) -> list[SampledFrame]:
    n = int(np.ceil(duration_s * fps - 1e-9))
    return [SampledFrame(t=i / fps, frame_index=i, image=scene(i / fps, height, width)) for i in range(n)]


def frame_store(path: Path, frames: list[SampledFrame]) -> Path:
    writer = FrameStoreWriter(path)
    for f in frames:
        writer.add(f)
    writer.close()
    return path
