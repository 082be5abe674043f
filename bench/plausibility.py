"""Would the chat model's surprise at the words heard tell a mishearing? (issue 25: "words that make
no sense together" asked back.) Reads a saved spoken run, scores each transcript with the bundled
1.5B (mean log-probability of its tokens after the first, as a user turn after a short system
prompt) and prints how well that, whisper's own confidence, and the two together tell transcripts
heard right (no word error) from those misheard (two or more), per half: the area under the ROC
curve (1.0 = always told apart, 0.5 = chance).

    python bench/plausibility.py RUN.json [--weights 0.05,0.1,0.2]

RUN.json: `python bench/quality.py --parts spoken --split both --out RUN.json`. Loads the model
with logits for every token (~0.3 GB more for a 512-token context); about 2.5 min for 290 items on
2 cores. A measurement only: nothing in omni uses it.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

SYSTEM = "<|im_start|>system\nYou are a helpful voice assistant.<|im_end|>\n<|im_start|>user\n"


def scores(items: list[dict[str, Any]], model: str) -> list[float]:
    """Per item, the mean log-probability of its transcript's tokens after the first (the first
    word of a turn is anyone's guess) and of the turn's end."""
    from llama_cpp import Llama

    from omni.models import resolve

    llm = Llama(model_path=resolve("llm", model, lambda *a: None).location, n_ctx=512, n_threads=2,
                logits_all=True, verbose=False)
    head = llm.tokenize(SYSTEM.encode(), add_bos=False, special=True)
    out = []
    for it in items:
        body = llm.tokenize((it["said"].strip() + "<|im_end|>").encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(head + body)
        lps = []
        for i, t in enumerate(body):
            logits = llm.scores[len(head) + i - 1]
            m = float(logits.max())
            lps.append(float(logits[t]) - (m + math.log(float(np.exp(logits - m).sum()))))
        out.append(float(np.mean(lps[1:])) if len(lps) > 1 else lps[0])
    return out


def auc(misheard: list[float], right: list[float]) -> float:
    """How often a misheard transcript scores below one heard right (ties count half)."""
    won = sum((p < n) + 0.5 * (p == n) for p in misheard for n in right)
    return won / max(1, len(misheard) * len(right))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--weights", default="0.05,0.1,0.2", help="k in confidence + k * LM score")
    a = ap.parse_args()
    items = [it for it in json.load(open(a.run))["spoken"]["items"]
             if it.get("said", "").strip() and it.get("confidence") is not None and it.get("word_errors") is not None]
    lm = scores(items, a.model)
    ks = [float(k) for k in a.weights.split(",")]
    print(f"{'half':5} {'misheard':>8} {'right':>5} {'whisper':>8} {'LM':>6} " + " ".join(f"{'both k=' + str(k):>11}" for k in ks))
    conf = [it["confidence"] for it in items]
    for half in ("dev", "held"):
        idx = [i for i, it in enumerate(items) if it["split"] == half]
        bad = [i for i in idx if items[i]["word_errors"] >= 2]
        good = [i for i in idx if items[i]["word_errors"] == 0]
        row = [auc([conf[i] for i in bad], [conf[i] for i in good]), auc([lm[i] for i in bad], [lm[i] for i in good])]
        row += [auc([conf[i] + k * lm[i] for i in bad], [conf[i] + k * lm[i] for i in good]) for k in ks]
        print(f"{half:5} {len(bad):>8} {len(good):>5} " + " ".join(f"{v:>8.3f}" if j < 2 else f"{v:>11.3f}"
                                                               for j, v in enumerate(row)))


if __name__ == "__main__":
    main()
