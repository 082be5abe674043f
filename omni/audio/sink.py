"""Audio sinks. The file sink writes the assistant's audio on the input's timeline."""

from __future__ import annotations

import asyncio
import bisect
import functools
import threading
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol, TypeVar
from pathlib import Path

import numpy as np
import soxr

from omni.audio.io import write_wav
from omni.frames import Cue, EndOfStream, Frame, ReplyAudio, ReplyDone, ReplyPlayed, Turn
from omni.runtime.floor import BargeIn, Speech
from omni.runtime.stage import Processor

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclasses.dataclass
class _Part:
    start: int
    audio: np.ndarray
    turn: int
    sentence: int

    @property
    def end(self) -> int:
        return self.start + len(self.audio)


def _locked(method: Callable[..., T]) -> Callable[..., T]:
    """Timeline methods hold its lock: a sound card's callback reads it from the audio thread."""
    @functools.wraps(method)
    def wrapper(self: Timeline, *args: object, **kwargs: object) -> T:
        with self.lock:
            return method(self, *args, **kwargs)
    return wrapper


class Timeline:
    """The assistant's audio placed like a recording of the conversation.

    Sample 0 is sample 0 of the input. A reply starts where the assistant actually began
    to speak: the end of the user's speech plus the measured delay until the audio left TTS.
    Later chunks follow without overlap; a chunk that was late leaves a gap, as a speaker would.
    `pause(at)` cuts everything placed after `at` and holds it (a paused speaker); `resume(at)`
    places the held audio again from `at`; `stop()` drops it.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.lock = threading.RLock()
        self._parts: list[_Part] = []
        self.held: list[_Part] = []
        self.paused = False
        self.muted = False
        """Audio placed while muted is silence (its timing, and so the reply's, is kept)."""
        self.cursor = 0
        self._resamplers: dict[tuple[int, int], soxr.ResampleStream] = {}
        self._texts: dict[tuple[int, int], str] = {}
        self._total: dict[tuple[int, int], int] = {}

    def due(self, turn: Turn, t: float) -> int:
        """Output sample at monotonic time `t`, on the timeline anchored at `turn`'s end."""
        return round((turn.speech_end / turn.sample_rate + (t - turn.t_speech_end)) * self.sample_rate)

    @_locked
    def place(self, chunk: ReplyAudio) -> int | None:
        """Place a chunk; return its start index (None while paused: the chunk is held)."""
        audio = self._convert(chunk)
        if self.muted:
            audio = np.zeros_like(audio)
        key = (chunk.turn.id, chunk.sentence)
        self._texts[key] = chunk.text
        self._total[key] = self._total.get(key, 0) + len(audio)
        part = _Part(max(self.cursor, self.due(chunk.turn, chunk.t)), audio, chunk.turn.id, chunk.sentence)
        if self.paused:
            self.held.append(part)
            return None
        self._add(part)
        return part.start

    def _add(self, part: _Part) -> None:
        if len(part.audio):
            self._parts.append(part)
        self.cursor = max(self.cursor, part.end)

    @_locked
    def place_cue(self, audio: np.ndarray, at: int) -> None:
        """A sound that is no reply's (turn 0), from output sample `at` or the end of what is placed."""
        if not self.paused and len(audio):
            self._add(_Part(max(self.cursor, at), np.zeros_like(audio) if self.muted else audio, 0, -1))

    @_locked
    def pause(self, at: int) -> None:
        held: list[_Part] = []
        kept: list[_Part] = []
        for p in self._parts:
            if p.end <= at:
                kept.append(p)
            elif p.start >= at:
                held.append(p)
            else:
                cut = at - p.start
                kept.append(_Part(p.start, p.audio[:cut], p.turn, p.sentence))
                held.append(_Part(at, p.audio[cut:], p.turn, p.sentence))
        self._parts = kept
        self.held = held + self.held
        self.cursor = max([at, *(p.end for p in kept)]) if held else self.cursor
        self.paused = True

    @_locked
    def resume(self, at: int) -> None:
        self.paused = False
        held, self.held = self.held, []
        for p in held:
            self._add(_Part(max(self.cursor, at), p.audio, p.turn, p.sentence))

    @_locked
    def stop(self) -> None:
        self.paused = False
        self.held = []

    @_locked
    def mute(self, on: bool, at: int) -> None:
        """Mute from output sample `at` on (what is already placed after it falls silent), or unmute."""
        self.muted = on
        if not on:
            return
        for p in [*self._parts, *self.held]:
            if p.end > at:
                lo = max(0, at - p.start)
                p.audio = p.audio.copy()
                p.audio[lo:] = 0.0

    @_locked
    def heard(self, turn_id: int) -> str:
        """The text of `turn_id`'s reply that was placed (heard), cut at a word for a sentence
        stopped part way (in proportion to its audio: piper gives no word timings)."""
        placed: dict[int, int] = {}
        for p in self._parts:
            if p.turn == turn_id:
                placed[p.sentence] = placed.get(p.sentence, 0) + len(p.audio)
        words: list[str] = []
        for (tid, sentence), total in sorted(self._total.items()):
            if tid != turn_id:
                continue
            got = placed.get(sentence, 0)
            text = self._texts[(tid, sentence)].split()
            if got >= total:
                words += text
                continue
            n = int(len(text) * got / total) if total else 0
            words += text[:n]
            if n < len(text):
                words[-1:] = [words[-1] + "…"] if words else []
            break
        return " ".join(words)

    @_locked
    def end_turn(self, turn: Turn) -> None:
        for key in [k for k in self._resamplers if k[0] == turn.id]:
            rs = self._resamplers.pop(key)
            tail = rs.resample_chunk(np.zeros(0, np.float32), last=True)
            if len(tail) and not self.paused:
                self._add(_Part(self.cursor, tail, turn.id, -1))

    @_locked
    def forget_before(self, at: int) -> None:
        """Drop the audio that ended before output sample `at` (a speaker that runs for weeks
        keeps only the recent past: enough to say what was heard of a reply)."""
        i = 0
        while i < len(self._parts) and self._parts[i].end <= at:
            i += 1
        if i == 0:
            return
        del self._parts[:i]
        oldest = min((p.turn for p in [*self._parts, *self.held]), default=None)
        for d in (self._texts, self._total):
            for key in [k for k in d if oldest is None or k[0] < oldest]:
                del d[key]

    @_locked
    def segment(self, a: int, b: int) -> np.ndarray:
        """The placed audio over output samples [a, b)."""
        out = np.zeros(max(0, b - a), np.float32)
        # parts never overlap and are placed in order, so look back from the last one that
        # starts before b (this runs for every 32 ms of input while echo is cancelled)
        i = bisect.bisect_left(self._parts, b, key=lambda p: p.start)
        while i > 0 and self._parts[i - 1].end > a:
            i -= 1
            p = self._parts[i]
            lo, hi = max(a, p.start), min(b, p.end)
            if lo < hi:
                out[lo - a:hi - a] += p.audio[lo - p.start:hi - p.start]
        return out

    @_locked
    def render(self, min_samples: int) -> np.ndarray:
        out = np.zeros(max(min_samples, self.cursor), np.float32)
        for p in self._parts:
            out[p.start:p.end] += p.audio
        return out

    def _convert(self, chunk: ReplyAudio) -> np.ndarray:
        if chunk.sample_rate == self.sample_rate:
            return chunk.samples.astype(np.float32, copy=False)
        key = (chunk.turn.id, chunk.sample_rate)
        rs = self._resamplers.get(key)
        if rs is None:
            rs = self._resamplers[key] = soxr.ResampleStream(chunk.sample_rate, self.sample_rate, 1,
                                                             dtype="float32")
        return rs.resample_chunk(chunk.samples.astype(np.float32, copy=False))


class PlaybackEvents(Protocol):
    """Who learns what the player did with each reply (the run's turn recorder)."""

    def set_reply_start(self, turn: Turn, seconds: float) -> None:
        """The reply starts at `seconds` on the output timeline."""

    def set_barge_in(self, turn: Turn, ms: float, heard: str) -> None:
        """The user cut the reply `ms` after starting to speak; `heard` is what they heard."""

    def count_pause(self, turn: Turn) -> None:
        """The reply paused for speech over it (a barge-in, or a backchannel it resumed after)."""


class WavFileSink(Processor):
    """Last stage of a file run: writes OUT.wav on the input's timeline at end of stream.

    It is the run's speaker: with `realtime`, a reply ends (its ReplyDone goes on) when its last
    sample has been played, and a barge-in cuts the audio at the moment it happened.
    """

    handles = (ReplyAudio, ReplyDone, Cue)

    def __init__(self, name: str, path: str | Path | None, sample_rate: int,
                 events: PlaybackEvents | None = None, realtime: bool = False,
                 keep_s: float | None = None) -> None:
        super().__init__(name)
        self.path = Path(path) if path is not None else None
        """None: play and forget (the file twin of a speaker with nothing to record)."""
        self.keep_s = keep_s
        """Keep only this much audio behind the newest (None: all of it, for the output file)."""
        self.timeline = Timeline(sample_rate)
        self.events = events
        self.realtime = realtime
        self._started: set[int] = set()
        self._anchor: Turn | None = None
        self._changed = asyncio.Event()
        self._paused_at: tuple[BargeIn, int] | None = None
        self.written = False

    # Player ---------------------------------------------------------------------------
    def pause(self, barge: BargeIn) -> None:
        if self._anchor is None:
            return
        at = max(self.timeline.due(self._anchor, time.monotonic()),
                 round(barge.onset * self.timeline.sample_rate / barge.sample_rate))
        self.timeline.pause(at)
        self._paused_at = (barge, at)
        if self.events is not None:
            for s in self.floor.speeches():
                if not s.done and not s.is_interrupted:
                    self.events.count_pause(s.turn)
        self._changed.set()

    def resume(self, t: float) -> None:
        if self._anchor is not None:
            self.timeline.resume(self.timeline.due(self._anchor, t))
            self._sync_audible()
        self._paused_at = None
        self._changed.set()

    def stop(self, barge: BargeIn) -> None:
        self.timeline.stop()
        paused, self._paused_at = self._paused_at, None
        at = paused[1] if paused else (self.timeline.due(self._anchor, time.monotonic())
                                       if self._anchor else 0)
        ms = (at / self.timeline.sample_rate - barge.onset / barge.sample_rate) * 1000.0
        for s in self.floor.speeches():
            if s.is_interrupted and s.heard is None:
                s.played(heard=self.timeline.heard(s.turn.id))
                if s.turn.id not in self._started:
                    log.info("turn %d: its reply is dropped before it was heard (the user went on)",
                             s.turn.id, extra={"stage": self.name, "turn": s.turn.id})
                    continue
                log.info("turn %d interrupted %.0f ms after the user spoke; heard: %r", s.turn.id, ms,
                         s.heard, extra={"stage": self.name, "turn": s.turn.id})
                if self.events is not None:
                    self.events.set_barge_in(s.turn, ms, s.heard or "")
        self._changed.set()

    @property
    def muted(self) -> bool:
        return self.timeline.muted

    def mute(self, on: bool) -> None:
        """Silence the speaker at once (replies go on, unheard) or unmute it."""
        at = self.timeline.due(self._anchor, time.monotonic()) if self._anchor is not None else 0
        self.timeline.mute(on, at)

    def played(self, start: int, n: int, rate: int) -> np.ndarray:
        """What this speaker plays over input samples [start, start + n) at `rate` (the far
        end an echo canceller needs, and what a simulated room feeds back to the microphone)."""
        sr = self.timeline.sample_rate
        if sr == rate:
            return self.timeline.segment(start, start + n)
        a = int(start * sr / rate)
        seg = self.timeline.segment(a, int((start + n) * sr / rate) + 2)
        x = (np.arange(n) + start) * sr / rate - a
        return np.interp(x, np.arange(len(seg)), seg).astype(np.float32) if len(seg) else np.zeros(n, np.float32)

    def _sync_audible(self) -> None:
        if self._anchor is None:
            return
        a = self._anchor
        end_t = a.t_speech_end + self.timeline.cursor / self.timeline.sample_rate - a.speech_end / a.sample_rate
        for s in self.floor.speeches():
            s.played(until=end_t)

    # frames ---------------------------------------------------------------------------
    async def process(self, frame: ReplyAudio | ReplyDone | Cue) -> AsyncIterator[Frame]:
        if isinstance(frame, Cue):
            audio = frame.samples if frame.sample_rate == self.timeline.sample_rate else \
                soxr.resample(frame.samples, frame.sample_rate, self.timeline.sample_rate)
            self.timeline.place_cue(audio.astype(np.float32), round(frame.at * self.timeline.sample_rate / frame.input_rate))
            yield frame
            return
        speech = self.floor.speech(frame.turn)
        if isinstance(frame, ReplyAudio):
            self._anchor = frame.turn
            start = self.timeline.place(frame)
            if self.keep_s is not None:
                self.timeline.forget_before(self.timeline.cursor - int(self.keep_s * self.timeline.sample_rate))
            self._sync_audible()
            if start is not None and frame.turn.id not in self._started:
                self._started.add(frame.turn.id)
                if self.events is not None:
                    self.events.set_reply_start(frame.turn, start / self.timeline.sample_rate)
            yield frame
            return
        self.timeline.end_turn(frame.turn)
        await self._played(speech)
        speech.played(done=True)
        if speech.is_interrupted:
            heard = speech.heard if speech.heard is not None else self.timeline.heard(frame.turn.id)
            yield ReplyPlayed(turn=frame.turn, text=heard, reason="interrupted")
        else:
            yield ReplyPlayed(turn=frame.turn, text=frame.text, reason=frame.reason)

    def _failed(self, message: str, frame: Frame) -> list[Frame]:
        ev = self.error(message, frame)  # the turn still ends at the speaker, with the error
        return [ev] if ev.turn is None else [ev, ReplyPlayed(turn=ev.turn, text="", reason="error")]

    async def _played(self, speech: Speech) -> None:
        """Wait (in real time) until the reply has been heard to its end, or interrupted."""
        while self.realtime and self.floor.enabled and not speech.is_interrupted:
            if self.timeline.paused:
                timeout: float | None = 5.0
            else:
                timeout = speech.audible_until - time.monotonic()
                if timeout <= 0:
                    return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                if self.timeline.paused:
                    log.warning("audio paused for 5 s with no decision; playing on",
                                extra={"stage": self.name})
                    self.floor.user_backchannel(time.monotonic())

    async def finish(self, eos: EndOfStream) -> AsyncIterator[Frame]:
        self.timeline.stop()
        self._write(round(eos.samples * self.timeline.sample_rate / eos.sample_rate))
        return
        yield  # pragma: no cover

    async def aclose(self) -> None:
        """A run stopped early (Ctrl-C, a fatal error) still leaves what was said on disk."""
        if not self.written and self.timeline.cursor > 0:
            log.warning("run stopped before the end: writing the reply audio so far")
            self._write(0)

    def _write(self, min_samples: int) -> None:
        if self.path is None:
            return
        audio = self.timeline.render(min_samples)
        write_wav(self.path, audio, self.timeline.sample_rate)
        self.written = True
        log.info("wrote %s (%.1f s at %d Hz)", self.path, len(audio) / self.timeline.sample_rate,
                 self.timeline.sample_rate)
