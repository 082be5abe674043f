"""Words said to someone else in the room, not to omni.

A voice assistant that listens without a wake word hears the household too: "Kids, dinner's
ready!", "Mum, can you turn the light off when you come up?", "Stop it, both of you.", "No, not
you, I was talking to my brother.". Answered, these get "That's great! Let's enjoy our meal
together." or a light switched off that nobody asked omni about. `said_to_other` finds the words
that show a turn is addressed to another person, so the dialogue can leave it unanswered:

- a word for a person (`PEOPLE`, or a name the pipeline lists) on its own between commas at the
  start or the end of the turn ("Sweetheart, have you ...", "... mum?"), or anywhere between
  two commas ("Stop it, both of you, give ..."); at the start, also with no comma when a
  question to "you" follows ("Mum can you ...");
- "not you" on its own, or "I wasn't talking to you".

It reads only the words; a name it was not given ("Tom, put your shoes on.") is not found, and a
request for someone else with no such word ("Did you remember to take the bins out?") is
answered as any other turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PEOPLE = frozenset({
    "mum", "mom", "mummy", "mommy", "mam", "mama", "mother", "dad", "daddy", "papa", "father",
    "grandma", "grandpa", "granny", "gran", "grandad", "granddad", "nana", "nan", "auntie", "aunt", "uncle",
    "honey", "hun", "sweetheart", "sweetie", "darling", "babe", "love", "my love",
    "kids", "children", "guys", "everyone", "everybody", "folks", "boys", "girls", "son", "sis", "bro",
    "you two", "you guys", "you lot", "both of you", "all of you", "you kids",
})
"""Words that name a person in the room when said on their own ("Kids," "..., mum?"). Words that
are also exclamations ("Man, ...", "Boy, ...", "Oh dear, ...") or that a user may call the
assistant ("buddy", "mate") are not among them."""

_LEAD = re.compile(r"^(?:hey|hi|hello|oi|oh|ok(?:ay)?|so|and|now|right|look|listen|um+|uh+|er+|erm+)\s+", re.IGNORECASE)
"""A word that may come before the name ("Hey kids, ...", "Okay guys, ...")."""

_NOT_ME = re.compile(r"(?:^|[,.;!?]\s*|\bno\s+)not you\b|\b(?:wasn't|was not|not|am not)\s+(?:talking|speaking)\s+to\s+you\b",
                    re.IGNORECASE)
"""Said to omni, but to say the turn was not for it."""

_ASK_YOU = re.compile(r"^(?:can|could|would|will|did|do|have|are|were|is)\s+you\b", re.IGNORECASE)


def _norm(part: str) -> str:
    return re.sub(r"[^\w' ]+", "", part.replace("’", "'")).strip().lower()


def said_to_other(text: str, names: Iterable[str] = ()) -> str | None:
    """The words that show `text` is said to someone else (a person named on their own, or "not
    you"), or None when nothing does. `names`: the household's own names ("Tom", "Anna")."""
    people = PEOPLE | {n.strip().lower() for n in names if n.strip()}
    if m := _NOT_ME.search(text):
        return m.group(0).strip(" ,.;!?").lower()
    parts = [p for p in (_norm(p) for p in re.split(r"[,;:.!?]+", text)) if p]
    if not parts:
        return None

    def person(p: str) -> bool:
        return _LEAD.sub("", p) in people

    if len(parts) > 1:
        if person(parts[0]) and not person(_LEAD.sub("", parts[1]).split(" and ")[0].split(" ")[0]):
            return parts[0]  # "Mum, can you ..." (not a list: "Mum, Dad and I ...")
        if person(parts[-1]) and len(parts[-2].split()) > 1 and not re.search(r"\band$", parts[-2]):
            return parts[-1]  # "..., mum?" (not a list's last: "milk, eggs, honey")
        for p in parts[1:-1]:
            if p in people and len(p.split()) > 1:  # "Stop it, both of you, give ..."
                return p
    words = _LEAD.sub("", parts[0]).split(" ")
    if len(words) > 2 and words[0] in people and _ASK_YOU.match(" ".join(words[1:3])):
        return words[0]  # "Mum can you ..." (the comma not written)
    return None
