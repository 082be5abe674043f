"""Speech to text with faster-whisper (CTranslate2: no torch)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from omni.errors import ModelNotFoundError
from omni.frames import Frame, Transcript, Utterance
from omni.models import hub_error, resolve
from omni.runtime import Processor, QueueSpec, StageOptions, Stopwatch, Worker
from omni.runtime.stage import ProgressFn

log = logging.getLogger(__name__)


class WhisperOptions(StageOptions):
    model: str = "tiny.en"
    """Bundled `tiny.en` (default) or `base`, a CTranslate2 model folder, or a hub id."""
    compute_type: str = "int8"
    beam_size: int = Field(1, ge=1, le=10)
    language: str | None = "en"
    """None lets whisper detect the language (multilingual models only)."""
    threads: int = Field(2, ge=1, le=64)
    no_speech_threshold: float = Field(0.6, ge=0, le=1)
    """Segments more likely silence than this, with low confidence, are dropped."""
    initial_prompt: str | None = None
    """Words to bias the recognizer toward (names, device names)."""


class WhisperSTT(Processor):
    """Utterance -> Transcript."""

    Options = WhisperOptions
    options: WhisperOptions
    handles = (Utterance,)
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=8)

    def __init__(self, name: str, options: WhisperOptions | None = None,
                 budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        self._worker = Worker(f"{name}-whisper")
        self._model: Any = None

    async def load(self, progress: ProgressFn) -> None:
        from faster_whisper import WhisperModel

        o = self.options
        res = resolve("stt", o.model, progress)
        progress(f"loading speech-to-text {res.spec}", None)

        def make() -> Any:
            kw = {"device": "cpu", "compute_type": o.compute_type, "cpu_threads": o.threads}
            if res.kind == "hub":
                try:
                    return WhisperModel(res.location, **kw)
                except Exception as e:
                    raise hub_error("stt", res.spec, e) from e
            try:
                return WhisperModel(res.location, local_files_only=True, **kw)
            except Exception as e:
                raise ModelNotFoundError(f"cannot load whisper model from {res.location}: {e}",
                                         hint="give a CTranslate2 whisper folder (model.bin, "
                                              "config.json, tokenizer.json)") from e

        self._model = await self._worker.call(make)
        # warm-up: the first decode allocates buffers; pay it now, not in the first turn
        await self._worker.call(self._transcribe, np.zeros(8000, np.float32))

    async def aclose(self) -> None:
        self._worker.shutdown()

    def _transcribe(self, audio: np.ndarray) -> tuple[str, str | None]:
        o = self.options
        segments, info = self._model.transcribe(
            audio, beam_size=o.beam_size, language=o.language, vad_filter=False,
            condition_on_previous_text=False, without_timestamps=True,
            initial_prompt=o.initial_prompt)
        words = []
        for s in segments:  # lazy: consumed here, in the worker thread
            if s.no_speech_prob > o.no_speech_threshold and s.avg_logprob < -1.0:
                continue
            words.append(s.text.strip())
        return " ".join(w for w in words if w).strip(), getattr(info, "language", None)

    async def process(self, frame: Utterance) -> AsyncIterator[Frame]:
        sw = Stopwatch()
        text, lang = await self._worker.call(self._transcribe, frame.samples)
        self.report(frame.turn, sw.ms, audio_s=round(len(frame.samples) / frame.sample_rate, 2))
        log.info("turn %d heard: %r", frame.turn.id, text,
                 extra={"stage": self.name, "turn": frame.turn.id})
        yield Transcript(turn=frame.turn, text=text, language=lang)
