"""Published vision-language configurations (configs/vlm/) as checkpoint folders without weights, and
models of those architectures with random weights. Random weights: memory and speed only.

A model built from the published config has the real parameter count, memory and arithmetic; only
the text it writes is meaningless. `materialize` writes a folder that `AutoConfig` and
`analyzers.vlm.load_processor` read like a downloaded checkpoint: the published config, processor
settings, generation config and chat template, plus a tokenizer built here with the real vocabulary
size and special-token ids (its merges are learned from a few hundred words, so text token counts
are close to the real tokenizer's but not equal). `build_model` creates the weights directly in the
target dtype on the target device (no fp32 copy first).

Imports nothing from PyAV or Dagster: the GPU kit runs this on a machine without them.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "vlm"
NAMES = ("Qwen2-VL-2B-Instruct", "Qwen2-VL-7B-Instruct", "Qwen2.5-VL-7B-Instruct", "LLaVA-NeXT-Video-7B-hf")
RANDOM_WEIGHTS = "random weights: memory and speed only"


def random_weights_header(module: str, argv: list[str], dry: bool, device: str, started: float) -> dict:
    """The first fields of a random-weights measurement's JSON: what it is, where, when and how long
    (`started`: its `time.perf_counter()` at the start) it ran."""
    import datetime
    import platform
    import time

    import torch
    import transformers

    return {
        "bench": module + (" --dry-run" if dry else ""),
        "note": RANDOM_WEIGHTS + (" (dry run: tiny configs on the CPU; figures mean nothing)" if dry else ""),
        "random_weights": True,
        "device": device,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"python3 -m {module} " + " ".join(argv),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def parse_args(parser, argv: list[str] | None, dry: dict, real: dict):
    """`parser`'s arguments, each left unset taken from `dry` (with --dry-run) or `real`; `args.argv` keeps
    the command line for the report."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.argv = argv
    for key, value in (dry if args.dry_run else real).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def write_report(report: dict, out: str | None) -> None:
    """Prints the measurement's JSON, and writes it to `out` too."""
    text = json.dumps(report, indent=1)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
    print(text)


# Text the tokenizer's merges are learned from: the analyzer's prompts, chat-template words and
# everyday descriptive English, so that frequent words are single tokens as in the real tokenizers.
_CORPUS = """
Above are consecutive one-second clips of a video, each after its label: [Ns] is second N of the video.
For every label from the first to the last, write one line: the label, then one sentence saying what is
visible and what happens in that second. Write exactly the lines and nothing else.
Above is second of a video. In one sentence, say what is visible and what happens in it.
system user assistant You are a helpful assistant. USER: ASSISTANT: Picture Video
A man in a red coat walks across the street while cars pass behind him. The camera pans left over a quiet
harbour; two boats are moored at the pier. Close-up of a cat sleeping on a sofa next to a window with white
curtains. Text on screen reads Example Movie above a progress bar and a clock. A woman speaks to the camera
in a bright kitchen, holding a cup of coffee. Black screen, nothing visible. A cyclist rides past a shop.
People sit at a table and talk; a child runs through the garden; the scene cuts to a city at night with lights.
[12s] Scripted second 12. [13s] Scripted second 13. The same scene continues, the picture stays still.
A group of people stand in front of a building, a dog barks, birds fly over the trees and the water.
"""


def config_dir(name: str) -> Path:
    folder = CONFIGS / name
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: no published configuration named {name!r} (known: {', '.join(NAMES)})")
    return folder


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def source(name: str) -> dict:
    return _read(config_dir(name) / "source.json")


# -- tokenizer ------------------------------------------------------------------------------------


def build_tokenizer(spec: dict, chat_template: str):
    """A byte-level BPE tokenizer with the real vocabulary size and special-token ids of `spec`.

    Ids: the special tokens at their published ids, the 256 byte symbols and learned merges in the
    low ids, and unreachable filler entries up to `regular_vocab_size` (no merge produces them, so
    they are never emitted by encoding; a random model may generate them, and they decode to text).
    Digits are split one by one, as in the Qwen2 and Llama tokenizers.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = {name: int(i) for name, i in spec["special_tokens"]}
    low = sorted((i, n) for n, i in specials.items() if i < spec["regular_vocab_size"])
    if [i for i, _ in low] != list(range(len(low))):
        raise ValueError("special tokens inside the regular vocabulary must take the first ids")
    pre = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    trainer_tok = Tokenizer(models.BPE())
    trainer_tok.pre_tokenizer = pre
    trainer_tok.train_from_iterator(
        [line for line in _CORPUS.splitlines() + chat_template.splitlines() if line.strip()],
        trainers.BpeTrainer(
            vocab_size=4000,
            special_tokens=[n for _, n in low],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    learned = json.loads(trainer_tok.to_str())["model"]
    vocab = dict(learned["vocab"])
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in learned["merges"]]
    next_id = max(vocab.values()) + 1
    for i in range(next_id, spec["regular_vocab_size"]):
        vocab[f"<fill{i}>"] = i
    for name, i in specials.items():
        if i >= spec["regular_vocab_size"]:
            vocab[name] = i
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError("special token ids leave holes in the vocabulary")
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(n, special=True, normalized=False) for n in specials])
    if spec.get("add_bos_token") and spec.get("bos_token"):
        bos = spec["bos_token"]
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, specials[bos])])
    kwargs = {k: spec[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token") if spec.get(k)}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        chat_template=chat_template,
        model_max_length=spec.get("model_max_length", 32768),
        padding_side=spec.get("padding_side", "left"),
        **kwargs,
    )


# -- configs ---------------------------------------------------------------------------------------


def _text(config: dict) -> dict:
    """The language model's part of a config dict (flat in Qwen2-VL / Qwen2.5-VL, `text_config` in LLaVA)."""
    return config.get("text_config", config)


def with_depth(config: dict, text_layers: int | None = None, vision_layers: int | None = None) -> dict:
    """The same architecture with fewer layers (real hidden sizes): for memory calibration."""
    config = copy.deepcopy(config)
    if text_layers is not None:
        _text(config)["num_hidden_layers"] = text_layers
        if "max_window_layers" in _text(config):
            _text(config)["max_window_layers"] = text_layers
    if vision_layers is not None:
        vision = config["vision_config"]
        key = "depth" if "depth" in vision else "num_hidden_layers"
        vision[key] = vision_layers
        if "fullatt_block_indexes" in vision:  # keep one full-attention block (the costlier kind)
            vision["fullatt_block_indexes"] = [vision_layers - 1]
    return config


# Dry-run sizes: the real processor geometry, tokenizer and vocabulary, with a few million parameters.
# One attention head of 128 keeps the real head size (Qwen's M-RoPE sections [16, 24, 24] need it).
_TINY_TEXT = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 1,
    "num_key_value_heads": 1,
}
_TINY_VISION = {
    "qwen2_vl": {"depth": 2, "embed_dim": 32, "num_heads": 2, "mlp_ratio": 2, "hidden_size": 128},
    "qwen2_5_vl": {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": 128,
        "fullatt_block_indexes": [1],
    },
    "llava_next_video": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2},
}


def tiny(config: dict) -> dict:
    """The published architecture shrunk to a few million parameters (vocabulary and geometry kept)."""
    config = copy.deepcopy(config)
    _text(config).update(_TINY_TEXT)
    if "head_dim" in _text(config):
        _text(config)["head_dim"] = 128
    if "max_window_layers" in _text(config):
        _text(config)["max_window_layers"] = _TINY_TEXT["num_hidden_layers"]
    config["vision_config"].update(_TINY_VISION[config["model_type"]])
    if "spatial_pool_out_channels" in config:
        config["spatial_pool_out_channels"] = _TINY_VISION["llava_next_video"]["hidden_size"]
    return config


def materialize(name: str, folder: Path, *, size: str = "real", text_layers=None, vision_layers=None) -> Path:
    """Writes a weightless checkpoint folder of the published model `name` (size "real" or "tiny")."""
    src = config_dir(name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = _read(src / "config.json")
    if size == "tiny":
        config = tiny(config)
    elif size != "real":
        raise ValueError(f"size must be 'real' or 'tiny', got {size!r}")
    config = with_depth(config, text_layers, vision_layers)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    for file in src.glob("*.json"):
        if file.name not in ("config.json", "tokenizer_spec.json", "source.json"):
            shutil.copy(file, folder / file.name)
    template = _read(src / "chat_template.json")["chat_template"]
    build_tokenizer(_read(src / "tokenizer_spec.json"), template).save_pretrained(folder)
    (folder / "random_weights.json").write_text(
        json.dumps({"published": name, "size": size, "note": RANDOM_WEIGHTS, **source(name)}, indent=2)
    )
    return folder


# -- models ----------------------------------------------------------------------------------------


def build_model(folder: Path, dtype, device):
    """The folder's architecture with random weights, created directly in `dtype` on `device`."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText, GenerationConfig

    config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype, trust_remote_code=False)
    model.generation_config = GenerationConfig.from_pretrained(folder)
    return model.eval()


def parameter_count(folder: Path) -> int:
    """Parameters of the folder's architecture, counted on the meta device (nothing allocated)."""
    import torch

    model = build_model(folder, torch.bfloat16, "meta")
    return sum(p.numel() for p in model.parameters())


def weights_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
