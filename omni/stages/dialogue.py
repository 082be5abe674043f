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
from omni.dialogue.intents import IntentMatcher, IntentOptions
from omni.dialogue.memory import Memory, MemoryOptions
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
    "If you do not know, say so."
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
        self._pre: _Preemptive | None = None
        self._wasted = 0
        """Preemptive replies thrown away since the last turn."""

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
            await local.prefill(ChatRequest([self.memory.system()], self.tools.schemas()))
        if self.options.intents.enabled:
            await self._worker.call(self.intents.load, progress)

    def _prefill_next(self) -> None:
        if self._local is None or not self.options.prefill_next:
            return
        if self._prefill is not None and not self._prefill.done():
            self._prefill.cancel()  # a newer history supersedes it (the worker finishes its batch)
        req = ChatRequest(self.memory.prefix(), self.tools.schemas())
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
                self._pre = _Preemptive.start(self, frame.turn, frame.text.strip())
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
        match, score = (await self._worker.call(self.intents.match, text)
                        if self.options.intents.enabled else (None, 0.0))
        if match is not None and match.action == REFUSE:
            if gate is not None:
                await gate
            refusal = self.options.refusal
            yield ReplyToken(turn=turn, text=refusal)
            parts.append(refusal)
            self.memory.add(text, refusal, turn=turn.id)
            self.report(turn, sw.ms, backend="intent", reason=f"refused: similarity {match.score:.2f} to "
                        f"{match.example!r}")
            log.info("turn %d refused: %r is like %r", turn.id, text, match.example,
                     extra={"stage": self.name, "turn": turn.id})
            yield ReplyDone(turn=turn, text=refusal)
            self._prefill_next()
            return
        if match is not None:
            # the same allow-list, validation and confirmation as a model's tool call
            if gate is not None:
                await gate
            res = await self.tools.call(ToolCall(f"intent_{turn.id}", match.action, match.args), fast_path=True)
            if res.action is not None:
                yield DeviceAction(turn=turn, action=res.action[0], args=res.action[1], source="intent")
            if not res.ok:
                yield self._error(turn, f"fast path {match.action}: {res.content.get('error')}")
            say = (res.say or "Done.") if res.ok else _apology(res)
            intent_ms = sw.ms
            yield ReplyToken(turn=turn, text=say)
            parts.append(say)
            self.memory.add(text, say, turn=turn.id)
            self.report(turn, intent_ms, backend="intent", reason=f"intent {match.action} "
                        f"(similarity {match.score:.2f} to {match.example!r})", args=match.args)
            log.info("turn %d fast path: %s %s", turn.id, match.action, match.args,
                     extra={"stage": self.name, "turn": turn.id})
            yield ReplyDone(turn=turn, text=say)
            self._prefill_next()
            return
        async with contextlib.aclosing(self._llm_turn(turn, text, sw, score, parts, gate)) as g:
            async for out in g:
                yield out
        self._prefill_next()

    def _error(self, turn: Turn, message: str) -> ErrorEvent:
        log.warning("turn %d: %s", turn.id, message, extra={"stage": self.name, "turn": turn.id})
        return ErrorEvent(stage=self.name, message=message, turn=turn)

    async def _llm_turn(self, turn: Turn, text: str, sw: Stopwatch, intent_score: float,
                        parts: list[str], gate: asyncio.Future[None] | None = None) -> AsyncIterator[Frame]:
        o = self.options
        t_route = Stopwatch()
        plan = self.router.plan(text, self.budget_ms)
        rec = RouteRecord()
        rec.route_ms = t_route.ms
        messages: list[Message] = self.memory.messages(text)
        tools = self.tools.schemas()
        first_ms: float | None = None
        called: list[str] = []
        failed: list[ToolResult] = []
        done: list[ToolResult] = []

        def say(text: str) -> ReplyToken:
            nonlocal first_ms
            first_ms = sw.ms if first_ms is None else first_ms
            sep = " " if "".join(parts).strip() and not parts[-1][-1:].isspace() else ""
            parts.append(sep + text)
            return ReplyToken(turn=turn, text=parts[-1])

        try:
            for rnd in range(o.tools.max_rounds + 1):
                last = rnd == o.tools.max_rounds
                req = ChatRequest(messages, [] if last else tools, o.max_tokens, o.temperature)
                calls: tuple[ToolCall, ...] = ()
                async with contextlib.aclosing(self.router.stream(req, plan, rec)) as deltas:
                    async for d in deltas:
                        if isinstance(d, TextDelta):
                            if first_ms is None:
                                first_ms = sw.ms
                            parts.append(d.text)
                            yield ReplyToken(turn=turn, text=d.text)
                        elif isinstance(d, ToolCallDelta):
                            calls = d.calls
                            if d.malformed:
                                yield self._error(turn, f"{rec.backend} wrote a tool call that does not parse: "
                                                        f"{d.malformed[:120]!r}")
                if not calls:
                    break
                if last:  # no tools were offered this round; the model called one anyway
                    yield self._error(turn, f"{rec.backend} called {', '.join(c.name for c in calls)} "
                                            f"after {o.tools.max_rounds} tool rounds; ignored")
                    break
                if gate is not None:
                    await gate  # a preemptive reply acts only once the words are confirmed
                results = [await self.tools.call(c, said=text) for c in calls]
                called += [c.name for c in calls]
                refused = [r for r in results if r.content.get("refused")]
                if refused:  # asked for nothing it may do: say so, and do none of it
                    for r in refused:
                        yield self._error(turn, f"tool call {r.call.name} refused: {r.content['error']}")
                    yield say(o.refusal)
                    break
                for r in results:
                    if r.action is not None:
                        yield DeviceAction(turn=turn, action=r.action[0], args=r.action[1], source="tool")
                    if r.ok:
                        done.append(r)
                    else:
                        failed.append(r)
                        yield self._error(turn, f"tool call {r.call.name}: {r.content.get('error')}")
                if all(r.ok and r.say for r in results):  # the results speak for themselves
                    yield say(" ".join(r.say for r in results))
                    break
                # the next round goes to whoever answered this one
                if rec.backend in plan.order:
                    plan.order.remove(rec.backend)
                    plan.order.insert(0, rec.backend)
                messages = [*messages, {"role": "assistant", "content": "",
                                        "tool_calls": [c.message() for c in calls]},
                            *(r.message() for r in results)]
            if not "".join(parts).strip():  # never silent: say what happened
                if failed:
                    yield say(_apology(failed[-1]))
                elif any(r.say for r in done):
                    yield say(" ".join(r.say for r in done if r.say))
                elif done:
                    yield say("Done.")
                else:
                    yield say(o.fallback_reply)
        except AllBackendsFailed as e:
            yield self._error(turn, str(e))
            yield say(o.fallback_reply)
        finally:
            reply = "".join(parts).strip()
            if reply:  # what was said, even if the turn was cut short
                self.memory.add(text, reply, turn=turn.id)
        u = rec.usage
        extra: dict[str, Any] = dict(
            backend=rec.backend, reason=rec.reason, route_ms=round(rec.route_ms, 2),
            attempts=[a.as_dict() for a in rec.attempts], prompt_tokens=u.prompt_tokens,
            cached_tokens=u.cached_tokens, completion_tokens=u.completion_tokens,
            total_ms=round(sw.ms, 1), intent_score=round(intent_score, 3))
        if u.estimated:
            extra["tokens_estimated"] = True
        if rec.cost is not None:
            extra["cost"] = round(rec.cost, 6)
        if called:
            extra["tool_calls"] = called
        self.report(turn, first_ms if first_ms is not None else sw.ms, **extra)
        log.info("turn %d reply (%s): %r", turn.id, rec.backend, reply, extra={"stage": self.name, "turn": turn.id})
        yield ReplyDone(turn=turn, text=reply, reason="complete" if reply else "empty")


class _Preemptive:
    """A reply started on a tentative transcript: its frames wait in a queue until the final
    transcript confirms the words (then they go out, and the rest streams live)."""

    _END = object()

    def __init__(self, turn: Turn, text: str) -> None:
        self.turn, self.text = turn, text
        self.gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.t0 = Stopwatch()
        self.task: asyncio.Task[None] | None = None

    @classmethod
    def start(cls, stage: Dialogue, turn: Turn, text: str) -> _Preemptive:
        self = cls(turn, text)
        frame = Transcript(turn=turn, text=text)

        async def body() -> None:
            try:
                async with contextlib.aclosing(stage._turn(frame, self.gate)) as g:
                    async for out in g:
                        self.queue.put_nowait(out)
            except Exception as e:  # handed to the consumer, which reports it
                self.queue.put_nowait(e)
            self.queue.put_nowait(cls._END)

        self.task = asyncio.get_running_loop().create_task(body(), name=f"{stage.name}-preemptive-{turn.id}")
        return self

    def confirm(self) -> float:
        """Let it act; returns how long it has been running (its head start)."""
        self.gate.set_result(None)
        return self.t0.ms

    async def drain(self) -> AsyncIterator[Frame]:
        while True:
            item = await self.queue.get()
            if item is self._END:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    async def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            await asyncio.wait({self.task})
        if not self.gate.done():
            self.gate.cancel()


def _apology(result: ToolResult) -> str:
    return f"Sorry, that didn't work: {result.content.get('error', 'tool error')}."


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("prefilling the next turn failed: %s", task.exception(), extra={"stage": "dialogue"})
