"""Stops a generation that has fallen into a loop.

A runaway answer repeats the same block of tokens over and over ("W9W9W9...", or the same
sentence without a new label). Legitimate answers about a static scene repeat sentences too, but
their labels differ ([12s], [13s]...), so they are never exactly periodic over several lines.
The guard stops when the last tokens consist of `min_repeats` or more copies of one block of up
to `max_period` tokens covering at least `min_span` tokens.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from transformers import StoppingCriteria


class RepetitionGuard(StoppingCriteria):
    def __init__(
        self,
        prompt_length: int,
        max_period: int = 64,
        min_repeats: int = 3,
        min_span: int = 24,
        end_ids: Iterable[int] = (),
    ):
        self.prompt_length = prompt_length
        self.max_period = max_period
        self.min_repeats = min_repeats
        self.min_span = min_span
        self.end_ids = np.asarray(sorted(set(end_ids)), dtype=np.int64)
        self.stopped_at: dict[int, int] = {}  # row -> generated tokens when the guard stopped it

    @property
    def triggered(self) -> bool:
        return bool(self.stopped_at)

    def looping(self, tokens: np.ndarray) -> bool:
        n = tokens.shape[0]
        for period in range(1, self.max_period + 1):
            repeats = max(self.min_repeats, -(-self.min_span // period))
            span = repeats * period
            if span > n:
                break
            tail = tokens[n - span :]
            if np.array_equal(tail[period:], tail[:-period]):
                return True
        return False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        longest = max(self.min_repeats * self.max_period, self.min_span)
        generated = input_ids.shape[1] - self.prompt_length
        # One small device-to-host copy per step instead of a comparison per period on the device.
        tails = input_ids[:, max(self.prompt_length, input_ids.shape[1] - longest) :].cpu().numpy()
        ended = (
            np.isin(input_ids[:, self.prompt_length :].cpu().numpy(), self.end_ids).any(axis=1)
            if self.end_ids.size
            else np.zeros(len(tails), bool)
        )
        stop = []
        for row, tail in enumerate(tails):
            if row in self.stopped_at or ended[row]:
                stop.append(True)
            elif self.looping(tail):
                self.stopped_at[row] = generated
                stop.append(True)
            else:
                stop.append(False)
        return torch.tensor(stop, dtype=torch.bool, device=input_ids.device)
