"""Parsing model answers into one description per absolute second.

Accepted markers (case-insensitive), at the start of a line (after an optional bullet, list
number or bold markup) unless noted:
  [12s] [12 s] [00:12] [0:00:12] (12s) [12]     bracketed; with a unit or clock also mid-line
  12s: / 12 sec - / 00:12 / 0:00:12 / at 12s,   bare time with a unit or a clock
  12-13s, 12s-14s, 00:12-00:14, [12-14s]         spans: half-open [start, end) -> 12 | 12, 13
  second 12, seconds 12-14, sec 3 to 5           named seconds: inclusive -> 12 | 12, 13, 14
  [12s]-[14s]                                    a range of labels: inclusive
A description is the text after a marker up to the next one. Text that does not read like a
sentence (replacement characters, control bytes, few letters) is rejected, so garbage yields no
description. Seconds outside the window are dropped; if every marker lies outside the window but
inside it once shifted by the window's start, the model used window-relative time and the
answer is shifted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_NUM = r"\d+(?:\.\d+)?"
_CLOCK = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:\.\d+)?"
_UNIT = r"(?:s|secs?|seconds?)\b"
_TIME = rf"(?:{_CLOCK}|{_NUM}(?:\s*{_UNIT})?)"
_DASH = r"\s*(?:-|–|—|to|until|through)\s*"

_LABEL_RANGE = rf"\[\s*(?P<la>{_TIME})\s*\]{_DASH}\[\s*(?P<lb>{_TIME})\s*\]"
_BRACKET = rf"[\[(]\s*(?P<ba>{_TIME})(?:{_DASH}(?P<bb>{_TIME}))?\s*[\])]"
_NAMED = rf"\b(?:seconds?|secs?)\s+(?P<na>\d+)(?:{_DASH}(?P<nb>\d+))?\b"
_SPAN = rf"(?P<sa>{_TIME})(?:{_DASH}(?P<sb>{_TIME}))?"

_LINE_START = re.compile(
    rf"^[ \t]*(?:[-*•>]+[ \t]*|\d{{1,3}}[.)][ \t]+)?(?:\*\*|__)?[ \t]*(?:at[ \t]+|from[ \t]+)?"
    rf"(?:{_LABEL_RANGE}|{_BRACKET}|{_NAMED}|{_SPAN})(?:\*\*|__)?",
    re.IGNORECASE | re.MULTILINE,
)
_INLINE = re.compile(rf"{_LABEL_RANGE}|{_BRACKET}", re.IGNORECASE)
_HAS_UNIT_OR_CLOCK = re.compile(rf"\d\s*{_UNIT}|\d:\d", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_]{2,}")
_SPECIAL = re.compile(r"[\ufffd\x00-\x08\x0b-\x1f\x7f]")
_LEAD = re.compile(r"^[\s:\-–—.,;)\]>*_|]+")
MAX_CHARS = 400


@dataclass(frozen=True)
class Marker:
    start: int  # character span of the marker in the answer
    end: int
    first: float
    last: float
    inclusive: bool


@dataclass
class ParsedAnswer:
    descriptions: dict[int, str] = field(default_factory=dict)
    flags: dict[int, list[str]] = field(default_factory=dict)
    out_of_window: int = 0  # markers naming seconds outside the window
    rejected: int = 0  # markers in the window whose text is not a description
    relative: bool = False


def parse_time(token: str) -> float:
    """'12s' -> 12, '00:12' -> 12, '1:02:03' -> 3723, '12.5 sec' -> 12.5."""
    token = re.sub(_UNIT, "", token.strip(), flags=re.IGNORECASE).strip()
    if ":" in token:
        value = 0.0
        for part in token.split(":"):
            value = value * 60 + float(part)
        return value
    return float(token)


def _marker(m: re.Match, offset: int = 0) -> Marker | None:
    g = m.groupdict()
    if g.get("la"):
        a, b, inclusive = g["la"], g["lb"], True
    elif g.get("ba"):
        a, b, inclusive = g["ba"], g["bb"], False
    elif g.get("na"):
        a, b, inclusive = g["na"], g["nb"], True
    else:
        a, b, inclusive = g["sa"], g["sb"], False
        if not _HAS_UNIT_OR_CLOCK.search(m.group(0)):
            return None  # a bare number at a line start is a list number, not a time
    first = parse_time(a)
    last = parse_time(b) if b else first
    if last < first:
        return None
    return Marker(m.start() + offset, m.end() + offset, first, last, inclusive or not b)


def find_markers(text: str) -> list[Marker]:
    found = [mk for m in _LINE_START.finditer(text) if (mk := _marker(m))]
    taken = [(mk.start, mk.end) for mk in found]
    for m in _INLINE.finditer(text):
        overlaps = any(s < m.end() and m.start() < e for s, e in taken)
        if not overlaps and _HAS_UNIT_OR_CLOCK.search(m.group(0)) and (mk := _marker(m)):
            found.append(mk)
    return sorted(found, key=lambda mk: mk.start)


def marker_seconds(mk: Marker) -> list[int]:
    if mk.inclusive:
        return list(range(math.floor(mk.first), math.floor(mk.last) + 1))
    return list(range(math.floor(mk.first), max(math.ceil(mk.last), math.floor(mk.first) + 1)))


def clean_description(text: str) -> tuple[str, list[str]]:
    text = _LEAD.sub("", " ".join(text.replace("**", " ").replace("__", " ").split())).strip(" *_")
    flags = []
    if len(text) > MAX_CHARS:
        cut = text[:MAX_CHARS]
        end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
        text = cut[: end + 1] if end > MAX_CHARS // 2 else cut.rstrip() + "…"
        flags.append("long")
    return text, flags


def is_sentence(text: str) -> bool:
    """Reads like words: no replacement or control characters, mostly letters, two words or more."""
    if not text or _SPECIAL.search(text):
        return False
    letters = len(_LETTER.findall(text))
    plain = sum(ch.isalpha() or ch.isspace() or ch in ".,;:'\"!?-()" for ch in text)
    return len(_WORD.findall(text)) >= 2 and letters >= 6 and plain >= 0.85 * len(text)


def parse_answer(text: str, seconds: Sequence[int]) -> ParsedAnswer:
    """Descriptions per absolute second from an answer about the consecutive `seconds`."""
    window = set(seconds)
    out = ParsedAnswer()
    markers = find_markers(text)
    if not markers:
        if len(seconds) == 1:  # a one-second question may be answered without a label
            desc, flags = clean_description(text)
            if is_sentence(desc):
                out.descriptions[seconds[0]] = desc
                out.flags[seconds[0]] = ["unlabelled", *flags]
        return out

    spans = [marker_seconds(mk) for mk in markers]
    named = {s for span in spans for s in span}
    shift = 0
    if seconds[0] > 0 and not named & window and all(s + seconds[0] in window for s in named):
        shift, out.relative = seconds[0], True

    for i, (mk, span) in enumerate(zip(markers, spans)):
        body = text[mk.end : markers[i + 1].start if i + 1 < len(markers) else len(text)]
        desc, flags = clean_description(body)
        inside = [s + shift for s in span if s + shift in window]
        out.out_of_window += len(inside) < len(span)
        if not inside:
            continue
        if not is_sentence(desc):
            out.rejected += 1
            continue
        extra = (["range"] if len(span) > 1 else []) + (["relative_time"] if shift else [])
        for s in inside:
            if s not in out.descriptions:
                out.descriptions[s] = desc
                out.flags[s] = extra + flags
    return out
