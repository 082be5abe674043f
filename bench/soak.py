#!/usr/bin/env python3
"""Soak: 1,000 turns and more, and what the process holds as they go.

    python bench/soak.py [--turns 1000] [--commands 1000] [--out bench/results/soak.json] [--png bench/report/soak.png]

1. Files, accelerated (`--fast`): the desktop pipeline on one long input of `--turns` questions
   (real people, espeak voices and piper, mostly fast-path commands, one in eight for the local
   model), separated by silence.
2. The MQTT node over a real Mosquitto: `--commands` commands in a mixed stream (asks, says,
   mute and listen, settings, refused commands, audio chunks), each waited for.

Every 100 turns (commands) it samples RSS, open file descriptors, asyncio tasks and threads. In
file mode the run holds the input and the reply audio it writes at the end (by design: the output
wav is the whole conversation); `rss_net_mb` is RSS less those buffers. Target: flat within
+-5 % after warm-up (the first sample), no task or fd growth. Prints a table, writes JSON and a PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from omni.app.session import RunOptions, run  # noqa: E402
from omni.app.view import ConsoleView  # noqa: E402
from omni.audio import write_wav  # noqa: E402
from omni.config import load_pipeline  # noqa: E402
from omni.frames import Frame, ReplyPlayed  # noqa: E402
from omni.transports.files import FileRunOptions, FileTransport  # noqa: E402

SR = 16000
EVERY = 100


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def sample(turns: int, tasks: int, extra_mb: float = 0.0) -> dict[str, Any]:
    rss = rss_mb()
    return {"turns": turns, "rss_mb": round(rss, 1), "rss_net_mb": round(rss - extra_mb, 1), "fds": fds(),
            "tasks": tasks, "threads": threading.active_count(), "t": round(time.monotonic(), 1)}


def questions() -> list[np.ndarray]:
    """Short turns in several voices: fast-path commands mostly, a question for the model."""
    from helpers import VOICES, recording, say, voice

    lines = [say("What time is it?"), say("Turn on the kitchen light."), say("Volume up."),
             say("Switch the bedroom light off."), say("Turn the volume down."), say("What time is it now?"),
             say("Turn off the kitchen light."), say("What is the capital of France?")]
    lines += [voice("weather", who) for who in VOICES[:2]]
    lines.append(recording("clone-test.wav", 1.1, 3.25))
    return lines


class TurnSampler:
    """Observer: counts the replies played; every EVERY of them, a sample."""

    def __init__(self, held_mb, last: int) -> None:
        self.last = last
        self.turns = 0
        self.samples: list[dict[str, Any]] = []
        self.held_mb = held_mb

    def on_frame(self, stage: str, frame: Frame) -> None:
        if isinstance(frame, ReplyPlayed):
            self.turns += 1
            if self.turns % EVERY == 0 or self.turns in (1, self.last):
                self.samples.append(sample(self.turns, len(asyncio.all_tasks()), self.held_mb()))
                print(f"  files: {self.samples[-1]}", flush=True)


async def soak_files(turns: int) -> dict[str, Any]:
    rng = random.Random(1)
    lines = questions()
    gap = np.zeros(int(2.5 * SR), np.float32)
    parts = []
    for _ in range(turns):
        parts += [lines[rng.randrange(len(lines))], gap]
    audio = np.concatenate(parts)
    d = Path(tempfile.mkdtemp(prefix="soak-"))
    write_wav(d / "in.wav", audio, SR)
    del parts
    cfg = load_pipeline("desktop")
    session: list[Any] = []

    def held_mb() -> float:  # the input, decoded, and the reply audio placed so far
        if not session:
            return 0.0
        tl = session[0].player.timeline
        return (audio.nbytes + sum(p.audio.nbytes for p in tl._parts)) / 2**20

    sampler = TurnSampler(held_mb, turns)
    t0 = time.monotonic()
    result = await run(cfg, FileTransport(FileRunOptions(audio_in=d / "in.wav", audio_out=d / "out.wav",
                                                         realtime=False)),
                       ConsoleView(quiet=True), RunOptions(keep_records=EVERY), observers=[sampler],
                       started=session.append)
    after = sample(sampler.turns, len(asyncio.all_tasks()), 0.0)  # the run over, its models closed
    return {"turns_asked": turns, "turns_answered": sampler.turns, "input_s": round(len(audio) / SR),
            "seconds": round(time.monotonic() - t0), "errors": len(result.recorder.errors),
            "samples": sampler.samples, "after": after}


async def soak_node(commands: int) -> dict[str, Any]:
    from brokers import Mosquitto, NodeThread
    from mqttclient import watching

    from omni.audio.io import wav_bytes

    rng = random.Random(2)
    broker = Mosquitto(Path(tempfile.mkdtemp(prefix="soak-mosq-"))).start()
    node = NodeThread("smart-home", [f"mqtt.broker={broker.url}", "mqtt.node_id=soak",
                                     "mqtt.discovery.enabled=false"], ).start()
    base = "omni/soak"
    samples: list[dict[str, Any]] = []
    kinds: dict[str, int] = {}
    chunk = wav_bytes(np.zeros(1600, np.float32), SR)

    def tasks() -> int:
        return node.call(lambda: len(asyncio.all_tasks()))

    t0 = time.monotonic()
    try:
        async with watching(broker.port, [f"{base}/event/#"]) as w:
            for i in range(1, commands + 1):
                kind = rng.choices(["ask", "say", "mute", "listen", "settings", "bad", "audio"],
                                   [30, 10, 10, 10, 10, 15, 15])[0]
                kinds[kind] = kinds.get(kind, 0) + 1
                cid = f"s{i}"
                seen = len(w.messages)
                if kind == "audio":
                    await w.client.publish(f"{base}/audio/in", chunk, qos=0)
                else:
                    body = {"ask": {"text": rng.choice(["What time is it?", "Turn on the kitchen light.",
                                                         "Volume up.", "Turn off the kitchen light."])},
                            "say": {"text": rng.choice(["Okay.", "Dinner is ready.", "The door is closed."])},
                            "mute": {"on": False}, "listen": {"on": True},
                            "settings": {"set": {"llm.temperature": rng.choice([0.1, 0.2, 0.3])}},
                            "bad": {"text": 5}}[kind]
                    await w.publish(f"{base}/cmd/{'ask' if kind == 'bad' else kind}", {"id": cid, **body})
                    m = await w.wait(lambda m: m.json.get("id") == cid, 30, after=seen)
                    if kind in ("ask", "say") and m.topic.endswith("/ack"):
                        turn = m.json["turn"]
                        await w.wait(lambda m: m.topic.endswith("/event/reply") and m.json.get("turn") == turn, 60,
                                     after=seen)
                if i % EVERY == 0 or i in (1, commands):
                    samples.append(sample(i, tasks()))
                    print(f"  node: {samples[-1]}", flush=True)
                if len(w.messages) > 5000:  # the watcher's own list: not the node's memory
                    del w.messages[:]
    finally:
        node.stop()
        broker.stop()
    return {"commands": commands, "kinds": kinds, "seconds": round(time.monotonic() - t0), "samples": samples}


def drift(samples: list[dict[str, Any]], key: str) -> float | None:
    """Largest change after warm-up (the first sample after the first), as a fraction of it."""
    after = [s[key] for s in samples[1:]]
    if len(after) < 2 or not after[0]:
        return None
    return round(max(abs(v - after[0]) for v in after) / after[0], 3)


def plot(results: dict[str, Any], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, (name, key, x) in zip(axes, [("files", "rss_net_mb", "turns"), ("node", "rss_mb", "turns")]):
        s = results[name]["samples"]
        ax.plot([p[x] for p in s], [p[key] for p in s], marker="o", label=f"{key} (MB)")
        ax2 = ax.twinx()
        ax2.plot([p[x] for p in s], [p["fds"] for p in s], color="tab:green", ls="--", label="fds")
        ax2.plot([p[x] for p in s], [p["tasks"] for p in s], color="tab:red", ls=":", label="tasks")
        ax2.plot([p[x] for p in s], [p["threads"] for p in s], color="tab:purple", ls="-.", label="threads")
        ax.set_title(f"{name}: {'turns' if name == 'files' else 'commands'}")
        ax.set_xlabel("turns" if name == "files" else "commands")
        ax.set_ylabel("MB")
        ax.set_ylim(0, max(p[key] for p in s) * 1.3)
        ax2.set_ylim(0, max(max(p["fds"], p["tasks"], p["threads"]) for p in s) * 1.3)
        lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        ax.legend(lines, [ln.get_label() for ln in lines], loc="lower right", fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=1000)
    ap.add_argument("--commands", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    ap.add_argument("--png", type=Path, default=ROOT / "bench" / "report" / "soak.png")
    args = ap.parse_args()
    results: dict[str, Any] = {}
    print(f"files: {args.turns} turns, --fast ...", flush=True)
    results["files"] = asyncio.run(soak_files(args.turns))
    print(f"node: {args.commands} commands ...", flush=True)
    results["node"] = asyncio.run(soak_node(args.commands))
    print(f"\n{'run':6s} {'samples':>8s} {'rss drift':>10s} {'fds':>10s} {'tasks':>10s} {'threads':>10s}")
    for name, key in (("files", "rss_net_mb"), ("node", "rss_mb")):
        s = results[name]["samples"]
        results[name]["drift"] = {k: drift(s, k) for k in (key, "fds", "tasks", "threads")}
        rng = {k: f"{s[1][k] if len(s) > 1 else s[0][k]}->{s[-1][k]}" for k in ("fds", "tasks", "threads")}
        print(f"{name:6s} {len(s):8d} {results[name]['drift'][key]!s:>10s} {rng['fds']:>10s} {rng['tasks']:>10s} "
              f"{rng['threads']:>10s}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M"), **results}, indent=2) + "\n")
    plot(results, args.png)
    print(f"wrote {args.out}, {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
