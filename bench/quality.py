#!/usr/bin/env python3
"""omni with people it was not tuned for: the quality set and the real recordings.

    python bench/quality.py [--parts text,spoken,realtime,wer,pipeline,visual] [--split dev|held|both]
                            [--subset N] [--set K=V ...]
                            [--out bench/results/quality.json]

Needs `make bench-setup` (espeak-ng, sox, whisper base, the real-speech set, the spoken
quality set in the model cache).

- text, spoken: the everyday set's useful replies (bench/conversations.py, docs/real-speech.md).
- realtime: the real recordings through the whole desktop pipeline: V2V and the replies.
- wer: word error rate of the recogniser on the real recordings (sentence by sentence, against
  bench/realspeech/refs.json) and on the spoken quality set, for tiny.en and base, greedy and
  beam search, with and without the pipeline's device and room names as an initial prompt.
- pipeline: the whole desktop pipeline in real time on sessions (the quality items of each
  voice joined with silence; each real recording alone): per voice WER, end of turn p50/p95
  after a complete sentence, split turns, replies begun over the user, useful replies and each
  fault (bench/usefulness.py), V2V.
- visual: the AR-glasses pipeline with a sign in view, the visual questions in three voices:
  how many were answered from the camera, and that the others were not.
Prints a table per part and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import devset  # noqa: E402
from scoring import wer_counts  # noqa: E402
from usefulness import tally  # noqa: E402

from omni.runtime.metrics import percentile  # noqa: E402

_spec = importlib.util.spec_from_file_location("quality_make", ROOT / "bench" / "quality" / "make.py")
qmake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qmake)  # type: ignore[union-attr]

SR = 16000
def items(subset: int | None = None) -> list[dict]:
    rows = [r for r in qmake.manifest() if r["kind"] != "visual"]
    if subset:  # every k-th item of each voice, so that every voice stays in
        k = max(1, len(rows) // subset)
        keep = {r["id"] for v in {r["voice"] for r in rows} for r in [x for x in rows if x["voice"] == v][::k]}
        keep |= {r["after"] for r in rows if r["id"] in keep and r.get("after")}
        rows = [r for r in rows if r["id"] in keep]
    return rows


def ordered(rows: list[dict]) -> list[dict]:
    """Follow-ups right after the item they refer to."""
    by_id = {r["id"]: r for r in rows}
    out, placed = [], set()
    for r in rows:
        if r.get("after") and r["after"] in by_id:
            continue
        out.append(r)
        placed.add(r["id"])
        out += [f for f in rows if f.get("after") == r["id"]]
    return out


# parts --------------------------------------------------------------------------------------

def load_cfg(overrides: list[str], name: str = "desktop"):  # noqa: ANN201
    from omni.config import load_pipeline
    from omni.config.loader import PIPELINES_DIR

    return load_pipeline(PIPELINES_DIR / f"{name}.yaml", overrides)


async def part_wer(rows: list[dict], configs: list[tuple[str, int, bool, float]]) -> dict[str, Any]:
    """configs: (model, beam size, device names as initial prompt, encoder window: 0 for
    whisper's 30 s, else the shortest window in seconds)."""
    from omni.audio import read_audio
    from omni.stages.stt import WhisperOptions, WhisperSTT

    prompt = hotword_prompt()
    real = []
    for f, r in devset.refs().items():
        a = devset.audio(f)
        for s in r["sentences"]:
            real.append((f, s["text"], a[max(0, int((s["start"] - 0.15) * SR)): int((s["end"] + 0.15) * SR)]))
    spoken = [(r["voice"], r["text"], read_audio(qmake.out_dir() / r["file"], SR).samples) for r in rows]
    out = {}
    for model, beam, hot, window in configs:
        stt = WhisperSTT("stt", WhisperOptions(model=model, beam_size=beam, initial_prompt=prompt if hot else None,
                                               window=window > 0, min_window_s=window or 6.0,
                                               partial_every_ms=0))
        await stt.load(lambda *a: None)
        res: dict[str, Any] = {}
        for name, group in (("real", real), ("quality", spoken)):
            err = n = 0
            ms = []
            per: dict[str, list[int]] = {}
            misheard = []
            for who, ref, audio in group:
                t0 = time.monotonic()
                hyp = (await asyncio.to_thread(stt.transcribe, audio)).text
                ms.append((time.monotonic() - t0) * 1000)
                e, k = wer_counts(ref, hyp)
                err, n = err + e, n + k
                p = per.setdefault(who, [0, 0])
                p[0] += e
                p[1] += k
                if e:
                    misheard.append((ref, hyp))
            res[name] = {"wer": round(err / max(1, n), 3), "decode_ms_p50": round(percentile(ms, 50) or 0),
                         "per_voice": {k: round(v[0] / max(1, v[1]), 3) for k, v in per.items()},
                         "misheard": misheard}
        res["window_fallbacks"] = stt.window_fallbacks
        await stt.aclose()
        key = f"{model} beam={beam}{' +prompt' if hot else ''} window={f'{window:g}s' if window else '30s'}"
        out[key] = res
        print(f"  {key}: real {res['real']['wer']:.3f}, quality {res['quality']['wer']:.3f}, "
              f"decode p50 {res['real']['decode_ms_p50']} / {res['quality']['decode_ms_p50']} ms, "
              f"fallbacks {stt.window_fallbacks}", flush=True)
    return out


def hotword_prompt() -> str:
    """The pipeline's device and room names, as the recogniser's initial prompt."""
    from omni.stages.stt import WhisperOptions

    cfg = load_cfg([])
    stt = next(s for s in cfg.stages if s.kind == "stt.whisper")
    opts = WhisperOptions(**stt.options)
    if opts.initial_prompt:
        return opts.initial_prompt
    llm = next(s for s in cfg.stages if s.kind == "dialogue")
    words: list[str] = []
    for a in llm.options.get("actions", []):
        for p in a.get("parameters", {}).values():
            words += [v for v in p.get("enum", []) if isinstance(v, str) and len(v) > 3]
        words += a.get("keywords", [])
    return ", ".join(dict.fromkeys(w.capitalize() for w in [*words, "timer"])) + "."


async def run_session(audio: np.ndarray, overrides: list[str], name: str = "desktop",
                      camera: str | None = None) -> list[dict]:
    from omni.app.run import FileRunOptions, run_files
    from omni.app.view import ConsoleView
    from omni.audio import write_wav

    cfg = load_cfg(overrides, name)
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "in.wav"
        write_wav(wav, audio, SR)
        view = ConsoleView(quiet=True) if "quiet" in ConsoleView.__init__.__code__.co_varnames else ConsoleView()
        res = await run_files(cfg, FileRunOptions(audio_in=wav, audio_out=Path(d) / "out.wav", camera=camera), view)
    return [r.as_dict() for r in res.records]


async def part_realtime(overrides: list[str]) -> dict[str, Any]:
    """The real recordings through the whole desktop pipeline in real time, one session each:
    V2V (last speech sample -> first reply sample) per turn, and the replies."""
    from omni.app.run import peak_rss_mb

    v2v: list[float] = []
    turns = []
    for f in devset.refs():
        audio = np.concatenate([np.zeros(SR // 2, np.float32), devset.audio(f), np.zeros(3 * SR, np.float32)])
        recs = await run_session(audio, overrides)
        v2v += [r["v2v_ms"] for r in recs if r.get("v2v_ms") is not None]
        turns += [(f, r["transcript"], r["reply"]) for r in recs]
        print(f"  {f}: {len(recs)} turns, V2V {[round(r['v2v_ms']) for r in recs if r.get('v2v_ms')]}", flush=True)
    return {"v2v_p50": percentile(v2v, 50), "v2v_p95": percentile(v2v, 95), "turns": len(v2v),
            "peak_rss_mb": peak_rss_mb(), "replies": turns}


def speech_spans(spans: list[tuple[float, float]], t: float, margin: float = 0.05) -> bool:
    return any(a - margin <= t <= b + margin for a, b in spans)


def eot_delays(records: list[dict], ends: list[float], next_starts: list[float]) -> tuple[list[float], int]:
    """End-of-turn delay (s after a sentence's last word) for each sentence end followed by at
    least 1 s of silence; a sentence end where no turn ended before the next speech counts as
    the whole gap (dead air, then the user went on)."""
    out = []
    for end, nxt in zip(ends, next_starts):
        if nxt - end < 1.0:
            continue
        # the VAD's last speech sample may come a little after the reference's last word (a
        # breath, a trailing sound); the delay counts from it, as a user hears it
        turn = next((r for r in records if end - 0.45 < r["speech_end_s"] < min(end + 1.0, nxt)), None)
        if turn is None or turn.get("end_of_turn_ms") is None:
            out.append(min(nxt - end, 3.0) * 1000)
            continue
        out.append(turn["end_of_turn_ms"])
    return out, 0


async def part_pipeline(rows: list[dict], overrides: list[str], gap_s: float,
                        saved: dict[str, list[dict]] | None = None) -> dict[str, Any]:
    """`saved`: the turn records of an earlier run (its JSON's pipeline.records): scored again
    without running anything (--rescore)."""
    from omni.audio import read_audio

    import conversations as conv
    from omni.stages import build_stage

    llm = build_stage(next(s for s in load_cfg(overrides).stages if s.kind == "dialogue"))
    judging = conv.dialogue_judge(llm)

    def judge(item: dict, rec: dict | None) -> dict:
        rec = rec or {}
        llm_rec = rec.get("stages", {}).get("llm", {})
        tools = [t for t in ("get_time", "set_timer") if t in llm_rec.get("tool_calls", []) or
                 f"intent {t}" in str(llm_rec.get("reason", ""))]
        j = judging(item, rec.get("reply", ""), said=rec.get("transcript", ""), tools=tools,
                    actions={a["action"]: a["args"] for a in rec.get("actions", [])})
        return {**j, "retried": llm_rec["retried"]} if llm_rec.get("retried") else j

    results: dict[str, Any] = {"voices": {}, "real": {}}
    all_judged: list[dict] = []
    everything: dict[str, list] = {"eot": [], "v2v": [], "split": 0, "over": 0, "err": 0, "words": 0}
    # the quality set, one session per voice
    for voice in sorted({r["voice"] for r in rows}):
        seq = ordered([r for r in rows if r["voice"] == voice])
        parts, spans, t = [np.zeros(SR, np.float32)], [], 1.0
        for it in seq:
            a = read_audio(qmake.out_dir() / it["file"], SR).samples
            loud = np.flatnonzero(np.abs(a) > 0.25 * np.max(np.abs(a)))  # speech, not the noise around it
            spans.append((t + loud[0] / SR, t + loud[-1] / SR))
            parts += [a, np.zeros(int(gap_s * SR), np.float32)]
            t += len(a) / SR + gap_s
        recs = saved[voice] if saved is not None else await run_session(np.concatenate(parts), overrides)
        judged, err, words, split = [], 0, 0, 0
        for it, (a, b) in zip(seq, spans):
            mine = [r for r in recs if a - 0.3 <= r["speech_start_s"] and r["speech_end_s"] <= b + 0.5]
            split += len(mine) > 1
            rec = mine[-1] if mine else None
            if rec is not None and len(mine) > 1:
                rec = {**rec, "transcript": " ".join(r["transcript"] for r in mine),
                       "actions": [x for r in mine for x in r["actions"]]}
            j = judge({**it, "voice": voice}, rec)
            e, k = wer_counts(it["text"], j["said"])
            err, words = err + e, words + k
            judged.append(j)
        ends = [b for _, b in spans]
        starts = [a for a, _ in spans[1:]] + [t]
        eot, _ = eot_delays(recs, ends, starts)
        over = sum(1 for r in recs if r.get("reply_start_s") is not None and speech_spans(spans, r["reply_start_s"]))
        v2v = [r["v2v_ms"] for r in recs if r.get("v2v_ms") is not None]
        results.setdefault("records", {})[voice] = recs
        results["voices"][voice] = {**tally(judged), "wer": round(err / max(1, words), 3),
                                    "eot_p50": percentile(eot, 50), "eot_p95": percentile(eot, 95),
                                    "split_turns": split, "replies_over_user": over,
                                    "v2v_p50": percentile(v2v, 50)}
        everything["eot"] += eot
        everything["v2v"] += v2v
        everything["split"] += split
        everything["over"] += over
        everything["err"] += err
        everything["words"] += words
        all_judged += judged
        print(f"  {voice}: {results['voices'][voice]}", flush=True)
    # the real recordings, each a session of its own
    for f, ref in devset.refs().items():
        audio = devset.audio(f)
        audio = np.concatenate([np.zeros(SR // 2, np.float32), audio, np.zeros(3 * SR, np.float32)])
        recs = saved[f] if saved is not None else await run_session(audio, overrides)
        sents = ref["sentences"]
        spans = [(s["start"] + 0.5, s["end"] + 0.5) for s in sents]
        ends = [b for _, b in spans]
        starts = [a for a, _ in spans[1:]] + [spans[-1][1] + 3.0]
        eot, _ = eot_delays(recs, ends, starts)
        # a turn that ends inside a sentence (not within 0.45 s of a sentence end) split it
        split = sum(1 for r in recs if not any(abs(r["speech_end_s"] - e) < 0.45 for e in ends))
        over = sum(1 for r in recs if r.get("reply_start_s") is not None and speech_spans(spans, r["reply_start_s"]))
        hyp = " ".join(r["transcript"] for r in recs)
        e, k = wer_counts(ref["text"], hyp)
        judged = [judge({"id": f"{f}:{r['turn']}", "kind": "statement", "voice": f}, r) for r in recs]
        v2v = [r["v2v_ms"] for r in recs if r.get("v2v_ms") is not None]
        results.setdefault("records", {})[f] = recs
        results["real"][f] = {**tally(judged), "wer": round(e / max(1, k), 3), "eot_ms": eot,
                              "eot_p95": percentile(eot, 95), "turns": len(recs), "sentences": len(sents),
                              "split_sentences": split, "replies_over_user": over,
                              "v2v_p50": percentile(v2v, 50),
                              "turn_log": [(r["speech_end_s"], r["transcript"], r["reply"][:80]) for r in recs]}
        everything["eot"] += eot
        everything["v2v"] += v2v
        everything["over"] += over
        everything["err"] += e
        everything["words"] += k
        all_judged += judged
        print(f"  {f}: {({k: v for k, v in results['real'][f].items() if k != 'turn_log'})}", flush=True)
    results["total"] = {**tally(all_judged), "wer": round(everything["err"] / max(1, everything["words"]), 3),
                        "eot_p50": percentile(everything["eot"], 50), "eot_p95": percentile(everything["eot"], 95),
                        "split_turns": everything["split"], "replies_over_user": everything["over"],
                        "v2v_p50": percentile(everything["v2v"], 50)}
    results["items"] = all_judged
    return results


async def part_visual(overrides: list[str], gap_s: float) -> dict[str, Any]:
    from omni.audio import read_audio

    spec = qmake.load_items()["visual"]
    rows = [r for r in qmake.manifest() if r["kind"] == "visual"]
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "camera"
        folder.mkdir()
        sign_image(spec["sign"], folder / "sign.png")
        out: dict[str, Any] = {"voices": {}}
        judged = []
        for voice in spec["voices"]:
            seq = [r for r in rows if r["voice"] == voice]
            parts, spans, t = [np.zeros(2 * SR, np.float32)], [], 2.0
            for it in seq:
                a = read_audio(qmake.out_dir() / it["file"], SR).samples
                spans.append((t, t + len(a) / SR))
                parts += [a, np.zeros(int(gap_s * SR), np.float32)]
                t += len(a) / SR + gap_s
            recs = await run_session(np.concatenate(parts), overrides, name="ar-glasses", camera=str(folder))
            out.setdefault("records", {})[voice] = recs
            for it, (a, b) in zip(seq, spans):
                rec = next((r for r in recs if a - 0.3 <= r["speech_start_s"] <= b), None)
                # answered by the look stage, from the camera (its record's backend is vision:...)
                looked = rec is not None and str(rec["stages"].get("look", {}).get("backend", "")).startswith("vision")
                reply = rec["reply"] if rec else ""
                j = {"id": it["id"], "voice": voice, "said": rec["transcript"] if rec else "", "reply": reply,
                     "want_look": it["look"], "looked": looked,
                     "has_text": any(w in reply.lower() for w in it.get("any", [])) if it.get("any") else None}
                judged.append(j)
            print(f"  {voice}: " + ", ".join(f"{j['id']}={'L' if j['looked'] else '-'}" for j in judged
                                             if j["voice"] == voice), flush=True)
        want = [j for j in judged if j["want_look"]]
        not_want = [j for j in judged if not j["want_look"]]
        out["summary"] = {"answered_from_camera": f"{sum(j['looked'] for j in want)}/{len(want)}",
                          "read_right": f"{sum(bool(j['has_text']) for j in want if j['has_text'] is not None)}"
                                        f"/{sum(1 for j in want if j['has_text'] is not None)}",
                          "not_visual_taken_as_visual": f"{sum(j['looked'] for j in not_want)}/{len(not_want)}"}
        out["items"] = judged
        return out


def sign_image(text: str, path: Path) -> None:
    import cv2

    img = np.full((480, 640, 3), 235, np.uint8)
    cv2.rectangle(img, (60, 120), (580, 360), (120, 40, 20), -1)
    for i, line in enumerate(text.split("|")):
        cv2.putText(img, line, (90, 210 + i * 90), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 4, cv2.LINE_AA)
    cv2.imwrite(str(path), img)


def table(title: str, rows: dict[str, dict], cols: list[str]) -> None:
    print(f"\n{title}")
    print(" | ".join(["", *cols]))
    for name, r in rows.items():
        print(" | ".join([name, *(str(r.get(c, "")) for c in cols)]))


def print_pipeline(p: dict[str, Any]) -> None:
    cols = ["wer", "eot_p50", "eot_p95", "split_turns", "replies_over_user", "useful", "echo", "prompt_read",
            "canned", "refused", "wrong_action", "dishonest", "v2v_p50"]
    table("pipeline", {**p["voices"], **p["real"], "total": p["total"]}, cols)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="text,spoken,wer,pipeline,visual",
                    help="text, spoken (the everyday set: useful replies), realtime (V2V on the real recordings), "
                         "wer, pipeline, visual")
    ap.add_argument("--split", default="both", choices=["dev", "held", "both"],
                    help="which half of the everyday set (both are always reported when run)")
    ap.add_argument("--failures", action="store_true", help="print the dev half's failed replies")
    ap.add_argument("--subset", type=int, default=None, help="about this many quality items")
    ap.add_argument("--set", action="append", default=[], help="pipeline override, e.g. stt.model=base")
    ap.add_argument("--gap", type=float, default=6.0, help="silence after each quality item (s)")
    ap.add_argument("--wer-configs", default="tiny.en:1:0:0,tiny.en:1:0:6,tiny.en:1:1:6,tiny.en:5:1:6,"
                                             "base:1:1:6,base:5:1:6,base:1:1:0")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quality.json")
    ap.add_argument("--rescore", type=Path, default=None, help="score an earlier run's pipeline records again")
    a = ap.parse_args()
    if a.rescore is not None and {"text", "spoken"} & set(json.loads(a.rescore.read_text())):
        import conversations as conv

        await conv.rescore(a.rescore, a.failures)
        return
    if a.rescore is not None:
        old = json.loads(a.rescore.read_text())
        old["pipeline"] = await part_pipeline(items(None), [], a.gap, saved=old["pipeline"]["records"])
        print_pipeline(old["pipeline"])
        a.rescore.write_text(json.dumps(old, indent=1, default=str) + "\n")
        return
    parts = a.parts.split(",")
    # the older quality set (spoken by make.py): the dialogue, wer, pipeline and visual parts
    rows = items(a.subset) if {"wer", "pipeline"} & set(parts) else []
    out: dict[str, Any] = {"machine": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M"),
                           "overrides": a.set}
    if "text" in parts or "spoken" in parts:
        import conversations as conv

        await conv.run_parts(parts, a.split, a.set, out, a.failures)
    if "wer" in parts:
        print("word error rate:", flush=True)
        cfgs = [(m, int(b), bool(int(h)), float(w)) for m, b, h, w in (c.split(":") for c in a.wer_configs.split(","))]
        out["wer"] = await part_wer(rows, cfgs)
        table("WER (real recordings | quality set)", {k: {"real": v["real"]["wer"], "quality": v["quality"]["wer"],
                                                           "decode ms p50": v["real"]["decode_ms_p50"]}
                                                       for k, v in out["wer"].items()},
              ["real", "quality", "decode ms p50"])
    if "pipeline" in parts:
        print("pipeline (real time):", flush=True)
        out["pipeline"] = await part_pipeline(rows, a.set, a.gap)
        print_pipeline(out["pipeline"])
    if "realtime" in parts:
        print("real recordings through the whole pipeline, in real time:", flush=True)
        out["realtime"] = await part_realtime(a.set)
        table("realtime", {"real recordings": out["realtime"]}, ["v2v_p50", "v2v_p95", "turns", "peak_rss_mb"])
    if "visual" in parts:
        print("visual questions (ar-glasses, a sign in view):", flush=True)
        out["visual"] = await part_visual(a.set, a.gap)
        table("visual", {"total": out["visual"]["summary"]}, list(out["visual"]["summary"]))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(f"\nwrote {a.out}")


if __name__ == "__main__":
    asyncio.run(main())
