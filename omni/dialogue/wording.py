"""What words say, read without a model: a duration ("a quarter of an hour" -> 900 s), an enum
value named ("living room"), a complaint of too much ("not so loud" -> down), a negation ("can't
hear you"), the parts of a request. Plain functions over text, shared by the fast path
(omni.dialogue.intents), the reply guards and the follow-ups; they import nothing of omni.
"""

from __future__ import annotations

import re
from typing import Any


def mentions(text: str, value: str) -> bool:
    """The (lower-case) words `text` name `value`, whole or as one compound ("bed room", "livingroom")."""
    v = value.lower()
    if re.search(rf"(?<![\w-]){re.escape(v)}(?![\w-])", text) is not None:
        return True
    # a compound heard in two words ("bed room") or as one ("livingroom")
    if len(v) < 6:
        return False
    ws = re.findall(r"[a-z]+", text)
    return re.sub(r"[\s-]", "", v) in {*ws, *(a + b for a, b in zip(ws, ws[1:]))}


def plain(text: str) -> str:
    """`text` with one space between words and straight apostrophes ("don’t" is "don't"): what
    the readings below match on (and no regex backtracks over a run of spaces)."""
    return " ".join(text.replace("’", "'").split())


def stems(text: str) -> set[str]:
    """The words of `text`, a plural's "s" dropped ("lights" is "light")."""
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in re.findall(r"[a-z']+", text.lower())}


_NEGATION = re.compile(r"\b(?:not|never|no|cannot|cant|dont|wont|isnt|doesnt|didnt|barely|hardly|scarcely)\b|n't\b",
                       re.IGNORECASE)


def negated(text: str) -> set[str]:
    """The words of `text` a negation says are not so: the next two after "not", "never", "no",
    "barely" or a "-n't", in its clause ("can't hear you" -> hear, you; "don't turn it up" -> turn, it)."""
    out: set[str] = set()
    text = plain(text)
    for m in _NEGATION.finditer(text):  # up to a comma: "No, turn it down." negates nothing
        out |= stems(" ".join(re.split(r"[,.;:!?]", text[m.end():])[0].split()[:2]))
    return out


def gainsays(text: str, example: str) -> bool:
    """`text` says a word its example says too, but negated where the example is not, or the
    other way round: "I can hear you." / "Can you hear me?" against "i can't hear you", "Don't
    turn the volume up." against "turn the volume up". Embeddings barely tell these apart."""
    text = plain(text)
    shared = stems(text) & stems(example)
    return bool(shared & (negated(text) ^ negated(example)))


def values_said(low: str, prop: dict[str, Any]) -> list[str]:
    """The enum values of a parameter that the (lower-case) words name, "living room" over "room"."""
    said = [v for v in prop.get("enum", []) if isinstance(v, str) and mentions(low, v)]
    return [v for v in said if not any(v != w and v in w for w in said)]


def too_much(low: str, prop: dict[str, Any], words: dict[str, list[str]]) -> str | None:
    """The value of a two-valued parameter that a complaint of too much or too little asks for:
    "too loud", "so loud", "not so loud" -> the value whose words do not hold "louder" (down);
    "not loud enough", "isn't loud enough" -> the one whose words do (up). None when the
    (lower-case) words make no such complaint, or complaints that ask for both."""
    values = [str(v) for v in prop.get("enum", [])]
    if len(values) != 2:
        return None
    meant = set()
    for i, v in enumerate(values):
        for w in (w.lower() for w in words.get(v, [])):
            if not (w.endswith("er") and len(w) > 4):
                continue
            base = w[:-3] if w[-3] == w[-4] else w[:-2]  # "louder" -> "loud", "bigger" -> "big"
            base = re.escape(base[:-1] + "y" if base.endswith("i") else base)  # "quieter" is "quiet"
            if re.search(rf"(?:\bnot|n't)\s+(?:\w+\s+)?{base}\s+enough\b", low):
                meant.add(v)
            elif re.search(rf"\b(?:too|so)\s+(?:\w+\s+)?{base}\b", low):
                meant.add(values[1 - i])
    return meant.pop() if len(meant) == 1 else None


_CLAUSE = re.compile(r"\s*(?:[,;]\s*(?:and\s+|then\s+|and then\s+)?|\s(?:and then|and|then|also)\s)\s*",
                     re.IGNORECASE)


def clauses(text: str) -> list[str]:
    """The parts of a request joined by "and", "then", commas ("please" and fillers left out)."""
    t = re.sub(r"[.!?]+$", "", text.strip())
    parts = [p.strip() for p in _CLAUSE.split(t) if p and p.strip()]
    return [p for p in parts if p.lower().strip(" ,.") not in ("please", "thanks", "thank you", "ok", "okay")]


_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_NUMBERS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
                 "a": 1, "an": 1})
_UNITS = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600}
_DURATION = re.compile(r"\b(\d+|(?:(?:twenty|thirty|forty|fifty)[- ])?[a-z]+)\s+(second|sec|minute|min|hour)s?\b")
_NEGATIVE = re.compile(r"\b(minus|negative)\s+(\d|[a-z])")
_QUARTERS = re.compile(r"(?<!and )(?<!and a )\b(?:(a|one|two|three)[\s-]+)?quarters?(?:[- ]hour\b|\s+of\s+an\s+hour\b)")


def spoken_seconds(text: str) -> int | None:
    """'ten minutes' -> 600, '1 hour 30 minutes' -> 5400, 'half an hour' / 'a half-hour' -> 1800; None if no
    duration; 'minus five seconds' -> -5 (no timer can run that, and the tool says so)."""
    low = text.lower()
    sign = -1 if _NEGATIVE.search(low) else 1
    # "a half hour timer", "half-hour"; not the half of "one and a half hour"
    low = re.sub(r"(?<!and )(?<!and a )\b(?:a\s+)?half[- ]hour\b", "half an hour", low)
    total = 1800 if re.search(r"\bhalf an hour\b", low) else 0
    # "a quarter of an hour", "three quarters of an hour", "a quarter-hour timer"
    for m in _QUARTERS.finditer(low):
        total += _NUMBERS.get(m.group(1) or "a", 1) * 900
    low = _QUARTERS.sub("", low)
    # "an hour and a half", "two and a half minutes": half (or a quarter) of the unit said, besides
    # the whole ones
    for m in re.finditer(r"\b(hour|minute|second)s?\s+and (a half|a quarter|three quarters)\b|\band "
                         r"(a half|a quarter|three quarters)\s+(hour|minute|second)s?\b", low):
        part = m.group(2) or m.group(3)
        total += _UNITS[m.group(1) or m.group(4)] * {"a half": 2, "a quarter": 1, "three quarters": 3}[part] // 4
    low = re.sub(r"\s+and (?:a half|a quarter|three quarters)\b", "", low).replace("half an hour", "")
    # one duration, in parts said together ("1 hour 30 minutes", "an hour and ten minutes"); a
    # second one later ("four minutes? ... timer for four minutes.") says the same again
    last_end = None
    for m in _DURATION.finditer(low):
        num, unit = m.group(1), m.group(2)
        if num.isdigit():
            n = int(num)
        else:
            parts = re.split(r"[- ]", num)
            if not all(p in _NUMBERS for p in parts):
                continue
            n = sum(_NUMBERS[p] for p in parts)
        if last_end is not None and not re.fullmatch(r"[\s,]*(?:and\s*)?", low[last_end:m.start()]):
            break
        total += n * _UNITS[unit]
        last_end = m.end()
    return sign * total or None


NUMBER_WORDS = r"\d+|half|quarter|three-quarters|" + "|".join(sorted(_NUMBERS, key=len, reverse=True))
"""How a length of time may start ("10", "ten", "an", "half")."""
_HEAD = re.compile(rf"\b(?:(?:about|around|roughly|like|exactly|just|approximately)\s+)?(?P<n>{NUMBER_WORDS})\b")
"""How a duration starts ("ten", "an", "half", "3"; "about ten")."""
_UNIT = re.compile(rf"\b(?:{'|'.join(_UNITS)})s?\b|\bhalf an hour\b|\bhalf[- ]hour\b")
_AHEAD = re.compile(r"\b(?:in|after|within)\s+(?=(?P<d>\S[^,.;!?]*))"
                    r"|\b(?:when|once)\s+(?:the\s+)?(?P<w>\S[^,.;!?]*?)\s*(?:\s(?:is|are|has|have)|'s)\s+(?:been\s+)?"
                    r"(?:up|over|gone|passed|done|elapsed|finished|through)\b"
                    r"|\b(?:when|once)\s+(?:the\s+)?(?P<p>\S[^,.;!?]*?)\s+(?:has |have )?(?:pass|passes|passed|go by|goes by|gone by)\b")
_FROM_NOW = re.compile(r"(?P<f>(?:\S+\s+){1,6}?)from now\b")


def ahead(text: str) -> int | None:
    """Seconds to a time ahead that the words name by its distance: "in ten minutes", "after
    an hour", "twenty minutes from now", "when five minutes are up" -> 600, 3600, 1200, 300.
    None for a length of time that is not one ("my train was twenty minutes late"; "I ran it in
    thirty minutes" gives 1800: whether it is asked for is the caller's to judge)."""
    low = plain(text).lower()[:400]
    spans = [next(g for g in m.groups() if g is not None) for m in _AHEAD.finditer(low)]
    if "from now" in low:
        for m in _FROM_NOW.finditer(low):  # the duration ends the span: from its first number on
            head = next(_HEAD.finditer(m.group("f")), None)
            if head is not None:
                spans.append(m.group("f")[head.start():])
    for span in spans:
        if not _HEAD.match(span):
            continue  # "in the kitchen for ten minutes": the length is not what "in" is followed by
        head = " ".join(span.split()[:7])
        if not _UNIT.search(head):
            continue
        secs = spoken_seconds(head)
        if secs is not None and secs > 0:
            return secs
    return None

def masked(text: str) -> str:
    """What gets embedded: lower case, no punctuation (a full stop moved one command's similarity
    to its own example from 1.0 to 0.69), and the numbers of durations replaced by one word, so
    "ten minutes" and "5 minutes" embed alike (the slots read the value)."""
    low = re.sub(r"[^\w\s'-]", " ", text.lower())  # transcripts have punctuation, examples rarely
    low = re.sub(r"\bhalf an hour\b|(?<!and )(?<!and a )\b(?:a\s+)?half[- ]hour\b", "some minutes", low)
    low = _QUARTERS.sub("some minutes", low)
    low = " ".join(low.split())
    return _DURATION.sub(lambda m: f"some {m.group(2)}s", low)
