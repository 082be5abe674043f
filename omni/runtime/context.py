"""What a stage may use of the run it is part of: one object, handed to every stage by its pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omni.frames import Turn
from omni.runtime.cpu import CpuPriority
from omni.runtime.engines import EnginePool
from omni.runtime.floor import Floor


@dataclass
class RunContext:
    """The services of one run, shared by its stages.

    A pipeline makes one (or is given one by the composition root) and binds it to each stage
    before `load`; a stage used on its own gets a context of its own on first use.
    """

    floor: Floor = field(default_factory=Floor)
    """Who has the floor: the assistant's replies as interruptible handles (omni.runtime.floor)."""
    engines: EnginePool | None = None
    """The process's engines (omni.runtime.engines); None: a pool of this context's own, which
    its pipeline (or its lone stage) closes with it (`owns_engines`)."""
    cpu: CpuPriority | None = None  # type: ignore[assignment]
    """Which work gets the cores first on a small machine (omni.runtime.cpu): the engine
    pool's, so that it is fair across every session of the process."""
    reporter: Any = None
    """reporter(stage, turn, ms, extra) -> None: a stage's time for a turn, to the metrics."""
    echo_path: bool = True
    """What the player plays can reach the input. False (a file recorded before the run, a
    node whose speaker is a file): an echo canceller could only damage the user's words."""

    owns_engines: bool = False

    def __post_init__(self) -> None:
        if self.engines is None:
            self.engines = EnginePool(self.cpu)
            self.owns_engines = True
        if self.cpu is None:
            self.cpu = self.engines.cpu

    async def release(self) -> None:
        """Close the engines if they are this context's own (not the process's)."""
        if self.owns_engines and self.engines is not None:
            await self.engines.aclose()

    def report(self, stage: str, turn: Turn, ms: float | None, extra: dict[str, Any]) -> None:
        if self.reporter is not None:
            self.reporter(stage, turn, ms, extra)
