"""Putting back the letters one recognizer drops, from another recognizer's reading of the same line.

PP-OCRv4's recognizer reads lines robustly (it ignores the edge of a caption band, texture around
the text) but writes most accented letters without their marks and ß as B ("GroBte Ubersicht fur
Bäcker"). Tesseract, given the German language data, writes the letters right but takes band edges
and texture for characters ("|Öffnungszeiten", "[Gemüse"). `restore_letters` keeps the first
reading's characters and takes from the second only what the first could not write: a letter with
its mark where the first has the bare letter, ß where the first has B, s, f or β. Everything else
(Tesseract's extra or different characters) is ignored.
"""

from __future__ import annotations

import unicodedata
from difflib import SequenceMatcher

# What a recognizer without ß writes for it (measured on PP-OCRv4: B, b, s, β, "ls", "lß").
SHARP_S_READ_AS = frozenset(["B", "b", "s", "S", "f", "β", "8", "ls", "lB", "ss", "fs"])


def _base(char: str) -> str:
    """The bare lower-case letter of a character (ä -> a, É -> e, ß -> ß)."""
    decomposed = unicodedata.normalize("NFD", char)
    return decomposed[0].casefold() if decomposed else char


def _marked(char: str) -> bool:
    return char == "ß" or unicodedata.normalize("NFD", char) != char


def restore_letters(reading: str, lettered: str) -> str:
    """`reading` with the marked letters (ä ö ü ß é ñ ...) of `lettered` where the two agree otherwise."""
    if not lettered or reading == lettered:
        return reading
    a, b = [_base(c) for c in reading], [_base(c) for c in lettered]
    out = list(reading)
    for op, i0, i1, j0, j1 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            for i, j in zip(range(i0, i1), range(j0, j1)):
                if _marked(lettered[j]) and not _marked(reading[i]):
                    # the same letter: take the mark, in the first reading's case
                    letter = lettered[j].upper() if reading[i].isupper() else lettered[j].lower()
                    out[i] = letter if len(letter) == 1 else reading[i]
        elif op == "replace" and lettered[j0:j1] == "ß" and reading[i0:i1] in SHARP_S_READ_AS:
            if i0 > 0 and reading[i0 - 1].isalpha():  # ß never starts a word
                out[i0] = "ß"
                for i in range(i0 + 1, i1):
                    out[i] = ""
        elif op == "replace" and i1 - i0 == j1 - j0:
            for i, j in zip(range(i0, i1), range(j0, j1)):
                if lettered[j] == "ß" and reading[i] in SHARP_S_READ_AS and i > 0 and reading[i - 1].isalpha():
                    out[i] = "ß"
    return "".join(out)


def agreement(a: str, b: str) -> float:
    """1 - edit distance / length of the longer, over the bare lower-case letters of two readings
    (spaces ignored): how far two recognizers agree on a line, 0..1."""
    from analyzers.text_merge import edit_distance

    x = "".join(_base(c) for c in a if not c.isspace())
    y = "".join(_base(c) for c in b if not c.isspace())
    if not x and not y:
        return 1.0
    return 1 - edit_distance(x, y) / max(len(x), len(y))
