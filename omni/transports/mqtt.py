"""The smart-home node: the pipeline on a live input, controlled and observed over MQTT.

Commands (ask, say, mute, listen, settings) arrive on `<prefix>/<node>/cmd/#` and reach the run
through its Controls; audio chunks on `audio/in` feed the live input; events, state and metrics
go out (omni.mqtt.node). Without a configured broker an embedded Mosquitto is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omni.audio import WavFileSink, read_audio
from omni.audio.sink import PlaybackEvents
from omni.audio.stream import LiveInput
from omni.errors import ConfigError
from omni.frames import Frame
from omni.mqtt.broker import EmbeddedBroker
from omni.mqtt.config import MqttOptions
from omni.mqtt.link import Endpoint, Link
from omni.mqtt.node import Node
from omni.runtime.metrics import TurnRecorder
from omni.transports.base import Session, Transport

if TYPE_CHECKING:
    from omni.config import PipelineConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeRunOptions:
    audio_in: Path | None = None
    """A file played once as the local microphone (then silence); the remote one is audio/in."""
    audio_out: Path | None = None
    """The speaker as a file: everything the node said, on the input's timeline, written when
    it stops (None: replies are played in real time and forgotten)."""
    metrics: Path | None = None
    metrics_port: int | None = None
    """Serve Prometheus /metrics on 127.0.0.1:PORT while running."""
    out_rate: int = 16000
    duration_s: float | None = None
    """Stop after this long (default: until SIGINT/SIGTERM)."""


@dataclass
class NodeHandle:
    """What a running node exposes (tests, bench): stop it, look at it."""

    node: Node
    link: Link
    live: LiveInput
    recorder: TurnRecorder
    endpoint: Endpoint
    stop: asyncio.Event


def endpoint_from(opts: MqttOptions, client_id: str) -> Endpoint:
    assert opts.broker is not None
    m = re.match(r"^(mqtts?)://(?:([^@/]+)@)?([^:/@]+)(?::(\d+))?/?$", opts.broker)
    if m is None:
        raise ConfigError(f"--broker {opts.broker!r}: expected mqtt://[user@]host[:port]")
    scheme, user, host, port = m.groups()
    tls = scheme == "mqtts"
    password = os.environ.get(opts.password_env)
    if user and password is None:
        log.warning("broker user %s given but %s is not set: connecting without a password", user,
                    opts.password_env)
    if opts.ca_file and not Path(opts.ca_file).is_file():
        raise ConfigError(f"CA file not found: {opts.ca_file}")
    return Endpoint(host, int(port or (8883 if tls else 1883)), username=user, password=password,
                    tls=tls, ca_file=opts.ca_file, client_id=client_id, keepalive_s=opts.keepalive_s)


class MqttTransport(Transport):
    """A live input fed over MQTT (and a local file), a file (or nothing) as the speaker, and the
    controls as MQTT commands."""

    name = "mqtt"
    echo_path = False
    """The node's speaker is a file here: nothing to cancel."""

    def __init__(self, opts: NodeRunOptions, started: Callable[[NodeHandle], None] | None = None) -> None:
        self.opts = opts
        self._started = started
        self.broker: EmbeddedBroker | None = None
        self.live: LiveInput | None = None
        self.node: Node | None = None
        self.link: Link | None = None
        self.endpoint: Endpoint | None = None

    async def open(self, cfg: PipelineConfig) -> None:
        self.mq = mq = cfg.mqtt or MqttOptions()
        local = None
        if self.opts.audio_in is not None:
            local = (await asyncio.to_thread(read_audio, self.opts.audio_in, cfg.sample_rate)).samples
        self.live = LiveInput(cfg.sample_rate, chunk_ms=cfg.chunk_ms, buffer_s=mq.audio_buffer_s, local=local,
                              inject=mq.inbox)
        self.client_id = f"omni-{mq.prefix}-{mq.node_id}"
        if mq.broker is not None:
            self.endpoint = endpoint_from(mq, self.client_id)

    def player(self, cfg: PipelineConfig, events: PlaybackEvents) -> WavFileSink:
        return WavFileSink("out", self.opts.audio_out, self.opts.out_rate, events=events, realtime=True,
                           keep_s=None if self.opts.audio_out else 60.0)

    async def attach(self, session: Session) -> None:
        """The node observes the run; the embedded broker starts, or the login to the home's is
        checked (before the models load: a wrong password fails now)."""
        assert self.live is not None
        self.node = node = Node(self.mq, live=self.live, controls=session.controls)
        session.pipeline.observers.append(node)
        session.recorder.listeners.append(node.on_record)
        mq = self.mq
        if self.endpoint is None:
            self.broker = await EmbeddedBroker(port=mq.embedded_port).start()
            self.endpoint = Endpoint(self.broker.host, self.broker.port, client_id=self.client_id,
                                     keepalive_s=mq.keepalive_s)
            session.view.console.print(f"embedded MQTT broker on mqtt://{self.broker.host}:{self.broker.port} "
                                       "(use --broker for the home's broker)")
        self.link = node.link = Link(self.endpoint, subscriptions=[(node.topics.commands, 1), (node.topics.audio_in, 0)],
                                     on_message=node.on_message, birth=node.birth, will=node.will,
                                     outbox=mq.outbox, reconnect=mq.reconnect, on_state=node.on_link_state)
        if self.broker is None:
            await self.link.check_login()

    def frames(self) -> AsyncIterator[Frame]:
        assert self.live is not None
        return self.live.frames()

    async def serve(self, session: Session) -> None:
        assert self.link is not None and self.node is not None and self.live is not None
        link_task = asyncio.get_running_loop().create_task(self.link.run(), name="mqtt-link")
        try:
            session.view.console.print(f"node {self.mq.node_id}: serving on {self.endpoint} under "
                                       f"{self.node.topics.base}/")
            with contextlib.suppress(TimeoutError):  # a broker that is down does not hold the node up
                await asyncio.wait_for(self.link.connected.wait(), 10)
            if self._started is not None:
                assert self.endpoint is not None
                self._started(NodeHandle(self.node, self.link, self.live, session.recorder, self.endpoint,
                                         session.stop))
            await link_task  # the link ends only on a fault that retrying cannot mend
        finally:
            if not link_task.done():
                link_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await link_task

    def inject(self, frame: Frame) -> None:
        assert self.live is not None
        self.live.inject(frame)

    @property
    def position(self) -> int:
        return self.live.position if self.live is not None else 0

    def listen(self, on: bool) -> None:
        assert self.live is not None
        self.live.listening = on

    @property
    def listening(self) -> bool:
        return self.live.listening if self.live is not None else True

    def stop_input(self) -> None:
        if self.live is not None:
            self.live.stop()

    async def finish(self) -> None:
        if self.link is not None and self.node is not None:
            self.link.send(self.node.will)  # a clean disconnect does not fire the last will: say it
            await self.link.drain(2.0)

    async def close(self) -> None:
        if self.broker is not None:
            await self.broker.stop()
            self.broker = None

    def summary(self) -> dict[str, Any]:
        if self.node is None or self.link is None:
            return {}
        s = self.node.stats
        return {"commands accepted": s["accepted"], "commands refused": s["refused"], "duplicates": s["duplicates"],
                "audio chunks": s["audio_chunks"], "events dropped": self.link.dropped, "connections": self.link.connections}
