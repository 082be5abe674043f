"""A live run: the microphone in, the speaker out, until Ctrl-C, SIGTERM or --duration."""

from __future__ import annotations

import asyncio

from omni.app.dashboard import Dashboard
from omni.app.session import RunOptions, RunResult, run
from omni.app.view import ConsoleView
from omni.config import PipelineConfig
from omni.transports.devices import DeviceTransport, LiveRunOptions

__all__ = ["LiveRunOptions", "run_live"]


async def run_live(cfg: PipelineConfig, opts: LiveRunOptions, view: ConsoleView,
                   stop: asyncio.Event | None = None) -> RunResult:
    """Run until `stop` is set (default: SIGINT/SIGTERM) or opts.duration_s."""
    dashboard = Dashboard(budgets={"v2v": cfg.v2v_budget_ms}) if view.live and not view.quiet else None
    return await run(cfg, DeviceTransport(opts, dashboard), view,
                     RunOptions(metrics=opts.metrics, duration_s=opts.duration_s, video_out=opts.video_out,
                                hud_fps=opts.hud_fps, keep_records=200, metrics_port=opts.metrics_port), stop=stop)
