#!/usr/bin/env python3
"""Fuzz every entry point: cases, accepted, clear errors, crashes, hangs, unanswered commands.

    python bench/fuzz.py [--cases 10000] [--node-cases 10000] [--server-cases 10000] [--wyoming-cases 10000]
                         [--entry NAME] [--out bench/results/fuzz.json]

Each entry of bench/fuzzing.py is fed `--cases` hypothesis cases in this process: a case is
accepted, refused with omni's clear error (a message that prints and publishes), a crash (any
other exception) or a hang (over 10 s). Then the same MQTT command and audio/in strategies go to
a real smart-home node over a real Mosquitto on loopback, one at a time: a command is answered
when its ack or error event arrives (an audio chunk the node cannot take, when its error does);
none may go unanswered, and the node must still answer a question at the end. Then Realtime
events and REST bodies go to a running server (`launch.py serve`'s, in this process): see
run_server. Crashes are
printed with the first case that caused each. Target: 0 crashes, 0 hangs, 0 unanswered.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzzing import (AUDIO_BYTES, COMMANDS, ENTRIES, REALTIME_EVENTS, REST_BODIES, WYOMING_STREAMS,  # noqa: E402
                     Entry)

HANG_S = 10


class Hang(Exception):
    pass


def _alarm(*_: Any) -> None:
    raise Hang


def run_entry(entry: Entry, cases: int) -> dict[str, Any]:
    counts = collections.Counter()
    crashes: dict[str, str] = {}
    slowest = [0.0]
    signal.signal(signal.SIGALRM, _alarm)

    @settings(max_examples=cases, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(entry.strategy)
    def one(value: Any) -> None:
        counts["cases"] += 1
        t0 = time.perf_counter()
        signal.alarm(HANG_S)
        try:
            entry.target(value)
            counts["accepted"] += 1
        except Hang:
            counts["hangs"] += 1
            crashes.setdefault("hang", repr(value)[:300])
        except entry.clear:
            counts["clear errors"] += 1
        except Exception as e:  # noqa: BLE001 - a crash: counted, and the first case kept
            counts["crashes"] += 1
            where = traceback.extract_tb(e.__traceback__)[-1]
            crashes.setdefault(f"{type(e).__name__} at {Path(where.filename).name}:{where.lineno}",
                               f"{e!s:.200} <- {value!r:.300}")
        finally:
            signal.alarm(0)
            slowest[0] = max(slowest[0], time.perf_counter() - t0)

    t0 = time.monotonic()
    one()
    return {"cases": counts["cases"], "accepted": counts["accepted"], "clear errors": counts["clear errors"],
            "crashes": counts["crashes"], "hangs": counts["hangs"], "unanswered": None,
            "slowest_s": round(slowest[0], 3), "seconds": round(time.monotonic() - t0, 1), "first_crashes": crashes}


def draw(strategy: st.SearchStrategy, n: int) -> list[Any]:
    got: list[Any] = []

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def take(value: Any) -> None:
        got.append(value)

    take()
    return got


def carried(level: str) -> bool:
    """A topic level a broker takes: valid UTF-8 with no control characters or non-characters
    (MQTT 3.1.1 section 1.5.3, as Mosquitto enforces it) and no wildcard or separator."""
    return not any(c in "+#/" or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or "\ud800" <= c <= "\udfff"
                   or 0xFDD0 <= ord(c) <= 0xFDEF or (ord(c) & 0xFFFE) == 0xFFFE for c in level)


async def run_node(commands: list[tuple[str, bytes]], chunks: list[bytes]) -> dict[str, dict[str, Any]]:
    """The cases to a real node, one at a time; each must be answered (ack or error)."""
    import tempfile

    from brokers import Mosquitto, NodeThread
    from mqttclient import watching

    from omni.audio.io import decode_wav_chunk
    from omni.errors import InputError

    base = "omni/fuzz"
    broker = Mosquitto(Path(tempfile.mkdtemp(prefix="fuzz-mosq-"))).start()
    node = NodeThread("smart-home", [f"mqtt.broker={broker.url}", "mqtt.node_id=fuzz", "mqtt.discovery.enabled=false"]).start()
    out: dict[str, dict[str, Any]] = {}
    try:
        async with watching(broker.port, [f"{base}/event/ack", f"{base}/event/error"]) as w:
            for entry, cases in (("mqtt command (node)", commands), ("audio/in chunk (node)", chunks)):
                counts = collections.Counter()
                t0 = time.monotonic()
                for case in cases:
                    counts["cases"] += 1
                    if entry.startswith("mqtt"):
                        name, payload = case
                        topic, answer_due = f"{base}/cmd/{name}", True
                        # a name that is no single topic level (a + or # or / in it), or that
                        # MQTT does not carry (Mosquitto drops a client whose topic holds a control
                        # character or a non-character), is not a command topic the node can get
                        if not name or not carried(name):
                            counts["not a command topic"] += 1
                            continue
                    else:
                        topic, payload = f"{base}/audio/in", case
                        try:
                            decode_wav_chunk(payload)
                            answer_due = len(payload) > 262_144
                        except InputError:
                            answer_due = True
                    # a command's ack or error names the command; an audio chunk's error, the topic
                    answers = ((lambda m: "command" in m.json) if entry.startswith("mqtt")
                               else (lambda m: m.json.get("topic") == topic))
                    seen = len(w.messages)
                    await w.client.publish(topic, payload, qos=1)
                    if not answer_due:
                        counts["accepted"] += 1
                        continue
                    try:
                        m = await w.wait(answers, 10, after=seen)
                        counts["clear errors" if m.topic.endswith("/error") else "accepted"] += 1
                    except (AssertionError, TimeoutError):
                        counts["unanswered"] += 1
                out[entry] = {"cases": counts["cases"], "accepted": counts["accepted"],
                              "clear errors": counts["clear errors"], "crashes": 0, "hangs": 0,
                              "unanswered": counts["unanswered"], "seconds": round(time.monotonic() - t0, 1),
                              "not a command topic": counts["not a command topic"]}
            # and it still answers a question
            seen = len(w.messages)
            await w.publish(f"{base}/cmd/ask", {"id": "fuzz-after", "text": "What is the capital of France?"})
            m = await w.wait(lambda m: m.json.get("id") == "fuzz-after", 60, after=seen)
            out["mqtt command (node)"]["answers after"] = m.topic.rsplit("/", 1)[1]
    finally:
        summary = node.stop()
        broker.stop()
    if node.error is not None or summary is None:
        for v in out.values():
            v["crashes"] += 1
    return out


def run_server(events: list[str], bodies: list[tuple[str, str, bytes]]) -> dict[str, dict[str, Any]]:
    """The cases to a real `serve` (desktop pipeline, loopback): Realtime events over one WebSocket,
    each followed by a probe (a retrieve of no item) that must be answered within 10 s; REST bodies
    one request each. A crash: an `error` event with code server_error, a closed connection, an
    HTTP 5xx. After them the server must still answer a question on both."""
    import urllib.error
    import urllib.request

    import websockets.sync.client
    from serving import Running

    out: dict[str, dict[str, Any]] = {}
    with Running(None, max_sessions=64) as srv:
        url = srv.url.replace("http", "ws") + "/v1/realtime?model=fuzz"
        counts, crashes = collections.Counter(), {}
        t0 = time.monotonic()

        def connect() -> Any:
            ws = websockets.sync.client.connect(url, max_size=None, open_timeout=30)
            assert json.loads(ws.recv(30))["type"] == "session.created"
            return ws

        ws = connect()
        for i, raw in enumerate(events):
            counts["cases"] += 1
            probe = f"probe-{i}"
            try:
                try:
                    raw.encode()
                    ws.send(raw)
                except UnicodeEncodeError:  # a lone surrogate: no UTF-8 text frame can carry it
                    ws.send(raw.encode("utf-8", "surrogatepass"))  # so a binary frame of those bytes
                ws.send(json.dumps({"type": "conversation.item.retrieve", "item_id": "no-such", "event_id": probe}))
                errors, deadline = [], time.monotonic() + HANG_S
                while True:
                    ev = json.loads(ws.recv(max(0.01, deadline - time.monotonic())))
                    if ev.get("type") == "error":
                        if ev["error"].get("event_id") == probe:
                            break
                        errors.append(ev["error"])
                bad = [e for e in errors if e.get("code") == "server_error"]
                if bad:
                    counts["crashes"] += 1
                    crashes.setdefault(bad[0]["message"][:80], raw[:300])
                else:
                    counts["clear errors" if errors else "accepted"] += 1
            except TimeoutError:
                counts["hangs"] += 1
                crashes.setdefault("hang", raw[:300])
                ws.close()
                ws = connect()
            except Exception as e:  # noqa: BLE001 - the connection closed under it
                counts["crashes"] += 1
                crashes.setdefault(f"{type(e).__name__}: {e}"[:80], raw[:300])
                ws = connect()
        ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}))
        ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What is the capital of France?"}]}}))
        ws.send(json.dumps({"type": "response.cancel"}))  # one may be under way from a case
        ws.send(json.dumps({"type": "response.create"}))
        after, deadline = "", time.monotonic() + 120
        while not after and time.monotonic() < deadline:
            ev = json.loads(ws.recv(120))
            if ev["type"] == "response.done" and ev["response"]["status"] == "completed":
                after = json.dumps(ev["response"]["output"])
        ws.close()
        out["realtime event (server)"] = {
            "cases": counts["cases"], "accepted": counts["accepted"], "clear errors": counts["clear errors"],
            "crashes": counts["crashes"], "hangs": counts["hangs"], "unanswered": None,
            "seconds": round(time.monotonic() - t0, 1), "answers after": "paris" in after.lower(),
            "first_crashes": crashes}

        counts, crashes = collections.Counter(), {}
        t0 = time.monotonic()
        for route, kind, body in bodies:
            counts["cases"] += 1
            req = urllib.request.Request(srv.url + route, data=body, headers={"Content-Type": kind})
            try:
                with urllib.request.urlopen(req, timeout=HANG_S * 6) as r:
                    r.read()
                counts["accepted"] += 1
            except urllib.error.HTTPError as e:
                detail = e.read()[:200]
                if e.code >= 500:
                    counts["crashes"] += 1
                    crashes.setdefault(f"{e.code} on {route}: {detail!r}"[:100], repr(body[:300]))
                else:
                    counts["clear errors"] += 1
            except TimeoutError:
                counts["hangs"] += 1
                crashes.setdefault(f"hang on {route}", repr(body[:300]))
        req = urllib.request.Request(srv.url + "/v1/chat/completions", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"messages": [{"role": "user", "content":
                                                                    "What is the capital of France?"}]}).encode())
        with urllib.request.urlopen(req, timeout=120) as r:
            answer = json.loads(r.read())["choices"][0]["message"]["content"]
        out["REST body (server)"] = {
            "cases": counts["cases"], "accepted": counts["accepted"], "clear errors": counts["clear errors"],
            "crashes": counts["crashes"], "hangs": counts["hangs"], "unanswered": None,
            "seconds": round(time.monotonic() - t0, 1), "answers after": "paris" in answer.lower(),
            "first_crashes": crashes}
    return out


def run_wyoming(streams: list[bytes]) -> dict[str, dict[str, Any]]:
    """Each stream on a connection of its own to a real `launch.py wyoming` server (smart-home
    pipeline, loopback), then `describe`: it is answered (`info`), or the stream broke the
    framing and the connection closed after an `error` event. A crash: closed with no error,
    or an error with code server-error; a hang: neither within 10 s (60 s for a stream that asks
    the dialogue). After them the server must still answer."""
    import socket

    from serving import Running

    from fuzzing import wyoming_frame

    from omni.wyoming.handler import STALL_S
    from omni.wyoming.server import WyomingOptions, WyomingServer

    counts, crashes = collections.Counter(), {}
    probe = wyoming_frame("describe", None, None)
    with Running(None, pipeline="smart-home",
                 server=WyomingServer(WyomingOptions(uri="tcp://127.0.0.1:0", zeroconf=False))) as srv:
        host, port = srv.url.removeprefix("tcp://").rsplit(":", 1)
        t0 = time.monotonic()

        def exchange(data: bytes, limit: float) -> list[dict[str, Any]]:
            got: list[dict[str, Any]] = []
            with socket.create_connection((host, int(port)), timeout=limit) as s:
                s.sendall(data + probe)
                f = s.makefile("rb")
                deadline = time.monotonic() + limit
                while time.monotonic() < deadline:
                    line = f.readline()
                    if not line:
                        break
                    ev = json.loads(line)
                    if ev.get("data_length"):
                        ev["data"] = json.loads(f.read(ev["data_length"]))
                    if ev.get("payload_length"):
                        f.read(ev["payload_length"])
                    got.append(ev)
                    if ev["type"] == "info":
                        break
                else:
                    raise TimeoutError
            return got

        for data in streams:
            counts["cases"] += 1
            try:
                # a payload announced longer than sent waits STALL_S for the rest: a hang is longer than that
                got = exchange(data, 60 if b'"transcript"' in data else HANG_S + STALL_S)
            except (TimeoutError, socket.timeout):
                counts["hangs"] += 1
                crashes.setdefault("hang", repr(data[:300]))
                continue
            except OSError as e:  # reset by the server mid-send: it closed on a broken stream
                got = [{"type": "error", "data": {"code": "closed", "text": str(e)}}]
            errors = [e for e in got if e["type"] == "error"]
            if any((e.get("data") or {}).get("code") == "server-error" for e in errors) or (
                    not got or (got[-1]["type"] != "info" and not errors)):
                counts["crashes"] += 1
                crashes.setdefault(str([e["type"] for e in got])[:80], repr(data[:300]))
            else:
                counts["clear errors" if errors else "accepted"] += 1
        after = exchange(wyoming_frame("transcript", {"text": "What is the capital of France?"}, None), 60)
    return {"wyoming stream (server)": {
        "cases": counts["cases"], "accepted": counts["accepted"], "clear errors": counts["clear errors"],
        "crashes": counts["crashes"], "hangs": counts["hangs"], "unanswered": None,
        "seconds": round(time.monotonic() - t0, 1),
        "answers after": any("paris" in str((e.get("data") or {}).get("text", "")).lower() for e in after),
        "first_crashes": crashes}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--node-cases", type=int, default=10_000)
    ap.add_argument("--server-cases", type=int, default=10_000, help="Realtime events and REST bodies to a "
                    "running server (0: none)")
    ap.add_argument("--wyoming-cases", type=int, default=10_000, help="Wyoming event streams to a running "
                    "`launch.py wyoming` server (0: none)")
    ap.add_argument("--entry", action="append", help="only these entries (repeatable)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fuzz.json")
    args = ap.parse_args()
    results: dict[str, Any] = {}
    for name, entry in ENTRIES.items():
        if args.entry and name not in args.entry:
            continue
        print(f"fuzzing {name}: {args.cases} cases ...", flush=True)
        results[name] = run_entry(entry, args.cases)
        print(f"  {json.dumps({k: v for k, v in results[name].items() if k != 'first_crashes'})}", flush=True)
    if args.node_cases:
        print(f"fuzzing the node over MQTT: {args.node_cases} commands and {args.node_cases} audio chunks ...",
              flush=True)
        results |= asyncio.run(run_node(draw(COMMANDS, args.node_cases), draw(AUDIO_BYTES, args.node_cases)))
    if args.server_cases:
        print(f"fuzzing a running server: {args.server_cases} Realtime events and {args.server_cases} REST bodies ...",
              flush=True)
        results |= run_server(draw(REALTIME_EVENTS, args.server_cases), draw(REST_BODIES, args.server_cases))
    if args.wyoming_cases:
        print(f"fuzzing a Wyoming server: {args.wyoming_cases} event streams ...", flush=True)
        results |= run_wyoming(draw(WYOMING_STREAMS, args.wyoming_cases))
    cols = ["cases", "accepted", "clear errors", "crashes", "hangs", "unanswered"]
    print(f"\n{'entry':24s}" + "".join(f"{c:>14s}" for c in cols))
    for name, r in results.items():
        print(f"{name:24s}" + "".join(f"{'-' if r.get(c) is None else r[c]:>14}" for c in cols))
    for name, r in results.items():
        for where, case in r.get("first_crashes", {}).items():
            print(f"  crash in {name}: {where}: {case}".encode("utf-8", "backslashreplace").decode())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M"), "cases_per_entry": args.cases,
                                    "node_cases": args.node_cases, "entries": results}, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    bad = sum(r["crashes"] + r["hangs"] + (r.get("unanswered") or 0) + (r.get("answers after") is False)
              for r in results.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
