"""`launch.py serve`: load the pipeline's models (with progress), then serve until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable

from omni.app.host import Host
from omni.app.session import stop_on_signals, until_stopped
from omni.app.view import ConsoleView
from omni.config import PipelineConfig, load_pipeline
from omni.errors import ConfigError
from omni.serve.server import HttpOptions, HttpServer
from omni.transports.base import Server


def token_from(env: str | None) -> str | None:
    if env is None:
        return None
    token = os.environ.get(env, "")
    if len(token) < 16:
        raise ConfigError(f"--token-env {env}: the variable is unset or shorter than 16 characters",
                          hint=f"e.g. export {env}=$(python -c 'import secrets; print(secrets.token_urlsafe())')")
    return token


def run_serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a port (0-65535)")
    cfg = load_pipeline(str(args.pipeline_file or args.pipeline), list(args.set))
    # checked before anything loads: a server that may not start does not load 2 GB of models first
    if not 1 <= args.max_sessions <= 64:
        raise ConfigError(f"--max-sessions {args.max_sessions}: from 1 to 64")
    server = HttpServer(HttpOptions(host=args.host, port=args.port, token=token_from(args.token_env),
                                    max_sessions=args.max_sessions))
    view = ConsoleView()

    asyncio.run(serve_until_stopped(cfg, server, view, lambda: f"omni: serving {cfg.name} on {server.url} "
                                    f"({server.access}); Ctrl-C or SIGTERM stops it"))
    return 0


async def serve_until_stopped(cfg: PipelineConfig, server: Server, view: ConsoleView,
                              ready: Callable[[], str]) -> None:
    """Host.serve(cfg, server) until SIGINT/SIGTERM; `ready()` is printed on stderr once the
    server says where it serves (its `bound` future is set). A Ctrl-C while the models load
    stops it too (a load under way ends, then is closed)."""
    stop = asyncio.Event()
    with stop_on_signals(stop):  # the process's signals are omni's: a clean stop on either
        async with Host() as host:
            serving = asyncio.ensure_future(host.serve(cfg, server, view))
            bound = lambda: getattr(server, "bound", None)  # noqa: E731
            while not (bound() is not None and bound().done()) and not serving.done() and not stop.is_set():
                await asyncio.sleep(0.05)
            if bound() is not None and bound().done() and not bound().cancelled():
                print(ready(), file=sys.stderr, flush=True)
            await until_stopped(stop, None, serving)
            if not serving.done():
                serving.cancel()
            await asyncio.wait({serving})
            if not serving.cancelled() and serving.exception() is not None:
                raise serving.exception()  # type: ignore[misc]
