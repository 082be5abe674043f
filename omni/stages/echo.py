"""Acoustic echo cancellation: the assistant must not hear itself.

The stage sits before the VAD. For each chunk of microphone audio it asks the pipeline's
players what the speaker played over the same stretch of the input timeline (the far end) and
removes its echo with an engine (omni.engines.aec: WebRTC's AEC3 by default, or speex).
While the far end has been silent for `idle_ms` the audio passes through untouched, so a
pipeline that never speaks over its microphone (a file run) hears exactly its input.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from omni.engines.base import EchoCancellation
from omni.engines.registry import engine_class
from omni.frames import Frame, InputAudio
from omni.runtime import Processor, QueueSpec, StageOptions, Worker
from omni.runtime.stage import ProgressFn

log = logging.getLogger(__name__)

RATE = 16000


class EchoOptions(StageOptions):
    engine: str = "webrtc"
    """The echo cancellation engine (omni.engines.aec): webrtc, speex, or package.module:Class."""
    engine_options: dict[str, Any] = Field(default_factory=dict)
    """Options of an engine of your own (it reads them from the stage's options)."""
    delay_ms: int = Field(0, ge=0, le=500)
    """Known delay from playback to the microphone (webrtc estimates the rest itself)."""
    tail_ms: int = Field(200, ge=20, le=1000)
    """Length of the room's echo the speex filter models."""
    noise_suppression: bool = False
    idle_ms: int = Field(500, ge=0)
    """Far end silent this long: pass the microphone through untouched."""


class EchoCanceller(Processor):
    """InputAudio (microphone) -> InputAudio (the assistant's own voice removed)."""

    Options = EchoOptions
    options: EchoOptions
    handles = (InputAudio,)
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=512)

    def __init__(self, name: str, options: EchoOptions | None = None, budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        self._worker = Worker(f"{name}-aec")
        self._engine: EchoCancellation | None = None
        self._frame = 160
        self._pending = np.zeros(0, np.float32)
        self._pending_start = 0
        self._last_far = -10**9  # input sample where the far end was last heard
        self.processed = 0
        """Samples that went through the canceller (the rest passed untouched)."""
        self.bypass = False
        """Pass the audio through (also when the run's context has no echo path)."""

    async def load(self, progress: ProgressFn) -> None:
        cls = engine_class("aec", self.options.engine)
        self._engine = await self._worker.call(cls.load, self.options, progress)
        self._frame = self._engine.frame

    async def aclose(self) -> None:
        self._worker.shutdown()

    def far_end(self, start: int, n: int) -> np.ndarray:
        """What the players played over input samples [start, start + n) at 16 kHz."""
        far = np.zeros(n, np.float32)
        for p in self.floor.players:
            far += p.played(start, n, RATE)
        return far

    async def process(self, frame: InputAudio) -> AsyncIterator[Frame]:
        if self.bypass or not self.context.echo_path:
            yield frame
            return
        if frame.sample_rate != RATE:
            raise ValueError(f"echo cancellation needs {RATE} Hz audio, got {frame.sample_rate}")
        if not len(self._pending):
            self._pending_start = frame.start
        self._pending = np.concatenate([self._pending, frame.samples])
        n = len(self._pending) // self._frame * self._frame
        if n == 0:
            return
        start, mic = self._pending_start, self._pending[:n]
        self._pending, self._pending_start = self._pending[n:], start + n
        far = self.far_end(start, n)
        if np.any(far):
            self._last_far = start + int(np.flatnonzero(far)[-1])
        if start - self._last_far > self.options.idle_ms * RATE // 1000:
            yield InputAudio(samples=mic, sample_rate=RATE, start=start, t=frame.t)
            return
        out = await self._worker.call(self._cancel, mic, far)
        self.processed += n
        yield InputAudio(samples=out, sample_rate=RATE, start=start, t=frame.t)

    def _cancel(self, mic: np.ndarray, far: np.ndarray) -> np.ndarray:
        m = (np.clip(mic, -1, 1) * 32767).astype(np.int16)
        f = (np.clip(far, -1, 1) * 32767).astype(np.int16)
        out = np.empty(len(m), np.int16)
        for i in range(0, len(m), self._frame):
            out[i:i + self._frame] = self._engine.process(m[i:i + self._frame], f[i:i + self._frame])
        return out.astype(np.float32) / 32768.0
