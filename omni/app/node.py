"""A node run: the pipeline on a live input, served over MQTT until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from omni.app.run import JsonlWriter, load_pipeline_shown, peak_rss_mb, stop_on_signals, until_stopped
from omni.app.view import ConsoleView
from omni.audio import WavFileSink, read_audio
from omni.audio.stream import LiveInput
from omni.config import PipelineConfig
from omni.errors import ConfigError, OmniError
from omni.mqtt.broker import EmbeddedBroker
from omni.mqtt.config import MqttOptions
from omni.mqtt.link import Endpoint, Link
from omni.mqtt.node import Node
from omni.runtime import Pipeline
from omni.runtime.floor import Floor
from omni.runtime.metrics import TurnRecorder
from omni.stages import build_stage
from omni.stages.dialogue import Dialogue
from omni.stages.echo import EchoCanceller

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeRunOptions:
    audio_in: Path | None = None
    """A file played once as the local microphone (then silence); the remote one is audio/in."""
    audio_out: Path | None = None
    """The speaker as a file: everything the node said, on the input's timeline, written when
    it stops (None: replies are played in real time and forgotten)."""
    metrics: Path | None = None
    out_rate: int = 16000
    duration_s: float | None = None
    """Stop after this long (default: until SIGINT/SIGTERM)."""


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


@dataclass
class NodeHandle:
    """What a running node exposes (tests, bench): stop it, look at it."""

    node: Node
    link: Link
    live: LiveInput
    recorder: TurnRecorder
    endpoint: Endpoint
    stop: asyncio.Event


async def run_node(cfg: PipelineConfig, opts: NodeRunOptions, view: ConsoleView,
                   started: asyncio.Future[NodeHandle] | None = None) -> dict[str, object]:
    """Load the pipeline, connect (starting the embedded broker if none is configured), serve
    until stopped; returns a summary. `started` is resolved with a NodeHandle once serving."""
    mq = cfg.mqtt or MqttOptions()
    local = None
    if opts.audio_in is not None:
        local = (await asyncio.to_thread(read_audio, opts.audio_in, cfg.sample_rate)).samples
    stages = [build_stage(s) for s in cfg.stages]
    for s in stages:
        if isinstance(s, EchoCanceller):  # a node's speaker is a file here: nothing to cancel
            s.bypass = True
    dialogue = next((s for s in stages if isinstance(s, Dialogue)), None)
    actions = {a.name: a for a in dialogue.options.actions} if dialogue else {}
    recorder = TurnRecorder({s.name: s.budget_ms for s in cfg.stages}, v2v_budget_ms=cfg.v2v_budget_ms, keep=200)
    sink = WavFileSink("out", opts.audio_out, opts.out_rate, on_reply_start=recorder.set_reply_start,
                       on_barge_in=recorder.set_barge_in, on_pause=recorder.count_pause, realtime=True,
                       keep_s=None if opts.audio_out else 60.0)
    floor = Floor()
    live = LiveInput(cfg.sample_rate, chunk_ms=cfg.chunk_ms, buffer_s=mq.audio_buffer_s, local=local,
                     inject=mq.inbox)
    node = Node(mq, live=live, floor=floor, sink=sink, stages=stages, actions=actions)
    pipeline = Pipeline([*stages, sink], observers=[recorder, view, node], reporter=recorder.report, floor=floor)
    pipeline.floor.add_player(sink)
    recorder.listeners += [view.on_event, node.on_record]
    writer = JsonlWriter(opts.metrics) if opts.metrics else None
    if writer:
        recorder.listeners.append(writer.on_event)

    broker: EmbeddedBroker | None = None
    client_id = f"omni-{mq.prefix}-{mq.node_id}"
    if mq.broker is None:
        broker = await EmbeddedBroker(port=mq.embedded_port).start()
        endpoint = Endpoint(broker.host, broker.port, client_id=client_id, keepalive_s=mq.keepalive_s)
        view.console.print(f"embedded MQTT broker on mqtt://{broker.host}:{broker.port} "
                           "(use --broker for the home's broker)")
    else:
        endpoint = endpoint_from(mq, client_id)
    link = node.link = Link(endpoint, subscriptions=[(node.topics.commands, 1), (node.topics.audio_in, 0)],
                            on_message=node.on_message, birth=node.birth, will=node.will,
                            outbox=mq.outbox, reconnect=mq.reconnect, on_state=node.on_link_state)
    if broker is None:
        await link.check_login()  # a wrong password fails now, not after loading the models
    stop = asyncio.Event()
    with stop_on_signals(stop):
        try:
            await load_pipeline_shown(pipeline, view)
            async with asyncio.TaskGroup() as tg:
                link_task = tg.create_task(link.run(), name="mqtt-link")
                run_task = tg.create_task(pipeline.run(live.frames()), name="pipeline")
                view.console.print(f"node {mq.node_id}: serving on {endpoint} under {node.topics.base}/")
                with contextlib.suppress(TimeoutError):  # a broker that is down does not hold the node up
                    await asyncio.wait_for(link.connected.wait(), 10)
                if started is not None and not started.done():
                    started.set_result(NodeHandle(node, link, live, recorder, endpoint, stop))
                await until_stopped(stop, opts.duration_s, link_task)
                live.stop()
                await run_task  # the pipeline drains: replies under way finish at the speaker
                link.send(node.will)  # a clean disconnect does not fire the last will: say it
                await link.drain(2.0)
                link_task.cancel()
        except BaseExceptionGroup as eg:  # e.g. the broker refused the login: say that, not a traceback
            first = _first_omni_error(eg)
            if first is None:
                raise
            raise first from None
        finally:
            await pipeline.aclose()
            if writer:
                writer.close()
            if broker is not None:
                await broker.stop()
    return {"turns": len(recorder.finished), "commands accepted": node.stats["accepted"],
            "commands refused": node.stats["refused"], "duplicates": node.stats["duplicates"],
            "events dropped": link.dropped, "connections": link.connections,
            "peak memory": f"{peak_rss_mb():.0f} MB"}


def _first_omni_error(eg: BaseExceptionGroup) -> OmniError | None:
    for e in eg.exceptions:
        if isinstance(e, OmniError):
            return e
        if isinstance(e, BaseExceptionGroup) and (inner := _first_omni_error(e)) is not None:
            return inner
    return None
