"""What the assistant is doing, as a person would say it: idle, listening, thinking, speaking.

Derived from the frames the stages emit (an observer), so every view of it (the MQTT state topic,
the terminal panel) tells the same story.
"""

from __future__ import annotations

from omni.frames import Frame, ReplyAudio, ReplyPlayed, SpeechStarted, SpeechStopped, Turn, Utterance, WakeWord


class AssistantState:
    """Reply audio means speaking; the player's ReplyPlayed ends it."""

    def __init__(self) -> None:
        self.state = "idle"
        self.open: set[int] = set()
        """Turns begun and not yet ended at the speaker."""

    def begin(self, turn: Turn) -> bool:
        """A turn that did not come from speech (a text question) starts; True if the state changed."""
        self.open.add(turn.id)
        return self._set("thinking") if self.state == "idle" else False

    def on_frame(self, stage: str, frame: Frame) -> bool:
        """Take a frame in; True if the state changed."""
        if isinstance(frame, (SpeechStarted, WakeWord)):
            return self._set("listening")
        if isinstance(frame, SpeechStopped) and frame.dropped and self.state == "listening":
            return self._settle()
        if isinstance(frame, Utterance):
            self.open.add(frame.turn.id)
            return self._set("thinking")
        if isinstance(frame, ReplyAudio):
            return self._set("speaking")
        if isinstance(frame, ReplyPlayed):
            self.open.discard(frame.turn.id)
            return self._settle()
        return False

    def _settle(self) -> bool:
        return self._set("thinking" if self.open else "idle")

    def _set(self, state: str) -> bool:
        changed, self.state = state != self.state, state
        return changed
