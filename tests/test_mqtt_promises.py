"""What docs/smart-home.md promises of the node, each shown end to end through a real Mosquitto:
mute silences the reply (which goes on), listen off drops the microphone, remote audio past the
buffer is refused chunk by chunk, and commands sent while the node is away are carried out when
it is back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from omni.audio.io import wav_bytes
from omni.transports.mqtt import NodeRunOptions
from tests.brokers import Mosquitto, NodeThread
from tests.helpers import envelope, read_wav, say, silence
from tests.mqttclient import event, watching

pytestmark = pytest.mark.slow

NODE = "p1"
BASE = f"omni/{NODE}"


def state(**want):
    return lambda m: m.topic == f"{BASE}/state" and all(m.json[k] == v for k, v in want.items())


async def ask(w, text: str, cid: str, base: str = BASE) -> int:
    await w.publish(f"{base}/cmd/ask", {"id": cid, "text": text})
    return (await w.wait(event("/event/ack", id=cid), 10)).json["turn"]


async def speak(w, audio: np.ndarray, rate: int = 16000, base: str = BASE) -> None:
    """A remote microphone: WAV chunks of 100 ms published in real time."""
    chunk = rate // 10
    t0 = time.monotonic()
    for i in range(0, len(audio), chunk):
        await w.publish(f"{base}/audio/in", wav_bytes(audio[i:i + chunk], rate), qos=0)
        await asyncio.sleep(max(0.0, t0 + (i + chunk) / rate - time.monotonic()))


def question(text: str) -> np.ndarray:
    return np.concatenate([silence(0.3), say(text), silence(1.5)])


async def test_mute_silences_the_reply_and_listen_off_drops_the_microphone(broker: Mosquitto, tmp_path: Path):
    out = tmp_path / "said.wav"
    node = NodeThread("smart-home", [f"mqtt.broker={broker.url}", f"mqtt.node_id={NODE}"],
                      NodeRunOptions(audio_out=out)).start()
    try:
        async with watching(broker.port, [f"{BASE}/#"]) as w:
            await w.client.publish(f"{BASE}/cmd/mute", b"ON", qos=1)
            await w.wait(state(muted=True), 10)
            muted = await ask(w, "What is the capital of France?", "mute-1")
            reply = await w.wait(event("/event/reply", turn=muted), 60)
            assert "paris" in reply.json["text"].lower(), "muted, the reply still goes on"
            await w.client.publish(f"{BASE}/cmd/mute", b"OFF", qos=1)
            await w.wait(state(muted=False), 10)
            heard = await ask(w, "What is the capital of Italy?", "mute-2")
            await w.wait(event("/event/reply", turn=heard), 60)
            # listen off: a spoken question is dropped; on again, the next one is heard
            await w.publish(f"{BASE}/cmd/listen", {"id": "listen-1", "on": False})
            await w.wait(state(listening=False), 10)
            mark = len(w.messages)
            await speak(w, question("What is the capital of Germany?"))
            await w.publish(f"{BASE}/cmd/listen", {"id": "listen-2", "on": True})
            await w.wait(state(listening=True), 10)
            await speak(w, question("What is the capital of Spain?"))
            spoken = await w.wait(event("/event/transcript"), 30, after=mark)
            # the audio goes through the pipeline in order: had the first question been heard,
            # its transcript would have come before this one
            assert "spain" in spoken.json["text"].lower(), spoken.json
            await w.wait(event("/event/reply", turn=spoken.json["turn"]), 60)
            for t in (muted, heard):
                await w.wait(event("/event/metrics", turn=t), 10)
            metrics = {m.json["turn"]: m.json for m in w.on(f"{BASE}/event/metrics")}
    finally:
        node.stop()
    audio, rate = read_wav(out)
    env = envelope(audio, rate)

    def level(turn: int) -> float:
        start = metrics[turn]["reply_start_s"]
        assert start is not None, metrics[turn]
        return float(env[int(start / 0.05): int((start + 1.5) / 0.05)].max())

    assert level(heard) > 0.05, "unmuted, the reply is in the speaker's output"
    assert level(muted) == 0.0, "muted, nothing of it is"


async def test_remote_audio_past_the_buffer_is_refused_chunk_by_chunk(broker: Mosquitto):
    """40 s of audio published at once: the node plays it in real time, so past its 30 s buffer
    each chunk is refused with an error event; the node serves on."""
    node = NodeThread("smart-home", [f"mqtt.broker={broker.url}", "mqtt.node_id=p2"]).start()
    try:
        async with watching(broker.port, ["omni/p2/#"]) as w:
            chunk = silence(0.5)
            for _ in range(80):
                await w.publish("omni/p2/audio/in", wav_bytes(chunk, 16000), qos=1)
            first = await w.wait(lambda m: m.topic == "omni/p2/event/error", 30)
            assert "buffer is full" in first.json["message"], first.json
            turn = await ask(w, "What is the capital of France?", "after-flood", base="omni/p2")
            reply = await w.wait(lambda m: m.topic == "omni/p2/event/reply" and m.json["turn"] == turn, 120)
            assert "paris" in reply.json["text"].lower()
            refused = [m for m in w.on("omni/p2/event/error") if "buffer is full" in m.json["message"]]
    finally:
        summary = node.stop()
    # 40 s sent, 30 s kept (and what was played meanwhile): about 10 s of 0.5 s chunks refused
    assert 10 <= len(refused) <= 20, len(refused)
    assert summary and summary["audio chunks"] == 80 - len(refused), summary


async def test_commands_sent_while_the_node_is_away_are_carried_out_when_it_is_back(broker: Mosquitto):
    args = [f"mqtt.broker={broker.url}", "mqtt.node_id=p3"]
    NodeThread("smart-home", args).start().stop()  # the node's persistent session now exists
    async with watching(broker.port, ["omni/p3/#"]) as w:
        await w.publish("omni/p3/cmd/ask", {"id": "while-away", "text": "What is the capital of France?"})
        node = NodeThread("smart-home", args).start()
        try:
            ack = await w.wait(event("/event/ack", id="while-away"), 30)
            reply = await w.wait(lambda m: m.topic == "omni/p3/event/reply" and m.json["turn"] == ack.json["turn"], 60)
            assert "paris" in reply.json["text"].lower()
        finally:
            node.stop()
