"""The published configurations in configs/vlm/ load as checkpoints of the real size and geometry."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import AutoConfig

from analyzers.vlm import load_processor
from analyzers.vlm.adapters import adapter_for
from analyzers.vlm.prompts import get_prompt
from bench.vlm_models import NAMES, build_model, config_dir, materialize, parameter_count, source, tiny

PROMPT = get_prompt("v1")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("published")
    return {name: materialize(name, root / name) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_architecture_has_the_published_parameter_count(folders, name):
    counted = parameter_count(folders[name])  # on the meta device: nothing allocated
    assert counted == pytest.approx(source(name)["published_parameters"], rel=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_tokenizer_has_the_real_vocabulary_size_and_special_token_ids(folders, name):
    spec = json.loads((config_dir(name) / "tokenizer_spec.json").read_text())
    processor = load_processor(folders[name])
    tok = processor.tokenizer
    assert len(tok) == spec["regular_vocab_size"] + sum(
        i >= spec["regular_vocab_size"] for _, i in spec["special_tokens"]
    )
    for token, i in spec["special_tokens"]:
        assert tok.convert_tokens_to_ids(token) == i
        assert tok(token, add_special_tokens=False)["input_ids"] == [i]
    config = json.loads((folders[name] / "config.json").read_text())
    video_id = config.get("video_token_id", config.get("video_token_index"))
    assert tok.convert_tokens_to_ids(processor.video_token) == video_id
    generation = json.loads((folders[name] / "generation_config.json").read_text())
    eos = generation["eos_token_id"]
    assert tok.eos_token_id == (eos[0] if isinstance(eos, list) else eos)
    assert len(tok) <= config.get("vocab_size", config.get("text_config", {}).get("vocab_size"))
    # Words of the prompt are single tokens, digits one each, as in the real tokenizers.
    assert tok.convert_ids_to_tokens(tok("[1234s] consecutive", add_special_tokens=False)["input_ids"])[1:5] == list(
        "1234"
    )


@pytest.mark.parametrize("name", ["Qwen2-VL-7B-Instruct", "LLaVA-NeXT-Video-7B-hf"])
def test_real_processor_settings_count_a_720p_window_exactly(folders, name):
    """The published processor settings (Qwen: the 768-token video cap) give the planner's geometry,
    and the planner's count equals the processor's input ids for a two-second 720p window."""
    processor = load_processor(folders[name])
    model = SimpleNamespace(config=AutoConfig.from_pretrained(folders[name]))  # the adapter needs no weights
    adapter = adapter_for(model, processor)
    geometry = adapter.visual.frame_sizes(720, 1280)[-1]
    fps = adapter.visual.min_frames_per_second
    if name.startswith("Qwen"):
        assert (geometry.height, geometry.width) == (560, 1008)  # 20 x 36 = 720 tokens per second
    else:
        assert (geometry.height, geometry.width) == (336, 336)  # 144 tokens per frame
    frame = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    seconds = [598, 599]
    clips = [adapter.prepare_clip([frame] * fps, geometry) for _ in seconds]
    inputs = adapter.encode(seconds, clips, fps, PROMPT)
    counted = adapter.count(seconds, geometry, fps, PROMPT)
    assert counted.total == inputs["input_ids"].shape[1]
    assert counted.video == int((inputs["input_ids"] == processor.video_token_id).sum())
    assert counted.video == 2 * (720 if name.startswith("Qwen") else 144)


@pytest.mark.parametrize("name", NAMES)
def test_tiny_variant_keeps_vocabulary_and_geometry_and_runs(tmp_path, name):
    folder = materialize(name, tmp_path / name, size="tiny")
    config = json.loads((folder / "config.json").read_text())
    published = json.loads((config_dir(name) / "config.json").read_text())
    assert config == tiny(published)
    model = build_model(folder, torch.float32, "cpu")
    assert sum(p.numel() for p in model.parameters()) < 50e6
    assert model.config.get_text_config().vocab_size == published.get("vocab_size")
