"""Audio sinks. The file sink writes the assistant's audio on the input's timeline (omni.audio.timeline)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol
from pathlib import Path

import numpy as np
import soxr

from omni.audio.io import write_wav
from omni.audio.timeline import Timeline
from omni.errors import OutputError
from omni.frames import Cue, EndOfStream, Frame, ReplyAudio, ReplyDone, ReplyPlayed, Turn
from omni.runtime.floor import BargeIn, Speech
from omni.runtime.stage import Processor

log = logging.getLogger(__name__)


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
                 keep_s: float | None = None,
                 on_audio: Callable[[int, np.ndarray, int, float], None] | None = None) -> None:
        super().__init__(name)
        self.path = Path(path) if path is not None else None
        """None: play and forget (the file twin of a speaker with nothing to record)."""
        self.keep_s = keep_s
        """Keep only this much audio behind the newest (None: all of it, for the output file)."""
        self.timeline = Timeline(sample_rate)
        if on_audio is not None:
            # told of each piece of reply audio as it is placed: (turn id, audio at the output
            # rate, the rate, seconds on the output timeline where it starts); an output that
            # streams (a browser, a socket) sends it on from there
            rate = sample_rate
            self.timeline.on_add = lambda turn, audio, start: on_audio(turn, audio, rate, start / rate)
        self.events = events
        self.realtime = realtime
        self._started: set[int] = set()
        self._anchor: Turn | None = None
        self._changed = asyncio.Event()
        self._paused_at: tuple[BargeIn, int] | None = None
        self.written = False
        self.write_failed = False

    # Player ---------------------------------------------------------------------------
    def pause(self, barge: BargeIn) -> None:
        # before the run's first reply audio a file has no anchor to tell "now" on the timeline:
        # the user's onset is (a first reply still on its way is held as any other)
        onset = round(barge.onset * self.timeline.sample_rate / barge.sample_rate)
        with self.timeline.lock:  # (a sound card's callback reads and moves on under it)
            now = self._now_at()
            at = onset if now is None else max(now, onset)
            self.timeline.pause(at)
        self._paused_at = (barge, at)
        if self.events is not None:
            for s in self.floor.speeches():
                if not s.done and not s.is_interrupted:
                    self.events.count_pause(s.turn)
        self._changed.set()

    def playable_from(self) -> int | None:
        """The first timeline sample this player can still play, None when it has no clock (a
        file written after the run, not played in real time). A realtime file run plays at
        "now"; a sound card has read further ahead (Speaker)."""
        if not self.realtime or self._anchor is None:
            return None
        return self.timeline.due(self._anchor, time.monotonic())

    def _now_at(self) -> int | None:
        """Where "now" is on the timeline for a pause, a mute or a stop: what the player can
        still play (what a sound card has read is heard), or a file's clock; None without one."""
        now = self.playable_from()
        if now is None and self._anchor is not None:
            now = self.timeline.due(self._anchor, time.monotonic())
        return now

    def resume(self, t: float) -> None:
        with self.timeline.lock:
            now = self.playable_from()
            if self._anchor is not None:
                # `t` is when the speech over the reply ended; the decision to play on comes
                # later (the VAD waits out its silence first), and a player cannot play in the past
                self.timeline.resume(max(self.timeline.due(self._anchor, t), now or 0))
            else:  # paused before any reply audio, and none came
                self.timeline.resume(max(self.timeline.cursor, now or 0))
        if self._anchor is not None:
            self._sync_audible()
        self._paused_at = None
        self._changed.set()

    def stop(self, barge: BargeIn) -> None:
        with self.timeline.lock:
            self.timeline.stop()
            paused, self._paused_at = self._paused_at, None
            at = paused[1] if paused else (self._now_at() or 0)
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
        with self.timeline.lock:
            self.timeline.mute(on, self._now_at() or 0)

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

    def _not_before(self) -> int | None:
        """Where new audio may start at the earliest: anywhere for the file's timeline (a chunk
        goes where it was made); a sound card's own read position (Speaker)."""
        return None

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
            at = round(frame.at * self.timeline.sample_rate / frame.input_rate)
            with self.timeline.lock:  # (a chime for a word heard a moment ago: from where it can be played)
                self.timeline.place_cue(audio.astype(np.float32), max(at, self._not_before() or 0))
            yield frame
            return
        speech = self.floor.speech(frame.turn)
        if isinstance(frame, ReplyAudio):
            self._anchor = frame.turn
            with self.timeline.lock:
                playing = self._not_before()
                start = self.timeline.place(frame, not_before=playing)
                if self.keep_s is not None:  # the past of what is playing, not of what is placed ahead
                    now = self.timeline.cursor if playing is None else min(self.timeline.cursor, playing)
                    self.timeline.forget_before(now - int(self.keep_s * self.timeline.sample_rate))
            self._sync_audible()
            if start is not None and frame.turn.id not in self._started:
                self._started.add(frame.turn.id)
                if self.events is not None:
                    self.events.set_reply_start(frame.turn, start / self.timeline.sample_rate)
            yield frame
            return
        self.timeline.end_turn(frame.turn, cut=speech.is_interrupted)
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
        if self.path is not None and not self.written and self.timeline.cursor > 0 and not self.write_failed:
            log.warning("run stopped before the end: writing the reply audio so far")
            try:
                self._write(0)
            except OutputError as e:  # the run is already ending with an error of its own
                log.error("%s", e, extra={"stage": self.name})

    def _write(self, min_samples: int) -> None:
        if self.path is None:
            return
        audio = self.timeline.render(min_samples)
        try:
            write_wav(self.path, audio, self.timeline.sample_rate)
        except OutputError:
            self.write_failed = True  # said once: aclose does not try again
            raise
        self.written = True
        log.info("wrote %s (%.1f s at %d Hz)", self.path, len(audio) / self.timeline.sample_rate,
                 self.timeline.sample_rate)
