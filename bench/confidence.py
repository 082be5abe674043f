#!/usr/bin/env python3
"""Does a confidence that leaves out whisper's marks, its end token or its first word tell a
mishearing better than the decode's mean log-probability (what `llm.unsure_below` reads)?

    python bench/confidence.py [--split dev] [--out bench/results/confidence.json]

Decodes the everyday set's spoken items of one half (and the real sentences of that half) with
the bundled tiny.en as the pipeline does (greedy, a 15 s window), keeping each token's
log-probability, and prints, for each measure, the area under the ROC curve between transcripts
misheard (two word errors or more) and heard right (none), and what a threshold asking back as
often as -0.7 on the decode's score would ask back needlessly (one word wrong or none) and catch.
About 30 s on 2 cores once the wavs are made (`make bench-setup`). A measurement only: nothing
in omni uses it. The held half is for checking a measure chosen on dev, not for choosing one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SR = 16000
ASK_BELOW = -0.7
"""The pipeline's `llm.unsure_below`: the other measures are compared at as many asks as it makes."""


def second(audio: dict[str, np.ndarray], model: str, beam: int) -> dict[str, tuple[str, float]]:
    """Per item: another recogniser's words and score, decoded by omni's own engine with the
    pipeline's other options (a window as long as the utterance, at least 15 s)."""
    from omni.engines.whisper import FasterWhisper
    from omni.stages.stt import WhisperOptions

    engine = FasterWhisper.load(WhisperOptions(model=model, beam_size=beam, min_window_s=15), lambda *a: None)
    out = {}
    for k, a in audio.items():
        heard = engine.transcribe(a)
        out[k] = (heard.text, -9.0 if heard.confidence is None else heard.confidence)
    return out


def agree(a: str, b: str) -> bool:
    """The same words, whatever the marks and case."""
    def norm(t: str) -> list[str]:
        return re.findall(r"[a-z0-9']+", t.lower().replace("’", "'"))
    return norm(a) == norm(b)


def decode(audio: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per item: the text, the decode's score, and each token's text and log-probability."""
    from faster_whisper import WhisperModel
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    from omni.models import resolve

    model = WhisperModel(str(resolve("stt", "tiny.en", lambda *a: None).location), device="cpu",
                         compute_type="int8", cpu_threads=2)
    tok = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
    prompt = model.get_prompt(tok, [], without_timestamps=True)
    out = {}
    for k, a in audio.items():
        feats = model.feature_extractor(a)
        frames = int(min(3000, max(1500, feats.shape[-1] + 100)))
        frames += frames % 2
        (res,) = model.model.generate(model.encode(pad_or_trim(feats, frames)), [prompt], beam_size=1,
                                      max_length=len(prompt) + int(10 + 8 * len(a) / SR), return_scores=True,
                                      return_logits_vocab=True, suppress_blank=True,
                                      suppress_tokens=get_suppressed_tokens(tok, [-1]))
        ids = list(res.sequences_ids[0])
        lps = []
        for i, t in enumerate(ids):
            row = np.asarray(res.logits[0][i], dtype=np.float64)
            m = row.max()
            lps.append(float(row[t] - (m + np.log(np.exp(row - m).sum()))))
        out[k] = {"text": tok.decode([t for t in ids if t < tok.eot]).strip(), "score": float(res.scores[0]),
                  "pieces": [tok.decode([t]) if t < tok.eot else "<end>" for t in ids], "lps": lps}
    return out


def measures(d: dict[str, Any]) -> dict[str, float]:
    words = [lp for lp, p in zip(d["lps"], d["pieces"]) if p != "<end>" and re.search(r"\w", p)]
    return {"the decode's score (the default)": d["score"],
            "mean over word tokens (no marks, no end)": float(np.mean(words)) if words else -9.0,
            "the same without the first word": float(np.mean(words[1:])) if len(words) > 1 else
            (words[0] if words else -9.0),
            "the lowest word token": min(words) if words else -9.0}


def main() -> None:
    import spoken
    from conversations import everyday
    from plausibility import auc
    from scoring import wer_counts

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="dev", choices=("dev", "held"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "confidence.json")
    ap.add_argument("--second", default=None, metavar="MODEL[:BEAM]",
                    help="decode what the default asks back again with this recogniser (base, tiny.en:5) and "
                         "count how often the two agree, on words heard right and misheard")
    a = ap.parse_args()
    items = spoken.voiced(everyday(a.split))
    audio = spoken.audio_of(items)
    refs = {it["id"]: it["text"] for it in items}
    for r in spoken.real_items():
        if r["split"] == a.split:
            audio[r["id"]] = spoken.real_audio(r)
            refs[r["id"]] = r["text"]
    rows = decode(audio)
    for k, d in rows.items():
        d["errors"] = wer_counts(refs[k], d["text"])[0]
        d["measures"] = measures(d)
    keys = list(next(iter(rows.values()))["measures"])
    bad = [d for d in rows.values() if d["errors"] >= 2]
    good = [d for d in rows.values() if d["errors"] == 0]
    asks = sum(d["score"] < ASK_BELOW for d in rows.values())
    print(f"{a.split}: {len(rows)} decodes, {len(bad)} misheard (2+ words), {len(good)} heard right; "
          f"{asks} asked back at {ASK_BELOW}")
    print(f"{'measure':44} {'AUC':>6} {'needless':>9} {'caught':>7}")
    table = {}
    for m in keys:
        vals = sorted(d["measures"][m] for d in rows.values())
        below = vals[min(asks, len(vals) - 1)]  # as many asks as the default makes
        asked = [d for d in rows.values() if d["measures"][m] < below]
        needless = sum(d["errors"] <= 1 for d in asked)
        table[m] = {"auc": round(auc([d["measures"][m] for d in bad], [d["measures"][m] for d in good]), 3),
                    "threshold": round(below, 3), "asked": len(asked), "needless": needless,
                    "caught": len(asked) - needless}
        t = table[m]
        print(f"{m:44} {t['auc']:>6.3f} {t['needless']:>9} {t['caught']:>7}")
    agreement = None
    if a.second:
        model, _, beam = a.second.partition(":")
        doubted = {k: audio[k] for k, d in rows.items() if d["score"] < ASK_BELOW}
        other = second(doubted, model, int(beam or 1))
        agreement = {"second": a.second, "asked": len(doubted)}
        for k, (text, score) in other.items():
            d = rows[k]
            d["second"] = {"text": text, "score": round(score, 3), "agrees": agree(d["text"], text),
                           "errors": wer_counts(refs[k], text)[0]}
        for name, pick in (("heard right (0 words wrong)", lambda d: d["errors"] == 0),
                           ("one word wrong", lambda d: d["errors"] == 1),
                           ("misheard (2+ words wrong)", lambda d: d["errors"] >= 2)):
            group = [rows[k] for k in other if pick(rows[k])]
            agreement[name] = {"asked": len(group), "agree": sum(d["second"]["agrees"] for d in group)}
        differ = [rows[k] for k in other if not rows[k]["second"]["agrees"]]
        agreement["differ: the second heard right / misheard"] = (
            sum(d["second"]["errors"] == 0 for d in differ), sum(d["second"]["errors"] >= 2 for d in differ))
        print(f"\nasked back at {ASK_BELOW}: {len(doubted)}; decoded again with {a.second}, the two agree on:")
        for name, v in agreement.items():
            if isinstance(v, dict):
                print(f"  {name:30} {v['agree']:>3} of {v['asked']}")
        print(f"  where they differ ({len(differ)}), the second heard right {agreement[next(reversed(agreement))][0]}, "
              f"misheard {agreement[next(reversed(agreement))][1]}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"split": a.split, "measures": table, "agreement": agreement, "items": rows},
                                indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
