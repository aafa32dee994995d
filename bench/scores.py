"""Scores of a timeline against ground truth. Every function returns plain dicts (JSON-ready)."""

from __future__ import annotations

import re

SPEECH_ACTIVE = 0.25  # a second "has speech" when at least a quarter of it is voiced (both sides alike)


def cut_f1(found: list[float], truth: list[float], tolerance_s: float = 1.0) -> dict:
    """Precision, recall and F1 of boundary times, each true cut matched at most once within the tolerance."""
    pairs = sorted(
        (abs(f - t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth) if abs(f - t) <= tolerance_s
    )
    used_f, used_t = set(), set()
    for _, i, j in pairs:
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
    tp = len(used_t)
    precision = tp / len(found) if found else (1.0 if not truth else 0.0)
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    missed = [t for j, t in enumerate(truth) if j not in used_t]
    extra = [f for i, f in enumerate(found) if i not in used_f]
    return {
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
        "tp": tp,
        "found": len(found),
        "truth": len(truth),
        "missed": [round(t, 3) for t in missed],
        "extra": [round(f, 3) for f in extra],
    }


def per_second_accuracy(predicted: list, truth: list, same=lambda p, t: p == t) -> dict:
    """Share of seconds (with a truth, and analysed) where the prediction agrees."""
    pairs = [(p, t) for p, t in zip(predicted, truth) if t is not None]
    if not pairs or all(p is None for p, _ in pairs):
        return {"accuracy": None, "seconds": len(pairs)}
    agree = sum(1 for p, t in pairs if p is not None and same(p, t))
    wrong = [
        i for i, (p, t) in enumerate(zip(predicted, truth)) if t is not None and not (p is not None and same(p, t))
    ]
    return {"accuracy": round(agree / len(pairs), 3), "seconds": len(pairs), "disagree_seconds": wrong}


def speech_activity(predicted: list[float | None], truth: list[float]) -> dict:
    score = per_second_accuracy(predicted, truth, lambda p, t: (p >= SPEECH_ACTIVE) == (t >= SPEECH_ACTIVE))
    known = [(p, t) for p, t in zip(predicted, truth) if p is not None]
    if known:
        score["fraction_mae"] = round(sum(abs(p - t) for p, t in known) / len(known), 3)
    return score


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z%:]+", " ", text.casefold()).split())


def words(text: str) -> list[str]:
    return normalise(text.replace("%", " percent")).replace(":", " ").split()


def vocabulary_precision(hypothesis: str, vocabulary: tuple[str, ...]) -> dict:
    h = words(hypothesis)
    if not h:
        return {"vocabulary_precision": None, "hypothesis_words": 0}
    inside = sum(1 for w in h if w in vocabulary)
    return {
        "vocabulary_precision": round(inside / len(h), 3),
        "hypothesis_words": len(h),
        "channel_words": sorted({w for w in h if w in vocabulary}),
    }
