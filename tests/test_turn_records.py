"""The turn records (omni.runtime.metrics.TurnRecorder) say where a turn really ended."""

from __future__ import annotations

import time

import numpy as np

from omni.frames import ReplyAudio, Transcript, Turn, Utterance
from omni.runtime.metrics import TurnRecorder

SR = 16000


def test_a_turn_that_went_on_after_a_pause_ends_where_its_last_word_did():
    """'Lights off, please.' in espeak en-us+f3: the transcript decoded at the pause after 'off'
    opened the turn's record, and its end was taken for the turn's: the reply started 704 ms
    later on the output timeline than V2V said (bench/waterfall.py, 'sink' 704 ms on every run)."""
    rec = TurnRecorder({})
    t0 = time.monotonic()
    at_pause = Turn(id=1, speech_start=8000, speech_end=20000, t_speech_end=t0, sample_rate=SR)
    ended = Turn(id=1, speech_start=8000, speech_end=31264, t_speech_end=t0 + 0.704, sample_rate=SR)
    rec.on_frame("stt", Transcript(turn=at_pause, text="Lights off."))
    rec.on_frame("vad", Utterance(turn=ended, samples=np.zeros(100, np.float32), sample_rate=SR))
    rec.on_frame("stt", Transcript(turn=ended, text="Lights off, please."))
    rec.on_frame("tts", ReplyAudio(turn=ended, samples=np.zeros(100, np.float32), sample_rate=SR, sentence="Light off.", t=t0 + 1.2))
    rec.set_reply_start(ended, 31264 / SR + 0.496)
    d = rec.open[1].as_dict()
    assert d["speech_end_s"] == round(31264 / SR, 3), d
    assert abs((d["reply_start_s"] - d["speech_end_s"]) * 1000 - d["v2v_ms"]) < 1, d
