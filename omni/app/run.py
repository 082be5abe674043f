"""A file run: decode the input, load the stages, run the pipeline, write the outputs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any

from omni.app.hud import HudWriter
from omni.app.view import ConsoleView
from omni.audio import Room, WavFileSink, file_source, read_audio
from omni.audio.source import watch_input
from omni.config import PipelineConfig
from omni.errors import ConfigError
from omni.frames import Frame
from omni.runtime import Pipeline
from omni.runtime.floor import Floor
from omni.runtime.metrics import TurnRecord, TurnRecorder
from omni.runtime.pipeline import Observer
from omni.runtime.stage import Stage
from omni.runtime.state import AssistantState
from omni.stages import build_stage
from omni.stages.echo import EchoCanceller
from omni.stages.scene import SceneStage
from omni.vision.camera import CameraOptions, with_camera

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileRunOptions:
    """Inputs and outputs of a run on files."""

    audio_in: Path
    audio_out: Path
    metrics: Path | None = None
    realtime: bool = True
    """Feed the input at its own pace (True) or as fast as the pipeline takes it."""
    out_rate: int | None = None
    """Sample rate of the output file; default: the input file's own rate."""
    room: tuple[float, float] | None = None
    """(gain dB, delay ms): feed the assistant's own audio back into the input like a room."""
    camera: str | None = None
    """Camera source (device index, video file, URL, image folder); default: the pipeline's."""
    video_out: Path | None = None
    """Write the heads-up display (camera, detections, transcript, reply) to this video."""
    hud_fps: float = 10.0


@dataclass
class RunResult:
    records: list[TurnRecord]
    recorder: TurnRecorder
    load_s: float
    run_s: float
    input_s: float
    peak_rss_mb: float
    extra: dict[str, Any] = field(default_factory=dict)


class JsonlWriter:
    """Writes one JSON object per finished turn, flushed as it happens."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def on_event(self, kind: str, payload: Any) -> None:
        if kind == "turn":
            self._f.write(json.dumps(payload.as_dict(), ensure_ascii=False) + "\n")
            self._f.flush()

    def close(self) -> None:
        self._f.close()


async def load_pipeline_shown(pipeline: Pipeline, view: ConsoleView) -> float:
    """Load every stage with the view showing progress; returns the seconds it took."""
    t0 = time.monotonic()
    view.start_loading()
    loaded = False
    try:
        await pipeline.load(view.progress)
        loaded = True
    finally:
        view.done_loading(time.monotonic() - t0, ok=loaded)
    return time.monotonic() - t0


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` (a clean stop) while inside; where the loop cannot take
    signal handlers (not the main thread, Windows) nothing changes."""
    loop = asyncio.get_running_loop()
    sigs = (signal.SIGINT, signal.SIGTERM)
    for sig in sigs:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in sigs:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


async def until_stopped(stop: asyncio.Event, duration_s: float | None, *tasks: asyncio.Future[Any]) -> None:
    """Return when `stop` is set, `duration_s` has passed (None: never), or one of `tasks` ends."""
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter, *tasks}, timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        await asyncio.wait({waiter})


class CameraFeed:
    """The camera of a run, if its pipeline looks: sampled faster while the user speaks."""

    def __init__(self, cfg: PipelineConfig, stages: list[Stage], source: str | None) -> None:
        self.opts = cfg.camera or CameraOptions()
        self.source = source or self.opts.source
        self.state = AssistantState()
        """An observer: the camera samples at active_fps while the state is `listening`."""
        self.scene = next((s for s in stages if isinstance(s, SceneStage)), None)
        if self.scene is not None and self.source is None:
            raise ConfigError(f"pipeline {cfg.name!r} looks through a camera, and none is given",
                              hint="--camera 0 (a device), a video file, an RTSP/HTTP URL or a folder of images")

    @property
    def observers(self) -> list[Observer]:
        return [self.state] if self.source else []

    def wrap(self, source: AsyncIterator[Frame]) -> AsyncIterator[Frame]:
        if self.source is None:
            return source
        sampler = self.opts.sampler(self.opts.camera(self.source), active=lambda: self.state.state == "listening")
        return with_camera(source, sampler)

    def stats(self) -> dict[str, Any]:
        return {"vision": self.scene.stats()} if self.scene is not None else {}


async def run_with_hud(pipeline: Pipeline, source: AsyncIterator[Frame], hud: HudWriter | None) -> None:
    """Run the pipeline; with a HUD, write its video alongside from the start to the end."""
    if hud is None:
        await pipeline.run(source)
        return
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(hud.run(stop), name="hud")
    try:
        await pipeline.run(source)
    finally:
        stop.set()
        await task


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


async def run_files(cfg: PipelineConfig, opts: FileRunOptions, view: ConsoleView) -> RunResult:
    """Run a pipeline on an input file; raises InputError/ConfigError before loading on bad input."""
    audio = await asyncio.to_thread(read_audio, opts.audio_in, cfg.sample_rate)
    log.info("input %s: %.1f s, %d Hz, %d channel(s)", audio.path, audio.seconds, audio.source_rate,
             audio.source_channels)
    stages = [build_stage(s) for s in cfg.stages]
    camera = CameraFeed(cfg, stages, opts.camera)
    if opts.room is None:
        for s in stages:
            if isinstance(s, EchoCanceller):
                # a file recorded before this run cannot hold this run's replies; the canceller
                # would only damage the user's words when they talk over the reply
                log.info("%s: file input with no room: the echo canceller passes audio through", s.name)
                s.bypass = True
    recorder = TurnRecorder({s.name: s.budget_ms for s in cfg.stages}, v2v_budget_ms=cfg.v2v_budget_ms)
    sink = WavFileSink("out", opts.audio_out, opts.out_rate or audio.source_rate,
                       on_reply_start=recorder.set_reply_start, on_barge_in=recorder.set_barge_in,
                       on_pause=recorder.count_pause,
                       realtime=opts.realtime)
    # barge-in needs real time: a file fed as fast as possible has no "while the assistant speaks"
    hud = HudWriter(opts.video_out, fps=opts.hud_fps) if opts.video_out else None
    pipeline = Pipeline([*stages, sink], observers=[recorder, view, *camera.observers, *([hud] if hud else [])],
                        reporter=recorder.report, floor=Floor(enabled=opts.realtime))
    pipeline.floor.add_player(sink)
    recorder.listeners.append(view.on_event)
    writer = JsonlWriter(opts.metrics) if opts.metrics else None
    if writer:
        recorder.listeners.append(writer.on_event)
    try:
        load_s = await load_pipeline_shown(pipeline, view)
        t1 = time.monotonic()
        source = watch_input(file_source(audio.samples, cfg.sample_rate, chunk_ms=cfg.chunk_ms,
                                         realtime=opts.realtime))
        if opts.room is not None:
            source = Room(sink.played, gain_db=opts.room[0], delay_ms=opts.room[1]).wrap(source)
        await run_with_hud(pipeline, camera.wrap(source), hud)
        run_s = time.monotonic() - t1
    finally:
        await pipeline.aclose()
        if writer:
            writer.close()
    dropped = sum(ch.dropped for ch in pipeline.channels)
    return RunResult(records=recorder.finished, recorder=recorder, load_s=load_s, run_s=run_s,
                     input_s=audio.seconds, peak_rss_mb=peak_rss_mb(),
                     extra={"frames dropped": dropped, **camera.stats(),
                            **({"hud frames": hud.frames} if hud else {})})
