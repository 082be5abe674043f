#!/usr/bin/env python3
"""A report a person can read: markdown and PNG plots from the bench's JSON results.

    python bench/report.py [--in bench/results/voice_loop.json] [--out bench/report]

Reads the per-turn results the benches write (bench/voice_loop.py: omni streaming and the naive
baseline, pair by pair; any result file in the same shape adds its systems) and writes
`report.md` with the headline table (V2V p50/p95 per system, the ratio to omni pair by pair),
`v2v.png` (the V2V distribution per system), `waterfall.png` (where the time of a typical omni
turn goes, stage by stage, against each stage's budget) and `budgets.png` (how often each stage
kept its budget).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omni.runtime.metrics import percentile as pct  # noqa: E402
STAGE_ORDER = ("vad", "stt", "llm", "look", "sentences", "tts")
STAGE_MEANS = {"vad": "end of speech → turn ended", "stt": "→ transcript", "llm": "→ first token",
               "look": "→ visual answer", "sentences": "→ first sentence", "tts": "→ first audio"}


def systems_of(result: dict[str, Any]) -> dict[str, list[list[dict[str, Any]]]]:
    """{system: [turns of run 1, turns of run 2, ...]} from one bench result file."""
    out: dict[str, list[list[dict[str, Any]]]] = {}
    for run in result.get("runs", []):
        if isinstance(run.get("turns"), list):  # one system per run (bench/vision.py: arm on/off)
            out.setdefault(f"omni, vision {run.get('arm', '?')}", []).append(run["turns"])
            continue
        for key, value in run.items():
            if isinstance(value, dict) and isinstance(value.get("turns"), list):
                name = {"streaming": "omni", "naive": "naive (whole steps)", "pipecat": "Pipecat"}.get(key, key)
                out.setdefault(name, []).append(value["turns"])
    return out


def _v2v(turns: list[dict[str, Any]]) -> list[float]:
    return [t["v2v_ms"] for t in turns if t.get("v2v_ms")]


def summarize(systems: dict[str, list[list[dict[str, Any]]]], reference: str) -> list[dict[str, Any]]:
    rows = []
    ref_runs = systems.get(reference, [])
    for name, runs in systems.items():
        v = [x for run in runs for x in _v2v(run)]
        # the ratio pair by pair: run i of this system against run i of the reference
        ratios = [p / r for a, b in zip(runs, ref_runs, strict=False)
                  if (p := pct(_v2v(a), 50)) and (r := pct(_v2v(b), 50))]
        rows.append({"system": name, "runs": len(runs), "turns": len(v), "v2v_p50": pct(v, 50), "v2v_p95": pct(v, 95),
                     "ratio_to_reference": [round(x, 2) for x in ratios] if name != reference else None})
    return rows


def typical_turn(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """The turn whose V2V is the median one."""
    timed = sorted((t for t in turns if t.get("v2v_ms")), key=lambda t: t["v2v_ms"])
    return timed[len(timed) // 2]


def hit_rates(turns: list[dict[str, Any]], budgets: dict[str, float | None]) -> dict[str, float]:
    rates = {}
    for s, budget in budgets.items():
        ms = [t["stages"][s] for t in turns if s in t.get("stages", {})]
        if budget and ms:
            rates[s] = sum(m <= budget for m in ms) / len(ms)
    return rates


def plot(systems: dict[str, list[list[dict[str, Any]]]], budgets: dict[str, float | None], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(systems)
    v2v = [[x for run in systems[n] for x in _v2v(run)] for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.8 * len(names)))
    ax.boxplot(v2v, orientation="horizontal", widths=0.5, showfliers=False)
    for i, vals in enumerate(v2v, 1):
        ax.scatter(vals, [i + (j % 7 - 3) * 0.03 for j in range(len(vals))], s=9, alpha=0.6, color="tab:blue")
    ax.set_yticks(range(1, len(names) + 1), names)
    ax.set_xlabel("voice to voice, ms (last user speech sample → first reply sample)")
    ax.set_title("V2V per system, every turn of every run")
    fig.tight_layout()
    fig.savefig(out / "v2v.png", dpi=110)
    plt.close(fig)

    omni = [t for run in systems.get("omni", next(iter(systems.values()))) for t in run]
    turn = typical_turn(omni)
    stages = [s for s in STAGE_ORDER if s in turn["stages"]]
    if not stages:  # results without per-stage times (bench/peers.py): the V2V plot only
        return ["v2v.png"]
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.45 * len(stages)))
    start = 0.0
    for i, s in enumerate(stages):
        ms = turn["stages"][s]
        budget = budgets.get(s)
        over = budget is not None and ms > budget
        ax.barh(i, ms, left=start, color="tab:red" if over else "tab:green", alpha=0.8)
        if budget:
            ax.plot([start + budget] * 2, [i - 0.4, i + 0.4], color="black", lw=1)
        ax.text(start + ms + 8, i, f"{ms:.0f} ms", va="center", fontsize=8)
        start += ms
    ax.axvline(turn["v2v_ms"], color="tab:blue", ls="--", lw=1)
    ax.set_yticks(range(len(stages)), [f"{s} ({STAGE_MEANS.get(s, '')})" for s in stages], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"ms after the end of speech (dashed: V2V {turn['v2v_ms']:.0f} ms; ticks: budgets)", fontsize=9)
    ax.set_title(f"a typical omni turn: \"{turn['transcript'][:48]}\"", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "waterfall.png", dpi=110)
    plt.close(fig)

    rates = hit_rates(omni, budgets)
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.bar(list(rates), [r * 100 for r in rates.values()], color="tab:green")
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of turns within budget")
    ax.set_title("omni: budget hit rate per stage")
    for i, r in enumerate(rates.values()):
        ax.text(i, r * 100 + 1, f"{r:.0%}", ha="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "budgets.png", dpi=110)
    plt.close(fig)
    return ["v2v.png", "waterfall.png", "budgets.png"]


def markdown(results: list[tuple[Path, dict[str, Any]]], rows: list[dict[str, Any]], rates: dict[str, float],
             budgets: dict[str, float | None], images: list[str], reference: str) -> str:
    def ms(v: float | None) -> str:
        return "–" if v is None else f"{v:.0f} ms"

    lines = ["# omni latency report", ""]
    for path, r in results:
        lines.append(f"- `{r.get('command', path.name)}` ({r.get('when', '?')}, {r.get('machine', '?')})")
    lines += ["", f"| system | runs | turns | V2V p50 | V2V p95 | p50 ratio to {reference}, run by run |", "|---|---|---|---|---|---|"]
    for row in rows:
        ratio = ", ".join(f"{x:.2f}" for x in row["ratio_to_reference"]) if row["ratio_to_reference"] else "–"
        lines.append(f"| {row['system']} | {row['runs']} | {row['turns']} | {ms(row['v2v_p50'])} | {ms(row['v2v_p95'])} "
                     f"| {ratio} |")
    lines += ["", "Budget hit rate per stage (omni): " +
              ", ".join(f"{s} {r:.0%} (≤ {budgets[s]:.0f} ms)" for s, r in rates.items()), ""]
    lines += [f"![{name[:-4]}]({name})" for name in images]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in", dest="inputs", type=Path, action="append",
                    help="a bench result JSON (repeatable; default bench/results/voice_loop.json)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "report")
    ap.add_argument("--reference", help="the system ratios are taken against (default: omni, else the first)")
    args = ap.parse_args(argv)
    inputs = args.inputs or [ROOT / "bench" / "results" / "voice_loop.json"]
    results, systems, budgets = [], {}, {}
    for path in inputs:
        if not path.is_file():
            print(f"report: no results at {path}; run bench/voice_loop.py first", file=sys.stderr)
            return 2
        r = json.loads(path.read_text())
        results.append((path, r))
        for name, runs in systems_of(r).items():
            if name in systems:  # the same name from another file is another setup
                name = f"{name} ({path.stem})"
            systems.setdefault(name, []).extend(runs)
        for run in r.get("runs", []):
            for v in run.values():
                if isinstance(v, dict):
                    budgets.update(v.get("budgets") or {})
    if not systems:
        print("report: the results hold no per-turn runs", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    reference = args.reference or ("omni" if "omni" in systems else next(iter(systems)))
    rows = summarize(systems, reference)
    images = plot(systems, budgets, args.out)
    omni = [t for run in systems.get("omni", next(iter(systems.values()))) for t in run]
    text = markdown(results, rows, hit_rates(omni, budgets), budgets, images, reference)
    (args.out / "report.md").write_text(text)
    print(text)
    print(f"wrote {args.out / 'report.md'} and {', '.join(images)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
