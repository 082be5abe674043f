"""The async runtime: channels, stages, pipelines, workers, metrics."""

from omni.runtime.channel import Channel, ChannelClosed, Overflow, QueueSpec
from omni.runtime.pipeline import Branch, Observer, Pipeline
from omni.runtime.stage import Processor, Stage, StageOptions, Stopwatch
from omni.runtime.tasks import TaskOwner, cancel_and_wait
from omni.runtime.threads import Worker

__all__ = [
    "Branch", "Channel", "ChannelClosed", "Observer", "Overflow", "Pipeline", "Processor", "QueueSpec",
    "Stage", "StageOptions", "Stopwatch", "TaskOwner", "Worker", "cancel_and_wait",
]
