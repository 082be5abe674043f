"""The process and its conversations: engines are loaded once, sessions are cheap.

    async with Host() as host:
        await host.load(cfg)                          # every engine the pipeline names, shown
        async with host.session(cfg, audio_out=False) as conv:
            turn = conv.ask("What is the capital of France?")
            print(await conv.reply(turn))             # "Paris ..." (text only: no TTS, no wait)
        calls = host.calls(cfg)                       # transcribe / speak / answer without a session

A session (omni.app.session.run with the host's engines) holds only its own state: its stages'
buffers, the history, the floor, the metrics and the controls. Opening one loads nothing once
`load` has run (the first session of a pipeline loads what is missing); closing one leaves the
engines loaded and the other sessions running; each checks only its own tasks and threads for
leaks. Signals are the process's: a server stops its sessions itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np

from omni.app.calls import Calls
from omni.app.session import RunOptions, RunResult, Session, load_pipeline_shown, run
from omni.app.view import ConsoleView
from omni.config import PipelineConfig
from omni.errors import InputError
from omni.frames import Frame, ReplyPlayed, Turn
from omni.runtime import Pipeline
from omni.runtime.pipeline import Observer
from omni.runtime.context import RunContext
from omni.runtime.controls import Controls
from omni.runtime.engines import EnginePool
from omni.stages import build_stage
from omni.transports.base import Server, SessionFactory
from omni.transports.feed import FeedTransport
from omni.transports.outputs import AudioOutput, Outputs, TextOutput

log = logging.getLogger(__name__)


class Host:
    """One process: the engines (omni.runtime.engines) and the sessions that use them."""

    def __init__(self, engines: EnginePool | None = None) -> None:
        self.engines = engines if engines is not None else EnginePool()
        self._calls: dict[str, Calls] = {}
        self._open: set[Conversation] = set()
        self.opened = 0
        """Sessions opened so far."""

    async def __aenter__(self) -> Host:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def load(self, cfg: PipelineConfig, view: ConsoleView | None = None) -> float:
        """Load every engine `cfg`'s stages use (with the view's progress), so that a session
        of it loads nothing. Returns the seconds it took (near 0 when all were loaded)."""
        stages = [build_stage(s) for s in cfg.stages]
        pipeline = Pipeline(stages, context=RunContext(engines=self.engines))
        try:
            return await load_pipeline_shown(pipeline, view or ConsoleView(quiet=True))
        finally:
            await pipeline.aclose()  # the stages go; the engines stay with the host

    async def run(self, cfg: PipelineConfig, transport: Any, view: ConsoleView | None = None,
                  opts: RunOptions | None = None, **kw: Any) -> RunResult:
        """One session of `cfg` on `transport`, to its end, on the host's engines."""
        return await run(cfg, transport, view or ConsoleView(quiet=True), opts, engines=self.engines, **kw)

    def calls(self, cfg: PipelineConfig) -> Calls:
        """Transcribe, speak, answer, VAD and wake word alone, with `cfg`'s engines and budgets."""
        calls = self._calls.get(cfg.name)
        if calls is None or calls.cfg is not cfg:
            calls = self._calls[cfg.name] = Calls(self.engines, cfg)
        return calls

    async def open(self, cfg: PipelineConfig, *, audio_out: bool = True, realtime: bool = True,
                   text: TextOutput | None = None, audio: AudioOutput | None = None, out_rate: int = 24000,
                   opts: RunOptions | None = None, view: ConsoleView | None = None,
                   observers: Sequence[Observer] = (), camera: Any = None) -> Conversation:
        """Start a session fed from outside (see Conversation); close it with `close()`.
        `observers` see every frame of it (a protocol that reports speech, transcripts, actions);
        `camera` is its camera, for a pipeline that looks (a PushedCamera the client fills)."""
        conv = Conversation(self, cfg, FeedTransport(audio_out=audio_out, realtime=realtime, audio=audio,
                                                     out_rate=out_rate, camera=camera), text, opts, view, observers)
        await conv.start()
        self._open.add(conv)
        self.opened += 1
        return conv

    @contextlib.asynccontextmanager
    async def session(self, cfg: PipelineConfig, **kw: Any) -> AsyncIterator[Conversation]:
        """`open`, and `close` on the way out (cancelling a reply under way)."""
        conv = await self.open(cfg, **kw)
        try:
            yield conv
        finally:
            await conv.close()

    def sessions(self, cfg: PipelineConfig) -> Sessions:
        """The session factory a Server gets for `cfg`."""
        return Sessions(self, cfg)

    async def serve(self, cfg: PipelineConfig, server: Server, view: ConsoleView | None = None) -> None:
        """Load `cfg`'s engines, then run `server` with its session factory until it returns or
        is cancelled; the sessions it left open are closed."""
        await self.load(cfg, view)
        try:
            await server.serve(self.sessions(cfg))
        finally:
            await _close_all([c for c in self._open if c.cfg is cfg])

    async def aclose(self) -> None:
        """Close the sessions still open (each on its own: one that fails does not keep the
        others open), then the engines."""
        try:
            await _close_all(list(self._open))
        finally:
            await self.engines.aclose()


class Sessions(SessionFactory):
    """Sessions of one pipeline on a host's engines (what a Server is given)."""

    def __init__(self, host: Host, cfg: PipelineConfig) -> None:
        self.host = host
        self.cfg = cfg
        self.engines = host.engines

    async def open(self, *, audio_out: bool = True, realtime: bool = True, text: TextOutput | None = None,
                   audio: AudioOutput | None = None, out_rate: int = 24000,
                   cfg: PipelineConfig | None = None, observers: Sequence[Observer] = (),
                   camera: Any = None) -> Conversation:
        """`cfg`: a variant of the pipeline for this session (a client's turn detection), on the
        same engines; it counts as one of this factory's sessions."""
        conv = await self.host.open(cfg or self.cfg, audio_out=audio_out, realtime=realtime, text=text,
                                    audio=audio, out_rate=out_rate, observers=observers, camera=camera)
        conv.origin = self.cfg.name
        return conv

    def open_now(self) -> int:
        return sum(1 for c in self.host._open if c.origin == self.cfg.name)  # noqa: SLF001 (the host's own helper)

    def session(self, **kw: Any) -> Any:
        return self.host.session(self.cfg, **kw)

    @property
    def calls(self) -> Calls:
        return self.host.calls(self.cfg)


_ids = itertools.count(1)


class Conversation:
    """A session driven from outside (a connection): audio is pushed in, text turns asked,
    controls used; replies go to its outputs. `reply(turn)` waits for one turn's reply."""

    def __init__(self, host: Host, cfg: PipelineConfig, feed: FeedTransport, text: TextOutput | None,
                 opts: RunOptions | None, view: ConsoleView | None, observers: Sequence[Observer] = ()) -> None:
        self.id = next(_ids)
        self._observers = list(observers)
        self.host = host
        self.cfg = cfg
        self.origin = cfg.name
        """The pipeline it counts as (a variant of one is still one of its sessions)."""
        self.feed = feed
        self._text = text
        self._opts = opts
        self._view = view or ConsoleView(quiet=True)
        self._stop = asyncio.Event()
        self._session: Session | None = None
        self._task: asyncio.Task[RunResult] | None = None
        self._replies: dict[int, asyncio.Future[tuple[str, str]]] = {}
        self._changed = asyncio.Event()
        self.result: RunResult | None = None

    async def start(self) -> None:
        ready: asyncio.Future[Session] = asyncio.get_running_loop().create_future()

        def started(session: Session) -> None:
            if not ready.done():
                ready.set_result(session)

        observers: list[Any] = [_Replies(self), *self._observers]
        if self._text is not None:
            observers.append(Outputs(self._text))
        self._task = asyncio.get_running_loop().create_task(
            self.host.run(self.cfg, self.feed, self._view, self._opts, observers=observers, stop=self._stop,
                          started=started), name=f"conversation-{self.id}")
        self._task.add_done_callback(self._finished)
        try:
            await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the opener went away while it started: so does the session
            self._stop.set()
            self._task.cancel()
            await asyncio.wait({self._task})
            raise
        if not ready.done():  # it failed before it ran (a model would not load)
            ready.cancel()
            self.host._open.discard(self)
            self.result = self._task.result()  # raises its error
            raise InputError(f"session {self.id} ended before it started")
        self._session = ready.result()

    @property
    def controls(self) -> Controls:
        assert self._session is not None, "start() first"
        return self._session.controls

    @property
    def session(self) -> Session:
        assert self._session is not None, "start() first"
        return self._session

    async def push(self, audio: np.ndarray, sample_rate: int) -> None:
        """The user's audio, in order (waits while the session is behind; never drops)."""
        await self.feed.push(audio, sample_rate)

    def ask(self, text: str) -> Turn:
        """A text turn: answered as if it had been said."""
        turn = self.controls.ask(text)
        self._future(turn.id)
        return turn

    async def reply(self, turn: Turn | int, timeout: float | None = 120.0) -> str:
        """What the user heard of `turn`'s reply, once it has ended (InputError if it ended in an
        error, or the session ended first)."""
        tid = turn if isinstance(turn, int) else turn.id
        text, reason = await asyncio.wait_for(asyncio.shield(self._future(tid)), timeout)
        if reason == "error":
            raise InputError(f"turn {tid} ended in an error")
        return text

    async def replies(self, n: int, timeout: float | None = 120.0) -> list[tuple[int, str, str]]:
        """Wait until `n` turns have ended; (turn id, what was heard, why it ended) in turn order."""
        async def wait() -> None:
            while sum(f.done() for f in self._replies.values()) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)
        return [(tid, *f.result()) for tid, f in sorted(self._replies.items()) if f.done()]

    def _future(self, turn_id: int) -> asyncio.Future[tuple[str, str]]:
        fut = self._replies.get(turn_id)
        if fut is None:
            fut = self._replies[turn_id] = asyncio.get_running_loop().create_future()
        return fut

    def _ended(self, turn: Turn, text: str, reason: str) -> None:
        fut = self._future(turn.id)
        if not fut.done():
            fut.set_result((text, reason))
        self._changed.set()

    async def close(self, cancel: bool = True) -> RunResult | None:
        """End the session: with `cancel`, a reply under way stops now and the input not yet
        heard is dropped (speech half said is not answered); without, the input is heard to its
        end and answered. The pipeline drains, the session's tasks end. Returns its RunResult."""
        if self._task is None:
            return None
        if cancel and self._session is not None and not self._task.done():
            self.controls.cancel()
            self.feed.discard()
            self.controls.clear()
        self.feed.end()
        self._stop.set()
        try:
            self.result = await self._task
        finally:
            self.host._open.discard(self)
            self._end_replies("the session was closed")
        return self.result

    def _finished(self, task: asyncio.Task[RunResult]) -> None:
        self.feed.end()  # a push still waiting learns it
        self._end_replies("the session ended")

    def _end_replies(self, why: str) -> None:
        for fut in self._replies.values():
            if not fut.done():
                fut.set_exception(InputError(f"no reply: {why} before it ended"))
                fut.exception()  # retrieved: a turn nobody waits for is not an error
        self._changed.set()


async def _close_all(convs: list[Conversation]) -> None:
    for conv in convs:
        try:
            await conv.close()
        except Exception:
            log.exception("session %d failed while closing", conv.id, extra={"stage": "host"})


class _Replies:
    """Observer: each turn's end, for Conversation.reply."""

    def __init__(self, conv: Conversation) -> None:
        self.conv = conv

    def on_frame(self, stage: str, frame: Frame) -> None:
        if isinstance(frame, ReplyPlayed):
            self.conv._ended(frame.turn, frame.text, frame.reason)
