"""Device actions of the Wyoming handler's conversations, published as the pipeline declares.

Home Assistant hands omni's dialogue a transcript; when the reply does something (a light, the
volume), the action goes to the home's MQTT broker on the pipeline's `mqtt.devices` topics, the
same messages the smart-home node publishes, and `PREFIX/NODE/event/action` says what was done.
Only the allow-list's values can go out (omni.mqtt.node.device_command). Without a broker
(`--broker`, or `mqtt.broker` in the pipeline file) nothing is published and `info` does not
offer home control: the dialogue runs without its device actions, so it can't claim a light it
never switched."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from omni.config import PipelineConfig
from omni.frames import DeviceAction, Frame
from omni.mqtt.config import MqttOptions
from omni.mqtt.link import Link, Outgoing
from omni.mqtt.node import action_body, check_devices, device_command
from omni.mqtt.topics import Topics
from omni.transports.mqtt import endpoint_from

log = logging.getLogger(__name__)


class ActionLink:
    """An observer of every handler conversation: each DeviceAction -> its device command and an
    `event/action`; a link to the broker kept (and re-made) while the server runs."""

    def __init__(self, opts: MqttOptions, actions: Mapping[str, Any]) -> None:
        check_devices(opts.devices, actions)
        self.opts = opts
        self.actions = dict(actions)
        self.topics = Topics(opts.prefix, opts.node_id)
        self.link = Link(endpoint_from(opts, f"omni-wyoming-{opts.prefix}-{opts.node_id}"), subscriptions=[],
                         on_message=_ignore, outbox=opts.outbox, reconnect=opts.reconnect)
        self.published = 0
        self._task: asyncio.Task[None] | None = None
        self.failed: str | None = None
        """Why the link ended for good (the broker refused the login later on): actions then
        go nowhere, so the handler stops offering them."""
        self.on_failed: Callable[[], None] | None = None

    @classmethod
    def of(cls, cfg: PipelineConfig, actions: Mapping[str, Any]) -> ActionLink | None:
        """The link for this pipeline, or None (no actions, or no broker to send them to)."""
        if not actions:
            return None
        if cfg.mqtt is None or cfg.mqtt.broker is None:
            log.warning("device actions are not published (no broker: --broker mqtt://HOST): the handler "
                        "answers without them")
            return None
        return cls(cfg.mqtt, actions)

    async def start(self) -> None:
        """Checks the login now (a wrong password fails before serving), then keeps the link."""
        await self.link.check_login()
        self._task = asyncio.get_running_loop().create_task(self.link.run(), name="wyoming-mqtt")
        self._task.add_done_callback(self._ended)
        log.info("device actions published on %s", self.link.endpoint)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        e = task.exception()
        self.failed = str(e) if e is not None else "the link ended"
        log.error("device actions are no longer published: %s", self.failed)
        if self.on_failed is not None:
            self.on_failed()

    async def aclose(self) -> None:
        if self._task is not None:
            await self.link.drain(2.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def on_frame(self, stage: str, frame: Frame) -> None:
        if not isinstance(frame, DeviceAction):
            return
        body = action_body(frame)
        try:
            msg = device_command(self.opts.devices, self.actions, frame)
        except ValueError as e:
            log.warning("%s", e)
            self._event("error", {"stage": "mqtt", "message": str(e)})
            return
        if msg is not None:
            self.link.send(msg)
            self.published += 1
            body |= {"topic": msg.topic, "payload": msg.payload.decode()}
        self._event("action", {**body, "via": "wyoming"})

    def _event(self, kind: str, body: dict[str, Any]) -> None:
        data = json.dumps({**body, "ts": round(time.time(), 3)}, ensure_ascii=False).encode("utf-8", "backslashreplace")
        self.link.send(Outgoing(self.topics.event(kind), data, qos=1))


async def _ignore(message: Any) -> None:
    return None
