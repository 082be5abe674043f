"""A run on files: decode the input, load the stages, run the pipeline, write the outputs."""

from __future__ import annotations

from omni.app.session import RunOptions, RunResult, peak_rss_mb, run
from omni.app.view import ConsoleView
from omni.config import PipelineConfig
from omni.transports.files import FileRunOptions, FileTransport

__all__ = ["FileRunOptions", "RunResult", "peak_rss_mb", "run_files"]


async def run_files(cfg: PipelineConfig, opts: FileRunOptions, view: ConsoleView) -> RunResult:
    """Run a pipeline on an input file; raises InputError/ConfigError before loading on bad input."""
    return await run(cfg, FileTransport(opts), view,
                     RunOptions(metrics=opts.metrics, video_out=opts.video_out, hud_fps=opts.hud_fps))
