"""Who is the assistant listening to: always, after a wake word, or while a key is held.

The gate sits before the VAD and passes the audio timeline on unchanged in length; while the
assistant is not listening, the samples are silence, so nothing downstream (VAD, recognizer,
the model) hears speech that was not addressed to it. After the wake word it listens until
`listen_s` have passed with neither the user speaking nor a reply of its own under way (so a
conversation goes on without saying the wake word each time). The detector is an engine
(microWakeWord by default, omni.engines.micro_wakeword) and runs on the stage's own thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from omni.engines.base import WakeWordDetector
from omni.engines.registry import pooled
from omni.frames import Cue, Frame, InputAudio, PushToTalk, WakeWord
from omni.runtime import Processor, QueueSpec, StageOptions
from omni.runtime.engines import EnginePool, Shared, is_own, stream_of
from omni.runtime.stage import ProgressFn

log = logging.getLogger(__name__)


def _chime(rate: int = 16000) -> np.ndarray:
    """Two short rising tones (150 ms), soft, with fades: "I'm listening"."""
    t = np.arange(int(0.075 * rate)) / rate
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
    tones = [np.sin(2 * np.pi * f * t) * fade for f in (880.0, 1318.5)]
    return (0.25 * np.concatenate(tones)).astype(np.float32)


CHIME = _chime()


class WakeOptions(StageOptions):
    mode: Literal["always", "wake_word", "push_to_talk"] = "always"
    engine: str = "micro-wakeword"
    """The wake-word engine (omni.engines.registry): built in, or package.module:Class."""
    engine_options: dict[str, Any] = Field(default_factory=dict)
    """Options of an engine of your own (it reads them from the stage's options)."""
    model: str = "hey_jarvis"
    """A bundled microWakeWord model (hey_jarvis, alexa, okay_nabu, hey_mycroft) or the path of
    a microWakeWord .json (its .tflite beside it)."""
    threshold: float | None = Field(None, gt=0, lt=1)
    """Detection probability (default: the model's own cutoff, e.g. 0.97 for hey_jarvis)."""
    listen_s: float = Field(6.0, gt=0)
    """After the wake word (or the last speech, or the end of the last reply), listen this long."""
    speech_dbfs: float = -45.0
    """Input louder than this counts as the user still speaking (keeps the gate open)."""
    ack: bool = True
    """Play a short chime when the wake word is heard."""
    release_ms: float = Field(300, ge=0)
    """Push-to-talk: keep listening this long after the key goes up (the end of the last word)."""


class WakeGate(Processor):
    """InputAudio -> InputAudio (silence while not listening) and WakeWord when it is heard."""

    Options = WakeOptions
    options: WakeOptions
    handles = (InputAudio, PushToTalk)
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=512)
    live_options: ClassVar[frozenset[str]] = frozenset({"threshold", "listen_s", "speech_dbfs"})

    def __init__(self, name: str, options: WakeOptions | None = None, budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        self._shared: Shared[WakeWordDetector] | None = None
        self._detector: WakeWordDetector | None = None
        self.phrase = ""
        self._cutoff = 0.5
        self._open_until = 0.0
        """Monotonic time until which the assistant listens (wake-word mode)."""
        self._pressed = False
        self._released_at = 0.0
        self.detections = 0

    @property
    def listening(self) -> bool:
        o = self.options
        now = time.monotonic()
        if o.mode == "always":
            return True
        if o.mode == "push_to_talk":
            return self._pressed or now - self._released_at < o.release_ms / 1000
        return now < self._open_until

    async def load(self, progress: ProgressFn) -> None:
        if self.options.mode != "wake_word":
            return
        self._shared = await wake_engine(self.engines, self.options, progress, user=self.name)
        self._detector = await self._shared.call(stream_of, self._shared.engine)
        self.phrase = self._detector.phrase
        self._cutoff = self._detector.cutoff

    async def aclose(self) -> None:
        if self._shared is not None and is_own(self._shared):
            self.engines.discard(self._shared)  # this session's own copy goes with it
        await self.release_engines()

    async def process(self, frame: InputAudio | PushToTalk) -> AsyncIterator[Frame]:
        o = self.options
        if isinstance(frame, PushToTalk):
            self._pressed = frame.pressed
            if not frame.pressed:
                self._released_at = time.monotonic()
            yield frame
            return
        if o.mode == "wake_word":
            was = self.listening
            assert self._shared is not None
            score, hit_at = await self._shared.call(self._detect, frame)
            if hit_at is not None:
                self.detections += 1
                if not was:
                    log.info("wake word %r heard (p %.3f)", self.phrase, score, extra={"stage": self.name})
                yield WakeWord(name=self.phrase, score=round(score, 3), at=hit_at, t=frame.t)
                if o.ack:
                    yield Cue(samples=CHIME, sample_rate=16000, at=hit_at, input_rate=frame.sample_rate, t=frame.t)
                self._open_until = time.monotonic() + o.listen_s
                # the words after the wake word, in this very chunk, are heard
                cut = hit_at - frame.start
                samples = frame.samples.copy()
                samples[:max(0, cut)] = 0.0
                yield InputAudio(samples=samples, sample_rate=frame.sample_rate, start=frame.start, t=frame.t)
                return
            if was:
                self._keep_open(frame)
        if self.listening:
            yield frame
        else:
            yield InputAudio(samples=np.zeros_like(frame.samples), sample_rate=frame.sample_rate,
                             start=frame.start, t=frame.t)

    def _keep_open(self, frame: InputAudio) -> None:
        """The user still talking, or a reply under way, keeps the assistant listening."""
        x = frame.samples
        level = 10 * np.log10(float(np.mean(x * x)) + 1e-12)
        busy = level > self.options.speech_dbfs or any(not s.done for s in self.floor.speeches()) \
            or self.floor.assistant_audible()
        if busy:
            self._open_until = max(self._open_until, time.monotonic() + self.options.listen_s)

    def _detect(self, frame: InputAudio) -> tuple[float, int | None]:
        """(best probability in this chunk, input sample of the detection or None). Runs on the
        stage's thread."""
        assert self._detector is not None, "load() first"
        best, hit = self._detector.detect(frame.samples, self.options.threshold or self._cutoff)
        return best, None if hit is None else frame.start + hit


WAKE_STAGE_ONLY = frozenset(set(WakeOptions.model_fields) - {"engine", "engine_options", "model"})


async def wake_engine(pool: EnginePool, options: WakeOptions, progress: ProgressFn,
                      user: str = "") -> Shared[WakeWordDetector]:
    """The process's wake-word model for these options; a stream of its own comes from
    `stream_of(shared.engine)` (on the engine's thread)."""
    return await pooled(pool, "wake", options, WAKE_STAGE_ONLY, progress, user, stateful=True)