"""A pipeline served over MQTT: commands in, events out, device actions published.

The node is an observer of the pipeline (it sees every frame, as the terminal view does) and the
owner of its live input (it puts text turns and remote microphone audio on it). It never blocks
the pipeline: events go to the link's bounded outbox, which publishes them when it can.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import string
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiomqtt

from omni.audio.io import decode_wav_chunk, wav_bytes
from omni.audio.stream import LiveInput
from omni.dialogue.tools import ActionSpec
from omni.errors import ConfigError, InputError
from omni.frames import (DeviceAction, ErrorEvent, Frame, PartialTranscript, ReplyAudio, ReplyPlayed,
                         ReplySentence, Transcript, Turn)
from omni.mqtt.commands import Command, CommandError, Dedupe, parse_command
from omni.mqtt.config import DeviceTopic, MqttOptions
from omni.mqtt.discovery import discovery_messages
from omni.mqtt.link import Link, Outgoing
from omni.mqtt.topics import Topics
from omni.runtime.state import AssistantState
from omni.runtime.metrics import TurnRecord

REQUESTS_KEPT = 256

if TYPE_CHECKING:
    from omni.runtime.controls import Controls

log = logging.getLogger(__name__)


def check_devices(devices: Mapping[str, DeviceTopic], actions: Mapping[str, ActionSpec]) -> None:
    """Every device topic maps a declared action, and its templates use only arguments with a
    fixed set of values, so the set of (topic, payload) pairs the node can publish is finite and
    known when it starts."""
    for name, dev in devices.items():
        spec = actions.get(name)
        if spec is None:
            raise ConfigError(f"mqtt.devices.{name}: no action named {name!r} in the llm stage's actions",
                              hint=f"declared actions: {sorted(actions)}")
        for f in dev.fields():
            schema = spec.parameters.get(f)
            if schema is None:
                raise ConfigError(f"mqtt.devices.{name}: the template uses {{{f}}}, which is not an "
                                  f"argument of {name} ({sorted(spec.parameters)})")
            if "enum" not in schema:
                raise ConfigError(f"mqtt.devices.{name}: argument {f!r} has no enum: a device topic or "
                                  "payload may only use arguments with a fixed set of values")


def publishable(devices: Mapping[str, DeviceTopic], actions: Mapping[str, ActionSpec]) -> set[tuple[str, bytes]]:
    """Every (topic, payload) a device action can put on the broker: each device template filled
    with every combination of its arguments' enum values (check_devices makes this finite)."""
    out: set[tuple[str, bytes]] = set()
    for name, dev in devices.items():
        fields = sorted(dev.fields())
        enums = [actions[name].parameters[f]["enum"] for f in fields]
        out |= {render(dev, dict(zip(fields, combo))) for combo in itertools.product(*enums)}
    return out


def render(dev: DeviceTopic, args: Mapping[str, Any]) -> tuple[str, bytes]:
    wire = {k: dev.values.get(k, {}).get(str(v), str(v)) for k, v in args.items()}
    fmt = string.Formatter()

    def fill(t: str) -> str:
        return fmt.vformat(t, (), _Strict(wire))

    topic = fill(dev.topic)
    if isinstance(dev.payload, dict):
        payload = json.dumps({k: fill(v) if isinstance(v, str) else v for k, v in dev.payload.items()})
    else:
        payload = fill(dev.payload)
    return topic, payload.encode()


def action_body(frame: DeviceAction) -> dict[str, Any]:
    """The `event/action` message of a device action (what was done, by which path)."""
    return {"turn": frame.turn.id if frame.turn else None, "action": frame.action, "args": dict(frame.args),
            "source": frame.source}


def device_command(devices: Mapping[str, DeviceTopic], actions: Mapping[str, ActionSpec],
                   frame: DeviceAction) -> Outgoing | None:
    """The device command an action publishes (None: the action has no device topic). ValueError
    when its arguments fall outside the declared values: nothing outside the allow-list goes out."""
    dev, spec = devices.get(frame.action), actions.get(frame.action)
    if dev is None or spec is None:
        return None
    try:
        if any(v not in spec.parameters.get(k, {}).get("enum", [v]) for k, v in frame.args.items()):
            raise KeyError("argument outside its enum")
        topic, payload = render(dev, frame.args)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"action {frame.action} {frame.args}: cannot publish it ({e})") from None
    log.info("action %s %s -> %s %s", frame.action, frame.args, topic, payload.decode())
    return Outgoing(topic, payload, qos=dev.qos, retain=dev.retain)


class _Strict(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


class Node:
    """Commands -> the pipeline's live input and settings; the pipeline's frames -> events."""

    def __init__(self, opts: MqttOptions, *, live: LiveInput, controls: Controls,
                 max_pending_turns: int = 8) -> None:
        self.opts = opts
        self.topics = Topics(opts.prefix, opts.node_id)
        self.live = live
        """The transport's input: audio chunks from audio/in go in (the remote microphone)."""
        self.controls = controls
        """The run's controls: text turns, listening, the speaker's mute, live settings, the
        allow-list."""
        self.actions = dict(controls.actions)
        check_devices(opts.devices, self.actions)
        self.dedupe = Dedupe(opts.dedupe)
        self.max_pending_turns = max_pending_turns
        self.link: Link | None = None
        self.status = AssistantState()
        self._requests: collections.OrderedDict[int, str] = collections.OrderedDict()
        """Turn id -> id of the command that started it (ask/say): every event of that turn names
        it as `request`. The last REQUESTS_KEPT are kept (a turn's events all come within them)."""
        self._seq = 0
        self.stats = {"accepted": 0, "refused": 0, "duplicates": 0, "audio_chunks": 0, "actions": 0}

    # what the link sends on every connection ----------------------------------------------
    @property
    def will(self) -> Outgoing:
        return Outgoing(self.topics.status, b"offline", qos=1, retain=True)

    def birth(self) -> list[Outgoing]:
        msgs = [Outgoing(self.topics.status, b"online", qos=1, retain=True)]
        if self.opts.discovery.enabled:
            msgs += discovery_messages(self.topics, self.opts.discovery.prefix)
        msgs.append(self._state_message())
        return msgs

    def on_link_state(self, state: str, detail: str) -> None:
        if state == "disconnected":
            # kept in the outbox: whoever watches the error topic learns of the outage afterwards
            self.event("error", {"stage": "mqtt", "message": f"broker connection lost: {detail}"})

    # events -----------------------------------------------------------------------------
    def _send(self, msg: Outgoing) -> None:
        if self.link is not None:
            self.link.send(msg)

    def event(self, kind: str, body: dict[str, Any], qos: int = 1) -> None:
        self._seq += 1
        payload = {**body, "seq": self._seq, "ts": round(time.time(), 3)}
        # backslashreplace: the last guard (text is made safe where it enters); never a failed publish
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8", "backslashreplace")
        self._send(Outgoing(self.topics.event(kind), data, qos=qos))

    def _state_message(self) -> Outgoing:
        body = {"state": self.status.state, "muted": self.controls.muted, "listening": self.controls.listening,
                "ts": round(time.time(), 3)}
        return Outgoing(self.topics.state, json.dumps(body).encode(), qos=1, retain=True)


    def _error(self, message: str, *, stage: str = "mqtt", turn: Turn | None = None, **extra: Any) -> None:
        log.warning("%s: %s", stage, message, extra={"stage": stage})
        body = {"stage": stage, "message": message, "turn": turn.id if turn else None, **extra}
        if turn is not None and turn.id in self._requests:
            body["request"] = self._requests[turn.id]
        self.event("error", body)

    def _turn_body(self, turn: Turn) -> dict[str, Any]:
        body: dict[str, Any] = {"turn": turn.id}
        if turn.id in self._requests:
            body["request"] = self._requests[turn.id]
        return body

    # observer: each frame once, from the stage that made it ---------------------------------
    def on_frame(self, stage: str, frame: Frame) -> None:
        if self.status.on_frame(stage, frame):
            self._send(self._state_message())
        if isinstance(frame, PartialTranscript):
            self.event("partial", {"text": frame.text, "stable": frame.stable}, qos=0)
        elif isinstance(frame, Transcript) and not frame.tentative:
            self.event("transcript", {**self._turn_body(frame.turn), "text": frame.text})
        elif isinstance(frame, ReplySentence):
            self.event("sentence", {**self._turn_body(frame.turn), "index": frame.index, "text": frame.text})
        elif isinstance(frame, DeviceAction):
            self._act(frame)
        elif isinstance(frame, ErrorEvent):
            self._error(frame.message, stage=frame.stage, turn=frame.turn)
        elif isinstance(frame, ReplyAudio):
            if self.opts.publish_audio:
                self._send(Outgoing(self.topics.event("audio"), wav_bytes(frame.samples, frame.sample_rate), qos=0))
        elif isinstance(frame, ReplyPlayed):
            self.event("reply", {**self._turn_body(frame.turn), "text": frame.text, "reason": frame.reason})

    def on_record(self, kind: str, payload: Any) -> None:
        """Metrics listener: each finished turn's record goes out on event/metrics."""
        if kind == "turn" and isinstance(payload, TurnRecord):
            body = payload.as_dict()
            req = self._requests.get(payload.turn.id)
            if req is not None:
                body["request"] = req
            self.event("metrics", body)

    def _act(self, frame: DeviceAction) -> None:
        body = action_body(frame)
        try:
            msg = device_command(self.opts.devices, self.actions, frame)
        except ValueError as e:
            self._error(str(e), turn=frame.turn)
            return
        if msg is not None:
            self._send(msg)
            body |= {"topic": msg.topic, "payload": msg.payload.decode()}
            self.stats["actions"] += 1
        self.event("action", body)

    # commands ---------------------------------------------------------------------------
    async def on_message(self, message: aiomqtt.Message) -> None:
        topic = str(message.topic)
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        if topic == self.topics.audio_in:
            self._audio(payload)
            return
        name = self.topics.command_of(topic)
        if name is None:
            return
        try:
            cmd = parse_command(name, payload, self.opts.max_payload_bytes)
        except CommandError as e:
            self.stats["refused"] += 1
            self._error(e.message, command=name, id=e.id)
            return
        if cmd.id and not self.dedupe.first_time(cmd.id):
            self.stats["duplicates"] += 1
            log.info("command %s %s: a redelivery, already handled", cmd.name, cmd.id)
            self.event("ack", {"id": cmd.id, "command": cmd.name, "duplicate": True})
            return
        try:
            extra = self._dispatch(cmd)
        except (InputError, ConfigError, OverflowError) as e:
            self.stats["refused"] += 1
            self._error(getattr(e, "message", str(e)), command=cmd.name, id=cmd.id)
            return
        self.stats["accepted"] += 1
        self.event("ack", {"id": cmd.id, "command": cmd.name, **extra})

    def _audio(self, payload: bytes) -> None:
        if len(payload) > self.opts.max_audio_bytes:
            self._error(f"audio chunk of {len(payload)} bytes is over the limit of {self.opts.max_audio_bytes}",
                        topic=self.topics.audio_in)
            return
        try:
            samples, rate = decode_wav_chunk(payload)
            self.live.push(samples, rate)
        except (InputError, OverflowError) as e:
            self._error(str(e).split("\n")[0] if isinstance(e, OverflowError) else e.message,
                        topic=self.topics.audio_in)
            return
        self.stats["audio_chunks"] += 1

    def _dispatch(self, cmd: Command) -> dict[str, Any]:
        b = cmd.body
        if cmd.name in ("ask", "say"):
            pending = sum(1 for t in self._requests if t in self.status.open)
            if pending >= self.max_pending_turns:
                raise OverflowError(f"busy: {pending} requests are waiting for their reply")
            turn = self.controls.ask(b["text"]) if cmd.name == "ask" else self.controls.say(b["text"])
            self._requests[turn.id] = cmd.id
            while len(self._requests) > REQUESTS_KEPT:
                self._requests.popitem(last=False)
            if self.status.begin(turn):
                self._send(self._state_message())
            return {"turn": turn.id}
        if cmd.name == "cancel":  # stop the reply now: the answer says what had been heard
            return {"cancelled": [{"turn": c.turn, "heard": c.heard} for c in self.controls.cancel()]}
        if cmd.name == "listen":
            self.controls.listen(bool(b["on"]))
        elif cmd.name == "mute":
            self.controls.mute(bool(b["on"]))
        elif cmd.name == "settings":
            self._settings(b["set"])
        self._send(self._state_message())
        return {}

    def _settings(self, values: Mapping[str, Any]) -> None:
        for name, v in self.controls.settings(values).items():  # all or none
            log.info("settings: %s %s", name, v)
