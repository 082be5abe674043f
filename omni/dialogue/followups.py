"""A turn that goes on from the action just done: "and the kitchen too", "no, I meant the
bedroom", "a bit more", "make it ten minutes".

Such a turn names only what changes, or nothing at all ("a bit more"); the rest is the call the
turn before made. Without a model: a short turn with a follow-up cue, after a turn that ran an
action, takes that call and sets each argument the user now names (an enum value, or one of its
other words; a duration for a timer). "The kitchen is a mess" after a light command names a
room but no cue, and is not one. The call goes through the same allow-list as any other.
"""

from __future__ import annotations

import re
from typing import Any

from omni.dialogue.asks import asks_for_action, asks_how
from omni.dialogue.wording import spoken_seconds
from omni.dialogue.tools import ToolRegistry, _words
from omni.dialogue.types import ToolCall

MAX_WORDS = 10
"""Longer turns are not read as follow-ups (they say more than what changes)."""
CUE = re.compile(r"^\W*(?:and|no|nope|oops|actually|also|sorry|wait|what about|how about|make it|instead|"
                 r"now)\b|\b(?:too|instead|as well|again|more|i meant|i mean|make it)\b", re.IGNORECASE)
REPEAT = re.compile(r"\bagain\b|(?<!\bno )(?<!\bany )\bmore\b(?!\s+(?!(?:please|now|then|than|again|still|yet|time)\b)[a-z])",
                    re.IGNORECASE)
"""A follow-up that names nothing new does the same again only when it says so ("a bit more",
"even more, I still can't hear it"; not "order more dog food", whose "more" is the food's);
"too" asks for the same on something it names ("and the garden too": not a room the action has)."""
_TALK = re.compile(r"\b(?:tell|say|explain|talk|read|give|repeat)\b|\bhear\s+(?:more|(?:that|it)\s+again)\b", re.IGNORECASE)
"""More asked of words ("Tell me more.", "Sorry, say that again?" after a volume command), not of
the action."""
_OTHER = re.compile(r"\b(?!(?:do|turn|make|switch|set|go|try|put|keep|once|one|a|the|that|this|it|louder|quieter|"
                    r"softer|brighter|dimmer|more|again|bit|little|even|much|yes|no|and|okay|ok|um|uh|so|now|please|"
                    r"right)\b)[a-z]+\s+(?:the|a|an|my|some)\s+\w+", re.IGNORECASE)
"""A turn that does something else to a thing of its own ("Order the dog food again.", "I burnt
the toast again."): not the same again (see _does_other for what is not such a thing)."""
_SOFT = frozenset("up down on off in out for hear see just still maybe yeah only".split())
_SMALL = frozenset("bit little tad touch lot thing".split())
_NOT_SAME = re.compile(r"\b(?:not|never)\s+again\b|\bhere we go again\b|(?:\bis|\bare|'s|'re|\bam|'m)\s+(?:\w+\s+)?"
                       r"(?!still\b)(?!\w*thing\b)\w+ing\s+again\b|\b(?:i'm|i am|we're|we are|i feel|i was|we were)\s+"
                       r"(?:\w+\s+){0,2}?again\b", re.IGNORECASE)
"""Not a request to do it again: "Oh no, not again.", "It's raining again.", "The dog is barking
again.", and how the speaker is ("I'm hungry again.", "We're late again."; but "More, I'm
cooking." is, and "It's too quiet again." too)."""


def _does_other(text: str, own: set[str]) -> bool:
    """The turn does something to a thing of its own: "burnt the toast", not "up the volume", "down
    a bit", "hear the music" (why more is asked), nor a word of the last action's own ("dim the
    lights")."""
    for m in _OTHER.finditer(text):
        w = m.group(0).lower().split()
        if w[0] in _SOFT or w[-1] in _SMALL or w[0] in own or w[-1] in own or w[-1].rstrip("s") in own:
            continue
        return True
    return False
_NUMBER = re.compile(r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
                     r"twenty|thirty|forty|forty-five|sixty|ninety)\b")


def follow_up(text: str, last: list[tuple[str, dict[str, Any]]], tools: ToolRegistry) -> ToolCall | None:
    """The call this turn asks for, as a change to the last call of the turn before; or None."""
    words = _words(text)
    if not last or not words or len(words) > MAX_WORDS or not CUE.search(text):
        return None
    name, args = last[-1]
    new = dict(args)
    changed = False
    if name == "set_timer":
        secs = spoken_seconds(text)
        if secs is None and (m := _NUMBER.search(text.lower())) is not None and args.get("seconds"):
            # "actually make it ten": in the unit the timer was set in
            unit = 60 if int(args["seconds"]) % 60 == 0 else 1
            secs = spoken_seconds(f"{m.group(1)} {'minutes' if unit == 60 else 'seconds'}")
        if secs is not None and secs > 0:
            new["seconds"], changed = secs, True
    else:
        spec = tools.action(name)
        if spec is None:
            return None
        for k in spec.parameters:
            named = named_values(spec, k, words)
            if len(named) == 1 and new.get(k) != named[0]:
                new[k], changed = named[0], True
            elif len(named) > 1:
                return None  # "on ... off": not a clear change
    if not changed and not (REPEAT.search(text) and not _TALK.search(text) and not _other_clause(text, name, tools)):
        return None
    if tools.validate(name, new) is not None:
        return None
    return ToolCall("follow_up", name, new)


def named_values(spec: Any, arg: str, words: list[str]) -> list[str]:
    """The values of action `spec`'s argument `arg` that `words` say (or say in other words),
    the longest of those inside one another ("living room" over "room")."""
    named = [str(e) for e in spec.parameters[arg].get("enum", []) if spec.said(str(e), words)]
    return [e for e in named if not any(e != o and e in o for o in named)]


def _other_clause(text: str, name: str, tools: ToolRegistry) -> bool:
    """The clause that says "again" or "more" is about something else ("I burnt the toast again",
    "We lost the match again, can you believe it?"); a reason in a clause of its own ("More, I
    can't hear it over the dishwasher.") is not."""
    own = _own_words(name, tools)
    clauses = [c for c in re.split(r"[,;:.!?]+", text.replace("’", "'")) if REPEAT.search(c)]
    if any(_ONLY_REPEAT.match(c) for c in clauses):
        return False  # "Once more, I'm cold again.": a clause that only asks for it again
    return any(_NOT_SAME.search(c) or _does_other(c, own) for c in clauses)


_ONLY_REPEAT = re.compile(r"^\W*(?:(?:and|okay|ok|please|so|now)\W+)*(?:once more|one more time|again|more|a bit more|"
                          r"do it again|same again)(?:\W+please)?\W*$", re.IGNORECASE)


def _own_words(name: str, tools: ToolRegistry) -> set[str]:
    """The last action's own words: its name's, its keywords and its argument values."""
    out = set(name.lower().replace("_", " ").split())
    spec = tools.action(name)
    if spec is not None:
        out |= {w for k in spec.keywords or () for w in k.lower().split()}
        out |= {w for p in spec.parameters.values() for e in p.get("enum", []) for w in str(e).lower().split()}
    return out


STATES = ("state", "direction")
"""Arguments that say how a thing is left (on, off; up, down), not which thing it is."""
_IT = re.compile(r"\b(?:it|that|they|them|those|this)\b", re.IGNORECASE)
_WORKED = re.compile(r"\b(?:work|worked|working)\W*$", re.IGNORECASE)
_AFTER_STATE = frozenset("now yet still again already then right too as well properly okay".split())
"""Words that may follow the state asked about at the end ("Is it on now?"; not "Is it on a timer?")."""


def set_by_me(text: str, ran: list[tuple[str, dict[str, Any]]], follows: list[tuple[str, dict[str, Any]]],
              tools: ToolRegistry) -> tuple[str, dict[str, Any]] | None:
    """Asked how a thing is that omni itself set in this conversation ("Is the kitchen light on
    now?" after switching it on, "Is it louder?" after the volume, "Did the bedroom one go
    off?"): that call, the last one of the action the words name (by its word, or a value of
    what it works on; or, by "it", the turn before's) whose values they name besides its state.
    The words must ask how it is left (a state's value or word at their end, or "did it work?"),
    in one question that asks nothing done; an action turned off (tools_off: its device gone) or
    one with no state (stop) is not told. None when omni set nothing of it: another room, or nothing at all. The
    state asked may differ from the one set ("Is it off?"): what was set is the answer."""
    words = _words(text)
    # one question of how things are, asking nothing done ("Is the light on? Turn it off then."
    # and "Do you mind turning it off?" are requests)
    if not asks_how(text) or asks_for_action(text) or re.search(r"[.?!;]\s*\S", text.strip()):
        return None

    def told(n: str) -> bool:  # a device action in use that leaves a thing in a state
        spec = tools.action(n)
        return spec is not None and n not in tools.off and any(k in STATES for k in spec.parameters)

    def names(n: str) -> bool:  # its word, or a value of what it works on ("the bedroom one")
        spec = tools.action(n)
        return told(n) and (tools.keyword_said(n, text) or any(
            named_values(spec, k, words) for k in spec.parameters if k not in STATES))

    def left(spec: Any) -> bool:  # the words end on how it is left ("... on now?", "did it work?")
        ends = [i for i, w in enumerate(words) if any(named_values(spec, k, [w]) for k in spec.parameters if k in STATES)]
        return bool(_WORKED.search(text)) or bool(ends) and all(w in _AFTER_STATE for w in words[ends[-1] + 1:])

    named = {n for n, _ in ran if names(n)}
    if not named and follows and _IT.search(text) and told(follows[-1][0]):
        named = {follows[-1][0]}
    for name, args in reversed(ran):
        spec = tools.action(name)
        if name not in named or spec is None:
            continue
        # how it is left is asked ("... on?", "... louder?", "did it work?"), not something else of
        # it ("Is the kitchen light on a timer?")
        if not left(spec):
            return None
        said = {k: named_values(spec, k, words) for k in spec.parameters if k not in STATES}
        if all(not vals or str(args.get(k)) in vals for k, vals in said.items()):
            return name, args
    return None
