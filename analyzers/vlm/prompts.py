"""Versioned prompts. A model spec names a version; changing a prompt means adding a version.

Every second of video is its own clip, preceded by its absolute label `[Ns]` (N = seconds from
the start of the video), so the model never has to infer time from frame positions and its
answers name seconds of the whole video, whatever window they came from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    version: str
    label: str  # format of a second's label, `{s}` = absolute second
    window: str  # `{clips}`, `{first}`, `{last}`, `{count}`
    single: str  # `{clips}`, `{second}`

    def label_for(self, second: int) -> str:
        return self.label.format(s=second)


PROMPTS: dict[str, Prompt] = {
    "v1": Prompt(
        version="v1",
        label="[{s}s]",
        window=(
            "{clips}"
            "Above are consecutive one-second clips of a video, each after its label: [Ns] is second N of the video.\n"
            "For every label from [{first}s] to [{last}s], write one line: the label, then one sentence saying what "
            "is visible and what happens in that second. Write exactly {count} lines and nothing else."
        ),
        single=(
            "{clips}Above is second {second} of a video. In one sentence, say what is visible and what happens in it."
        ),
    ),
}

DEFAULT_PROMPT_VERSION = "v1"


def get_prompt(version: str) -> Prompt:
    try:
        return PROMPTS[version]
    except KeyError:
        raise ValueError(f"unknown prompt version {version!r}; known: {sorted(PROMPTS)}") from None
