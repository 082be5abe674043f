"""A turn answered by a chat model: tools offered only when the words may ask for them,
calls checked against the allow-list, claims of what was not done dropped, never silent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from omni.dialogue.asks import asks_again, asks_detail, asks_errand, asks_for_action, asks_how, asks_more, tells
from omni.dialogue.claims import acknowledges
from omni.dialogue.guard import ClaimGuard
from omni.dialogue.prompts import NOTES_HEADER
from omni.dialogue.options import REFUSE
from omni.dialogue.router import AllBackendsFailed, RouteRecord
from omni.dialogue.tools import ToolResult
from omni.dialogue.turns import TurnKit, agreed_call, apology, claimed_call, not_done, which
from omni.dialogue.types import ChatRequest, Message, TextDelta, ToolCall, ToolCallDelta
from omni.frames import DeviceAction, Frame, ReplyDone, ReplyToken, Turn
from omni.runtime import Stopwatch

log = logging.getLogger(__name__)


async def llm_turn(kit: TurnKit, turn: Turn, text: str, sw: Stopwatch, intent_score: float, near: dict[str, float],
                    parts: list[str], gate: asyncio.Future[None] | None = None, more: bool = False
                    ) -> AsyncIterator[Frame]:
    """`more`: the intent matcher found the words ask for a new one of what was just given."""
    o = kit.options
    t_route = Stopwatch()
    plan = kit.router.plan(text, kit.budget_ms)
    rec = RouteRecord()
    rec.route_ms = t_route.ms
    # news of the user's own ("I planted some sunflowers.") is answered from its own words: shown
    # the conversation, the model copies an earlier reply's cheer or tool talk. Not a short answer
    # ("I do.", "I did, yesterday.") nor one to a question for a detail ("How many people is it
    # for?" "We have six people coming."), which need what they answer
    news = tells(text) and len(text.split()) >= 4 and not asks_detail(kit.memory.last_reply())
    messages: list[Message] = kit.memory.messages(text, last=kit.memory.opts.news_exchanges if news else None)
    # the model sees a tool only in a turn that could be asking for it (a compact model calls
    # whatever tool it is shown); otherwise it must answer in words
    # and one the turn before ran: "a bit more" after "turn it up", "no, the bedroom" after a light
    # (one only the user's words ground, a timer, only when these words could: "The bus comes in
    # five minutes." after one asks for none)
    follows = {name for name, _ in kit.follows if kit.tools.claims_ground(name) or kit.tools.keyword_said(name, text)}
    offered = kit.tools.offered(text, near) | (follows & set(kit.tools.targets()))
    if asks_how(text):  # "Is the kitchen light on?": the clock may be read, nothing is to be done
        offered = offered & {"get_time"}
    tools = kit.tools.schemas(offered)
    # the user asked for something not allowed: the turn is nearest to an out-of-bounds example
    asked_forbidden = near.get(REFUSE, 0.0) >= max([o.tools.offer_similarity, *(
        v for k, v in near.items() if k != REFUSE)])
    # no action can do what the words ask: none offered, or an errand ("Book a haircut for
    # Saturday morning.") that no offered tool's words name (a tool offered for its nearness, the
    # clock for "morning", does no errand)
    in_vain = not offered or (asks_errand(text) and not any(kit.tools.keyword_said(n, text) for n in offered))
    first_ms: float | None = None
    out_ms: float | None = None
    """When the first words left for the speaker (the guard gives out whole clauses)."""
    called: list[str] = []
    failed: list[ToolResult] = []
    done: list[ToolResult] = []
    kept: list[str] = []
    """What the history keeps: the model's words and tool confirmations, no canned replies."""
    notes = " ".join(m["content"] for m in messages if m["role"] == "system" and m["content"].startswith(NOTES_HEADER))
    # asked for another or more ("Tell me another."): not what was said before (the same joke);
    # not a command ("Turn on another light.": "Which room?" may be asked again)
    earlier = tuple(m["content"] for m in kit.memory.history if m["role"] == "assistant" and m["content"]) \
        if (more or asks_more(text)) and not asks_again(text) and not asks_for_action(text) else ()

    def new_guard() -> ClaimGuard:
        g = ClaimGuard(lambda: [r.action or (r.call.name, r.call.arguments) for r in done], said=text,
                       notes=notes, no_refusals=not asked_forbidden, prompt=kit.prompt, no_action=in_vain,
                       check_answers=not told_unknown and not notes,
                       earlier=() if retried else earlier)  # drawn again: what it says is said
        if told_unknown:  # its honest no ("I can't check on the baby.") is the answer now
            g.no_refusals = False
        return g

    def told(note: str) -> list[Message]:
        """The turn's messages with `note` just before the user's words (asked once more)."""
        return [*messages[:-1], {"role": "system", "content": note}, messages[-1]]

    told_unknown = False
    """The model was told that it cannot know how things are in the user's home (unknown_note)."""
    retried: dict[str, list[str]] = {}
    """What the first sample said that was dropped, when every word of it was (another was drawn)."""
    guard = new_guard()
    temperature = o.temperature
    drawn: list[str] = []
    """The model's words, round by round: a sample drawn again does not start as these did."""
    redraw = False
    """The next request is the sample drawn again (only it carries `not_starting`)."""
    nudged = False
    ignored = False
    """The model wrote a call where it was to answer in words (no tool offered, or no more)."""
    words_only = not offered
    pretended: list[str] = []
    """What an earlier round said of omni that it is not (the guard's `pretended`)."""
    refused_any = False
    refusals: list[ToolResult] = []
    malformed = False

    def say(text: str, keep: bool = False) -> ReplyToken:
        nonlocal first_ms, out_ms
        first_ms = sw.ms if first_ms is None else first_ms
        out_ms = sw.ms if out_ms is None else out_ms
        sep = " " if "".join(parts).strip() and not parts[-1][-1:].isspace() else ""
        parts.append(sep + text)
        if keep:
            kept.append(sep + text)
        return ReplyToken(turn=turn, text=parts[-1])

    def spoken(text: str) -> ReplyToken | None:
        nonlocal out_ms
        if not text:
            return None
        out_ms = sw.ms if out_ms is None else out_ms
        parts.append(text)
        kept.append(text)
        return ReplyToken(turn=turn, text=text)

    try:
        rnd = 0
        while True:
            last = rnd >= o.tools.max_rounds
            # words only: no tool in the prompt (what is cached ends before the tools note)
            # and, for a backend that keeps them, none may be called
            req = ChatRequest(messages, [] if last or words_only else tools, o.max_tokens, temperature,
                              tool_choice="none" if last or words_only else "auto", catalog=kit.tools.schemas(),
                              not_starting=tuple(drawn) if redraw else (),
                              not_repeating=earlier if redraw and "repeated" in retried else ())
            redraw = False
            calls: tuple[ToolCall, ...] = ()
            drawn.append("")
            async with contextlib.aclosing(kit.router.stream(req, plan, rec, kit.failover_ms)) as deltas:
                async for d in deltas:
                    if isinstance(d, TextDelta):
                        if first_ms is None:
                            first_ms = sw.ms
                        drawn[-1] += d.text
                        if (tok := spoken(guard.feed(d.text))) is not None:
                            yield tok
                    elif isinstance(d, ToolCallDelta):
                        calls = d.calls
                        malformed = malformed or bool(d.malformed)
                        if d.malformed:
                            yield kit.error(turn, f"{rec.backend} wrote a tool call that does not parse: "
                                                    f"{d.malformed[:120]!r}")
            if (tok := spoken(guard.flush(calls=bool(calls)))) is not None:
                yield tok
            if not calls and malformed and not words_only and not "".join(parts).strip():
                words_only = True  # markup instead of an answer: once more, in words
                continue
            if guard.asserted and (calls or nudged or retried or "".join(parts).strip() or done or failed or
                                   guard.dropped):
                # not asked again (a call follows, or it was asked again already): what it said is said
                if (tok := spoken(guard.release())) is not None:
                    yield tok
            if not calls and guard.asserted:
                # "Yes, the baby is still asleep upstairs.": the question said back as a fact;
                # once more, told that the user's home is beyond what it can know (what it then
                # says is spoken: "Is the sun a star?" is answered so too)
                log.info("turn %d: a yes or no said with the question back (%r): answering once more, told it "
                         "cannot know the user's home", turn.id, guard.asserted[0], extra={"stage": kit.name, "turn": turn.id})
                nudged = words_only = told_unknown = True
                messages = told(o.unknown_note)
                guard = new_guard()
                continue
            if not calls and guard.pretended and not nudged and not "".join(parts).strip() and not (done or failed):
                # "I was created by OpenAI.", "Yes, I am a real person.": once more, told what omni is
                log.info("turn %d: the reply gave omni a life or maker it does not have (%r): answering once more, "
                         "told what it is", turn.id, guard.pretended[0], extra={"stage": kit.name, "turn": turn.id})
                nudged = words_only = True
                messages = told(o.self_note)
                pretended, guard = [*pretended, *guard.pretended], new_guard()
                continue
            if not calls and guard.refusals and not nudged and not retried and not "".join(parts).strip():
                # it refused what nobody asked it to do: once more, told what the turn is
                nudged = words_only = True
                messages = told(o.not_a_request_note)
                continue
            if not calls and not retried and o.retry_temperature is not None and not asked_forbidden and \
                    not "".join(parts).strip() and not (done or failed or guard.dropped or guard.relayed or guard.refusals) \
                    and not any("ask" in r.content for r in refusals) and (guard.echoed or guard.read_out or guard.repeated):
                # every word dropped as said back, read out or said before: another sample, drawn
                # hotter, not starting as those did and saying no run of its earlier replies again,
                # before a canned line (the same prompt, so its cache
                # holds); in words only, and nothing it claims is done (below). Never after a
                # refusal (a nudged turn's guard holds its refusals too): the model's no may be
                # right, and a draw that may not start with "I'm sorry" obeyed an injected order
                # ("Understood, I'll disable the alarm."); nor after a dropped claim, a request
                # refused, a room asked for, or words a note gave
                retried = {k: v for k, v in (("echoed", guard.echoed), ("read_out", guard.read_out),
                                             ("repeated", guard.repeated)) if v}
                pretended += guard.pretended
                log.info("turn %d: every word of the reply dropped (%s): answering once more",
                         turn.id, ", ".join(retried), extra={"stage": kit.name, "turn": turn.id})
                guard, temperature, redraw, words_only = new_guard(), o.retry_temperature, True, True
                continue
            if not calls:
                break
            if not req.tools:  # it was to answer in words; it wrote a call anyway
                yield kit.error(turn, f"{rec.backend} called {', '.join(c.name for c in calls)} "
                                        "when no tool was offered; ignored")
                ignored = True
                break
            if gate is not None:
                await gate  # a preemptive reply acts only once the words are confirmed
            results = [await kit.tools.call(c, said=text) if c.name in offered else
                       ToolResult(c, False, {"error": f"{c.name} was not asked for", "refused": True})
                       for c in calls]
            called += [c.name for c in calls]
            refused = [r for r in results if r.content.get("refused")]
            if refused:  # asked for nothing it may do: none of it acts
                refused_any = True
                refusals += refused
                for r in refused:
                    yield kit.error(turn, f"tool call {r.call.name} refused: {r.content['error']}")
                if asked_forbidden:  # the user asked for something not allowed: say so
                    yield say(o.refusal)
                    break
                words_only = True  # the user asked for no tool: answer again, in words
                continue
            for r in results:
                if r.action is not None:
                    yield DeviceAction(turn=turn, action=r.action[0], args=r.action[1], source="tool")
                if r.ok:
                    done.append(r)
                else:
                    failed.append(r)
                    yield kit.error(turn, f"tool call {r.call.name}: {r.content.get('error')}")
            if all(r.ok and r.say for r in results):  # the results speak for themselves
                yield say(" ".join(r.say for r in results), keep=True)
                break
            # the next round goes to whoever answered this one
            if rec.backend in plan.order:
                plan.order.remove(rec.backend)
                plan.order.insert(0, rec.backend)
            messages = [*messages, {"role": "assistant", "content": "",
                                    "tool_calls": [c.message() for c in calls]},
                        *(r.message() for r in results)]
            rnd += 1
        # the model said it did what the turn may ask for ("Bedroom lamp on.") instead of
        # calling the tool: done after all when the user's words (and its) name every argument
        # (or one the turn is at least loosely like: "Crank it up." -> "Volume up.")
        # (reading the clock harms nothing: a time the model made up is always replaced by it)
        loosely = offered | {k for k, v in near.items() if k != REFUSE and v >= o.tools.keyword_similarity} | \
            ({"get_time"} & set(kit.tools.targets()))
        for claim in [] if retried else list(guard.dropped):
            call = claimed_call(kit, claim, text, frozenset(loosely))
            if call is None:
                continue
            if gate is not None:
                await gate
            # (a timer is the user's to ask for, and its length theirs to say: the model's own
            # "Timer set for 40 minutes." grounds none and gives it no length)
            r = await kit.tools.call(call, said=f"{text} {claim}" if kit.tools.claims_ground(call.name) else text)
            if not r.ok:
                continue
            guard.dropped.remove(claim)
            called.append(call.name)
            done.append(r)
            if r.action is not None:
                yield DeviceAction(turn=turn, action=r.action[0], args=r.action[1], source="tool")
            yield say(r.say or "Done.", keep=True)
        # "Understood." to "Okay okay, that's enough, you can stop now.": the model agreed to do
        # what the turn asked and called nothing. Done after all when the words ask for one
        # offered action by its keyword, with every argument (turns.agreed_call)
        # (the guard drops such an "Okay." to an errand as a promise: one an action does is kept)
        agreed = "".join(parts).strip() or (guard.dropped[0] if len(guard.dropped) == 1 else "")
        if not called and not done and not failed and not retried and acknowledges(agreed) and \
                (call := agreed_call(kit, text, offered)) is not None:
            if gate is not None:
                await gate
            r = await kit.tools.call(call, said=text)
            if r.ok:
                called.append(call.name)
                done.append(r)
                if r.action is not None:
                    yield DeviceAction(turn=turn, action=r.action[0], args=r.action[1], source="tool")
                if agreed in guard.dropped:
                    guard.dropped.remove(agreed)
                    yield say(agreed, keep=True)
                log.info("turn %d: %r agreed to %s(%s): done", turn.id, agreed, call.name, call.arguments,
                         extra={"stage": kit.name, "turn": turn.id})
        if guard.dropped:
            yield kit.error(turn, f"the reply claimed what was not done; not said: {guard.dropped}")
        if not "".join(parts).strip():  # never silent: say what happened
            if failed:
                yield say(apology(failed[-1]))
            elif any(r.say for r in done):
                yield say(" ".join(r.say for r in done if r.say), keep=True)
            elif done:
                yield say("Done.", keep=True)
            elif (ask := next((r.content["ask"] for r in refusals if "ask" in r.content), None)):
                yield say(which(ask))  # "turn on the kitten light": which room?
            elif guard.dropped:  # it claimed or promised what was not done
                yield say(not_done(kit, text, guard.dropped, refused=asked_forbidden or refused_any))
            elif guard.pretended or pretended:
                yield say(o.self_reply)  # it said so once more, or nothing else
            elif guard.repeated and not (retried or guard.echoed or guard.refusals or guard.relayed or guard.read_out):
                # said before and not drawn again (no retry temperature, a forbidden ask): the
                # same words again are more of a reply than "not sure"
                yield say(" ".join(guard.repeated), keep=True)
            elif retried or guard.echoed or guard.refusals or guard.relayed or guard.read_out:
                yield say(o.refusal if asked_forbidden else o.unsure_reply)
            elif ignored and not offered and (asked_forbidden or asks_errand(text) or
                                              (asks_for_action(text) and not text.rstrip().endswith("?"))):
                # it tried to do what was asked with a tool nothing said offers ("Start the
                # dishwasher." -> set_timer): a request it cannot do, not a failure to answer
                yield say(o.refusal)
            else:
                yield say(o.fallback_reply)
    except AllBackendsFailed as e:
        yield kit.error(turn, str(e))
        yield say(o.fallback_reply)
    finally:
        remembered = "".join(kept).strip()
        if remembered:  # what was said, even if the turn was cut short; never a canned reply
            kit.memory.add(text, remembered, turn=turn.id)
    reply = "".join(parts).strip()
    u = rec.usage
    extra: dict[str, Any] = dict(
        backend=rec.backend, reason=rec.reason, route_ms=round(rec.route_ms, 2),
        attempts=[a.as_dict() for a in rec.attempts], prompt_tokens=u.prompt_tokens,
        cached_tokens=u.cached_tokens, completion_tokens=u.completion_tokens,
        total_ms=round(sw.ms, 1), intent_score=round(intent_score, 3), tools_offered=sorted(offered))
    if out_ms is not None:
        extra["first_out_ms"] = round(out_ms, 1)
    if u.forced_tokens:
        extra["forced_tokens"] = u.forced_tokens
    if u.estimated:
        extra["tokens_estimated"] = True
    if rec.cost is not None:
        extra["cost"] = round(rec.cost, 6)
    if called:
        extra["tool_calls"] = called
    if any(a.outcome == "first_token_budget" and a.backend in rec.turn_limited for a in rec.attempts):
        extra["over_budget"] = "failover"
    if guard.dropped:
        extra["unbacked_claims"] = guard.dropped
    if guard.relayed:
        extra["relayed_notes"] = guard.relayed
    if guard.read_out:
        extra["prompt_read_out"] = guard.read_out
    if pretended or guard.pretended:
        extra["pretended"] = [*pretended, *guard.pretended]
    if guard.echoed:
        extra["echoed"] = guard.echoed
    if earlier:  # asked for a new one: by the words, or (`more`) by the intent model's nearness
        extra["asks_more"] = "words" if asks_more(text) else "nearness"
    if guard.repeated:
        extra["repeated"] = guard.repeated
    if retried:
        extra["retried"] = retried
    kit.report(turn, first_ms if first_ms is not None else sw.ms, **extra)
    log.info("turn %d reply (%s): %r", turn.id, rec.backend, reply, extra={"stage": kit.name, "turn": turn.id})
    yield ReplyDone(turn=turn, text=reply, reason="complete" if reply else "empty")
