#!/usr/bin/env python3
"""Regression check: omni alone on the bench corpus, compared with the last saved run.

    python bench/regress.py             # run, compare with bench/reference/regress.json (in git), print
    python bench/regress.py --save      # ... and make this run the new reference
    python bench/regress.py --short [--short-run bench/results/waterfall.json] [--save]
                                        # the short turns of bench/waterfall.py, stage by stage and
                                        # peak RSS, against bench/reference/waterfall.json
    python bench/regress.py --quality RUN.json [--save]
                                        # a bench/quality.py run's useful replies (both halves, each
                                        # part) and WER against bench/reference/quality.json

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


REF = ROOT / "bench" / "reference"


def print_rows(rows: list[tuple[str, float | None, float | None, str]], unit: str = "") -> list[str]:
    print(f"{'':14s} {'p50 now':>9s} {'before':>9s}  ")
    for name, a, b, verdict in rows:
        fa = "-" if a is None else f"{a:.0f}{unit}"
        fb = "-" if b is None else f"{b:.0f}{unit}"
        print(f"{name:14s} {fa:>9s} {fb:>9s}  {verdict}")
    return [name for name, _, _, verdict in rows if verdict == "SLOWER"]


def short_turns(args: argparse.Namespace) -> int:
    """The short turns' waterfall (bench/waterfall.py) against its saved reference."""
    import waterfall

    if args.short_run is not None:
        run = json.loads(args.short_run.read_text())
    else:
        run = asyncio.run(waterfall.run(argparse.Namespace(set=[])))
    ref = REF / "waterfall.json"
    before = json.loads(ref.read_text()) if ref.exists() else None
    print(f"short turns: {len(run['rows'])}, run of {run['date']}")
    if before is None:
        print(f"no reference yet ({ref})")
    else:
        print(f"reference: run of {before['date']}")
        now_m = {k: {"p50": v} for k, v in run["median"].items()}
        now_m["peak_rss_mb"] = {"p50": run["peak_rss_mb"]}
        ref_m = {k: {"p50": v} for k, v in before["median"].items()}
        ref_m["peak_rss_mb"] = {"p50": before["peak_rss_mb"]}
        if run.get("set") != before.get("set"):
            print(f"note: this run's --set {run.get('set')} is not the reference's {before.get('set')}")
        rss = (now_m.pop("peak_rss_mb")["p50"], ref_m.pop("peak_rss_mb")["p50"])
        slower = print_rows(compare(now_m, ref_m, args.tolerance, args.min_ms))
        grew = rss[0] > rss[1] * 1.05  # memory: 5 %, not the stages' 25 % and 40 ms
        print(f"{'peak RSS MB':14s} {rss[0]:>9.0f} {rss[1]:>9.0f}  {'BIGGER' if grew else 'same'}")
        slower += ["peak RSS"] if grew else []
        print("slower (or bigger): " + (", ".join(slower) if slower else "nothing"))
    if args.save:
        ref.write_text(json.dumps(run, indent=1))
        print(f"saved as the reference: {ref}")
    return 3 if before is None and not args.save else 0


def quality_figures(run: dict) -> dict[str, float]:
    """Useful replies (percent) per part and half, and WER, from a bench/quality.py run."""
    out: dict[str, float] = {}
    for part in ("text", "spoken"):
        for half in ("dev", "held"):
            rep = (run.get(part) or {}).get(half)
            n = rep.get("useful", "").split(" of ")[-1] if isinstance(rep, dict) else "0"
            if isinstance(rep, dict) and "useful_pct" in rep and n != "0":  # (of how many: runs of another size are not compared)
                out[f"{part} {half} useful % of {n}"] = rep["useful_pct"]
    spoken = run.get("spoken") if isinstance(run.get("spoken"), dict) else {}
    wer = spoken.get("timing", {}).get("wer")
    if wer is not None:  # over the items spoken (a held-only run and a whole run are not compared)
        out[f"spoken WER % of {len(spoken.get('items', []))}"] = round(100 * wer, 1)
    return out


def quality(args: argparse.Namespace) -> int:
    """A quality run's figures against the saved reference: a fall of more than one point is named."""
    ref = REF / "quality.json"
    now = quality_figures(json.loads(args.quality.read_text()))
    saved = json.loads(ref.read_text()) if ref.exists() else None
    before = saved["figures"] if saved else {}
    print(f"{'':30s} {'now':>7s} {'before':>7s}")
    worse = []
    for k, v in now.items():
        b = before.get(k)
        lower_is_better = "WER" in k
        delta = None if b is None else (v - b) * (-1 if lower_is_better else 1)
        verdict = "new" if b is None else "WORSE" if delta < -1 else "better" if delta > 1 else "same"
        print(f"{k:30s} {v:7.1f} {'-' if b is None else f'{b:7.1f}':>7s}  {verdict}")
        if verdict == "WORSE":
            worse.append(k)
    print("worse: " + (", ".join(worse) if worse else "nothing") + " (by more than one point)")
    if args.save:
        merged = {**before, **now}
        ref.write_text(json.dumps({"from": str(args.quality), "date": time.strftime("%Y-%m-%d %H:%M"),
                                   "figures": merged}, indent=1))
        print(f"saved as the reference: {ref}")
    return 3 if saved is None and not args.save else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", type=Path, default=ROOT / "bench" / "reference" / "regress.json")
    ap.add_argument("--save", action="store_true", help="store this run as the reference")
    ap.add_argument("--gap", type=float, default=5.0, help="silence between turns, s")
    ap.add_argument("--tolerance", type=float, default=0.25)
    ap.add_argument("--min-ms", type=float, default=40.0)
    ap.add_argument("--short", action="store_true", help="the short turns of bench/waterfall.py instead")
    ap.add_argument("--short-run", type=Path, default=None, help="compare this waterfall JSON instead of running")
    ap.add_argument("--quality", type=Path, default=None, help="compare this bench/quality.py JSON")
    args = ap.parse_args()
    if args.short:
        return short_turns(args)
    if args.quality is not None:
        return quality(args)
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
        slower = print_rows(compare(now, before["summary"], args.tolerance, args.min_ms))
        print("slower: " + (", ".join(slower) if slower else "nothing") +
              f" (more than {args.tolerance:.0%} and {args.min_ms:.0f} ms at p50)")
    if args.save:
        args.ref.parent.mkdir(parents=True, exist_ok=True)
        args.ref.write_text(json.dumps(record, indent=2))
        print(f"saved as the reference: {args.ref}")
    return 3 if before is None and not args.save else 0


if __name__ == "__main__":
    raise SystemExit(main())
