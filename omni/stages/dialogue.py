"""The dialogue stage: a transcript in; the reply streamed out token by token; actions out.

Each turn goes the quickest way that can answer it: a clear command takes the intent fast path
(no LLM, a spoken confirmation); anything else goes to the router, which picks a chat backend by
the pipeline's policy and fails over within the turn. Tool calls the model makes are validated
against the pipeline's allow-list and run; device actions leave as DeviceAction frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from omni.dialogue.address import said_to_other
from omni.dialogue.asks import asks_more
from omni.dialogue.backends import ChatBackend, make_backend
from omni.dialogue.followups import follow_up, set_by_me
from omni.dialogue.intents import IntentMatch, IntentMatcher
from omni.dialogue.llm_turn import llm_turn
from omni.dialogue.memory import Memory
from omni.dialogue.options import DEFAULT_SYSTEM_PROMPT, REFUSE, SAID_OF_ITSELF, DialogueOptions
from omni.dialogue.preemptive import Preemptive
from omni.dialogue.prompts import TOOLS_SENTENCE, PromptEcho, can_do, instruction_texts, without
from omni.dialogue.router import Router
from omni.dialogue.tools import ToolRegistry
from omni.dialogue.turns import TurnKit, fast_path, stop_call, timer_call, told_set
from omni.dialogue.types import ChatRequest
from omni.frames import (Answered, ClearInput, ContextUpdate, EditHistory, Remember, EndOfStream, Frame, ReplyDone, ReplyToken, SayText,
                         SpeechStarted, Transcript, Turn)
from omni.runtime import Processor, QueueSpec, Stopwatch
from omni.runtime.controls import BUILTIN_TOOLS
from omni.runtime.engines import EnginePool, Shared, options_key
from omni.runtime.floor import until
from omni.strings import safe_text
from omni.runtime.stage import ProgressFn

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SYSTEM_PROMPT", "Dialogue", "DialogueOptions"]

class Dialogue(Processor):
    """Transcript -> (DeviceAction*) ReplyToken* then ReplyDone; ContextUpdate is remembered."""

    Options = DialogueOptions
    options: DialogueOptions
    handles = (Transcript, ContextUpdate, SpeechStarted, SayText, Answered, ClearInput, Remember, EditHistory)
    live_options: ClassVar[frozenset[str]] = frozenset({"temperature", "max_tokens", "fallback_reply",
                                                         "refusal", "preemptive", "system_prompt", "tools_off",
                                                         "quiet_to_others", "household"})
    """`system_prompt` and `tools_off` too: a session's instructions and tools change from its next turn."""
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=8)
    over_budget_actions = frozenset({"failover"})
    """failover: a backend with no first token past the budget gives way to the next in the routing
    order (a faster tier, a server elsewhere), which answers the turn."""

    def __init__(self, name: str, options: DialogueOptions | None = None,
                 budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        o = self.options
        used = dict.fromkeys([*o.routing.order, *(o.routing.complex_order or [])])
        self.backends: dict[str, ChatBackend] = {
            n: make_backend(n, b) for n, b in o.backends.items() if n in used}
        self.router = Router(self.backends, o.routing)
        self.tools = ToolRegistry(o.tools, o.actions)
        self.tools.off = _off(o.tools_off)
        # "refuse": examples of what the home may ask that no action allows ("unlock the door"),
        # answered with options.refusal before a model can pretend to have done it
        self.intents = IntentMatcher(o.intents, {**self.tools.targets(), REFUSE: {"type": "object"}},
                                     {a.name: a.words for a in o.actions})
        self.memory = Memory(self._system_prompt(), o.memory)
        self._intents: Shared[IntentMatcher] | None = None
        self._local: ChatBackend | None = None
        self._prefill: asyncio.Task[None] | None = None
        self._pre: Preemptive | None = None
        self._wasted = 0
        """Preemptive replies thrown away since the last turn."""
        self._unanswered: dict[int, tuple[Turn, str]] = {}
        """Turns the user went on from before they were answered (their words start the next)."""
        self._said: dict[int, str] = {}
        """What the user said in each recent turn (the final transcript's words)."""
        self._amended: set[int] = set()
        """Turns whose remembered reply has been set to what the user heard (or carried on)."""
        self._echo: tuple[tuple[str, str, bool], PromptEcho] | None = None
        self._follows: tuple[tuple[str, dict[str, Any]], ...] = ()
        """The calls the last answered turn made (the next may refer to them)."""
        self._asking: IntentMatch | None = None
        """The command the last answered turn asked a choice of ("which room?"): the next may answer."""
        self._open: tuple[int, IntentMatch] | None = None
        """Such a question, with the turn that asks it, until that turn is answered."""

    @property
    def kit(self) -> TurnKit:
        """What a turn is answered with, as the stage holds it now (options change live)."""
        return TurnKit(self.name, self.options, self.tools, self.router, self.memory, self.report, self.budget_ms,
                       self.act_after_ms("failover"), self._prompt_echo(), self._follows)

    def instructions(self) -> list[str]:
        """Every text this dialogue may write for its model (omni.dialogue.prompts): its system
        prompt, the notes' framing, the tools' descriptions and, for a local model, the chat
        template's words for them."""
        o = self.options
        schemas = self.tools.schemas()
        extra = [o.not_a_request_note, o.unknown_note, o.self_note]
        engine = getattr(self._local, "engine", None)
        if schemas and engine is not None and getattr(engine, "llm", None) is not None:
            extra.append(engine.tools_note(schemas))
        # what the tools do may be said ("I can turn the speaker volume up or down."), and what
        # omni is ("made by the open-source omni project"): those words are left out, as a
        # filled-in slot is
        can = [t["function"]["description"].rstrip(".") for t in schemas] + \
            can_do(o.actions, o.tools.builtin).split("; ") + list(SAID_OF_ITSELF)
        return [without(t, can) for t in instruction_texts(self._system_prompt(), extra)]

    def _prompt_echo(self) -> PromptEcho:
        o = self.options
        key = (self._system_prompt(), o.not_a_request_note, o.unknown_note, o.self_note, self._local is not None)
        if self._echo is None or self._echo[0] != key:
            self._echo = (key, PromptEcho(self.instructions()))
        return self._echo[1]

    def _system_prompt(self) -> str:
        o = self.options
        off = _off(o.tools_off)
        actions = [a for a in o.actions if a.name not in off]
        if not actions or not o.tools.actions_as_tools:
            return o.system_prompt
        builtin = [b for b in o.tools.builtin if BUILTIN_TOOLS[b] not in off]
        return f"{o.system_prompt} {TOOLS_SENTENCE.format(can=can_do(actions, builtin))}"

    def options_changed(self) -> None:
        self.tools.off = _off(self.options.tools_off)
        if self.memory.system_prompt != (prompt := self._system_prompt()):
            self.memory.system_prompt = prompt
            log.info("instructions changed: the next turn uses them", extra={"stage": self.name})

    async def load(self, progress: ProgressFn) -> None:
        """Take the chat backends and the intent matcher from the process's engines (loaded on
        first use; every session and pipeline naming the same model shares one)."""
        for name, b in list(self.backends.items()):
            if self.options.routing.offline_only and not b.offline:
                log.info("backend %s is not used: routing.offline_only is on", name, extra={"stage": self.name})
                continue
            self.backends[name] = (await chat_backend(self.engines, b, progress, user=self.name)).engine
        local = self._local = next((b for b in self.backends.values() if b.continues), None)
        if local is not None:
            self.memory.count = local.count_tokens
            progress("caching the system prompt", None)
            await local.prefill(ChatRequest([self.memory.system()], catalog=self.tools.schemas(), ahead=True))
        if self.options.intents.enabled:
            matcher = self.intents

            def load(progress: ProgressFn) -> IntentMatcher:
                matcher.load(progress)
                return matcher

            key = (options_key(self.options.intents), json.dumps(matcher.targets, sort_keys=True, default=str))
            self._intents = await self.engines.get("intents", key, load, progress, user=self.name)
            self.intents = self._intents.engine

    def _prefill_next(self) -> None:
        if self._local is None or not self.options.prefill_next:
            return
        if self._prefill is not None and not self._prefill.done():
            self._prefill.cancel()  # a newer history supersedes it (the worker finishes its batch)
        # the next turn offers the tools this one ran ("and the bedroom?"): their note, which goes
        # just before the user's words, is read ahead too (not with context notes: those come
        # between the history and it, and the read-ahead would not be the prompt's start)
        follows = frozenset(name for name, _ in self._follows) if not self.memory.context else frozenset()
        req = ChatRequest(self.memory.prefix(), self.tools.schemas(follows) if follows else [],
                          catalog=self.tools.schemas(), ahead=True)
        self._prefill = asyncio.get_running_loop().create_task(self._local.prefill(req, idle=True), name=f"{self.name}-prefill")
        self._prefill.add_done_callback(_log_failure)

    async def idle(self) -> None:
        """Wait until the background work between turns (the next turn's prefill) is done."""
        if self._prefill is not None:
            await asyncio.wait({self._prefill})  # its failure is logged by _log_failure

    async def finish(self, eos: EndOfStream) -> AsyncIterator[Frame]:
        await self._discard("end of input")
        return
        yield  # pragma: no cover

    async def aclose(self) -> None:
        await self._discard("closing")
        if self._prefill is not None:
            self._prefill.cancel()
            await asyncio.wait({self._prefill})
        await self.tools.aclose()
        await self.release_engines()  # the backends are the process's: closed with it

    async def process(self, frame: Transcript | ContextUpdate | SpeechStarted | SayText | Answered
                      ) -> AsyncIterator[Frame]:
        if isinstance(frame, SayText):  # an announcement: spoken as it is, no model, no history
            self.floor.speech(frame.turn)
            self.report(frame.turn, 0.0, backend="say")
            yield ReplyToken(turn=frame.turn, text=frame.text)
            yield ReplyDone(turn=frame.turn, text=frame.text)
            return
        if isinstance(frame, ClearInput):  # the user's words so far are gone: so is a reply started on them
            await self._discard("the input was cleared")
            yield frame
            return
        if isinstance(frame, Remember):  # an exchange added from outside (a client's item)
            self.memory.add(safe_text(frame.user).strip(), safe_text(frame.reply).strip(), turn=frame.turn)
            self._prefill_next()
            yield frame
            return
        if isinstance(frame, EditHistory):  # a client's truncate or delete: it has the last word
            self._amended.add(frame.turn)
            if not self.memory.edit(frame.turn, None if frame.user is None else safe_text(frame.user),
                                    None if frame.reply is None else safe_text(frame.reply)):
                # nothing kept of it: cut before a word, trimmed, or more than 64 turns ago
                log.info("turn %d: not in the history, nothing to edit", frame.turn, extra={"stage": self.name})
            self._prefill_next()
            yield frame
            return
        if isinstance(frame, Answered):  # a visual question the look stage answered
            self.memory.add(frame.text, frame.reply, turn=frame.turn.id)
            self._prefill_next()
            yield frame
            return
        if isinstance(frame, ContextUpdate):
            self.memory.set_context(frame.source, frame.text, frame.captured, frame.when_said)
            yield frame
            return
        if isinstance(frame, SpeechStarted):
            if frame.resumed:  # the pause was not the end: a reply started on it is moot
                await self._discard("the user went on")
            yield frame
            return
        if frame.tentative:
            await self._discard("a newer pause")
            if self.options.preemptive and frame.text.strip() and not self._carry_pending(frame.turn) and \
                    not self._doubts(frame) and not self._said_to_other(frame, frame.text.strip()):
                self._pre = Preemptive.start(self._turn, frame.turn, frame.text.strip(), self.name)
            return
        self._remember_said(frame.turn, frame.text.strip())
        if self.floor.interrupted(frame.turn):
            # the user went on before this turn was answered: its words start the next turn
            await self._discard("the user went on")
            self._unanswered[frame.turn.id] = (frame.turn, frame.text.strip())
            yield ReplyDone(turn=frame.turn, text="", reason="interrupted")
            return
        pre, self._pre = self._pre, None
        if pre is not None and pre.turn is frame.turn and pre.text == frame.text.strip() and not self._doubts(frame):
            head_start = pre.confirm()
            log.info("turn %d: the reply started at the pause is used (%.0f ms head start)", frame.turn.id,
                     head_start, extra={"stage": self.name, "turn": frame.turn.id})
            async for out in pre.drain():
                yield out
            self.report(frame.turn, None, preemptive={"used": True, "head_start_ms": round(head_start, 1),
                                                       "wasted": self._wasted})
            self._wasted = 0
            return
        if pre is not None:
            self._pre = pre
            await self._discard("the final transcript differs")
        async for out in self._turn(frame):
            yield out
        self.report(frame.turn, None, preemptive={"used": False, "wasted": self._wasted})
        self._wasted = 0

    async def _discard(self, why: str) -> None:
        pre, self._pre = self._pre, None
        if pre is None:
            return
        await pre.cancel()
        self.memory.forget_reply(pre.turn.id)
        self._wasted += 1
        log.info("turn %d: reply started at the pause thrown away (%s)", pre.turn.id, why,
                 extra={"stage": self.name, "turn": pre.turn.id})

    def _doubts(self, frame: Transcript) -> bool:
        """The recogniser's confidence in these words is below `unsure_below`."""
        doubt = self.options.unsure_below
        return doubt is not None and frame.confidence is not None and frame.confidence < doubt

    def _said_to_other(self, frame: Transcript, text: str) -> str | None:
        """The words that show `text` was said to someone else in the room (not for a typed turn,
        nor with quiet_to_others off): omni.dialogue.address."""
        o = self.options
        if not o.quiet_to_others or frame.typed or (len(text.split()) <= 2 and self._asked_last()):
            return None  # ("Mum." may answer omni's "Who is it for?")
        return said_to_other(text, o.household)

    def _carry_pending(self, turn: Turn) -> bool:
        """An earlier turn's words will start this one (see _amend_interrupted): not a case to
        start early on this turn's words alone."""
        return any(s.turn.id < turn.id and s.is_interrupted and s.turn.id not in self._amended
                   for s in self.floor.speeches())

    def _remember_said(self, turn: Turn, text: str) -> None:
        self._said[turn.id] = text
        for old in [t for t in self._said if t < turn.id - 16]:
            del self._said[old]
        self._amended = {t for t in self._amended if t >= turn.id - 16}

    async def _turn(self, frame: Transcript, gate: asyncio.Future[None] | None = None) -> AsyncIterator[Frame]:
        turn, text = frame.turn, frame.text.strip()
        carried = self._amend_interrupted(turn, frame.since)
        if carried and text and (cue := self._said_to_other(frame, text)) and not self._said_to_other(frame, carried):
            # the words carried on were for omni, the new ones for someone else in the room
            log.info("turn %d: %r is said to someone else (%r); the words it went on from, %r, are answered "
                     "alone", turn.id, text, cue, carried, extra={"stage": self.name, "turn": turn.id})
            text = carried
        elif carried and text:
            log.info("turn %d continues turn(s) the user talked on over: %r", turn.id, carried,
                     extra={"stage": self.name, "turn": turn.id})
            text = f"{carried} {text}"
        if not text:
            yield ReplyDone(turn=turn, text="", reason="empty")
            return
        if cue := self._said_to_other(frame, text):
            # said to someone else in the room: no reply, nothing acted, nothing kept in the history
            log.info("turn %d: %r is said to someone else (%r): not answered", turn.id, text, cue,
                     extra={"stage": self.name, "turn": turn.id})
            self.report(turn, 0.0, backend="aside", aside=cue)
            yield ReplyDone(turn=turn, text="", reason="aside")
            return
        o = self.options
        if self._doubts(frame):  # the recogniser doubts its own words: ask, rather than answer (or act on) a guess
            self.floor.speech(turn)
            log.info("turn %d: heard %r with confidence %.2f (< %.2f): asking again", turn.id, text,
                     frame.confidence, o.unsure_below, extra={"stage": self.name, "turn": turn.id})
            self.report(turn, 0.0, backend="say_again", confidence=frame.confidence)
            yield ReplyToken(turn=turn, text=o.say_again)
            yield ReplyDone(turn=turn, text=o.say_again)
            return
        speech = self.floor.speech(turn)
        parts: list[str] = []
        sw, first_ms = Stopwatch(), None
        # aclosing at every level: a generator closed at a yield does not close the one it is
        # iterating; without it the LLM's worker thread would wait for a reader that is gone
        async with contextlib.aclosing(until(speech.interrupted, self._answer(turn, text, parts, gate))) as g:
            async for out in g:
                if first_ms is None and isinstance(out, ReplyToken):
                    first_ms = sw.ms
                yield out
        if speech.is_interrupted:
            self.report(turn, first_ms if first_ms is not None else sw.ms, interrupted=True,
                        total_ms=round(sw.ms, 1))
            # the generation was cancelled; the player reports what was heard, which is what the
            # history keeps (see _amend_interrupted)
            yield ReplyDone(turn=turn, text="".join(parts).strip(), reason="interrupted")
            if "".join(parts).strip():
                self._prefill_next()
            # else the user went on before a word of the reply: the next turn most likely
            # starts with these words (see _amend_interrupted), and the context holds this
            # turn's prompt, tools' line and all; a read-ahead of the history would drop it

    def _amend_interrupted(self, turn: Turn, since: int | None = None) -> str:
        """The history keeps only what the user heard of an interrupted reply. A turn whose
        reply was interrupted before a word of it was heard was not over (the user paused and
        went on): its words are returned, to start this turn, and it leaves the history; unless
        this turn's transcript was decoded from that turn on (`since`) and has them already."""
        carried: list[str] = []
        covered = since if since is not None else turn.id
        for tid in sorted(t for t in self._unanswered if t < turn.id):
            was, words = self._unanswered.pop(tid)
            self._amended.add(was.id)
            if words and tid < covered and \
                    (turn.speech_start - was.speech_end) / turn.sample_rate <= self.options.carry_within_s:
                carried.append(words)
        for s in self.floor.speeches():
            if s.turn.id >= turn.id or not s.is_interrupted or s.turn.id in self._amended or s.heard is None:
                continue
            self._amended.add(s.turn.id)
            gap_s = (turn.speech_start - s.turn.speech_end) / turn.sample_rate
            spoken = s.turn.speech_end > s.turn.speech_start  # a typed turn a client cancelled was no pause
            if not s.heard.strip() and gap_s <= self.options.carry_within_s and spoken:
                self.memory.forget_reply(s.turn.id)
                if self._said.get(s.turn.id) and s.turn.id < covered:
                    carried.append(self._said[s.turn.id])
            else:
                self.memory.amend_reply(s.turn.id, s.heard)
        return " ".join(carried)

    async def _answer(self, turn: Turn, text: str, parts: list[str],
                      gate: asyncio.Future[None] | None = None) -> AsyncIterator[Frame]:
        """The reply; with a `gate` (a preemptive reply) no tool acts before it resolves."""
        mark = self.tools.runs
        over = False
        async with contextlib.aclosing(self._answer_by(turn, text, parts, gate)) as g:
            async for out in g:
                if isinstance(out, ReplyDone) and gate is None and not over:
                    # the reply is whole: the next turn's start is read ahead from now on, while
                    # the reply is spoken (not once the stage is asked for its next frame)
                    over = True
                    self._answered(mark, turn.id)
                yield out
        if not over:  # a reply started at a pause and thrown away before it ended never gets here
            confirmed = gate is None or (gate.done() and not gate.cancelled() and gate.exception() is None)
            self._answered(mark, turn.id, confirmed)

    def _answered(self, mark: int, turn_id: int, confirmed: bool = True) -> None:
        """The turn is answered: the next may refer to what it did or answer what it asked, and
        its start is read ahead. A reply drawn at a pause that ended before its words were
        confirmed ("Um." while the user goes on: "Um, the bedroom.") leaves the question asked
        before it open."""
        n = min(self.tools.runs - mark, len(self.tools.ran))
        self._follows = tuple(self.tools.ran[-n:]) if n else ()
        opened = self._open[1] if self._open is not None and self._open[0] == turn_id else None
        if confirmed or opened is not None:
            self._asking = opened
        self._open = None
        self._prefill_next()

    def _asked_last(self) -> bool:
        """The assistant's last reply asked something (its words end with a question mark)."""
        return self.memory.last_reply().rstrip().endswith("?")

    async def _answer_by(self, turn: Turn, text: str, parts: list[str],
                         gate: asyncio.Future[None] | None = None) -> AsyncIterator[Frame]:
        sw = Stopwatch()
        on = self.options.intents.enabled
        self._open = None  # (a reply drawn at a pause and thrown away may have asked)
        if on and self.options.intents.stop_words and \
                (call := stop_call(self.tools, text, answering=self._asked_last())) is not None:
            # "Shush." / "Okay, that'll do." / "Stop, stop, stop.": one stop, not a model's
            # sympathy ("Nevermind." -> "I'm sorry to hear that."), nor "Quiet, please." as volume
            stop = IntentMatch(call.name, call.arguments, 1.0, "(a bare request to stop)", said=text)
            async for out in fast_path(self.kit, turn, text, [stop], parts, gate, sw):
                yield out
            return
        if self.options.set_by_me and \
                (done := set_by_me(text, self.tools.ran, list(self._follows), self.tools)) is not None:
            # "Is it on now?" right after switching the kitchen light on: what omni set, not "I
            # can't tell from here."
            async for out in told_set(self.kit, turn, text, done, done in self._follows, parts, gate, sw):
                yield out
            return
        match, score, near = (await self._intents.call(self.intents.assess, text)
                              if on and self._intents else (None, 0.0, {}))
        if match is None and on and self._intents and self._asking is not None and \
                (answer := self.intents.answer(text, self._asking)) is not None:
            match = answer  # "The kitchen." to "Which room: kitchen, bedroom or living room?"
        several = await self._intents.call(self.intents.match_parts, text) if on and self._intents else None
        if match is not None and match.action in self.tools.off:
            match = None
        if several is not None and any(m.action in self.tools.off for m in several):
            several = None
        if several is not None:
            async for out in fast_path(self.kit, turn, text, several, parts, gate, sw):
                yield out
            return
        if match is None and on and self._intents and \
                (last := await self._intents.call(self.intents.match_last, text)) is not None and \
                last.action not in self.tools.off:
            match = last  # "Okay, I don't need you anymore, stop."
        if (match is None or match.ask is not None) and \
                (call := follow_up(text, list(self._follows), self.tools)) is not None:
            # "and the kitchen too": the last call, changed as the user says ("Now turn the light
            # off." after the kitchen light is the kitchen's, not a question of which room)
            match = IntentMatch(call.name, call.arguments, 1.0, "(follows the turn before)", said=text)
        if match is None and on and self.options.intents.timer_words and (call := timer_call(self.tools, text)) is not None:
            match = IntentMatch(call.name, call.arguments, 1.0, "(a timer asked for in other words)", said=text)
        if match is not None:
            if match.ask is not None:
                self._open = (turn.id, match)
            async for out in fast_path(self.kit, turn, text, [match], parts, gate, sw):
                yield out
            return
        # asked for a new one of what was just given, in words the list does not hold ("Got a
        # bonus bee fact for me?"): by nearness to ways of asking it, or to the turn before
        # (only with a reply before it not to say again, and not when its words already say so)
        before = next((m["content"] for m in reversed(self.memory.history) if m["role"] == "user"), None)
        more = bool(on and self._intents and before is not None and not asks_more(text) and
                    await self._intents.call(self.intents.asks_more, text, before))
        async with contextlib.aclosing(llm_turn(self.kit, turn, text, sw, score, near, parts, gate, more)) as g:
            async for out in g:
                yield out

def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("prefilling the next turn failed: %s", task.exception(), extra={"stage": "dialogue"})


def _off(names: list[str]) -> frozenset[str]:
    """Names turned off, as the tools are named (`time` is the `get_time` tool)."""
    return frozenset(BUILTIN_TOOLS.get(n, n) for n in names)


async def chat_backend(pool: EnginePool, backend: ChatBackend, progress: ProgressFn, user: str = "") -> Shared[ChatBackend]:
    """The process's copy of `backend` (the first one with the same type and options is
    loaded, with the process's CPU priority; the others are never loaded)."""
    async def load(progress: ProgressFn) -> ChatBackend:
        try:
            await backend.load(progress, cpu=pool.cpu)
        except BaseException:
            await backend.aclose()  # its threads end with the failed load
            raise
        return backend

    return await pool.get("llm", options_key(backend.options), load, progress, user=user)
