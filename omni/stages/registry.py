"""Stage kinds a pipeline file can name, and how a stage is built from its config."""

from __future__ import annotations

import importlib

from pydantic import ValidationError

from omni.config import StageConfig
from omni.errors import ConfigError
from omni.runtime import QueueSpec, Stage
from omni.stages.chunker import SentenceChunker
from omni.stages.dialogue import Dialogue
from omni.stages.echo import EchoCanceller
from omni.stages.look import LookStage
from omni.stages.stt import WhisperSTT
from omni.stages.tts import PiperTTS
from omni.stages.vad import SileroVAD
from omni.stages.scene import SceneStage
from omni.stages.wake import WakeGate

KINDS: dict[str, type[Stage]] = {
    "audio.aec": EchoCanceller,
    "wake.micro": WakeGate,
    "vad.silero": SileroVAD,
    "stt.whisper": WhisperSTT,
    "vision.scene": SceneStage,
    "vision.look": LookStage,
    "dialogue": Dialogue,
    "text.sentences": SentenceChunker,
    "tts.piper": PiperTTS,
}


def stage_class(kind: str) -> type[Stage]:
    """A built-in kind, or `package.module:Class` for a stage of your own (docs/extending.md)."""
    cls = KINDS.get(kind)
    if cls is None and ":" in kind:
        module, _, attr = kind.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"stage kind {kind!r}: cannot import it ({e})") from e
        if not (isinstance(cls, type) and issubclass(cls, Stage)):
            raise ConfigError(f"stage kind {kind!r} is not a Stage subclass")
    if cls is None:
        raise ConfigError(f"unknown kind {kind!r}",
                          hint=f"known kinds: {sorted(KINDS)}, or package.module:Class")
    return cls


def build_stage(cfg: StageConfig) -> Stage:
    try:
        cls = stage_class(cfg.kind)
    except ConfigError as e:
        raise ConfigError(f"stage {cfg.name!r}: {e.message}", hint=e.hint) from None
    try:
        options = cls.Options.model_validate(cfg.options)
    except ValidationError as e:
        lines = "\n".join(f"  {cfg.name}.{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"stage {cfg.name!r} ({cfg.kind}) has invalid options:\n{lines}") from e
    stage = cls(cfg.name, options, cfg.budget_ms)  # type: ignore[call-arg]
    if cfg.over_budget is not None:
        ob = cfg.over_budget
        if ob.action not in cls.over_budget_actions:
            known = ", ".join(sorted(cls.over_budget_actions)) or "none"
            raise ConfigError(f"stage {cfg.name!r} ({cfg.kind}) cannot {ob.action!r} over its budget",
                              hint=f"what it can do: {known}")
        if ob.after_ms is None and cfg.budget_ms is None:
            raise ConfigError(f"stage {cfg.name!r} declares over_budget with no budget_ms to act at",
                              hint="give the stage a budget_ms, or the action an after_ms")
        stage.over_budget = ob
    if cfg.queue is not None:
        stage.input_queue = QueueSpec(size=cfg.queue.size, overflow=cfg.queue.overflow)  # type: ignore[misc]
    return stage
