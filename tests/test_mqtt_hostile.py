"""The node as a hostile or careless MQTT client finds it (issue 18, cases 1, 2 and 7): the real
program (`launch.py smart-home`) over a real Mosquitto. Every command is answered, a bad one with
an error that names its id; the bad ones change nothing after them: the console goes on printing,
every turn's metrics record arrives, SIGTERM exits 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from helpers import ROOT
from mqttclient import event, watching

from tests.brokers import Mosquitto

pytestmark = pytest.mark.slow

BASE = "omni/h1"


def raw(d: str) -> bytes:
    """A payload as a client writes it: JSON escapes (\\ud800) left as they are."""
    return d.encode()


async def test_hostile_commands_are_each_answered_and_change_nothing_after_them(broker: Mosquitto, tmp_path):
    metrics = tmp_path / "m.jsonl"
    node = subprocess.Popen([sys.executable, "launch.py", "smart-home", "--broker", broker.url, "--node-id", "h1",
                             "--metrics", str(metrics), "--set", "mqtt.discovery.enabled=false"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        async with watching(broker.port, [f"{BASE}/#"]) as w:
            await w.wait(lambda m: m.topic == f"{BASE}/status" and m.payload == b"online", 180)
            hostile = [  # (command, payload, id named back, the error says)
                ("mute", raw('{"id": "m\\ud800", "on": false}'), "m\\ud800", "id: not valid Unicode"),
                ("ask", raw('{"id": "s1", "text": "Hi \\ud800"}'), "s1", "text: not valid Unicode"),
                ("ask", b'{"id": "d1", "text": ' + b"[" * 1000 + b"]" * 1000 + b"}", None, "nests deeper than 8"),
                ("ask", b"[" * 10_000 + b"]" * 10_000, None, "over the limit"),
                ("reboot", raw('{"id": "u1"}'), "u1", "unknown command 'reboot'"),
                ("say", json.dumps({"id": "l1", "text": "Word " * 400}).encode(), "l1", "text: 2000 characters is too long (at most 400)"),
            ]
            for name, payload, _, _ in hostile:
                await w.client.publish(f"{BASE}/cmd/{name}", payload, qos=1)
            errors: list = []
            for _, _, cid, why in hostile:
                errors.append(await w.wait(lambda m, why=why: m.topic.endswith("/event/error")
                                           and why in m.json["message"] and all(m is not e for e in errors), 10))
                assert errors[-1].json.get("id") == cid, errors[-1].json
            assert not w.on(f"{BASE}/event/ack")  # none of them was acted on
            # an ask after them: acked, answered, its reply names the request
            await w.publish(f"{BASE}/cmd/ask", {"id": "q1", "text": "What is the capital of France?"})
            turn = (await w.wait(event("/event/ack", id="q1"), 10)).json["turn"]
            reply = await w.wait(event("/event/reply", turn=turn), 120)
            assert reply.json["request"] == "q1" and "paris" in reply.json["text"].lower()
            record = await w.wait(event("/event/metrics", turn=turn), 30)
            assert record.json["request"] == "q1"
    finally:
        node.send_signal(signal.SIGTERM)
        out, err = node.communicate(timeout=60)
    assert node.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "Logging error" not in err, err[-3000:]
    assert "Paris" in out and "node stopped" in out, out[-2000:]  # the console printed on
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["turn"] for r in lines] == [turn] and "paris" in lines[0]["reply"].lower()


async def test_a_long_announcement_does_not_hold_up_the_answer_to_a_question(broker: Mosquitto):
    """A `say` plays whole (here about 20 s); a question asked meanwhile is answered in words
    (event/sentence) while it plays, and spoken after it."""
    node = subprocess.Popen([sys.executable, "launch.py", "smart-home", "--broker", broker.url, "--node-id", "h2",
                             "--set", "mqtt.discovery.enabled=false"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = "omni/h2"
    try:
        async with watching(broker.port, [f"{base}/#"]) as w:
            await w.wait(lambda m: m.topic == f"{base}/status" and m.payload == b"online", 180)
            text = ("The kitchen will be cleaned tomorrow morning, so please put the dishes away tonight "
                    "and leave the counters clear. ") * 3
            await w.publish(f"{base}/cmd/say", {"id": "a1", "text": text[:400]})
            said = (await w.wait(event("/event/ack", id="a1"), 10)).json["turn"]
            await w.wait(event("/event/sentence", turn=said), 30)  # it is being spoken
            await w.publish(f"{base}/cmd/ask", {"id": "a2", "text": "What is the capital of France?"})
            asked = (await w.wait(event("/event/ack", id="a2"), 10)).json["turn"]
            answer = await w.wait(lambda m: event("/event/sentence", turn=asked)(m) and "paris" in m.json["text"].lower(), 60)
            assert not [m for m in w.on(f"{base}/event/reply") if m.json["turn"] == said], \
                "the question's answer came only after the announcement ended"
            done = await w.wait(event("/event/reply", turn=said), 60)
            spoken = await w.wait(event("/event/reply", turn=asked), 60)
            assert answer.t < done.t < spoken.t and spoken.json["request"] == "a2"
    finally:
        node.send_signal(signal.SIGTERM)
        node.communicate(timeout=60)
    assert node.returncode == 0
