"""A transport fed from outside: what a connection (a browser, a Realtime client, a Wyoming
peer, a test) pushes in is the session's input, and its outputs go back through callbacks.

    push(audio, rate)   the user's audio, any rate (converted to the pipeline's), in order
    inject(frame)       a text turn, a commit, a clear (omni.runtime.controls puts them here)
    end()               the input is over: the session drains and ends

Audio is never dropped: `push` waits while the input holds `max_chunks` chunks not yet taken
(the pipeline is behind), which slows the sender instead of losing the user's words.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import numpy as np
import soxr

from omni.audio import WavFileSink
from omni.audio.sink import PlaybackEvents
from omni.errors import InputError
from omni.frames import EndOfStream, Frame, InputAudio
from omni.runtime.stage import Stage
from omni.transports.base import Transport
from omni.transports.outputs import AudioOutput, TextSink

if TYPE_CHECKING:
    from omni.config import PipelineConfig

_END = object()


class FeedTransport(Transport):
    """Input pushed in, replies out through an AudioOutput (or text only, `audio_out=False`)."""

    name = "feed"
    echo_path = False
    """The client cancels its own echo (a browser's getUserMedia does); nothing is subtracted here."""

    def __init__(self, *, audio_out: bool = True, realtime: bool = True, out_rate: int = 24000,
                 audio: AudioOutput | None = None, max_chunks: int = 256, camera: Any = None) -> None:
        self.audio_out = audio_out
        self.camera = camera
        """A PushedCamera for a pipeline that looks (the client pushes its pictures)."""
        self.realtime = realtime
        """Replies last as long as they sound and can be talked over (a live client); False:
        each reply ends when it is made (a batch of text turns)."""
        self.out_rate = out_rate
        self._audio = audio
        self._items: collections.deque[Any] = collections.deque()
        self._queued = 0
        self._max = max_chunks
        self._more = asyncio.Event()
        self._room = asyncio.Event()
        self._position = 0
        self._pending = np.zeros(0, np.float32)
        self._ended = False
        self.pushed_s = 0.0

    async def open(self, cfg: PipelineConfig) -> None:
        self._rate = cfg.sample_rate
        self._chunk = cfg.sample_rate * cfg.chunk_ms // 1000

    def player(self, cfg: PipelineConfig, events: PlaybackEvents) -> Stage:  # type: ignore[override]
        if not self.audio_out:
            return TextSink("text")
        on_audio = self._audio.on_audio if self._audio is not None else None
        return WavFileSink("out", None, self.out_rate, events=events, realtime=self.realtime, keep_s=30.0,
                           on_audio=on_audio)

    # the input ------------------------------------------------------------------------------
    async def push(self, audio: np.ndarray, sample_rate: int) -> None:
        """The user's audio: mono float32 in [-1, 1] (or int16), at any rate."""
        if self._ended:
            raise InputError("this session's input has ended")
        x = np.asarray(audio)
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768.0
        if x.ndim != 1:
            raise InputError(f"audio must be mono (one dimension), got shape {x.shape}")
        x = x.astype(np.float32, copy=False)
        if sample_rate != self._rate:
            x = soxr.resample(x, sample_rate, self._rate).astype(np.float32)
        self.pushed_s += len(x) / self._rate
        self._pending = np.concatenate([self._pending, x])
        while len(self._pending) >= self._chunk:
            while self._queued >= self._max:
                self._room.clear()
                await self._room.wait()
                if self._ended:
                    raise InputError("this session's input has ended")
            self._items.append(self._pending[: self._chunk])
            self._pending = self._pending[self._chunk:]
            self._queued += 1
            self._more.set()

    def inject(self, frame: Frame) -> None:
        self._flush()  # the audio pushed before it comes before it, to the last sample
        self._items.append(frame)
        self._more.set()

    def end(self) -> None:
        """No more input: the session drains (replies under way finish) and ends."""
        if not self._ended:
            self._flush()
            self._ended = True
            self._items.append(_END)
            self._more.set()
            self._room.set()  # a push waiting for room learns that the input has ended

    def discard(self) -> None:
        """Drop the audio pushed but not yet read (a session closing: nobody waits for its reply)."""
        kept = [i for i in self._items if not isinstance(i, np.ndarray)]
        self._queued = 0
        self._items = collections.deque(kept)
        self._pending = np.zeros(0, np.float32)
        self._room.set()

    def _flush(self) -> None:
        if len(self._pending) and not self._ended:
            self._items.append(self._pending)
            self._pending = np.zeros(0, np.float32)
            self._queued += 1

    def stop_input(self) -> None:
        self.end()

    async def frames(self) -> AsyncIterator[Frame]:
        while True:
            while self._items:
                item = self._items.popleft()
                if item is _END:
                    yield EndOfStream(samples=self._position, sample_rate=self._rate)
                    return
                if isinstance(item, np.ndarray):
                    self._queued -= 1
                    self._room.set()
                    frame = InputAudio(samples=item, sample_rate=self._rate, start=self._position)
                    self._position += len(item)
                    yield frame
                else:
                    yield item
            self._more.clear()
            await self._more.wait()

    @property
    def position(self) -> int:
        return self._position

    def summary(self) -> dict[str, Any]:
        return {"audio in (s)": round(self.pushed_s, 2)}
