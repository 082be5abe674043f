"""Voice activity and the end of the user's turn: speech found by a VAD engine (Silero by
default), the turn's end decided on a short pause by an end-of-turn engine (Smart Turn v3) and
the recognizer's words; barge-in over the assistant through the floor."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from omni.frames import (ClearInput, EndOfStream, EndTurn, Frame, InputAudio, SpeechPaused, SpeechStarted, SpeechStopped,
                         Turn, Utterance)
from omni.engines.base import EndOfTurn, VoiceActivity
from omni.engines.registry import pooled
from omni.engines.turn_words import sounds_finished
from omni.runtime import Processor, QueueSpec, StageOptions, Stopwatch
from omni.runtime.engines import EnginePool, Shared, is_own, stream_of
from omni.runtime.floor import BargeIn
from omni.runtime.stage import ProgressFn

log = logging.getLogger(__name__)

class EndOfTurnOptions(StageOptions):
    engine: str = "smart-turn"
    """The end-of-turn engine (omni.engines.registry): built in, or package.module:Class."""
    engine_options: dict[str, Any] = Field(default_factory=dict)
    """Options of an engine of your own (it reads them from the stage's options)."""
    model: str = "smart-turn-v3"
    """Bundled `smart-turn-v3` (from the pipecat-ai wheel) or a path to a Smart Turn v3 ONNX."""
    threshold: float = Field(0.7, gt=0, lt=1)
    """The turn ends when the model's probability that it is complete reaches this (finished
    questions score above 0.9 within 200 ms; a 600 ms pause after "about the" scored 0.49)."""
    pause_ms: int = Field(200, ge=32)
    """Silence after which the model is first asked."""
    recheck_ms: int = Field(200, ge=32)
    """While the silence goes on, the model is asked again this often."""
    max_silence_ms: int = Field(1200, ge=100)
    """The turn ends after this much silence whatever the model says."""
    words: bool = True
    """When the model heard no end, the recognizer's words at the pause may still end the turn:
    a complete sentence ("... on a clear day.", not "... about the") ends it once the silence
    reaches `words_after_ms`. Smart Turn says "not finished" after many complete sentences of
    voices it was not trained on (bench/quality.py)."""
    words_after_ms: int = Field(300, ge=0)
    """Silence after which finished-sounding words end the turn."""
    words_min_p: float = Field(0.0, ge=0, lt=1)
    """...and only if the model's probability of an end is at least this."""
    decode_at_pause: bool = True
    """Announce the pause (SpeechPaused: the recogniser decodes it, the dialogue may start a
    reply it holds) at `decode_after_ms` of silence, before the model is first asked, not after
    its first "not finished": a turn the model ends at once then has its transcript, and a reply
    under way, sooner. On 16 short turns (bench/waterfall.py, 2026-12-04), announced when the
    model was first asked: V2V p50 1,083 -> 962 ms, the pause decode reused on 4 -> 16 and the
    early reply used on 4 -> 13; the paused sentences were answered once, whole, 12 of 12 either
    way. False: the pause is announced only after the model's first "not finished"."""
    ask_at_pause: bool = False
    """With `decode_at_pause`, the model is asked when the pause is announced, on that audio,
    beside the decode; its answer is taken when the silence reaches `pause_ms` (the turn never
    ends sooner). False: asked at `pause_ms`, and the turn waits for the answer there. Measured
    2026-12-05 (bench/waterfall.py, two pairs of runs): end of turn p50 335-346 -> 228-235 ms,
    but the recogniser's pause decode, sharing the two cores, then ends the wait (end of turn
    and STT 341-346 -> 295-303 ms); V2V per-turn ratio 0.88 and 0.99. And with it a fast-path
    reply ("Timer set for 10 minutes.") began in a 300 ms hesitation before the user went on
    (bench/turn_taking.py --parts paused: 1 of 12, 0 without): off."""
    decode_after_ms: int | None = Field(None, ge=32)
    """With `decode_at_pause`, the silence after which the pause is announced: not before the
    VAD's `speech_pad_ms` (120 ms) of it is in, so the decode hears the audio the turn's final
    decode would (it is reused as it is), and not after `pause_ms`. None: at `speech_pad_ms`
    (on the VAD's 32 ms steps, 128 ms: 96 ms before the model is first asked). On 16 short turns
    (bench/waterfall.py, 2026-12-05) V2V p50 873 -> 780 ms against announcing it at `pause_ms`,
    15 of 16 turns sooner, every transcript the same. A pause the user goes on from after it
    costs a decode and the start of a reply, which are thrown away."""

    @model_validator(mode="after")
    def _ask_needs_the_pause(self) -> EndOfTurnOptions:
        if self.ask_at_pause and not self.decode_at_pause:
            raise ValueError("ask_at_pause asks the model when the pause is announced, which only "
                             "decode_at_pause does: set decode_at_pause: true, or ask_at_pause: false")
        return self


class SileroVADOptions(StageOptions):
    engine: str = "silero"
    """The voice-activity engine (omni.engines.registry): built in, or package.module:Class."""
    engine_options: dict[str, Any] = Field(default_factory=dict)
    """Options of an engine of your own (it reads them from the stage's options)."""
    model: str = "silero-v6"
    """Bundled name, or a path to a Silero VAD ONNX file (v5/v6 layouts both work)."""
    threshold: float = Field(0.5, gt=0, lt=1)
    """Speech probability at which speech starts."""
    neg_threshold: float | None = None
    """Probability below which speech counts as stopped (default threshold - 0.15)."""
    min_silence_ms: int = Field(400, ge=0)
    """Silence that ends an utterance (without an end-of-turn model)."""
    end_of_turn: EndOfTurnOptions | None = None
    """Decide the end of a turn with an end-of-turn model on a short pause instead of waiting
    for `min_silence_ms`: a mid-sentence pause does not end the turn, a finished question
    ends it quickly."""
    backchannel_ms: int = Field(600, ge=0)
    """Speech over the assistant shorter than this may be a backchannel ("mhm"): the assistant
    pauses and the transcript decides. Longer speech takes the turn at once."""
    half_duplex: bool = False
    """Ignore speech that starts while the assistant is audible (no echo canceller: the
    assistant would hear itself). The user cannot interrupt then."""
    min_speech_ms: int = Field(200, ge=0)
    """Shorter speech is dropped as noise."""
    speech_pad_ms: int = Field(120, ge=0)
    """Audio kept before and after the speech for the recognizer."""
    onset_back_ms: int = Field(250, ge=0)
    """Speech starts where the probability first rose past `neg_threshold` on its way to
    `threshold`, up to this long before it got there: after a long silence Silero's probability
    climbs slowly (170 ms from the first sound to 0.5 after 14 s of silence, 50 ms after 0.3 s),
    and the first word was cut ("Read that sign." heard as "that sign.")."""
    max_utterance_s: float = Field(30.0, gt=1)
    """An utterance is cut (and a new one started) at this length."""


class SileroVAD(Processor):
    """InputAudio -> InputAudio (passed on, for streaming recognition) and SpeechStarted /
    SpeechPaused / SpeechStopped / Utterance. Input audio is never dropped."""

    Options = SileroVADOptions
    options: SileroVADOptions
    handles = (InputAudio, EndTurn, ClearInput)
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=512)
    live_options: ClassVar[frozenset[str]] = frozenset({"threshold", "neg_threshold", "min_silence_ms",
                                                         "min_speech_ms", "backchannel_ms", "half_duplex"})

    def __init__(self, name: str, options: SileroVADOptions | None = None,
                 budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        self._model: VoiceActivity | None = None
        self._win = 512
        """Samples per VAD step (the engine's window)."""
        self._vad: Shared[VoiceActivity] | None = None
        self._turn_model: Shared[EndOfTurn] | None = None
        self.options_changed()
        self._pending = np.zeros(0, np.float32)   # samples not yet a full window
        self._pending_start = 0
        self._history: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        self._times: collections.deque[tuple[int, float]] = collections.deque()  # (chunk end, t)
        self._speaking = False
        self._start = 0
        self._onset = 0
        """Where the probability reached `threshold` (what backchannel_ms and min_speech_ms
        measure from; `_start`, up to onset_back_ms earlier, is where the audio starts)."""
        self._rising: collections.deque[int] = collections.deque()
        """Windows (positions) just before speech started whose probability was past neg_threshold."""
        self._silence_at: int | None = None
        self._last_voiced_end = 0
        self._last_dip: int | None = None  # most recent window below threshold while speaking
        self._continued = False  # the current utterance continues one cut at max length
        self._turn_id: int | None = None
        """Id of the turn the current speech becomes (reserved at its first pause)."""
        self.sample_rate = 16000
        self._eot: EndOfTurn | None = None
        self._asked_ms: float | None = None  # silence length when the model was last asked
        self._eot_p: float | None = None
        self._early: tuple[int, asyncio.Future[float]] | None = None
        """The model asked at the pause (ask_at_pause): where that silence began, and its answer."""
        self._how = "silence"
        self._silence_ms = 0.0  # audio time from the last speech sample to the decision
        self._barge = False  # this speech paused the assistant; took the turn or not yet decided
        self._candidate: Turn | None = None  # announced by SpeechPaused
        self._barge_in: BargeIn | None = None

    def options_changed(self) -> None:
        o = self.options
        self._neg = o.neg_threshold if o.neg_threshold is not None else max(0.01, o.threshold - 0.15)
        eot = o.end_of_turn
        self._decode_after_ms = 0 if eot is None else min(
            eot.pause_ms, max(32, o.speech_pad_ms, eot.decode_after_ms or 0))
        """Silence after which the pause is announced (with `decode_at_pause`)."""

    async def load(self, progress: ProgressFn) -> None:
        self._vad = await vad_engine(self.engines, self.options, progress, user=self.name)
        # the model is the process's; the stream's state is this session's own
        self._model = stream_of(self._vad.engine)
        self._win = self._model.window
        if self.options.end_of_turn is not None:
            eot = self.options.end_of_turn
            self._turn_model = await pooled(self.engines, "turn", eot, frozenset(), progress, self.name)
            self._eot = self._turn_model.engine

    async def aclose(self) -> None:
        if self._vad is not None and is_own(self._vad):
            self.engines.discard(self._vad)  # this session's own copy goes with it
        await self.release_engines()

    async def process(self, frame: InputAudio | EndTurn | ClearInput) -> AsyncIterator[Frame]:
        if isinstance(frame, EndTurn):
            ended: Turn | None = None
            async for out in self._commit():
                if isinstance(out, Utterance):
                    ended = out.turn
                yield out
            yield EndTurn(done=True, turn=ended)  # what the commit did, for whoever asked for it
            return
        if isinstance(frame, ClearInput):
            for out in self._clear():
                yield out
            yield frame
            return
        if frame.sample_rate != 16000:
            raise ValueError(f"Silero VAD needs 16 kHz audio, got {frame.sample_rate}")
        assert self._model is not None, "load() first"
        if not self._history and not len(self._pending):
            self._pending_start = frame.start
        self._history.append((frame.start, frame.samples))
        self._times.append((frame.start + len(frame.samples), frame.t))
        self._pending = np.concatenate([self._pending, frame.samples])
        yield frame
        n = len(self._pending) // self._win
        if n == 0:
            return
        windows = self._pending[: n * self._win].reshape(n, self._win)
        base = self._pending_start
        self._pending = self._pending[n * self._win:]
        self._pending_start += n * self._win
        assert self._vad is not None
        probs = await self._vad.call(self._model.probs, windows)
        for i, p in enumerate(probs):
            async for out in self._step(base + i * self._win, float(p), frame.t):
                yield out
        self._trim()

    async def _step(self, pos: int, p: float, t: float) -> AsyncIterator[Frame]:
        o = self.options
        sr = self.sample_rate
        if not self._speaking:
            if p >= o.threshold:
                if o.half_duplex and self.floor.assistant_audible(t):
                    self._rising.clear()  # never reach back into the assistant's own voice
                    return  # the assistant's own voice (or the user over it): not listening
                start = self._onset = pos
                while self._rising and self._rising[-1] == start - self._win and \
                        pos - self._rising[-1] <= o.onset_back_ms * sr // 1000:
                    start = self._rising.pop()
                self._rising.clear()
                self._speaking, self._start, self._silence_at = True, start, None
                self._last_dip = None
                self._asked_ms = self._eot_p = None
                self._last_voiced_end = pos + self._win
                yield SpeechStarted(start=self._start, sample_rate=sr, t=t)
                self._barge_in = BargeIn(onset=pos, sample_rate=sr, t=t)
                self._barge = self.floor.user_started(self._barge_in)
            elif p >= self._neg and not (o.half_duplex and self.floor.assistant_audible(t)):
                self._rising.append(pos)
                while len(self._rising) > 64:
                    self._rising.popleft()
            else:
                self._rising.clear()
            return
        if self._barge and pos + self._win - self._onset >= o.backchannel_ms * sr / 1000:
            self._barge = False  # too long for a backchannel: the user takes the turn
            self.floor.user_took_turn(self._barge_in)
        if p >= o.threshold:
            if self._candidate is not None:  # announced a pause; the user goes on
                yield SpeechStarted(start=pos, sample_rate=sr, t=t, resumed=True)
            self._silence_at = None
            self._asked_ms = None
            self._early = None  # asked of a pause the user went on from
            self._candidate = None
            self._last_voiced_end = pos + self._win
        else:
            self._last_dip = pos
            if p < self._neg and self._silence_at is None:
                self._silence_at = pos
        eot = o.end_of_turn
        if eot is not None and eot.decode_at_pause and self._eot is not None and self._silence_at is not None \
                and self._candidate is None and self._asked_ms is None and \
                (pos + self._win - self._silence_at) * 1000 / sr >= self._decode_after_ms:
            # decoded before and while the model decides (two cores: one each), reused if it ends here
            yield self._announce_pause(t)
            if eot.ask_at_pause:
                self._ask_early(pos)
        ended = self._silence_at is not None and await self._turn_ended(pos, t)
        if ended:
            assert self._silence_at is not None
            async for out in self._end(self._silence_at, truncated=False):
                yield out
        elif self._silence_at is not None and self._candidate is None and self._how == "model" and \
                self._asked_ms is not None:
            # the model heard no end yet, so the turn waits: recognition and the reply start now
            # on the turn this speech becomes if the pause does end it (the same Turn object
            # arrives in the Utterance then). Not before the first answer: when the model ends
            # the turn at once, work started at the pause would only compete with it for the CPU.
            yield self._announce_pause(t)
        elif pos + self._win - self._start >= o.max_utterance_s * sr:
            # cut at the latest dip in the last 3 s (a breath between words), else right here
            dip = self._last_dip
            cut = dip + self._win // 2 if dip is not None and dip > pos - 3 * sr else pos + self._win
            log.warning("utterance reached %.0f s: cutting it into a turn at %.2f s, listening on",
                        o.max_utterance_s, cut / sr, extra={"stage": self.name})
            self._how = "max_length"
            async for out in self._end(cut, truncated=True):
                yield out
            self._speaking, self._start, self._silence_at = True, cut, None
            self._onset = cut

    def _ask_early(self, pos: int) -> None:
        assert self._turn_model is not None and self._eot is not None and self._silence_at is not None
        pad = self.options.speech_pad_ms * self.sample_rate // 1000
        audio = self._slice(max(0, self._start - pad), pos + self._win)
        answer = asyncio.ensure_future(self._turn_model.call(self._eot.predict, audio))
        # one thrown away (the user went on) is not awaited: its fault, if any, is read here
        answer.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._early = (self._silence_at, answer)

    def _announce_pause(self, t: float) -> SpeechPaused:
        """The turn this speech becomes if the pause ends it (the same Turn object arrives in
        the Utterance then)."""
        assert self._silence_at is not None
        if self._turn_id is None:
            self._turn_id = self.floor.next_turn_id()
        self._candidate = Turn(id=self._turn_id, speech_start=self._start, speech_end=self._silence_at,
                               t_speech_end=self._time_of(self._silence_at - 1), sample_rate=self.sample_rate)
        return SpeechPaused(turn=self._candidate, t=t)

    async def _turn_ended(self, pos: int, t: float) -> bool:
        """Has the silence that began at `_silence_at` ended the turn?"""
        assert self._silence_at is not None
        silence = self._silence_ms = (pos + self._win - self._silence_at) * 1000 / self.sample_rate
        eot = self.options.end_of_turn
        if eot is None or self._eot is None:
            self._how = "silence"
            return silence >= self.options.min_silence_ms
        if silence >= eot.max_silence_ms:
            self._how = "max_silence"
            return True
        if silence < eot.pause_ms:
            return False
        if eot.words and self._candidate is not None and self._asked_ms is not None and \
                silence >= eot.words_after_ms and (self._eot_p or 0.0) >= eot.words_min_p:
            # (the model first: the words only end a turn it heard no end in)
            words = self.floor.words_at_pause(self._candidate)
            if words is not None and sounds_finished(words):
                self._how = "words"
                return True
        if self._asked_ms is not None and silence - self._asked_ms < eot.recheck_ms:
            return False
        early, self._early = self._early, None
        if early is not None and early[0] == self._silence_at and self._asked_ms is None:
            # the answer on the audio of the pause, asked when it was announced: the recheck
            # schedule counts from here, as if asked now
            self._asked_ms = silence
            self._eot_p = await early[1]
            self._how = "model"
            return self._eot_p >= eot.threshold
        self._asked_ms = silence
        pad = self.options.speech_pad_ms * self.sample_rate // 1000
        audio = self._slice(max(0, self._start - pad), pos + self._win)
        assert self._turn_model is not None
        self._eot_p = await self._turn_model.call(self._eot.predict, audio)
        self._how = "model"
        return self._eot_p >= eot.threshold

    async def _end(self, end: int, *, truncated: bool) -> AsyncIterator[Frame]:
        o = self.options
        sr = self.sample_rate
        self._speaking = False
        cand, self._candidate = self._candidate, None
        continued, self._continued = self._continued, truncated
        overlapped, self._barge = self._barge, False
        t_end = self._time_of(end - 1)
        if end - self._onset < o.min_speech_ms * sr / 1000:
            if overlapped:  # a cough or a click over the assistant: play on
                self.floor.user_backchannel(t_end)
            yield SpeechStopped(end=end, dropped=True, t=t_end)
            return
        yield SpeechStopped(end=end, t=t_end)
        pad = o.speech_pad_ms * sr // 1000
        # a continuation of a cut utterance starts exactly at the cut: no audio twice
        head = 0 if continued else pad
        audio = self._slice(max(0, self._start - head), end + (0 if truncated else pad))
        tid = self._turn_id if self._turn_id is not None else self.floor.next_turn_id()
        self._turn_id = None
        if cand is not None and cand.id == tid and cand.speech_end == end and cand.speech_start == self._start:
            turn = cand
        else:
            turn = Turn(id=tid, speech_start=self._start, speech_end=end, t_speech_end=t_end,
                        sample_rate=sr)
        extra: dict[str, object] = {"end_of_turn": self._how, "silence_ms": round(self._silence_ms, 1)}
        if self._eot_p is not None:
            extra["eot_p"] = round(self._eot_p, 3)
        self.report(turn, Stopwatch(t_end).ms, **extra)
        self.floor.speech(turn)  # a reply is owed from now: speech that follows may interrupt it
        yield Utterance(turn=turn, samples=audio, sample_rate=sr, truncated=truncated,
                        overlapped=overlapped, ended_by=self._how)

    async def _commit(self) -> AsyncIterator[Frame]:
        """The turn ends now (a client's commit, push-to-talk let go)."""
        if not self._speaking:  # the turn ended already (or nothing was said): nothing to do
            log.info("commit: no speech in progress", extra={"stage": self.name})
            return
        self._how = "commit"
        async for out in self._end(self._last_voiced_end, truncated=False):
            yield out

    def _clear(self) -> list[Frame]:
        """Forget the speech of this turn so far (a client's clear): nothing is transcribed."""
        if not self._speaking:
            return []
        t = self._times[-1][1] if self._times else time.monotonic()
        if self._barge:  # it paused the assistant: play on
            self.floor.user_backchannel(t)
        self._speaking, self._barge, self._candidate, self._turn_id = False, False, None, None
        self._silence_at = self._asked_ms = self._eot_p = self._early = None
        log.info("input cleared: the speech so far is dropped", extra={"stage": self.name})
        return [SpeechStopped(end=self._last_voiced_end, dropped=True, t=t)]

    async def finish(self, eos: EndOfStream) -> AsyncIterator[Frame]:
        if self._speaking:
            self._how = "end_of_stream"
            async for out in self._end(self._last_voiced_end, truncated=False):
                yield out

    def _time_of(self, sample: int) -> float:
        for chunk_end, t in self._times:
            if sample < chunk_end:
                return t
        return self._times[-1][1]

    def _slice(self, a: int, b: int) -> np.ndarray:
        parts = []
        for start, x in self._history:
            lo, hi = max(a, start), min(b, start + len(x))
            if lo < hi:
                parts.append(x[lo - start: hi - start])
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def _trim(self) -> None:
        """Keep only the audio an utterance may still need."""
        o = self.options
        keep_from = (self._start if self._speaking else self._pending_start - o.onset_back_ms * 16) - \
            (o.speech_pad_ms + 2 * self._win * 1000 // 16000) * 16
        while self._history and self._history[0][0] + len(self._history[0][1]) < keep_from:
            self._history.popleft()
        while len(self._times) > 1 and self._times[0][0] < keep_from:
            self._times.popleft()


VAD_STAGE_ONLY = frozenset(set(SileroVADOptions.model_fields) - {"engine", "engine_options", "model"})


async def vad_engine(pool: EnginePool, options: SileroVADOptions, progress: ProgressFn,
                     user: str = "") -> Shared[VoiceActivity]:
    """The process's voice-activity model for these options (loaded on first use). A stream of
    its own comes from `stream_of(shared.engine)`."""
    return await pooled(pool, "vad", options, VAD_STAGE_ONLY, progress, user, stateful=True)