"""One process, many conversations (omni.app.host): engines loaded once, sessions that load
nothing and leak nothing, text turns, and control from outside (cancel, commit, clear,
instructions, tools, history), all on the real default models and on voices that are not
the assistant's (espeak-ng lines of tests/voices and a real person's recording)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
import time

import numpy as np
import pytest

from helpers import ROOT, recording, say, silence, similar, transcribe, voice, words

sys.path.insert(0, str(ROOT / "bench"))
from usefulness import echoes  # noqa: E402

from omni.app.host import Conversation, Host  # noqa: E402
from omni.config import load_pipeline  # noqa: E402
from omni.frames import Turn  # noqa: E402

pytestmark = pytest.mark.slow
SR = 16000


async def speak_into(conv: Conversation, audio: np.ndarray, tail_s: float = 3.0, chunk_s: float = 0.032) -> None:
    """Push `audio` then `tail_s` of silence into a session at the pace a microphone would."""
    x = np.concatenate([audio, silence(tail_s)]) if tail_s else audio
    n = int(chunk_s * SR)
    t0 = time.monotonic()
    for i in range(0, len(x), n):
        await conv.push(x[i:i + n], SR)
        await asyncio.sleep(max(0.0, t0 + (i + n) / SR - time.monotonic()))


def trimmed(x: np.ndarray) -> np.ndarray:
    """Without the silence after the last word (the voice files end with ~0.35 s of it)."""
    loud = np.nonzero(np.abs(x) > 0.01)[0]
    return x[: loud[-1] + 1]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Peak:
    """The highest resident set size seen while inside (sampled every 50 ms)."""

    def __init__(self) -> None:
        self.mb = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Peak:
        async def sample() -> None:
            while True:
                self.mb = max(self.mb, rss_mb())
                await asyncio.sleep(0.05)

        self._task = asyncio.get_running_loop().create_task(sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.wait({self._task})
        self.mb = max(self.mb, rss_mb())


def transcripts(conv: Conversation) -> list[str]:
    assert conv.result is not None
    return [r.transcript for r in conv.result.records if r.transcript]


@pytest.fixture
async def host():
    async with Host() as h:
        await h.load(load_pipeline("desktop"))
        yield h


async def test_four_conversations_at_once_on_real_speech_are_each_answered_in_little_more_memory(host):
    cfg = load_pipeline("desktop")
    before = host.engines.loads
    lines = {
        "italy": voice("italy", "en-gb"),                      # "What is the capital of Italy?"
        "time": voice("hey", "en-us"),                         # "Hey Jarvis, what time is it?"
        "sea": voice("sea", "en-gb-scotland"),                 # "My sister just moved to a little flat by the sea."
        "cities": recording("two_cities.wav", 0.6, 4.6),       # a real reader: "It was the best of times, ..."
    }

    async def talk(name: str) -> tuple[str, Conversation]:
        conv = await host.open(cfg)
        try:
            await speak_into(conv, np.concatenate([silence(0.3), lines[name]]), tail_s=2.5)
            (_, reply, reason), = await conv.replies(1, timeout=180)
            assert reason == "complete", (name, reason)
            return reply, conv
        finally:
            await conv.close(cancel=False)

    async with Peak() as one:
        reply, alone = await talk("italy")
    assert "rome" in words(reply)

    async with Peak() as four:
        done = await asyncio.gather(*(talk(n) for n in lines))
    replies = dict(zip(lines, (r for r, _ in done)))
    heard = dict(zip(lines, (transcripts(c) for _, c in done)))
    assert "rome" in words(replies["italy"]), (heard["italy"], replies["italy"])
    assert re.search(r"\d|o'clock|noon|midnight", replies["time"]), (heard["time"], replies["time"])
    assert replies["sea"] and not echoes(heard["sea"][0], replies["sea"]), (heard["sea"], replies["sea"])
    assert "times" in words(heard["cities"][0]), heard["cities"]
    assert replies["cities"] and not echoes(heard["cities"][0], replies["cities"]), replies["cities"]
    assert host.engines.loads == before, "a session loaded an engine the host had loaded"
    assert four.mb <= 1.15 * one.mb, f"one session peaked at {one.mb:.0f} MB, four at {four.mb:.0f} MB"


async def test_a_session_closed_mid_reply_leaks_nothing_and_the_others_go_on(host):
    cfg = load_pipeline("desktop")
    threads = set(threading.enumerate())
    first_words = asyncio.Event()

    class Text:
        def on_text(self, turn: Turn, text: str) -> None:
            first_words.set()

        def on_reply(self, turn: Turn, text: str, reason: str) -> None:
            pass

    other = await host.open(cfg, audio_out=False)
    doomed = await host.open(cfg, text=Text())
    try:
        doomed.ask("Tell me a long story about a dragon who learns to bake bread.")
        await asyncio.wait_for(first_words.wait(), 120)
        result = await doomed.close()  # mid-reply: the reply is cancelled, the session ends
        assert result is not None and [r.reason for r in result.records] == ["interrupted"], result.records
        turn = other.ask("What is the capital of Italy?")
        assert "rome" in words(await other.reply(turn))
    finally:
        await other.close()
    left = [t for t in set(threading.enumerate()) - threads if t.is_alive()]
    for t in left:
        t.join(5)
    assert [t.name for t in left if t.is_alive()] == []
    # (the autouse fixtures fail this test on any task or session leftover: the scope's report)


async def test_cancel_stops_the_reply_and_says_what_was_heard(host):
    cfg = load_pipeline("desktop")
    placed: list[tuple[int, float, float]] = []

    class Audio:
        def on_audio(self, turn: int, audio: np.ndarray, rate: int, at_s: float) -> None:
            placed.append((turn, at_s, time.monotonic()))

    async with host.session(cfg, audio=Audio()) as conv:
        turn = conv.ask("Tell me about the history of Rome in three sentences.")
        async def first_audio() -> None:
            while not any(t == turn.id for t, _, _ in placed):
                await asyncio.sleep(0.02)

        await asyncio.wait_for(first_audio(), 120)
        await asyncio.sleep(0.8)  # part of it has been heard
        cut_at = time.monotonic()
        cuts = conv.controls.cancel()
        text = await conv.reply(turn)
        assert [c.turn for c in cuts] == [turn.id]
        assert cuts[0].heard and cuts[0].heard_ms and cuts[0].heard_ms > 500
        assert text == cuts[0].heard
        (_, _, reason), = await conv.replies(1)
        assert reason == "interrupted"
        await asyncio.sleep(0.5)
        assert not [p for p in placed if p[0] == turn.id and p[2] > cut_at + 0.1], "audio went on after the cut"
        # the voice changes for the next sentence (the same voice from its file: a second copy)
        from omni.models import resolve

        loads = host.engines.loads
        conv.controls.voice(resolve("tts", "joe", lambda *_: None).location)
        turn2 = conv.ask("What is the capital of France?")
        assert "paris" in words(await conv.reply(turn2))
        assert host.engines.loads == loads + 1 and any(t == turn2.id for t, _, _ in placed)


async def test_commit_ends_the_turn_without_waiting_and_clear_forgets_it(host):
    cfg = load_pipeline("desktop")
    async with host.session(cfg, audio_out=False) as conv:
        # clear: the words so far are dropped; nothing is transcribed or answered
        await speak_into(conv, np.concatenate([silence(0.3), trimmed(voice("television", "en-gb"))]), tail_s=0)
        conv.controls.clear()
        await speak_into(conv, silence(2.5), tail_s=0)
        # commit: no silence after the question, the client says the turn is over
        await speak_into(conv, trimmed(voice("italy", "en-gb")), tail_s=0)
        conv.controls.commit()
        (_, reply, reason), = await conv.replies(1, timeout=120)
        assert reason == "complete" and "rome" in words(reply)
    assert conv.result is not None
    said = [r for r in conv.result.records if r.transcript]
    assert len(said) == 1 and "italy" in words(said[0].transcript), [r.transcript for r in said]
    assert said[0].as_dict()["stages"]["vad"]["end_of_turn"] == "commit"


async def test_instructions_history_and_tools_change_for_the_next_turn(host):
    cfg = load_pipeline("desktop")
    async with host.session(cfg, audio_out=False) as conv:
        conv.controls.instruct("You are Pip, a cheerful assistant. When asked your name, say it is Pip.")
        turn = conv.ask("What is your name?")
        assert "pip" in words(await conv.reply(turn))
        conv.controls.remember(user="My name is Ada and I live in Lisbon.", reply="Nice to meet you, Ada.")
        turn = conv.ask("What is my name?")
        assert "ada" in words(await conv.reply(turn))
        turn = conv.ask("Turn the volume up.")
        await conv.reply(turn)
        conv.controls.tools_off(["volume"])
        turn = conv.ask("Turn the volume up.")
        await conv.reply(turn)
    assert conv.result is not None
    acts = [[a["action"] for a in r.as_dict()["actions"]] for r in conv.result.records if r.transcript]
    assert acts[-2] == ["volume"] and acts[-1] == [], acts


async def test_two_pipelines_naming_the_same_models_share_them_and_sessions_load_nothing(host):
    loaded = {s.kind: s for s in host.engines.engines()}
    await host.load(load_pipeline("smart-home"))
    after = host.engines.engines()
    assert [s.kind for s in after].count("llm") == 1 and [s.kind for s in after].count("stt") == 1
    assert all(loaded.get(s.kind) is s for s in after if s.kind in ("llm", "stt", "tts", "vad", "turn"))
    n, threads = host.engines.loads, threading.active_count()
    for _ in range(10):
        async with host.session(load_pipeline("desktop"), audio_out=False):
            pass
    assert host.engines.loads == n and threading.active_count() == threads


async def test_transcribe_speak_answer_vad_and_wake_word_alone(host):
    calls = host.calls(load_pipeline("desktop"))
    heard = await calls.transcribe(voice("italy", "en-gb-scotland"), SR)
    assert {"capital", "italy"} <= words(heard.text), heard
    chunks = [c async for c in calls.speak("The kitchen light is on.")]
    audio = np.concatenate(chunks)
    assert len(audio) / calls.sample_rate > 0.8
    # piper draws noise at each synthesis (seeded in conftest), so the words vary with the draw:
    # tiny.en once heard "The kitchen ... as on." (CI, 2026-12-04). What is asserted is that the
    # audio says the sentence closely enough to be understood, not each word.
    heard = transcribe(audio, calls.sample_rate)
    assert "kitchen" in words(heard) and similar(heard, "The kitchen light is on.") >= 0.75, heard
    assert calls.last["speak"].ms <= calls.last["speak"].total_ms  # type: ignore[operator]
    reply = "".join([p async for p in calls.answer([{"role": "user", "content": "What is the capital of France?"}])])
    assert "paris" in words(reply)
    probs = await calls.speech(np.concatenate([silence(1.0), say("Hello there, how are you?")]), SR)
    assert probs[:20].max() < 0.3 and probs[-40:].max() > 0.8
    best, at = await calls.wake(np.concatenate([silence(0.5), say("Hey Jarvis, what time is it?")]), SR)
    assert best > 0.9 and at is not None
    best, at = await calls.wake(say("What is the capital of France?"), SR)
    assert at is None
