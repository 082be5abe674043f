"""A live input for a node: audio pushed from elsewhere (a remote microphone over MQTT), a local
file played once as the microphone, or silence, on a real-time clock, like a sound card.

A microphone never stops delivering samples, and the VAD, the end-of-turn model and barge-in
all rely on that; a remote microphone does stop (between requests, on a network hiccup), so the
gaps are filled with silence as they happen. Frames made by the node (a text question, a
sentence to say) are put on the same stream between two chunks, in the order they arrived.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator

import numpy as np

from omni.audio.io import resample
from omni.frames import EndOfStream, Frame, InputAudio

log = logging.getLogger(__name__)


class LiveInput:
    def __init__(self, sample_rate: int, *, chunk_ms: int = 32, buffer_s: float = 30.0,
                 local: np.ndarray | None = None, inject: int = 4096) -> None:
        self.sample_rate = sample_rate
        self.chunk = max(1, sample_rate * chunk_ms // 1000)
        self.listening = True
        """False: the microphone is off (nothing is heard; the stream carries silence)."""
        self._pushed: collections.deque[np.ndarray] = collections.deque()
        self._buffered = 0
        self._cap = int(buffer_s * sample_rate)
        self._local = local if local is not None else np.zeros(0, np.float32)
        self._local_pos = 0
        self._frames: collections.deque[Frame] = collections.deque()
        self._max_frames = inject
        self._signal = asyncio.Event()
        """Set when a frame is injected or the stream is asked to stop."""
        self.position = 0
        """Input-timeline index of the next sample to be emitted."""
        self._stopping = False

    @property
    def buffered_s(self) -> float:
        return self._buffered / self.sample_rate

    def push(self, samples: np.ndarray, rate: int) -> None:
        """Queue remote microphone audio; raises OverflowError when the buffer is full (nothing is
        taken then, so the sender hears about every lost chunk)."""
        x = resample(samples, rate, self.sample_rate)
        if self._buffered + len(x) > self._cap:
            raise OverflowError(f"the audio buffer is full ({self._cap / self.sample_rate:.0f} s "
                                "waiting): send audio in real time")
        self._pushed.append(x)
        self._buffered += len(x)

    def inject(self, frame: Frame) -> None:
        """Put a frame on the stream before the next chunk; raises OverflowError when full."""
        if len(self._frames) >= self._max_frames:
            raise OverflowError(f"{len(self._frames)} frames wait to enter the pipeline: busy")
        self._frames.append(frame)
        self._signal.set()

    def stop(self) -> None:
        self._stopping = True
        self._signal.set()

    def _take(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.float32)
        got = 0
        while got < n and self._pushed:
            head = self._pushed[0]
            k = min(n - got, len(head))
            out[got:got + k] = head[:k]
            got += k
            if k == len(head):
                self._pushed.popleft()
            else:
                self._pushed[0] = head[k:]
        self._buffered -= got
        if self._local_pos < len(self._local):
            part = self._local[self._local_pos:self._local_pos + n]
            out[:len(part)] += part
            self._local_pos += len(part)
        return out

    async def frames(self) -> AsyncIterator[Frame]:
        """The stream, until stop(): chunks on the clock, injected frames between them."""
        t0 = time.monotonic()
        while not self._stopping:
            self._signal.clear()
            while self._frames:
                yield self._frames.popleft()
            due = t0 + (self.position + self.chunk) / self.sample_rate
            delay = due - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._signal.wait(), delay)
                    continue  # a frame to pass on before the chunk (or the end)
                except TimeoutError:
                    pass
            audio = self._take(self.chunk)
            if not self.listening:
                audio[:] = 0.0
            start = self.position
            self.position += self.chunk
            yield InputAudio(samples=audio, sample_rate=self.sample_rate, start=start)
        while self._frames:
            yield self._frames.popleft()
        yield EndOfStream(samples=self.position, sample_rate=self.sample_rate)
