"""Running the production describe path on a model with random weights (memory and speed only).

`ScriptedAnswers` wraps `model.generate` so that a random model behaves like a compliant one for the
coverage loop while doing the real amount of work:
  * every row of every call generates exactly its planned answer length (`min_new_tokens` equal to
    `max_new_tokens`: the end-of-answer token is suppressed until then);
  * the loop guard is left out of the call (random weights loop at once; the guard would end the
    answers early and save the very work being measured);
  * afterwards each row's generated tokens are replaced by a scripted answer, one line per label of
    the row's prompt ("[12s] Scripted description of second 12."), which the parser accepts.
It records per call: rows, padded and exact input tokens, generated steps, prefill time (to the first
new token), decode time, and peak memory (the CUDA allocator's peak, or on CPU the process's peak
RSS growth over a baseline taken before the model was built).

Imports nothing from PyAV or Dagster.
"""

from __future__ import annotations

import re
import time

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from analyzers.process_memory import peak_rss_bytes, reset_peak_rss, rss_bytes
from analyzers.vlm.guard import RepetitionGuard

__all__ = ["ScriptedAnswers", "peak_rss_bytes", "reset_peak_rss", "rss_bytes", "scripted_line"]

LABEL = re.compile(r"\[(\d+)s\]\s*(?:<\|vision_start\|>|<video>)")


def scripted_line(second: int) -> str:
    return f"[{second}s] Scripted second {second}."


class _FirstToken(StoppingCriteria):
    """Notes the time of the first stopping-criteria call: the prefill and the first new token are done."""

    def __init__(self, sync):
        self.sync, self.at = sync, None

    def __call__(self, input_ids, scores, **kwargs):
        if self.at is None:
            self.sync()
            self.at = time.perf_counter()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class ScriptedAnswers:
    """Replaces `model.generate` (see the module docstring); `calls` holds one record per call."""

    def __init__(self, model, tokenizer, *, rss_baseline: int | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.real = model.generate
        self.own = model.__dict__.get("generate")  # None: `generate` is the class's method
        self.device = next(model.parameters()).device
        self.rss_baseline = rss_baseline
        self.calls: list[dict] = []
        eos = model.generation_config.eos_token_id
        self.eos = eos[0] if isinstance(eos, (list, tuple)) else eos
        self.pad = model.generation_config.pad_token_id
        if self.pad is None:
            self.pad = self.eos
        model.generate = self

    def restore(self) -> None:
        # Deleting the instance attribute, not assigning the bound method back: model -> bound method ->
        # model is a reference cycle, which kept a 7B model on the GPU until the next full collection.
        if self.own is None:
            self.model.__dict__.pop("generate", None)
        else:
            self.model.generate = self.own

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def __call__(self, **kwargs):
        ids, mask = kwargs["input_ids"], kwargs.get("attention_mask")
        steps = kwargs["max_new_tokens"]
        criteria = [c for c in kwargs.pop("stopping_criteria", []) or [] if not isinstance(c, RepetitionGuard)]
        first = _FirstToken(self._sync)
        kwargs["stopping_criteria"] = StoppingCriteriaList([*criteria, first])
        kwargs["min_new_tokens"] = steps
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            reset_peak_rss()
        self._sync()
        started = time.perf_counter()
        out = self.real(**kwargs)
        self._sync()
        ended = time.perf_counter()
        generated = out.shape[1] - ids.shape[1]
        lengths = mask.sum(dim=1).tolist() if mask is not None else [ids.shape[1]] * ids.shape[0]
        rows = [[int(s) for s in LABEL.findall(self.tokenizer.decode(r[-n:]))] for r, n in zip(ids, lengths)]
        tokens = ids.shape[0] * (ids.shape[1] + generated)
        record = {
            "rows": ids.shape[0],
            "seconds": [[r[0], r[-1]] if r else [] for r in rows],
            "input_tokens": lengths,
            "padded_input_tokens": ids.shape[1],
            "generated_steps": generated,
            "sequence_tokens": tokens,
            "prefill_s": round((first.at or ended) - started, 4),
            "decode_s": round(ended - (first.at or ended), 4),
            "wall_s": round(ended - started, 4),
        }
        if cuda:
            record["measured_peak_bytes"] = torch.cuda.max_memory_allocated(self.device)
            record["peak_kind"] = "cuda allocated"
        elif self.rss_baseline is not None:
            record["measured_peak_bytes"] = peak_rss_bytes() - self.rss_baseline
            record["peak_kind"] = "process RSS growth"
        self.calls.append(record)
        answers = []
        for seconds in rows:
            text = "\n".join(scripted_line(s) for s in seconds) if len(seconds) > 1 else None
            if len(seconds) == 1:  # a one-second question is answered without a label
                text = f"Scripted second {seconds[0]}."
            new = self.tokenizer(text or "", add_special_tokens=False)["input_ids"] + [self.eos]
            answers.append((new + [self.pad] * generated)[:generated])
        return torch.cat([ids, torch.tensor(answers, dtype=ids.dtype, device=ids.device)], dim=1)
