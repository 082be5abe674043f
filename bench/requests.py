#!/usr/bin/env python3
"""Fresh requests outside the everyday set, through omni's dialogue, judged as a listener would.

    python bench/requests.py [--probe 1,2,3] [--set K=V ...] [--out bench/results/requests.json]
    python bench/requests.py --rescore RUN.json    # a saved run judged again by today's judge

bench/quality/requests.yaml holds three probe sets of commands, requests no action allows and a
few other turns, written after the everyday set's dev half stopped showing how commands and
honest noes fail (its header says how each set was used). The items go in a fixed shuffled order,
six to a conversation, as text transcripts through the desktop pipeline's dialogue stage (the
same harness and judge as `bench/quality.py --parts text`). Prints the tally per probe set and
every failed reply, and writes JSON. About 2 minutes for the 160 items on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import conversations  # noqa: E402

REQUESTS = ROOT / "bench" / "quality" / "requests.yaml"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--probe", default="1,2,3", help="which probe sets (comma separated)")
    ap.add_argument("--set", action="append", default=[], help="pipeline override, e.g. llm.temperature=0")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "requests.json")
    ap.add_argument("--rescore", type=Path, help="judge a saved run's replies again (written back); no model runs")
    args = ap.parse_args()
    if args.rescore:
        await rescore(args.rescore)
        return
    want = {int(p) for p in args.probe.split(",")}
    results = {}
    for probe in sorted(want):
        items = [{**it, "split": "dev"} for it in yaml.safe_load(REQUESTS.read_text())["items"] if it["probe"] == probe]
        random.Random(1).shuffle(items)  # kinds mixed, in the same order every run
        # a follow-up right after the item it answers ("The bedroom." after "Light on, please.")
        items = [x for it in items if not it.get("after")
                 for x in [it, *(f for f in items if f.get("after") == it["id"])]]
        judged, timing = await conversations.run_dialogue(conversations.conversations(items), args.set)
        rep = conversations.report(judged)["dev"]
        conversations.print_report(f"probe {probe} ({', '.join(args.set) or 'defaults'}): {timing}", {"all": rep})
        conversations.failures(judged, n=len(judged))
        results[f"probe{probe}"] = {**rep, "timing": timing, "items": judged}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"overrides": args.set, **results}, indent=1))
    print(f"\nwrote {args.out}")


async def rescore(path: Path) -> None:
    """Each probe of a saved run judged again by today's judge, written back to `path`."""
    old = json.loads(path.read_text())
    every = yaml.safe_load(REQUESTS.read_text())["items"]
    for key in [k for k in old if k.startswith("probe")]:
        # (an id is a probe's own: two probes may use the same)
        items = {it["id"]: {**it, "split": "dev"} for it in every if f"probe{it['probe']}" == key}
        judged = await conversations.rejudge(old[key]["items"], old.get("overrides", []), items)
        rep = conversations.report(judged)["dev"]
        conversations.print_report(f"{key} (judged again)", {"all": rep})
        old[key] = {**old[key], **rep, "items": judged}
    path.write_text(json.dumps(old, indent=1, default=str) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
