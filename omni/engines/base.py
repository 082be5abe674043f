"""The engine interfaces: what a stage needs from the model behind it, and what it can do.

A stage owns the frames, the timing and the turn-taking; an engine owns a model. Every engine
class is made by `load(options, progress)`: a blocking classmethod the stage calls on its own
worker thread (never on the event loop), which finds the model, loads it and warms it up. Its
other methods are blocking too, and are called on that same thread. `capabilities` says what it
can do beyond the minimum (see docs/extending.md for a worked example).

Engines are named in a pipeline file by the stage's `engine` option: a built-in name
(`omni.engines.registry.BUILTIN`) or `package.module:Class` for one of your own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, Protocol

import numpy as np

from omni.runtime.stage import ProgressFn


@dataclass(frozen=True)
class Capabilities:
    streaming: bool = False
    """Gives results while its input is still coming (audio chunks as a sentence is made, words
    as the user speaks). A non-streaming engine is made to stream by its stage: the STT stage
    decodes the growing utterance for partials, the TTS stage speaks sentence by sentence."""


class Engine(Protocol):
    capabilities: ClassVar[Capabilities]

    @classmethod
    def load(cls, options: Any, progress: ProgressFn) -> Engine:
        """Find, load and warm up the model for these (the stage's) options. Blocking."""
        ...

    def close(self) -> None:
        """Release the model (optional; called from the stage's `aclose`)."""
        ...


class Heard(NamedTuple):
    """What a recogniser heard."""

    text: str
    language: str | None = None
    confidence: float | None = None
    """The recogniser's mean log-probability per token (whisper: near 0 for clear speech, lower
    for a guess); None when the engine gives none."""

    @classmethod
    def of(cls, result: Heard | tuple[str, str | None]) -> Heard:
        """An engine's result: a Heard, or the (text, language) pair an engine may return."""
        return result if isinstance(result, Heard) else cls(*result)


class SpeechToText(Engine, Protocol):
    def transcribe(self, audio: np.ndarray) -> Heard | tuple[str, str | None]:
        """16 kHz float32 mono speech -> Heard(text, language, confidence), or (text, language)."""
        ...

    def spare(self, threads: int) -> SpeechToText:
        """A second instance for a second thread (partial transcripts beside final ones)."""
        ...


class VoiceActivity(Engine, Protocol):
    window: int
    """Samples (16 kHz) per step."""

    def reset(self) -> None:
        """Forget the stream so far."""
        ...

    def probs(self, windows: np.ndarray) -> np.ndarray:
        """(n, window) float32 -> n speech probabilities, in stream order."""
        ...


class EndOfTurn(Engine, Protocol):
    def predict(self, audio: np.ndarray) -> float:
        """The user's audio so far (16 kHz) -> probability that they have finished their turn."""
        ...


class TextToSpeech(Engine, Protocol):
    sample_rate: int

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Text -> float32 mono audio chunks (one, or several as they are made if streaming)."""
        ...

    def configure(self, options: Any) -> None:
        """Options changed while running (rate, volume)."""
        ...


class EchoCancellation(Engine, Protocol):
    frame: int
    """Samples (16 kHz) per call."""

    def process(self, mic: np.ndarray, far: np.ndarray) -> np.ndarray:
        """One frame of int16 microphone and far-end (speaker) audio -> the microphone with the
        far end's echo removed (int16)."""
        ...


class WakeWordDetector(Engine, Protocol):
    phrase: str
    """The phrase it listens for, as a person would write it."""
    cutoff: float
    """The model's own detection threshold."""

    def detect(self, samples: np.ndarray, threshold: float) -> tuple[float, int | None]:
        """A chunk of 16 kHz audio -> (best probability in it, offset of a detection or None)."""
        ...
