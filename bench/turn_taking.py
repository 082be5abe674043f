#!/usr/bin/env python3
"""Turn-taking: end-of-turn delay and false ends, barge-in latency, self-interruption by echo.

    python bench/turn_taking.py [--repeats 2] [--out bench/results/turn_taking.json]

1. End of turn (VAD stage alone, as fast as it goes; delays in audio time, i.e. what a user
   waits when the stage keeps up): every corpus turn followed by 2 s of silence, and the
   paused sentences (300 and 600 ms of silence inserted between two words, piper without
   sampling noise). Smart Turn v3 (the pipeline's setting) vs silence alone (400 ms).
2. Barge-in (whole desktop pipeline, real time): "Explain how rain forms" then a user turn
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

from helpers import corpus, envelope, read_wav, say, silence, with_pause  # noqa: E402

from omni.app.cli import main  # noqa: E402
from omni.audio import write_wav  # noqa: E402
from omni.config.loader import PIPELINES_DIR  # noqa: E402
from omni.frames import InputAudio, Utterance  # noqa: E402
from omni.runtime import Pipeline  # noqa: E402
from omni.runtime.metrics import percentile  # noqa: E402
from omni.stages.vad import SileroVAD, SileroVADOptions  # noqa: E402

SR = 16000
PAUSED = ["I would like to know about the weather in Paris tomorrow.",
          "Can you tell me how many legs a spider has?",
          "Please set a timer for ten minutes in the kitchen."]
INTERRUPTIONS = ["q01", "t02", "q03", "c02"]


def stats(xs: list[float]) -> dict:
    return {"p50": percentile(xs, 50), "p95": percentile(xs, 95), "n": len(xs)}


async def vad_turns(audio: np.ndarray, opts: dict) -> list[tuple[Utterance, dict]]:
    vad = SileroVAD("vad", SileroVADOptions(**opts))
    reports: dict[int, dict] = {}
    vad.bind_reporter(lambda stage, turn, ms, extra: reports.__setitem__(turn.id, extra))
    await vad.load(lambda *a: None)
    out: list[Utterance] = []

    class Collect:
        def on_frame(self, stage, frame):
            if isinstance(frame, Utterance):
                out.append(frame)

    async def source():
        for i in range(0, len(audio), 512):
            yield InputAudio(samples=audio[i:i + 512], sample_rate=SR, start=i)

    await Pipeline([vad], observers=[Collect()]).run(source())
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
            for text in PAUSED:
                audio = np.concatenate([silence(0.3), with_pause(say(text), pause, between=(0.55, 0.75)),
                                        silence(2.0)])
                n += len(await vad_turns(audio, opts)) - 1
            false_ends[f"{int(pause * 1000)}ms"] = n
        result[arm] = {"decision_ms": stats(delays), "decided_by": how,
                       "false_ends": false_ends, "paused_sentences": len(PAUSED)}
    return result


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


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "turn_taking.json")
    args = ap.parse_args()
    eot = asyncio.run(end_of_turn())
    with tempfile.TemporaryDirectory() as d:
        barge = barge_in(args.repeats, Path(d))
    print("\nend of turn (audio time from the last speech sample to the decision)")
    print(f"{'arm':15s} {'p50 ms':>7s} {'p95 ms':>7s}  false ends 300/600 ms pause (of {len(PAUSED)})")
    for arm, r in eot.items():
        d = r["decision_ms"]
        print(f"{arm:15s} {d['p50']:7.0f} {d['p95']:7.0f}  {r['false_ends']['300ms']}/{r['false_ends']['600ms']}"
              f"   decided by {r['decided_by']}")
    print("\nbarge-in (user onset -> assistant audio stopped, from the output file)")
    print(f"{'arm':12s} {'runs':>4s} {'interr.':>7s} {'p50 ms':>7s} {'p95 ms':>7s} {'self-pauses':>11s} {'user V2V p50':>12s}")
    for arm, r in barge.items():
        lat = r["latency_ms"]
        fmt = lambda v: f"{v:7.0f}" if v is not None else "      -"  # noqa: E731
        print(f"{arm:12s} {r['runs']:4d} {r['interrupted']:7d} {fmt(lat['p50'])} {fmt(lat['p95'])} "
              f"{sum(r['self_pauses']):11d} {fmt(r['user_v2v_ms']['p50'])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "end_of_turn": eot, "barge_in": barge},
                                   indent=2, default=str))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main_()
