"""A pipeline wires stages with bounded channels and owns their tasks."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from omni.frames import ErrorEvent, Frame
from omni.runtime.channel import Channel, ChannelClosed
from omni.runtime.cpu import CpuPriority
from omni.runtime.context import RunContext
from omni.runtime.floor import Floor
from omni.runtime.stage import ProgressFn, Reporter, Stage

log = logging.getLogger(__name__)


class Observer(Protocol):
    """Sees each frame once, with the name of the stage that made it ("source" for the input);
    cheap and synchronous (metrics, views, the MQTT events). A frame a stage passes on unchanged
    is not shown again."""

    def on_frame(self, stage: str, frame: Frame) -> None: ...


@dataclass(frozen=True)
class Branch:
    """A second source of a run, feeding one stage directly (see Pipeline.run)."""

    name: str
    """Shown to the observers as the maker of its frames ("camera")."""
    into: str
    """The stage whose input it feeds."""
    frames: AsyncIterable[Frame]


class Pipeline:
    """Stages in a line: source -> stage 1 -> ... -> stage n.

    Each stage reads its own bounded input channel (size and overflow policy from the stage's
    `input_queue`, overridable per pipeline file). Every frame is shown to the observers once,
    when the stage that made it emits it; ErrorEvents go to the observers only.
    """

    def __init__(self, stages: Sequence[Stage], observers: Sequence[Observer] = (),
                 reporter: Reporter | None = None, floor: Floor | None = None,
                 context: RunContext | None = None) -> None:
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique: {names}")
        self.stages = list(stages)
        self.observers = list(observers)
        self.channels: list[Channel] = []
        self._shown: weakref.WeakSet[Frame] = weakref.WeakSet()
        self.context = context if context is not None else RunContext(
            floor=floor if floor is not None else Floor(), reporter=reporter)
        """The run's services (floor, CPU priority, reporting), bound to every stage."""
        for s in self.stages:
            s.bind(self.context)

    @property
    def floor(self) -> Floor:
        return self.context.floor

    @property
    def cpu(self) -> CpuPriority:
        assert self.context.cpu is not None
        return self.context.cpu

    async def load(self, progress: ProgressFn) -> None:
        for stage in self.stages:
            await stage.load(progress)

    async def aclose(self) -> None:
        """Close the stages (each session's state); the engines close with the process, or
        here if the pipeline made its own context."""
        try:
            for stage in self.stages:
                await stage.aclose()
        finally:
            await self.context.release()

    async def run(self, source: AsyncIterable[Frame], branches: Sequence[Branch] = ()) -> None:
        """Run until the source ends and every stage has drained, or until cancelled.

        A branch is a source of its own whose frames go straight into one stage's input, past the
        stages before it (the camera into the scene stage); it ends when the main source ends."""
        self.channels = [Channel(f"{s.name}.in", s.input_queue) for s in self.stages]
        names = [s.name for s in self.stages]
        for b in branches:
            if b.into not in names:
                raise ValueError(f"branch {b.name!r} goes into stage {b.into!r}, which this pipeline lacks ({names})")
        async with asyncio.TaskGroup() as tg:
            feeds = [tg.create_task(self._pump(b.frames, self.channels[names.index(b.into)], close=False,
                                               shown_as=b.name), name=f"pipeline:branch:{b.name}")
                     for b in branches]
            tg.create_task(self._pump(source, self.channels[0], branches=feeds), name="pipeline:source")
            for i, stage in enumerate(self.stages):
                out = self.channels[i + 1] if i + 1 < len(self.stages) else None
                tg.create_task(self._drive(stage, self.channels[i], out), name=f"stage:{stage.name}")

    async def _pump(self, source: AsyncIterable[Frame], into: Channel, *, close: bool = True,
                    shown_as: str = "source", branches: Sequence[asyncio.Task[None]] = ()) -> None:
        it = aiter(source)
        try:
            async for frame in it:
                self._observe(shown_as, frame)
                if not isinstance(frame, ErrorEvent):
                    await into.put(frame)
        finally:
            if (aclose := getattr(it, "aclose", None)) is not None:
                await aclose()  # a branch stopped early releases what it holds (the camera)
            # the branches end with the main source, before the end of stream reaches their stage
            for b in branches:
                b.cancel()
            if branches:
                await asyncio.wait(branches)
            if close:
                await into.close()

    async def _drive(self, stage: Stage, inp: Channel, out: Channel | None) -> None:
        try:
            async for frame in stage.run(_channel_iter(inp)):
                self._observe(stage.name, frame)
                if out is not None and not isinstance(frame, ErrorEvent):
                    await out.put(frame)
        finally:
            if out is not None:
                await out.close()

    def _observe(self, stage: str, frame: Frame) -> None:
        if frame in self._shown:  # passed on unchanged: its maker was shown it already
            return
        self._shown.add(frame)
        for obs in self.observers:
            try:
                obs.on_frame(stage, frame)
            except Exception:
                log.exception("observer %r failed on %s", obs, type(frame).__name__)


async def _channel_iter(ch: Channel) -> AsyncIterator[Frame]:
    while True:
        try:
            yield await ch.get()
        except ChannelClosed:
            return
