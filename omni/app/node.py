"""A node run: the pipeline on a live input, served over MQTT until stopped."""

from __future__ import annotations

import asyncio

from omni.app.session import RunOptions, RunResult, run
from omni.app.view import ConsoleView
from omni.config import PipelineConfig
from omni.transports.mqtt import MqttTransport, NodeHandle, NodeRunOptions, endpoint_from

__all__ = ["NodeHandle", "NodeRunOptions", "endpoint_from", "run_node"]


async def run_node(cfg: PipelineConfig, opts: NodeRunOptions, view: ConsoleView,
                   started: asyncio.Future[NodeHandle] | None = None) -> RunResult:
    """Load the pipeline, connect (starting the embedded broker if none is configured), serve
    until stopped. `started` is resolved with a NodeHandle once serving."""

    def on_started(handle: NodeHandle) -> None:
        if started is not None and not started.done():
            started.set_result(handle)

    return await run(cfg, MqttTransport(opts, on_started), view,
                     RunOptions(metrics=opts.metrics, duration_s=opts.duration_s, keep_records=200,
                                metrics_port=opts.metrics_port))
