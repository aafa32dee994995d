"""Word error rate for tests that check what a transcript says: the edit distance in words between
what was said and what was heard, over the words said. Words are compared in lower case; anything
but a letter (German letters included) separates words."""

import re


def words(text: str) -> list[str]:
    return re.sub(r"[^a-zäöüß ]", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + insertions + deletions) / words in `reference`."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))
