"""bench/peers.py times Pipecat's reply where it would be heard: its TTS frames on an output that
plays them in order and drops what it holds at an interruption, as omni's output timeline does."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from peers import classes, played  # noqa: E402


def test_frames_play_in_order_queue_behind_each_other_and_an_interruption_drops_the_queue() -> None:
    # three 1 s frames come out of TTS at once (faster than real time): they play one after another
    assert played([10.0, 10.01, 10.02], [1.0, 1.0, 1.0], []) == [10.0, 11.0, 12.0]
    # an interruption at 10.5 drops the two queued behind the playing one; a new reply at 15 plays
    assert played([10.0, 10.01, 10.02, 15.0], [1.0] * 4, [10.5]) == [10.0, 15.0]
    # a frame that arrives after the queue ran dry plays when it arrives
    assert played([1.0, 5.0], [0.5, 0.5], []) == [1.0, 5.0]


def test_each_turn_counts_for_its_kinds_of_utterance() -> None:
    assert classes({"text": "Why do cats purr?", "voice": "piper joe"}) == ["short", "piper"]
    assert classes({"text": "Can you tell me about the history of Rome?", "voice": "piper joe",
                    "pause_after": "about"}) == ["long", "paused", "piper"]
    assert classes({"text": "Do you like music?", "voice": "piper joe", "noise": "pink"}) == ["short", "noisy", "piper"]
    assert classes({"text": "beckett.wav 0-1.22", "real": True}) == ["real", "short"]
