"""Speech to text: the stage that makes a non-streaming STT engine (faster-whisper by default)
stream, and decides from the words whether speech over the assistant takes the turn."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from omni.engines.turn_words import unfinished
from omni.engines.base import Heard, SpeechToText
from omni.engines.registry import pooled
from omni.engines.whisper import split_long
from omni.frames import (EndOfStream, Frame, InputAudio, PartialTranscript, ReplyDone, SpeechPaused,
                         SpeechStarted, SpeechStopped, Transcript, Turn, Utterance)
from omni.runtime import Processor, QueueSpec, StageOptions, Stopwatch
from omni.runtime.engines import EnginePool, Shared
from omni.runtime.stage import ProgressFn

log = logging.getLogger(__name__)

__all__ = ["BACKCHANNELS", "WhisperOptions", "WhisperSTT", "is_backchannel", "split_long"]


class WhisperOptions(StageOptions):
    engine: str = "faster-whisper"
    """The STT engine (omni.engines.registry): built in, or package.module:Class. The options
    below from `model` to `max_piece_s` are faster-whisper's."""
    engine_options: dict[str, Any] = Field(default_factory=dict)
    """Options of an engine of your own (it reads them from the stage's options)."""
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
    partial_every_ms: int = Field(1000, ge=0)
    """While the user speaks, decode the growing utterance this often (0: no partials)."""
    partial_after_ms: int = Field(2000, ge=0)
    """First partial after this much speech. On 2 cores a partial decode still running when a
    short question ends delays its final transcript (~85 ms at the STT median in the bench), so
    short questions get none; long utterances stream."""
    speech_pad_ms: int = Field(120, ge=0)
    """Audio around the speech decoded at a pause (the VAD's speech_pad_ms)."""
    hold_ms: int = Field(700, ge=0)
    """A turn the end-of-turn model ended on a word no sentence ends on ("about the") waits
    this long for the user to go on before it counts as over (0: never waits)."""
    merge_within_s: float = Field(2.0, ge=0)
    """A turn the user went on from this soon, before a word of its reply was audible (a held
    turn, or one ended at a pause in mid-sentence), is decoded again with the next as one
    sentence; the next turn's transcript has all its words (0: each part on its own)."""
    backchannels: list[str] = Field(default_factory=lambda: list(BACKCHANNELS))
    """Said over the assistant, these only acknowledge: the assistant goes on talking."""
    window: bool = True
    """Decode each utterance on an encoder window of its own length (at least `min_window_s`)
    instead of whisper's 30 s; a decode that looks wrong there, or words taken for no speech
    that scored like words, is made again on 30 s (see omni.engines.whisper_window and
    omni.engines.whisper.RETRY_ABOVE; bench/quality.py --parts wer)."""
    min_window_s: float = Field(15.0, ge=1, le=30)
    """Shorter windows lose words (quality set WER: 6 s 0.32, 10 s 0.18, 15 s 0.17, 30 s 0.17)."""
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


class WhisperSTT(Processor):
    """Streaming recognition: InputAudio (while the user speaks) -> PartialTranscript; at a
    pause -> a tentative Transcript of the turn that pause may end; Utterance -> Transcript.

    Decodes run in the background on the stage's worker thread, one at a time, so audio keeps
    flowing; their results go out as soon as they are done (`wake_on`), even while no frame
    comes (the VAD waiting for its end-of-turn model). The final
    transcript reuses the decode made at the pause when the turn ended there (same audio).
    """

    Options = WhisperOptions
    options: WhisperOptions
    handles = (InputAudio, SpeechStarted, SpeechPaused, Utterance)
    input_queue: ClassVar[QueueSpec] = QueueSpec(size=256)
    over_budget_actions = frozenset({"partial"})
    """partial: a final decode past the budget gives way to the last words already decoded (at the
    pause, or a partial transcript); the final decode finishes unheard, and is logged."""

    def __init__(self, name: str, options: WhisperOptions | None = None,
                 budget_ms: float | None = None) -> None:
        super().__init__(name, options, budget_ms)
        self._stt: Shared[SpeechToText] | None = None
        self._partial_stt: Shared[SpeechToText] | None = None
        self._partial: _Job | None = None
        self._audio = _Recent()
        self._speech_start: int | None = None
        self._job: _Job | None = None
        self._decoded_to = 0
        self._hyps: list[str] = []
        self._stable = ""
        self._spec: tuple[Turn, Heard] | None = None  # the decode made at a pause
        self._held: _Held | None = None
        self._last: Turn | None = None  # the last turn given a final transcript
        self._paused = False
        self.partials = 0
        self.reused = 0

    async def load(self, progress: ProgressFn) -> None:
        self._stt = await stt_engine(self.engines, self.options, progress, user=self.name)
        if self.options.partial_every_ms:
            # partials get their own copy of the model on one thread, so the decode that ends a
            # turn never waits behind one (one spare per process, shared like the first)
            self._partial_stt = await self.engines.derive(
                self._stt, "partials", lambda e: e.spare(1), progress,
                "loading speech-to-text for partial transcripts", user=self.name)

    @property
    def _engine(self) -> SpeechToText | None:
        return self._stt.engine if self._stt is not None else None

    @property
    def _partial_engine(self) -> SpeechToText | None:
        return self._partial_stt.engine if self._partial_stt is not None else None

    @property
    def window_fallbacks(self) -> int:
        """Decodes made again on whisper's 30 s window (the short one looked wrong, or took
        words for no speech), by every session of the process (the engine is shared)."""
        return sum(getattr(e, "window_fallbacks", 0) for e in (self._engine, self._partial_engine) if e)

    def transcribe(self, audio: np.ndarray, engine: SpeechToText | None = None) -> Heard:
        """Blocking: call from the stage's worker thread (or a thread of your own, not the loop)."""
        engine = engine or self._engine
        assert engine is not None, "load() first"
        return Heard.of(engine.transcribe(audio))

    async def transcribe_audio(self, samples: np.ndarray, sample_rate: int) -> Heard:
        """Audio from outside the stream (a client's audio item) through this session's
        recogniser, in turn with its other decodes; any rate."""
        x = np.asarray(samples, np.float32)
        if sample_rate != 16000:
            import soxr

            x = soxr.resample(x, sample_rate, 16000).astype(np.float32)
        return await self._call(self.transcribe, x)

    async def process(self, frame: Frame) -> AsyncIterator[Frame]:
        for out in self._collect():
            yield out
        for out in self._release_held():
            yield out
        if isinstance(frame, InputAudio):
            self._audio.add(frame.start, frame.samples)
            self._maybe_partial()
            return  # the audio ends here
        if isinstance(frame, SpeechStarted):
            self._paused = False
            if self._held is not None and not frame.resumed:
                self._held.went_on = True
            if not frame.resumed:
                self._speech_start = frame.start
                self._hyps, self._stable = [], ""
                self._decoded_to = frame.start
        elif isinstance(frame, SpeechStopped) and frame.dropped and self._held is not None:
            self._held.went_on = False  # a click or a cough: the hold runs out as before
        elif isinstance(frame, SpeechPaused):
            self._paused = True  # no partials of the silence
            t = frame.turn
            pad = self._pad
            audio = self._audio.slice(max(0, t.speech_start - pad), t.speech_end + pad)
            self._start_job("pause", audio, t)
        elif isinstance(frame, Utterance):
            async for out in self._final(frame):
                yield out
            return
        yield frame

    @property
    def _pad(self) -> int:
        return self.options.speech_pad_ms * 16

    def _start_job(self, kind: str, audio: np.ndarray, turn: Turn | None = None, end: int = 0) -> None:
        if kind == "partial":
            assert self._partial_stt is not None
            task = asyncio.ensure_future(self._partial_stt.call(self.transcribe, audio, self._partial_engine))
            self._partial = _Job(kind, task, None, end)
            return
        prev = self._job.task if self._job is not None else None

        async def run() -> Heard:
            if prev is not None:
                await asyncio.wait({prev})
            return await self._call(self.transcribe, audio)

        self._job = _Job(kind, asyncio.ensure_future(run()), turn, end)

    def _maybe_partial(self) -> None:
        o = self.options
        if self._speech_start is None or self._paused or self._partial_engine is None or self._partial is not None:
            return
        end = self._audio.end
        if end - self._decoded_to < o.partial_every_ms * 16 or end - self._speech_start < o.partial_after_ms * 16:
            return
        self._decoded_to = end
        self._start_job("partial", self._audio.slice(max(0, self._speech_start - self._pad), end), end=end)

    def wake_on(self) -> asyncio.Future[Any] | None:
        """A decode under way: its transcript goes on when it is done, not with the next frame
        (none comes while the VAD waits for the end-of-turn model, so the reply that the pause's
        transcript starts would wait for the turn's end)."""
        tasks = [j.task for j in (self._job, self._partial) if j is not None]
        return next((t for t in tasks if t.done()), tasks[0] if tasks else None)

    async def tick(self) -> AsyncIterator[Frame]:
        for out in self._collect():
            yield out

    def _collect(self) -> list[Frame]:
        out = []
        for attr in ("_job", "_partial"):
            job = getattr(self, attr)
            if job is not None and job.task.done():
                setattr(self, attr, None)
                out += self._result(job)
        return out

    def _result(self, job: _Job) -> list[Frame]:
        if job.task.cancelled() or job.task.exception() is not None:
            if not job.task.cancelled():
                log.warning("a streaming decode failed: %s", job.task.exception(), extra={"stage": self.name})
            return []
        heard: Heard = job.task.result()
        text = heard.text
        if job.kind == "pause":
            assert job.turn is not None
            self._spec = (job.turn, heard)
            self.floor.heard_at_pause(job.turn, text)  # the VAD may end the turn on these words
            if not text:
                return []
            return [Transcript(turn=job.turn, text=text, language=heard.language, confidence=heard.confidence,
                               tentative=True)]
        if self._speech_start is None:
            return []  # the utterance ended meanwhile; its final transcript says it all
        self._hyps = [*self._hyps[-1:], text]
        if len(self._hyps) == 2:
            common = _common_prefix(*self._hyps)
            if len(common.split()) > len(self._stable.split()):
                self._stable = common
        self.partials += 1
        return [PartialTranscript(text=text, stable=self._stable, start=self._speech_start, end=job.end)]

    async def _final(self, frame: Utterance) -> AsyncIterator[Frame]:
        sw = Stopwatch()
        held, self._held = self._held, None
        if held is not None:
            # the user went on after a turn that stopped mid-phrase, however short this speech
            # (a one-word "France?" is under backchannel_ms): the held turn is not answered,
            # this one is heard from its start (or, merge_within_s 0, carries its words)
            self.floor.user_took_turn(keep=frame.turn)
            if self.options.merge_within_s:
                yield ReplyDone(turn=held.transcript.turn, text="", reason="continued")
            else:
                yield held.transcript  # to an interrupted turn: the dialogue carries its words
                held = None
        if self._job is not None:
            await asyncio.wait({self._job.task})
            for out in self._collect():
                if isinstance(out, Transcript):
                    yield out  # the tentative one: the dialogue may already start
        spec, self._spec = self._spec, None
        earlier = (spec[1] if spec is not None and spec[0].id == frame.turn.id else
                   Heard(self._hyps[-1]) if self._hyps else None)
        self._hyps, self._stable = [], ""  # (a turn cut at max_utterance_s starts with no SpeechStarted)
        self._speech_start = None
        self._paused = False
        reused = spec is not None and spec[0] is frame.turn and not frame.truncated
        since = held.transcript.turn if held is not None else None
        gave_way = False
        if since is not None:
            heard = Heard("")  # decoded whole, from the held turn on, below: not this part alone
        elif reused:
            assert spec is not None
            heard = spec[1]
            self.reused += 1
        else:
            heard, gave_way = await self._decode_within(frame, sw, earlier)
        text = heard.text
        if since is None:
            acted = {"over_budget": "partial"} if not reused and gave_way else {}
            self.report(frame.turn, sw.ms, audio_s=round(len(frame.samples) / frame.sample_rate, 2),
                        reused_pause_decode=reused, **acted)
            log.info("turn %d heard: %r", frame.turn.id, text,
                     extra={"stage": self.name, "turn": frame.turn.id})
        if frame.overlapped and held is None:  # said over the assistant, which is paused: go on, or give way
            if is_backchannel(text, self.options.backchannels):
                self.floor.user_backchannel(time.monotonic())
                yield ReplyDone(turn=frame.turn, text="", reason="backchannel")
                return
            self.floor.user_took_turn(keep=frame.turn)
        if since is None and not gave_way:  # (having given way, no slower decode of the whole either)
            since = self._went_on_from(frame.turn)
        self._last = frame.turn
        if since is not None:
            # one sentence with a pause in it: the words after the pause alone are often misheard
            # ("France?" as "Friends."), so the whole of it is decoded again, from the first part
            whole = self._audio.slice(max(0, since.speech_start - self._pad), frame.turn.speech_end + self._pad)
            heard = await self._call(self.transcribe, whole)
            text = heard.text
            log.info("turn %d goes on from turn %d: heard as one: %r", frame.turn.id, since.id, text,
                     extra={"stage": self.name, "turn": frame.turn.id})
            if held is not None:  # (otherwise this part was reported above, decoded alone)
                self.report(frame.turn, sw.ms, audio_s=round(len(whole) / frame.sample_rate, 2),
                            reused_pause_decode=False)
        if frame.ended_by == "model" and self.options.hold_ms and unfinished(text):
            # the end-of-turn model heard an end, the words say otherwise ("... about the"):
            # wait a moment for the user to go on before the turn counts as over
            log.info("turn %d ends mid-phrase (%r): waiting %d ms for more", frame.turn.id,
                     text.split()[-1], self.options.hold_ms, extra={"stage": self.name})
            self._held = _Held(Transcript(turn=frame.turn, text=text, language=heard.language,
                                          confidence=heard.confidence),
                               time.monotonic() + self.options.hold_ms / 1000)
            return
        yield Transcript(turn=frame.turn, text=text, language=heard.language, confidence=heard.confidence,
                         since=since.id if since else None)

    async def _decode_within(self, frame: Utterance, sw: Stopwatch, earlier: Heard | None) -> tuple[Heard, bool]:
        """The final decode of `frame`; with `over_budget: partial`, past the budget the words
        decoded `earlier` instead (True: it gave way; the final decode runs on, and what it
        heard is logged)."""
        task = asyncio.ensure_future(self._call(self.transcribe, frame.samples))
        after = self.act_after_ms("partial")
        if after is None or earlier is None or not earlier.text:
            return await task, False
        try:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, after - sw.ms) / 1000)
        except asyncio.CancelledError:
            task.add_done_callback(_retrieved)  # it runs on in the worker; its fault is logged there
            raise
        if done:
            return task.result(), False
        log.warning("turn %d: the final decode is past %.0f ms; answering the words heard so far: %r",
                    frame.turn.id, after, earlier.text, extra={"stage": self.name, "turn": frame.turn.id})

        def late(t: asyncio.Future[Heard]) -> None:
            if not t.cancelled() and t.exception() is None:
                log.info("turn %d: the final decode, %.0f ms late, heard %r", frame.turn.id, sw.ms - after,
                         t.result().text, extra={"stage": self.name, "turn": frame.turn.id})

        task.add_done_callback(late)
        return earlier, True

    def _went_on_from(self, turn: Turn) -> Turn | None:
        """The turn before `turn`, if the user went on from it before a word of its reply was
        audible (`merge_within_s` later at most): `turn` continues its sentence."""
        last = self._last
        if last is None or not self.options.merge_within_s or last.id >= turn.id:
            return None
        if (turn.speech_start - last.speech_end) / turn.sample_rate > self.options.merge_within_s:
            return None
        s = self.floor.get(last)
        if s is None or not s.is_interrupted:
            return None
        if s.audible_until > 0.0 and (s.heard is None or s.heard.strip()):
            return None  # the user heard some of its reply: a turn of its own
        return last

    def _release_held(self) -> list[Frame]:
        held = self._held
        if held is None:
            return []
        turn = held.transcript.turn
        if self.floor.interrupted(turn):
            held.went_on = True  # the user went on: the next utterance is heard from this one
        if held.went_on:
            return []  # speech began during the hold: its own transcript decides
        if time.monotonic() >= held.deadline:
            self._held = None
            return [held.transcript]
        return []

    async def finish(self, eos: EndOfStream) -> AsyncIterator[Frame]:
        for job in (self._job, self._partial):
            if job is not None:
                await asyncio.wait({job.task})
        self._job = self._partial = None
        if self._held is not None:
            yield self._held.transcript
            self._held = None

    async def aclose(self) -> None:
        for job in (self._job, self._partial):
            if job is not None:
                job.task.cancel()
                await asyncio.wait({job.task})
        await self.release_engines()

    async def _call(self, fn: Any, *args: Any) -> Any:
        assert self._stt is not None, "load() first"
        return await self._stt.call(fn, *args)


STAGE_ONLY = frozenset({"partial_every_ms", "partial_after_ms", "speech_pad_ms", "hold_ms", "merge_within_s",
                        "backchannels"})
"""WhisperOptions that are the stage's, not the engine's: pipelines that differ only in them
share one recogniser."""


async def stt_engine(pool: EnginePool, options: WhisperOptions, progress: ProgressFn,
                     user: str = "") -> Shared[SpeechToText]:
    """The process's recogniser for these options (loaded on first use)."""
    return await pooled(pool, "stt", options, STAGE_ONLY, progress, user)


def _retrieved(t: asyncio.Future[Any]) -> None:
    if not t.cancelled() and t.exception() is not None:
        log.warning("an abandoned decode failed: %s", t.exception())


def _common_prefix(a: str, b: str) -> str:
    out = []
    for x, y in zip(a.split(), b.split()):
        if x.strip(",.?!").lower() != y.strip(",.?!").lower():
            break
        out.append(y)
    return " ".join(out)


class _Recent:
    """The last ~35 s of input audio, addressed by input-timeline sample index."""

    def __init__(self, keep: int = 35 * 16000) -> None:
        self._chunks: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        self._keep = keep
        self.end = 0

    def add(self, start: int, x: np.ndarray) -> None:
        self._chunks.append((start, x))
        self.end = start + len(x)
        while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) < self.end - self._keep:
            self._chunks.popleft()

    def slice(self, a: int, b: int) -> np.ndarray:
        parts = [x[max(a, s) - s: min(b, s + len(x)) - s] for s, x in self._chunks
                 if max(a, s) < min(b, s + len(x))]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


@dataclasses.dataclass
class _Job:
    kind: str
    task: asyncio.Future[tuple[str, str | None]]
    turn: Turn | None
    end: int


@dataclasses.dataclass
class _Held:
    transcript: Transcript
    deadline: float
    went_on: bool = False
    """Speech started during the hold (a dropped noise clears it again)."""
