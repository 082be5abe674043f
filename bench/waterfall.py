"""Where the time of a short turn goes: from the user's last speech sample to the first reply sample.

    python bench/waterfall.py [--set stage.option=value ...] [--out bench/results/waterfall.json]

Short utterances nobody tuned omni on: a real person's short lines (beckett.wav, endgame's "Do
you hear me?", clone-test's "I do.") and short phrases in two espeak-ng voices. Each is its own
file run of the desktop pipeline (0.5 s of silence, the phrase, 4 s of silence), in real time,
one Host holding the engines. Per turn, the stage records give the waterfall:

    end of turn   the VAD's wait from the last speech sample to its decision (vad.ms)
    STT           the final decode (stt.ms)
    LLM           prompt evaluation and first token (llm.ms, from the transcript)
    guard         first token -> the first words out of the dialogue (llm.first_out_ms - llm.ms):
                  the model decoding the first whole clause the claim guard lets through, or a
                  tool's confirmation after its round
    first clause  first token -> the first speakable clause (sentences.ms)
    TTS           the clause -> its first audio (tts.ms)
    between       what the records above do not cover (queues, the event loop):
                  v2v at TTS output minus their sum
    sink          TTS output -> the reply on the output timeline (the player's own delay)

V2V on the timeline (the last two added) is what the user hears. Prints the medians and each
turn; writes JSON.
"""

from __future__ import annotations

import argparse
import collections
import asyncio
import json
import shutil
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

from omni.app.host import Host  # noqa: E402
from omni.audio import read_audio, write_wav  # noqa: E402
from omni.config import load_pipeline  # noqa: E402
from omni.transports.files import FileRunOptions, FileTransport  # noqa: E402

SR = 16000
REAL = [("beckett.wav", 0.0, 1.22), ("beckett.wav", 2.0, 2.72), ("beckett.wav", 4.94, 5.84),
        ("beckett.wav", 8.18, 8.74), ("endgame_nagg_nell.wav", 0.0, 0.8), ("clone-test.wav", 0.0, 0.96)]
PHRASES = ["What time is it?", "Turn it up.", "Good morning.", "Thank you.", "Lights off, please."]
VOICES = ["en-gb", "en-us+f3"]
PARTS = ("end_of_turn", "stt", "llm", "guard", "first_clause", "tts", "between", "sink")


def espeak(text: str, voice: str) -> np.ndarray:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is not installed (make bench-setup installs it)")
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "x.wav"
        subprocess.run([exe, "-v", voice, "-s", "160", "-w", str(wav), text], check=True)
        return read_audio(wav, SR).samples


def utterances() -> list[tuple[str, str, np.ndarray]]:
    import devset

    out = []
    for name, a, b in REAL:
        x = devset.audio(name, SR)[int(a * SR): int((b + 0.1) * SR)]
        out.append(("real", f"{name} {a:g}-{b:g}", x))
    for v in VOICES:
        for p in PHRASES:
            out.append((f"espeak {v}", p, espeak(p, v)))
    return out


def waterfall(rec: dict[str, Any]) -> dict[str, float | None]:
    st = rec["stages"]

    def ms(stage: str) -> float | None:
        return st[stage]["ms"] if stage in st else None

    parts = {"end_of_turn": ms("vad"), "stt": ms("stt"), "llm": ms("llm"), "first_clause": ms("sentences"),
             "tts": ms("tts")}
    out = st.get("llm", {}).get("first_out_ms")
    parts["guard"] = out - parts["llm"] if out is not None and parts["llm"] is not None else None
    v2v_tts = rec.get("v2v_ms")
    known = [v for v in parts.values() if v is not None]
    parts["between"] = v2v_tts - sum(known) if v2v_tts is not None else None
    timeline = (rec["reply_start_s"] - rec["speech_end_s"]) * 1000 if rec.get("reply_start_s") is not None else None
    parts["sink"] = timeline - v2v_tts if timeline is not None and v2v_tts is not None else None
    parts["v2v_tts"] = v2v_tts
    parts["v2v"] = timeline
    return parts


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = load_pipeline("desktop", overrides=args.set) if args.set else load_pipeline("desktop")
    rows = []
    rss = 0.0
    async with Host() as host:
        await host.load(cfg)
        with tempfile.TemporaryDirectory() as d:
            for kind, label, x in utterances():
                wav, out = Path(d) / "in.wav", Path(d) / "out.wav"
                lead = 0.5
                write_wav(wav, np.concatenate([np.zeros(int(lead * SR), np.float32), x,
                                               np.zeros(4 * SR, np.float32)]), SR)
                res = await host.run(cfg, FileTransport(FileRunOptions(audio_in=wav, audio_out=out, out_rate=SR)))
                rss = max(rss, res.peak_rss_mb)
                recs = [r.as_dict() for r in res.records if r.transcript]
                if not recs:
                    rows.append({"kind": kind, "said": label, "heard": "", "reply": "", "turns": 0})
                    continue
                r = recs[0]
                rows.append({"kind": kind, "said": label, "heard": r["transcript"], "reply": r["reply"],
                             "turns": len(recs), "end_of_turn": r["stages"].get("vad", {}).get("end_of_turn"),
                             "pause_decode": r["stages"].get("stt", {}).get("reused_pause_decode"),
                             "preemptive": (r.get("preemptive") or {}).get("used"),
                             "head_start": (r.get("preemptive") or {}).get("head_start_ms"),
                             "over_budget": r.get("over_budget") or [],
                             "backend": r["stages"].get("llm", {}).get("backend"),
                             **{k: r["stages"].get("llm", {}).get(k) for k in
                                ("prompt_tokens", "cached_tokens", "completion_tokens", "tools_offered")},
                             **waterfall(r)})
                print(f"{kind:16s} {label[:28]:28s} v2v {rows[-1]['v2v']}", flush=True)
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "set": args.set, "rows": rows,
            "peak_rss_mb": round(rss),
            "pause_decode_reused": sum(1 for r in rows if r.get("pause_decode")),
            "preemptive_used": sum(1 for r in rows if r.get("preemptive")),
            "over_budget": dict(collections.Counter(a for r in rows for a in r.get("over_budget", []))),
            "median": {k: _median([r.get(k) for r in rows]) for k in (*PARTS, "v2v_tts", "v2v")},
            # a turn asked back ("Sorry, I didn't catch that.") is fast and no answer: apart
            "answered": {"turns": len(answered := [r for r in rows if r.get("backend") not in (None, "say_again")]),
                         "v2v": _median([r.get("v2v") for r in answered]),
                         "v2v_real": _median([r.get("v2v") for r in answered if r["kind"] == "real"])},
            "by_kind": {kind: {k: _median([r.get(k) for r in rows if r["kind"] == kind]) for k in ("v2v", "v2v_tts")}
                        for kind in sorted({r["kind"] for r in rows})}}


def _median(xs: list[Any]) -> float | None:
    v = [x for x in xs if x is not None]
    return round(statistics.median(v), 1) if v else None


def table(res: dict[str, Any]) -> str:
    m = res["median"]
    head = "| part | " + " | ".join(PARTS) + " | V2V at TTS | V2V heard |"
    lines = [head, "|" + "---|" * (len(PARTS) + 3),
             "| median ms | " + " | ".join(str(m[k]) for k in PARTS) + f" | {m['v2v_tts']} | {m['v2v']} |", ""]
    for kind, v in res["by_kind"].items():
        lines.append(f"{kind}: V2V heard p50 {v['v2v']} ms (at TTS {v['v2v_tts']})")
    a = res["answered"]
    lines.append(f"answered (not asked back): {a['turns']} turns, V2V heard p50 {a['v2v']} ms, "
                 f"real recordings {a['v2v_real']} ms")
    lines.append(f"peak RSS of the voice loop (the process, default models): {res['peak_rss_mb']} MB")
    lines.append(f"pause decode reused {res['pause_decode_reused']}, preemptive reply used {res['preemptive_used']} "
                 f"of {len(res['rows'])} turns; over budget, acted: {res['over_budget'] or 'never'}")
    lines.append("")
    for r in res["rows"]:
        lines.append(f"- {r['kind']}: {r['said']!r} heard {r['heard']!r}, {r.get('end_of_turn')}, "
                     f"v2v {r.get('v2v')} ms, head start {r.get('head_start')}: " + ", ".join(f"{k} {r.get(k) if r.get(k) is None else round(r[k])}"
                                                             for k in PARTS))
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", action="append", default=[], help="stage.option=value (as launch.py --set)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "waterfall.json")
    a = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    res = asyncio.run(run(a))
    print(table(res))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1))
    print(f"wrote {a.out}")
