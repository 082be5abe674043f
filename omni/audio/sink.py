"""Audio sinks. The file sink writes the assistant's audio on the input's timeline."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import soxr

from omni.audio.io import write_wav
from omni.frames import EndOfStream, Frame, ReplyAudio, ReplyDone, Turn
from omni.runtime.stage import Processor

log = logging.getLogger(__name__)


class Timeline:
    """The assistant's audio placed like a recording of the conversation.

    Sample 0 is sample 0 of the input. A reply starts where the assistant actually began
    to speak: the end of the user's speech plus the measured delay until the audio left TTS.
    Later chunks follow without overlap; a chunk that was late leaves a gap, as a speaker would.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._parts: list[tuple[int, np.ndarray]] = []
        self.cursor = 0
        self._resamplers: dict[tuple[int, int], soxr.ResampleStream] = {}

    def place(self, chunk: ReplyAudio) -> int:
        """Place a chunk; return its start index on the output timeline."""
        turn = chunk.turn
        audio = self._convert(chunk)
        due = turn.speech_end / turn.sample_rate + max(0.0, chunk.t - turn.t_speech_end)
        start = max(self.cursor, round(due * self.sample_rate))
        self._parts.append((start, audio))
        self.cursor = start + len(audio)
        return start

    def end_turn(self, turn: Turn) -> None:
        for key in [k for k in self._resamplers if k[0] == turn.id]:
            rs = self._resamplers.pop(key)
            tail = rs.resample_chunk(np.zeros(0, np.float32), last=True)
            if len(tail):
                self._parts.append((self.cursor, tail))
                self.cursor += len(tail)

    def render(self, min_samples: int) -> np.ndarray:
        out = np.zeros(max(min_samples, self.cursor), np.float32)
        for start, audio in self._parts:
            out[start:start + len(audio)] += audio
        return out

    def _convert(self, chunk: ReplyAudio) -> np.ndarray:
        if chunk.sample_rate == self.sample_rate:
            return chunk.samples.astype(np.float32, copy=False)
        key = (chunk.turn.id, chunk.sample_rate)
        rs = self._resamplers.get(key)
        if rs is None:
            rs = self._resamplers[key] = soxr.ResampleStream(chunk.sample_rate, self.sample_rate, 1,
                                                             dtype="float32")
        return rs.resample_chunk(chunk.samples.astype(np.float32, copy=False))


class WavFileSink(Processor):
    """Last stage of a file run: writes OUT.wav on the input's timeline at end of stream."""

    handles = (ReplyAudio, ReplyDone)

    def __init__(self, name: str, path: str | Path, sample_rate: int,
                 on_reply_start: Callable[[Turn, float], None] | None = None) -> None:
        super().__init__(name)
        self.path = Path(path)
        self.timeline = Timeline(sample_rate)
        self.on_reply_start = on_reply_start
        self._started: set[int] = set()
        self.written = False

    async def process(self, frame: ReplyAudio | ReplyDone) -> AsyncIterator[Frame]:
        if isinstance(frame, ReplyAudio):
            start = self.timeline.place(frame)
            if frame.turn.id not in self._started:
                self._started.add(frame.turn.id)
                if self.on_reply_start is not None:
                    self.on_reply_start(frame.turn, start / self.timeline.sample_rate)
        else:
            self.timeline.end_turn(frame.turn)
        yield frame

    async def finish(self, eos: EndOfStream) -> AsyncIterator[Frame]:
        self._write(round(eos.samples * self.timeline.sample_rate / eos.sample_rate))
        return
        yield  # pragma: no cover

    async def aclose(self) -> None:
        """A run stopped early (Ctrl-C, a fatal error) still leaves what was said on disk."""
        if not self.written and self.timeline.cursor > 0:
            log.warning("run stopped before the end: writing the reply audio so far")
            self._write(0)

    def _write(self, min_samples: int) -> None:
        audio = self.timeline.render(min_samples)
        write_wav(self.path, audio, self.timeline.sample_rate)
        self.written = True
        log.info("wrote %s (%.1f s at %d Hz)", self.path, len(audio) / self.timeline.sample_rate,
                 self.timeline.sample_rate)
