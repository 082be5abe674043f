"""What answering a dialogue turn needs, and the fast path: clear commands, without a model.

The dialogue stage owns one `TurnKit` (options, allow-list, router, memory, reporting) and hands
it, per turn, to `fast_path` here or to `llm_turn` (omni.dialogue.llm_turn).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from omni.dialogue.asks import asks_deed, asks_for_action, asks_how, asks_only_to_stop, timer_seconds
from omni.dialogue.claims import UNDOING, claims_action, claims_asked, promises, under_way
from omni.dialogue.intents import IntentMatch
from omni.dialogue.memory import Memory
from omni.dialogue.options import REFUSE, DialogueOptions
from omni.dialogue.prompts import PromptEcho, can_do
from omni.dialogue.router import Router
from omni.dialogue.tools import ToolRegistry, ToolResult
from omni.dialogue.types import ToolCall
from omni.frames import DeviceAction, ErrorEvent, Frame, ReplyDone, ReplyToken, Turn
from omni.runtime import Stopwatch

log = logging.getLogger(__name__)


@dataclass
class TurnKit:
    """What answering a turn needs; one per dialogue stage."""

    name: str
    """The stage's name (for logs and error events)."""
    options: DialogueOptions
    tools: ToolRegistry
    router: Router
    memory: Memory
    report: Callable[..., None]
    """report(turn, ms, **extra): the stage's record for the turn."""
    budget_ms: float | None = None
    failover_ms: float | None = None
    """`over_budget: failover`: a backend with no first token after this long gives way to the next."""
    prompt: PromptEcho | None = None
    """Every text the dialogue writes for its model: a reply clause that reads it out is not spoken."""
    follows: tuple[tuple[str, dict[str, Any]], ...] = ()
    """The calls the turn before made (name, arguments): this one may refer to them ("a bit
    more", "no, I meant the bedroom")."""

    def error(self, turn: Turn, message: str) -> ErrorEvent:
        log.warning("turn %d: %s", turn.id, message, extra={"stage": self.name, "turn": turn.id})
        return ErrorEvent(stage=self.name, message=message, turn=turn)


async def fast_path(kit: TurnKit, turn: Turn, text: str, matches: list[IntentMatch], parts: list[str],
                     gate: asyncio.Future[None] | None, sw: Stopwatch) -> AsyncIterator[Frame]:
    """Clear commands, without a model: each allowed one acts and is confirmed; what the
    pipeline does not allow is refused ("unlock the front door"), and says so."""
    if gate is not None:
        await gate  # a preemptive reply acts only once the words are confirmed
    said: list[str] = []
    confirmed: list[str] = []
    refused: list[IntentMatch] = []
    asked: list[str] = []
    for m in matches:
        if m.action == REFUSE:
            refused.append(m)
            continue
        if m.ask is not None:  # "Lights off, please.": which room? (the next turn's answer completes it)
            said.append(which(m.ask))
            asked.append(said[-1])
            continue
        # the same allow-list, validation and confirmation as a model's tool call
        res = await kit.tools.call(ToolCall(f"intent_{turn.id}_{len(said)}", m.action, m.args), fast_path=True)
        if res.action is not None:
            yield DeviceAction(turn=turn, action=res.action[0], args=res.action[1], source="intent")
        if not res.ok:
            yield kit.error(turn, f"fast path {m.action}: {res.content.get('error')}")
            if res.content.get("invalid"):  # arguments it does not allow ("minus five seconds")
                refused.append(m)
                continue
        said.append((res.say or "Done.") if res.ok else apology(res))
        if res.ok:
            confirmed.append(said[-1])
    if refused:
        log.info("turn %d refused: %s", turn.id, "; ".join(f"{m.example!r} ({m.score:.2f})" for m in refused),
                 extra={"stage": kit.name, "turn": turn.id})
    reply = " ".join([*said, *([cannot(kit.options.refusal, refused, len(matches))] if refused else [])])
    yield ReplyToken(turn=turn, text=reply)
    parts.append(reply)
    if confirmed or asked:  # refusals and apologies stay out of the history (a small model copies them)
        kit.memory.add(text, " ".join([*confirmed, *asked]), turn=turn.id)
    how = ", ".join(f"{'refused' if m.action == REFUSE else 'intent ' + m.action}{' asks which ' + m.ask['argument'] if m.ask else ''}"
                    f" (similarity {m.score:.2f} to {m.example!r})" for m in matches)
    kit.report(turn, sw.ms, backend="intent", reason=how,
                **({"args": matches[0].args} if len(matches) == 1 and not refused else {}))
    log.info("turn %d fast path: %s", turn.id, how, extra={"stage": kit.name, "turn": turn.id})
    yield ReplyDone(turn=turn, text=reply)


async def told_set(kit: TurnKit, turn: Turn, text: str, call: tuple[str, dict[str, Any]], just_now: bool,
                   parts: list[str], gate: asyncio.Future[None] | None, sw: Stopwatch) -> AsyncIterator[Frame]:
    """Asked how a thing is that omni itself set (followups.set_by_me): what it set, without a
    model ("I set it myself just now: kitchen light on."). Nothing reads a device; this is what
    omni knows, and it says whose knowledge it is."""
    if gate is not None:
        await gate
    spec = kit.tools.action(call[0])
    done = spec.confirmation(call[1]) if spec is not None else call[0]
    reply = (kit.options.set_by_me or "{done}").format(when="just now" if just_now else "earlier",
                                                       done=done[:1].lower() + done[1:])
    yield ReplyToken(turn=turn, text=reply)
    parts.append(reply)
    kit.memory.add(text, reply, turn=turn.id)
    kit.report(turn, sw.ms, backend="intent", reason=f"asked how {call[0]} {call[1]} is, which omni set")
    log.info("turn %d: asked how %s %s is, which omni set itself", turn.id, call[0], call[1],
             extra={"stage": kit.name, "turn": turn.id})
    yield ReplyDone(turn=turn, text=reply)


def timer_call(tools: ToolRegistry, said: str) -> ToolCall | None:
    """A timer asked for without its word, for the fast path: by a time ahead the user asks to
    hear from the assistant at ("Wake me in forty minutes.", "Let me know when ten minutes are
    up."), or by asking it to time a length said ("Can you time four minutes for me?"). None when
    the words negate, ask how things are, name an errand or a device action, or say no length
    (asks.asks_later, ToolRegistry.timer_asked), or no timer is callable."""
    if "set_timer" not in tools.targets() or "set_timer" in tools.off or not tools.timer_asked(said):
        return None
    secs = timer_seconds(said)
    return ToolCall("words_set_timer", "set_timer", {"seconds": secs}) if secs is not None and secs > 0 else None


STOP = "stop"
"""The device action a bare request to stop does (`stop_call`), when the pipeline declares one."""


def stop_call(tools: ToolRegistry, said: str, answering: bool = False) -> ToolCall | None:
    """The stop action, for the fast path, when every word of the turn asks the assistant to stop
    ("Shush.", "Okay, that'll do.", "Never mind, forget it."; asks.asks_only_to_stop, `answering`:
    the assistant's last words asked something) and the pipeline has a stop action that takes no
    argument and is not turned off."""
    action = tools.action(STOP)
    if action is None or STOP in tools.off or not asks_only_to_stop(said, answering):
        return None
    if action.parameters and (action.required is None or action.required):
        return None  # it needs an argument a bare "stop" does not say
    return ToolCall("words_stop", STOP, {})


def claimed_call(kit: TurnKit, claim: str, said: str, offered: frozenset[str]) -> ToolCall | None:
    """The call a claim, a promise or an action said to be under way of an offered action
    stands for, with its arguments from the words: "Bedroom light off." / "Sure, I'll turn the
    kitchen light on." / "Starting a countdown of three minutes."."""
    kind = claims_action(claim) or promises(claim)
    if asks_how(said) and kind != "get_time":
        return None  # "Yes, the kitchen light is on." to "Is the kitchen light on?" is no deed
    if kind is None and (said_kind := under_way(claim)) is not None and asks_for_action(said) and \
            not UNDOING.search(claim):
        kind = said_kind  # asked for, and said to be under way: "Starting a countdown of three minutes."
    if kind is None or kind not in offered:
        return None
    if kind == "get_time":  # the time it made up is not said; the clock's is
        return ToolCall("words_get_time", kind, {})
    if kind == "set_timer":
        secs = timer_seconds(said)
        return ToolCall("words_set_timer", kind, {"seconds": secs}) if secs is not None else None
    # the claim's own words first ("I'll turn off the bedroom light" after "... read in the
    # living room"), then the user's with it; never a value the user said otherwise
    call = kit.tools.act_from_words(kind, claim) or kit.tools.act_from_words(kind, f"{said} {claim}")
    if call is not None and kit.tools.contradicts(call, said):
        # the right action with a value the user's words gainsay ("Volume up." to "Softer,
        # please."): what the words ask for, when they ask for it by its keyword with every
        # argument, unnegated, and do not ask how things are ("Can you tell me if ...?")
        return None if _ASKS_STATE.search(said) else agreed_call(kit, said, frozenset({kind}))
    return call if call is not None and not kit.tools.contradicts(call, said) else None


_ASKS_STATE = re.compile(r"\b(?:if|whether)\b|^\W*(?:is|are|was|were)\b", re.IGNORECASE)
"""Words that ask how a thing is ("Is the bedroom light on?"), not for it to be so."""


def agreed_call(kit: TurnKit, said: str, offered: frozenset[str]) -> ToolCall | None:
    """The call a bare "Okay." agrees to: the one offered device action whose keyword the words
    `said` hold, when they ask for something to be done, unnegated, with every argument in them
    ("I've had enough of this weather." asks for no stop). None when that is not one action."""
    if not (asks_for_action(said) or _NEVER_MIND.search(said)) or _NEGATED.search(_NEVER_MIND.sub("", said)) or \
            asks_how(said):
        return None
    named = [n for n in sorted(offered) if kit.tools.action(n) is not None and kit.tools.keyword_said(n, said)]
    if len(named) != 1:
        return None
    call = kit.tools.act_from_words(named[0], said)
    return call if call is not None and not kit.tools.contradicts(call, said) else None


_NEGATED = re.compile(r"\b(?:don't|do not|never|not|no need to)\b|n['’]t\b", re.IGNORECASE)
_NEVER_MIND = re.compile(r"(?:^|[,;.!?])\W*(?:(?:actually|no|oh|okay|ok|um|uh|hmm|ah|well|so|alright|wait)\W+){0,2}"
                         r"never ?mind\b(?:\W+(?:don't|do not) (?:bother|worry)(?: about it)?\b)?", re.IGNORECASE)
"""'Never mind, ...' starting the words or a part of them ('Forget it, never mind.'): a request
to stop, not a negation ('I never mind the rain.' is one)."""


def not_done(kit: TurnKit, said: str, dropped: list[str], refused: bool) -> str:
    """What to say when the model's only words claimed or promised what no tool did: to a question
    of how a device is, that it can't tell (and what it can do); to words that asked for nothing
    ("I'll call you back in a minute, okay?" said back as a promise), an acknowledgement; to a
    request no action allows (or a promise of one), that it can't; to an allowed action asked in
    values it does not take, what it can do."""
    o = kit.options
    kinds = {c: claims_action(c) or under_way(c) or promises(c) or claims_asked(c, said) for c in dropped}
    action = next((a for a in o.actions if a.name in kinds.values()), None)
    if asks_how(said) and not refused and all(claims_action(c) and not promises(c) for c in dropped):
        # "Is the kitchen light on?" -> "The kitchen light is on." (a promise is answered below)
        return f"{o.cannot_tell} I can {can_do([action])}." if action is not None else o.cannot_tell
    if not asks_for_action(said) and not asks_deed(said) and not refused and \
            not any(claims_asked(c, said) for c in dropped):
        return o.acknowledge
    if action is not None and not refused:
        return f"Sorry, I couldn't do that. I can {can_do([action])}."
    if refused or any(promises(c) or k not in kit.tools.targets() for c, k in kinds.items()):
        return o.refusal
    return o.not_done_reply


def which(ask: dict[str, Any]) -> str:
    choices = ask["choices"]
    return f"Which {ask['argument']}: {', '.join(choices[:-1])} or {choices[-1]}?" if len(choices) > 1 \
        else f"Which {ask['argument']}?"


def cannot(refusal: str, refused: list[IntentMatch], of: int) -> str:
    """The refusal of a request, naming the refused parts when others were done."""
    if len(refused) == of:
        return refusal
    what = [(m.said or m.example).rstrip('.!?').lower() for m in refused]
    return f"I can't {', '.join(what[:-1]) + ' or ' if len(what) > 1 else ''}{what[-1]}."


def apology(result: ToolResult) -> str:
    if result.content.get("say"):  # a value the action does not take, said in the user's terms
        return str(result.content["say"])
    return f"Sorry, that didn't work: {result.content.get('error', 'tool error')}."
