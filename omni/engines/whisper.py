"""faster-whisper (CTranslate2: no torch) as an STT engine: one utterance in, its text out."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from omni.engines.base import Capabilities, Heard
from omni.engines.whisper_window import Decoded, transcribe_window
from omni.errors import ModelNotFoundError
from omni.models import hub_error, resolve
from omni.runtime.stage import ProgressFn


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


RETRY_ABOVE = -2.5
"""Words the short window decoded and took for no speech are decoded again on whisper's 30 s
window when they scored above this (a mean log-probability per token): a low voice's "Are you
listening?" heard as "are you please" scored -1.4 to -1.7; noise heard as "You" or "." -3.2
to -4.0."""


def _worth_retrying(got: Decoded) -> bool:
    return not got.text and any(ch.isalpha() for ch in got.dropped) and got.score > RETRY_ABOVE


class FasterWhisper:
    """Options (the STT stage's): model, compute_type, beam_size, language, threads,
    no_speech_threshold, initial_prompt, window, min_window_s, max_piece_s."""

    capabilities: ClassVar[Capabilities] = Capabilities(streaming=False)

    def __init__(self, model: Any, options: Any, make: Any) -> None:
        self.model = model
        self.options = options
        self._make = make
        self.window_fallbacks = 0
        """Decodes made again on the 30 s window (the short one looked wrong, or took words
        for no speech: RETRY_ABOVE)."""
        self.retry_no_speech = True
        """Decode again what the short window took for no speech (not for partials: a spare)."""

    @classmethod
    def load(cls, options: Any, progress: ProgressFn) -> FasterWhisper:
        from faster_whisper import WhisperModel

        o = options
        res = resolve("stt", o.model, progress)
        progress(f"loading speech-to-text {res.spec}", None)

        def make(threads: int = o.threads) -> Any:
            kw = {"device": "cpu", "compute_type": o.compute_type, "cpu_threads": threads}
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

        self = cls(make(), o, make)
        # warm-up: the first decode allocates buffers; pay it now, not in the first turn
        self.transcribe(np.zeros(8000, np.float32))
        return self

    def spare(self, threads: int) -> FasterWhisper:
        """Another copy of the model on `threads` (tiny.en is 40 MB: a second one is cheap)."""
        spare = FasterWhisper(self._make(threads), self.options, self._make)
        spare.retry_no_speech = False  # a partial is heard again soon enough
        return spare

    def transcribe(self, audio: np.ndarray) -> Heard:
        o = self.options
        words, language, scores = [], None, []
        for piece in split_long(audio, 16000, o.max_piece_s):
            if o.window and o.language is not None:
                got = transcribe_window(self.model, piece, beam_size=o.beam_size, language=o.language,
                                        initial_prompt=o.initial_prompt, min_window_s=o.min_window_s,
                                        no_speech_threshold=o.no_speech_threshold)
                if got is not None and not (self.retry_no_speech and _worth_retrying(got)):
                    words.append(got.text)
                    scores.append(got.score)
                    language = o.language
                    continue
                # a decode that looked wrong, or words taken for no speech that may be words:
                # on a short window a low voice's "Are you listening?" was decoded as "are you
                # please" and dropped as no speech; whisper's own 30 s window heard it
                self.window_fallbacks += 1
            segments, info = self.model.transcribe(
                piece, beam_size=o.beam_size, language=o.language, vad_filter=False,
                condition_on_previous_text=False, without_timestamps=True,
                initial_prompt=o.initial_prompt)
            language = getattr(info, "language", None)
            for s in segments:  # lazy: consumed here, in the worker thread
                if s.no_speech_prob > o.no_speech_threshold and s.avg_logprob < -1.0:
                    continue
                words.append(s.text.strip())
                scores.append(s.avg_logprob)
        text = " ".join(w for w in words if w).strip()
        return Heard(text, language, round(min(scores), 3) if scores and text else None)

    def close(self) -> None:
        self.model = None
