"""The worked examples of docs/extending.md, run: a stage, an engine, a chat backend and a
transport of one's own, each plugged in the way the page says."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from omni.config import StageConfig
from omni.frames import ReplyDone, ReplySentence, Transcript, Turn, Utterance
from omni.stages import build_stage

from helpers import ROOT, corpus, run_stage, words

sys.path.insert(0, str(Path(ROOT) / "docs" / "examples"))

TURN = Turn(id=1, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)


async def test_a_stage_of_ones_own_is_named_by_its_import_path_and_does_its_work():
    stage = build_stage(StageConfig(name="spell", kind="spell_out:SpellOut",
                                    options={"words": {"km": "kilometres"}}))
    out = await run_stage(stage, [ReplySentence(turn=TURN, text="It is 5 km away.", index=0),
                                  ReplyDone(turn=TURN, text="It is 5 km away.")])
    (sentence,) = [f for f in out if isinstance(f, ReplySentence)]
    assert sentence.text == "It is 5 kilometres away."
    assert any(isinstance(f, ReplyDone) for f in out), "other frames pass on"


async def test_an_engine_of_ones_own_finds_the_speech_in_a_real_recording():
    speech = corpus("q01")
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(24000, np.float32)])
    from omni.frames import InputAudio

    vad = build_stage(StageConfig(name="vad", kind="vad.silero",
                                  options={"engine": "energy_vad:EnergyVad", "engine_options": {"speech_dbfs": -40},
                                           "end_of_turn": None}))
    await vad.load(lambda *a: None)
    try:
        frames = [InputAudio(samples=audio[i:i + 512], sample_rate=16000, start=i) for i in range(0, len(audio), 512)]
        out = await run_stage(vad, frames)
    finally:
        await vad.aclose()
    (utt,) = [f for f in out if isinstance(f, Utterance)]
    assert abs(utt.turn.speech_start - 8000) < 4000 and abs(utt.turn.speech_end - (8000 + len(speech))) < 8000


async def test_an_unknown_engine_is_a_config_error_that_names_the_built_in_ones():
    from omni.errors import ConfigError

    vad = build_stage(StageConfig(name="vad", kind="vad.silero", options={"engine": "nope"}))
    with pytest.raises(ConfigError, match="silero"):
        await vad.load(lambda *a: None)


async def test_a_chat_backend_of_ones_own_answers_and_fails_over():
    stage = build_stage(StageConfig(name="llm", kind="dialogue", options={
        "backends": {"faq": {"type": "custom", "cls": "faq_backend:FaqBackend",
                             "settings": {"answers": {"opening hours": "We are open from nine to five."}}}},
        "routing": {"order": ["faq"]}, "prefill_next": False}))
    await stage.load(lambda *a: None)
    try:
        out = await run_stage(stage, [Transcript(turn=TURN, text="What are your opening hours?")])
        (done,) = [f for f in out if isinstance(f, ReplyDone)]
        assert done.text == "We are open from nine to five."
        turn2 = Turn(id=2, speech_start=0, speech_end=1, t_speech_end=time.monotonic(), sample_rate=16000)
        out = await run_stage(stage, [Transcript(turn=turn2, text="Tell me a joke.")])
        (done,) = [f for f in out if isinstance(f, ReplyDone)]
        assert done.text == stage.options.fallback_reply, "no backend could answer: it says so"
    finally:
        await stage.aclose()


@pytest.mark.slow
async def test_a_transport_of_ones_own_runs_the_whole_pipeline():
    from omni.app.host import Host
    from omni.config import load_pipeline
    from text_transport import TextTransport

    transport = TextTransport(["What is the capital of France?", "And of Italy?"])
    async with Host() as host:
        await host.serve(load_pipeline("desktop"), transport)
    assert len(transport.replies) == 2, transport.replies
    assert "paris" in words(transport.replies[0]) and "rome" in words(transport.replies[1]), transport.replies
    assert "".join(transport.pieces).replace(" ", "") == "".join(transport.replies).replace(" ", "")
