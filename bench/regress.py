#!/usr/bin/env python3
"""Regression check: omni alone on the bench corpus, compared with the last saved run.

    python bench/regress.py             # run, compare with bench/reference/regress.json (in git), print
    python bench/regress.py --save      # ... and make this run the new reference

Feeds every corpus turn in real time through the desktop pipeline (as bench/voice_loop.py's
streaming arm), then prints per stage and for V2V the p50 now and before, and names each one
that got slower by more than --tolerance (default 25 %) and more than --min-ms (default 40 ms):
one run on a shared machine is noisy, so small moves are not called regressions.
Exit code 0 either way (it reports; it does not judge); 3 when there is no reference yet and
--save was not given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from voice_loop import load_corpus, run_streaming  # noqa: E402

from omni.runtime.metrics import percentile  # noqa: E402


def summarize(turns: list[dict]) -> dict:
    stages: dict[str, list[float]] = {}
    for t in turns:
        for k, v in t["stages"].items():
            stages.setdefault(k, []).append(v)
    v2v = [t["v2v_ms"] for t in turns if t["v2v_ms"] is not None]
    return {"v2v": {"p50": percentile(v2v, 50), "p95": percentile(v2v, 95), "n": len(v2v)},
            **{k: {"p50": percentile(v, 50), "p95": percentile(v, 95), "n": len(v)} for k, v in stages.items()}}


def compare(now: dict, before: dict, tolerance: float, min_ms: float) -> list[tuple[str, float, float, str]]:
    rows = []
    for name in now:
        a = now[name]["p50"]
        b = before.get(name, {}).get("p50")
        if a is None or b is None:
            verdict = "new" if b is None else "-"
        elif a - b > min_ms and a > b * (1 + tolerance):
            verdict = "SLOWER"
        elif b - a > min_ms and a < b * (1 - tolerance):
            verdict = "faster"
        else:
            verdict = "same"
        rows.append((name, a, b, verdict))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", type=Path, default=ROOT / "bench" / "reference" / "regress.json")
    ap.add_argument("--save", action="store_true", help="store this run as the reference")
    ap.add_argument("--gap", type=float, default=5.0, help="silence between turns, s")
    ap.add_argument("--tolerance", type=float, default=0.25)
    ap.add_argument("--min-ms", type=float, default=40.0)
    args = ap.parse_args()
    items = load_corpus()
    t0 = time.monotonic()
    run = asyncio.run(run_streaming(items, args.gap))
    now = summarize(run["turns"])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    record = {"commit": commit, "date": time.strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
              "turns": len(run["turns"]), "corpus": len(items), "run_s": round(time.monotonic() - t0, 1),
              "summary": now, "per_turn": run["turns"]}
    before = json.loads(args.ref.read_text()) if args.ref.exists() else None
    print(f"{len(run['turns'])} turns from {len(items)} corpus items in {record['run_s']} s (commit {commit})")
    if before is None:
        print(f"no reference yet ({args.ref})")
    else:
        print(f"reference: commit {before['commit']} of {before['date']}")
        print(f"{'':12s} {'p50 now':>9s} {'before':>9s}  ")
        slower = []
        for name, a, b, verdict in compare(now, before["summary"], args.tolerance, args.min_ms):
            fa = "-" if a is None else f"{a:.0f}"
            fb = "-" if b is None else f"{b:.0f}"
            print(f"{name:12s} {fa:>9s} {fb:>9s}  {verdict}")
            if verdict == "SLOWER":
                slower.append(name)
        print("slower: " + (", ".join(slower) if slower else "nothing") +
              f" (more than {args.tolerance:.0%} and {args.min_ms:.0f} ms at p50)")
    if args.save:
        args.ref.parent.mkdir(parents=True, exist_ok=True)
        args.ref.write_text(json.dumps(record, indent=2))
        print(f"saved as the reference: {args.ref}")
    return 3 if before is None and not args.save else 0


if __name__ == "__main__":
    raise SystemExit(main())
