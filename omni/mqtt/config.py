"""Settings of the MQTT side of a node (the `mqtt:` block of a pipeline file)."""

from __future__ import annotations

import re
import string
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_SEGMENT = r"^[A-Za-z0-9_-]{1,64}$"
_TOPIC_PATH = r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,7}$"


def _segment(what: str, v: str, pattern: str = _SEGMENT) -> str:
    if not isinstance(v, str) or not re.match(pattern, v):
        several = " separated by /" if pattern == _TOPIC_PATH else ""
        raise ValueError(f"{what} is part of every MQTT topic: 1-64 letters, digits, _ or -{several} "
                         f"(no spaces, +, # or $); got {v!r}")
    return v


def redact_url(url: str) -> str:
    """A broker URL with any password in it replaced by ***."""
    return re.sub(r"^(\w+://[^:@/]*):[^@/]*@", r"\1:***@", url)


class ReconnectOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_s: float = Field(0.5, gt=0)
    """Wait before the first reconnect attempt; doubled after each failure..."""
    max_s: float = Field(30.0, gt=0)
    """...up to this (with +-20 % jitter so a fleet does not reconnect in step)."""


class DeviceTopic(BaseModel):
    """Where a declared device action is published: a topic and a payload, both templates over
    the action's arguments (`home/{room}/light/set`, `{state}`). The arguments are already
    validated against the action's schema, so only the payloads the schema allows can leave."""

    model_config = ConfigDict(extra="forbid")
    topic: str
    payload: str | dict[str, Any] = ""
    """A text template, or a JSON object whose string values are templates."""
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Per argument, how a value is written on the wire, e.g. {state: {"on": "ON", "off": "OFF"}}."""
    qos: int = Field(1, ge=0, le=2)
    retain: bool = False

    @field_validator("topic")
    @classmethod
    def _no_wildcards(cls, v: str) -> str:
        if not v or "#" in v or "+" in v or v.startswith("$") or "\x00" in v:
            raise ValueError("a device topic is a plain topic (no + or # wildcards, not $SYS)")
        return v

    def fields(self) -> set[str]:
        texts = [self.topic, *(self.payload.values() if isinstance(self.payload, dict) else [self.payload])]
        return {f for t in texts if isinstance(t, str) for _, f, _, _ in string.Formatter().parse(t) if f}


class DiscoveryOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    prefix: str = "homeassistant"
    """Home Assistant's discovery prefix."""

    @field_validator("prefix", mode="before")
    @classmethod
    def _prefix(cls, v: Any) -> str:
        return _segment("mqtt.discovery.prefix", v, _TOPIC_PATH)


class MqttOptions(BaseModel):
    """How the node talks to the home's broker."""

    model_config = ConfigDict(extra="forbid")
    broker: str | None = None
    """mqtt://[user@]host[:port] or mqtts://...; none: an embedded broker on 127.0.0.1."""
    embedded_port: int = Field(1883, ge=0, le=65535)
    """Port of the embedded broker (0: any free port)."""
    password_env: str = "OMNI_MQTT_PASSWORD"
    """Environment variable holding the broker password (never in the pipeline file)."""
    ca_file: str | None = None
    """CA certificate(s) to verify an mqtts:// broker with (default: the system's)."""
    prefix: str = "omni"
    node_id: str = "node"
    keepalive_s: int = Field(30, ge=5, le=3600)
    reconnect: ReconnectOptions = Field(default_factory=ReconnectOptions)
    outbox: int = Field(1000, ge=1, le=1_000_000)
    """Events kept while the broker is away; past this the oldest are dropped (and counted)."""
    inbox: int = Field(4096, ge=1, le=1_000_000)
    """Commands accepted and not yet handled; past this a command is refused with an error event."""
    dedupe: int = Field(10_000, ge=16)
    """How many recent command ids are remembered to ignore redeliveries."""
    max_payload_bytes: int = Field(16_384, ge=256)
    """Larger JSON commands are refused."""
    max_audio_bytes: int = Field(262_144, ge=1024)
    """Larger audio chunks are refused."""
    audio_buffer_s: float = Field(30.0, gt=0)
    """Remote microphone audio waiting to be heard (chunks sent faster than real time wait here)."""
    publish_audio: bool = False
    """Also publish the reply audio as WAV chunks on <prefix>/<node>/event/audio."""
    discovery: DiscoveryOptions = Field(default_factory=DiscoveryOptions)
    devices: dict[str, DeviceTopic] = Field(default_factory=dict)
    """Declared device actions (by the name they have in llm.actions) -> where they are published."""

    @field_validator("prefix", "node_id", mode="before")
    @classmethod
    def _segments(cls, v: Any, info: Any) -> str:
        return _segment(f"mqtt.{info.field_name}", v)

    @field_validator("broker")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if re.match(r"^\w+://[^@/]*:[^@/]*@", v):  # never echoed: it holds a password
            raise ValueError("the broker URL has a password in it (user:password@); give only the user "
                             "(mqtt://user@host) and the password in the environment variable named by "
                             "mqtt.password_env (OMNI_MQTT_PASSWORD): a command line is visible to every "
                             "user of the machine")
        if not re.match(r"^mqtts?://([^@/:]+@)?[^:/@]+(:\d+)?/?$", v):
            raise ValueError(f"expected mqtt://[user@]host[:port] or mqtts://...; got {v!r}")
        return v

    @model_validator(mode="after")
    def _devices_outside_the_node(self) -> MqttOptions:
        """A device action publishes only outside the node's own topics and Home Assistant's
        discovery tree: a device topic there would let the model command the node itself or
        announce entities."""
        own = f"{self.prefix}/{self.node_id}/"
        for name, dev in self.devices.items():
            fixed = dev.topic.split("{", 1)[0]
            if not fixed:
                raise ValueError(f"mqtt.devices.{name}.topic {dev.topic!r} starts with an argument, so it "
                                 "could be any topic; start it with a fixed part (home/{room}/light)")
            for tree in (own, f"{self.discovery.prefix}/"):
                if (fixed + "/").startswith(tree) or tree.startswith(fixed):
                    raise ValueError(f"mqtt.devices.{name}.topic {dev.topic!r} lies under {tree}#, "
                                     "the node's own topics or the discovery prefix; give the device a "
                                     "topic of its own")
        return self
