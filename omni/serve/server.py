"""`HttpServer`: omni's HTTP transport, an omni.transports.base.Server run by Host.serve."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from omni.errors import ConfigError
from omni.net import bind, is_loopback
from omni.transports.base import Server, SessionFactory

log = logging.getLogger(__name__)


WS_MAX_BYTES = 24 * 2**20
"""One WebSocket message: 15 MiB of audio in base64, and its JSON (omni.serve.realtime.protocol)."""


@dataclass
class HttpOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    """0: any free port (see HttpServer.bound)."""
    token: str | None = None
    """Required from every client (Authorization: Bearer) but the health probe; needed off loopback."""
    max_sessions: int = 4
    """Realtime sessions at once; the next client is told "busy" (they share the CPU: 4 on 2 cores)."""


class HttpServer(Server):
    name = "http"

    def __init__(self, options: HttpOptions | None = None) -> None:
        """Checks the options and binds the port now (before any model loads), so that a port in
        use or an address not allowed is a clear error at once; it listens only in `serve`."""
        self.options = o = options or HttpOptions()
        if not is_loopback(o.host) and not o.token:
            raise ConfigError(f"serving on {o.host} (not this machine only) needs a token",
                              hint="put one in an environment variable and name it: --token-env OMNI_TOKEN")
        self.sock = bind(o.host, o.port)
        self.bound: asyncio.Future[tuple[str, int]] | None = None
        """Set once the socket listens: (host, port)."""

    @property
    def access(self) -> str:
        return "token required" if self.options.token else "no token: this machine only"

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def serve(self, sessions: SessionFactory) -> None:
        from omni.serve.app import make_app
        from omni.app.prometheus import Stats

        o = self.options
        stats = Stats(sessions.cfg.name, sessions.open_now, sessions.engines.summary)
        app = make_app(sessions, stats, token=o.token, sessions_open=sessions.open_now, max_sessions=o.max_sessions)
        sock = self.sock
        sock.listen(128)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=5, ws_max_size=WS_MAX_BYTES)
        server = _Uvicorn(config)
        self.bound = asyncio.get_running_loop().create_future()
        run = asyncio.ensure_future(server.serve(sockets=[sock]))
        try:
            while not server.started and not run.done():
                await asyncio.sleep(0.02)
            if run.done():
                run.result()
                raise ConfigError(f"the HTTP server stopped as it started, on {o.host}:{o.port}")
            name = sock.getsockname()
            self.bound.set_result((name[0], name[1]))
            stats.ready.set(1)
            log.info("serving %s on %s (%s)", sessions.cfg.name, self.url, self.access)
            await asyncio.shield(run)  # a cancel lands here: uvicorn then shuts down as it should
        finally:
            try:
                server.should_exit = True  # stop accepting, finish what is under way (5 s at most)
                try:
                    await asyncio.wait_for(asyncio.shield(run), 10)
                except (TimeoutError, asyncio.CancelledError) as e:  # it hung, or a second cancel: force it
                    server.force_exit = True
                    run.cancel()
                    await asyncio.wait({run}, timeout=5)
                    if isinstance(e, asyncio.CancelledError):
                        raise
            finally:
                sock.close()


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the process's signals belong to omni (omni.app.session.stop_on_signals), not uvicorn
