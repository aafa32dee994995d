import json
import math
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import LlavaConfig
from transformers.image_utils import SizeDict

from analyzers.vlm import UnsupportedModel, load_processor
from analyzers.vlm.adapters import LlavaNextVideoAdapter, Qwen25VLAdapter, QwenVLAdapter, adapter_for
from analyzers.vlm.planner import Geometry
from analyzers.vlm.prompts import get_prompt
from support.tiny_vlm import load

PROMPT = get_prompt("v1")

# (frame height, frame width, frames per clip, seconds)
QWEN_CASES = [
    (56, 56, 2, [0]),
    (84, 168, 2, [7, 8, 9]),
    (112, 56, 4, [118, 119]),
    (56, 84, 3, [40, 41]),
    (28, 224, 2, list(range(95, 105))),
]
LLAVA_CASES = [(56, 56, 1, [0]), (56, 56, 2, [7, 8, 9]), (56, 56, 3, list(range(95, 105)))]


def _clips(adapter, geometry, n_frames, seconds):
    rng = np.random.default_rng(len(seconds))
    return [
        adapter.prepare_clip([rng.integers(0, 256, (90, 160, 3), dtype=np.uint8) for _ in range(n_frames)], geometry)
        for _ in seconds
    ]


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "llava_next_video"])
def test_counted_tokens_equal_the_processors_input_ids(loaded, family):
    model, processor = loaded[family]
    adapter = adapter_for(model, processor)
    for h, w, n_frames, seconds in LLAVA_CASES if family == "llava_next_video" else QWEN_CASES:
        geometry = Geometry(h, w)
        counted = adapter.count(seconds, geometry, n_frames, PROMPT)
        inputs = processor(
            text=[adapter.prompt(seconds, PROMPT)],
            videos=_clips(adapter, geometry, n_frames, seconds),
            fps=n_frames,
            return_tensors="pt",
        )
        ids = inputs["input_ids"][0]
        assert counted.total == ids.shape[0], (h, w, n_frames, seconds)
        assert counted.video == int((ids == processor.video_token_id).sum()), (h, w, n_frames, seconds)
        if family == "llava_next_video":  # 56 px / 14 = 4x4 patches, pooled 2x2 -> 4 tokens per frame
            assert counted.video == len(seconds) * n_frames * 4
        else:  # (h/28)*(w/28) tokens per 2 frames
            assert counted.video == len(seconds) * math.ceil(n_frames / 2) * (h // 28) * (w // 28)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "llava_next_video"])
def test_model_forward_accepts_the_inputs(loaded, family):
    """The vision tower turns the pixels into exactly as many features as there are video tokens."""
    model, processor = loaded[family]
    adapter = adapter_for(model, processor)
    geometry = Geometry(56, 56) if family == "llava_next_video" else Geometry(56, 84)
    seconds = [3, 4]
    fps = adapter.visual.min_frames_per_second
    inputs = adapter.encode(seconds, _clips(adapter, geometry, fps, seconds), fps, PROMPT)
    with torch.inference_mode():
        video = model.get_video_features(
            **{k: v for k, v in inputs.items() if k in ("pixel_values_videos", "video_grid_thw")}
        )
        logits = model(**inputs).logits
    features = video.pooler_output
    n = (
        sum(f.shape[0] for f in features)
        if isinstance(features, (list, tuple))
        else features.shape[0] * features.shape[1]
    )
    assert n == adapter.count(seconds, geometry, fps, PROMPT).video
    assert logits.shape[:2] == inputs["input_ids"].shape


def test_qwen25_gets_absolute_time_per_clip(loaded):
    model, processor = loaded["qwen2_5_vl"]
    adapter = adapter_for(model, processor)
    inputs = adapter.encode([5, 6, 7], _clips(adapter, Geometry(56, 56), 2, [5, 6, 7]), 2, PROMPT)
    # 2-frame temporal patches of clips sampled at 2 fps: one second per temporal patch
    assert inputs["second_per_grid_ts"].tolist() == [1.0, 1.0, 1.0]


def test_family_comes_from_the_config(loaded):
    kinds = {family: type(adapter_for(*loaded[family])) for family in loaded}
    assert kinds == {
        "qwen2_vl": QwenVLAdapter,
        "qwen2_5_vl": Qwen25VLAdapter,
        "llava_next_video": LlavaNextVideoAdapter,
    }


def test_prompt_labels_every_second_with_its_absolute_time(loaded):
    model, processor = loaded["qwen2_vl"]
    text = adapter_for(model, processor).prompt([120, 121, 122], PROMPT)
    assert text.count("<|video_pad|>") == 3
    for s in (120, 121, 122):
        assert f"[{s}s] <|vision_start|><|video_pad|><|vision_end|>" in text
    assert "from [120s] to [122s]" in text


def test_text_cost_bounds_every_window(loaded):
    for family, (model, processor) in loaded.items():
        adapter = adapter_for(model, processor)
        cost = adapter.text_cost(3600, PROMPT)
        geometry = Geometry(56, 56)
        windows = [[0], [5, 6], list(range(3584, 3600)), list(range(990, 1010)), [3599]]
        for w, c in zip(windows, adapter.count_many(windows, geometry, 2, PROMPT)):
            assert c.total - c.video <= cost.tokens(len(w)), (family, w)
            if w[0] >= 1000:  # labels as long as the longest: the bound is tight
                assert c.total - c.video >= cost.tokens(len(w)) - len(w) - 4, (family, w)


def test_unsupported_model_type_is_named(checkpoints, tmp_path):
    folder = tmp_path / "other"
    shutil.copytree(checkpoints["qwen2_vl"], folder)
    LlavaConfig().save_pretrained(folder)  # an image-only LLaVA: a family without an adapter
    with pytest.raises(UnsupportedModel, match="'llava' is not supported"):
        load_processor(folder)


def test_missing_folder_and_missing_chat_template_are_clear_errors(checkpoints, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        load_processor(tmp_path / "nowhere")
    folder = tmp_path / "no_template"
    shutil.copytree(checkpoints["llava_next_video"], folder)
    (folder / "chat_template.jinja").unlink()
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer_config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    with pytest.raises(FileNotFoundError, match="no chat template"):
        load_processor(folder)


@pytest.mark.parametrize("family", ["qwen2_vl", "llava_next_video"])
def test_a_stock_processor_is_converted_to_the_same_inputs(checkpoints, family):
    """Where torchvision exists, a processor comes with transformers' own video processor: the
    adapter rebuilds ours from its settings, so both machines prepare identical inputs."""
    model, ours = load(checkpoints[family])
    stock = load(checkpoints[family])[1]
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    if family == "qwen2_vl":
        stock.video_processor = SimpleNamespace(  # the attributes of transformers' Qwen2VLVideoProcessor
            patch_size=14,
            temporal_patch_size=2,
            merge_size=2,
            image_mean=mean,
            image_std=std,
            rescale_factor=1 / 255,
            size=SizeDict(shortest_edge=56 * 56, longest_edge=28 * 28 * 64),
        )
        geometry, fps = Geometry(56, 84), 2
    else:
        stock.video_processor = SimpleNamespace(
            crop_size=SizeDict(height=56, width=56),
            image_mean=mean,
            image_std=std,
            rescale_factor=1 / 255,
        )
        geometry, fps = Geometry(56, 56), 1
    ours.video_processor.image_mean, ours.video_processor.image_std = tuple(mean), tuple(std)
    converted = adapter_for(model, stock)
    reference = adapter_for(model, ours)
    assert converted.visual == reference.visual
    clips = _clips(reference, geometry, fps, [4, 5])
    a = converted.encode([4, 5], clips, fps, PROMPT)
    b = reference.encode([4, 5], clips, fps, PROMPT)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
