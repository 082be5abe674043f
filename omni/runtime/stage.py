"""Stages: async iterator transformers that know only their input and output frames."""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from omni.errors import ConfigError, OmniError
from omni.frames import EndOfStream, ErrorEvent, Frame, ReplyDone, Tier, Turn
from omni.runtime.channel import QueueSpec
from omni.runtime.cpu import CpuPriority
from omni.runtime.context import RunContext
from omni.runtime.engines import EnginePool
from omni.runtime.floor import Floor

log = logging.getLogger(__name__)

Reporter = Callable[[str, Turn, float | None, dict[str, Any]], None]
"""reporter(stage_name, turn, ms, extra): a stage's time for one turn, handed to the metrics
(ms None: only more fields for the record the stage already made for that turn)."""

ProgressFn = Callable[[str, float | None], None]
"""progress(description, fraction or None): what loading is doing now."""


class OverBudget(BaseModel):
    """What a stage does, in the pipeline file, when a turn takes it past its budget: something a
    user notices less than silence. Which actions a stage knows is its `over_budget_actions`."""

    model_config = ConfigDict(extra="forbid")
    action: str
    """e.g. `partial` (stt.whisper: answer from the transcript decoded at the pause) or
    `failover` (dialogue: the next backend of the routing order answers)."""
    after_ms: float | None = Field(default=None, gt=0)
    """When to act (default: the stage's `budget_ms`)."""


class StageOptions(BaseModel):
    """Base of every stage's options; unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Stage(abc.ABC):
    """One step of a pipeline.

    The constructor only stores options; `load()` does the slow work before the pipeline runs;
    `run()` turns an async iterator of frames into another one.
    """

    Options: ClassVar[type[StageOptions]] = StageOptions
    input_queue: ClassVar[QueueSpec] = QueueSpec()
    live_options: ClassVar[frozenset[str]] = frozenset()
    """Options that may change while the pipeline runs (`update_options`); others need a restart."""
    over_budget_actions: ClassVar[frozenset[str]] = frozenset()
    """What this stage can do when a turn takes it past its budget (see OverBudget)."""

    def __init__(self, name: str, options: StageOptions | None = None,
                 budget_ms: float | None = None) -> None:
        self.name = name
        self.options = options if options is not None else self.Options()
        self.budget_ms = budget_ms
        self.over_budget: OverBudget | None = None
        """Declared in the pipeline file (set by omni.stages.registry.build_stage)."""
        self._context: RunContext | None = None
        self._own_context = False

    def act_after_ms(self, action: str) -> float | None:
        """When this stage takes `action` over its budget in a turn, or None when it does not."""
        ob = self.over_budget
        if ob is None or ob.action != action:
            return None
        return ob.after_ms or self.budget_ms

    def bind(self, context: RunContext) -> None:
        """The run this stage is part of (its pipeline calls this once, before `load`)."""
        self._context = context

    @property
    def context(self) -> RunContext:
        """The services of the run (a stage used on its own gets a context of its own)."""
        if self._context is None:
            self._context = RunContext()
            self._own_context = True
        return self._context

    @property
    def engines(self) -> EnginePool:
        """The process's engines: a stage gets its models here, never loads its own copy."""
        assert self.context.engines is not None
        return self.context.engines

    async def release_engines(self) -> None:
        """For a stage used on its own (no pipeline): close the engines its own context loaded.
        In a pipeline this does nothing: the engines belong to the process."""
        if self._own_context and self._context is not None:
            await self._context.release()

    @property
    def floor(self) -> Floor:
        """The run's floor: the assistant's replies as interruptible handles (read it; the
        floor and each reply's handle change only through their own methods)."""
        return self.context.floor

    @property
    def cpu(self) -> CpuPriority:
        """The process's CPU priority (see omni.runtime.cpu)."""
        assert self.context.cpu is not None
        return self.context.cpu

    def report(self, turn: Turn, ms: float | None, **extra: Any) -> None:
        """Record this stage's latency contribution for a turn."""
        self.context.report(self.name, turn, ms, extra)

    def update_options(self, values: dict[str, Any]) -> None:
        """Change options at run time; each key must be in `live_options` and the result valid
        (else ConfigError, and nothing changes). Takes effect from the next frame the stage reads."""
        self.options = self.check_options(values)
        self.options_changed()

    def check_options(self, values: dict[str, Any]) -> StageOptions:
        """The options `update_options(values)` would set; ConfigError if it would refuse them."""
        fixed = sorted(set(values) - self.live_options)
        if fixed:
            live = ", ".join(sorted(self.live_options)) or "none"
            raise ConfigError(f"{self.name}: {', '.join(fixed)} cannot change while running",
                              hint=f"options of {self.name} that can: {live}")
        try:
            return self.Options.model_validate({**self.options.model_dump(), **values})
        except ValidationError as e:
            msg = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
            raise ConfigError(f"{self.name}: {msg}") from None

    def options_changed(self) -> None:  # noqa: B027 - optional hook
        """Called after `update_options`, for stages that derive state from their options."""

    async def load(self, progress: ProgressFn) -> None:  # noqa: B027 - optional hook
        """Load models; called once before the pipeline starts."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what load() took."""

    @abc.abstractmethod
    def run(self, inp: AsyncIterator[Frame]) -> AsyncIterator[Frame]:
        """Consume input frames, yield output frames."""


class Processor(Stage):
    """A stage that handles some frame types and passes every other frame on unchanged.

    Subclasses set `handles` and implement `process(frame)`; `finish()` runs at end of stream.
    An exception while processing one frame becomes an ErrorEvent; the stage keeps going. When
    that frame belonged to a turn, a ReplyDone(reason="error") follows, so the turn still ends
    downstream (its metrics line is written with the error) instead of hanging open.
    DATA frames of a turn the user interrupted are dropped, on the way in and on the way out.
    """

    handles: ClassVar[tuple[type[Frame], ...]] = ()

    async def run(self, inp: AsyncIterator[Frame]) -> AsyncIterator[Frame]:
        src = aiter(inp)
        pending: asyncio.Future[Frame] | None = None
        """The next frame, asked for while the stage waits for `wake_at` or `wake_on` (not asked twice)."""
        try:
            while True:
                at, on = self.wake_at(), self.wake_on()
                if at is not None or on is not None:  # the stage acts then if no frame comes first
                    if pending is None:
                        pending = asyncio.ensure_future(anext(src))
                    await asyncio.wait({pending} if on is None else {pending, on},
                                       timeout=None if at is None else max(0.0, at - time.monotonic()),
                                       return_when=asyncio.FIRST_COMPLETED)
                    if not pending.done():
                        async for out in self._tick():
                            yield out
                        continue
                try:
                    if pending is not None:
                        frame, pending = await pending, None
                    else:
                        frame = await anext(src)
                except StopAsyncIteration:
                    break
                async for out in self._handle(frame):
                    yield out
        finally:
            if pending is not None and not pending.done():
                pending.cancel()

    async def _tick(self) -> AsyncIterator[Frame]:
        try:
            async for out in self.tick():
                if not self._stale(out):
                    yield out
        except Exception as e:  # as a frame's fault: reported, the stage keeps serving
            log.exception("%s failed acting on its own", self.name, extra={"stage": self.name})
            yield self.error(f"{type(e).__name__}: {e}")

    async def _handle(self, frame: Frame) -> AsyncIterator[Frame]:
        if self._stale(frame):
            return
        if isinstance(frame, EndOfStream):
            async for out in self.finish(frame):
                yield out
            yield frame
        elif isinstance(frame, self.handles):
            try:
                async for out in self.process(frame):
                    if not self._stale(out):
                        yield out
            except OmniError as e:
                log.warning("%s: %s", self.name, e, extra={"stage": self.name})
                for out in self._failed(str(e), frame):
                    yield out
            except Exception as e:  # a bug or an engine fault: report, keep serving
                log.exception("%s failed on %s", self.name, type(frame).__name__,
                              extra={"stage": self.name})
                for out in self._failed(f"{type(e).__name__}: {e}", frame):
                    yield out
        else:
            yield frame

    def wake_at(self) -> float | None:
        """A monotonic time at which the stage must act even if no frame has come (`tick`), or
        None (most stages: they act only on frames)."""
        return None

    def wake_on(self) -> asyncio.Future[Any] | None:
        """Work of the stage's own (a decode in a worker thread) whose end makes it act
        (`tick`) without waiting for the next frame, or None. `tick` must take the result, so
        that a future once done is not returned again (the loop would spin)."""
        return None

    async def tick(self) -> AsyncIterator[Frame]:
        """Act at `wake_at()` or when `wake_on()` is done, no frame having come by then. Must
        change what they say."""
        return
        yield  # pragma: no cover - makes this an async generator

    def _stale(self, frame: Frame) -> bool:
        return frame.tier is Tier.DATA and self.floor.interrupted(getattr(frame, "turn", None))

    def error(self, message: str, frame: Frame | None = None) -> ErrorEvent:
        return ErrorEvent(stage=self.name, message=message, turn=getattr(frame, "turn", None))

    def _failed(self, message: str, frame: Frame) -> list[Frame]:
        ev = self.error(message, frame)
        if ev.turn is None or isinstance(frame, ReplyDone):
            return [ev]
        return [ev, ReplyDone(turn=ev.turn, text="", reason="error")]

    @abc.abstractmethod
    def process(self, frame: Any) -> AsyncIterator[Frame]:
        """Handle one frame of a type in `handles`."""

    async def finish(self, eos: EndOfStream) -> AsyncIterator[Frame]:
        """Flush what the stage holds at end of stream."""
        return
        yield  # pragma: no cover - makes this an async generator


class Stopwatch:
    """Milliseconds since construction, on the monotonic clock."""

    __slots__ = ("t0",)

    def __init__(self, t0: float | None = None) -> None:
        self.t0 = time.monotonic() if t0 is None else t0

    @property
    def ms(self) -> float:
        return (time.monotonic() - self.t0) * 1000.0
