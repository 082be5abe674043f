"""Configuration is data: pipeline files, overrides, the settings tree."""

from omni.config.loader import apply_override, load_pipeline, pipeline_path
from omni.config.schema import PipelineConfig, QueueConfig, StageConfig

__all__ = ["PipelineConfig", "QueueConfig", "StageConfig", "apply_override", "load_pipeline",
           "pipeline_path"]
