"""A reply started on a tentative transcript, held back until the final transcript confirms it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import Any

from omni.frames import Frame, Transcript, Turn
from omni.runtime import Stopwatch

Answer = Callable[[Transcript, "asyncio.Future[None]"], AsyncIterator[Frame]]
"""How the dialogue answers a transcript; with the gate, no tool acts before it resolves."""


class Preemptive:
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
    def start(cls, answer: Answer, turn: Turn, text: str, name: str) -> Preemptive:
        self = cls(turn, text)
        frame = Transcript(turn=turn, text=text)

        async def body() -> None:
            try:
                async with contextlib.aclosing(answer(frame, self.gate)) as g:
                    async for out in g:
                        self.queue.put_nowait(out)
            except Exception as e:  # handed to the consumer, which reports it
                self.queue.put_nowait(e)
            self.queue.put_nowait(cls._END)

        self.task = asyncio.get_running_loop().create_task(body(), name=f"{name}-preemptive-{turn.id}")
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
