"""Audio sources: a file fed like a microphone (in real time, or as fast as the pipeline takes it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

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
