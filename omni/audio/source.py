"""Audio sources: a file fed like a microphone (in real time, or as fast as the pipeline takes it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import numpy as np

from omni.frames import EndOfStream, Frame, InputAudio


async def file_source(samples: np.ndarray, sample_rate: int, *, chunk_ms: int = 32,
                      realtime: bool = True, tail_s: float = 0.0) -> AsyncIterator[Frame]:
    """Yield `samples` as InputAudio chunks, then EndOfStream.

    In real time, a chunk is emitted when its last sample would have been recorded, so the
    pipeline sees the timing a microphone gives. `tail_s` of silence is appended so the VAD can
    close an utterance that runs to the very end of the file.
    """
    n = max(1, sample_rate * chunk_ms // 1000)
    if tail_s > 0:
        samples = np.concatenate([samples, np.zeros(int(tail_s * sample_rate), np.float32)])
    t0 = time.monotonic()
    for start in range(0, len(samples), n):
        chunk = samples[start:start + n]
        if realtime:
            due = t0 + (start + len(chunk)) / sample_rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)  # let the pipeline run between chunks
        yield InputAudio(samples=chunk, sample_rate=sample_rate, start=start)
    yield EndOfStream(samples=len(samples), sample_rate=sample_rate)


class Room:
    """The acoustic path from the speaker back to the microphone, for runs on files.

    A file run has no room, so the assistant never hears itself there. `Room` adds what a
    speaker `delay_ms` away at `gain_db` would put into the microphone: the played audio,
    delayed, attenuated, with a short decaying reverberation tail. It is the file twin of a
    laptop's speaker and microphone, for testing echo cancellation and self-interruption.
    """

    def __init__(self, played: Callable[[int, int, int], np.ndarray], gain_db: float = -6.0,
                 delay_ms: float = 40.0, tail_ms: float = 60.0, seed: int = 0) -> None:
        self.played = played
        self.gain = 10 ** (gain_db / 20)
        self.delay_ms = delay_ms
        self.tail_ms = tail_ms
        self._seed = seed
        self._ir: np.ndarray | None = None

    def impulse_response(self, rate: int) -> np.ndarray:
        if self._ir is None:
            n = max(1, int(self.tail_ms * rate / 1000))
            rng = np.random.default_rng(self._seed)
            tail = rng.standard_normal(n) * np.exp(-np.arange(n) / (n / 4)) * 0.2
            tail[0] = 1.0
            self._ir = (tail * self.gain).astype(np.float32)
        return self._ir

    def echo(self, start: int, n: int, rate: int) -> np.ndarray:
        ir = self.impulse_response(rate)
        d = int(self.delay_ms * rate / 1000)
        far = self.played(start - d - len(ir) + 1, n + len(ir) - 1, rate)
        return np.convolve(far, ir, mode="valid").astype(np.float32)

    async def wrap(self, source: AsyncIterator[Frame]) -> AsyncIterator[Frame]:
        async for frame in source:
            if isinstance(frame, InputAudio):
                echo = self.echo(frame.start, len(frame.samples), frame.sample_rate)
                frame = InputAudio(samples=frame.samples + echo, sample_rate=frame.sample_rate,
                                   start=frame.start, t=frame.t)
            yield frame


async def watch_input(source: AsyncIterator[Frame], silent_s: float = 10.0,
                      stage: str = "input") -> AsyncIterator[Frame]:
    """Pass `source` through; each time it delivers nothing for `silent_s`, yield an ErrorEvent
    (a microphone that stopped sending) and keep waiting: the pipeline stays ready for it."""
    from omni.frames import ErrorEvent

    it = aiter(source)
    nxt: asyncio.Future[Frame] | None = None
    try:
        while True:
            if nxt is None:
                nxt = asyncio.ensure_future(anext(it))
            done, _ = await asyncio.wait({nxt}, timeout=silent_s)
            if not done:
                yield ErrorEvent(stage=stage, message=f"no audio for {silent_s:g} s: is the microphone "
                                                      "still connected and unmuted?")
                continue
            try:
                frame = nxt.result()
            except StopAsyncIteration:
                return
            nxt = None
            yield frame
    finally:
        if nxt is not None and not nxt.done():
            nxt.cancel()
            await asyncio.wait({nxt})
