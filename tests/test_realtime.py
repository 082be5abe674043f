"""The OpenAI Realtime API at /v1/realtime, driven by the official `openai` client's
`client.realtime.connect()` against omni serving the desktop pipeline (its real models): speech
in, speech out, text sessions, cancel, truncate, manual commits, bad input, the session bound.

Every server event is checked against the SDK's own event types (strictly: the client itself
would accept a malformed event and hand back None fields)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import openai
import pytest
import soxr
from openai.types.realtime import RealtimeServerEvent
from prometheus_client.parser import text_string_to_metric_families
from pydantic import TypeAdapter

from helpers import silence, transcribe, voice, words
from serving import Running

pytestmark = pytest.mark.slow
SERVER_EVENT = TypeAdapter(RealtimeServerEvent)


class Rt:
    """One connection: sends the client's events, collects the server's (each validated)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: list[dict[str, Any]] = []

    def next(self) -> dict[str, Any]:
        ev = json.loads(self.conn.recv_bytes())
        if not ev["type"].startswith("omni."):
            parsed = SERVER_EVENT.validate_python(ev)  # raises on a field the SDK's types do not allow
            assert parsed.type == ev["type"], ev
        self.events.append(ev)
        return ev

    def until(self, kind: str, timeout: float = 120.0, **match: Any) -> dict[str, Any]:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            ev = self.next()
            if ev["type"] == kind and all(ev.get(k) == v for k, v in match.items()):
                return ev
        raise AssertionError(f"no {kind} within {timeout} s; got {[e['type'] for e in self.events[-30:]]}")

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def speak(self, audio16k: np.ndarray, chunk_s: float = 0.1) -> None:
        x = soxr.resample(audio16k, 16000, 24000)
        pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
        step = int(24000 * chunk_s) * 2
        for i in range(0, len(pcm), step):
            self.conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i:i + step]).decode())

    def say(self, text: str) -> None:
        self.conn.conversation.item.create(item={"type": "message", "role": "user",
                                                 "content": [{"type": "input_text", "text": text}]})
        self.conn.response.create()

    def audio(self, response_id: str) -> np.ndarray:
        raw = b"".join(base64.b64decode(e["delta"]) for e in self.of("response.output_audio.delta")
                       if e["response_id"] == response_id)
        return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def served() -> Iterator[Running]:
    with Running(None) as r:
        yield r


@pytest.fixture
def client(served: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key="unused-on-loopback", max_retries=0)


@pytest.fixture
def rt(client: openai.OpenAI) -> Iterator[Rt]:
    with client.realtime.connect(model="omni-desktop") as conn:
        r = Rt(conn)
        created = r.until("session.created")
        assert created["session"]["type"] == "realtime" and created["session"]["output_modalities"] == ["audio"]
        yield r


def test_a_spoken_question_is_heard_and_answered_in_speech(rt: Rt, served: Running) -> None:
    rt.speak(np.concatenate([silence(0.5), voice("italy", "en-gb"), silence(1.5)]))
    done = rt.until("response.done")
    order = [e["type"] for e in rt.events]
    for a, b in [("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"),
                 ("input_audio_buffer.speech_stopped", "input_audio_buffer.committed"),
                 ("input_audio_buffer.committed", "conversation.item.input_audio_transcription.completed"),
                 ("conversation.item.input_audio_transcription.completed", "response.created"),
                 ("response.created", "response.output_audio.delta")]:
        assert order.index(a) < order.index(b), order
    (heard,) = rt.of("conversation.item.input_audio_transcription.completed")
    assert {"capital", "italy"} <= words(heard["transcript"]), heard
    assert heard["item_id"] == rt.of("input_audio_buffer.committed")[0]["item_id"]
    assert 0.4 < rt.of("input_audio_buffer.speech_started")[0]["audio_start_ms"] / 1000 < 0.8
    r = done["response"]
    assert r["status"] == "completed" and r["output_modalities"] == ["audio"], r
    (msg,) = r["output"]
    said = msg["content"][0]["transcript"]
    assert "rome" in said.lower(), said
    assert "".join(e["delta"] for e in rt.of("response.output_audio_transcript.delta")) == said
    audio = rt.audio(r["id"])
    assert len(audio) / 24000 > 1.0
    assert "rome" in words(transcribe(audio, 24000)), "the reply audio does not say what its transcript does"
    assert r["usage"]["input_tokens"] > 10 and r["usage"]["output_tokens"] > 3, r["usage"]

    status, text = served.get("/metrics")  # the turn is counted and timed for Prometheus
    assert status == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("omni_turns_total", (("end", "complete"),))] >= 1
    assert samples[("omni_v2v_seconds_count", ())] >= 1 and samples[("omni_v2v_seconds_sum", ())] > 0.1
    assert samples[("omni_stage_seconds_count", (("stage", "stt"),))] >= 1
    assert samples[("omni_realtime_events_total", (("type", "input_audio_buffer.append"),))] > 10


def test_a_text_session_answers_typed_messages_and_remembers_them(rt: Rt) -> None:
    rt.conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                    "instructions": "You are a helpful assistant. Answer in one short sentence."})
    updated = rt.until("session.updated")["session"]
    assert updated["output_modalities"] == ["text"] and updated["instructions"].startswith("You are a helpful")
    rt.say("Hello, my name is Ada and I live in Lisbon.")
    rt.until("response.done")
    rt.say("Which city do I live in?")
    done = rt.until("response.done")["response"]
    assert done["status"] == "completed" and done["output_modalities"] == ["text"]
    text = done["output"][0]["content"][0]["text"]
    assert "lisbon" in text.lower(), text
    assert "".join(e["delta"] for e in rt.of("response.output_text.delta")
                   if e["response_id"] == done["id"]) == text
    assert not rt.of("response.output_audio.delta")  # a text session makes no speech


def test_a_cancelled_reply_stops_and_a_truncate_keeps_what_was_heard(rt: Rt) -> None:
    rt.say("Tell me a long story about a dragon who learns to bake bread, in at least six sentences.")
    first = rt.until("response.output_audio.delta")
    rt.conn.response.cancel()
    done = rt.until("response.done")["response"]
    assert done["status"] == "cancelled" and done["status_details"]["reason"] == "client_cancelled", done
    (item,) = done["output"]
    assert item["status"] == "incomplete"
    rt.conn.conversation.item.truncate(item_id=first["item_id"], content_index=0, audio_end_ms=800)
    truncated = rt.until("conversation.item.truncated")
    assert truncated["item_id"] == first["item_id"] and truncated["audio_end_ms"] == 800
    rt.conn.conversation.item.retrieve(item_id=first["item_id"])
    kept = rt.until("conversation.item.retrieved")["item"]["content"][0]["transcript"]
    assert 0 < len(kept.split()) <= 4 and kept.endswith("…"), kept  # 0.8 s of speech: a few words
    rt.conn.response.cancel()  # nothing under way now
    assert rt.until("error")["error"]["code"] == "response_cancel_not_active"
    rt.say("What is the capital of France?")  # the session goes on
    assert "paris" in rt.until("response.done")["response"]["output"][0]["content"][0]["transcript"].lower()


def test_with_turn_detection_off_only_the_clients_commit_ends_a_turn(rt: Rt) -> None:
    rt.conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    assert rt.until("session.updated")["session"]["audio"]["input"]["turn_detection"] is None
    rt.speak(np.concatenate([silence(0.3), voice("italy", "en-gb"), silence(2.5)]))
    rt.conn.send_raw(json.dumps({"type": "conversation.item.retrieve", "item_id": "none-such"}))
    rt.until("error")  # the appends before it were taken
    time.sleep(2.0)
    rt.conn.send_raw(json.dumps({"type": "conversation.item.retrieve", "item_id": "none-such"}))
    rt.until("error")
    assert not rt.of("input_audio_buffer.committed") and not rt.of("input_audio_buffer.speech_started")
    rt.conn.input_audio_buffer.commit()
    rt.conn.response.create()  # what a push-to-talk client sends: the committed turn's answer, no second one
    rt.until("input_audio_buffer.committed")
    heard = rt.until("conversation.item.input_audio_transcription.completed")
    assert {"capital", "italy"} <= words(heard["transcript"])
    assert "rome" in rt.until("response.done")["response"]["output"][0]["content"][0]["transcript"].lower()
    assert not rt.of("error")[2:], rt.of("error")  # (the two probes above)
    assert len(rt.of("response.created")) == 1
    rt.conn.input_audio_buffer.commit()  # nothing said since
    assert rt.until("error")["error"]["code"] == "input_audio_buffer_commit_empty"


def test_bad_events_get_clear_errors_and_the_session_goes_on(rt: Rt) -> None:
    bad = [
        ("{not json", "invalid_json"),
        ("[" * 5000 + "]" * 5000, "invalid_json"),  # refused before it is parsed
        (json.dumps({"type": "no.such.event"}), "unknown_event"),
        (json.dumps([1, 2]), "invalid_event"),
        (json.dumps({"type": "input_audio_buffer.append", "audio": "%%%"}), "invalid_value"),
        (json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"abc").decode()}), "invalid_value"),
        (json.dumps({"type": "conversation.item.delete", "item_id": "item_x"}), "item_not_found"),
        (json.dumps({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
            "format": {"type": "audio/pcmu"}}}}}), "unsupported"),
        (json.dumps({"type": "session.update", "session": {"type": "realtime", "tools": [
            {"type": "function", "name": "f", "parameters": {}}]}}), "unsupported"),
        (json.dumps({"type": "session.update", "session": {"type": "realtime", "audio": {"output": {
            "speed": 9}}}}), "invalid_value"),
        (json.dumps({"type": "response.create"}), "no_input"),
        (json.dumps({"type": "conversation.item.create", "item": {"type": "function_call_output",
                                                                 "call_id": "c", "output": "{}"}}), "unsupported"),
    ]
    for raw, code in bad:
        rt.conn.send_raw(raw)
        err = rt.until("error")["error"]
        assert err["code"] == code and err["message"], (raw, err)
    rt.conn.send_raw(json.dumps({"type": "conversation.item.delete", "item_id": "item_x", "event_id": "mine_7"}))
    assert rt.until("error")["error"]["event_id"] == "mine_7"  # which event it was about
    rt.say("What is the capital of France?")
    assert "paris" in rt.until("response.done")["response"]["output"][0]["content"][0]["transcript"].lower()


def test_beyond_max_sessions_a_client_is_told_busy(client: openai.OpenAI) -> None:
    conns = [client.realtime.connect(model="omni-desktop").enter() for _ in range(4)]
    try:
        for c in conns:
            assert Rt(c).until("session.created")
        with client.realtime.connect(model="omni-desktop") as extra:
            err = Rt(extra).until("error")["error"]
            assert err["code"] == "session_limit" and "busy" in err["message"]
    finally:
        for c in conns:
            c.close()
    # room again once they closed: the server frees a place when its session has closed (a
    # reply under way is cancelled and the pipeline drained), a moment after the client went;
    # until then it says busy, close code 1013, try again later, and a client does
    import websockets.exceptions

    deadline, tries = time.monotonic() + 15, 0
    while True:
        tries += 1
        try:
            with client.realtime.connect(model="omni-desktop") as again:
                ev = Rt(again).next()
                if ev["type"] == "session.created":
                    break
                assert ev["type"] == "error" and ev["error"]["code"] == "session_limit", ev
        except websockets.exceptions.ConnectionClosedError as e:
            assert e.rcvd is not None and e.rcvd.code == 1013, e
        assert time.monotonic() < deadline, f"still busy after {tries} tries: the closed sessions' places were not freed"
        time.sleep(0.2)


def test_a_page_of_another_site_may_not_open_a_session(served: Running) -> None:
    import websockets.exceptions
    import websockets.sync.client

    url = served.url.replace("http", "ws") + "/v1/realtime?model=omni-desktop"
    with pytest.raises(websockets.exceptions.InvalidStatus) as e:
        websockets.sync.client.connect(url, origin="http://evil.example")  # type: ignore[arg-type]
    assert e.value.response.status_code == 403
    with websockets.sync.client.connect(url, origin="http://127.0.0.1:8080") as ws:  # type: ignore[arg-type]
        assert json.loads(ws.recv())["type"] == "session.created"


def test_a_cancel_sent_at_once_stops_a_reply_not_yet_begun(rt: Rt) -> None:
    rt.conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
    rt.until("session.updated")
    rt.say("Tell me a long story about a dragon who learns to bake bread.")
    rt.conn.response.cancel()  # before a word of it is written
    done = rt.until("response.done")["response"]
    assert done["status"] == "cancelled" and done["status_details"]["reason"] == "client_cancelled", done
    rt.say("What is the capital of France?")
    answer = rt.until("response.done")["response"]["output"][0]["content"][0]["text"]
    assert "paris" in answer.lower() and "dragon" not in answer.lower(), answer  # the cancelled one is not carried


def test_a_client_gone_mid_reply_ends_its_session_and_frees_its_place(client: openai.OpenAI,
                                                                     served: Running) -> None:
    def open_now() -> int:
        return json.loads(served.get("/healthz")[1])["sessions_open"]

    before = open_now()
    with client.realtime.connect(model="omni-desktop") as conn:
        rt = Rt(conn)
        rt.say("Tell me a long story about a dragon who learns to bake bread.")
        rt.until("response.output_audio.delta")
        assert open_now() == before + 1
    t0 = time.monotonic()
    while open_now() > before and time.monotonic() - t0 < 15:
        time.sleep(0.1)
    assert open_now() == before, "the session of a client that went away is still open"


async def test_a_client_that_does_not_read_is_closed_not_buffered_for() -> None:
    """A peer whose socket is full (it does not read): its events back up in the session's
    queue, which is bounded; at the bound the session ends and closes its conversation. The
    socket here is a stand-in whose send never returns (a real one needs megabytes unread)."""
    import asyncio

    from omni.app.host import Host
    from omni.config import load_pipeline
    from omni.serve.realtime import session as rs
    from omni.app.prometheus import Stats

    class Stuck:
        def __init__(self) -> None:
            self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            self.closed: tuple[Any, ...] | None = None

        async def receive(self) -> dict[str, Any]:
            return await self.inbox.get()

        async def send_text(self, text: str) -> None:
            await asyncio.Event().wait()  # never read

        async def close(self, *args: Any) -> None:
            self.closed = args

    async with Host() as host:
        cfg = load_pipeline("desktop")
        ws = Stuck()
        session = rs.RealtimeSession(ws, host.sessions(cfg), Stats("t", lambda: 0, lambda: []), model="m")  # type: ignore[arg-type]
        run = asyncio.ensure_future(session.run())
        while session.conv is None:
            await asyncio.sleep(0.05)
        for _ in range(rs.QUEUE):  # cheap events, each answered with one: the queue fills
            await ws.inbox.put({"type": "websocket.receive", "text": json.dumps({"type": "response.cancel"})})
        await asyncio.wait_for(run, 30)
        assert ws.closed is not None and ws.closed[0] == 1008, ws.closed
        assert session.conv.result is not None, "its conversation was not closed"
        assert host.sessions(cfg).open_now() == 0


def test_the_pipelines_device_actions_are_its_tools_and_a_call_is_reported(rt: Rt) -> None:
    tools = {t["name"]: t for t in rt.events[0]["session"]["tools"]}
    assert {"light", "volume"} <= set(tools), tools
    assert tools["light"]["parameters"]["properties"]["room"]["enum"] == ["kitchen", "bedroom", "living room"]
    rt.say("Turn on the kitchen light, please.")
    done = rt.until("response.done")["response"]
    calls = [o for o in done["output"] if o["type"] == "function_call"]
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [("light", {"room": "kitchen", "state": "on"})]
    (args_done,) = rt.of("response.function_call_arguments.done")
    assert args_done["call_id"] == calls[0]["call_id"] and args_done["name"] == "light"
    said = [o for o in done["output"] if o["type"] == "message"][0]["content"][0]["transcript"]
    assert "kitchen" in said.lower(), said  # and it says what it did
