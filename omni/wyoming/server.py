"""`WyomingServer`: omni's engines and dialogue over the Wyoming protocol (Home Assistant's voice
pipeline), an omni.transports.base.Server run by Host.serve.

    tcp://HOST:PORT   one connection per request (Home Assistant's way), many at once
    unix:///PATH      the same on a Unix socket
    stdio://          one connection on stdin/stdout (a program started by another)

Advertised by zeroconf as `_wyoming._tcp` on a TCP address (not with --no-zeroconf)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from omni.errors import ConfigError
from omni.net import bind
from omni.transports.base import Server, SessionFactory
from omni.wyoming.actions import ActionLink
from omni.wyoming.handler import MAX_LINE, OmniHandler
from omni.wyoming.service import WyomingService

log = logging.getLogger(__name__)


@dataclass
class WyomingOptions:
    uri: str = "tcp://127.0.0.1:10700"
    zeroconf: bool = True
    name: str | None = None
    """The name advertised by zeroconf (default: omni-PIPELINE)."""


class WyomingServer(Server):
    name = "wyoming"

    def __init__(self, options: WyomingOptions | None = None) -> None:
        """Checks the URI and binds a TCP port now, before any model loads."""
        self.options = o = options or WyomingOptions()
        self.url = urlparse(o.uri)
        self.sock: socket.socket | None = None
        if self.url.scheme == "tcp":
            if not self.url.hostname or self.url.port is None:
                raise ConfigError(f"--uri {o.uri}: a TCP address needs a host and a port", hint="tcp://0.0.0.0:10700")
            self.sock = bind(self.url.hostname, self.url.port, "serve Wyoming")
        elif self.url.scheme not in ("unix", "stdio"):
            raise ConfigError(f"--uri {o.uri}: omni serves Wyoming on tcp://HOST:PORT, unix:///PATH or stdio://")
        self.bound: asyncio.Future[str] | None = None
        """Set once it serves: where (tcp://host:port, the socket's path, stdio)."""
        self.service: WyomingService | None = None

    async def serve(self, sessions: SessionFactory) -> None:
        host = getattr(sessions, "host", None)
        assert host is not None, "a Wyoming server runs on a Host's sessions"
        actions = ActionLink.of(sessions.cfg, host.calls(sessions.cfg).actions)
        if actions is not None:
            await actions.start()
        self.service = service = WyomingService(host, sessions.cfg, actions)
        self.bound = asyncio.get_running_loop().create_future()
        handlers: set[asyncio.Task[None]] = set()

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            try:
                await OmniHandler(reader, writer, service).run()
            except asyncio.CancelledError:
                pass  # the server is stopping: the connection closes with it
            finally:
                handlers.discard(task)

        zc = None
        try:
            if self.url.scheme == "stdio":
                reader, writer = await _stdio()
                self.bound.set_result("stdio://")
                await OmniHandler(reader, writer, service).run()
                return
            if self.url.scheme == "unix":
                path = Path(self.url.path)
                path.unlink(missing_ok=True)
                server = await asyncio.start_unix_server(connected, path=str(path), limit=MAX_LINE + 1)
                where = f"unix://{path}"
            else:
                assert self.sock is not None
                server = await asyncio.start_server(connected, sock=self.sock, limit=MAX_LINE + 1)
                name = self.sock.getsockname()
                where = f"tcp://{name[0]}:{name[1]}"
                if self.options.zeroconf:
                    zc = await _advertise(self.options.name or f"omni-{sessions.cfg.name}", name[0], name[1])
            self.bound.set_result(where)
            log.info("serving Wyoming on %s", where)
            async with server:
                await server.serve_forever()
        finally:
            for t in list(handlers):
                t.cancel()
            if handlers:
                await asyncio.wait(handlers, timeout=5)
            if zc is not None:
                with contextlib.suppress(Exception):
                    await zc.async_close()
            await service.aclose()
            if actions is not None:
                await actions.aclose()
            if self.url.scheme == "unix":
                Path(self.url.path).unlink(missing_ok=True)


async def _stdio() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE + 1)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout.buffer)
    return reader, asyncio.StreamWriter(transport, protocol, None, loop)


async def _advertise(name: str, host: str, port: int):  # type: ignore[no-untyped-def]
    """`_wyoming._tcp` by mDNS, as Home Assistant discovers Wyoming services; None if it cannot."""
    try:
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
    except ImportError:
        log.warning("zeroconf is not installed: not advertised (pip install zeroconf)")
        return None
    if host in ("0.0.0.0", "::", ""):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect(("224.0.0.251", 1))
            host = probe.getsockname()[0]
        except OSError:
            host = "127.0.0.1"
        finally:
            probe.close()
    try:
        zc = AsyncZeroconf()
        await zc.async_register_service(AsyncServiceInfo(
            "_wyoming._tcp.local.", f"{name}._wyoming._tcp.local.", addresses=[socket.inet_aton(host)], port=port))
        log.info("advertised as %s._wyoming._tcp on %s:%d", name, host, port)
        return zc
    except Exception as e:  # noqa: BLE001 - no multicast here: serve unadvertised
        log.warning("zeroconf: not advertised (%s)", e)
        return None
