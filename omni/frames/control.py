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
