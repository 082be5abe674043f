"""Word error rate, as bench/quality.py counts it (replies are judged by bench/usefulness.py)."""

from __future__ import annotations

import re

import numpy as np

# scoring ------------------------------------------------------------------------------------

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _spelled(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return str(n)


def normalise(text: str) -> list[str]:
    """Words for WER: lower case, no punctuation, numbers under 100 spelled ("20" = "twenty")."""
    t = text.lower().replace("-", " ")
    t = re.sub(r"\b\d{1,2}\b", lambda m: _spelled(int(m.group())), t)
    t = re.sub(r"[^a-z0-9' ]+", " ", t)
    return t.split()


def wer_counts(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance in words, reference words)."""
    r, h = normalise(ref), normalise(hyp)
    d = np.arange(len(h) + 1)
    for i, rw in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
    return int(d[len(h)]), len(r)
