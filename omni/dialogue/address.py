"""Words said to someone else in the room, not to omni.

A voice assistant that listens without a wake word hears the household too: "Kids, dinner's
ready!", "Mum, can you turn the light off when you come up?", "Stop it, both of you.", "No, not
you, I was talking to my brother.". Answered, these get "That's great! Let's enjoy our meal
together." or a light switched off that nobody asked omni about. `said_to_other` finds the words
that show a turn is addressed to another person, so the dialogue can leave it unanswered:

- a word for a person (`PEOPLE`, or a name the pipeline lists) on its own: the whole turn
  ("Mum!"), or between commas at the start or the end ("Sweetheart, have you ...", "... mum?"),
  or a phrase of them between two commas ("Stop it, both of you, give ..."); at the start, also
  with no comma when a question to "you" follows ("Mum can you ...", "Dad could I ..."). Not
  when the rest talks about that person ("Dad, what's a good present for him?"; so "Mum, Dad
  wants to know if he can borrow the car." is answered), nor a word a user may call omni said
  last to a turn that asks nothing of "you" ("What time is it, love?", "Wake me at seven, love.");
- "not you" on its own, or "I wasn't talking to you";

and never when the turn says the assistant's own name.

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
    "honey", "hun", "sweetheart", "sweetie", "darling", "babe", "love",
    "kids", "children", "guys", "everyone", "everybody", "folks", "boys", "girls", "son", "sis", "bro",
    "you two", "you guys", "you lot", "both of you", "all of you", "you kids",
})
"""Words that name a person in the room when said on their own ("Kids," "..., mum?"). Words that
are also exclamations ("Man, ...", "Boy, ...", "Oh dear, ...") or that a user may call the
assistant ("buddy", "mate") are not among them."""

PET = frozenset({"honey", "hun", "sweetheart", "sweetie", "darling", "babe", "love"})
"""Words for a person that a user may say to omni too ("What time is it, love?"): said last, they
mark an aside only when the rest is asked of "you" ("Can you grab me a towel, babe?"); said
first, not when the rest is about "it" ("Honey, is it good for a sore throat?")."""

OWN = ("omni",)
"""The assistant's own name: a turn that says it is said to omni ("Omni, say goodnight, kids.")."""

_LEAD = re.compile(r"^(?:hey|hi|hello|oi|oh|ok(?:ay)?|so|and|now|right|look|listen|um+|uh+|er+|erm+)\s+", re.IGNORECASE)
"""A word that may come before the name ("Hey kids, ...", "Okay guys, ...")."""

_NOT_ME = re.compile(r"(?:^|[,.;!?]\s*|\bno\s+)not you\b(?!,?\s+the\b)|\bi\s+(?:wasn't|was not)\s+(?:talking|speaking)\s+to\s+"
                    r"you\b|\bi\s+(?:wasn't|was not)\s+asking\s+you\b|\bi'?m not\s+(?:talking|speaking)\s+to\s+you[.!]*\s*$",
                    re.IGNORECASE)
"""Said to omni, but to say the turn was not for it."""

_ASK_YOU = re.compile(r"^(?:(?:can|could|would|will|did|do|have|are|were|is)\s+you|(?:can|could|may)\s+i)\b", re.IGNORECASE)
_ONLY_LEAD = re.compile(r"^(?:hey|hi|hello|oi|oh|ok(?:ay)?|so|right|look|listen)$", re.IGNORECASE)
_OTHERS = re.compile(r"\b(?:he|him|his|she|her|hers|they|them|their)\b")
"""The rest of a turn talks about a third person: the word first is what it is about ("Dad, what's
a good present for him?"), not who it is said to."""
_YOU = re.compile(r"\b(?:you|your|yours|yourself)\b")


def _norm(part: str) -> str:
    return re.sub(r"[^\w' ]+", "", part.replace("’", "'")).strip().lower()


def said_to_other(text: str, names: Iterable[str] = (), own: Iterable[str] = OWN) -> str | None:
    """The words that show `text` is said to someone else (a person named on their own, or "not
    you"), or None when nothing does. `names`: the household's own names ("Tom", "Anna"); `own`:
    the assistant's (a turn that says one is said to it)."""
    text = text.replace("’", "'")
    people = PEOPLE | {_norm(n) for n in names if _norm(n)}
    if m := _NOT_ME.search(text):  # "Sorry omni, I wasn't talking to you." too
        return m.group(0).strip(" ,.;!?").lower()
    if set(_norm(text).split()) & {_norm(n) for n in own}:
        return None
    parts = [p for p in (_norm(p) for p in re.split(r"[,;:.!?]+", text)) if p]
    if len(parts) > 1 and _ONLY_LEAD.match(parts[0]):
        parts = parts[1:]  # "Hey, mum, look at this."
    if not parts:
        return None

    def person(p: str) -> bool:
        return _LEAD.sub("", p) in people

    first, rest = _LEAD.sub("", parts[0]), " ".join(parts[1:])
    if len(parts) == 1 and first in people - PET:
        return parts[0]  # "Mum!", "Hey kids!"
    if len(parts) > 1:
        listed = person(parts[1].split(" ")[0]) and (" and " in parts[1] or any(
            p.startswith("and ") for p in parts[2:]))  # "Mum, Dad and I ...", "Mum, Dad, and I ..."
        about = _OTHERS.search(rest) or (first in {"honey", "love"} and re.search(r"\bits?\b", rest))
        if person(parts[0]) and not listed and not (about and not _YOU.search(rest)):
            return parts[0]  # "Mum, can you ...", not "Dad, what's a good present for him?"
        last, before = _LEAD.sub("", parts[-1]), " ".join(parts[:-1])
        if person(parts[-1]) and len(parts[-2].split()) > 1 and not re.search(r"\band$", parts[-2]) and \
                (last not in PET or _YOU.search(re.sub(r"\bthank you\b", "", before))):
            return parts[-1]  # "..., mum?" (not a list's last, "milk, eggs, honey"; not "What time is it, love?")
        for p in parts[1:-1]:
            if p in people and len(p.split()) > 1:  # "Stop it, both of you, give ..."
                return p
    words = first.split(" ")
    if len(words) > 2 and words[0] in people and _ASK_YOU.match(" ".join(words[1:3])):
        return words[0]  # "Mum can you ...", "Dad could I ..." (the comma not written)
    return None
