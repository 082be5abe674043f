"""The typed settings tree of a pipeline file."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from omni.mqtt.config import MqttOptions
from omni.runtime.channel import Overflow
from omni.runtime.stage import OverBudget
from omni.vision.camera import CameraOptions


class QueueConfig(BaseModel):
    """A stage's input channel: how many frames it holds and what happens when full."""

    model_config = ConfigDict(extra="forbid")
    size: int = Field(ge=1, le=100_000)
    overflow: Overflow = Overflow.BLOCK


class StageConfig(BaseModel):
    """One stage of a pipeline file."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """Unique name, used in metrics and overrides (e.g. `stt`)."""
    kind: str
    """Which implementation (see omni.stages.registry), e.g. `stt.whisper`."""
    budget_ms: float | None = Field(default=None, gt=0)
    """Latency budget of this stage per turn; an overrun is logged and counted."""
    over_budget: OverBudget | None = None
    """What the stage does when a turn takes it past its budget (`over_budget: partial`, or
    `{action: failover, after_ms: 1200}`); each use is counted in the turn's metrics."""
    queue: QueueConfig | None = None
    """Override of the stage's default input queue."""

    @field_validator("over_budget", mode="before")
    @classmethod
    def _action(cls, v: Any) -> Any:
        return {"action": v} if isinstance(v, str) else v
    options: dict[str, Any] = Field(default_factory=dict)
    """Options of the implementation, validated by its own Options model."""


class PipelineConfig(BaseModel):
    """A whole pipeline file."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    sample_rate: Literal[16000] = 16000
    """Rate of the pipeline's input timeline; input audio of any rate is converted to it.
    Silero VAD and whisper work at 16 kHz, so that is the only rate accepted."""
    chunk_ms: int = Field(default=32, ge=10, le=200)
    """Size of the input audio chunks fed to the first stage."""
    v2v_budget_ms: float | None = Field(default=None, gt=0)
    """Budget of the whole turn, last user speech sample to first reply sample."""
    stages: list[StageConfig]
    camera: CameraOptions | None = None
    """A camera for the pipeline's vision stages (`--camera SOURCE`): sampling, size, pace."""
    mqtt: MqttOptions | None = None
    """Serve the pipeline over MQTT (a smart-home node): broker, topics, device actions."""

    @field_validator("stages")
    @classmethod
    def _unique(cls, stages: list[StageConfig]) -> list[StageConfig]:
        names = [s.name for s in stages]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"stage names must be unique, repeated: {sorted(dup)}")
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        return stages

    def stage(self, name: str) -> StageConfig:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)
