"""Standalone calls: the process's engines used without a pipeline or a session.

    calls = Calls(engines, load_pipeline("desktop"))
    heard = await calls.transcribe(audio, 16000)          # -> Heard(text, language, confidence)
    async for chunk in calls.speak("Hello there."): ...   # float32 audio at calls.sample_rate
    async for piece in calls.answer([{"role": "user", "content": "Hi"}]): ...   # reply text
    probs = await calls.speech(audio, 16000)              # VAD: one probability per window
    hit = await calls.wake(audio, 16000)                  # (best probability, offset or None)

Each takes its engine from the pool (loading it on first use) with the options the pipeline
gives its stage, so a call and a session on the same pipeline share one copy. Each call is timed
against that stage's budget (`last` holds the figures; an overrun is logged as the stages log
theirs). REST endpoints and Wyoming's short requests stand on these.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import soxr

from omni.config import PipelineConfig
from omni.dialogue.router import RouteRecord, Router
from omni.dialogue.types import ChatRequest, Delta, Message, TextDelta, ToolCallDelta
from omni.engines.base import Heard
from omni.errors import ConfigError, InputError
from omni.runtime.engines import EnginePool, stream_of
from omni.runtime.stage import Stage
from omni.stages import build_stage
from omni.stages.dialogue import Dialogue, chat_backend
from omni.stages.stt import WhisperSTT, stt_engine
from omni.stages.tts import PiperTTS, tts_engine
from omni.stages.vad import SileroVAD, vad_engine
from omni.stages.wake import WakeGate, wake_engine

log = logging.getLogger(__name__)

RATE = 16000


@dataclass
class Timed:
    """The figures of one call."""

    call: str
    ms: float
    """Until its result (transcribe, speech, wake) or its first piece (speak, answer)."""
    budget_ms: float | None
    total_ms: float | None = None

    @property
    def over(self) -> bool:
        return self.budget_ms is not None and self.ms > self.budget_ms


class Calls:
    """The standalone calls of one pipeline's engines (see the module's docstring)."""

    def __init__(self, engines: EnginePool, cfg: PipelineConfig) -> None:
        self.engines = engines
        self.cfg = cfg
        self._stages: dict[type[Stage], Stage] = {}
        for sc in cfg.stages:
            stage = build_stage(sc)  # options and budget only: nothing loads here
            self._stages.setdefault(type(stage), stage)
        self.last: dict[str, Timed] = {}
        """The figures of the latest call of each kind."""
        self._router: Router | None = None

    def _stage(self, cls: type[Stage], what: str) -> Any:
        stage = self._stages.get(cls)
        if stage is None:
            raise ConfigError(f"pipeline {self.cfg.name!r} has no {what} stage")
        return stage

    @property
    def actions(self) -> dict[str, Any]:
        """The pipeline's allow-list of device actions (omni.dialogue.tools.ActionSpec by name)."""
        stage = self._stages.get(Dialogue)
        return {a.name: a for a in stage.options.actions} if isinstance(stage, Dialogue) else {}

    def _timed(self, call: str, stage: Stage, t0: float, total: bool = False) -> Timed:
        ms = (time.monotonic() - t0) * 1000
        t = self.last.get(call) if total else None
        if t is not None:
            t.total_ms = ms
            return t
        t = self.last[call] = Timed(call, ms, stage.budget_ms)
        if t.over:
            log.warning("%s took %.0f ms (budget %.0f ms)", call, ms, stage.budget_ms,
                        extra={"stage": stage.name, "latency_ms": ms})
        return t

    # speech to text -------------------------------------------------------------------------
    async def transcribe(self, audio: np.ndarray, sample_rate: int) -> Heard:
        """One utterance (mono, any rate) -> what was heard."""
        stage: WhisperSTT = self._stage(WhisperSTT, "speech-to-text")
        x = _mono16k(audio, sample_rate)
        shared = await stt_engine(self.engines, stage.options, _quiet, user="calls")
        t0 = time.monotonic()
        heard = Heard.of(await shared.call(shared.engine.transcribe, x))
        self._timed("transcribe", stage, t0)
        return heard

    # text to speech -------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        """The rate of `speak`'s audio (known once the voice is loaded; piper voices: 22050)."""
        stage: PiperTTS = self._stage(PiperTTS, "text-to-speech")
        return stage.sample_rate

    async def speak(self, text: str, **options: Any) -> AsyncIterator[np.ndarray]:
        """Text -> float32 audio chunks as they are made, at `sample_rate`. `options` override
        the pipeline's TTS options for this call (voice, length_scale, volume, speaker_id); a
        voice of another rate is at `rate_of(voice)`."""
        stage: PiperTTS = self._stage(PiperTTS, "text-to-speech")
        if not text.strip():
            raise InputError("nothing to say: the text is empty")
        opts = stage.options.model_copy(update=options) if options else stage.options
        if options:
            opts = type(stage.options).model_validate(opts.model_dump())
        shared = await tts_engine(self.engines, opts, _quiet, user="calls")
        if not options:  # the pipeline's own voice: its rate is `sample_rate`
            stage.sample_rate = shared.engine.sample_rate
        voice = shared.engine

        def make() -> Iterator[np.ndarray]:
            voice.configure(opts)  # on the voice's thread, with nothing else running there
            yield from voice.synthesize(text)

        t0 = time.monotonic()
        first = True
        stream = shared.stream(make, buffer=4)
        async with contextlib.aclosing(stream):
            async for chunk in stream:
                if first:
                    self._timed("speak", stage, t0)
                    first = False
                yield chunk
        self._timed("speak", stage, t0, total=True)

    async def rate_of(self, voice: str) -> int:
        """The sample rate of a voice (loading it if no session has)."""
        stage: PiperTTS = self._stage(PiperTTS, "text-to-speech")
        opts = type(stage.options).model_validate({**stage.options.model_dump(), "voice": voice})
        return (await tts_engine(self.engines, opts, _quiet, user="calls")).engine.sample_rate

    # the chat router ------------------------------------------------------------------------
    async def answer(self, messages: list[Message], *, max_tokens: int | None = None,
                     temperature: float | None = None) -> AsyncIterator[str]:
        """Chat messages (OpenAI form) -> the reply's text as it is written, from the first
        backend of the pipeline's routing that answers (failover as in a turn). No intents, no
        tools, no history: only what is given."""
        stream = self.chat(messages, max_tokens=max_tokens, temperature=temperature)
        async with contextlib.aclosing(stream):
            async for d in stream:
                if isinstance(d, TextDelta) and d.text:
                    yield d.text

    async def chat(self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None,
                   tool_choice: str = "auto", max_tokens: int | None = None, temperature: float | None = None,
                   record: RouteRecord | None = None) -> AsyncIterator[Delta]:
        """`answer` with the router's own deltas: text, the tool calls the model asks for (from
        `tools`, OpenAI schemas; nothing is run here) and the usage at the end. `record` gets the
        backend that answered, the attempts, the usage and the cost."""
        stage: Dialogue = self._stage(Dialogue, "dialogue")
        if not messages:
            raise InputError("no messages to answer")
        router = await self._routed(stage)
        o = stage.options
        req = ChatRequest(messages=list(messages), tools=list(tools or []), max_tokens=max_tokens or o.max_tokens,
                          temperature=o.temperature if temperature is None else temperature,
                          tool_choice=tool_choice if tools else "none", schemas=True)
        last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        plan = router.plan(str(last), stage.budget_ms)
        t0 = time.monotonic()
        first = True
        stream = router.stream(req, plan, record if record is not None else RouteRecord(),
                               stage.act_after_ms("failover"))
        async with contextlib.aclosing(stream):
            async for d in stream:
                if first and ((isinstance(d, TextDelta) and d.text) or isinstance(d, ToolCallDelta)):
                    self._timed("answer", stage, t0)
                    first = False
                yield d
        self._timed("answer", stage, t0, total=True)

    async def _routed(self, stage: Dialogue) -> Router:
        if self._router is None:
            for name, b in list(stage.backends.items()):
                if stage.options.routing.offline_only and not b.offline:
                    continue
                stage.backends[name] = (await chat_backend(self.engines, b, _quiet, user="calls")).engine
            self._router = stage.router  # its backends dict is the one just filled
        return self._router

    # voice activity, wake word --------------------------------------------------------------
    async def speech(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Audio -> the VAD's speech probability per window (its `window` samples at 16 kHz)."""
        stage: SileroVAD = self._stage(SileroVAD, "voice-activity")
        x = _mono16k(audio, sample_rate)
        shared = await vad_engine(self.engines, stage.options, _quiet, user="calls")
        t0 = time.monotonic()

        def run() -> np.ndarray:
            vad = stream_of(shared.engine)  # a stream of its own, fresh
            vad.reset()
            n = len(x) // vad.window
            return vad.probs(x[: n * vad.window].reshape(n, vad.window)) if n else np.zeros(0, np.float32)

        probs = await shared.call(run)
        self._timed("speech", stage, t0)
        return probs

    async def wake(self, audio: np.ndarray, sample_rate: int, threshold: float | None = None,
                   model: str | None = None) -> tuple[float, int | None]:
        """Audio -> (best wake-word probability, 16 kHz offset of the detection or None), with
        the pipeline's wake word or `model` (another bundled one, loaded once)."""
        stage: WakeGate = self._stage(WakeGate, "wake word")
        x = _mono16k(audio, sample_rate)
        opts = stage.options if model is None else stage.options.model_copy(update={"model": model})
        shared = await wake_engine(self.engines, opts, _quiet, user="calls")
        t0 = time.monotonic()

        def run() -> tuple[float, int | None]:
            detector = stream_of(shared.engine)  # fresh state: this audio alone
            return detector.detect(x, shared.engine.cutoff if threshold is None else threshold)

        result = await shared.call(run)
        self._timed("wake", stage, t0)
        return result


def _mono16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    x = np.asarray(audio)
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1 or not len(x):
        raise InputError(f"expected mono audio samples, got shape {x.shape}")
    x = x.astype(np.float32, copy=False)
    return x if sample_rate == RATE else soxr.resample(x, sample_rate, RATE).astype(np.float32)


def _quiet(what: str, fraction: float | None) -> None:
    if fraction is None:
        log.info("%s", what, extra={"stage": "engines"})
