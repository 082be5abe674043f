"""The everyday set as heard: each item spoken in one of several voices, and real people's
sentences, through the pipeline's recogniser (bench/quality.py --parts spoken).

Voices (the quality set's definitions, bench/quality/items.yaml): espeak-ng en-us, en-gb+f3,
en-gb-scotland, en-us+m7 pitched down by sox, and piper at 0.8 speed; item i of its half is said
by voice i mod 5 (a follow-up by the voice of the turn it follows: one speaker per conversation). The
wavs are made once into `$OMNI_CACHE_DIR/everyday/` (espeak-ng and sox: `make bench-setup`).
Real people: every sentence of the four recordings of bench/devset.py, cut at the reference's
times, each a `read` item (what a person reads out to the assistant); even sentences dev, odd held.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np

import devset
from scoring import wer_counts

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
VOICES = ("espeak-us", "espeak-gb-f", "espeak-scot", "espeak-us-low", "piper-fast")

_spec = importlib.util.spec_from_file_location("quality_make", ROOT / "bench" / "quality" / "make.py")
qmake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qmake)  # type: ignore[union-attr]


def voiced(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each item with the voice that says it: counted within its half, so that an item has the
    same voice whether its half is run alone (--split held) or with the other (--split both)."""
    out, voice_of, at = [], {}, {}
    for it in items:
        i = at[it.get("split")] = at.get(it.get("split"), -1) + 1
        v = voice_of.get(it.get("after")) or VOICES[i % len(VOICES)]
        voice_of[it["id"]] = v
        out.append({**it, "voice": v, "_nth": i})
    return out


def audio_of(items: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The wav of each item, made once."""
    from omni.audio import read_audio, write_wav
    from omni.models.cache import cache_dir

    voices = qmake.load_items()["voices"]
    d = cache_dir() / "everyday"
    d.mkdir(parents=True, exist_ok=True)
    sp = qmake.Speaker()
    out = {}
    for i, it in enumerate(items):
        p = d / f"{it['id']}-{it['voice']}.wav"
        if not p.exists():  # (seeded by the item's place in its half, as its voice is)
            write_wav(p, sp.speak(it["text"], voices[it["voice"]], seed=it.get("_nth", i)), SR)
        out[it["id"]] = read_audio(p, SR).samples
    return out


def real_items() -> list[dict[str, Any]]:
    rows = []
    for f, r in devset.refs().items():
        for i, s in enumerate(r["sentences"]):
            rows.append({"id": f"{f.split('.')[0]}:{i}", "kind": "read", "voice": f, "text": s["text"],
                         "split": "dev" if i % 2 == 0 else "held", "_span": (s["start"], s["end"])})
    return rows


def real_audio(item: dict[str, Any]) -> np.ndarray:
    """A real sentence's audio (real_items), cut at the reference's times with 150 ms either side."""
    s, e = item["_span"]
    return devset.audio(item["voice"])[max(0, int((s - 0.15) * SR)): int((e + 0.15) * SR)]


async def hear(items: list[dict[str, Any]], overrides: list[str]) -> tuple[dict[str, str], dict[str, Any]]:
    """What the pipeline's recogniser makes of each item (and of the real sentences), by id;
    with WER per voice, the decode time, and per item its confidence and word errors. Items get
    their `voice`."""
    from omni.config import load_pipeline
    from omni.config.loader import PIPELINES_DIR
    from omni.runtime.metrics import percentile
    from omni.stages import build_stage

    items[:] = voiced(items)
    audio = audio_of(items)
    for r in real_items():
        audio[r["id"]] = real_audio(r)
    cfg = load_pipeline(PIPELINES_DIR / "desktop.yaml", overrides)
    spec = next(s for s in cfg.stages if s.kind.startswith("stt."))
    stt = build_stage(spec)
    await stt.load(lambda *a: None)
    refs = {it["id"]: (it["voice"], it["text"]) for it in [*items, *real_items()]}
    heard, ms, per = {}, [], {}
    confidence: dict[str, float | None] = {}
    errors: dict[str, int] = {}
    try:
        for k, a in audio.items():
            t0 = time.monotonic()
            h = await asyncio.to_thread(stt.transcribe, a)
            ms.append((time.monotonic() - t0) * 1000)
            heard[k] = h.text.strip()
            confidence[k] = h.confidence
            voice, ref = refs[k]
            e, n = wer_counts(ref, heard[k])
            errors[k] = e
            p = per.setdefault(voice, [0, 0])
            p[0], p[1] = p[0] + e, p[1] + n
    finally:
        await stt.aclose()
    err, n = sum(v[0] for v in per.values()), sum(v[1] for v in per.values())
    return heard, {"wer": round(err / max(1, n), 3),
                   "wer_by_voice": {v: round(e / max(1, n), 3) for v, (e, n) in sorted(per.items())},
                   "decode_ms_p50": percentile(ms, 50), "confidence": confidence, "word_errors": errors}


def by_voice(judged: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, list[bool]] = {}
    for j in judged:
        out.setdefault(str(j.get("voice")), []).append(j["useful"])
    return {v: f"{sum(u)}/{len(u)}" for v, u in sorted(out.items())}
