"""Fusing two recognizers' readings of one text line: PP-OCR's characters, with what only the other can write.

PP-OCRv4's recognizer reads lines robustly (it ignores the edge of a caption band, texture around
the text) but its dictionary (Chinese + ASCII + some symbols) lacks ©, ß, ö, Ä, €, ...: it writes
them as lookalikes ("GroBte Ubersicht", "Copyright @ 2013"); it also writes some symbols it has as
their lookalikes ("110°" as "1100"), drops narrow spaces ("Identification(English)") and, as a CTC
decoder, collapses a doubled letter ("www.iis" as "www.is"). Tesseract, given the language data,
writes those right but takes band edges and texture for characters ("|Öffnungszeiten").

`fuse_readings` aligns the two readings character by character (spaces and marks ignored) and keeps
the first reading's characters, taking from the second only:
- a letter's mark (ä, é, ñ ...) where both read the same letter (and a mark the first cannot write,
  ë for its é);
- ß where the first has B, s, f, β ... after a letter;
- a character the first recognizer cannot write at all, or a symbol it writes as a known lookalike
  (° as 0, ® as R ...), in place of one of the first's characters with agreeing neighbours;
- a letter doubled in the second where the first has it once, with agreeing neighbours;
- a space between two agreeing characters that are not both digits, from confidently read words;
- I or l where the first wrote the other, from a confidently read word (one glyph in sans-serif fonts).
Everything else in the second reading (extra characters at the edges, other letters) is ignored.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Collection, Sequence
from difflib import SequenceMatcher

# What a recognizer without ß writes for it (measured on PP-OCRv4: B, b, s, β, "ls", "lß").
SHARP_S_READ_AS = frozenset(["B", "b", "s", "S", "f", "β", "8", "ls", "lB", "ss", "fs"])
# Symbols and the letters or digits of like shape a recognizer writes for them (typography, not measured
# per clip): taken from the second reading even where the first recognizer could write the symbol.
LOOKALIKES = {
    "°": "0oOº",
    "©": "@0OoCcGQ",
    "®": "@RO0",
    "€": "ECe",
    "£": "Ef",
    "§": "S58",
    "±": "+",
    "×": "xX",
    "µ": "up",
    "ü": "i",  # the diaeresis taken for the dot of an i ("Stick" for "Stück", measured on generated captions)
}
# A one-character word of these is a sign, not the edge of a caption band.
SIGNS = frozenset(c for c in LOOKALIKES if not c.isalpha())
MIN_ANCHOR = 2  # characters that must agree on each side of a character taken from the second reading
SURE_WORD = 0.85  # a space (or I/l) is taken only from words the second recognizer read at least this sure


def plain_forms(text: str) -> str:
    """Full-width and compatibility characters (from a recognizer trained on Chinese text) as the
    plain characters they stand for: "）" -> ")", "℃" -> "°C", "ﬁ" -> "fi"; super- and subscripts,
    circled and fraction forms stay."""
    plain = "".join(
        unicodedata.normalize("NFKC", c)
        if unicodedata.decomposition(c).startswith(("<wide>", "<narrow>", "<compat>"))
        else c
        for c in text
    )
    return plain.replace("°°", "°")  # "21°℃": the degree sign read twice, once inside ℃


def _base(char: str) -> str:
    """The bare lower-case letter of a character (ä -> a, É -> e, ß -> ß)."""
    decomposed = unicodedata.normalize("NFD", char)
    return decomposed[0].casefold() if decomposed else char


def _marked(char: str) -> bool:
    return char == "ß" or unicodedata.normalize("NFD", char) != char


def _taken(mine: str, theirs: str, writable: Collection[str] | None) -> bool:
    """Whether the second reading's `theirs` replaces the first's `mine` (one character each)."""
    if mine in LOOKALIKES.get(theirs, ""):
        return True
    return writable is not None and theirs not in writable and not theirs.isspace() and theirs != mine


def _missing(theirs: str, writable: Collection[str] | None, inside: bool) -> bool:
    """Whether the second reading's `theirs`, absent from the first, is one the first left out because it
    cannot write it; at either end of the line only a sign (a character of texture there is no sign)."""
    return writable is not None and theirs not in writable and (inside or theirs in SIGNS)


def fuse_readings(
    reading: str,
    other: str,
    writable: Collection[str] | None = None,
    word_confidences: Sequence[float] | None = None,
) -> str:
    """`reading` corrected from `other` (module docstring). `writable`: the characters the first
    recognizer can write (None: unknown, only lookalikes and marks are taken); `word_confidences`: the
    second recognizer's confidence (0..1) per space-separated word of `other` (None: no spaces taken)."""
    if not other or reading == other:
        return reading
    ri = [i for i, c in enumerate(reading) if not c.isspace()]
    oj = [j for j, c in enumerate(other) if not c.isspace()]
    word_of = list(itertools.accumulate(c == " " for c in other)) if word_confidences is not None else []
    a, b = [_base(reading[i]) for i in ri], [_base(other[j]) for j in oj]
    out = list(reading)  # per character of `reading`, what the fused reading writes there
    ops = SequenceMatcher(None, a, b, autojunk=False).get_opcodes()

    def anchored(k: int) -> bool:
        """Whether op k sits between agreeing runs of MIN_ANCHOR characters (or the end of both readings)."""
        _, i0, i1, j0, j1 = ops[k]
        before = (k > 0 and ops[k - 1][0] == "equal" and ops[k - 1][2] - ops[k - 1][1] >= MIN_ANCHOR) or (
            i0 == 0 and j0 == 0 and k + 1 < len(ops)
        )
        after = (k + 1 < len(ops) and ops[k + 1][0] == "equal" and ops[k + 1][2] - ops[k + 1][1] >= MIN_ANCHOR) or (
            i1 == len(a) and j1 == len(b) and k > 0
        )
        return before and after

    def sure(j: int) -> bool:
        """Whether the second recognizer read the word holding its character j confidently."""
        return bool(word_of) and word_of[j] < len(word_confidences) and word_confidences[word_of[j]] >= SURE_WORD

    for k, (op, i0, i1, j0, j1) in enumerate(ops):
        if op == "equal":
            for i, j in zip(range(i0, i1), range(j0, j1)):
                mine, theirs = reading[ri[i]], other[oj[j]]
                if _marked(theirs) and (not _marked(mine) or (writable is not None and theirs.lower() not in writable)):
                    # the same letter: take the mark (or the mark the first cannot write: ë for é), in the first's case
                    letter = theirs.upper() if mine.isupper() else theirs.lower()
                    out[ri[i]] = letter if len(letter) == 1 else mine
                if i + 1 < i1 and word_of and _space_taken(reading, other, ri, oj, i, j, word_of, word_confidences):
                    out[ri[i]] += " "
        elif (
            op == "replace"
            and other[oj[j0] : oj[j1 - 1] + 1] == "ß"
            and reading[ri[i0] : ri[i1 - 1] + 1] in SHARP_S_READ_AS
        ):
            if ri[i0] > 0 and reading[ri[i0] - 1].isalpha():  # ß never starts a word
                out[ri[i0]] = "ß"
                for i in range(i0 + 1, i1):
                    out[ri[i]] = ""
        elif op == "replace" and i1 - i0 == j1 - j0:
            for i, j in zip(range(i0, i1), range(j0, j1)):
                mine, theirs = reading[ri[i]], other[oj[j]]
                if theirs == "ß" and mine in SHARP_S_READ_AS and ri[i] > 0 and reading[ri[i] - 1].isalpha():
                    out[ri[i]] = "ß"
                elif i1 - i0 <= 2 and anchored(k) and _taken(mine, theirs, writable):
                    out[ri[i]] = theirs
                elif i1 - i0 == 1 and {mine, theirs} == {"I", "l"} and anchored(k) and sure(oj[j]):
                    # capital I and small l share one glyph in sans-serif fonts: Tesseract's language model
                    # chooses by the word ("Ident", not "ldent"), PP-OCR by the glyph alone
                    out[ri[i]] = theirs
        elif op == "insert" and j1 - j0 == 1 and _missing(other[oj[j0]], writable, 0 < i0 < len(a)) and anchored(k):
            # a character the first recognizer cannot write and left out ("12,50 pro" for "12,50 € pro"):
            # taken with the second reading's spacing around it
            start = oj[j0 - 1] + 1 if j0 > 0 else 0
            end = oj[j1] if j1 < len(oj) else len(other)
            gap = range(ri[i0 - 1] + 1 if i0 > 0 else 0, ri[i0] if i0 < len(ri) else len(reading))
            for g in gap:
                out[g] = ""
            if i0 > 0:
                out[ri[i0 - 1]] += other[start:end]
            else:
                out[ri[i0]] = other[start:end] + out[ri[i0]]
        elif op == "insert" and j1 - j0 == 1 and i0 > 0 and anchored(k):
            # a CTC decoder writes a doubled letter once: take the second reading's double
            if b[j0] == a[i0 - 1] and reading[ri[i0 - 1]].isalnum() and oj[j0] == oj[j0 - 1] + 1:
                out[ri[i0 - 1]] += reading[ri[i0 - 1]]
            elif i0 < len(a) and b[j0] == a[i0] and reading[ri[i0]].isalnum() and oj[j0] + 1 == oj[j1]:
                out[ri[i0]] = reading[ri[i0]] + out[ri[i0]]
    return "".join(out)


def _space_taken(reading, other, ri, oj, i, j, word_of, confidences) -> bool:
    """Whether the second reading's space between its characters j, j+1 (aligned with the first's i, i+1,
    which have none between them) is taken: not inside a number, both words read confidently."""
    if ri[i + 1] != ri[i] + 1 or oj[j + 1] == oj[j] + 1:
        return False  # the first reading has a space there already, or the second has none
    if reading[ri[i]].isdigit() and reading[ri[i + 1]].isdigit():
        return False  # "1 10°": a space inside a number is a misreading
    left, right = word_of[oj[j]], word_of[oj[j + 1]]
    if max(left, right) >= len(confidences):
        return False
    return min(confidences[left], confidences[right]) >= SURE_WORD


def restore_letters(reading: str, lettered: str) -> str:
    """`reading` with the marked letters (ä ö ü ß é ñ ...) of `lettered` where the two agree otherwise."""
    return fuse_readings(reading, lettered)


def agreement(a: str, b: str) -> float:
    """1 - edit distance / length of the longer, over the bare lower-case letters of two readings
    (spaces ignored): how far two recognizers agree on a line, 0..1."""
    from analyzers.text_merge import edit_distance

    x = "".join(_base(c) for c in a if not c.isspace())
    y = "".join(_base(c) for c in b if not c.isspace())
    if not x and not y:
        return 1.0
    return 1 - edit_distance(x, y) / max(len(x), len(y))
