import numpy as np
import torch
from transformers import StoppingCriteriaList

from analyzers.vlm.adapters import adapter_for
from analyzers.vlm.guard import RepetitionGuard
from analyzers.vlm.planner import Geometry
from analyzers.vlm.prompts import get_prompt
from support.tiny_vlm import load


def _ids(tokens) -> torch.LongTensor:
    return torch.tensor([[7, 7, 7, 7] + list(tokens)])  # a prompt of 4 tokens, itself repetitive


def test_loops_stop_and_labelled_lines_do_not(loaded):
    _, processor = loaded["qwen2_vl"]
    tok = processor.tokenizer
    guard = RepetitionGuard(prompt_length=4)
    loop = tok("W9" * 30, add_special_tokens=False)["input_ids"]
    assert guard(_ids(loop), None).tolist() == [True]
    sentence = tok(" The cat sleeps on the sofa." * 4, add_special_tokens=False)["input_ids"]
    assert guard(_ids(sentence), None).tolist() == [True]
    lines = "".join(f"[{s}s] The cat sleeps on the sofa.\n" for s in range(10, 20))
    assert RepetitionGuard(prompt_length=4)(_ids(tok(lines, add_special_tokens=False)["input_ids"]), None).tolist() == [
        False
    ]
    assert RepetitionGuard(prompt_length=4)(_ids([5] * 10), None).tolist() == [False]  # too short to call a loop
    assert not RepetitionGuard(prompt_length=4)(_ids([]), None).any()


def test_guard_stops_a_real_generation_that_loops(checkpoints):
    """A tiny model whose output head is zeroed predicts the same token forever: the guard ends it."""
    model, processor = load(checkpoints["qwen2_vl"])
    with torch.no_grad():
        model.lm_head.weight.zero_()
    adapter = adapter_for(model, processor)
    clips = [adapter.prepare_clip([np.zeros((56, 56, 3), np.uint8)] * 2, Geometry(56, 56)) for _ in range(2)]
    inputs = adapter.encode([0, 1], clips, 2, get_prompt("v1"))
    prompt_length = inputs["input_ids"].shape[1]
    guard = RepetitionGuard(prompt_length)
    with torch.inference_mode():
        out = model.generate(
            **inputs,
            max_new_tokens=200,
            min_new_tokens=200,
            do_sample=False,
            stopping_criteria=StoppingCriteriaList([guard]),
        )
    generated = out.shape[1] - prompt_length
    assert guard.triggered and generated == 24  # min_span of identical tokens, not 200
