"""`launch.py wyoming`: load the pipeline's models (with progress), then serve Wyoming until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio

from omni.app.view import ConsoleView
from omni.config import load_pipeline
from omni.serve.run import serve_until_stopped
from omni.wyoming.server import WyomingOptions, WyomingServer


def run_wyoming(args: argparse.Namespace) -> int:
    sets = [*args.set, *([("mqtt.broker", args.broker)] if args.broker else [])]
    cfg = load_pipeline(str(args.pipeline_file or args.pipeline), sets)
    server = WyomingServer(WyomingOptions(uri=args.uri, zeroconf=not args.no_zeroconf))  # checked before loading
    view = ConsoleView(quiet=args.uri.startswith("stdio"))  # stdout is the protocol's then

    asyncio.run(serve_until_stopped(cfg, server, view, lambda: f"omni: serving {cfg.name} over Wyoming on "
                                    f"{server.bound.result()}; Ctrl-C or SIGTERM stops it"))  # type: ignore[union-attr]
    return 0
