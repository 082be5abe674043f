"""What a stage may use of the run it is part of: one object, handed to every stage by its pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omni.frames import Turn
from omni.runtime.cpu import CpuPriority
from omni.runtime.floor import Floor


@dataclass
class RunContext:
    """The services of one run, shared by its stages.

    A pipeline makes one (or is given one by the composition root) and binds it to each stage
    before `load`; a stage used on its own gets a context of its own on first use.
    """

    floor: Floor = field(default_factory=Floor)
    """Who has the floor: the assistant's replies as interruptible handles (omni.runtime.floor)."""
    cpu: CpuPriority = field(default_factory=CpuPriority)
    """Which work gets the cores first on a small machine (omni.runtime.cpu)."""
    reporter: Any = None
    """reporter(stage, turn, ms, extra) -> None: a stage's time for a turn, to the metrics."""
    echo_path: bool = True
    """What the player plays can reach the input. False (a file recorded before the run, a
    node whose speaker is a file): an echo canceller could only damage the user's words."""

    def report(self, stage: str, turn: Turn, ms: float | None, extra: dict[str, Any]) -> None:
        if self.reporter is not None:
            self.reporter(stage, turn, ms, extra)
