"""The dialogue stage: a transcript in; the reply streamed out token by token; actions out.

Each turn goes the quickest way that can answer it: a clear command takes the intent fast path
(no LLM, a spoken confirmation); anything else goes to the router, which picks a chat backend by
the pipeline's policy and fails over within the turn. Tool calls the model makes are validated
against the pipeline's allow-list and run; device actions leave as DeviceAction frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from pydantic import Field

from omni.dialogue.backends import AnyBackendOptions, ChatBackend, LlamaBackendOptions, make_backend
from omni.dialogue.claims import ClaimGuard, claims_action
from omni.dialogue.intents import IntentMatch, IntentMatcher, IntentOptions, spoken_seconds
from omni.dialogue.memory import Memory, MemoryOptions
from omni.dialogue.preemptive import Preemptive
from omni.dialogue.router import AllBackendsFailed, RouteRecord, Router, RoutingOptions
from omni.dialogue.tools import ActionSpec, ToolRegistry, ToolResult, ToolsOptions
from omni.dialogue.types import ChatRequest, Message, TextDelta, ToolCall, ToolCallDelta
from omni.frames import (Answered, ContextUpdate, DeviceAction, EndOfStream, ErrorEvent, Frame, ReplyDone, ReplyToken, SayText,
                         SpeechStarted, Transcript, Turn)
from omni.runtime import Processor, QueueSpec, StageOptions, Stopwatch, Worker
from omni.runtime.floor import until
from omni.runtime.stage import ProgressFn

log = logging.getLogger(__name__)

REFUSE = "refuse"
"""The intent target of requests the pipeline declares out of bounds."""

DEFAULT_SYSTEM_PROMPT = (
    "You are omni, a helpful voice assistant. The user speaks to you and hears your reply. "
    "Reply to what the user says in one or two short, natural sentences. Never repeat the "
    "user's words back; answer or act on them. Use no lists, markdown or code. "
    "If you do not know, say so. If the user just tells you something, reply with a short "
    "friendly remark about it."
)


class DialogueOptions(StageOptions):
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = Field(80, ge=1, le=4096)
    temperature: float = Field(0.2, ge=0, le=2)
    backends: dict[str, AnyBackendOptions] = Field(default_factory=lambda: {"local": LlamaBackendOptions()})
    """Chat backends by name; `type` is llama.cpp (local GGUF) or openai (any compatible endpoint)."""
    routing: RoutingOptions = Field(default_factory=RoutingOptions)
    memory: MemoryOptions = Field(default_factory=MemoryOptions)
    actions: list[ActionSpec] = Field(default_factory=list)
    """The allow-list of device actions."""
    intents: IntentOptions = Field(default_factory=lambda: IntentOptions(enabled=False))
    tools: ToolsOptions = Field(default_factory=ToolsOptions)
    refusal: str = "Sorry, I can't do that."
    """Spoken when the model called a tool or action the user's words do not ask for."""
    not_a_request_note: str = ("The user is not asking you to do anything: answer with one short, "
                               "friendly sentence about what they said.")
    """Told the model when it refused a turn that asked for nothing (it answers once more)."""
    unsure_reply: str = "Sorry, I'm not sure what you'd like me to do."
    """Spoken when the model's only words were the user's said back."""
    not_done_reply: str = "I haven't done that."
    """Spoken when the model's only words claimed an action that was not done."""
    fallback_reply: str = "Sorry, I can't answer right now."
    """Spoken when every backend failed, so the assistant never goes silent."""
    carry_within_s: float = Field(2.0, ge=0)
    """A turn interrupted before a word of its reply was heard, by the user going on within
    this many seconds, is carried into the next turn (the pause was not the end)."""
    preemptive: bool = True
    """Start the reply on the transcript decoded at a pause, before the turn has ended; its
    output is held back (and no tool acts) until the final transcript confirms the words,
    and thrown away if it differs or the user goes on."""
    prefill_next: bool = True
    """After each turn, the local model reads the updated history while the user listens, so
    the next turn evaluates only its new words (matters after fast-path and remote turns)."""


class Dialogue(Processor):
    """Transcript -> (DeviceAction*) ReplyToken* then ReplyDone; ContextUpdate is remembered."""

    Options = DialogueOptions
    options: DialogueOptions
    handles = (Transcript, ContextUpdate, SpeechStarted, SayText, Answered)
    live_options: ClassVar[frozenset[str]] = frozenset({"temperature", "max_tokens", "fallback_reply",
                                                         "refusal", "preemptive"})
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=8)

    def __init__(self, name: str, options: DialogueOptions | None = None,
                 budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        o = self.options
        used = dict.fromkeys([*o.routing.order, *(o.routing.complex_order or [])])
        self.backends: dict[str, ChatBackend] = {
            n: make_backend(n, b, cpu=lambda: self.cpu) for n, b in o.backends.items() if n in used}
        self.router = Router(self.backends, o.routing)
        self.tools = ToolRegistry(o.tools, o.actions)
        # "refuse": examples of what the home may ask that no action allows ("unlock the door"),
        # answered with options.refusal before a model can pretend to have done it
        self.intents = IntentMatcher(o.intents, {**self.tools.targets(), REFUSE: {"type": "object"}})
        self.memory = Memory(self._system_prompt(), o.memory)
        self._worker = Worker(f"{name}-intents")
        self._local: ChatBackend | None = None
        self._prefill: asyncio.Task[None] | None = None
        self._pre: Preemptive | None = None
        self._wasted = 0
        """Preemptive replies thrown away since the last turn."""
        self._unanswered: dict[int, tuple[Turn, str]] = {}
        """Turns the user went on from before they were answered (their words start the next)."""

    def _system_prompt(self) -> str:
        o = self.options
        if not o.actions or not o.tools.actions_as_tools:
            return o.system_prompt
        can = "; ".join(f"{a.name}: {a.description.rstrip('.')}" for a in o.actions)
        return (f"{o.system_prompt} You act on the home only through your tools ({can}). "
                "You cannot do anything else to the home: if asked to, say you can't, and never "
                "say that something was done unless a tool did it.")

    async def load(self, progress: ProgressFn) -> None:
        for name, b in self.backends.items():
            if self.options.routing.offline_only and not b.offline:
                log.info("backend %s is not used: routing.offline_only is on", name, extra={"stage": self.name})
                continue
            await b.load(progress)
        local = self._local = next((b for b in self.backends.values() if b.continues), None)
        if local is not None:
            self.memory.count = local.count_tokens
            progress("caching the system prompt", None)
            await local.prefill(ChatRequest([self.memory.system()]))
        if self.options.intents.enabled:
            await self._worker.call(self.intents.load, progress)

    def _prefill_next(self) -> None:
        if self._local is None or not self.options.prefill_next:
            return
        if self._prefill is not None and not self._prefill.done():
            self._prefill.cancel()  # a newer history supersedes it (the worker finishes its batch)
        req = ChatRequest(self.memory.prefix())
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
        for b in self.backends.values():
            await b.aclose()
        self._worker.shutdown()

    async def process(self, frame: Transcript | ContextUpdate | SpeechStarted | SayText | Answered
                      ) -> AsyncIterator[Frame]:
        if isinstance(frame, SayText):  # an announcement: spoken as it is, no model, no history
            self.floor.speech(frame.turn)
            self.report(frame.turn, 0.0, backend="say")
            yield ReplyToken(turn=frame.turn, text=frame.text)
            yield ReplyDone(turn=frame.turn, text=frame.text)
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
            if self.options.preemptive and frame.text.strip() and not self._carry_pending(frame.turn):
                self._pre = Preemptive.start(self._turn, frame.turn, frame.text.strip(), self.name)
            return
        if self.floor.interrupted(frame.turn):
            # the user went on before this turn was answered: its words start the next turn
            await self._discard("the user went on")
            self._unanswered[frame.turn.id] = (frame.turn, frame.text.strip())
            yield ReplyDone(turn=frame.turn, text="", reason="interrupted")
            return
        pre, self._pre = self._pre, None
        if pre is not None and pre.turn is frame.turn and pre.text == frame.text.strip():
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

    def _carry_pending(self, turn: Turn) -> bool:
        """An earlier turn's words will start this one (see _amend_interrupted): not a case to
        start early on this turn's words alone."""
        return any(s.turn.id < turn.id and s.is_interrupted and not s.amended for s in self.floor.speeches())

    async def _turn(self, frame: Transcript, gate: asyncio.Future[None] | None = None) -> AsyncIterator[Frame]:
        turn, text = frame.turn, frame.text.strip()
        carried = self._amend_interrupted(turn)
        if carried and text:
            log.info("turn %d continues turn(s) the user talked on over: %r", turn.id, carried,
                     extra={"stage": self.name, "turn": turn.id})
            text = f"{carried} {text}"
        if not text:
            yield ReplyDone(turn=turn, text="", reason="empty")
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
            self._prefill_next()

    def _amend_interrupted(self, turn: Turn) -> str:
        """The history keeps only what the user heard of an interrupted reply. A turn whose
        reply was interrupted before a word of it was heard was not over (the user paused and
        went on): its words are returned, to start this turn, and it leaves the history."""
        carried: list[str] = []
        for tid in sorted(t for t in self._unanswered if t < turn.id):
            was, words = self._unanswered.pop(tid)
            if (s := self.floor.get(was)) is not None:
                s.amended = True
            if words and (turn.speech_start - was.speech_end) / turn.sample_rate <= self.options.carry_within_s:
                carried.append(words)
        for s in self.floor.speeches():
            if s.turn.id >= turn.id or not s.is_interrupted or s.amended or s.played_text is None:
                continue
            s.amended = True
            gap_s = (turn.speech_start - s.turn.speech_end) / turn.sample_rate
            if not s.played_text.strip() and gap_s <= self.options.carry_within_s:
                self.memory.forget_reply(s.turn.id)
                if s.user_text:
                    carried.append(s.user_text.strip())
            else:
                self.memory.amend_reply(s.turn.id, s.played_text)
        return " ".join(carried)

    async def _answer(self, turn: Turn, text: str, parts: list[str],
                      gate: asyncio.Future[None] | None = None) -> AsyncIterator[Frame]:
        """The reply; with a `gate` (a preemptive reply) no tool acts before it resolves."""
        sw = Stopwatch()
        on = self.options.intents.enabled
        match, score, near = (await self._worker.call(self.intents.assess, text) if on else (None, 0.0, {}))
        several = await self._worker.call(self.intents.match_parts, text) if on else None
        if several is not None:
            async for out in self._fast_path(turn, text, several, parts, gate, sw):
                yield out
            return
        if match is not None:
            async for out in self._fast_path(turn, text, [match], parts, gate, sw):
                yield out
            return
        async with contextlib.aclosing(self._llm_turn(turn, text, sw, score, near, parts, gate)) as g:
            async for out in g:
                yield out
        self._prefill_next()

    async def _fast_path(self, turn: Turn, text: str, matches: list[IntentMatch], parts: list[str],
                         gate: asyncio.Future[None] | None, sw: Stopwatch) -> AsyncIterator[Frame]:
        """Clear commands, without a model: each allowed one acts and is confirmed; what the
        pipeline does not allow is refused ("unlock the front door"), and says so."""
        if gate is not None:
            await gate  # a preemptive reply acts only once the words are confirmed
        said: list[str] = []
        confirmed: list[str] = []
        refused: list[IntentMatch] = []
        for m in matches:
            if m.action == REFUSE:
                refused.append(m)
                continue
            # the same allow-list, validation and confirmation as a model's tool call
            res = await self.tools.call(ToolCall(f"intent_{turn.id}_{len(said)}", m.action, m.args), fast_path=True)
            if res.action is not None:
                yield DeviceAction(turn=turn, action=res.action[0], args=res.action[1], source="intent")
            if not res.ok:
                yield self._error(turn, f"fast path {m.action}: {res.content.get('error')}")
                if res.content.get("invalid"):  # arguments it does not allow ("minus five seconds")
                    refused.append(m)
                    continue
            said.append((res.say or "Done.") if res.ok else _apology(res))
            if res.ok:
                confirmed.append(said[-1])
        if refused:
            log.info("turn %d refused: %s", turn.id, "; ".join(f"{m.example!r} ({m.score:.2f})" for m in refused),
                     extra={"stage": self.name, "turn": turn.id})
        reply = " ".join([*said, *([_cannot(self.options.refusal, refused, len(matches))] if refused else [])])
        yield ReplyToken(turn=turn, text=reply)
        parts.append(reply)
        if confirmed:  # refusals and apologies stay out of the history (a small model copies them)
            self.memory.add(text, " ".join(confirmed), turn=turn.id)
        how = ", ".join(f"{'refused' if m.action == REFUSE else 'intent ' + m.action} (similarity {m.score:.2f} "
                        f"to {m.example!r})" for m in matches)
        self.report(turn, sw.ms, backend="intent", reason=how,
                    **({"args": matches[0].args} if len(matches) == 1 and not refused else {}))
        log.info("turn %d fast path: %s", turn.id, how, extra={"stage": self.name, "turn": turn.id})
        yield ReplyDone(turn=turn, text=reply)
        self._prefill_next()

    def _claimed_call(self, claim: str, said: str, offered: frozenset[str]) -> ToolCall | None:
        """The call a claim of an offered action stands for, with its arguments from the words."""
        kind = claims_action(claim)
        if kind is None or kind not in offered:
            return None
        if kind == "set_timer":
            secs = spoken_seconds(said)
            return ToolCall("words_set_timer", kind, {"seconds": secs}) if secs is not None else None
        return self.tools.act_from_words(kind, f"{said} {claim}")

    def _error(self, turn: Turn, message: str) -> ErrorEvent:
        log.warning("turn %d: %s", turn.id, message, extra={"stage": self.name, "turn": turn.id})
        return ErrorEvent(stage=self.name, message=message, turn=turn)

    async def _llm_turn(self, turn: Turn, text: str, sw: Stopwatch, intent_score: float, near: dict[str, float],
                        parts: list[str], gate: asyncio.Future[None] | None = None) -> AsyncIterator[Frame]:
        o = self.options
        t_route = Stopwatch()
        plan = self.router.plan(text, self.budget_ms)
        rec = RouteRecord()
        rec.route_ms = t_route.ms
        messages: list[Message] = self.memory.messages(text)
        # the model sees a tool only in a turn that could be asking for it (a compact model calls
        # whatever tool it is shown); otherwise it must answer in words
        offered = self.tools.offered(text, near)
        tools = self.tools.schemas(offered)
        # the user asked for something not allowed: the turn is nearest to an out-of-bounds example
        asked_forbidden = near.get(REFUSE, 0.0) >= max([o.tools.offer_similarity, *(
            v for k, v in near.items() if k != REFUSE)])
        first_ms: float | None = None
        called: list[str] = []
        failed: list[ToolResult] = []
        done: list[ToolResult] = []
        kept: list[str] = []
        """What the history keeps: the model's words and tool confirmations, no canned replies."""
        guard = ClaimGuard(lambda: [r.action for r in done if r.action is not None], said=text,
                           no_refusals=not asked_forbidden)
        nudged = False
        words_only = not offered
        refused_any = False
        refusals: list[ToolResult] = []
        malformed = False

        def say(text: str, keep: bool = False) -> ReplyToken:
            nonlocal first_ms
            first_ms = sw.ms if first_ms is None else first_ms
            sep = " " if "".join(parts).strip() and not parts[-1][-1:].isspace() else ""
            parts.append(sep + text)
            if keep:
                kept.append(sep + text)
            return ReplyToken(turn=turn, text=parts[-1])

        def spoken(text: str) -> ReplyToken | None:
            if not text:
                return None
            parts.append(text)
            kept.append(text)
            return ReplyToken(turn=turn, text=text)

        try:
            rnd = 0
            while True:
                last = rnd >= o.tools.max_rounds
                # words only: no tool in the prompt (what is cached ends before the tools note)
                # and, for a backend that keeps them, none may be called
                req = ChatRequest(messages, [] if last or words_only else tools, o.max_tokens, o.temperature,
                                  tool_choice="none" if last or words_only else "auto")
                calls: tuple[ToolCall, ...] = ()
                async with contextlib.aclosing(self.router.stream(req, plan, rec)) as deltas:
                    async for d in deltas:
                        if isinstance(d, TextDelta):
                            if first_ms is None:
                                first_ms = sw.ms
                            if (tok := spoken(guard.feed(d.text))) is not None:
                                yield tok
                        elif isinstance(d, ToolCallDelta):
                            calls = d.calls
                            malformed = malformed or bool(d.malformed)
                            if d.malformed:
                                yield self._error(turn, f"{rec.backend} wrote a tool call that does not parse: "
                                                        f"{d.malformed[:120]!r}")
                if (tok := spoken(guard.flush())) is not None:
                    yield tok
                if not calls and malformed and not words_only and not "".join(parts).strip():
                    words_only = True  # markup instead of an answer: once more, in words
                    continue
                if not calls and guard.refusals and not nudged and not "".join(parts).strip():
                    # it refused what nobody asked it to do: once more, told what the turn is
                    nudged = words_only = True
                    messages = [*messages[:-1], {"role": "system", "content": o.not_a_request_note},
                                messages[-1]]
                    continue
                if not calls:
                    break
                if not req.tools:  # it was to answer in words; it wrote a call anyway
                    yield self._error(turn, f"{rec.backend} called {', '.join(c.name for c in calls)} "
                                            "when no tool was offered; ignored")
                    break
                if gate is not None:
                    await gate  # a preemptive reply acts only once the words are confirmed
                results = [await self.tools.call(c, said=text) if c.name in offered else
                           ToolResult(c, False, {"error": f"{c.name} was not asked for", "refused": True})
                           for c in calls]
                called += [c.name for c in calls]
                refused = [r for r in results if r.content.get("refused")]
                if refused:  # asked for nothing it may do: none of it acts
                    refused_any = True
                    refusals += refused
                    for r in refused:
                        yield self._error(turn, f"tool call {r.call.name} refused: {r.content['error']}")
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
                        yield self._error(turn, f"tool call {r.call.name}: {r.content.get('error')}")
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
            for claim in list(guard.dropped):
                call = self._claimed_call(claim, text, offered)
                if call is None:
                    continue
                if gate is not None:
                    await gate
                r = await self.tools.call(call, said=f"{text} {claim}")
                if not r.ok:
                    continue
                guard.dropped.remove(claim)
                called.append(call.name)
                done.append(r)
                if r.action is not None:
                    yield DeviceAction(turn=turn, action=r.action[0], args=r.action[1], source="tool")
                yield say(r.say or "Done.", keep=True)
            if guard.dropped:
                yield self._error(turn, f"the reply claimed what was not done; not said: {guard.dropped}")
            if not "".join(parts).strip():  # never silent: say what happened
                if failed:
                    yield say(_apology(failed[-1]))
                elif any(r.say for r in done):
                    yield say(" ".join(r.say for r in done if r.say), keep=True)
                elif done:
                    yield say("Done.", keep=True)
                elif (ask := next((r.content["ask"] for r in refusals if "ask" in r.content), None)):
                    yield say(_which(ask))  # "turn on the kitten light": which room?
                elif guard.dropped:  # it claimed what was not done (or copied a confirmation)
                    yield say(o.refusal if asked_forbidden or refused_any else
                              o.not_done_reply if offered else o.unsure_reply)
                elif guard.echoed or guard.refusals:
                    yield say(o.refusal if asked_forbidden else o.unsure_reply)
                else:
                    yield say(o.fallback_reply)
        except AllBackendsFailed as e:
            yield self._error(turn, str(e))
            yield say(o.fallback_reply)
        finally:
            remembered = "".join(kept).strip()
            if remembered:  # what was said, even if the turn was cut short; never a canned reply
                self.memory.add(text, remembered, turn=turn.id)
        reply = "".join(parts).strip()
        u = rec.usage
        extra: dict[str, Any] = dict(
            backend=rec.backend, reason=rec.reason, route_ms=round(rec.route_ms, 2),
            attempts=[a.as_dict() for a in rec.attempts], prompt_tokens=u.prompt_tokens,
            cached_tokens=u.cached_tokens, completion_tokens=u.completion_tokens,
            total_ms=round(sw.ms, 1), intent_score=round(intent_score, 3), tools_offered=sorted(offered))
        if u.estimated:
            extra["tokens_estimated"] = True
        if rec.cost is not None:
            extra["cost"] = round(rec.cost, 6)
        if called:
            extra["tool_calls"] = called
        if guard.dropped:
            extra["unbacked_claims"] = guard.dropped
        self.report(turn, first_ms if first_ms is not None else sw.ms, **extra)
        log.info("turn %d reply (%s): %r", turn.id, rec.backend, reply, extra={"stage": self.name, "turn": turn.id})
        yield ReplyDone(turn=turn, text=reply, reason="complete" if reply else "empty")


def _which(ask: dict[str, Any]) -> str:
    choices = ask["choices"]
    return f"Which {ask['argument']}: {', '.join(choices[:-1])} or {choices[-1]}?" if len(choices) > 1 \
        else f"Which {ask['argument']}?"


def _cannot(refusal: str, refused: list[IntentMatch], of: int) -> str:
    """The refusal of a request, naming the refused parts when others were done."""
    if len(refused) == of:
        return refusal
    what = [(m.said or m.example).rstrip('.!?').lower() for m in refused]
    return f"I can't {', '.join(what[:-1]) + ' or ' if len(what) > 1 else ''}{what[-1]}."


def _apology(result: ToolResult) -> str:
    return f"Sorry, that didn't work: {result.content.get('error', 'tool error')}."


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("prefilling the next turn failed: %s", task.exception(), extra={"stage": "dialogue"})
