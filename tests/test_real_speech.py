"""omni on real people's recordings (the real-speech set: bench/devset.py, fetched by set-up) and
on sentences nobody wrote for it. The figures over the whole set are bench/quality.py's; these
are its main properties on a subset."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import ROOT, envelope, read_wav, words

sys.path.insert(0, str(ROOT / "bench"))
import devset  # noqa: E402
from usefulness import echoes  # noqa: E402

from omni.app.cli import main  # noqa: E402
from omni.audio import write_wav  # noqa: E402
from omni.frames import DeviceAction, ReplyDone, Transcript, Turn  # noqa: E402

pytestmark = pytest.mark.slow
SR = 16000


def session(tmp_path: Path, name: str, until_s: float, lead_s: float = 0.5) -> tuple[list[dict], np.ndarray, list]:
    """Run the desktop pipeline in real time on the first `until_s` of a real recording; the
    turn records, the reply audio on the input's timeline, and the reference sentences."""
    import json

    audio = devset.audio(name)[: int(until_s * SR)]
    wav = tmp_path / "in.wav"
    write_wav(wav, np.concatenate([np.zeros(int(lead_s * SR), np.float32), audio, np.zeros(3 * SR, np.float32)]), SR)
    code = main(["desktop", "--audio-in", str(wav), "--audio-out", str(tmp_path / "out.wav"),
                 "--metrics", str(tmp_path / "t.jsonl"), "--quiet"])
    assert code == 0
    turns = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    out, rate = read_wav(tmp_path / "out.wav")
    assert rate == SR
    sents = [{**s, "start": s["start"] + lead_s, "end": s["end"] + lead_s}
             for s in devset.refs()[name]["sentences"] if s["end"] <= until_s]
    return turns, out, sents


def onsets(out: np.ndarray, frame_s: float = 0.05) -> list[float]:
    """Where the assistant starts to sound after a silence (seconds on the input's timeline)."""
    loud = envelope(out, SR, frame_s) > 0.01
    return [i * frame_s for i in range(len(loud)) if loud[i] and (i == 0 or not loud[i - 1])]


def test_a_reader_who_goes_on_is_never_talked_over_and_no_word_is_lost(tmp_path):
    """A Tale of Two Cities read aloud: sentence ends with pauses of 0.4-0.9 s before the next.
    Wherever omni's reply starts, nobody is speaking; every sentence's words reach a transcript."""
    turns, out, sents = session(tmp_path, "two_cities.wav", 16.5)
    spans = [(s["start"], s["end"]) for s in sents]
    starts = onsets(out)
    over = [t for t in starts if any(a - 0.05 <= t <= b + 0.05 for a, b in spans)]
    assert not over, (over, spans)
    said = words(" ".join(t["transcript"] for t in turns))
    for s in sents:
        missing = words(s["text"]) - said
        assert len(missing) <= 1, (s["text"], missing, [t["transcript"] for t in turns])
    assert all(t["reason"] in ("complete", "interrupted", "continued", "empty") for t in turns), turns
    # what the reader heard back: something, and never their own sentence read back to them
    replies = [(t["transcript"], t["reply"]) for t in turns if t["reply"].strip()]
    assert replies, "omni said nothing to a person reading to it"
    said_back = [(said, reply) for said, reply in replies if echoes(reply, said)]
    assert not said_back, said_back


def test_two_voices_trading_short_lines_lose_no_turn(tmp_path):
    """Endgame's "Do you hear me?" / "Yes." and on: every turn the VAD ends also ends downstream
    (a recorded turn with its reason), even those the next voice talks over before they are
    answered; their words start the next turn."""
    turns, _, sents = session(tmp_path, "endgame_nagg_nell.wav", 12.0)
    ids = [t["turn"] for t in turns]
    assert ids == sorted(ids) and ids == list(range(ids[0], ids[0] + len(ids))), ids
    assert "hear" in words(" ".join(t["transcript"] for t in turns))
    assert "resource" in words(" ".join(t["transcript"] for t in turns))


def test_turns_end_soon_after_real_sentences_end(tmp_path):
    """Beckett's six short sentences, read with 0.7-1.1 s between them (less than the 1.2 s of
    silence that ends any turn): each ends a turn of its own, so the end-of-turn model or the
    words heard at the pause decided it. How soon: bench/quality.py."""
    turns, _, sents = session(tmp_path, "beckett.wav", 10.0)
    ends = [t["speech_end_s"] for t in turns]
    for s in sents:
        assert any(abs(e - s["end"]) < 0.5 for e in ends), (s, ends)
    assert {t["stages"]["vad"]["end_of_turn"] for t in turns} <= {"model", "words", "end_of_stream"}, turns


# the dialogue on sentences nobody wrote for omni ------------------------------------------

STATEMENTS = ["I just got back from a long walk by the river.", "My sister is coming to visit this weekend.",
              "My train was twenty minutes late this morning.", "Ever tried. Ever failed. No matter.",
              "We laugh less heartily, so we have still that resource.", "I'll call you back in a minute, okay?"]


def turn(i: int) -> Turn:
    return Turn(id=i, speech_start=i * SR, speech_end=i * SR + 1, t_speech_end=time.monotonic(), sample_rate=SR)


async def test_ordinary_talk_is_answered_not_refused_and_calls_no_tool():
    from omni.config import load_pipeline
    from omni.config.loader import PIPELINES_DIR
    from omni.stages import build_stage

    cfg = load_pipeline(PIPELINES_DIR / "desktop.yaml", ["llm.temperature=0"])
    stage = build_stage(next(s for s in cfg.stages if s.kind == "dialogue"))
    reports: list[dict[str, Any]] = []
    stage.context.reporter = lambda name, t, ms, extra: reports.append(extra) if ms is not None else None
    await stage.load(lambda *a: None)
    try:
        for i, text in enumerate(STATEMENTS, 1):
            out = [f async for f in stage.process(Transcript(turn=turn(i), text=text))]
            (done,) = [f for f in out if isinstance(f, ReplyDone)]
            assert done.text.strip(), text
            assert not echoes(done.text, text), (text, done.text)
            assert "can't" not in done.text.lower() and "cannot" not in done.text.lower(), (text, done.text)
            assert not [f for f in out if isinstance(f, DeviceAction)], (text, out)
            assert not reports[-1].get("tool_calls"), (text, reports[-1])
        assert not stage.tools.timers, "no timer was set"
        assert not any("can't" in m["content"] for m in stage.memory.history if m["role"] == "assistant")
    finally:
        await stage.aclose()


async def test_a_request_of_several_parts_does_the_allowed_part_and_says_what_it_cannot():
    from omni.config import load_pipeline
    from omni.config.loader import PIPELINES_DIR
    from omni.stages import build_stage

    cfg = load_pipeline(PIPELINES_DIR / "desktop.yaml", [])
    stage = build_stage(next(s for s in cfg.stages if s.kind == "dialogue"))
    await stage.load(lambda *a: None)
    try:
        text = "Turn off the alarm and open the garage door, then turn on the bedroom light."
        out = [f async for f in stage.process(Transcript(turn=turn(1), text=text))]
        acts = [(f.action, f.args) for f in out if isinstance(f, DeviceAction)]
        (done,) = [f for f in out if isinstance(f, ReplyDone)]
        assert acts == [("light", {"room": "bedroom", "state": "on"})], acts
        assert "bedroom light on" in done.text.lower() and "can't" in done.text.lower(), done.text
        assert "garage" in done.text.lower() and "alarm" in done.text.lower(), done.text
        out = [f async for f in stage.process(Transcript(turn=turn(2), text="Set a timer for minus five seconds."))]
        (done,) = [f for f in out if isinstance(f, ReplyDone)]
        assert not stage.tools.timers and "can't" in done.text.lower(), done.text
    finally:
        await stage.aclose()
