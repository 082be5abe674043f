"""A session's outputs, beside or instead of a speaker: the reply's text as it is written, its
audio as it is placed, each tagged with its turn.

    TextOutput   on_text(turn, piece)      the reply text as the dialogue writes it
                 on_reply(turn, text, why) the turn has ended: what was heard, and why it ended
    AudioOutput  on_audio(turn, audio, rate, at_s)  a piece of reply audio, at `at_s` seconds on
                                            the session's output timeline

`Outputs` is the observer that tells them (it sees each frame once, with its maker). A session
with no audio out ends in a `TextSink` instead of a speaker: no TTS, no playout wait, the turn
ends when its text is complete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import numpy as np

from omni.frames import Frame, ReplyDone, ReplyPlayed, ReplyToken, Turn
from omni.runtime.floor import BargeIn
from omni.runtime.stage import Processor


class TextOutput(Protocol):
    def on_text(self, turn: Turn, text: str) -> None:
        """A piece of the reply, as written (before it is spoken)."""

    def on_reply(self, turn: Turn, text: str, reason: str) -> None:
        """The turn's reply has ended: `text` is what the user heard (all of it, unless cut)."""


class AudioOutput(Protocol):
    def on_audio(self, turn: int, audio: np.ndarray, sample_rate: int, at_s: float) -> None:
        """A piece of reply audio for turn id `turn`, starting `at_s` seconds into the output."""


class Outputs:
    """An observer: tells a TextOutput what the dialogue (or the look stage) writes and what
    the speaker (or the TextSink) finished."""

    def __init__(self, text: TextOutput) -> None:
        self.text = text

    def on_frame(self, stage: str, frame: Frame) -> None:
        if isinstance(frame, ReplyToken) and frame.text:
            self.text.on_text(frame.turn, frame.text)
        elif isinstance(frame, ReplyPlayed):
            self.text.on_reply(frame.turn, frame.text, frame.reason)


class TextSink(Processor):
    """The last stage of a session that gives text only: each reply ends when its text is
    complete. It is the session's player for the floor: a cancel stops a reply being written,
    and what was written before the cut is what was "heard"."""

    handles = (ReplyToken, ReplyDone)

    def __init__(self, name: str = "text") -> None:
        super().__init__(name)
        self._written: dict[int, list[str]] = {}
        self.muted = False

    # Player (omni.runtime.floor): nothing plays, so nothing pauses ----------------------------
    def pause(self, barge: BargeIn) -> None:
        pass

    def resume(self, t: float) -> None:
        pass

    def stop(self, barge: BargeIn) -> None:
        for s in self.floor.speeches():
            if s.is_interrupted and s.heard is None:
                s.played(heard="".join(self._written.get(s.turn.id, [])).strip())

    def played(self, start: int, n: int, rate: int) -> np.ndarray:
        return np.zeros(n, np.float32)

    def mute(self, on: bool) -> None:
        self.muted = on

    # frames -------------------------------------------------------------------------------
    async def process(self, frame: ReplyToken | ReplyDone) -> AsyncIterator[Frame]:
        if isinstance(frame, ReplyToken):
            self._written.setdefault(frame.turn.id, []).append(frame.text)
            return  # written: nothing goes further
        speech = self.floor.speech(frame.turn)
        written = "".join(self._written.pop(frame.turn.id, [])).strip()
        speech.played(done=True)
        if speech.is_interrupted:
            yield ReplyPlayed(turn=frame.turn, text=speech.heard if speech.heard is not None else written,
                              reason="interrupted")
        else:
            yield ReplyPlayed(turn=frame.turn, text=frame.text, reason=frame.reason)
        while len(self._written) > 16:  # replies dropped before their end
            del self._written[next(iter(self._written))]
