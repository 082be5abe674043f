"""A live run: the microphone in, the speaker out, until Ctrl-C, SIGTERM or --duration."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.live import Live

from omni.app.hud import HudWriter
from omni.app.run import (CameraFeed, JsonlWriter, load_pipeline_shown, peak_rss_mb, run_with_hud, stop_on_signals,
                          until_stopped)
from omni.app.view import ConsoleView
from omni.app.dashboard import Dashboard
from omni.audio.device import Microphone, Speaker, watch_keys
from omni.frames import PushToTalk
from omni.config import PipelineConfig
from omni.runtime import Pipeline
from omni.runtime.floor import Floor
from omni.runtime.metrics import TurnRecorder
from omni.stages import build_stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveRunOptions:
    input_device: str | None = None
    output_device: str | None = None
    record: Path | None = None
    """Also write what the speaker played to this wav (on the input's timeline)."""
    metrics: Path | None = None
    duration_s: float | None = None
    camera: str | None = None
    """Camera source for pipelines with vision stages (default: the pipeline's camera.source)."""
    video_out: Path | None = None
    """Write the heads-up display video here."""
    hud_fps: float = 10.0


async def run_live(cfg: PipelineConfig, opts: LiveRunOptions, view: ConsoleView,
                   stop: asyncio.Event | None = None) -> dict[str, Any]:
    """Run until `stop` is set (default: SIGINT/SIGTERM) or opts.duration_s; returns a summary."""
    stages = [build_stage(s) for s in cfg.stages]
    recorder = TurnRecorder({s.name: s.budget_ms for s in cfg.stages}, v2v_budget_ms=cfg.v2v_budget_ms, keep=200)
    mic = Microphone(opts.input_device, cfg.sample_rate, chunk_ms=cfg.chunk_ms)
    speaker = Speaker("out", opts.output_device, record=opts.record, on_reply_start=recorder.set_reply_start,
                      on_barge_in=recorder.set_barge_in, on_pause=recorder.count_pause)
    camera = CameraFeed(cfg, stages, opts.camera)
    hud = HudWriter(opts.video_out, fps=opts.hud_fps) if opts.video_out else None
    pipeline = Pipeline([*stages, speaker], observers=[recorder, view, *camera.observers, *([hud] if hud else [])],
                        reporter=recorder.report, floor=Floor())
    pipeline.floor.add_player(speaker)
    recorder.listeners.append(view.on_event)
    writer = JsonlWriter(opts.metrics) if opts.metrics else None
    if writer:
        recorder.listeners.append(writer.on_event)
    dashboard = Dashboard(budgets={"v2v": cfg.v2v_budget_ms}) if view.live and not view.quiet else None
    if dashboard is not None:
        pipeline.observers.append(dashboard)
        recorder.listeners.append(dashboard.on_event)
    talk_key = any(s.kind == "wake.micro" and s.options.get("mode") == "push_to_talk" for s in cfg.stages)
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    with stop_on_signals(stop):
        try:
            await load_pipeline_shown(pipeline, view)
            mic.open()
            view.console.print(f"listening on {mic.device['name']!r}, speaking on {speaker.device['name']!r} "
                               "(Ctrl-C to stop" + (", space: talk / stop talking)" if talk_key else ")"))
            keys_done = threading.Event()
            if talk_key and sys.stdin.isatty():
                pressed = [False]

                def on_key(ch: str) -> None:  # terminals send no key-up: space toggles talking
                    if ch == " ":
                        pressed[0] = not pressed[0]
                        loop.call_soon_threadsafe(mic.inject, PushToTalk(pressed=pressed[0]))
                threading.Thread(target=watch_keys, args=(sys.stdin, on_key, keys_done), daemon=True,
                                 name="omni-keys").start()
            live_view = Live(get_renderable=dashboard.render, console=view.console, refresh_per_second=8,
                             transient=False) if dashboard is not None else contextlib.nullcontext()
            if dashboard is not None:
                view.quiet = True  # the dashboard shows what the lines would
            with live_view, contextlib.ExitStack() as stack:
                stack.callback(keys_done.set)
                await _serve(pipeline, mic, speaker, stop, opts, camera, hud)
        finally:
            mic.close()
            await pipeline.aclose()
            if writer:
                writer.close()
    return {"turns": len(recorder.finished), "microphone": mic.stats.summary() | {"dropped": mic.dropped},
            "speaker": speaker.stats.summary(), "peak memory": f"{peak_rss_mb():.0f} MB", **camera.stats(),
            "records": list(recorder.finished)}


async def _serve(pipeline: Pipeline, mic: Microphone, speaker: Speaker, stop: asyncio.Event,
                 opts: LiveRunOptions, camera: CameraFeed, hud: HudWriter | None) -> None:
    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(run_with_hud(pipeline, camera.wrap(mic.frames()), hud), name="pipeline")

        async def align() -> None:  # the speaker's timeline starts at the microphone's sample 0
            while mic.t0 is None:
                await asyncio.sleep(0.01)
            speaker.t_ref = mic.t0
        aligning = tg.create_task(align())
        await until_stopped(stop, opts.duration_s, run)
        aligning.cancel()  # a microphone that never delivered must not hold the stop up
        mic.stop()
