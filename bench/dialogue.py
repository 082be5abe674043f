#!/usr/bin/env python3
"""Dialogue core: the fast path, failover cost and router overhead, in one run.

    python bench/dialogue.py [--repeats N] [--budget-ms 500] [--out bench/results/dialogue.json]

1. Fast path, end to end: spoken commands (synthesised with the bundled voice) through the
   desktop pipeline in real time; "after end of turn" = V2V minus the VAD's end-of-speech wait,
   i.e. STT + intent match + confirmation to its first audio sample. Target <= 300 ms.
   The intent match alone and the whole dialogue stage on the fast path are timed too.
2. Failover on a hung endpoint: a loopback server that accepts and never answers, configured
   with first_token_ms = --budget-ms, in front of the local model; the turn's first token vs
   the same turn on the local model alone. Target: the difference <= the budget.
3. Failover mid-stream: llama-cpp-python's server killed after its third token; the gap until
   the local backend's next token.
4. Router overhead per turn: plan() plus the router's wrapping of the stream (local first words
   through the router vs straight from the backend, alternating which goes first). Target <= 5 ms.
Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from omni.app.run import FileRunOptions, run_files  # noqa: E402
from omni.app.view import ConsoleView  # noqa: E402
from omni.audio import write_wav  # noqa: E402
from omni.config import load_pipeline  # noqa: E402
from omni.dialogue.router import RouteRecord  # noqa: E402
from omni.dialogue.types import ChatRequest, TextDelta  # noqa: E402
from omni.frames import ReplyToken, Transcript, Turn  # noqa: E402
from omni.runtime.metrics import percentile  # noqa: E402
from omni.stages import build_stage  # noqa: E402
from omni.stages.dialogue import Dialogue, DialogueOptions  # noqa: E402
from omni.stages.tts import PiperTTS  # noqa: E402

COMMANDS = ["Turn on the kitchen light.", "Turn the volume up.", "Switch off the bedroom light.",
            "Stop.", "Louder please.", "Lights off in the living room.", "Turn the volume down.",
            "Turn off the kitchen light."]
QUESTION = "What is the capital of France?"


def noop(*a: Any) -> None:
    pass


def stats(values: list[float]) -> dict[str, float | None]:
    v = [x for x in values if x is not None]
    r = lambda x: None if x is None else round(x, 3 if abs(x) < 1 else 1)  # noqa: E731
    return {"p50": r(percentile(v, 50)), "p95": r(percentile(v, 95)), "n": len(v)}


def turn(i: int) -> Turn:
    return Turn(id=i, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)


async def speak_commands(tmp: Path, gap_s: float) -> Path:
    tts = PiperTTS("tts")
    await tts.load(noop)
    try:
        parts = [np.zeros(tts.sample_rate // 2, np.float32)]
        for text in COMMANDS:
            parts += [np.concatenate(list(tts.synthesize(text))), np.zeros(int(gap_s * tts.sample_rate), np.float32)]
    finally:
        await tts.aclose()
    path = tmp / "commands.wav"
    write_wav(path, np.concatenate(parts), tts.sample_rate)
    return path


async def fast_path_end_to_end(gap_s: float) -> dict:
    cfg = load_pipeline("desktop")
    with tempfile.TemporaryDirectory() as d:
        wav = await speak_commands(Path(d), gap_s)
        res = await run_files(cfg, FileRunOptions(audio_in=wav, audio_out=Path(d) / "out.wav"), ConsoleView(quiet=True))
    turns = []
    for r in res.records:
        st = {k: round(v.ms, 1) for k, v in r.stages.items()}
        llm = r.stages.get("llm")
        turns.append({"transcript": r.transcript, "reply": r.reply, "v2v_ms": r.v2v_ms, "stages": st,
                      "backend": (llm.extra or {}).get("backend") if llm else None,
                      "after_eot_ms": None if r.v2v_ms is None else round(r.v2v_ms - st.get("vad", 0.0), 1)})
    return {"turns": turns}


async def fast_path_parts(n: int) -> dict:
    cfg = load_pipeline("desktop")
    st: Dialogue = build_stage(cfg.stage("llm"))  # type: ignore[assignment]
    await st.load(noop)
    match_ms, stage_ms = [], []
    try:
        for i in range(n):
            text = COMMANDS[i % len(COMMANDS)]
            t = time.perf_counter()
            m, _ = st.intents.match(text)
            match_ms.append((time.perf_counter() - t) * 1000)
            assert m is not None, text
            t = time.perf_counter()
            async for f in st.process(Transcript(turn=turn(i), text=text)):
                if isinstance(f, ReplyToken):
                    stage_ms.append((time.perf_counter() - t) * 1000)
            await st.idle()  # a user speaks again seconds later, not at once
    finally:
        await st.aclose()
    return {"intent_match_ms": stats(match_ms), "dialogue_to_confirmation_ms": stats(stage_ms)}


async def first_token(st: Dialogue, text: str, i: int) -> tuple[float, dict]:
    metrics: list[dict] = []
    st.context.reporter = lambda name, t, ms, extra: metrics.append(extra)
    t = time.perf_counter()
    ft = None
    async for f in st.process(Transcript(turn=turn(i), text=text)):
        if isinstance(f, ReplyToken) and ft is None:
            ft = (time.perf_counter() - t) * 1000
    return ft or float("nan"), metrics[-1]


async def failover_hung(repeats: int, budget_ms: float) -> dict:
    from servers import remote, silent_server

    base = dict(tools={"max_rounds": 0}, max_tokens=16, temperature=0, memory={"max_tokens": 0})
    with_hung, local_only, attempts = [], [], []
    async with silent_server() as url:
        hung = Dialogue("llm", DialogueOptions(
            backends={"hung": remote(url, first_token_ms=budget_ms), "local": {"type": "llama.cpp"}},
            routing={"order": ["hung", "local"], "breaker": {"failures": 1000, "cooldown_s": 0}}, **base))
        alone = Dialogue("llm", DialogueOptions(**base))
        for s in (hung, alone):
            await s.load(noop)
        try:
            for i in range(repeats):
                ms, m = await first_token(hung, QUESTION, i)
                with_hung.append(ms)
                attempts.append(m["attempts"][0]["ms"])
                local_only.append((await first_token(alone, QUESTION, i))[0])
        finally:
            for s in (hung, alone):
                await s.aclose()
    extra = [a - b for a, b in zip(with_hung, local_only)]
    return {"budget_ms": budget_ms, "first_token_with_hung_ms": stats(with_hung),
            "first_token_local_only_ms": stats(local_only), "hung_attempt_ms": stats(attempts),
            "added_ms": stats(extra)}


async def failover_killed(repeats: int) -> dict:
    from servers import llama_server, remote

    gaps, outcomes = [], []
    for i in range(repeats):
        with llama_server() as (url, proc):
            st = Dialogue("llm", DialogueOptions(
                backends={"remote": remote(url), "local": {"type": "llama.cpp"}},
                routing={"order": ["remote", "local"]}, tools={"max_rounds": 0}, max_tokens=40, temperature=0))
            await st.load(noop)
            metrics: list[dict] = []
            st.context.reporter = lambda name, t, ms, extra: metrics.append(extra)
            try:
                n, t_kill, gap = 0, 0.0, None
                async for f in st.process(Transcript(turn=turn(i), text="Tell me a short story about a fox.")):
                    if isinstance(f, ReplyToken):
                        n += 1
                        if n == 3:
                            os.kill(proc.pid, signal.SIGKILL)
                            t_kill = time.perf_counter()
                        elif n > 3 and gap is None:
                            gap = (time.perf_counter() - t_kill) * 1000
            finally:
                await st.aclose()
        gaps.append(gap)
        outcomes.append([(a["backend"], a["outcome"]) for a in metrics[-1]["attempts"]])
    return {"gap_after_kill_ms": stats(gaps), "attempts": outcomes}


async def router_overhead(repeats: int) -> dict:
    st = Dialogue("llm", DialogueOptions(tools={"max_rounds": 0}, max_tokens=8, temperature=0,
                                         memory={"max_tokens": 0}))
    await st.load(noop)
    be = st.backends["local"]
    plan_ms, direct, routed = [], [], []
    try:
        for _ in range(2000):
            t = time.perf_counter()
            st.router.plan(QUESTION, 400)
            plan_ms.append((time.perf_counter() - t) * 1000)
        req = ChatRequest(st.memory.messages(QUESTION), [], 8, 0.0)
        for i in range(repeats):  # alternate which goes first, so drift and cache state hit both alike
            for arm in (("direct", "routed") if i % 2 == 0 else ("routed", "direct")):
                t = time.perf_counter()
                gen = be.stream(req) if arm == "direct" else st.router.stream(req, st.router.plan(QUESTION), RouteRecord())
                async for d in gen:
                    if isinstance(d, TextDelta):  # the first words, in both arms
                        (direct if arm == "direct" else routed).append((time.perf_counter() - t) * 1000)
                        break
                await gen.aclose()
    finally:
        await st.aclose()
    diffs = [b - a for a, b in zip(direct, routed)]
    return {"plan_ms": stats(plan_ms), "first_delta_direct_ms": stats(direct),
            "first_delta_routed_ms": stats(routed), "routed_minus_direct_ms": stats(diffs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget-ms", type=float, default=500.0, help="first_token_ms of the hung endpoint")
    ap.add_argument("--gap", type=float, default=2.5, help="silence after each spoken command, s")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dialogue.json")
    args = ap.parse_args()

    print("1/4 fast path, end to end (real time) ...", flush=True)
    e2e = asyncio.run(fast_path_end_to_end(args.gap))
    parts = asyncio.run(fast_path_parts(max(40, args.repeats * 8)))
    print("2/4 failover on a hung endpoint ...", flush=True)
    hung = asyncio.run(failover_hung(args.repeats, args.budget_ms))
    print("3/4 failover when the server is killed mid-stream ...", flush=True)
    killed = asyncio.run(failover_killed(max(1, args.repeats // 2)))
    print("4/4 router overhead ...", flush=True)
    router = asyncio.run(router_overhead(args.repeats * 2))

    fast = [t for t in e2e["turns"] if t["backend"] == "intent"]
    summary = {
        "fast_path": {"commands": len(COMMANDS), "turns": len(e2e["turns"]), "on_fast_path": len(fast),
                      "after_end_of_turn_ms": stats([t["after_eot_ms"] for t in fast]),
                      "stt_ms": stats([t["stages"].get("stt") for t in fast]),
                      "tts_first_audio_ms": stats([t["stages"].get("tts") for t in fast]),
                      **parts, "target_ms": 300},
        "failover_hung": {**hung, "target": "added_ms <= budget_ms"},
        "failover_killed": killed,
        "router": {**router, "target_ms": 5},
    }
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.platform(), "cpus": os.cpu_count(),
              "command": "python " + " ".join(sys.argv), "summary": summary, "fast_path_turns": e2e["turns"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")

    from rich.console import Console
    from rich.table import Table

    f, h, k, r = summary["fast_path"], summary["failover_hung"], summary["failover_killed"], summary["router"]
    t = Table(title="dialogue core, ms (one run)", title_justify="left")
    for col in ("measure", "p50", "p95", "n", "target"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    row = lambda name, s, target="": t.add_row(name, str(s["p50"]), str(s["p95"]), str(s["n"]), target)  # noqa: E731
    row("fast path: end of turn -> confirmation audio", f["after_end_of_turn_ms"], "<= 300")
    row("  of which STT", f["stt_ms"])
    row("  of which dialogue stage (intent + confirmation)", f["dialogue_to_confirmation_ms"])
    row("  of which intent match alone", f["intent_match_ms"])
    row("  of which TTS first audio", f["tts_first_audio_ms"])
    row(f"hung endpoint: first token (budget {h['budget_ms']:g})", h["first_token_with_hung_ms"])
    row("  same turn, local only", h["first_token_local_only_ms"])
    row("  added by failover", h["added_ms"], f"<= {h['budget_ms']:g}")
    row("killed mid-stream: gap to the next token", k["gap_after_kill_ms"])
    row("router: plan()", r["plan_ms"], "<= 5")
    row("router: routed - direct first delta", r["routed_minus_direct_ms"], "<= 5")
    console = Console(highlight=False)
    console.print(t)
    console.print(f"fast path taken on {f['on_fast_path']}/{f['commands']} spoken commands "
                  f"({f['turns']} turns detected)")
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
