#!/usr/bin/env python3
"""Voice-loop latency: omni's streaming pipeline vs the same models run naively, in one run.

    python bench/voice_loop.py [--repeats N] [--gap 5] [--out bench/results/voice_loop.json]

A (streaming): the corpus turns, joined with silence, fed in real time through the desktop
pipeline; V2V = last speech sample in -> first reply sample out of TTS.
B (naive): the same models on the same turns in sequence: whole transcription, then the whole
LLM reply, then the whole synthesis; V2V = the same VAD end-of-speech delay + the three.
Runs alternate A B A B when --repeats > 1. Prints a table and writes JSON.

So that both arms do the same work, both decode greedily (llm.temperature=0) and B prompts
the LLM with A's transcripts (B still runs and times its own transcription); the JSON says
on how many turns the two replies came out identical.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omni.app.run import FileRunOptions, peak_rss_mb, run_files  # noqa: E402
from omni.app.view import ConsoleView  # noqa: E402
from omni.audio import read_audio, write_wav  # noqa: E402
from omni.config import load_pipeline  # noqa: E402
from omni.frames import ReplyDone, Transcript, Turn  # noqa: E402
from omni.runtime.metrics import percentile  # noqa: E402
from omni.stages import build_stage  # noqa: E402

CORPUS = ROOT / "bench" / "corpus"


def load_corpus() -> list[dict]:
    items = json.loads((CORPUS / "manifest.json").read_text())
    for it in items:
        it["audio"] = read_audio(CORPUS / it["file"], 16000).samples
    return items


def conversation(items: list[dict], gap_s: float) -> np.ndarray:
    gap = np.zeros(int(gap_s * 16000), np.float32)
    parts = [np.zeros(8000, np.float32)]
    for it in items:
        parts += [it["audio"], gap]
    return np.concatenate(parts)


OVERRIDES = ["llm.temperature=0"]


async def run_streaming(items: list[dict], gap_s: float) -> dict:
    cfg = load_pipeline("desktop", OVERRIDES)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "in.wav"
        write_wav(wav, conversation(items, gap_s), 16000)
        view = ConsoleView(quiet=True)
        res = await run_files(cfg, FileRunOptions(audio_in=wav, audio_out=Path(tmp) / "out.wav"), view)
    turns = []
    for r in res.records:
        turns.append({"transcript": r.transcript, "reply": r.reply, "v2v_ms": r.v2v_ms,
                      "stages": {k: round(v.ms, 1) for k, v in r.stages.items()},
                      "ok": {k: v.ok for k, v in r.stages.items()}})
    return {"turns": turns, "load_s": res.load_s, "budgets": {s.name: s.budget_ms for s in cfg.stages},
            "v2v_budget_ms": cfg.v2v_budget_ms}


async def run_naive(items: list[dict], vad_ms: list[float], transcripts: list[str]) -> dict:
    """Same engines, no streaming: each step waits for the whole previous result."""
    cfg = load_pipeline("desktop", OVERRIDES)
    stt, llm, tts = (build_stage(cfg.stage(n)) for n in ("stt", "llm", "tts"))
    noop = lambda d, f: None  # noqa: E731
    t0 = time.monotonic()
    for s in (stt, llm, tts):
        await s.load(noop)
    load_s = time.monotonic() - t0

    async def one(audio: np.ndarray, heard_in_a: str, i: int) -> dict:
        t = time.monotonic()
        own = (await asyncio.to_thread(stt.transcribe, audio)).text
        t_stt = time.monotonic()
        text = heard_in_a or own
        # the whole dialogue turn (fast path, routing, tools), collected before TTS starts
        frames = [f async for f in llm.process(Transcript(turn=Turn(id=i, speech_start=0, speech_end=len(audio),
                                                                   t_speech_end=t_stt, sample_rate=16000),
                                                         text=text))]
        reply = next((f.text for f in frames if isinstance(f, ReplyDone)), "")
        t_llm = time.monotonic()
        audio_out = await asyncio.to_thread(lambda: list(tts.synthesize(reply)) if reply else [])
        t_tts = time.monotonic()
        return {"transcript": own, "prompted_with": text, "reply": reply,
                "stages": {"stt": (t_stt - t) * 1000, "llm": (t_llm - t_stt) * 1000,
                           "tts": (t_tts - t_llm) * 1000},
                "audio_s": sum(len(a) for a in audio_out) / tts.sample_rate}

    turns = []
    try:
        for i, (it, vad, heard) in enumerate(zip(items, vad_ms, transcripts), 1):
            pad = np.zeros(int(0.12 * 16000), np.float32)
            r = await one(np.concatenate([pad, it["audio"], pad]), heard, i)
            await llm.idle()  # between turns, as the gap in A gives it time to
            r["stages"] = {"vad": vad, **{k: round(v, 1) for k, v in r["stages"].items()}}
            r["v2v_ms"] = round(sum(r["stages"].values()), 1)
            turns.append(r)
    finally:
        for s in (stt, llm, tts):
            await s.aclose()
    return {"turns": turns, "load_s": load_s}


def p(values: list[float], q: float) -> float | None:
    v = percentile([x for x in values if x is not None], q)
    return None if v is None else round(v, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=1, help="A/B pairs to run, alternating")
    ap.add_argument("--gap", type=float, default=5.0, help="seconds of silence after each turn")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "voice_loop.json")
    args = ap.parse_args()

    items = load_corpus()
    runs = []
    for i in range(args.repeats):
        print(f"pair {i + 1}/{args.repeats}: A streaming ({len(items)} turns, real time) ...", flush=True)
        a = asyncio.run(run_streaming(items, args.gap))
        vad_ms = [t["stages"].get("vad", 0.0) for t in a["turns"]]
        heard = [t["transcript"] for t in a["turns"]]
        if len(a["turns"]) != len(items):
            print(f"  warning: {len(a['turns'])} turns detected for {len(items)} utterances; "
                  "B prompts with its own transcripts")
            vad_ms = (vad_ms + [float(np.median(vad_ms))] * len(items))[: len(items)]
            heard = [""] * len(items)
        print(f"pair {i + 1}/{args.repeats}: B naive ...", flush=True)
        b = asyncio.run(run_naive(items, vad_ms, heard))
        runs.append({"streaming": a, "naive": b})

    sa = [t for r in runs for t in r["streaming"]["turns"]]
    sb = [t for r in runs for t in r["naive"]["turns"]]
    stages = list(runs[0]["streaming"]["budgets"])
    budgets = runs[0]["streaming"]["budgets"]
    pair_ratios = [x["v2v_ms"] / y["v2v_ms"] for x, y in zip(sa, sb) if x["v2v_ms"] and y["v2v_ms"]]
    summary = {
        "streaming": {"v2v_p50": p([t["v2v_ms"] for t in sa], 50), "v2v_p95": p([t["v2v_ms"] for t in sa], 95),
                      "stages_p50": {s: p([t["stages"].get(s) for t in sa], 50) for s in stages},
                      "stages_p95": {s: p([t["stages"].get(s) for t in sa], 95) for s in stages},
                      "budget_hit_rate": {s: round(sum(t["ok"].get(s, True) for t in sa) / len(sa), 2)
                                          for s in stages},
                      "load_s_p50": p([r["streaming"]["load_s"] for r in runs], 50)},
        "naive": {"v2v_p50": p([t["v2v_ms"] for t in sb], 50), "v2v_p95": p([t["v2v_ms"] for t in sb], 95),
                  "stages_p50": {s: p([t["stages"].get(s) for t in sb], 50) for s in ("vad", "stt", "llm", "tts")}},
        "ratio_streaming_over_naive_p50": p(pair_ratios, 50),
        "turns": len(sa),
        "identical_replies": sum(x["reply"] == y["reply"] for x, y in zip(sa, sb)),
        "peak_rss_mb": round(peak_rss_mb(), 0),
    }
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.platform(),
              "command": "python " + " ".join(sys.argv), "summary": summary, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")

    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"voice loop, {len(sa)} turns ({args.repeats} A/B pair(s)), ms", title_justify="left")
    for col in ("", "budget", "streaming p50", "streaming p95", "within budget", "naive p50"):
        t.add_column(col, justify="right" if col else "left")
    st, nv = summary["streaming"], summary["naive"]
    for s in stages:
        t.add_row(s, f"{budgets[s]:.0f}" if budgets[s] is not None else "-", f"{st['stages_p50'][s]}",
                  f"{st['stages_p95'][s]}",
                  f"{st['budget_hit_rate'][s] * 100:.0f}%", f"{nv['stages_p50'].get(s, '-')}")
    t.add_row("[bold]V2V[/]", f"{runs[0]['streaming']['v2v_budget_ms']:.0f}", f"[bold]{st['v2v_p50']}[/]",
              f"{st['v2v_p95']}", "", f"[bold]{nv['v2v_p50']}[/]")
    console = Console(highlight=False)
    console.print(t)
    console.print(f"streaming / naive V2V, median of per-turn ratios: {summary['ratio_streaming_over_naive_p50']}"
                  f"   start-up to ready: {st['load_s_p50']} s   peak RSS: {summary['peak_rss_mb']:.0f} MB")
    console.print(f"identical replies in A and B: {summary['identical_replies']}/{len(sa)}")
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
