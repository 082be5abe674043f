"""A test's own MQTT client: publish commands, collect what the node publishes, wait for it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt


@dataclass
class Msg:
    topic: str
    payload: bytes
    retain: bool
    t: float

    @property
    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[Msg] = []
        self._new = asyncio.Event()

    async def publish(self, topic: str, payload: Any, qos: int = 1) -> None:
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        await self.client.publish(topic, payload, qos=qos)

    def on(self, topic: str) -> list[Msg]:
        return [m for m in self.messages if m.topic == topic]

    async def wait(self, pred: Callable[[Msg], bool], timeout: float = 30.0, after: int = 0) -> Msg:
        """The first message (from index `after`) for which pred is true; waits for it."""
        deadline = time.monotonic() + timeout
        i = after
        while True:
            while i < len(self.messages):
                m = self.messages[i]
                i += 1
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    if pred(m):
                        return m
            left = deadline - time.monotonic()
            if left <= 0:
                seen = "\n".join(f"  {m.topic} {m.payload[:160]!r}" for m in self.messages[-30:])
                raise TimeoutError(f"no such message in {timeout} s; last seen:\n{seen}")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), left)

    async def _read(self) -> None:
        async for m in self.client.messages:
            payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
            self.messages.append(Msg(str(m.topic), payload, bool(m.retain), time.monotonic()))
            self._new.set()


def event(topic_end: str, **fields: Any) -> Callable[[Msg], bool]:
    """A predicate: a message on a topic ending in `topic_end` whose JSON has these fields."""
    def pred(m: Msg) -> bool:
        if not m.topic.endswith(topic_end):
            return False
        body = m.json
        return all(body.get(k) == v for k, v in fields.items())
    return pred


@contextlib.asynccontextmanager
async def watching(port: int, topics: list[str], *, identifier: str | None = None,
                   username: str | None = None, password: str | None = None,
                   clean_session: bool = True) -> AsyncIterator[Watcher]:
    async with aiomqtt.Client("127.0.0.1", port, identifier=identifier, username=username, password=password,
                              clean_session=clean_session) as client:
        for t in topics:
            await client.subscribe(t, qos=1)
        w = Watcher(client)
        task = asyncio.get_running_loop().create_task(w._read())
        try:
            yield w
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


@contextlib.asynccontextmanager
async def running_link(endpoint: Any, subscriptions: list[tuple[str, int]], **options: Any) -> AsyncIterator[tuple[Any, list]]:
    """omni's own Link, running, with the messages it receives collected in a list."""
    from omni.mqtt.link import Link

    got: list[aiomqtt.Message] = []

    async def on_message(m: aiomqtt.Message) -> None:
        got.append(m)

    link = Link(endpoint, subscriptions=subscriptions, on_message=on_message, **options)
    task = asyncio.get_running_loop().create_task(link.run())
    try:
        yield link, got
    finally:
        task.cancel()
        await asyncio.wait({task})


async def received(got: list, n: int = 1, timeout: float = 10.0) -> None:
    """Wait until `got` holds at least n messages."""
    async with asyncio.timeout(timeout):
        while len(got) < n:
            await asyncio.sleep(0.02)
