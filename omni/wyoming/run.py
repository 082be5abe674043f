"""`launch.py wyoming`: load the pipeline's models (with progress), then serve Wyoming until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import sys

from omni.app.host import Host
from omni.app.session import stop_on_signals, until_stopped
from omni.app.view import ConsoleView
from omni.config import load_pipeline
from omni.wyoming.server import WyomingOptions, WyomingServer


def run_wyoming(args: argparse.Namespace) -> int:
    cfg = load_pipeline(str(args.pipeline_file or args.pipeline), list(args.set))
    server = WyomingServer(WyomingOptions(uri=args.uri, zeroconf=not args.no_zeroconf))  # checked before loading
    view = ConsoleView(quiet=args.uri.startswith("stdio"))  # stdout is the protocol's then

    async def main() -> None:
        stop = asyncio.Event()
        with stop_on_signals(stop):
            async with Host() as host:
                serving = asyncio.ensure_future(host.serve(cfg, server, view))
                while not (server.bound is not None and server.bound.done()) and not serving.done() \
                        and not stop.is_set():
                    await asyncio.sleep(0.05)
                if server.bound is not None and server.bound.done():
                    print(f"omni: serving {cfg.name} over Wyoming on {server.bound.result()}; Ctrl-C or SIGTERM "
                          "stops it", file=sys.stderr, flush=True)
                await until_stopped(stop, None, serving)
                if not serving.done():
                    serving.cancel()
                await asyncio.wait({serving})
                if not serving.cancelled() and serving.exception() is not None:
                    raise serving.exception()  # type: ignore[misc]

    asyncio.run(main())
    return 0
