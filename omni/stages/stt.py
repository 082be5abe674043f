"""Speech to text with faster-whisper (CTranslate2: no torch)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from omni.errors import ModelNotFoundError
from omni.frames import Frame, ReplyDone, Transcript, Utterance
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
    backchannels: list[str] = Field(default_factory=lambda: list(BACKCHANNELS))
    """Said over the assistant, these only acknowledge: the assistant goes on talking."""
    max_piece_s: float = Field(10.0, ge=2, le=30)
    """Longer utterances are transcribed in pieces of at most this length, cut at the
    quietest moment near the limit (small whisper models drop words on long windows)."""


BACKCHANNELS = ("mhm", "mm", "mmm", "hmm", "mm hmm", "uh huh", "yeah", "yes", "yep", "okay", "ok",
                "right", "sure", "i see", "aha", "ah", "oh", "got it", "alright", "all right")


def is_backchannel(text: str, phrases: list[str]) -> bool:
    """True for an empty text or one made only of backchannel phrases ("Mm-hmm.", "yeah, yeah")."""
    norm = " ".join(re.sub(r"[^a-z' ]+", " ", text.lower().replace("-", " ")).split())
    if not norm:
        return True
    known = {" ".join(p.lower().split()) for p in phrases}
    if norm in known:
        return True
    return all(w in known for w in norm.split())


def split_long(audio: np.ndarray, rate: int, max_s: float, search_s: float = 3.0) -> list[np.ndarray]:
    """Cut audio into pieces of at most `max_s`, each cut at the quietest 20 ms frame within
    the last `search_s` before the limit. The pieces concatenate back to the input exactly."""
    limit = int(max_s * rate)
    if len(audio) <= limit:
        return [audio]
    frame = max(1, rate // 50)
    pieces, pos = [], 0
    while len(audio) - pos > limit:
        lo = pos + max(frame, limit - int(search_s * rate))
        window = audio[lo: pos + limit]
        n = len(window) // frame
        energy = np.square(window[: n * frame].reshape(n, frame)).mean(axis=1)
        cut = lo + int(np.argmin(energy)) * frame + frame // 2
        pieces.append(audio[pos:cut])
        pos = cut
    pieces.append(audio[pos:])
    return pieces


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
        await self._worker.call(self.transcribe, np.zeros(8000, np.float32))

    async def aclose(self) -> None:
        self._worker.shutdown()

    def transcribe(self, audio: np.ndarray) -> tuple[str, str | None]:
        """Blocking: call from the stage's worker thread (or a thread of your own, not the loop)."""
        o = self.options
        words, language = [], None
        for piece in split_long(audio, 16000, o.max_piece_s):
            segments, info = self._model.transcribe(
                piece, beam_size=o.beam_size, language=o.language, vad_filter=False,
                condition_on_previous_text=False, without_timestamps=True,
                initial_prompt=o.initial_prompt)
            language = getattr(info, "language", None)
            for s in segments:  # lazy: consumed here, in the worker thread
                if s.no_speech_prob > o.no_speech_threshold and s.avg_logprob < -1.0:
                    continue
                words.append(s.text.strip())
        return " ".join(w for w in words if w).strip(), language

    async def process(self, frame: Utterance) -> AsyncIterator[Frame]:
        sw = Stopwatch()
        text, lang = await self._worker.call(self.transcribe, frame.samples)
        self.report(frame.turn, sw.ms, audio_s=round(len(frame.samples) / frame.sample_rate, 2))
        log.info("turn %d heard: %r", frame.turn.id, text,
                 extra={"stage": self.name, "turn": frame.turn.id})
        self.floor.speech(frame.turn).user_text = text
        if frame.overlapped:  # said over the assistant, which is paused: go on, or give way
            if is_backchannel(text, self.options.backchannels):
                self.floor.user_backchannel(time.monotonic())
                yield ReplyDone(turn=frame.turn, text="", reason="backchannel")
                return
            self.floor.user_took_turn()
        yield Transcript(turn=frame.turn, text=text, language=lang)
