"""The output timeline: reply audio placed on the input's timeline, as a speaker would play it
(paused, resumed, cut by a barge-in, muted), and what of each reply was heard."""

from __future__ import annotations

import bisect
import dataclasses
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import soxr

from omni.frames import ReplyAudio, Turn

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

    on_add: Callable[[int, np.ndarray, int], None] | None = None
    """on_add(turn id, audio, start sample): a reply's audio was given to the timeline, once
    (an output that streams it on; a pause or a stop is the floor's to tell)."""

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
    def place(self, chunk: ReplyAudio, not_before: int | None = None) -> int | None:
        """Place a chunk; return its start index (None while paused: the chunk is held).
        `not_before`: the first sample the player can still play (a sound card has read up to
        there already: audio placed before it would never be heard)."""
        audio = self._convert(chunk)
        if self.muted:
            audio = np.zeros_like(audio)
        key = (chunk.turn.id, chunk.sentence)
        self._texts[key] = chunk.text
        self._total[key] = self._total.get(key, 0) + len(audio)
        part = _Part(max(self.cursor, self.due(chunk.turn, chunk.t), not_before or 0), audio, chunk.turn.id,
                     chunk.sentence)
        if self.on_add is not None and len(audio):  # once, as given (held or not)
            self.on_add(part.turn, audio, part.start)
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
    def heard_ms(self, turn_id: int) -> float:
        """Milliseconds of `turn_id`'s reply that were placed (played, unless muted)."""
        return sum(len(p.audio) for p in self._parts if p.turn == turn_id) * 1000.0 / self.sample_rate

    @_locked
    def end_turn(self, turn: Turn, cut: bool = False) -> None:
        """The turn's audio is all in: the resamplers' last samples are placed (not if it was `cut`)."""
        for key in [k for k in self._resamplers if k[0] == turn.id]:
            rs = self._resamplers.pop(key)
            tail = rs.resample_chunk(np.zeros(0, np.float32), last=True)
            if len(tail) and not self.paused and not cut:
                self._add(_Part(self.cursor, tail, turn.id, -1))
                if self.on_add is not None:
                    self.on_add(turn.id, tail, self.cursor - len(tail))

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
