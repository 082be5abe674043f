"""A transport of your own: questions as text in, the spoken replies' words out (a chat window,
a test harness, a bridge to a messaging app). The microphone is silence; the player plays into
nothing. Run it like any other transport:

    from omni.app.session import run
    result = await run(load_pipeline("desktop"), TextTransport(["What is the capital of France?"]), view)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from omni.audio import WavFileSink
from omni.audio.sink import PlaybackEvents
from omni.config import PipelineConfig
from omni.frames import EndOfStream, Frame, InputAudio, ReplyPlayed
from omni.transports.base import Session, Transport


class TextTransport(Transport):
    name = "text"
    echo_path = False  # nothing it plays reaches its (silent) microphone

    def __init__(self, questions: list[str]) -> None:
        self.questions = list(questions)
        self.replies: list[str] = []
        self._answered = asyncio.Event()
        self._inbox: list[Frame] = []
        self._stop = asyncio.Event()
        self._position = 0

    async def open(self, cfg: PipelineConfig) -> None:
        self.rate, self.chunk = cfg.sample_rate, cfg.sample_rate * cfg.chunk_ms // 1000

    def player(self, cfg: PipelineConfig, events: PlaybackEvents) -> WavFileSink:
        return WavFileSink("out", None, 22050, events=events, realtime=True, keep_s=30.0)

    async def attach(self, session: Session) -> None:
        transport = self

        class Replies:  # an observer: each reply once it has been played
            def on_frame(self, stage: str, frame: Frame) -> None:
                if isinstance(frame, ReplyPlayed) and frame.text:
                    transport.replies.append(frame.text)
                    transport._answered.set()

        session.pipeline.observers.append(Replies())

    async def frames(self) -> AsyncIterator[Frame]:
        silence = np.zeros(self.chunk, np.float32)
        t0 = asyncio.get_running_loop().time()
        while not self._stop.is_set():  # silence on the clock, text turns between the chunks
            while self._inbox:
                yield self._inbox.pop(0)
            yield InputAudio(samples=silence, sample_rate=self.rate, start=self._position)
            self._position += self.chunk
            await asyncio.sleep(max(0.0, t0 + self._position / self.rate - asyncio.get_running_loop().time()))
        yield EndOfStream(samples=self._position, sample_rate=self.rate)

    async def serve(self, session: Session) -> None:
        """Ask each question once the previous reply has been played; then end the run."""
        for q in self.questions:
            self._answered.clear()
            session.controls.ask(q)
            await self._answered.wait()

    def inject(self, frame: Frame) -> None:
        self._inbox.append(frame)

    @property
    def position(self) -> int:
        return self._position

    def stop_input(self) -> None:
        self._stop.set()

    def summary(self) -> dict[str, Any]:
        return {"questions": len(self.questions), "replies": len(self.replies)}
