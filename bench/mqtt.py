#!/usr/bin/env python3
"""The smart-home node over MQTT: overhead, command throughput, memory, in one run.

    python bench/mqtt.py [--repeats 2] [--rate 1000] [--commands 10000] [--out bench/results/mqtt.json]

A real Mosquitto on loopback and the node as a user runs it (`launch.py smart-home --broker`,
a process of its own, so its memory is its own).
1. Text question -> first reply event: each corpus text sent as cmd/ask; the client times
   publish -> first event/sentence; the node's own time from receiving the command to that
   sentence comes from its events (ack.ts -> sentence.ts, one clock); MQTT overhead = the
   difference. The node's LLM first-token time per turn (metrics) is shown beside it.
2. Throughput: --commands cheap commands (mute, listen, settings: state changes, no speech)
   published at --rate per second, QoS 1; every one must come back as an ack.
3. Memory: the node's RSS before and after those commands (the first 1,000 are a warm-up).
Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omni.runtime.metrics import percentile as pct  # noqa: E402
from tests.brokers import Mosquitto  # noqa: E402
from tests.mqttclient import event, watching  # noqa: E402

NODE = "bench"
BASE = f"omni/{NODE}"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def questions(w: Any, texts: list[str], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for r in range(repeats):
        for i, text in enumerate(texts):
            cid = f"q{r}-{i}"
            t0 = time.time()
            await w.publish(f"{BASE}/cmd/ask", {"id": cid, "text": text})
            ack = await w.wait(event("/event/ack", id=cid), 30)
            turn = ack.json["turn"]
            sent = await w.wait(event("/event/sentence", turn=turn, index=0), 60)
            t_first = time.time() - (time.monotonic() - sent.t)  # when the client received it
            metrics = await w.wait(event("/event/metrics", turn=turn), 60)
            e2e = (t_first - t0) * 1000
            inside = (sent.json["ts"] - ack.json["ts"]) * 1000
            llm = metrics.json["stages"].get("llm", {})
            rows.append({"text": text, "e2e_first_ms": round(e2e, 1), "node_ms": round(inside, 1),
                         "overhead_ms": round(e2e - inside, 1), "llm_first_ms": llm.get("ms"),
                         "route_ms": llm.get("route_ms"), "backend": llm.get("backend")})
            await asyncio.sleep(0.5)
    return rows


async def throughput(w: Any, n: int, rate: float, tag: str) -> dict[str, Any]:
    kinds = [("mute", lambda i: {"on": i % 2 == 0}), ("listen", lambda i: {"on": True}),
             ("settings", lambda i: {"set": {"llm.temperature": 0.2 + (i % 2) * 0.1}})]
    start = len(w.messages)
    t0 = time.monotonic()
    sent_at: dict[str, float] = {}
    batch = max(1, int(rate / 100))  # a batch every 10 ms
    for i in range(0, n, batch):
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        pubs = []
        for j in range(i, min(n, i + batch)):
            name, body = kinds[j % len(kinds)]
            cid = f"{tag}-{j}"
            sent_at[cid] = time.monotonic()
            pubs.append(w.publish(f"{BASE}/cmd/{name}", {"id": cid, **body(j)}))
        await asyncio.gather(*pubs)
    send_s = time.monotonic() - t0
    deadline = time.monotonic() + 60
    acked: dict[str, float] = {}
    errors = 0
    i = start
    while len(acked) < n and time.monotonic() < deadline:
        while i < len(w.messages):
            m = w.messages[i]
            i += 1
            if m.topic.endswith("/event/ack"):
                cid = m.json["id"]
                if cid in sent_at:
                    acked[cid] = m.t
            elif m.topic.endswith("/event/error") and str(m.json.get("id", "")).startswith(tag):
                errors += 1
        await asyncio.sleep(0.05)
    lat = [(acked[c] - sent_at[c]) * 1000 for c in acked]
    return {"commands": n, "target_rate": rate, "sent_rate": round(n / send_s, 1), "acked": len(acked),
            "lost": n - len(acked), "errors": errors, "ack_ms_p50": round(pct(lat, 50) or 0, 1),
            "ack_ms_p95": round(pct(lat, 95) or 0, 1)}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--commands", type=int, default=10_000)
    ap.add_argument("--broker-nodelay", choices=["on", "off"], default="on",
                    help="Mosquitto's set_tcp_nodelay (its default is off)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "mqtt.json")
    args = ap.parse_args()
    manifest = json.loads((ROOT / "bench" / "corpus" / "manifest.json").read_text())
    texts = [e["text"] for e in manifest][:10]
    tmp = Path(tempfile.mkdtemp(prefix="omni-bench-mqtt-"))
    broker = Mosquitto(tmp / "mosq", nodelay=args.broker_nodelay == "on").start()
    proc = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "smart-home", "--broker", broker.url,
                             "--node-id", NODE, "--quiet"], cwd=tmp, stdout=subprocess.DEVNULL,
                            stderr=open(tmp / "node.log", "wb"))
    try:
        async with watching(broker.port, [f"{BASE}/#"]) as w:
            w.client.pending_calls_threshold = 10_000  # the bench publishes many at once on purpose
            await w.wait(lambda m: m.topic == f"{BASE}/status" and m.payload == b"online", 180)
            await asyncio.sleep(2)
            rows = await questions(w, texts, args.repeats)
            rss0 = rss_mb(proc.pid)
            warm = await throughput(w, 1000, args.rate, "warm")
            rss1 = rss_mb(proc.pid)
            main_run = await throughput(w, args.commands, args.rate, "run")
            rss2 = rss_mb(proc.pid)
            w.messages.clear()
    finally:
        proc.terminate()
        proc.wait(60)
        broker.stop()
    e2e = [r["e2e_first_ms"] for r in rows]
    over = [r["overhead_ms"] for r in rows]
    llm = [r["llm_first_ms"] for r in rows if r["llm_first_ms"] is not None]
    inside = [r["node_ms"] for r in rows]
    result = {
        "broker_nodelay": args.broker_nodelay,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "questions": {"n": len(rows), "e2e_first_ms_p50": pct(e2e, 50), "node_ms_p50": pct(inside, 50),
                      "llm_first_ms_p50": pct(llm, 50), "overhead_ms_p50": pct(over, 50),
                      "overhead_ms_p95": pct(over, 95), "rows": rows},
        "throughput_warmup": warm, "throughput": main_run,
        "memory_mb": {"after_questions": round(rss0, 1), "after_warmup_1000": round(rss1, 1),
                      f"after_{args.commands}": round(rss2, 1), "growth": round(rss2 - rss1, 1)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{'text question -> first reply event':44s} p50 {pct(e2e, 50):7.1f} ms")
    print(f"{'  inside the node (receipt -> sentence)':44s} p50 {pct(inside, 50):7.1f} ms  "
          f"(LLM first token p50 {pct(llm, 50) or 0:.1f} ms)")
    print(f"{'  MQTT overhead (both ways, loopback)':44s} p50 {pct(over, 50):7.1f} ms  p95 {pct(over, 95):.1f} ms")
    for name, t in (("warm-up", warm), ("commands", main_run)):
        print(f"{name:12s} {t['commands']:6d} at {t['sent_rate']:7.1f}/s: acked {t['acked']}, lost {t['lost']}, "
              f"errors {t['errors']}, ack p50 {t['ack_ms_p50']} ms p95 {t['ack_ms_p95']} ms")
    print(f"node RSS: {rss0:.0f} MB after questions, {rss1:.0f} MB after 1,000 commands, {rss2:.0f} MB after "
          f"{args.commands:,} more ({rss2 - rss1:+.1f} MB)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    asyncio.run(main())
