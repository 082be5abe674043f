"""The parts of the smart-home node, without a pipeline: commands, dedupe, device templates,
the live input, WAV chunks, the outbox, the embedded broker."""

from __future__ import annotations

import asyncio
import io
import json
import wave

import aiomqtt
import numpy as np
import pytest

from omni.audio.io import decode_wav_chunk, wav_bytes
from omni.audio.stream import LiveInput
from omni.dialogue.tools import ActionSpec
from omni.errors import ConfigError, InputError
from omni.frames import EndOfStream, InputAudio, Transcript, Turn
from omni.mqtt.broker import EmbeddedBroker
from omni.mqtt.commands import CommandError, Dedupe, parse_command
from omni.mqtt.config import DeviceTopic
from omni.mqtt.link import Endpoint, Link, Outgoing
from omni.mqtt.node import check_devices, render
from tests.mqttclient import received, running_link

LIGHT = ActionSpec(name="light", description="a light",
                   parameters={"room": {"enum": ["kitchen", "living room"]}, "state": {"enum": ["on", "off"]}})


def test_commands_are_checked_against_their_schema() -> None:
    cmd = parse_command("ask", b'{"id": "a", "text": "hello"}', 1000)
    assert (cmd.name, cmd.id, cmd.body["text"]) == ("ask", "a", "hello")
    assert parse_command("mute", b" on ", 1000).body["on"] is True  # a Home Assistant switch
    cases = [("ask", b"[1, 2]", "is not of type 'object'"), ("ask", b'{"id": "", "text": "x"}', "should be non-empty"),
             ("listen", b'{"id": "x"}', "'on' is a required property"), ("say", b"\xff\xfe", "not JSON"),
             ("settings", b'{"id": "x", "set": {"Bad Key": 1}}', "does not match"),
             ("ask", b'{"id": "x", "text": "' + b"a" * 2000 + b'"}', "over the limit")]
    for name, payload, why in cases:
        with pytest.raises(CommandError, match=why):
            parse_command(name, payload, 1500)


def test_dedupe_remembers_a_bounded_number_of_ids() -> None:
    d = Dedupe(3)
    assert [d.first_time(x) for x in "abca"] == [True, True, True, False]
    d.first_time("d")
    d.first_time("e")  # "b" and "c" are forgotten; "a" was refreshed when seen again
    assert not d.first_time("a") and d.first_time("b") and d.duplicates == 2


def test_device_templates_publish_only_declared_values() -> None:
    dev = DeviceTopic(topic="home/{room}/light/set", payload="{state}",
                      values={"room": {"living room": "living_room"}, "state": {"on": "ON", "off": "OFF"}})
    check_devices({"light": dev}, {"light": LIGHT})
    assert render(dev, {"room": "living room", "state": "on"}) == ("home/living_room/light/set", b"ON")
    js = DeviceTopic(topic="zigbee2mqtt/{room}/set", payload={"state": "{state}", "transition": 1})
    assert json.loads(render(js, {"room": "kitchen", "state": "off"})[1]) == {"state": "off", "transition": 1}
    free = ActionSpec(name="say_to", description="x", parameters={"who": {"type": "string"}})
    with pytest.raises(ConfigError, match="no enum"):
        check_devices({"say_to": DeviceTopic(topic="home/{who}")}, {"say_to": free})
    with pytest.raises(ConfigError, match="no action named"):
        check_devices({"door": DeviceTopic(topic="home/door")}, {"light": LIGHT})
    with pytest.raises(ValueError, match="wildcards"):
        DeviceTopic(topic="home/#")


def test_wav_chunks_any_common_rate_stereo_and_refusals() -> None:
    x = np.sin(np.arange(4410) / 10).astype(np.float32) * 0.5
    y, rate = decode_wav_chunk(wav_bytes(x, 44100))
    assert rate == 44100 and np.abs(y - x).max() < 1e-3
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wf:
        wf.setnchannels(2), wf.setsampwidth(2), wf.setframerate(16000)
        wf.writeframes(np.repeat((x * 32767).astype("<i2"), 2).tobytes())
    y, rate = decode_wav_chunk(buf.getvalue())
    assert rate == 16000 and len(y) == len(x)
    with pytest.raises(InputError, match="not supported"):
        decode_wav_chunk(wav_bytes(x, 12345))
    with pytest.raises(InputError, match="not a WAV"):
        decode_wav_chunk(b"")


async def test_live_input_runs_on_a_clock_fills_gaps_and_keeps_order() -> None:
    live = LiveInput(16000, chunk_ms=32, buffer_s=1.0)
    live.push(np.full(8000, 0.5, np.float32), 8000)  # 1 s at 8 kHz -> 16000 samples
    with pytest.raises(OverflowError, match="buffer is full"):
        live.push(np.zeros(100, np.float32), 16000)
    turn = Turn(id=1, speech_start=0, speech_end=0, t_speech_end=0.0, sample_rate=16000)
    got: list = []

    async def consume() -> None:
        async for f in live.frames():
            got.append(f)
            if isinstance(f, InputAudio) and f.start == 512 * 3:
                live.inject(Transcript(turn=turn, text="hi"))
            if isinstance(f, InputAudio) and f.start >= 16000 + 512 * 2:
                live.stop()

    await asyncio.wait_for(consume(), 5)
    audio = [f for f in got if isinstance(f, InputAudio)]
    assert [f.start for f in audio] == list(range(0, audio[-1].start + 1, 512))  # no gap in the timeline
    i = next(i for i, f in enumerate(got) if isinstance(f, Transcript))
    assert isinstance(got[i - 1], InputAudio) and got[i - 1].start == 512 * 3  # before the next chunk
    heard = np.concatenate([f.samples for f in audio])
    assert abs(heard[2000:14000].mean() - 0.5) < 0.01 and heard[16600:].max() == 0.0  # then silence
    assert isinstance(got[-1], EndOfStream)


async def test_outbox_keeps_the_newest_and_counts_what_it_dropped() -> None:
    async def nothing(m: aiomqtt.Message) -> None:
        pass

    link = Link(Endpoint("127.0.0.1", 1), subscriptions=[], on_message=nothing, outbox=3)
    for i in range(5):
        link.send(Outgoing("t", str(i).encode()))
    assert [m.payload for m in link.outbox] == [b"2", b"3", b"4"] and link.dropped == 2


async def test_embedded_broker_carries_messages_both_ways() -> None:
    broker = await EmbeddedBroker(port=0).start()
    try:
        async with running_link(Endpoint(broker.host, broker.port, client_id="t"), [("a/#", 1)],
                                birth=lambda: [Outgoing("a/status", b"online", retain=True)],
                                will=Outgoing("a/status", b"offline", retain=True)) as (link, got):
            async with asyncio.timeout(10):
                await link.connected.wait()
            async with aiomqtt.Client(broker.host, broker.port, identifier="peer") as peer:
                await peer.publish("a/cmd", b"x", qos=1)
            await received(got, 2)
            assert sorted(m.payload for m in got) == [b"online", b"x"]
    finally:
        await broker.stop()
