"""The frame base class and tiers. Frames are the only thing that crosses a stage boundary."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import ClassVar


class Tier(enum.Enum):
    """How a frame travels through queues.

    SYSTEM frames skip queued data and survive a flush (interrupts, errors, commands);
    CONTROL frames keep their order and survive a flush (end of stream, end of reply);
    DATA frames (audio, text) keep their order and are dropped by a flush (barge-in).
    """

    SYSTEM = "system"
    CONTROL = "control"
    DATA = "data"


@dataclass(frozen=True, kw_only=True, eq=False)
class Frame:
    """Base of all frames."""

    tier: ClassVar[Tier] = Tier.DATA
    t: float = field(default_factory=time.monotonic)
    """Monotonic time (time.monotonic) of the event the frame stands for."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Turn:
    """Identity and timing anchor of one user turn, carried by every frame that belongs to it."""

    id: int
    """Turn number, from 1, in the order utterances ended."""
    speech_start: int
    """Index (pipeline sample rate) of the utterance's first speech sample on the input timeline."""
    speech_end: int
    """Index (pipeline sample rate) just past the utterance's last speech sample."""
    t_speech_end: float
    """Monotonic time at which the last speech sample entered the pipeline."""
    sample_rate: int
    """Sample rate of the input timeline the indices refer to."""
