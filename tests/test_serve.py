"""`launch.py serve` with real clients: the official `openai` client against /v1/chat/completions
(streamed, not, with tools), Prometheus' own parser on /metrics, the token check. The server is
omni's (Host.serve with HttpServer on a free port) with the bundled models; nothing is mocked."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import openai
import pytest
import soxr
from prometheus_client.parser import text_string_to_metric_families

from helpers import similar, transcribe, words
from serving import Running

from omni.app.cli import main

pytestmark = pytest.mark.slow
TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def served() -> Iterator[Running]:
    with Running(TOKEN) as r:
        yield r


@pytest.fixture
def client(served: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=TOKEN, max_retries=0, timeout=120)


def test_the_openai_client_gets_an_answer_from_omnis_router(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="omni-desktop", temperature=0, max_tokens=40,
                                       messages=[{"role": "user", "content": "What is the capital of France?"}])
    (choice,) = r.choices
    assert "paris" in (choice.message.content or "").lower(), choice
    assert choice.finish_reason == "stop" and r.usage is not None and r.usage.prompt_tokens > 10
    assert r.model_extra and r.model_extra["omni"]["backend"] == "local"  # which backend answered, and why


def test_a_streamed_answer_comes_in_pieces_and_ends_with_its_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="omni-desktop", temperature=0, max_tokens=60, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "system", "content": "Answer in one sentence."},
                  {"role": "user", "content": "Why is the sky blue?"}])
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 3, pieces
    assert {"light", "scatter", "sun", "blue"} & set("".join(pieces).lower().replace(".", " ").split())
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"] or finishes == ["length"]
    usage = chunks[-1].usage
    assert usage is not None and not chunks[-1].choices and usage.completion_tokens >= len(pieces) > 3, usage


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather now in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.mark.parametrize("stream", [False, True])
def test_tools_come_back_as_tool_calls_for_the_client_to_run(client: openai.OpenAI, stream: bool) -> None:
    kw: dict[str, Any] = dict(model="omni-desktop", temperature=0, max_tokens=60, tools=[WEATHER],
                              messages=[{"role": "user", "content": "What's the weather like in Paris right now?"}])
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **kw))
        calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finish == ["tool_calls"], chunks
        name, args = calls[0].function.name, calls[0].function.arguments
    else:
        r = client.chat.completions.create(**kw)
        assert r.choices[0].finish_reason == "tool_calls", r
        call = r.choices[0].message.tool_calls[0]
        name, args = call.function.name, call.function.arguments
    assert name == "get_weather" and json.loads(args)["city"].lower() == "paris"


def test_bad_requests_are_openai_errors_and_the_server_goes_on(client: openai.OpenAI, served: Running) -> None:
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="omni-desktop", messages=[])
    with pytest.raises(openai.BadRequestError, match="role"):
        client.chat.completions.create(model="omni-desktop", messages=[{"role": "wizard", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=served.url + "/v1", api_key="wrong", max_retries=0).models.list()
    assert [m.id for m in client.models.list()] == ["omni-desktop"]
    # a body that is JSON but not an object, or nests 5,000 deep, is a 400 in OpenAI's shape, not a crash
    for body in (b"[]", b"[" * 5000 + b"]" * 5000):
        req = urllib.request.Request(served.url + "/v1/chat/completions", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        assert e.value.code == 400 and json.loads(e.value.read())["error"]["type"] == "invalid_request_error"


def test_a_file_of_speech_is_transcribed_whatever_its_format(client: openai.OpenAI, tmp_path: Any) -> None:
    import av

    from helpers import voice

    x = voice("italy", "en-gb")  # (tiny.en hears espeak en-us "Italy" as "immediately")
    with av.open(str(tmp_path / "q.mp3"), "w") as out:  # an MP3 at 44.1 kHz: not what whisper takes
        stream = out.add_stream("libmp3lame", rate=44100, layout="mono")
        frame = av.AudioFrame.from_ndarray(soxr.resample(x, 16000, 44100)[None, :].astype(np.float32),
                                           format="fltp", layout="mono")
        frame.sample_rate = 44100
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    with open(tmp_path / "q.mp3", "rb") as f:
        heard = client.audio.transcriptions.create(model="whisper-1", file=f)
    assert {"capital", "italy"} <= words(heard.text), heard
    with pytest.raises(openai.BadRequestError) as e:
        client.audio.transcriptions.create(model="whisper-1", file=("notes.wav", b"RIFF not really a wav"))
    assert "wav" in str(e.value).lower() or "audio" in str(e.value).lower(), e.value


@pytest.mark.parametrize("fmt", ["wav", "pcm"])
def test_speech_comes_back_as_wav_or_24_khz_pcm_and_says_the_text(client: openai.OpenAI, fmt: str) -> None:
    import io
    import wave

    r = client.audio.speech.create(model="tts-1", voice="alloy", input="The kitchen light is on.",
                                   response_format=fmt)  # type: ignore[arg-type]
    data = r.read()
    if fmt == "wav":
        with wave.open(io.BytesIO(data)) as w:
            rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    else:
        rate, pcm = 24000, data
    audio = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
    assert len(audio) / rate > 0.8
    heard = transcribe(audio, rate)
    assert "kitchen" in words(heard) and similar(heard, "The kitchen light is on.") >= 0.75, heard
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hi.", response_format="mp3")
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tts-1", voice="no-such-voice", input="Hi.", response_format="wav")


def test_health_is_open_and_metrics_want_the_token_and_parse_as_prometheus(served: Running,
                                                                           client: openai.OpenAI) -> None:
    client.chat.completions.create(model="omni-desktop", max_tokens=8, messages=[{"role": "user", "content": "Hi!"}])
    status, body = served.get("/healthz", token=None)
    assert status == 200 and json.loads(body)["status"] == "ready" and "llm" in json.loads(body)["engines"]
    assert served.get("/metrics", token=None)[0] == 401
    status, text = served.get("/metrics", token=TOKEN)
    assert status == 200
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    value = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in fams.values() for s in f.samples}
    assert value[("omni_ready", ())] == 1
    assert value[("omni_engines_loaded", (("kind", "llm"),))] >= 1
    answered = sum(v for (name, labels), v in value.items()
                   if name == "omni_chat_completions_total" and ("backend", "local") in labels)
    assert answered >= 1, "the chat completion above was counted"
    assert value[("omni_chat_tokens_total", (("kind", "prompt"),))] > 0
    assert value[("omni_http_requests_total", (("code", "401"), ("route", "/metrics")))] >= 1


def test_off_loopback_without_a_token_it_does_not_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "needs a token" in capsys.readouterr().err


def test_launch_serve_says_where_it_listens_and_stops_on_sigterm(tmp_path: Any) -> None:
    """The command itself: models load, it says where it is, answers, and SIGTERM stops it cleanly."""
    import os
    import re
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    err = open(tmp_path / "stderr", "w+")  # noqa: SIM115 (read while it runs; closed below)
    proc = subprocess.Popen([sys.executable, str(root / "launch.py"), "serve", "--port", "0"], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "NO_COLOR": "1"})
    try:
        deadline, url = time.monotonic() + 300, None
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            m = re.search(r"omni: serving desktop on (http://127\.0\.0\.1:\d+) \(no token", Path(err.name).read_text())
            url = m.group(1) if m else None
        assert url, Path(err.name).read_text()[-2000:]
        with urllib.request.urlopen(url + "/healthz", timeout=30) as r:
            assert json.loads(r.read())["status"] == "ready"

        def status(req: urllib.request.Request) -> int:
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        # without a token it serves this machine only: a name a web page pointed at 127.0.0.1 is
        # refused, and so is a POST that is not JSON (a form needs no CORS preflight)
        assert status(urllib.request.Request(url + "/v1/models", headers={"Host": "evil.example"})) == 403
        form = urllib.request.Request(url + "/v1/chat/completions", data=b"messages=hi",
                                      headers={"Content-Type": "text/plain"})
        assert status(form) == 415
        assert status(urllib.request.Request(url + "/v1/models")) == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, Path(err.name).read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        err.close()
