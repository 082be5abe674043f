"""omni serving a pipeline in a thread of its own (its own event loop), for tests with real clients."""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from typing import Any

from omni.app.host import Host
from omni.config import load_pipeline
from omni.serve.server import HttpOptions, HttpServer


class Running:
    """omni serving a pipeline (desktop by default) in a thread of its own (its own event loop):
    `launch.py serve`'s HTTP server, or another Server given as `server`."""

    def __init__(self, token: str | None, pipeline: str = "desktop", max_sessions: int = 4,
                 server: Any = None, sets: list[Any] | None = None) -> None:
        self.sets = list(sets or [])
        self.server = server or HttpServer(HttpOptions(port=0, token=token, max_sessions=max_sessions))
        self.pipeline = pipeline
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.url = ""

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            async with Host() as host:
                self.task = asyncio.ensure_future(host.serve(load_pipeline(self.pipeline, self.sets), self.server))
                while self.server.bound is None or not self.server.bound.done():
                    if self.task.done():
                        self.task.result()
                    await asyncio.sleep(0.05)
                where = self.server.bound.result()
                self.url = f"http://{where[0]}:{where[1]}" if isinstance(where, tuple) else where
                self.ready.set()
                try:
                    await self.task
                except asyncio.CancelledError:
                    pass

        try:
            asyncio.run(main())
        except BaseException as e:  # noqa: BLE001 (reported to the test)
            self.failed = e
            self.ready.set()

    def __enter__(self) -> Running:
        self.thread.start()
        assert self.ready.wait(300), "the server did not come up in 5 minutes"
        if self.failed is not None:
            raise self.failed
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.loop is not None and self.task is not None
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(60)
        assert not self.thread.is_alive(), "the server did not stop"

    def get(self, path: str, token: str | None = None) -> tuple[int, str]:
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {token}"} if token else {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
