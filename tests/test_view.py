"""The terminal view: the fields a person watches, and over-budget stages in red."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console

from omni.app.dashboard import BAR, Dashboard, bar
from omni.app.view import ConsoleView
from omni.frames import (ContextUpdate, PartialTranscript, ReplyAudio, ReplyPlayed, ReplySentence, SpeechStarted,
                         Transcript, Turn, Utterance, WakeWord)
from omni.runtime.metrics import StageTime, TurnRecord

import numpy as np

TURN = Turn(id=1, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)


def render(d: Dashboard) -> tuple[str, Console]:
    c = Console(record=True, width=120, force_terminal=True, color_system="truecolor")
    c.print(d.render())
    return c.export_text(clear=False), c


def test_dashboard_shows_state_words_reply_camera_and_latency_bars() -> None:
    d = Dashboard(budgets={"v2v": 1500})
    text, _ = render(d)
    assert "● idle" in text and "no turn yet" in text
    d.on_frame("wake", WakeWord(name="Hey Jarvis", score=0.99, at=100))
    d.on_frame("vad", SpeechStarted(start=0, sample_rate=16000))
    d.on_frame("stt", PartialTranscript(text="what is the cap", stable="what is", start=0, end=8000))
    text, _ = render(d)
    assert "● listening" in text and "what is the cap" in text and "Hey Jarvis" in text
    d.on_frame("vad", Utterance(turn=TURN, samples=np.zeros(10, np.float32), sample_rate=16000))
    d.on_frame("stt", Transcript(turn=TURN, text="What is the capital of France?"))
    d.on_frame("sentences", ReplySentence(turn=TURN, text="The capital of France is Paris.", index=0))
    d.on_frame("aec", ContextUpdate(source="camera", text="a cup of coffee", captured=time.monotonic() - 2))
    text, _ = render(d)
    assert "● thinking" in text and "What is the capital of France?" in text
    assert "The capital of France is Paris." in text and "a cup of coffee" in text and "s ago" in text
    d.on_frame("out", ReplyAudio(turn=TURN, samples=np.zeros(10, np.float32), sample_rate=22050, sentence=0))
    assert "● speaking" in render(d)[0]
    rec = TurnRecord(turn=TURN, v2v_ms=1800.0, stages={"stt": StageTime(310, 500),
                                                       "llm": StageTime(620, 400, {"over_budget": "failover"})})
    d.on_event("turn", rec)
    d.on_frame("out", ReplyPlayed(turn=TURN, text="The capital of France is Paris."))
    text, console = render(d)
    assert "● idle" in text and "310 ms / 500" in text and "620 ms / 400" in text and "1800 ms / 1500" in text
    assert "620 ms / 400 → failover" in text and "310 ms / 500 →" not in text  # what the stage did about it
    html = console.export_html(inline_styles=True)
    assert re.search(r"color: #(800000|ff0000)[^>]*>[^<]*620 ms", html)  # the overrun is drawn in red


def test_latency_bar_marks_the_part_over_budget() -> None:
    within, over = bar(250, 500), bar(600, 400)
    assert within.plain == "█" * (BAR // 2) and within.style == "green" and not within.spans
    assert len(over.plain) == round(600 * BAR / 400) and over.style == "green"
    assert [(s.start, s.style) for s in over.spans] == [(BAR, "red")]  # past the budget


def test_not_a_terminal_gives_plain_lines() -> None:
    out = io.StringIO()
    view = ConsoleView(Console(file=out, width=100))
    assert not view.live
    view.on_frame("stt", Transcript(turn=TURN, text="What is the capital of France?"))
    view.on_event("turn", TurnRecord(turn=TURN, reply="Paris.", v2v_ms=900.0,
                                     stages={"stt": StageTime(610, 500, {"over_budget": "partial"})}))
    lines = out.getvalue().splitlines()
    assert "stt !610 → partial ms" in lines[2], lines[2]
    assert lines[0] == "you (turn 1): What is the capital of France?" and "\x1b[" not in out.getvalue()
    assert lines[1] == "omni (turn 1): Paris." and "v2v 900 ms" in lines[2]


def test_keys_are_read_one_by_one_from_a_stream() -> None:
    import os
    import threading

    from omni.audio.device import watch_keys

    r, w = os.pipe()
    got: list[str] = []
    stop = threading.Event()
    with os.fdopen(r, "rb", buffering=0) as stream:
        t = threading.Thread(target=watch_keys, args=(stream, got.append, stop))
        t.start()
        os.write(w, b" a ")
        deadline = time.monotonic() + 2
        while len(got) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        t.join(2)
        os.close(w)
    assert got == [" ", "a", " "] and not t.is_alive()
