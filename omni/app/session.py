"""The composition root: every run is built here, from a pipeline file, a transport and observers.

    cfg + transport + view ──> stages + the transport's player ──> Pipeline (one RunContext)
                                   │                                   │
                      TurnRecorder (observer, reporter,        observers: recorder, view,
                      playback events), Controls               camera state, HUD, transport's

`run(cfg, transport, view)` opens the transport (bad input fails before any model loads), loads
the stages with progress shown, runs the pipeline on the transport's frames beside its `serve`
until the input ends, a stop is asked for (SIGINT/SIGTERM, `stop`, `duration_s`) or `serve`
ends, lets the pipeline drain, and returns one RunResult.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import resource
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from omni.app.hud import HudWriter
from omni.app.prometheus import MetricsExporter
from omni.app.view import ConsoleView
from omni.config import PipelineConfig
from omni.errors import ConfigError, OmniError, OutputError
from omni.files import why
from omni.frames import Frame
from omni.runtime import Branch, Pipeline
from omni.runtime.context import RunContext
from omni.runtime.floor import Floor
from omni.runtime.metrics import TurnRecord, TurnRecorder
from omni.runtime.pipeline import Observer
from omni.runtime.stage import Stage
from omni.runtime.state import AssistantState
from omni.stages import build_stage
from omni.stages.dialogue import Dialogue
from omni.stages.chunker import SentenceChunker
from omni.stages.echo import EchoCanceller
from omni.stages.stt import WhisperSTT
from omni.stages.tts import PiperTTS
from omni.stages.scene import SceneStage
from omni.runtime.controls import Controls
from omni.runtime.engines import EnginePool
from omni.runtime.tasks import Scope
from omni.transports.base import Session, Transport
from omni.vision.camera import Camera, CameraOptions, camera_frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """What every run may have, whatever its transport."""

    metrics: Path | None = None
    """Write one JSON line per finished turn here."""
    duration_s: float | None = None
    """Stop after this long (None: when the input ends, or on SIGINT/SIGTERM)."""
    camera: str | None = None
    """Camera source for pipelines that look (default: the transport's, then the pipeline's)."""
    video_out: Path | None = None
    """Write the heads-up display (camera, detections, transcript, reply) to this video."""
    hud_fps: float = 10.0
    keep_records: int | None = None
    """Remember only the last N turn records (a service that runs for weeks); None: all."""
    metrics_port: int | None = None
    """Serve Prometheus /metrics on 127.0.0.1:PORT while the run lasts (omni.app.prometheus)."""


@dataclass
class RunResult:
    """What a run leaves, whatever its transport."""

    records: list[TurnRecord]
    recorder: TurnRecorder
    load_s: float
    run_s: float
    input_s: float | None
    """Seconds of input (None: a live input)."""
    peak_rss_mb: float
    extra: dict[str, Any] = field(default_factory=dict)
    """The transport's summary, frames dropped, vision stats, HUD frames."""
    interrupted: bool = False
    """Stopped by SIGINT (Ctrl-C): a clean stop, outputs written; the command line exits 130."""


async def run(cfg: PipelineConfig, transport: Transport, view: ConsoleView, opts: RunOptions | None = None, *,
              observers: list[Observer] | None = None, stop: asyncio.Event | None = None,
              started: Callable[[Session], None] | None = None, engines: EnginePool | None = None) -> RunResult:
    """Build a session of `cfg` on `transport` and run it to its end (see the module's docstring).
    `started(session)` is called once the pipeline runs and the transport serves.

    With `engines` (the process's, omni.app.host.Host), the session takes its models from them
    and leaves them loaded. Without, this call is the whole process: it loads the engines,
    stops on SIGINT/SIGTERM and closes the engines at the end."""
    opts = opts or RunOptions()
    stop = stop if stop is not None else asyncio.Event()
    if engines is not None:
        return await _session(cfg, transport, view, opts, observers or [], stop, started, engines)
    own = EnginePool()
    caught: list[int] = []
    try:
        with stop_on_signals(stop, caught):
            result = await _session(cfg, transport, view, opts, observers or [], stop, started, own)
    finally:
        await own.aclose()
    result.interrupted = signal.SIGINT in caught
    return result


_sessions = itertools.count(1)


async def _session(cfg: PipelineConfig, transport: Transport, view: ConsoleView, opts: RunOptions,
                   observers: list[Observer], stop: asyncio.Event, started: Callable[[Session], None] | None,
                   engines: EnginePool) -> RunResult:
    scope = Scope(f"session-{next(_sessions)}")
    with scope.entered():
        await transport.open(cfg)
        try:
            return await _run(cfg, transport, view, opts, observers, stop, started, engines)
        finally:
            await transport.close()
            await asyncio.sleep(0)  # tasks cancelled in the last step need a turn of the loop to end
            report_leftovers(scope)


def report_leftovers(scope: Scope) -> list[str]:
    """Tasks and worker threads a session started that are still running when it has shut
    down: each is a defect (something not cancelled, awaited or shut down). Only the session's
    own are looked at: other sessions of the process go on. Logged as an error, with the names
    in the record's `leftover_tasks` (the tests fail on it), and returned."""
    names = scope.leftovers()
    if names:
        log.error("tasks still running after the %s shut down: %s", scope.name, ", ".join(names),
                  extra={"stage": "session", "leftover_tasks": names})
    return names


async def _run(cfg: PipelineConfig, transport: Transport, view: ConsoleView, opts: RunOptions,
               observers: list[Observer], stop: asyncio.Event, started: Callable[[Session], None] | None,
               engines: EnginePool) -> RunResult:
    stages = [build_stage(s) for s in cfg.stages]
    if not transport.audio_out:  # text only: nothing is spoken, so nothing makes speech
        stages = [s for s in stages if not isinstance(s, (SentenceChunker, PiperTTS))]
    if not transport.echo_path and any(isinstance(s, EchoCanceller) for s in stages):
        log.info("the %s transport has no echo path: the echo canceller passes audio through", transport.name)
    camera = CameraFeed(cfg, stages, opts.camera or transport.camera)
    recorder = TurnRecorder({s.name: s.budget_ms for s in cfg.stages}, v2v_budget_ms=cfg.v2v_budget_ms,
                            keep=opts.keep_records)
    player = transport.player(cfg, recorder)
    hud = HudWriter(opts.video_out, fps=opts.hud_fps) if opts.video_out else None
    context = RunContext(floor=Floor(enabled=transport.realtime), reporter=recorder.report,
                         echo_path=transport.echo_path, engines=engines)
    pipeline = Pipeline([*stages, player], context=context,
                        observers=[recorder, view, *camera.observers, *([hud] if hud else []), *observers])
    context.floor.add_player(player)
    recorder.listeners.append(view.on_event)
    writer = JsonlWriter(opts.metrics) if opts.metrics else None
    if writer:
        recorder.listeners.append(writer.on_event)
    exporter: MetricsExporter | None = None
    dialogue = next((s for s in stages if isinstance(s, Dialogue)), None)
    actions = {a.name: a for a in dialogue.options.actions} if dialogue is not None else {}
    stt = next((s for s in stages if isinstance(s, WhisperSTT)), None)
    controls = Controls(stages, player, context.floor, transport, cfg.sample_rate, actions,
                        transcribe=_transcriber(stt) if stt is not None else None)
    session = Session(cfg, stages, player, pipeline, recorder, view, controls, stop, engines)
    await transport.attach(session)
    run_s = 0.0
    # the engines load here the first time (later sessions find them loaded); signals are the process's
    try:
        if opts.metrics_port:  # bound before the models load: a port in use is said at once
            exporter = MetricsExporter(cfg, opts.metrics_port, engines, recorder,
                                       dropped=lambda: sum(ch.dropped for ch in pipeline.channels))
        load_s = await load_pipeline_shown(pipeline, view)
        t1 = time.monotonic()
        await transport.start()
        try:
            async with asyncio.TaskGroup() as tg:
                running = tg.create_task(run_with_hud(pipeline, transport.frames(), camera.branches(), hud),
                                         name="pipeline")
                serving = tg.create_task(transport.serve(session), name=f"transport:{transport.name}")
                if started is not None:
                    started(session)
                await until_stopped(stop, opts.duration_s, running, serving)
                transport.stop_input()
                await running  # the pipeline drains: replies under way finish at the player
                await transport.finish()
                serving.cancel()
        except BaseExceptionGroup as eg:  # e.g. the broker refused the login: that, not a traceback
            first = _first_omni_error(eg)
            if first is None:
                raise
            raise first from None
        run_s = time.monotonic() - t1
    finally:
        await pipeline.aclose()
        if writer:
            close_metrics(writer)
        if exporter is not None:
            exporter.close()
    return RunResult(records=list(recorder.finished), recorder=recorder, load_s=load_s, run_s=run_s,
                     input_s=transport.input_s, peak_rss_mb=peak_rss_mb(),
                     extra={**transport.summary(), "frames dropped": sum(ch.dropped for ch in pipeline.channels),
                            **camera.stats(), **({"hud frames": hud.frames} if hud else {})})


def _transcriber(stt: WhisperSTT) -> Callable[[Any, int], Any]:
    async def transcribe(samples: Any, rate: int) -> str:
        return (await stt.transcribe_audio(samples, rate)).text

    return transcribe


class JsonlWriter:
    """Writes one JSON object per finished turn, flushed as it happens (a log a reader can follow,
    so it is written in place, not renamed at the end). A write that fails (the disk is full) is
    logged once and the run goes on; `close` then raises an OutputError saying so."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failed: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._f: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise OutputError(f"cannot write the metrics to {path}: {e.strerror or e}") from None

    def on_event(self, kind: str, payload: Any) -> None:
        if kind != "turn" or self.failed:
            return
        try:
            self._f.write(json.dumps(payload.as_dict(), ensure_ascii=False) + "\n")
            self._f.flush()
        except OSError as e:
            self.failed = why(e)
            log.error("cannot write the metrics to %s (%s): the turns after this one are not in it",
                      self.path, self.failed, extra={"stage": "session"})

    def close(self) -> None:
        try:
            self._f.close()
        except OSError as e:
            self.failed = self.failed or (e.strerror or str(e))
        if self.failed:
            raise OutputError(f"the metrics in {self.path} are incomplete: {self.failed}")


def close_metrics(writer: JsonlWriter) -> None:
    """Close the metrics file; its failure is the run's error unless the run already has one."""
    pending = sys.exc_info()[1]  # called in a `finally`: the exception the run is leaving with
    try:
        writer.close()
    except OutputError as e:
        if pending is None:
            raise
        log.error("%s", e, extra={"stage": "session"})


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
def stop_on_signals(stop: asyncio.Event, caught: list[int] | None = None) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` (a clean stop) while inside, and are appended to `caught`;
    where the loop cannot take signal handlers (not the main thread, Windows) nothing changes."""
    loop = asyncio.get_running_loop()
    sigs = (signal.SIGINT, signal.SIGTERM)

    def on_signal(sig: int) -> None:
        if caught is not None:
            caught.append(sig)
        stop.set()

    for sig in sigs:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal, sig)
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

    def __init__(self, cfg: PipelineConfig, stages: list[Stage], source: str | Camera | None) -> None:
        self.opts = cfg.camera or CameraOptions()
        self.source = source or self.opts.source
        self.state = AssistantState()
        """An observer: the camera samples at active_fps while the state is `listening` or `thinking`."""
        self.scene = next((s for s in stages if isinstance(s, SceneStage)), None)
        if self.scene is not None and self.source is None:
            raise ConfigError(f"pipeline {cfg.name!r} looks through a camera, and none is given",
                              hint="--camera 0 (a device), a video file, an RTSP/HTTP URL or a folder of images")

    @property
    def observers(self) -> list[Observer]:
        return [self.state] if self.source else []

    def branches(self) -> list[Branch]:
        """The camera as a branch into the scene stage: its frames pass no audio stage."""
        if self.source is None or self.scene is None:
            return []
        camera = self.source if isinstance(self.source, Camera) else self.opts.camera(self.source)
        # a question is about what is in view now: sampled fast until it is answered
        sampler = self.opts.sampler(camera, active=lambda: self.state.state in ("listening", "thinking"))
        return [Branch("camera", self.scene.name, camera_frames(sampler))]

    def stats(self) -> dict[str, Any]:
        return {"vision": self.scene.stats()} if self.scene is not None else {}


async def run_with_hud(pipeline: Pipeline, source: AsyncIterator[Frame], branches: list[Branch],
                       hud: HudWriter | None) -> None:
    """Run the pipeline; with a HUD, write its video alongside from the start to the end."""
    if hud is None:
        await pipeline.run(source, branches)
        return
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(hud.run(stop), name="hud")
    try:
        await pipeline.run(source, branches)
    finally:
        stop.set()
        await task


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _first_omni_error(eg: BaseExceptionGroup) -> OmniError | None:
    for e in eg.exceptions:
        if isinstance(e, OmniError):
            return e
        if isinstance(e, BaseExceptionGroup) and (inner := _first_omni_error(e)) is not None:
            return inner
    return None
