"""Speculative decoding on these two cores: does a draft make the 1.5B model decode faster?

    python bench/speculative.py [--k 4] [--out bench/results/speculative.json]

The default model (Qwen2.5-Coder-1.5B) answers eight everyday turns with omni's system prompt,
streamed, as llama-cpp-python's generate() does it, three ways:

    none      one token per step
    draft     the bundled 0.5B (same tokenizer) drafts k tokens greedily; the 1.5B checks them
              in one batch and keeps those it would have sampled itself
    lookup    llama-cpp-python's prompt-lookup drafting (n-grams of the prompt)

The 1.5B asks for logits of every position only in a checking batch, not in prompt evaluation
(llama-cpp-python's own draft_model switch asks for them everywhere, which slows the prompt).
Prints decoding tokens/s (first streamed token to last), the time to the first token, and for
the draft how many tokens it proposed; writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omni.dialogue.options import DEFAULT_SYSTEM_PROMPT  # noqa: E402
from omni.models import resolve  # noqa: E402

TURNS = ["Good morning!", "What's the capital of Australia?", "I just got back from a long run.",
         "Can you give me a tip for sleeping better?", "Tell me a fun fact about octopuses.",
         "How many legs does a spider have?", "I'm thinking of learning to play the guitar.",
         "What should I cook for dinner tonight?"]


def build(path: str, draft: object | None):
    from llama_cpp import Llama

    class Target(Llama):
        def eval(self, tokens):  # logits of every position in a checking batch only
            self._ctx.kv_cache_seq_rm(-1, self.n_tokens, -1)
            every = self.draft_model is not None and len(tokens) <= 16
            for i in range(0, len(tokens), self.n_batch):
                batch = tokens[i:i + self.n_batch]
                self._batch.set_batch(batch=batch, n_past=self.n_tokens, logits_all=every)
                self._ctx.decode(self._batch)
                self.input_ids[self.n_tokens:self.n_tokens + len(batch)] = batch
                self.n_tokens += len(batch)
                self._requires_eval = False

    llm = Target(model_path=path, n_ctx=2048, n_threads=2, n_threads_batch=2, seed=7, verbose=False)
    llm.draft_model = draft
    return llm


class SmallDraft:
    """The 0.5B proposes `k` tokens greedily, keeping its own context in step with the 1.5B's."""

    def __init__(self, path: str, k: int) -> None:
        from llama_cpp import Llama

        self.llm = Llama(model_path=path, n_ctx=2048, n_threads=2, n_threads_batch=2, verbose=False)
        self.k, self.calls, self.drafted, self.ms = k, 0, 0, 0.0

    def __call__(self, input_ids, **_):
        t = time.perf_counter()
        ids, m = input_ids.tolist(), self.llm
        n = 0
        for a, b in zip(m.input_ids[:m.n_tokens].tolist(), ids):
            if a != b:
                break
            n += 1
        m.n_tokens = min(n, len(ids) - 1)
        m.eval(ids[m.n_tokens:])
        out: list[int] = []
        for j in range(self.k):
            tok = int(np.ctypeslib.as_array(m._ctx.get_logits(), shape=(m.n_vocab(),)).argmax())
            out.append(tok)
            if tok == m.token_eos() or j == self.k - 1:
                break
            m.eval([tok])
        self.calls, self.drafted, self.ms = self.calls + 1, self.drafted + len(out), self.ms + (time.perf_counter() - t) * 1000
        return np.array(out, dtype=np.intc)


def run(mode: str, k: int, big: str, small: str) -> dict:
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    draft = SmallDraft(small, k) if mode == "draft" else LlamaPromptLookupDecoding(num_pred_tokens=k) \
        if mode == "lookup" else None
    llm = build(big, draft)
    rates, firsts, replies = [], [], []
    for said in TURNS:
        msgs = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": said}]
        t0, times, text = time.perf_counter(), [], ""
        for ch in llm.create_chat_completion(msgs, max_tokens=60, temperature=0.2, top_p=0.9, seed=7, stream=True):
            piece = ch["choices"][0]["delta"].get("content")
            if piece:
                times.append(time.perf_counter() - t0)
                text += piece
        if len(times) > 1:
            rates.append((len(times) - 1) / (times[-1] - times[0]))
        firsts.append(times[0] * 1000 if times else 0.0)
        replies.append(text)
    out = {"mode": mode, "k": k if draft is not None else 0, "decode_tok_s_p50": round(statistics.median(rates), 1),
           "first_token_ms_p50": round(statistics.median(firsts)), "replies": replies}
    if isinstance(draft, SmallDraft):
        out.update(draft_calls=draft.calls, drafted=draft.drafted, draft_ms_per_call=round(draft.ms / draft.calls))
    llm.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=4, help="tokens drafted per step")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "speculative.json")
    args = ap.parse_args()
    say = lambda *a: print(*a, file=sys.stderr)  # noqa: E731
    big = resolve("llm", "qwen2.5-coder-1.5b", lambda *a: None).location
    small = resolve("llm", "qwen2.5-coder-0.5b", lambda *a: None).location
    rows = []
    for mode in ("none", "draft", "lookup"):
        say(f"{mode} ...")
        rows.append(run(mode, args.k, big, small))
    print("| decoding | k | tokens/s p50 | first token p50 ms | draft: calls / tokens / ms a call |")
    print("|---|---|---|---|---|")
    for r in rows:
        extra = f"{r['draft_calls']} / {r['drafted']} / {r['draft_ms_per_call']}" if "draft_calls" in r else ""
        print(f"| {r['mode']} | {r['k'] or ''} | {r['decode_tok_s_p50']} | {r['first_token_ms_p50']} | {extra} |")
    same = sum(a == b for a, b in zip(rows[0]["replies"], rows[1]["replies"]))
    print(f"\nthe draft's replies the same as without it: {same} of {len(TURNS)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
