"""Text to speech, sentence by sentence, from a TTS engine (piper by default); the first sentence
of a reply gets the CPU first."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from omni.engines.base import TextToSpeech
from omni.engines.registry import pooled
from omni.frames import Frame, ReplyAudio, ReplySentence
from omni.runtime import Processor, QueueSpec, StageOptions, Stopwatch
from omni.runtime.engines import EnginePool, Shared, options_key
from omni.runtime.stage import ProgressFn

log = logging.getLogger(__name__)


class PiperOptions(StageOptions):
    engine: str = "piper"
    """The TTS engine (omni.engines.registry): built in, or package.module:Class."""
    engine_options: dict[str, Any] = Field(default_factory=dict)
    """Options of an engine of your own (it reads them from the stage's options)."""
    voice: str = "joe"
    """Bundled voice name, or a path to a piper .onnx voice (its .onnx.json beside it)."""
    length_scale: float | None = Field(None, gt=0.1, lt=5)
    """Speaking rate: below 1 is faster."""
    volume: float = Field(1.0, gt=0, le=4)
    speaker_id: int | None = None
    threads: int = Field(2, ge=1, le=64)
    """onnxruntime threads. 1 leaves a core to the LLM while it generates the next sentence;
    on 2 cores the bench showed no gain in V2V from it (first audio slower, 113 -> 161 ms)."""


class PiperTTS(Processor):
    """ReplySentence -> ReplyAudio chunks; ReplyDone passes on after the turn's last audio."""

    Options = PiperOptions
    options: PiperOptions
    handles = (ReplySentence,)
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=32)
    live_options: ClassVar[frozenset[str]] = frozenset({"length_scale", "volume", "speaker_id", "voice"})
    """`voice` too: the next sentence is spoken in it (loaded then, once per process, if no
    session has used it yet)."""

    def __init__(self, name: str, options: PiperOptions | None = None,
                 budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        self._tts: Shared[TextToSpeech] | None = None
        self.sample_rate = 22050

    async def load(self, progress: ProgressFn) -> None:
        self._tts = await tts_engine(self.engines, self.options, progress, user=self.name)
        self.sample_rate = self._tts.engine.sample_rate

    @property
    def _voice(self) -> TextToSpeech | None:
        return self._tts.engine if self._tts is not None else None

    async def aclose(self) -> None:
        await self.release_engines()

    def synthesize(self, text: str, urgent: bool = False) -> Iterator[np.ndarray]:
        """Blocking generator of audio chunks; `urgent` (the first sentence) takes CPU priority.
        The voice is shared by every session: this session's rate and volume are set on it
        first, on its thread (nothing else runs there until the sentence is done)."""
        assert self._voice is not None, "load() first"
        self._voice.configure(self.options)
        chunks = iter(self._voice.synthesize(text))
        while True:
            with self.cpu.urgent() if urgent else contextlib.nullcontext():
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk

    async def process(self, frame: ReplySentence) -> AsyncIterator[Frame]:
        sw = Stopwatch()
        first = True
        assert self._tts is not None, "load() first"
        if options_key(self.options, TTS_STAGE_ONLY) != self._tts.key:  # the voice changed live
            try:
                self._tts = await tts_engine(self.engines, self.options, _log_progress, user=self.name)
                self.sample_rate = self._tts.engine.sample_rate
            except Exception as e:  # a voice that cannot load: said once, the voice before goes on
                voice = self.options.voice
                self.options = self.options.model_copy(update={"voice": json.loads(self._tts.key).get("voice")})
                log.error("voice %r cannot be loaded (%s): speaking in %r", voice, e, self.options.voice,
                          extra={"stage": self.name})
        stream = self._tts.stream(lambda: self.synthesize(frame.text, urgent=frame.index == 0), buffer=4)
        async with contextlib.aclosing(stream):
            async for audio in stream:
                if first and frame.index == 0:
                    self.report(frame.turn, sw.ms, chars=len(frame.text))
                first = False
                yield ReplyAudio(turn=frame.turn, samples=audio, sample_rate=self.sample_rate,
                                 sentence=frame.index, text=frame.text)


TTS_STAGE_ONLY = frozenset({"length_scale", "volume", "speaker_id"})
"""PiperOptions set per sentence, not when the voice loads: sessions that differ only in them
share one voice."""


async def tts_engine(pool: EnginePool, options: PiperOptions, progress: ProgressFn,
                     user: str = "") -> Shared[TextToSpeech]:
    """The process's voice for these options (loaded on first use)."""
    return await pooled(pool, "tts", options, TTS_STAGE_ONLY, progress, user)


def _log_progress(what: str, fraction: float | None) -> None:
    if fraction is None:
        log.info("%s", what, extra={"stage": "tts"})
