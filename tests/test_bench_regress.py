"""bench/regress.py names a stage as slower only past both the relative and the absolute bar."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from regress import compare  # noqa: E402


def test_only_real_slowdowns_are_named() -> None:
    before = {"stt": {"p50": 300.0}, "llm": {"p50": 200.0}, "tts": {"p50": 100.0}, "v2v": {"p50": 1000.0}}
    now = {"stt": {"p50": 400.0}, "llm": {"p50": 220.0}, "tts": {"p50": 60.0}, "v2v": {"p50": 1030.0},
           "wake": {"p50": 1.0}}
    verdicts = {name: v for name, _, _, v in compare(now, before, tolerance=0.15, min_ms=25)}
    # stt +33 % and +100 ms: slower; llm +10 %: noise; tts -40 ms: faster; v2v +3 %: same
    assert verdicts == {"stt": "SLOWER", "llm": "same", "tts": "faster", "v2v": "same", "wake": "new"}
