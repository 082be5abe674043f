"""`python launch.py PIPELINE [options]`: argument parsing and the run."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from omni.app.run import FileRunOptions, run_files
from omni.app.session import RunResult
from omni.app.view import ConsoleView
from omni.config import PipelineConfig, load_pipeline
from omni.config.loader import PIPELINES_DIR, Override
from omni.errors import ConfigError, InputError, OmniError
from omni.files import check_outputs, check_range

log = logging.getLogger("omni")

EPILOG = """examples:
  python launch.py desktop --audio-in assets/conversation.wav --audio-out out/reply.wav --metrics out/turns.jsonl
  python launch.py ar-glasses --camera assets/glasses.mp4 --audio-in assets/glasses.wav --video-out out/hud.mp4
  python launch.py smart-home                       a node on an embedded broker (127.0.0.1:1883)
  OMNI_MQTT_PASSWORD=... python launch.py smart-home --broker mqtts://omni@broker.lan --ca-file ca.pem
  python launch.py desktop --audio-in question.mp3 --audio-out reply.wav --fast --set stt.model=base
  python launch.py prepare          assemble the bundled models into the cache once
"""


def _room(spec: str | None) -> tuple[float, float] | None:
    if not spec:
        return None
    try:
        gain, _, delay = spec.partition(",")
        return float(gain), float(delay or 40)
    except ValueError:
        raise ConfigError(f"--room-echo takes DB[,MS], e.g. -6,40; got {spec!r}") from None


def build_parser() -> argparse.ArgumentParser:
    pipelines = sorted(p.stem for p in PIPELINES_DIR.glob("*.yaml"))
    ap = argparse.ArgumentParser(
        prog="launch.py", description="omni: a local-first, real-time voice assistant pipeline.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in pipelines:
        p = sub.add_parser(name, help=f"run the {name} pipeline (pipelines/{name}.yaml)",
                           formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
        io = p.add_argument_group("audio in and out")
        io.add_argument("--audio-in", type=Path, metavar="FILE",
                        help="input audio file (wav, flac, mp3, ogg; any rate, mono or stereo) "
                             "instead of the microphone")
        io.add_argument("--audio-out", type=Path, metavar="FILE.wav",
                        help="write the assistant's audio here, on the input's timeline")
        io.add_argument("--metrics", type=Path, metavar="TURNS.jsonl",
                        help="write one JSON object per turn (transcript, reply, v2v_ms, stages)")
        io.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus /metrics on 127.0.0.1:PORT while running (the live app, "
                             "the MQTT node)")
        io.add_argument("--fast", action="store_true",
                        help="feed the input as fast as the pipeline takes it (default: real time)")
        io.add_argument("--room-echo", metavar="DB[,MS]",
                        help="feed the reply back into the input like a speaker in a room "
                             "(e.g. -6,40: -6 dB, 40 ms): tests the echo canceller on files")
        io.add_argument("--list-devices", action="store_true", help="list the audio devices and exit")
        io.add_argument("--input-device", metavar="INDEX|NAME", help="microphone (default: the system's)")
        io.add_argument("--output-device", metavar="INDEX|NAME", help="speaker (default: the system's)")
        io.add_argument("--record", type=Path, metavar="OUT.wav",
                        help="live: also write what the speaker played")
        io.add_argument("--out-rate", type=int, metavar="HZ",
                        help="sample rate of --audio-out (default: the input's rate)")
        cam = p.add_argument_group("camera (pipelines with vision stages)")
        cam.add_argument("--camera", metavar="SOURCE", help="a device index (0), a video file, an RTSP/HTTP "
                         "URL or a folder of images (default: the pipeline's camera.source)")
        cam.add_argument("--video-out", type=Path, metavar="FILE.mp4",
                         help="write the heads-up display: camera frames with the transcript, the reply and "
                              "the detections drawn on them, time-aligned with the audio")
        cam.add_argument("--hud-fps", type=float, default=10.0, metavar="FPS", help="frame rate of --video-out")
        mq = p.add_argument_group("MQTT (smart-home node; any pipeline with --broker)")
        mq.add_argument("--broker", metavar="URL",
                        help="mqtt://[user@]host[:port] or mqtts://...; the password is read from "
                             "$OMNI_MQTT_PASSWORD (default for a pipeline with an mqtt block: an "
                             "embedded broker on 127.0.0.1)")
        mq.add_argument("--node-id", metavar="ID", help="topics live under <prefix>/<ID>/ (mqtt.node_id)")
        mq.add_argument("--ca-file", metavar="PEM", help="CA certificate to verify an mqtts:// broker")
        mq.add_argument("--duration", type=float, metavar="S", help="live or node runs: stop after S "
                        "seconds (default: run until Ctrl-C or SIGTERM)")
        cfg = p.add_argument_group("configuration")
        cfg.add_argument("--pipeline-file", type=Path, metavar="FILE.yaml",
                         help=f"use this pipeline file instead of pipelines/{name}.yaml")
        cfg.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE",
                         help="override the pipeline file, e.g. --set stt.model=base "
                              "--set llm.budget_ms=300 (repeatable)")
        cfg.add_argument("--stt-model", metavar="NAME|PATH|HUB_ID", help="shortcut for --set stt.model=...")
        cfg.add_argument("--llm-model", metavar="NAME|PATH|HUB_ID", help="shortcut for --set llm.backends.local.model=...")
        cfg.add_argument("--voice", metavar="NAME|PATH", help="shortcut for --set tts.voice=...")
        out = p.add_argument_group("output")
        out.add_argument("--log-level", default=os.environ.get("OMNI_LOG_LEVEL", "warning"),
                         choices=["debug", "info", "warning", "error"])
        out.add_argument("--quiet", action="store_true", help="print only the summary")
    sub.add_parser("prepare", help="assemble the bundled models into the cache (run by make setup)")
    sv = sub.add_parser("serve", help="serve a pipeline over HTTP: OpenAI Realtime and REST APIs, "
                        "Prometheus metrics (docs/serve.md)", formatter_class=argparse.RawDescriptionHelpFormatter)
    sv.add_argument("pipeline", nargs="?", default="desktop", choices=pipelines, metavar="PIPELINE",
                    help=f"which pipeline ({', '.join(pipelines)}; default desktop)")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine "
                    "only; any other needs --token-env)")
    sv.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free one)")
    sv.add_argument("--token-env", metavar="NAME", help="the environment variable holding the token every "
                    "client must send (Authorization: Bearer TOKEN)")
    sv.add_argument("--max-sessions", type=int, default=4, metavar="N", help="Realtime sessions at once "
                    "(default 4); the next client is told busy")
    sv.add_argument("--pipeline-file", type=Path, metavar="FILE.yaml", help="use this pipeline file")
    sv.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE",
                    help="override the pipeline file (repeatable)")
    sv.add_argument("--log-level", default=os.environ.get("OMNI_LOG_LEVEL", "warning"),
                    choices=["debug", "info", "warning", "error"])
    wy = sub.add_parser("wyoming", help="serve a pipeline's recogniser, voice, wake words and dialogue to Home "
                        "Assistant over the Wyoming protocol (docs/wyoming.md)")
    wy.add_argument("pipeline", nargs="?", default="smart-home", choices=pipelines, metavar="PIPELINE",
                    help=f"which pipeline ({', '.join(pipelines)}; default smart-home)")
    wy.add_argument("--uri", default="tcp://127.0.0.1:10700", help="tcp://HOST:PORT (default "
                    "tcp://127.0.0.1:10700; 0.0.0.0 for Home Assistant on another machine), unix:///PATH or stdio://")
    wy.add_argument("--no-zeroconf", action="store_true", help="do not advertise _wyoming._tcp by mDNS")
    wy.add_argument("--broker", metavar="URL", help="publish the handler's device actions to this MQTT broker, "
                    "mqtt[s]://[user@]host[:port], on the pipeline's mqtt.devices topics (password from "
                    "OMNI_MQTT_PASSWORD); without one the handler has no device actions")
    wy.add_argument("--pipeline-file", type=Path, metavar="FILE.yaml", help="use this pipeline file")
    wy.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE",
                    help="override the pipeline file (repeatable)")
    wy.add_argument("--log-level", default=os.environ.get("OMNI_LOG_LEVEL", "warning"),
                    choices=["debug", "info", "warning", "error"])
    return ap


def overrides(args: argparse.Namespace) -> list[Override]:
    """--set as typed, then the shortcut flags, whose values are taken as they are (text)."""
    extra: list[Override] = []
    for flag, key in (("stt_model", "stt.model"), ("llm_model", "llm.backends.local.model"), ("voice", "tts.voice"),
                      ("broker", "mqtt.broker"), ("node_id", "mqtt.node_id"), ("ca_file", "mqtt.ca_file")):
        val = getattr(args, flag)
        if val is not None:
            extra.append((key, val))
    return [*args.set, *extra]


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # text that cannot be encoded is escaped, never a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    level = getattr(args, "log_level", "warning").upper()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        if args.command == "prepare":
            from omni.app.prepare import prepare
            return prepare()
        if args.command == "serve":
            from omni.serve.run import run_serve

            return run_serve(args)
        if args.command == "wyoming":
            from omni.wyoming.run import run_wyoming

            return run_wyoming(args)
        return run_pipeline_command(args)
    except (ConfigError, InputError) as e:
        print(f"omni: {e}", file=sys.stderr)
        return 2
    except OmniError as e:
        print(f"omni: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("omni: interrupted", file=sys.stderr)
        return 130


OUT_RATES = (8000, 192000)
"""Sample rates --out-rate takes (Hz)."""


def check_args(args: argparse.Namespace, node: bool) -> None:
    """Numbers in range and outputs writable (none of them an input) before anything loads:
    a run that could not keep its results does not start. ConfigError (exit 2) says what to do."""
    check_range("--out-rate", args.out_rate, *OUT_RATES, " Hz")
    check_range("--duration", args.duration, 0.1, 7 * 86400, " s")
    check_range("--hud-fps", args.hud_fps, 1, 120)
    audio_out = args.audio_out if node or args.audio_in is None else (args.audio_out or DEFAULT_AUDIO_OUT)
    check_outputs({"--audio-out": audio_out, "--metrics": args.metrics, "--video-out": args.video_out,
                   "--record": args.record},
                  {"--audio-in": args.audio_in, "--camera": args.camera, "--pipeline-file": args.pipeline_file})


DEFAULT_AUDIO_OUT = Path("out") / "reply.wav"


def run_pipeline_command(args: argparse.Namespace) -> int:
    cfg = load_pipeline(str(args.pipeline_file or args.command), overrides(args))
    check_args(args, node=cfg.mqtt is not None)
    if cfg.mqtt is not None:
        return run_node_command(cfg, args)
    if args.list_devices:
        from omni.audio.device import list_devices

        devices = list_devices()
        if not devices:
            print("no audio devices found (no sound card, or no sound server running)\n"
                  "  hint: run on files: --audio-in IN.wav --audio-out OUT.wav")
        for d in devices:
            print(f"{d['index']:3d} {d['name'][:40]:40s} in {d['inputs']:3d} out {d['outputs']:3d} "
                  f"{d['rate']:6d} Hz {d['default']}")
        return 0
    if args.audio_in is None:
        return run_live_command(cfg, args)
    audio_out = args.audio_out or DEFAULT_AUDIO_OUT
    view = ConsoleView(quiet=args.quiet)
    opts = FileRunOptions(audio_in=args.audio_in, audio_out=audio_out, metrics=args.metrics,
                          realtime=not args.fast, out_rate=args.out_rate,
                          room=_room(args.room_echo), camera=args.camera, video_out=args.video_out,
                          hud_fps=args.hud_fps)
    result = asyncio.run(run_files(cfg, opts, view))
    extra = {"input": f"{result.input_s or 0:.1f} s in {result.run_s:.1f} s",
             "peak memory": f"{result.peak_rss_mb:.0f} MB",
             "overruns": len(result.recorder.overruns),
             "errors": len(result.recorder.errors), **result.extra}
    view.summary(result.records, v2v_budget_ms=cfg.v2v_budget_ms, load_s=result.load_s, extra=extra)
    wrote = [str(audio_out)] + [str(p) for p in (args.metrics, args.video_out) if p]
    view.console.print("wrote " + ", ".join(wrote))
    if not result.records:
        view.console.print("[yellow]no speech was detected in the input[/]")
    return exit_code(result)


def exit_code(result: RunResult) -> int:
    """0, or 130 for a run stopped by Ctrl-C (SIGINT; it stopped cleanly and wrote its outputs).
    SIGTERM is a service manager's stop: 0."""
    if result.interrupted:
        print("omni: interrupted", file=sys.stderr)
        return 130
    return 0


def run_node_command(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    from omni.app.node import NodeRunOptions, run_node

    assert cfg.mqtt is not None
    view = ConsoleView(quiet=args.quiet)
    opts = NodeRunOptions(audio_in=args.audio_in, metrics=args.metrics, duration_s=args.duration,
                          metrics_port=args.metrics_port,
                          audio_out=args.audio_out,
                          out_rate=args.out_rate or 16000)
    result = asyncio.run(run_node(cfg, opts, view))
    summary = {"turns": len(result.records), **result.extra, "peak memory": f"{result.peak_rss_mb:.0f} MB"}
    view.console.print("node stopped: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    wrote = [str(p) for p in (opts.audio_out, opts.metrics) if p]
    if wrote:
        view.console.print("wrote " + ", ".join(wrote))
    return exit_code(result)


def run_live_command(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    from omni.app.live import LiveRunOptions, run_live

    view = ConsoleView(quiet=args.quiet)
    opts = LiveRunOptions(input_device=args.input_device, output_device=args.output_device,
                          record=args.record, metrics=args.metrics, duration_s=args.duration,
                          metrics_port=args.metrics_port,
                          camera=args.camera, video_out=args.video_out, hud_fps=args.hud_fps)
    result = asyncio.run(run_live(cfg, opts, view))
    view.summary(result.records, v2v_budget_ms=cfg.v2v_budget_ms, load_s=result.load_s,
                 extra={**result.extra, "peak memory": f"{result.peak_rss_mb:.0f} MB"})
    return exit_code(result)
