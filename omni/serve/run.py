"""`launch.py serve`: load the pipeline's models (with progress), then serve until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from omni.app.host import Host
from omni.app.session import stop_on_signals, until_stopped
from omni.app.view import ConsoleView
from omni.config import load_pipeline
from omni.errors import ConfigError
from omni.serve.server import HttpOptions, HttpServer


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

    async def main() -> None:
        stop = asyncio.Event()
        with stop_on_signals(stop):  # the process's signals are omni's: a clean stop on either
            async with Host() as host:
                serving = asyncio.ensure_future(host.serve(cfg, server, view))
                # a Ctrl-C while the models load stops it too (a load under way ends, then is closed)
                while not (server.bound is not None and server.bound.done()) and not serving.done() \
                        and not stop.is_set():
                    await asyncio.sleep(0.05)
                if server.bound is not None and server.bound.done() and not server.bound.cancelled():
                    print(f"omni: serving {cfg.name} on {server.url} ({server.access}); "
                          "Ctrl-C or SIGTERM stops it", file=sys.stderr, flush=True)
                await until_stopped(stop, None, serving)
                if not serving.done():
                    serving.cancel()
                await asyncio.wait({serving})
                if not serving.cancelled() and serving.exception() is not None:
                    raise serving.exception()  # type: ignore[misc]

    asyncio.run(main())
    return 0
