"""One connection to a broker that survives the broker: reconnect with backoff, re-subscribe,
and a bounded outbox that keeps events while the broker is away.

Messages are published from the outbox in order; one leaves it only when the broker has
acknowledged it (QoS 1), so a connection that drops mid-publish sends it again after the
reconnect (consumers see at most a repeat, told apart by the event's `seq`). When the outbox is
full the oldest message is dropped and counted.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from omni.errors import ServiceError
from omni.mqtt.config import ReconnectOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to connect."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    client_id: str = "omni"
    keepalive_s: int = 30

    def __str__(self) -> str:  # never the password
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


class AuthError(ServiceError):
    """The broker refused the login; retrying with the same credentials cannot help."""


NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
"""Small messages leave at once (Nagle's algorithm held QoS 1 round trips for ~40 ms)."""

WINDOW = 64
"""Messages published at once (each QoS 1 one waits for the broker's acknowledgement)."""

_AUTH_CODES = {4, 5, 134, 135}  # 3.1.1: bad user name or password, not authorised; 5.0: same


def _refused_login(e: aiomqtt.MqttError) -> bool:
    rc = getattr(e, "rc", None)
    try:
        return rc is not None and int(getattr(rc, "value", rc)) in _AUTH_CODES
    except (TypeError, ValueError):
        return False


class Link:
    """Keeps a session with the broker: `run()` until cancelled; `send()` from anywhere on the loop."""

    def __init__(self, endpoint: Endpoint, *, subscriptions: Iterable[tuple[str, int]],
                 on_message: Callable[[aiomqtt.Message], Awaitable[None]],
                 birth: Callable[[], Iterable[Outgoing]] = tuple, will: Outgoing | None = None,
                 outbox: int = 1000, reconnect: ReconnectOptions | None = None,
                 on_state: Callable[[str, str], None] | None = None) -> None:
        self.endpoint = endpoint
        self.subscriptions = list(subscriptions)
        self.on_message = on_message
        self.birth = birth
        """Messages sent first on every (re)connection (availability, discovery, state)."""
        self.will = will
        self.reconnect = reconnect or ReconnectOptions()
        self.on_state = on_state
        """on_state(state, detail): connected / disconnected, for the node's error events."""
        self.outbox: collections.deque[Outgoing] = collections.deque()
        self.outbox_size = outbox
        self.dropped = 0
        self.connections = 0
        self.published = 0
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        """Set while the outbox is empty (the writer has published everything)."""
        self._empty.set()

    # ------------------------------------------------------------------------------------
    def send(self, msg: Outgoing) -> None:
        """Queue a message; it is published now, or after the next reconnect."""
        if len(self.outbox) >= self.outbox_size:
            self.outbox.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("mqtt outbox full (%d): oldest message dropped (%d so far)",
                            self.outbox_size, self.dropped)
        self.outbox.append(msg)
        self._empty.clear()
        self._wake.set()

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff until cancelled. A refused login raises
        AuthError (the node stops: retrying with the same credentials cannot help)."""
        delay = self.reconnect.first_s
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as e:
                if _refused_login(e):
                    raise self._auth_error(e) from None
                was = self.connected.is_set()
                self.connected.clear()
                if was:
                    delay = self.reconnect.first_s
                log.warning("mqtt: %s (%s); reconnecting in %.1f s", "connection lost" if was else
                            "cannot connect", e, delay)
                if was and self.on_state:  # once per outage, not per attempt
                    self.on_state("disconnected", str(e))
            wait = delay * random.uniform(0.8, 1.2)
            await asyncio.sleep(wait)
            delay = min(delay * 2, self.reconnect.max_s)

    async def _session(self) -> None:
        ep = self.endpoint
        will = (aiomqtt.Will(self.will.topic, self.will.payload, self.will.qos, self.will.retain)
                if self.will else None)
        client = _client(ep, ep.client_id, clean_session=False, keepalive=ep.keepalive_s, will=will, timeout=10)
        client.pending_calls_threshold = 4 * WINDOW  # aiomqtt warns above this many in flight
        async with client:
            self.connections += 1
            for topic, qos in self.subscriptions:
                await client.subscribe(topic, qos=qos)
            births = list(self.birth())
            self.outbox.extendleft(reversed(births))  # first, before what waited
            if self.outbox:
                self._empty.clear()
            self.connected.set()
            log.info("mqtt: connected to %s as %s (connection %d, %d queued)", ep, ep.client_id,
                     self.connections, len(self.outbox))
            if self.on_state:
                self.on_state("connected", str(ep))
            tasks = {asyncio.ensure_future(self._read(client)), asyncio.ensure_future(self._write(client))}
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.wait(tasks)
            for t in done:
                t.result()  # raises the MqttError that ended the session

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                await self.on_message(message)
            except Exception:  # the handler reports its own faults; a bug must not drop the link
                log.exception("mqtt: handling a message on %s failed", message.topic)
        raise aiomqtt.MqttError("message stream ended")

    async def _write(self, client: aiomqtt.Client, window: int = 0) -> None:
        window = window or WINDOW
        while True:
            if not self.outbox:
                self._empty.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self.outbox[i] for i in range(min(window, len(self.outbox)))]
            results = await asyncio.gather(
                *(client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain) for m in batch),
                return_exceptions=True)
            # the broker took the messages in order up to the first failure
            ok = next((i for i, r in enumerate(results) if isinstance(r, BaseException)), len(batch))
            for _ in range(ok):
                self.outbox.popleft()
            self.published += ok
            if ok < len(batch):
                err = results[ok]
                raise err if isinstance(err, aiomqtt.MqttError) else aiomqtt.MqttError(str(err))

    async def check_login(self, timeout: float = 5.0) -> None:
        """Connect once, to fail fast (AuthError) on a refused login before anything slow starts;
        a broker that cannot be reached now only logs a warning (it may come up later)."""
        ep = self.endpoint
        try:
            async with asyncio.timeout(timeout):
                async with _client(ep, f"{ep.client_id}-check", timeout=timeout):
                    pass
        except aiomqtt.MqttError as e:
            if _refused_login(e):
                raise self._auth_error(e) from None
            log.warning("mqtt: cannot reach the broker at %s yet (%s): will keep trying", ep, e)
        except TimeoutError:
            log.warning("mqtt: no answer from the broker at %s in %.0f s: will keep trying", ep, timeout)

    def _auth_error(self, e: Exception) -> AuthError:
        return AuthError(f"the broker at {self.endpoint} refused the login: {e}",
                         hint="check the user name in --broker and the password in the environment "
                              "variable named by mqtt.password_env (OMNI_MQTT_PASSWORD by default)")

    async def drain(self, timeout: float = 2.0) -> bool:
        """Wait until the outbox is empty (connected) or `timeout`; True if it emptied."""
        try:
            async with asyncio.timeout(timeout):
                while self.outbox or not self.connected.is_set():  # woken by the writer, not a timer
                    await self.connected.wait()
                    await self._empty.wait()
            return True
        except TimeoutError:
            return False


def _client(ep: Endpoint, identifier: str, **options: Any) -> aiomqtt.Client:
    """A client for `ep` (its user, password, TLS; small messages sent at once)."""
    tls: dict[str, Any] = {"tls_context": ssl.create_default_context(cafile=ep.ca_file)} if ep.tls else {}
    return aiomqtt.Client(ep.host, ep.port, username=ep.username, password=ep.password, identifier=identifier,
                          socket_options=NODELAY, **tls, **options)
