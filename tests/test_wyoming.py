"""`launch.py wyoming`: omni's recogniser, voice, wake words and dialogue over the Wyoming
protocol, driven by the `wyoming` package's own AsyncTcpClient (and, in test_home_assistant_*,
by Home Assistant's own Wyoming integration in its venv). The server is omni's, on the
smart-home pipeline's real models; only the bad-input cases write bytes by hand."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest
import soxr
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice
from wyoming.wake import Detect

from helpers import recording, say, silence, similar, transcribe, voice, words
from mqttclient import event, watching
from serving import Running

from omni.wyoming.server import WyomingOptions, WyomingServer

pytestmark = pytest.mark.slow
ADVERTISED = f"omni-test-{os.getpid()}"
"""The name the test server is advertised under by zeroconf (unique: other runs may share the network)."""


@pytest.fixture(scope="module")
def running(broker) -> Iterator[Running]:
    """The smart-home pipeline over Wyoming, its device actions going to a real Mosquitto."""
    with Running(None, pipeline="smart-home", sets=[("mqtt.broker", broker.url)],
                 server=WyomingServer(WyomingOptions(uri="tcp://127.0.0.1:0", name=ADVERTISED))) as r:
        yield r


@pytest.fixture(scope="module")
def served(running) -> tuple[str, int]:
    u = urlparse(running.url)
    assert u.hostname and u.port
    return u.hostname, u.port


def pcm(x: np.ndarray, rate: int = 16000, channels: int = 1) -> bytes:
    y = np.clip(x, -1, 1)
    if channels == 2:
        y = np.stack([y, y], axis=1).reshape(-1)
    return (y * 32767).astype("<i2").tobytes()


async def send_audio(client: AsyncTcpClient, audio: bytes, rate: int, width: int = 2, channels: int = 1,
                     chunk_s: float = 0.1) -> None:
    await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
    step = int(rate * chunk_s) * width * channels
    for i in range(0, len(audio), step):
        await client.write_event(AudioChunk(rate=rate, width=width, channels=channels, audio=audio[i:i + step]).event())
    await client.write_event(AudioStop().event())


async def events_until(client: AsyncTcpClient, last: str, timeout: float = 60) -> list[Event]:
    got: list[Event] = []
    async with asyncio.timeout(timeout):
        while True:
            ev = await client.read_event()
            assert ev is not None, f"the server closed the connection after {[e.type for e in got]}"
            got.append(ev)
            if ev.type == last:
                return got


async def test_describe_lists_the_recogniser_the_voice_the_wake_words_and_the_dialogue(served) -> None:
    async with AsyncTcpClient(*served) as client:
        await client.write_event(Describe().event())
        (ev,) = await events_until(client, "info")
    info = Info.from_event(ev)
    assert info.asr[0].installed and info.asr[0].models[0].name == "tiny.en" and info.asr[0].supports_transcript_streaming
    assert info.tts[0].voices[0].name == "joe" and info.tts[0].supports_synthesize_streaming
    assert {m.name for m in info.wake[0].models} == {"hey_jarvis", "alexa", "okay_nabu", "hey_mycroft"}
    assert info.handle[0].supports_handled_streaming and info.handle[0].supports_home_control


async def browse(zc: Any, seconds: float = 3.0) -> set[str]:
    """The names of the `_wyoming._tcp` services seen in `seconds` (as Home Assistant browses)."""
    from zeroconf.asyncio import AsyncServiceBrowser

    seen: set[str] = set()
    browser = AsyncServiceBrowser(zc.zeroconf, "_wyoming._tcp.local.", handlers=[
        lambda zeroconf, service_type, name, state_change: seen.add(name)])
    await asyncio.sleep(seconds)
    await browser.async_cancel()
    return seen


async def test_it_is_advertised_by_zeroconf_and_found_there_by_a_client(served) -> None:
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    zc = AsyncZeroconf()
    try:
        name = f"{ADVERTISED}._wyoming._tcp.local."
        seen = await browse(zc)
        if name not in seen:  # is there multicast at all? a service of the test's own, on the same zeroconf
            probe = AsyncServiceInfo("_wyoming._tcp.local.", f"probe-{ADVERTISED}._wyoming._tcp.local.",
                                     addresses=[bytes([127, 0, 0, 1])], port=9)
            await zc.async_register_service(probe)
            if f"probe-{ADVERTISED}._wyoming._tcp.local." not in await browse(zc):
                pytest.skip("no multicast on this machine: zeroconf cannot be tried")
            pytest.fail(f"{name} not advertised; seen {sorted(seen)}")
        info = AsyncServiceInfo("_wyoming._tcp.local.", name)
        assert await info.async_request(zc.zeroconf, 3000)
        host, port = info.parsed_addresses()[0], info.port
    finally:
        await zc.async_close()
    assert (host, port) == served
    async with AsyncTcpClient(host, port) as client:  # what Home Assistant's config flow does next
        await client.write_event(Describe().event())
        (ev,) = await events_until(client, "info")
    assert Info.from_event(ev).asr[0].name == "omni-stt"


@pytest.mark.parametrize("who", ["espeak en-gb, 22 kHz stereo", "a real reader, 16 kHz mono"])
async def test_speech_of_any_format_is_transcribed(served, who: str) -> None:
    if who.startswith("espeak"):
        x, expect, rate, channels = voice("italy", "en-gb"), "What is the capital of Italy?", 22050, 2
        audio = pcm(soxr.resample(x, 16000, 22050), channels=2)
    else:
        x, expect, rate, channels = recording("two_cities.wav", 0.7, 4.6), "It was the best of times, it was the worst of times.", 16000, 1
        audio = pcm(x)
    async with AsyncTcpClient(*served) as client:
        await client.write_event(Transcribe(language="en").event())
        await send_audio(client, audio, rate, channels=channels)
        got = await events_until(client, "transcript")
    kinds = [e.type for e in got]
    assert kinds[0] == "transcript-start" and "transcript-stop" in kinds, kinds
    text = Transcript.from_event(got[-1]).text
    assert similar(text, expect) >= 0.8, text
    streamed = "".join(e.data["text"] for e in got if e.type == "transcript-chunk")
    assert streamed.strip() == text


async def test_synthesize_speaks_the_text(served) -> None:
    async with AsyncTcpClient(*served) as client:
        t0 = time.monotonic()
        await client.write_event(Synthesize(text="The kitchen light is on.", voice=SynthesizeVoice(name="joe")).event())
        got = await events_until(client, "audio-stop")
    start = AudioStart.from_event(got[0])
    audio = b"".join(AudioChunk.from_event(e).audio for e in got if e.type == "audio-chunk")
    x = np.frombuffer(audio, "<i2").astype(np.float32) / 32768
    assert start.width == 2 and start.channels == 1 and len(x) / start.rate > 0.8
    heard = transcribe(x, start.rate)
    assert "kitchen" in words(heard) and similar(heard, "The kitchen light is on.") >= 0.75, heard
    assert time.monotonic() - t0 < 60


async def test_streamed_synthesis_speaks_each_sentence_as_it_is_written(served) -> None:
    async with AsyncTcpClient(*served) as client:
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="joe")).event())
        await client.write_event(SynthesizeChunk(text="The kitchen light ").event())
        await client.write_event(SynthesizeChunk(text="is on. The front").event())
        # the first sentence is complete: its audio comes before the rest is even written
        first = await events_until(client, "audio-chunk")
        assert first[0].type == "audio-start"
        await client.write_event(SynthesizeChunk(text=" door is locked.").event())
        await client.write_event(Synthesize(text="The kitchen light is on. The front door is locked.").event())
        await client.write_event(SynthesizeStop().event())
        rest = await events_until(client, "synthesize-stopped")
    got = first + rest
    assert [e.type for e in got].count("audio-start") == 1 and [e.type for e in got].count("audio-stop") == 1
    rate = AudioStart.from_event(got[0]).rate
    x = np.frombuffer(b"".join(AudioChunk.from_event(e).audio for e in got if e.type == "audio-chunk"),
                      "<i2").astype(np.float32) / 32768
    heard = transcribe(x, rate)
    assert {"kitchen", "door", "locked"} <= words(heard), heard  # once each: the plain synthesize was ignored
    assert len(x) / rate < 6.0, "the text was spoken twice"


async def test_the_wake_word_is_detected_and_its_absence_said(served) -> None:
    async with AsyncTcpClient(*served) as client:
        await client.write_event(Detect(names=["hey_jarvis"]).event())
        await send_audio(client, pcm(np.concatenate([silence(0.5), say("Hey Jarvis, what time is it?"), silence(0.5)])), 16000)
        got = await events_until(client, "detection")
    assert got[-1].data["name"] == "hey_jarvis" and got[-1].data["timestamp"] > 300
    hey = say("Hey Jarvis.")
    async with AsyncTcpClient(*served) as client:  # long enough that the server keeps only its window
        await client.write_event(Detect(names=["hey_jarvis"]).event())
        await send_audio(client, pcm(np.concatenate([silence(7.0), hey, silence(1.0)])), 16000)
        got = await events_until(client, "detection")
    assert 7000 < got[-1].data["timestamp"] <= 7000 + len(hey) / 16 + 500, got[-1].data  # ms in the stream, at the word
    async with AsyncTcpClient(*served) as client:
        await client.write_event(Detect(names=["hey_jarvis", "alexa"]).event())
        await send_audio(client, pcm(np.concatenate([silence(0.5), say("What is the capital of France?")])), 16000)
        got = await events_until(client, "not-detected")
    assert not [e for e in got if e.type == "detection"]


async def test_the_handler_answers_and_keeps_each_conversations_history(served) -> None:
    async def ask(text: str, cid: str) -> list[Event]:
        async with AsyncTcpClient(*served) as client:
            await client.write_event(Transcript(text=text, context={"conversation_id": cid}).event())
            return await events_until(client, "handled", 120)

    got = await ask("My name is Ada. What is the capital of France?", "conv-1")
    assert [e.type for e in got][0] == "handled-start" and "handled-stop" in [e.type for e in got]
    assert "paris" in got[-1].data["text"].lower() and got[-1].data["context"] == {"conversation_id": "conv-1"}
    assert "".join(e.data["text"] for e in got if e.type == "handled-chunk").strip() == got[-1].data["text"]
    again = await ask("What is my name?", "conv-1")
    assert "ada" in again[-1].data["text"].lower(), again[-1].data
    other = await ask("What is my name?", "conv-2")
    assert "ada" not in other[-1].data["text"].lower(), other[-1].data


async def test_a_handled_command_publishes_its_device_action_and_without_a_broker_none_is_claimed(
        served, running, broker) -> None:
    async def ask(text: str, cid: str) -> str:
        async with AsyncTcpClient(*served) as client:
            await client.write_event(Transcript(text=text, context={"conversation_id": cid}).event())
            return (await events_until(client, "handled", 120))[-1].data["text"]

    async with watching(broker.port, ["home/#", "omni/#"]) as w:
        reply = await ask("Could you switch the bedroom light on for me?", "act-1")
        cmd = await w.wait(lambda m: m.topic.startswith("home/"), timeout=30)
        act = await w.wait(event("event/action", action="light"), timeout=30)
    assert (cmd.topic, cmd.payload) == ("home/bedroom/light/set", b"ON"), reply
    assert act.json["args"] == {"room": "bedroom", "state": "on"} and act.json["via"] == "wyoming"
    assert "bedroom" in words(reply) and "light" in words(reply), reply

    service = running.server.service
    link, service.actions = service.actions, None  # as `launch.py wyoming` with no broker serves
    try:
        assert not service.info().handle[0].supports_home_control
        async with watching(broker.port, ["home/#"]) as w:
            reply = await ask("Could you switch the bedroom light off for me?", "act-2")
            await asyncio.sleep(1.0)
        assert not w.messages, [m.topic for m in w.messages]
        assert not re.search(r"\b(is|now|turned|switched) off\b|light off\.", reply.lower()), reply
    finally:
        service.actions = link


async def test_bad_input_gets_an_error_or_a_closed_connection_and_the_server_goes_on(served) -> None:
    host, port = served

    async def raw(data: bytes) -> list[dict[str, Any]]:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(data)
        await writer.drain()
        writer.write_eof()  # and nothing more comes: a payload cut short is cut short
        out = []
        async with asyncio.timeout(30):
            while line := await reader.readline():
                ev = json.loads(line)
                if ev.get("data_length"):
                    ev["data"] = json.loads(await reader.readexactly(ev["data_length"]))
                out.append(ev)
        writer.close()
        return out

    not_json = await raw(b"this is not json\n")
    assert not_json[0]["type"] == "error" and "not JSON" in not_json[0]["data"]["text"]
    short = await raw(b'{"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}, "payload_length": 1000}\n'
                      + b"\x00" * 10)
    assert short[0]["type"] == "error" and "shorter than announced" in short[0]["data"]["text"]
    async with AsyncTcpClient(host, port) as client:
        await client.write_event(Event(type="no-such-event"))
        assert (await client.read_event()).type == "error"
        await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=b"\x00" * 320).event())
        err = await client.read_event()
        assert err.type == "error" and "without audio-start" in err.data["text"]
        await client.write_event(Describe().event())  # the same connection goes on
        assert (await client.read_event()).type == "info"
    # a client gone mid-stream, then 50 at once
    async with AsyncTcpClient(host, port) as client:
        await client.write_event(Transcribe().event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=pcm(voice("italy", "en-gb"))[:16000]).event())

    async def describe() -> str:
        async with AsyncTcpClient(host, port) as client:
            await client.write_event(Describe().event())
            return (await events_until(client, "info", 60))[-1].type

    assert await asyncio.gather(*(describe() for _ in range(50))) == ["info"] * 50


def ha_python() -> str:
    py = os.environ.get("OMNI_HA_PYTHON") or str(
        Path(os.environ.get("OMNI_CACHE_DIR", Path.home() / ".cache" / "omni")) / "ha-2024.3.3" / "bin" / "python")
    assert Path(py).exists(), f"Home Assistant's venv is missing ({py}): `make setup` makes it"
    return py


def test_home_assistants_wyoming_integration_reads_omnis_info_and_uses_its_stt_and_tts(served, tmp_path) -> None:
    """Home Assistant's own code (its venv: homeassistant 2024.3.3 with the wyoming it pins) does
    what its config flow and providers do: loads the info, sees STT, TTS and wake word, and
    transcribes and speaks through omni."""
    question = tmp_path / "q.raw"
    question.write_bytes(pcm(np.concatenate([silence(0.3), voice("italy", "en-gb"), silence(0.3)])))
    out = subprocess.run([ha_python(), str(Path(__file__).with_name("ha_wyoming.py")), served[0], str(served[1]),
                          str(question)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout)
    assert set(got["platforms"]) >= {"stt", "tts", "wake_word"} and got["name"] == "omni-stt", got
    assert {"capital", "italy"} <= words(got["stt"]), got
    assert got["tts_format"] == "wav" and got["tts_seconds"] > 0.8, got


def test_the_command_line_refuses_a_uri_it_cannot_serve(capsys: pytest.CaptureFixture[str]) -> None:
    from omni.app.cli import main

    assert main(["wyoming", "--uri", "http://127.0.0.1:10700"]) == 2
    assert "tcp://HOST:PORT, unix:///PATH or stdio://" in capsys.readouterr().err
    assert main(["wyoming", "--uri", "tcp://127.0.0.1"]) == 2
    assert "needs a host and a port" in capsys.readouterr().err
