"""Realtime sessions at once, over the wire: what the OpenAI Realtime API at /v1/realtime costs.

    python bench/realtime.py [--n 1,2,4] [--cycles 200] [--out bench/results/realtime.json]

`launch.py serve`'s server (desktop pipeline, loopback, in this process) and N clients at once,
each the official `openai` client's `realtime.connect()`, each streaming bench/sessions.py's script
of three turns (espeak-ng voices and a real reader) at a microphone's pace (100 ms appends), with
silence between turns as a live microphone would send. Per turn:

- client V2V: from the moment the client sent the user's last speech sample (the server's
  speech_stopped says which sample that was) to the moment the first reply audio reached it;
- server V2V: the same turn's V2V as omni measures it on files (end of speech to first reply
  audio out of TTS; omni.turn);
- overhead: their difference, per turn: what the WebSocket, the events and the JSON add.

Then `--cycles` sessions are opened and closed one after another: the server's RSS every 20.
Target (issue 28): overhead p50 <= 50 ms; every turn of 4 sessions answered; RSS flat.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import openai  # noqa: E402
from serving import Running  # noqa: E402
from sessions import rss_mb, script  # noqa: E402

RATE, CHUNK = 24000, 2400  # 100 ms appends


def pcm(x16k: np.ndarray) -> np.ndarray:
    return (np.clip(soxr.resample(x16k, 16000, RATE), -1, 1) * 32767).astype("<i2")


async def one(client: openai.AsyncOpenAI, i: int, gap_s: float) -> list[dict[str, Any]]:
    turns = script(i)
    sent: list[tuple[int, float]] = []  # (samples sent so far, when)
    rows: list[dict[str, Any]] = []
    async with client.realtime.connect(model="omni-desktop", extra_query={"omni_events": "1"}) as conn:
        pos = 0
        done = asyncio.Event()
        state: dict[str, Any] = {"stopped_ms": None, "first": {}, "server": {}, "status": {}, "order": []}

        async def read() -> None:
            async for ev in conn:
                kind = ev.type
                if kind == "input_audio_buffer.speech_stopped":
                    state["stopped_ms"] = ev.audio_end_ms
                elif kind == "response.created":
                    state["order"].append((ev.response.id, state["stopped_ms"]))
                elif kind == "response.output_audio.delta":
                    state["first"].setdefault(ev.response_id, time.monotonic())
                elif kind == "omni.turn":
                    extra = ev.model_extra or {}
                    state["server"][extra.get("response_id")] = extra.get("v2v_ms")
                elif kind == "response.done":
                    state["status"][ev.response.id] = ev.response.status
                    done.set()

        reader = asyncio.ensure_future(read())

        async def stream(x: np.ndarray, until: asyncio.Event | None = None, limit_s: float = 60) -> None:
            nonlocal pos
            t0, k = time.monotonic(), 0
            while (k < len(x)) if until is None else (not until.is_set() and time.monotonic() - t0 < limit_s):
                chunk = x[k:k + CHUNK] if until is None else np.zeros(CHUNK, "<i2")
                await conn.input_audio_buffer.append(audio=base64.b64encode(chunk.tobytes()).decode())
                pos += len(chunk)
                k += len(chunk)
                sent.append((pos, time.monotonic()))
                await asyncio.sleep(max(0.0, t0 + k / RATE - time.monotonic()))

        for audio in turns:
            done.clear()
            await stream(pcm(np.concatenate([np.zeros(4800, np.float32), audio, np.zeros(16000, np.float32)])))
            await stream(np.zeros(0, "<i2"), until=done)  # silence, as a microphone sends, until the reply ends
            await asyncio.sleep(0.3)  # its omni.turn
            await stream(pcm(np.zeros(int(gap_s * 16000), np.float32)))
        reader.cancel()
        for rid, stopped_ms in state["order"]:
            sample = None if stopped_ms is None else stopped_ms * RATE // 1000
            t_end = next((t for n, t in sent if sample is not None and n >= sample), None)
            first = state["first"].get(rid)
            client_ms = (first - t_end) * 1000 if first is not None and t_end is not None else None
            server_ms = state["server"].get(rid)
            rows.append({"session": i, "response": rid, "status": state["status"].get(rid),
                         "client_v2v_ms": None if client_ms is None else round(client_ms, 1),
                         "server_v2v_ms": None if server_ms is None else round(server_ms, 1),
                         "overhead_ms": round(client_ms - server_ms, 1) if client_ms is not None and server_ms
                         is not None else None})
    return rows


def p(xs: list[float], q: float) -> float | None:
    xs = sorted(x for x in xs if x is not None)
    return None if not xs else round(xs[min(len(xs) - 1, int(q * len(xs)))], 1)


async def bench(url: str, ns: list[int], cycles: int, gap_s: float) -> dict[str, Any]:
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="loopback", max_retries=0)
    out: dict[str, Any] = {"concurrent": []}
    for n in ns:
        peak, stop = rss_mb(), threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_mb())
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        runs = await asyncio.gather(*(one(client, i, gap_s) for i in range(n)))
        stop.set()
        rows = [r for run in runs for r in run]
        answered = sum(1 for r in rows if r["status"] == "completed")
        row = {"n": n, "asked": 3 * n, "responses": len(rows), "completed": answered,
               "wall_s": round(time.monotonic() - t0, 1),
               "client_v2v_p50_ms": p([r["client_v2v_ms"] for r in rows], 0.5),
               "client_v2v_p95_ms": p([r["client_v2v_ms"] for r in rows], 0.95),
               "server_v2v_p50_ms": p([r["server_v2v_ms"] for r in rows], 0.5),
               "overhead_p50_ms": p([r["overhead_ms"] for r in rows], 0.5),
               "overhead_max_ms": p([r["overhead_ms"] for r in rows], 1.0),
               "peak_rss_mb": round(peak), "turns": rows}
        out["concurrent"].append(row)
        print(f"N={n}: " + json.dumps({k: v for k, v in row.items() if k != "turns"}), flush=True)
    rss, opens = [], []
    for k in range(cycles):
        t0 = time.monotonic()
        async with client.realtime.connect(model="omni-desktop") as conn:
            async for ev in conn:
                if ev.type == "session.created":
                    break
        opens.append((time.monotonic() - t0) * 1000)
        if k % 20 == 19:
            await asyncio.sleep(0.2)  # the last close has finished on the server
            rss.append(round(rss_mb(), 1))
    warm = rss[1:] or rss
    out["cycles"] = {"sessions": cycles, "open_close_ms_p50": round(statistics.median(opens), 1) if opens else None,
                     "rss_every_20_mb": rss,
                     "rss_drift_after_warmup_pct": round(100 * (max(warm) - min(warm)) / min(warm), 1) if warm else None}
    return out


def table(res: dict[str, Any]) -> str:
    lines = ["| N | completed | client V2V p50 / p95 | server V2V p50 | overhead p50 / max | peak RSS |",
             "|---|---|---|---|---|---|"]
    for r in res["concurrent"]:
        lines.append(f"| {r['n']} | {r['completed']}/{r['asked']} | {r['client_v2v_p50_ms']} / {r['client_v2v_p95_ms']} ms"
                     f" | {r['server_v2v_p50_ms']} ms | {r['overhead_p50_ms']} / {r['overhead_max_ms']} ms | "
                     f"{r['peak_rss_mb']} MB |")
    c = res["cycles"]
    lines += ["", f"{c['sessions']} sessions opened and closed (connect to session.created, then close): p50 "
              f"{c['open_close_ms_p50']} ms; server RSS every 20: {c['rss_every_20_mb']} "
              f"(drift after warm-up {c['rss_drift_after_warmup_pct']} %)"]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--gap", type=float, default=2.0, help="seconds of silence after each reply")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "realtime.json")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    with Running(None, max_sessions=max(args.n) + 1) as srv:
        res = asyncio.run(bench(srv.url, args.n, args.cycles, args.gap))
    res["date"] = time.strftime("%Y-%m-%d %H:%M")
    print(table(res))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
