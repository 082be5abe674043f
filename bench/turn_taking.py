#!/usr/bin/env python3
"""Turn-taking: end-of-turn delay and false ends, barge-in latency, self-interruption by echo.

    python bench/turn_taking.py [--repeats 2] [--out bench/results/turn_taking.json]

1. End of turn (VAD stage alone, as fast as it goes; delays in audio time, i.e. what a user
   waits when the stage keeps up): every corpus turn followed by 2 s of silence, and the
   paused sentences (300 and 600 ms of silence inserted between two words, piper without
   sampling noise). Smart Turn v3 (the pipeline's setting) vs silence alone (400 ms). Then the
   paused sentences through the whole pipeline, where a transcript that stops on "the" or "of"
   waits for more (stt.hold_ms): is a fragment ever answered?
2. Streaming (whole desktop pipeline, real time, the 10 corpus turns joined with 4.5 s gaps):
   the pipeline's defaults (preemptive reply, no partials), with partials every 1000 ms, and
   `stt.partial_every_ms=0 llm.preemptive=false`, alternating; V2V, end-of-turn delay, STT
   time after the turn ended, and how often the early reply was used / thrown away.
3. Barge-in (whole desktop pipeline, real time): "Explain how rain forms" then a user turn
   spoken 3.5 s after the question, over the reply. Latency = the user's real speech onset
   (known from how the input was built) -> the last sample of the assistant's audio before it
   went quiet in the output file. Each run also once with the room echo (-6 dB, 40 ms) and
   the echo canceller, once with the echo and no canceller (pauses = self-interruptions).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import corpus, envelope, pause_after, read_wav, say, silence  # noqa: E402

from omni.app.cli import main  # noqa: E402
from omni.audio import write_wav  # noqa: E402
from omni.config.loader import PIPELINES_DIR  # noqa: E402
from omni.frames import InputAudio, Utterance  # noqa: E402
from omni.runtime import Pipeline  # noqa: E402
from omni.runtime.metrics import percentile  # noqa: E402
from omni.stages.vad import SileroVAD, SileroVADOptions  # noqa: E402

SR = 16000
# a hesitation after a word no sentence ends on (found with whisper's word timings)
PAUSED = [("I would like to know about the weather in Paris tomorrow.", "the"),
          ("Can you tell me how many legs a spider has?", "many"),
          ("Please set a timer for ten minutes in the kitchen.", "for"),
          ("What is the capital of France?", "of"),
          ("Tell me a fun fact about cats.", "about"),
          ("How do I get to the train station from here?", "the")]
INTERRUPTIONS = ["q01", "t02", "q03", "c02"]


def stats(xs: list[float]) -> dict:
    return {"p50": percentile(xs, 50), "p95": percentile(xs, 95), "n": len(xs)}


async def vad_turns(audio: np.ndarray, opts: dict) -> list[tuple[Utterance, dict]]:
    vad = SileroVAD("vad", SileroVADOptions(**opts))
    reports: dict[int, dict] = {}
    vad.context.reporter = lambda stage, turn, ms, extra: reports.__setitem__(turn.id, extra)
    await vad.load(lambda *a: None)
    out: list[Utterance] = []

    class Collect:
        def on_frame(self, stage, frame):
            if isinstance(frame, Utterance):
                out.append(frame)

    async def source():
        for i in range(0, len(audio), 512):
            yield InputAudio(samples=audio[i:i + 512], sample_rate=SR, start=i)

    await Pipeline([vad], observers=[Collect()], context=vad.context).run(source())
    await vad.aclose()
    return [(u, reports[u.turn.id]) for u in out]


async def end_of_turn() -> dict:
    manifest = json.loads((ROOT / "bench" / "corpus" / "manifest.json").read_text())
    arms = {"smart_turn": {"end_of_turn": {"threshold": 0.7, "pause_ms": 200, "recheck_ms": 200,
                                           "max_silence_ms": 1200}},
            "silence_400ms": {"min_silence_ms": 400}}
    result = {}
    for arm, opts in arms.items():
        delays, how = [], {}
        for m in manifest:
            audio = np.concatenate([silence(0.3), corpus(m["file"][:-4]), silence(2.0)])
            for _, rep in await vad_turns(audio, opts):
                delays.append(rep["silence_ms"])
                how[rep["end_of_turn"]] = how.get(rep["end_of_turn"], 0) + 1
        false_ends = {}
        for pause in (0.3, 0.6):
            n = 0
            for text, word in PAUSED:
                audio = np.concatenate([silence(0.3), pause_after(say(text), word, pause), silence(2.0)])
                n += len(await vad_turns(audio, opts)) - 1
            false_ends[f"{int(pause * 1000)}ms"] = n
        result[arm] = {"decision_ms": stats(delays), "decided_by": how,
                       "false_ends": false_ends, "paused_sentences": len(PAUSED)}
    return result


def paused_pipeline(tmp: Path, extra: tuple[str, ...] = ()) -> dict:
    """The paused sentences through the whole pipeline: does a reply ever begin before the user
    has finished the sentence (a false end of turn the user hears)?"""
    pieces, spans = [], []
    pos = 0.0
    for pause in (0.3, 0.6):
        for text, word in PAUSED:
            x = np.concatenate([silence(0.5), pause_after(say(text), word, pause), silence(6.0)])
            spans.append((pos + 0.5, pos + len(x) / SR - 6.0, text, pause))
            pieces.append(x)
            pos += len(x) / SR
    turns, _, _ = run(np.concatenate(pieces), tmp, *extra)
    out = {"sentences": len(spans), "answered_once_whole": 0, "fragment_answered": 0,
           "continued": 0, "per_sentence": []}
    for a, b, text, pause in spans:
        mine = [t for t in turns if a - 0.2 <= t["speech_start_s"] <= b + 0.2]
        # a reply the user heard, and when it began (on the input's timeline)
        heard = [(t["speech_end_s"] + t["v2v_ms"] / 1000, t) for t in mine if t["reply"] and t["v2v_ms"]]
        out["continued"] += sum(t["reason"] in ("continued", "interrupted") and not t["reply"] for t in mine)
        out["fragment_answered"] += any(start < b for start, _ in heard)
        out["answered_once_whole"] += len(heard) == 1 and heard[0][0] >= b
        out["per_sentence"].append({"text": text, "pause_s": pause,
                                    "turns": [(t["transcript"], t["reason"], t["reply"][:40]) for t in mine],
                                    "replies_begin_after_end_s": [round(start - b, 2) for start, _ in heard]})
    return out


def run(audio: np.ndarray, tmp: Path, *extra: str) -> tuple[list[dict], np.ndarray, int]:
    write_wav(tmp / "in.wav", audio, SR)
    main(["desktop", "--audio-in", str(tmp / "in.wav"), "--audio-out", str(tmp / "out.wav"),
          "--metrics", str(tmp / "turns.jsonl"), "--quiet", *extra])
    turns = [json.loads(x) for x in (tmp / "turns.jsonl").read_text().splitlines()]
    out, rate = read_wav(tmp / "out.wav")
    return turns, out, rate


def stop_latency_ms(out: np.ndarray, rate: int, onset_s: float) -> float | None:
    """Onset -> the end of the last 50 ms frame with sound before a gap of at least 400 ms."""
    env = envelope(out, rate, 0.01)
    i = int(onset_s / 0.01)
    loud = env > 0.005
    j = i
    while j < len(loud) and loud[j:j + 40].any():
        j += 1
        while j < len(loud) and loud[j]:
            j += 1
        if not loud[j:j + 40].any():
            break
    return (j * 0.01 - onset_s) * 1000.0


def barge_in(repeats: int, tmp: Path) -> dict:
    text = (PIPELINES_DIR / "desktop.yaml").read_text()
    a, b = text.index("  - name: aec"), text.index("  - name: vad")
    (tmp / "noaec.yaml").write_text(text[:a] + text[b:])
    q = corpus("q06")
    arms = {"no_echo": [], "echo_aec": ["--room-echo=-6,40"],
            "echo_no_aec": ["--room-echo=-6,40", "--pipeline-file", str(tmp / "noaec.yaml")]}
    res: dict = {arm: {"latency_ms": [], "metric_barge_in_ms": [], "interrupted": 0, "runs": 0,
                       "self_pauses": [], "user_v2v_ms": [], "transcripts": []} for arm in arms}
    for _ in range(repeats):
        for name in INTERRUPTIONS:
            onset = 0.5 + len(q) / SR + 3.5
            audio = np.concatenate([silence(0.5), q, silence(3.5), corpus(name), silence(6)])
            for arm, extra in arms.items():
                turns, out, rate = run(audio, tmp, *extra)
                r = res[arm]
                r["runs"] += 1
                first = turns[0]
                r["interrupted"] += bool(first["interrupted"])
                if first["interrupted"]:
                    r["latency_ms"].append(stop_latency_ms(out, rate, onset))
                    r["metric_barge_in_ms"].append(first["barge_in_ms"])
                r["self_pauses"].append(first["paused"] - (1 if first["interrupted"] else 0))
                user = [t for t in turns[1:] if t["reason"] != "backchannel"]
                if user:
                    r["transcripts"].append(user[0]["transcript"])
                    if user[0]["v2v_ms"]:
                        r["user_v2v_ms"].append(user[0]["v2v_ms"])
                print(f"{arm:12s} {name}: interrupted={first['interrupted']} paused={first['paused']} "
                      f"user heard {user[0]['transcript'] if user else None!r}", flush=True)
    for r in res.values():
        for k in ("latency_ms", "metric_barge_in_ms", "user_v2v_ms"):
            r[k] = stats([x for x in r[k] if x is not None])
    return res


def streaming(repeats: int, tmp: Path) -> dict:
    manifest = json.loads((ROOT / "bench" / "corpus" / "manifest.json").read_text())
    audio = np.concatenate([np.concatenate([silence(0.5), corpus(m["file"][:-4]), silence(4.5)])
                            for m in manifest])
    arms = {"defaults": [],
            "partials": ["--set", "stt.partial_every_ms=1000"],
            "plain": ["--set", "stt.partial_every_ms=0", "--set", "llm.preemptive=false"]}
    res: dict = {arm: {"v2v_ms": [], "end_of_turn_ms": [], "stt_ms": [], "turns": 0, "used": 0,
                       "wasted": 0, "head_start_ms": []} for arm in arms}
    for _ in range(repeats):
        for arm, extra in arms.items():
            turns, _, _ = run(audio, tmp, "--set", "llm.temperature=0", *extra)
            r = res[arm]
            r["turns"] += len(turns)
            for t in turns:
                if t["v2v_ms"]:
                    r["v2v_ms"].append(t["v2v_ms"])
                r["end_of_turn_ms"].append(t["end_of_turn_ms"])
                r["stt_ms"].append(t["stages"]["stt"]["ms"])
                pre = t.get("preemptive") or {}
                r["wasted"] += pre.get("wasted", 0)
                if pre.get("used"):
                    r["used"] += 1
                    r["head_start_ms"].append(pre["head_start_ms"])
            print(f"{arm:10s} V2V p50 {percentile(r['v2v_ms'], 50):.0f} ms", flush=True)
    for r in res.values():
        for k in ("v2v_ms", "end_of_turn_ms", "stt_ms", "head_start_ms"):
            r[k] = stats(r[k])
    return res


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--parts", default="eot,paused,streaming,barge",
                    help="which parts to run (the others are kept from the JSON file, if any)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "turn_taking.json")
    ap.add_argument("--set", action="append", default=[],
                    help="stage.option=value for the whole-pipeline part of the paused sentences (as launch.py --set)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    eot = asyncio.run(end_of_turn()) if "eot" in parts else old.get("end_of_turn")
    with tempfile.TemporaryDirectory() as d:
        sets = tuple(x for k in args.set for x in ("--set", k))
        paused = paused_pipeline(Path(d), sets) if "paused" in parts else old.get("paused_pipeline")
        stream = streaming(args.repeats, Path(d)) if "streaming" in parts else old.get("streaming")
        barge = barge_in(args.repeats, Path(d)) if "barge" in parts else old.get("barge_in")
    print("\nend of turn (audio time from the last speech sample to the decision)" + ("" if eot else ": not run"))
    print(f"{'arm':15s} {'p50 ms':>7s} {'p95 ms':>7s}  false ends 300/600 ms pause (of {len(PAUSED)})")
    for arm, r in (eot or {}).items():
        d = r["decision_ms"]
        print(f"{arm:15s} {d['p50']:7.0f} {d['p95']:7.0f}  {r['false_ends']['300ms']}/{r['false_ends']['600ms']}"
              f"   decided by {r['decided_by']}")
    if paused is None:
        print("\nwhole pipeline, the paused sentences: not run")
    else:
        print(f"\nwhole pipeline, {paused['sentences']} sentences with a 300 or 600 ms hesitation: answered once, "
              f"after it ended {paused['answered_once_whole']}; a reply begun before it ended "
              f"{paused['fragment_answered']}; turns carried into the next {paused['continued']}"
              + (f" (with {' '.join(args.set)})" if args.set and "paused" in parts else ""))
    print("\nstreaming recognition and preemptive replies (corpus in real time)" + ("" if stream else ": not run"))
    print(f"{'arm':10s} {'turns':>5s} {'V2V p50':>7s} {'V2V p95':>7s} {'EOT p50':>7s} {'STT p50':>7s} "
          f"{'early reply used':>16s} {'wasted':>6s} {'head start p50/p95':>18s}")
    for arm, r in (stream or {}).items():
        hs = r["head_start_ms"]
        hs_s = f"{hs['p50']:.0f}/{hs['p95']:.0f}" if hs["n"] else "-"
        print(f"{arm:10s} {r['turns']:5d} {r['v2v_ms']['p50']:7.0f} {r['v2v_ms']['p95']:7.0f} "
              f"{r['end_of_turn_ms']['p50']:7.0f} {r['stt_ms']['p50']:7.0f} {r['used']:16d} {r['wasted']:6d} {hs_s:>18s}")
    print("\nbarge-in (user onset -> assistant audio stopped, from the output file)" + ("" if barge else ": not run"))
    print(f"{'arm':12s} {'runs':>4s} {'interr.':>7s} {'p50 ms':>7s} {'p95 ms':>7s} {'self-pauses':>11s} {'user V2V p50':>12s}")
    for arm, r in (barge or {}).items():
        lat = r["latency_ms"]
        fmt = lambda v: f"{v:7.0f}" if v is not None else "      -"  # noqa: E731
        print(f"{arm:12s} {r['runs']:4d} {r['interrupted']:7d} {fmt(lat['p50'])} {fmt(lat['p95'])} "
              f"{sum(r['self_pauses']):11d} {fmt(r['user_v2v_ms']['p50'])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # a part not run is kept from the file (or null); the options its paused part ran with are kept
    paused_set = args.set if "paused" in parts else old.get("paused_set", [])
    args.out.write_text(json.dumps({"machine": platform.platform(), "paused_set": paused_set,
                                    "end_of_turn": eot, "paused_pipeline": paused,
                                    "streaming": stream,
                                    "barge_in": barge},
                                   indent=2, default=str))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main_()
