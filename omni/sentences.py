"""Where a sentence ends in text that is still streaming in.

A mark followed by white space ends a sentence. At the end of what has come so far, a model's
next token may still change that ("3." may be "3.5", "Mr." is followed by a name, "12:" by
"34"), so only these end one there: "!" or "?", and "." after a word of two letters or more that
is no abbreviation ("... yet." and not "p.", "Dr." or "3."). Waiting for the token after them
would cost the reply's first sound one more decoding step (the end of a one-sentence reply is
known only when the model stops).
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "no", "approx",
                           "prof", "mt", "ft", "vol", "fig", "inc", "ltd", "co", "corp", "dept", "est", "gen",
                           "gov", "sgt", "capt", "lt", "col", "rev", "ave", "blvd", "rd", "jan", "feb", "mar",
                           "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed",
                           "thu", "fri", "sat", "sun", "min", "max", "sec", "hr", "hrs", "am", "pm"})
_LAST_WORD = re.compile(r"(?:^|[^\w.])([A-Za-z]{2,})\.$")


def ends_sentence_now(text: str) -> bool:
    """`text`, as far as it has streamed, surely ends a sentence (see the module's note)."""
    t = text.rstrip("\"')]")
    if t.endswith(("!", "?")):
        return True
    m = _LAST_WORD.search(t)
    return m is not None and m.group(1).lower() not in ABBREVIATIONS
