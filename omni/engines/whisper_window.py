"""Whisper on a window as long as the utterance, not the 30 s it was trained on.

faster-whisper pads every utterance to a 30 s window; the encoder's cost grows with the square
of the window, and a voice assistant's turns last a few seconds. CTranslate2's encoder takes a
shorter window: on the 2-core machine here, tiny.en int8 encodes 30 s in ~660 ms, 10 s in ~90 ms,
5 s in ~50 ms. Short windows can make greedy decoding loop, so the token budget follows the
audio's length, and a decode that hits it or repeats itself is thrown away: the caller decodes
the usual 30 s window instead. Word error rate per window: bench/quality.py --parts wer.
"""

from __future__ import annotations

import zlib
from typing import Any, NamedTuple

import numpy as np

RATE = 16000
FRAMES_PER_S = 100


class Decoded(NamedTuple):
    text: str
    score: float
    """The decode's mean log-probability per token."""
    dropped: str = ""
    """Words decoded and then taken for no speech (the no-speech probability over its threshold
    and a low score): `text` is empty then."""


def transcribe_window(model: Any, audio: np.ndarray, *, beam_size: int = 1, language: str | None = "en",
                      initial_prompt: str | None = None, min_window_s: float = 6.0, pad_s: float = 1.0,
                      no_speech_threshold: float = 0.6) -> Decoded | None:
    """The text of `audio` (at most 30 s) decoded on a window of its own length plus `pad_s`
    (at least `min_window_s`), or None when the decode looks wrong (it ran to its token budget
    or repeats itself). Blocking: call it from a worker thread. `model`: a faster_whisper
    WhisperModel."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    seconds = len(audio) / RATE
    if seconds + pad_s > 30:
        return None
    feats = model.feature_extractor(audio)
    frames = int(min(3000, max(min_window_s * FRAMES_PER_S, feats.shape[-1] + pad_s * FRAMES_PER_S)))
    frames += frames % 2  # the encoder's convolution halves the frames
    encoded = model.encode(pad_or_trim(feats, frames))
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                          language=language or "en")
    previous = tokenizer.encode(" " + initial_prompt.strip()) if initial_prompt else []
    prompt = model.get_prompt(tokenizer, previous, without_timestamps=True)
    budget = int(10 + 8 * seconds)  # ~3 words a second are ~4 tokens; a loop runs far past this
    (res,) = model.model.generate(encoded, [prompt], beam_size=beam_size, max_length=len(prompt) + budget,
                                  return_scores=True, return_no_speech_prob=True,
                                  suppress_tokens=get_suppressed_tokens(tokenizer, [-1]), suppress_blank=True)
    tokens = [t for t in res.sequences_ids[0] if t < tokenizer.eot]
    if len(tokens) >= budget:
        return None
    text = tokenizer.decode(tokens).strip()
    cum = res.scores[0] * max(1, len(tokens))
    if res.no_speech_prob > no_speech_threshold and cum / (len(tokens) + 1) < -1.0:
        return Decoded("", float(res.scores[0]), text)
    if len(text) > 12 and len(text) / max(1, len(zlib.compress(text.encode()))) > 2.4:
        return None  # one phrase over and over
    if _repeats(text):
        return None
    return Decoded(text, float(res.scores[0]))


def _repeats(text: str) -> bool:
    """A run of two or more words said again right after itself ("read that sign read that sign")."""
    w = [x.strip(".,!?").lower() for x in text.split()]
    return any(w[i:i + n] == w[i + n:i + 2 * n] for n in range(2, len(w) // 2 + 1) for i in range(len(w) - 2 * n + 1))
