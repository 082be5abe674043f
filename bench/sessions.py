"""One process, many conversations: what N concurrent voice sessions cost on this machine.

    python bench/sessions.py [--n 1,2,4] [--cycles 200] [--out bench/results/sessions.json]

One Host loads the desktop pipeline's engines once. Then, for each N, N sessions at once each
hear a script of three turns (espeak-ng voices that are not the assistant's, and a real
person's recording) pushed at a microphone's pace; the table gives V2V p50/p95 (from the
user's last speech chunk to the first reply audio made: the time at TTS output, no speaker
here), replies that came back, and the peak RSS while they ran. Last, `--cycles` text-only
sessions are opened and closed one after another: open/close time, RSS every 20 (flat after
warm-up?), and the tasks and threads of the process before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from omni.app.host import Conversation, Host  # noqa: E402
from omni.audio import read_audio  # noqa: E402
from omni.config import load_pipeline  # noqa: E402

SR = 16000
LINES = [("italy", "en-gb"), ("sea", "en-gb-scotland"), ("hey", "en-us"), ("television", "en-us-f3"),
         ("italy", "en-us"), ("sea", "en-gb")]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def voice(line: str, who: str) -> np.ndarray:
    return read_audio(ROOT / "tests" / "voices" / f"{line}-{who}.wav", SR).samples


def real() -> np.ndarray:
    import devset

    return devset.audio("two_cities.wav", SR)[int(0.6 * SR): int(4.6 * SR)]


def script(i: int) -> list[np.ndarray]:
    """Session i's three turns: two voice lines and, for every other session, the real reader."""
    a, b = LINES[i % len(LINES)], LINES[(i + 1) % len(LINES)]
    third = real() if i % 2 == 0 else voice(*LINES[(i + 2) % len(LINES)])
    return [voice(*a), voice(*b), third]


async def speak_into(conv: Conversation, audio: np.ndarray, chunk_s: float = 0.032) -> None:
    n = int(chunk_s * SR)
    t0 = time.monotonic()
    for i in range(0, len(audio), n):
        await conv.push(audio[i:i + n], SR)
        await asyncio.sleep(max(0.0, t0 + (i + n) / SR - time.monotonic()))


async def one_session(host: Host, cfg: Any, i: int, gap_s: float) -> dict[str, Any]:
    conv = await host.open(cfg)
    try:
        turns = script(i)
        for k, audio in enumerate(turns):
            await speak_into(conv, np.concatenate([np.zeros(int(0.3 * SR), np.float32), audio,
                                                   np.zeros(int(1.0 * SR), np.float32)]))
            try:
                await conv.replies(k + 1, timeout=60)
            except TimeoutError:
                pass
            await speak_into(conv, np.zeros(int(gap_s * SR), np.float32))
    finally:
        result = await conv.close(cancel=False)
    recs = result.records if result else []
    return {"v2v": [r.v2v_ms for r in recs if r.v2v_ms is not None],
            "stages": {k: [r.stages[k].ms for r in recs if k in r.stages] for k in ("vad", "stt", "llm", "tts")},
            "replies": sum(1 for r in recs if r.reply), "turns": len(recs), "asked": 3}


async def concurrent(host: Host, n: int, gap_s: float) -> dict[str, Any]:
    peak = rss_mb()
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_mb())
            await asyncio.sleep(0.05)

    sampler = asyncio.get_running_loop().create_task(sample())
    t0 = time.monotonic()
    cfg = load_pipeline("desktop")
    try:
        runs = await asyncio.gather(*(one_session(host, cfg, i, gap_s) for i in range(n)))
    finally:
        stop.set()
        await sampler
    v2v = sorted(x for r in runs for x in r["v2v"])
    return {"n": n, "wall_s": round(time.monotonic() - t0, 1), "turns": sum(r["turns"] for r in runs),
            "asked": sum(r["asked"] for r in runs), "replies": sum(r["replies"] for r in runs),
            "v2v_p50_ms": round(statistics.median(v2v)) if v2v else None,
            "v2v_p95_ms": round(v2v[min(len(v2v) - 1, int(0.95 * len(v2v)))]) if v2v else None,
            "peak_rss_mb": round(peak),
            "stage_p50_ms": {k: round(statistics.median(v)) if (v := [x for r in runs for x in r["stages"][k]]) else None
                             for k in ("vad", "stt", "llm", "tts")}}


async def cycles(host: Host, count: int) -> dict[str, Any]:
    cfg = load_pipeline("desktop")
    opens, closes, rss = [], [], []
    tasks0, threads0 = len(asyncio.all_tasks()), threading.active_count()
    loads0 = host.engines.loads
    for k in range(count):
        t0 = time.monotonic()
        conv = await host.open(cfg, audio_out=False, realtime=False)
        t1 = time.monotonic()
        await conv.close()
        opens.append((t1 - t0) * 1000)
        closes.append((time.monotonic() - t1) * 1000)
        if k % 20 == 19:
            rss.append(round(rss_mb(), 1))
    await asyncio.sleep(0.1)
    warm = rss[1:] or rss
    return {"sessions": count, "open_ms_p50": round(statistics.median(opens), 1),
            "open_ms_p95": round(sorted(opens)[int(0.95 * len(opens))], 1),
            "close_ms_p50": round(statistics.median(closes), 1),
            "close_ms_p95": round(sorted(closes)[int(0.95 * len(closes))], 1),
            "rss_every_20_mb": rss,
            "rss_drift_after_warmup_pct": round(100 * (max(warm) - min(warm)) / min(warm), 1) if warm else None,
            "tasks_before_after": [tasks0, len(asyncio.all_tasks())],
            "threads_before_after": [threads0, threading.active_count()],
            "engines_loaded_meanwhile": host.engines.loads - loads0}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    cfg = load_pipeline("desktop")
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count()}
    base = rss_mb()
    async with Host() as host:
        t0 = time.monotonic()
        await host.load(cfg)
        out["load_s"] = round(time.monotonic() - t0, 1)
        out["rss_loaded_mb"] = round(rss_mb())
        out["rss_before_load_mb"] = round(base)
        out["engines"] = host.engines.summary()
        out["concurrent"] = []
        for n in args.n:
            row = await concurrent(host, n, args.gap)
            out["concurrent"].append(row)
            print(f"N={n}: {row}", flush=True)
        out["cycles"] = await cycles(host, args.cycles)
    return out


def table(res: dict[str, Any]) -> str:
    lines = [f"engines loaded once in {res['load_s']} s; RSS {res['rss_before_load_mb']} MB before, "
             f"{res['rss_loaded_mb']} MB loaded", "",
             "| N | turns | replies | V2V p50 | V2V p95 | end of turn / STT / LLM first token / TTS p50 | peak RSS | x one session |",
             "|---|---|---|---|---|---|---|---|"]
    one = res["concurrent"][0]["peak_rss_mb"] if res["concurrent"] else None
    for r in res["concurrent"]:
        ratio = f"{r['peak_rss_mb'] / one:.3f}" if one else "-"
        st = r["stage_p50_ms"]
        lines.append(f"| {r['n']} | {r['turns']}/{r['asked']} | {r['replies']} | {r['v2v_p50_ms']} ms | "
                     f"{r['v2v_p95_ms']} ms | {st['vad']} / {st['stt']} / {st['llm']} / {st['tts']} ms | "
                     f"{r['peak_rss_mb']} MB | {ratio} |")
    c = res["cycles"]
    lines += ["", f"{c['sessions']} text sessions opened and closed: open p50 {c['open_ms_p50']} ms "
              f"(p95 {c['open_ms_p95']}), close p50 {c['close_ms_p50']} ms (p95 {c['close_ms_p95']}); "
              f"RSS every 20: {c['rss_every_20_mb']} (drift after warm-up {c['rss_drift_after_warmup_pct']} %); "
              f"tasks {c['tasks_before_after']}, threads {c['threads_before_after']}, "
              f"engines loaded meanwhile {c['engines_loaded_meanwhile']}"]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--gap", type=float, default=3.0, help="seconds of silence after each reply")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sessions.json")
    a = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    res = asyncio.run(main(a))
    print(table(res))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1))
    print(f"wrote {a.out}")
