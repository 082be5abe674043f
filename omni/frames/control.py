"""Control and system frames: end of stream, errors."""

from __future__ import annotations

from dataclasses import dataclass

from omni.frames.base import Frame, Tier, Turn


@dataclass(frozen=True, kw_only=True, eq=False)
class EndOfStream(Frame):
    """The input is finished; every stage flushes what it holds and passes this on."""

    tier = Tier.CONTROL
    samples: int = 0
    """Length of the input timeline in samples (pipeline rate)."""
    sample_rate: int = 16000
    """Rate of the input timeline."""


@dataclass(frozen=True, kw_only=True, eq=False)
class ErrorEvent(Frame):
    """A recoverable fault: the pipeline keeps running and reports it."""

    tier = Tier.SYSTEM
    stage: str
    """Name of the stage where it happened."""
    message: str
    """What went wrong, for a person."""
    turn: Turn | None = None
    """The turn it affected, if any."""


@dataclass(frozen=True, kw_only=True, eq=False)
class EndTurn(Frame):
    """End the user's turn now, whatever the end-of-turn model would say (push-to-talk let go, a
    client's commit). In order with the audio: the turn holds what came before it. The VAD
    passes on a new one with `done` set once it has acted: `turn` is the turn it ended, or None
    when there was no speech to end (an empty commit)."""

    tier = Tier.CONTROL
    done: bool = False
    turn: Turn | None = None


@dataclass(frozen=True, kw_only=True, eq=False)
class ClearInput(Frame):
    """Forget the user's speech heard so far in this turn (a client's clear): no transcript, no reply."""

    tier = Tier.CONTROL


@dataclass(frozen=True, kw_only=True, eq=False)
class Remember(Frame):
    """Add an exchange to the conversation's history without answering it (a client's item):
    either side may be empty."""

    tier = Tier.CONTROL
    user: str = ""
    """What the user said."""
    reply: str = ""
    """What the assistant said."""
    turn: int | None = None
    """The turn id it is kept under, so that EditHistory can reach it later (None: not editable)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class EditHistory(Frame):
    """Change what the history keeps of a turn (a client's truncate or delete): a side that is
    not None replaces that side ("" removes it from what the model reads)."""

    tier = Tier.CONTROL
    turn: int
    user: str | None = None
    reply: str | None = None
