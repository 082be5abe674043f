"""Wyoming, measured: omni's `transcribe` against wyoming-faster-whisper with the same model on
this machine (same run, interleaved), and omni's `synthesize` to its first audio chunk.

    python bench/wyoming_bench.py [--rounds 3] [--out bench/results/wyoming.json]

Both servers are driven by the `wyoming` package's AsyncTcpClient. Each utterance (espeak-ng
voices, a real reader, about 2 s) is sent as fast as the socket takes it; the time is from
writing `audio-stop` to reading `transcript`. wyoming-faster-whisper 3.8.1 runs in a venv of its
own (made once in the model cache), on omni's bundled tiny.en folder (--local-files-only),
beam 1, int8, 2 threads: omni's own settings.
Targets (issue 29): omni no slower than wyoming-faster-whisper; synthesize -> first chunk <= 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from wyoming.asr import Transcribe, Transcript  # noqa: E402
from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.tts import Synthesize  # noqa: E402

from omni.audio import read_audio  # noqa: E402
from omni.models import resolve  # noqa: E402
from omni.wyoming.server import WyomingOptions, WyomingServer  # noqa: E402
from serving import Running  # noqa: E402

PEER = "wyoming-faster-whisper==3.8.1"
SR = 16000


def utterances() -> list[tuple[str, np.ndarray]]:
    import devset

    def voice(line: str, who: str) -> np.ndarray:
        return read_audio(ROOT / "tests" / "voices" / f"{line}-{who}.wav", SR).samples

    real = devset.audio("two_cities.wav", SR)
    return [("italy en-gb", voice("italy", "en-gb")), ("italy scotland", voice("italy", "en-gb-scotland")),
            ("hey en-us", voice("hey", "en-us")), ("sea en-gb", voice("sea", "en-gb")),
            ("real: best of times", real[int(0.7 * SR): int(4.5 * SR)]),
            ("real: age of wisdom", real[int(4.9 * SR): int(8.1 * SR)])]


def peer_python() -> Path:
    venv = Path(os.environ.get("OMNI_CACHE_DIR", Path.home() / ".cache" / "omni")) / "wyoming-faster-whisper-3.8.1"
    py = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        print(f"making wyoming-faster-whisper's venv in {venv} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", PEER], check=True)
        (venv / ".installed").touch()
    return py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def transcribe(host: str, port: int, x: np.ndarray) -> tuple[float, str]:
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    async with AsyncTcpClient(host, port) as c:
        await c.write_event(Transcribe(language="en").event())
        await c.write_event(AudioStart(rate=SR, width=2, channels=1).event())
        for i in range(0, len(pcm), 3200):
            await c.write_event(AudioChunk(rate=SR, width=2, channels=1, audio=pcm[i:i + 3200]).event())
        t0 = time.monotonic()
        await c.write_event(AudioStop().event())
        while True:
            ev = await c.read_event()
            if ev is None:
                raise RuntimeError("the server closed the connection")
            if Transcript.is_type(ev.type):
                return (time.monotonic() - t0) * 1000, Transcript.from_event(ev).text


async def first_chunk(host: str, port: int, text: str) -> float:
    async with AsyncTcpClient(host, port) as c:
        t0 = time.monotonic()
        await c.write_event(Synthesize(text=text).event())
        while True:
            ev = await c.read_event()
            if ev is not None and AudioChunk.is_type(ev.type):
                ms = (time.monotonic() - t0) * 1000
                while ev is not None and not AudioStop.is_type(ev.type):
                    ev = await c.read_event()
                return ms


async def wait_port(port: int, proc: subprocess.Popen[Any], limit: float = 120) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if proc.poll() is not None:
            raise RuntimeError(f"wyoming-faster-whisper exited: {proc.returncode}")
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.3)
    raise RuntimeError("wyoming-faster-whisper did not listen")


async def bench(omni: tuple[str, int], peer_port: int, proc: subprocess.Popen[Any], rounds: int) -> dict[str, Any]:
    await wait_port(peer_port, proc)
    items = utterances()
    rows: list[dict[str, Any]] = []
    for name, x in items[:1]:  # warm both (first loads, first allocations)
        await transcribe(*omni, x)
        await transcribe("127.0.0.1", peer_port, x)
    for r in range(rounds):
        for name, x in items:
            order = [("omni", omni), ("wyoming-faster-whisper", ("127.0.0.1", peer_port))]
            if r % 2:
                order.reverse()
            for who, (h, p) in order:
                ms, text = await transcribe(h, p, x)
                rows.append({"server": who, "utterance": name, "seconds": round(len(x) / SR, 2), "ms": round(ms, 1),
                             "text": text})
    synth = [await first_chunk(*omni, "The kitchen light is on.") for _ in range(10)]
    out: dict[str, Any] = {"rows": rows, "synthesize_first_chunk_ms": [round(s, 1) for s in synth]}
    for who in ("omni", "wyoming-faster-whisper"):
        out[f"{who} p50_ms"] = round(statistics.median(r["ms"] for r in rows if r["server"] == who), 1)
    ratios: list[float] = []
    by: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        by.setdefault(r["utterance"], {}).setdefault(r["server"], []).append(r["ms"])
    for u, d in by.items():
        ratios += [a / b for a, b in zip(d["omni"], d["wyoming-faster-whisper"])]
    out["omni / peer, per utterance and round, median"] = round(statistics.median(ratios), 3)
    out["synthesize_first_chunk_p50_ms"] = round(statistics.median(synth), 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "wyoming.json")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    py = peer_python()
    port = free_port()
    model = resolve("stt", "tiny.en").location
    proc = subprocess.Popen([str(py), "-m", "wyoming_faster_whisper", "--uri", f"tcp://127.0.0.1:{port}",
                             "--model", str(model), "--data-dir", tempfile.mkdtemp(prefix="wfw-"), "--local-files-only",
                             "--beam-size", "1", "--compute-type", "int8", "--cpu-threads", "2", "--language", "en"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with Running(None, pipeline="smart-home",
                     server=WyomingServer(WyomingOptions(uri="tcp://127.0.0.1:0", zeroconf=False))) as srv:
            host, p = srv.url.removeprefix("tcp://").rsplit(":", 1)
            res = asyncio.run(bench((host, int(p)), port, proc, args.rounds))
    finally:
        proc.terminate()
        try:
            err = proc.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            err = ""
    if not res:
        print(err[-2000:])
    res["date"] = time.strftime("%Y-%m-%d %H:%M")
    print("| server | transcribe p50 (audio-stop -> transcript) |\n|---|---|")
    for who in ("omni", "wyoming-faster-whisper"):
        print(f"| {who} | {res[f'{who} p50_ms']} ms |")
    print(f"\nomni / wyoming-faster-whisper, per utterance and round, median: "
          f"{res['omni / peer, per utterance and round, median']}")
    print(f"synthesize 'The kitchen light is on.' -> first audio chunk, p50 of 10: {res['synthesize_first_chunk_p50_ms']} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
