"""The scene stage (tier 1): camera frames in, SceneFrames and camera ContextUpdates out.

Every other frame passes straight through: analysis runs in a worker thread on a one-frame slot
(a newer camera frame replaces one still waiting, and the skip is counted), so a transcript
never queues behind OCR. Vision gives way to the voice: from the end of the user's speech until
the first sample of the reply is placed on the speaker, a new analysis does not start (at most
`max_defer_s`), and the models use `threads` cores of the machine at most, unless that reply
is a question about the view waiting for this very picture (the look stage says so on the
floor). When the CPU is short, fewer frames are analysed; the audio path is not slowed by a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from pydantic import Field

from omni.frames import ContextUpdate, EndOfStream, ErrorEvent, Frame, SceneFrame, SpeechStopped, Transcript, VideoFrame
from omni.runtime import QueueSpec, Stage, StageOptions
from omni.runtime.engines import Shared, options_key
from omni.runtime.stage import ProgressFn
from omni.vision.scene import SceneAnalyzer, SceneOptions, describe

log = logging.getLogger(__name__)


class SceneStageOptions(SceneOptions, StageOptions):
    yield_to_voice: bool = True
    """Start no analysis while a turn waits for its first reply audio."""
    max_defer_s: float = Field(5.0, gt=0)
    """Give way to the voice for at most this long per analysis."""


class SceneStage(Stage):
    Options = SceneStageOptions
    options: SceneStageOptions
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=64)

    def __init__(self, name: str, options: SceneStageOptions | None = None, budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        self.analyzer = SceneAnalyzer(self.options)
        """The process's analyser (shared by the sessions whose scene options are the same) once loaded."""
        self._shared: Shared[SceneAnalyzer] | None = None
        self._wake: Any = None
        self._turn_open = False
        """The user stopped speaking and the transcript has not come yet."""
        self._changed: asyncio.Event | None = None
        """Set when what `_voice_busy` reads may have changed (the floor, the CPU, a frame)."""
        self.analysed = 0
        self.skipped = 0
        """Camera frames replaced in the slot before an analysis could start."""
        self.deferred_ms = 0.0
        """Time analyses waited for the voice."""
        self.ms: list[float] = []
        """Per analysis, wall time in the worker."""
        self.ages: list[float] = []
        """Per scene, capture -> scene ready (ms)."""
        self._dark = False
        self._last: SceneFrame | None = None
        self.confirmed = 0
        """Unchanged frames that refreshed the last scene without an analysis."""

    async def load(self, progress: ProgressFn) -> None:
        o = self.options

        def load(progress: ProgressFn) -> SceneAnalyzer:
            analyzer = SceneAnalyzer(o)
            analyzer.load(progress)
            return analyzer

        self._shared = await self.engines.get("scene", options_key(o), load, progress, user=self.name, nice=o.nice)
        self.analyzer = self._shared.engine

    async def aclose(self) -> None:
        if self._wake is not None:
            self.cpu.unwatch(self._wake)
        await self.release_engines()

    def stats(self) -> dict[str, Any]:
        from omni.runtime.metrics import percentile

        return {"analysed": self.analysed, "unchanged": self.confirmed, "skipped": self.skipped,
                "analysis_ms_p50": round(percentile(self.ms, 50), 1) if self.ms else None,
                "freshness_ms_p50": round(percentile(self.ages, 50), 1) if self.ages else None,
                "freshness_ms_p95": round(percentile(self.ages, 95), 1) if self.ages else None,
                "deferred_ms": round(self.deferred_ms, 1)}

    def _voice_busy(self) -> bool:
        """From the end of the user's speech until that turn's reply is heard (its first sample
        placed on the speaker), or it ended without one; and while the voice's models work."""
        if self.floor.sight_wanted:
            return False  # a question about the view waits for this very analysis
        # the LLM reading or writing, TTS's first sentence; a reply owed and not yet audible
        return self._turn_open or self.cpu.voice_busy or self.floor.awaiting_reply()

    def _watch(self) -> asyncio.Event:
        """The event that wakes `_give_way`: the floor's and the CPU's changes set it."""
        if self._changed is None:
            changed = self._changed = asyncio.Event()
            loop = asyncio.get_running_loop()
            self.floor.watch(changed.set)
            def wake() -> None:  # called from worker threads (TTS, the LLM)
                if not loop.is_closed():  # a run that has ended must not fail the thread
                    loop.call_soon_threadsafe(changed.set)
            self.cpu.watch(wake)
            self._wake = wake
        return self._changed

    async def _give_way(self) -> None:
        if not self.options.yield_to_voice or not self._voice_busy():
            return
        changed = self._watch()
        t0 = time.monotonic()
        while self._voice_busy() and (left := self.options.max_defer_s - (time.monotonic() - t0)) > 0:
            changed.clear()
            if not self._voice_busy():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
        self.deferred_ms += (time.monotonic() - t0) * 1000

    async def run(self, inp: AsyncIterator[Frame]) -> AsyncIterator[Frame]:
        out: asyncio.Queue[Any] = asyncio.Queue(maxsize=64)
        slot: list[VideoFrame] = []
        busy: list[VideoFrame] = []
        ready = asyncio.Event()
        idle = asyncio.Event()
        """Set when no picture waits in the slot or is being looked at."""
        idle.set()
        end = object()
        changed = self._watch()

        async def read() -> None:
            async for f in inp:
                if isinstance(f, VideoFrame) and not f.changed:
                    if not slot and not busy and self._last is not None:
                        # the same picture: the last scene still holds, as of this frame
                        for item in self._confirm(f):
                            await out.put(item)
                elif isinstance(f, VideoFrame):
                    if slot:
                        self.skipped += 1
                        slot.clear()
                    slot.append(f)
                    idle.clear()
                    ready.set()
                elif isinstance(f, EndOfStream):
                    await idle.wait()  # the picture being looked at is still reported
                elif isinstance(f, SpeechStopped):
                    self._turn_open = not f.dropped
                    changed.set()
                elif isinstance(f, Transcript) and not f.tentative:
                    self._turn_open = False
                    changed.set()
                await out.put(f)

        async def analyse() -> None:
            while True:
                await ready.wait()
                await self._give_way()
                ready.clear()
                if not slot:
                    idle.set()
                    continue
                frame = slot.pop()
                busy.append(frame)
                try:
                    items = await self._analyse(frame)
                finally:
                    busy.clear()
                for item in items:
                    await out.put(item)
                if not slot:
                    idle.set()

        async def main() -> None:
            vision = asyncio.ensure_future(analyse())
            try:
                await read()
            finally:
                vision.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await vision
                await out.put(end)

        task = asyncio.ensure_future(main())
        try:
            while (item := await out.get()) is not end:
                yield item
            await task  # re-raises a failure of the reader
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _analyse(self, frame: VideoFrame) -> list[Frame]:
        t0 = time.monotonic()
        try:
            assert self._shared is not None
            scene = await self._shared.call(self.analyzer.analyze, frame)
        except Exception as e:  # a model failing on one picture: report it, keep looking
            log.warning("%s: analysing frame %d failed: %s", self.name, frame.seq, e, extra={"stage": self.name})
            return [ErrorEvent(stage=self.name, message=f"frame {frame.seq}: {type(e).__name__}: {e}")]
        self.analysed += 1
        self.ms.append((time.monotonic() - t0) * 1000)
        self.ages.append((scene.t - scene.captured) * 1000)
        del self.ms[:-1000], self.ages[:-1000]
        log.debug("%s: frame %d in %.0f ms: %s", self.name, frame.seq, self.ms[-1], describe(scene),
                  extra={"stage": self.name})
        items: list[Frame] = []
        dark = scene.dark
        if dark != self._dark:
            self._dark = dark
            items.append(ErrorEvent(stage=self.name, message=(
                f"{frame.source}: the camera picture is black (brightness {scene.brightness:.0f}/255): "
                "covered, too dark, or a broken camera" if dark else f"{frame.source}: the camera picture is back")))
        self._last = scene
        items += [scene, self._note(scene)]
        return items

    def _note(self, scene: SceneFrame) -> ContextUpdate:
        return ContextUpdate(source="camera", text=describe(scene), captured=scene.captured,
                             when_said=tuple(self.options.tell_when_said))

    def _confirm(self, frame: VideoFrame) -> list[Frame]:
        assert self._last is not None
        self.confirmed += 1
        scene = self._last = dataclasses.replace(self._last, captured=frame.captured, seq=frame.seq,
                                                 t=time.monotonic())
        return [scene, self._note(scene)]
