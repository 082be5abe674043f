"""Behaviours the docs promise, each in a test of its own: the VAD's half duplex, the wake word's
listening window, the output rate of a file run, the exit codes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, read_wav, recording, run_stage, say, silence, transcribe, words

from omni.audio import write_wav
from omni.frames import InputAudio, SpeechStarted, Turn, WakeWord
from omni.stages.vad import SileroVAD, SileroVADOptions
from omni.stages.wake import WakeGate, WakeOptions

SR = 16000


def chunks(audio: np.ndarray, t0: float, n: int = 512) -> list[InputAudio]:
    """`audio` as microphone chunks whose times run from `t0` at the audio's pace."""
    return [InputAudio(samples=audio[i:i + n], sample_rate=SR, start=i, t=t0 + i / SR)
            for i in range(0, len(audio), n)]


@pytest.mark.parametrize("half_duplex", [True, False])
async def test_half_duplex_does_not_listen_while_the_assistant_is_audible(half_duplex):
    """vad.half_duplex: speech that starts while a reply is audible is not heard; the same
    speech once the reply has ended is. (Without it both are, which shows the test can fail.)"""
    person = recording("clone-test.wav", 1.1, 3.25)  # a real voice: "I think that America do it very well."
    audio = np.concatenate([silence(0.5), person, silence(1.5), person, silence(1.5)])
    second = 0.5 + len(person) / SR + 1.5
    vad = SileroVAD("vad", SileroVADOptions(half_duplex=half_duplex, min_silence_ms=400))
    await vad.load(lambda *a: None)
    t0 = time.monotonic()
    # the player's part: a reply is audible from t0 until just before the second sentence
    vad.floor.speech(Turn(id=99, speech_start=0, speech_end=1, t_speech_end=t0, sample_rate=SR)).played(
        until=t0 + second - 0.5)
    try:
        out = await run_stage(vad, chunks(audio, t0))
    finally:
        await vad.aclose()
    starts = [f.start / SR for f in out if isinstance(f, SpeechStarted) and not f.resumed]
    assert all(s > second - 0.3 for s in starts) == half_duplex, starts
    assert any(s > second - 0.3 for s in starts), "the sentence after the reply is heard either way"


async def gate_in_real_time(audio: np.ndarray, **opts) -> tuple[list[WakeWord], np.ndarray]:
    """The wake gate fed at the microphone's pace (its listening window is wall-clock time)."""
    stage = WakeGate("wake", WakeOptions(mode="wake_word", **opts))
    await stage.load(lambda *_: None)

    out = []
    try:
        t0 = time.monotonic()
        for f in chunks(audio, t0):
            await asyncio.sleep(max(0.0, f.t - time.monotonic()))
            out += [g async for g in stage.process(f)]
    finally:
        await stage.aclose()
    heard = np.concatenate([f.samples for f in out if isinstance(f, InputAudio)])
    return [f for f in out if isinstance(f, WakeWord)], heard


@pytest.mark.slow
@pytest.mark.parametrize("listen_s", [0.8, 6.0])
async def test_after_the_wake_word_the_gate_listens_for_listen_s(listen_s):
    """wake.listen_s: a question 2 s after "Hey Jarvis." is heard with a 6 s window, not with
    0.8 s (the gate closed in the silence between)."""
    hey, question = say("Hey Jarvis."), say("What time is it?")
    audio = np.concatenate([silence(0.3), hey, silence(2.0), question, silence(0.5)])
    wakes, heard = await gate_in_real_time(audio, listen_s=listen_s)
    assert len(wakes) == 1
    at = 0.3 + (len(hey) + 2.0 * SR) / SR
    asked = heard[int(at * SR): int((at + len(question) / SR) * SR)]
    if listen_s > 2.0:
        assert np.array_equal(asked, question[:len(asked)]), "the question is passed on as it was said"
        assert {"time"} <= words(transcribe(asked, SR))
    else:
        assert not asked.any(), "the gate had closed: the question is silence to the pipeline"


def test_a_file_run_writes_the_reply_at_out_rate(tmp_path):
    """--out-rate HZ: the reply file at that rate (the input is 16 kHz), with the reply in it."""
    from omni.app.cli import main

    write_wav(tmp_path / "in.wav", np.concatenate([silence(0.3), say("What is the capital of France?"),
                                                    silence(2.0)]), SR)
    code = main(["desktop", "--audio-in", str(tmp_path / "in.wav"), "--audio-out", str(tmp_path / "out.wav"),
                 "--out-rate", "24000", "--fast", "--quiet"])
    assert code == 0
    out, rate = read_wav(tmp_path / "out.wav")
    assert rate == 24000
    assert "paris" in transcribe(out, rate).lower()


def launch(tmp: Path, *args: str, **kw) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(ROOT / "launch.py"), *args], cwd=tmp, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


@pytest.mark.slow
def test_an_interrupted_run_exits_130_and_keeps_what_it_made(tmp_path):
    """Ctrl-C (SIGINT) on a file run in real time, once the first reply is out: exit code 130,
    the message says so, and the reply audio so far is in the file."""
    from helpers import CONVERSATION, conversation_script, rms

    proc = launch(tmp_path, "desktop", "--audio-in", str(CONVERSATION), "--audio-out", "out.wav")
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # the view prints each reply as it is made
            if line.startswith("omni (turn 1"):
                break
        else:
            pytest.fail("the run ended before its first reply")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    audio, rate = read_wav(tmp_path / "out.wav")
    assert rms(audio[int(conversation_script()[0][1] * rate):]) > 0.01, "the first reply is in the file"


def test_a_refused_mqtt_login_exits_1_and_says_what_to_set(tmp_path):
    import os

    from brokers import Mosquitto

    broker = Mosquitto(tmp_path / "mosq", users={"omni": "right-password"},
                       acl="user omni\ntopic readwrite omni/#\n").start()
    try:
        env = {**os.environ, "OMNI_MQTT_PASSWORD": "wrong-password"}
        proc = launch(tmp_path, "smart-home", "--broker", f"mqtt://omni@127.0.0.1:{broker.port}", env=env)
        out, err = proc.communicate(timeout=120)
    finally:
        broker.stop()
    assert proc.returncode == 1, (out[-1000:], err[-2000:])
    assert "refused the login" in err and "OMNI_MQTT_PASSWORD" in err and "wrong-password" not in err + out
    assert "models loaded" not in out, "refused before any model loaded"
