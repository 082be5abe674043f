"""The fuzz entries: for each way outside data enters omni, a hypothesis strategy of hostile and
careless inputs and the target it is fed to. A target either accepts a case or refuses it with
omni's clear error (`clear`); anything else it raises is a crash. Used by tests/test_fuzz.py (a
bounded number of cases, in CI) and bench/fuzz.py (10,000 and more per entry, with figures).

Each strategy mixes the structure the entry expects (a WAV header with odd fields, a command
with the right keys and wrong values, a pipeline file with one value changed) with plain noise
and the cases issue 18 found (lone surrogates, JSON nested 1,000 deep, absurd rates)."""

from __future__ import annotations

import io
import json
import struct
import tempfile
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]

from omni.errors import ConfigError, InputError  # noqa: E402


@dataclass(frozen=True)
class Entry:
    name: str
    strategy: st.SearchStrategy
    target: Callable[[Any], None]
    clear: tuple[type[BaseException], ...]
    """The errors that are a clear refusal (with a message a user can act on)."""


def check_message(e: BaseException) -> None:
    """A clear error's message is text a console and a JSON event can carry."""
    text = str(e)
    assert text.strip(), "an error without a message"
    text.encode("utf-8")  # no lone surrogate in it: printing or publishing it cannot fail
    assert "Traceback" not in text


# audio: files and network chunks ----------------------------------------------------------------
def _pcm(n: int) -> bytes:
    return (np.sin(np.arange(n) / 7.0) * 8000).astype("<i2").tobytes()


@st.composite
def wav_headers(draw: st.DrawFn) -> bytes:
    """A RIFF/WAVE file whose header fields are drawn from the odd and the absurd."""
    fmt_code = draw(st.sampled_from([1, 1, 1, 3, 0, 2, 0xFFFE, draw(st.integers(0, 0xFFFF))]))
    channels = draw(st.sampled_from([1, 2, 0, 3, 8, 255, 0xFFFF]))
    rate = draw(st.sampled_from([16000, 8000, 44100, 48000, 0, 1, 999, 12345, 768001, 2**31, 2**32 - 1]))
    bits = draw(st.sampled_from([16, 8, 24, 32, 0, 1, 7, 12, 64, 0xFFFF]))
    align = draw(st.sampled_from([channels * bits // 8 & 0xFFFF, 0, 1, 0xFFFF]))
    data = _pcm(draw(st.integers(0, 4000)))
    declared = draw(st.sampled_from([len(data), 0, len(data) * 2, 2**32 - 1, max(0, len(data) - 1)]))
    fmt = struct.pack("<HHIIHH", fmt_code, channels & 0xFFFF, rate & 0xFFFFFFFF,
                      (rate * max(channels, 1) * bits // 8) & 0xFFFFFFFF, align, bits & 0xFFFF)
    fmt_size = draw(st.sampled_from([16, 18, 14, 0, 40]))
    fmt_body = (fmt + b"\0" * 24)[:fmt_size] if fmt_size != 16 else fmt
    body = b"WAVE" + b"fmt " + struct.pack("<I", fmt_size) + fmt_body + b"data" + struct.pack("<I", declared) + data
    riff = b"RIFF" + struct.pack("<I", draw(st.sampled_from([len(body), 0, 2**32 - 1]))) + body
    cut = draw(st.sampled_from([len(riff), len(riff), draw(st.integers(0, len(riff)))]))
    return riff[:cut]


def _valid_wav(rate: int = 16000, n: int = 1600, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wf:
        wf.setnchannels(channels), wf.setsampwidth(2), wf.setframerate(rate)
        wf.writeframes(_pcm(n * channels))
    return buf.getvalue()


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A valid file with bytes flipped, cut or inserted."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:i + draw(st.integers(1, 64))]
        else:
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


AUDIO_BYTES = st.one_of(wav_headers(), mutated(_valid_wav()), mutated(_valid_wav(44100, 441, 2)),
                        st.binary(max_size=2048), st.just(b""), st.just(b"RIFF"))


def read_audio_bytes(data: bytes) -> None:
    from omni.audio.io import read_audio

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "in.wav"
        p.write_bytes(data)
        try:
            read_audio(p, 16000)
        except InputError as e:
            check_message(e)
            raise


def decode_chunk(data: bytes) -> None:
    from omni.audio.io import decode_wav_chunk

    try:
        decode_wav_chunk(data)
    except InputError as e:
        check_message(e)
        raise


# MQTT commands ----------------------------------------------------------------------------------
TEXTS = st.one_of(
    st.text(max_size=40), st.just("m\ud800"), st.just("Hi \ud800 there"), st.just("\udcff"),
    st.just("\x00\x1b[2J"), st.just("x" * 3000), st.just("What time is it?"), st.just(""),
    st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=5))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), TEXTS)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(TEXTS, inner, max_size=4)), max_leaves=12)
NAMES = st.one_of(st.sampled_from(["ask", "say", "listen", "mute", "settings"]),
                  st.sampled_from(["reboot", "", "ASK", "ask/x", "+", "\ud800"]), st.text(max_size=12))


@st.composite
def command_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A command object with its keys mostly right and its values drawn from anything."""
    body: dict[str, Any] = {}
    if draw(st.booleans()):
        body["id"] = draw(st.one_of(TEXTS, SCALARS))
    for key in draw(st.lists(st.sampled_from(["text", "on", "set", "extra", "id"]), max_size=3)):
        body[key] = draw(JSON_VALUES)
    if draw(st.booleans()):
        body["set"] = draw(st.dictionaries(st.sampled_from(
            ["llm.temperature", "tts.volume", "stt.model", "vad.threshold", "llm.system", "x", "a.b"]),
            SCALARS, max_size=3))
    return body


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A command of the right shape, its strings and numbers drawn from the odd."""
    name = draw(st.sampled_from(["ask", "say", "listen", "mute", "settings"]))
    body: dict[str, Any] = {"id": draw(TEXTS)}
    if name in ("ask", "say"):
        body["text"] = draw(TEXTS)
    elif name in ("listen", "mute"):
        body["on"] = draw(st.one_of(st.booleans(), SCALARS))
    else:
        body["set"] = draw(st.dictionaries(st.sampled_from(
            ["llm.temperature", "tts.volume", "tts.length_scale", "llm.max_tokens", "vad.threshold",
             "stt.model", "llm.system"]), SCALARS, min_size=1, max_size=2))
    return name, body


def _dumps(value: Any) -> bytes:
    # JSON as a client would send it; surrogates travel as \\ud800 escapes
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    n = draw(st.sampled_from([9, 50, 1000, 100_000]))
    opener = draw(st.sampled_from(["[", '{"a":']))
    closer = "]" if opener == "[" else "}"
    inner = opener * n + "1" + closer * n
    return f'{{"id": "deep", "text": {inner}}}'.encode() if draw(st.booleans()) else inner.encode()


PAYLOADS = st.one_of(command_bodies().map(_dumps), JSON_VALUES.map(_dumps), deep(), st.binary(max_size=256),
                     st.sampled_from([b"ON", b"off", b" On ", b"", b"{", b"null", b"[]", b"\xff\xfe"]))
COMMANDS = st.one_of(st.tuples(NAMES, PAYLOADS), well_formed().map(lambda c: (c[0], _dumps(c[1]))))


def parse(case: tuple[str, bytes]) -> None:
    from omni.mqtt.commands import CommandError, parse_command

    name, payload = case
    try:
        cmd = parse_command(name, payload, 16_384)
    except CommandError as e:
        check_message(e)
        if e.id is not None:
            e.id.encode("utf-8")  # the id is named back to the sender: it must be sendable
        raise
    json.dumps(cmd.body, ensure_ascii=False).encode("utf-8")  # an accepted command is valid text


# pipeline files and --set -----------------------------------------------------------------------
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))


def _leaves(node: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))] or [path]
    return [path]


@st.composite
def pipeline_texts(draw: st.DrawFn) -> str:
    """A bundled pipeline file with one to three values replaced by anything, or keys removed."""
    data = yaml.safe_load(draw(st.sampled_from(PIPELINES)).read_text())
    leaves = _leaves(data)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(leaves))
        if not path:
            continue
        parent = data
        try:
            for k in path[:-1]:
                parent = parent[k]
            if draw(st.integers(0, 4)) == 0 and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(JSON_VALUES)
        except (KeyError, IndexError, TypeError):
            continue
    text = yaml.safe_dump(data, allow_unicode=True) if draw(st.booleans()) else json.dumps(data)
    return text


PIPELINE_TEXTS = st.one_of(pipeline_texts(), st.text(max_size=200),
                           st.sampled_from(["", "[]", "null", "a: &a [*a]", "!!python/object:os.system {}",
                                            "stages: 5", "\ud800: 1", "a: " + "[" * 500]))


def load_text(text: str) -> None:
    from omni.config import load_pipeline

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "p.yaml"
        p.write_bytes(text.encode("utf-8", "surrogatepass"))  # a surrogate: bytes that are not UTF-8
        try:
            load_pipeline(str(p))
        except ConfigError as e:
            check_message(e)
            raise


KEYS = st.one_of(st.sampled_from(["stt.model", "llm.temperature", "tts.volume", "vad.threshold", "llm.queue.size",
                                  "llm.budget_ms", "mqtt.node_id", "mqtt.broker", "v2v_budget_ms", "camera.source",
                                  "llm.routing.order", "llm.backends.local.model", "nope.x", "", "."]),
                 st.text(max_size=20))
OVERRIDES = st.one_of(st.builds(lambda k, v: f"{k}={v}", KEYS, TEXTS), st.builds(
    lambda k, v: f"{k}={json.dumps(v)}", KEYS, JSON_VALUES), st.text(max_size=40))


def load_override(case: tuple[str, str]) -> None:
    from omni.config import load_pipeline

    pipeline, override = case
    try:
        load_pipeline(pipeline, [override])
    except ConfigError as e:
        check_message(e)
        raise


def _riff_size(data: bytes, size: int) -> bytes:
    return data[:4] + struct.pack("<I", size) + data[8:]


KNOWN: dict[str, list[Any]] = {
    "wav file": [_riff_size(_valid_wav(), 20)],
    "audio/in chunk": [_riff_size(_valid_wav(44100, 441, 2), 20)],  # wave's RuntimeError: found by bench/fuzz.py
    "mqtt command": [("mute", b'{"id": "m\\ud800", "on": false}'), ("ask", b'{"id": "a", "text": "Hi \\ud800"}'),
                     ("ask", b"[" * 1000 + b"]" * 1000), ("reboot", b'{"id": "r1"}')],
    "pipeline file": ["\ud800: 1", "stages: [" * 1000],
    "--set": [("smart-home", "mqtt.node_id=kitchen #"), ("desktop", "llm.system=\udcff"),
              ("desktop", "llm.system=" + "[" * 1000)],
}
"""Cases that broke omni once (issue 18, and what the fuzzer found): each test runs them first."""

ENTRIES = {e.name: e for e in [
    Entry("wav file", AUDIO_BYTES, read_audio_bytes, (InputError,)),
    Entry("audio/in chunk", AUDIO_BYTES, decode_chunk, (InputError,)),
    Entry("mqtt command", COMMANDS, parse, (InputError,)),
    Entry("pipeline file", PIPELINE_TEXTS, load_text, (ConfigError,)),
    Entry("--set", st.tuples(st.sampled_from(["desktop", "smart-home", "ar-glasses"]), OVERRIDES),
          load_override, (ConfigError,)),
]}


# the server: Realtime events and REST bodies (bench/fuzz.py sends them to a running server) --------
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64), st.floats(allow_nan=False),
                      st.text(max_size=30), st.sampled_from(["", "inf", "audio", "text", "user", "realtime", "\ud800"]))
JSON_VALUE = st.recursive(JSON_LEAF, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                            st.dictionaries(st.text(max_size=10), kids, max_size=4)),
                          max_leaves=12)
REALTIME_TYPES = ["session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
                  "input_audio_buffer.clear", "conversation.item.create", "conversation.item.delete",
                  "conversation.item.retrieve", "conversation.item.truncate", "response.create", "response.cancel",
                  "output_audio_buffer.clear"]


@st.composite
def realtime_events(draw: st.DrawFn) -> str:
    """One frame a Realtime client might send: mostly the right event with odd fields, some noise."""
    def maybe(value: Any) -> Any:
        return draw(st.one_of(st.just(value), JSON_VALUE))

    kind = draw(st.one_of(st.sampled_from(REALTIME_TYPES), st.text(max_size=40),
                          st.sampled_from(["response.text.delta", "session.created", "error"])))
    ev: dict[str, Any] = {"type": kind}
    if kind == "session.update":
        td = draw(st.one_of(st.none(), st.fixed_dictionaries({
            "type": st.sampled_from(["server_vad", "semantic_vad", "x"]), "threshold": JSON_LEAF,
            "silence_duration_ms": st.integers(-10, 100_000), "eagerness": st.sampled_from(["low", "high", "auto", 3]),
            "interrupt_response": JSON_LEAF, "create_response": JSON_LEAF})))
        session = {"type": maybe("realtime"), "output_modalities": maybe(draw(st.sampled_from([["audio"], ["text"]]))),
                   "instructions": maybe(draw(st.text(max_size=60))),
                   "audio": maybe({"input": {"turn_detection": td, "format": maybe({"type": "audio/pcm", "rate": 24000})},
                                   "output": {"voice": maybe("alloy"), "speed": maybe(1.0)}}),
                   "tool_choice": maybe("auto"), "max_output_tokens": maybe(8), "tools": maybe([])}
        ev["session"] = {k: v for k, v in session.items() if draw(st.booleans())}
    elif kind == "input_audio_buffer.append":
        raw = draw(st.binary(max_size=4800))
        ev["audio"] = draw(st.one_of(st.just(__import__("base64").b64encode(raw).decode()), JSON_VALUE))
    elif kind == "conversation.item.create":
        part = st.fixed_dictionaries({"type": st.sampled_from(["input_text", "output_text", "input_audio", "text", "x"]),
                                      "text": st.text(max_size=40), "audio": st.text(max_size=20)})
        ev["item"] = maybe({"type": draw(st.sampled_from(["message", "function_call_output", "x"])),
                            "role": draw(st.sampled_from(["user", "assistant", "system", "tool", "x"])),
                            "content": draw(st.one_of(st.lists(part, max_size=3), JSON_VALUE)),
                            "id": maybe(draw(st.text(max_size=70)))})
        if draw(st.booleans()):
            ev["previous_item_id"] = draw(JSON_VALUE)
    elif kind in ("conversation.item.delete", "conversation.item.retrieve", "conversation.item.truncate"):
        ev["item_id"] = draw(JSON_VALUE)
        ev["audio_end_ms"] = draw(st.one_of(st.integers(-5, 10**12), JSON_LEAF))
        ev["content_index"] = draw(st.one_of(st.integers(-1, 3), JSON_LEAF))
    elif kind == "response.create":
        ev["response"] = maybe({"output_modalities": maybe(["text"]), "instructions": maybe(None),
                                "conversation": maybe("auto")})
    for k, v in draw(st.dictionaries(st.text(max_size=12), JSON_VALUE, max_size=2)).items():
        ev.setdefault(k, v)
    mode = draw(st.integers(0, 19))
    if mode == 0:
        return draw(st.text(max_size=200))  # not JSON at all
    if mode == 1:
        return json.dumps(draw(JSON_VALUE))  # JSON, not an event
    if mode == 2:
        return "[" * 2000 + "]" * 2000
    return json.dumps(ev, ensure_ascii=draw(st.booleans()))


@st.composite
def rest_bodies(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """(route, content type, body): OpenAI REST bodies with odd fields, and noise. A chat that
    would run asks for 4 tokens (a short answer is not a hang); speech is of a short text."""
    route = draw(st.sampled_from(["/v1/chat/completions", "/v1/audio/speech", "/v1/audio/transcriptions"]))
    if route == "/v1/audio/transcriptions":
        data = draw(st.one_of(AUDIO_BYTES, st.binary(max_size=2000)))
        boundary = "fuzzb0undary"
        fmt = draw(st.sampled_from(["json", "text", "verbose_json", "srt", ""]))
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                f"Content-Type: audio/wav\r\n\r\n").encode() + data + (
            f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\n{fmt}\r\n"
            f"--{boundary}--\r\n").encode()
        if draw(st.integers(0, 9)) == 0:
            body = draw(st.binary(max_size=300))
        return route, f"multipart/form-data; boundary={boundary}", body
    if route == "/v1/chat/completions":
        msg = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "tool", "x"]),
                                     "content": st.one_of(st.text(max_size=40), JSON_VALUE)})
        body: Any = {"model": draw(JSON_LEAF), "messages": draw(st.one_of(st.lists(msg, max_size=3), JSON_VALUE)),
                     "stream": draw(st.booleans()), "temperature": draw(st.one_of(st.none(), st.floats(-1, 3))),
                     "tools": draw(st.one_of(st.none(), JSON_VALUE)),
                     "tool_choice": draw(st.one_of(st.sampled_from(["auto", "none", "required"]), JSON_VALUE))}
    else:
        body = {"model": "tts-1", "input": draw(st.text(max_size=30)), "voice": draw(st.one_of(
            st.sampled_from(["alloy", "joe", "nope", ""]), JSON_VALUE)),
                "response_format": draw(st.sampled_from(["wav", "pcm", "mp3", ""])), "speed": draw(JSON_LEAF)}
    body = {k: v for k, v in body.items() if draw(st.integers(0, 5))}
    if isinstance(body, dict) and route == "/v1/chat/completions":
        body["max_tokens"] = 4
    mode = draw(st.integers(0, 19))
    raw = (draw(st.binary(max_size=200)) if mode == 0 else json.dumps(draw(JSON_VALUE)).encode() if mode == 1
           else b"[" * 5000 + b"]" * 5000 if mode == 2 else json.dumps(body).encode())
    return route, "application/json", raw


REALTIME_EVENTS = realtime_events()
REST_BODIES = rest_bodies()


# Wyoming: event streams to `launch.py wyoming`'s server (bench/fuzz.py) -----------------------------
WYOMING_TYPES = ["describe", "transcribe", "audio-start", "audio-chunk", "audio-stop", "synthesize",
                 "synthesize-start", "synthesize-chunk", "synthesize-stop", "detect", "transcript", "ping",
                 "select-program", "handled"]


def wyoming_frame(kind: str, data: Any, payload: bytes | None, *, lie: int = 0) -> bytes:
    """One event as the protocol frames it (a JSON header line, its data, its payload); `lie`
    added to payload_length (a payload shorter or longer than announced)."""
    header: dict[str, Any] = {"type": kind, "version": "1.10.0"}
    body = json.dumps(data).encode() if data else b""
    if body:
        header["data_length"] = len(body)
    if payload is not None:
        header["payload_length"] = len(payload) + lie
    return json.dumps(header).encode() + b"\n" + body + (payload or b"")


@st.composite
def wyoming_streams(draw: st.DrawFn) -> bytes:
    """One to four events a Wyoming client might send: mostly the right ones with odd fields,
    some framing broken (a header not JSON, lengths that lie, huge or negative)."""
    out = b""
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.one_of(st.sampled_from(WYOMING_TYPES), st.text(max_size=20)))
        audio = kind.startswith("audio-")
        data: Any = draw(st.one_of(
            st.fixed_dictionaries({"rate": st.sampled_from([16000, 22050, 8000, 0, -1, 10**9, "x"]),
                                   "width": st.sampled_from([2, 1, 4, 3, 0, 7]),
                                   "channels": st.sampled_from([1, 2, 0, 9])}) if audio else st.nothing(),
            st.fixed_dictionaries({"text": st.text(max_size=60),
                                   "context": st.one_of(st.none(), st.fixed_dictionaries(
                                       {"conversation_id": st.sampled_from(["fz1", "fz2"])}))}),
            st.fixed_dictionaries({"names": st.lists(st.sampled_from(["hey_jarvis", "alexa", "nope"]), max_size=2)}),
            st.dictionaries(st.text(max_size=8), JSON_LEAF, max_size=3), st.just({})))
        payload = draw(st.one_of(st.none(), st.binary(max_size=3200))) if kind == "audio-chunk" or \
            draw(st.integers(0, 9)) == 0 else None
        mode = draw(st.integers(0, 29))
        if mode == 0:
            out += draw(st.binary(max_size=80)) + b"\n"  # a header that is not JSON
        elif mode == 1 and payload is not None:
            out += wyoming_frame(kind, data, payload, lie=draw(st.sampled_from([1, 100, -1, 10**7, -10**7])))
        elif mode == 2:
            out += json.dumps({"type": kind, "data_length": draw(st.sampled_from([-5, 10**9, "9", 3]))}).encode() + b"\n"
        else:
            out += wyoming_frame(kind, data, payload)
    return out


WYOMING_STREAMS = wyoming_streams()
