"""The stages of the voice loop."""

from omni.stages.registry import KINDS, build_stage

__all__ = ["KINDS", "build_stage"]
