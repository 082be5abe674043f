"""Frames for acting on the world and for what the dialogue should know about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omni.frames.base import Frame, Tier, Turn


@dataclass(frozen=True, kw_only=True, eq=False)
class DeviceAction(Frame):
    """An allow-listed action the assistant decided to take; a sink (e.g. MQTT) carries it out."""

    tier = Tier.CONTROL
    turn: Turn | None
    """The turn that asked for it (None for actions not tied to speech)."""
    action: str
    """Name of the action as declared in the pipeline file."""
    args: dict[str, Any] = field(default_factory=dict)
    """Arguments, validated against the action's schema."""
    source: str = "intent"
    """Who decided: intent (the fast path) or tool (an LLM tool call)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class ContextUpdate(Frame):
    """Something the dialogue should know with its age, e.g. the latest camera caption."""

    tier = Tier.CONTROL
    source: str
    """Where it comes from (camera, sensor name...); a newer update replaces the older one."""
    text: str
    """What to tell the model."""
    captured: float
    """Monotonic time the information was true (e.g. the frame's capture time)."""
    when_said: tuple[str, ...] = ()
    """Tell the model only in turns with a word that starts with one of these (regular
    expressions); empty: in every turn. Context costs prompt tokens before the first word of a reply."""
