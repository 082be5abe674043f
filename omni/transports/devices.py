"""Live devices: the microphone in, the speaker out (PortAudio), a terminal dashboard, and the
space bar as a push-to-talk key when the pipeline asks for one."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omni.audio.device import Microphone, Speaker, watch_keys
from omni.audio.sink import PlaybackEvents, WavFileSink
from omni.frames import Frame, PushToTalk
from omni.transports.base import Session, Transport

log = logging.getLogger(__name__)

FIRST_AUDIO_S = 5.0
"""How long an opened microphone may take to deliver its first audio before a warning."""

if TYPE_CHECKING:
    from omni.config import PipelineConfig


@dataclass(frozen=True)
class LiveRunOptions:
    input_device: str | None = None
    output_device: str | None = None
    record: Path | None = None
    """Also write what the speaker played to this wav (on the input's timeline)."""
    metrics: Path | None = None
    metrics_port: int | None = None
    """Serve Prometheus /metrics on 127.0.0.1:PORT while running."""
    duration_s: float | None = None
    camera: str | None = None
    """Camera source for pipelines with vision stages (default: the pipeline's camera.source)."""
    video_out: Path | None = None
    """Write the heads-up display video here."""
    hud_fps: float = 10.0


class DeviceTransport(Transport):
    """A sound card's microphone and speaker; until Ctrl-C, SIGTERM or the run's duration."""

    name = "devices"

    def __init__(self, opts: LiveRunOptions, dashboard: Any = None) -> None:
        """`dashboard`: a terminal dashboard to show while running (omni.app.dashboard: an
        observer with `on_event` and `render`), or None."""
        self.opts = opts
        self.camera = opts.camera
        self.mic: Microphone | None = None
        self.speaker: Speaker | None = None
        self._session: Session | None = None
        self._dashboard = dashboard
        self._keys_done = threading.Event()
        self._commits: list[asyncio.TimerHandle] = []
        """A commit waiting for the push-to-talk release tail (cancelled at close)."""
        self._talk_key = False

    async def open(self, cfg: PipelineConfig) -> None:
        self.mic = Microphone(self.opts.input_device, cfg.sample_rate, chunk_ms=cfg.chunk_ms)
        self._talk_key = any(s.kind == "wake.micro" and s.options.get("mode") == "push_to_talk"
                             for s in cfg.stages)
        wake = next((s for s in cfg.stages if s.kind == "wake.micro"), None)
        self._release_s = float(wake.options.get("release_ms", 300)) / 1000 if wake is not None else 0.3

    def player(self, cfg: PipelineConfig, events: PlaybackEvents) -> WavFileSink:
        assert self.mic is not None, "open() first"
        mic = self.mic
        # the speaker's timeline is the microphone's: it starts at the microphone's sample 0
        self.speaker = Speaker("out", self.opts.output_device, record=self.opts.record, events=events,
                               clock=lambda: mic.t0)
        return self.speaker

    async def attach(self, session: Session) -> None:
        self._session = session
        if self._dashboard is not None:
            session.pipeline.observers.append(self._dashboard)
            session.recorder.listeners.append(self._dashboard.on_event)

    async def start(self) -> None:
        assert self.mic is not None and self.speaker is not None and self._session is not None
        self.mic.open()
        # "listening" is said once audio arrives: a stream that opens and delivers nothing (a
        # sound server still connecting, a muted source) is said to be one
        try:
            await asyncio.wait_for(self.mic.started.wait(), FIRST_AUDIO_S)
        except TimeoutError:
            log.warning("no audio from the microphone %r in %g s after opening it (still waiting)",
                        self.mic.device.get("name"), FIRST_AUDIO_S)
        self._session.view.console.print(
            f"listening on {self.mic.device['name']!r}, speaking on {self.speaker.device['name']!r} "
            "(Ctrl-C to stop" + (", space: talk / stop talking)" if self._talk_key else ")"))
        if self._talk_key and sys.stdin.isatty():
            loop = asyncio.get_running_loop()
            pressed = [False]
            mic = self.mic
            controls = self._session.controls
            release_s = self._release_s

            commit = self._commits

            def talk(on: bool) -> None:
                while commit:  # pressed again before the tail was in: that turn goes on
                    commit.pop().cancel()
                mic.inject(PushToTalk(pressed=on))
                if not on and not self._keys_done.is_set():  # the turn ends once the gate's release tail is in
                    commit.append(loop.call_later(release_s, controls.commit))

            def on_key(ch: str) -> None:  # terminals send no key-up: space toggles talking
                if ch == " ":
                    pressed[0] = not pressed[0]
                    loop.call_soon_threadsafe(talk, pressed[0])
            threading.Thread(target=watch_keys, args=(sys.stdin, on_key, self._keys_done), daemon=True,
                             name="omni-keys").start()

    def frames(self) -> AsyncIterator[Frame]:
        assert self.mic is not None
        return self.mic.frames()

    async def serve(self, session: Session) -> None:
        if self._dashboard is None:
            await asyncio.Event().wait()
            return
        from rich.live import Live

        session.view.quiet = True  # the dashboard shows what the lines would
        with Live(get_renderable=self._dashboard.render, console=session.view.console, refresh_per_second=8,
                  transient=False):
            await asyncio.Event().wait()

    def inject(self, frame: Frame) -> None:
        assert self.mic is not None
        self.mic.inject(frame)

    def stop_input(self) -> None:
        if self.mic is not None:
            self.mic.stop()

    async def close(self) -> None:
        self._keys_done.set()
        while self._commits:
            self._commits.pop().cancel()
        if self.mic is not None:
            await self.mic.aclose()

    def summary(self) -> dict[str, Any]:
        if self.mic is None or self.speaker is None:
            return {}
        return {"microphone": self.mic.stats.summary() | {"dropped": self.mic.dropped},
                "speaker": self.speaker.stats.summary()}
