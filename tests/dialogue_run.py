"""A Dialogue stage driven turn by turn on the bundled models, and the actions and fast-path
examples the dialogue tests share (tests/test_dialogue_live.py, tests/test_prompt_cache.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from omni.dialogue.intents import IntentExample
from omni.dialogue.tools import ActionSpec
from omni.frames import Frame, ReplyDone, Transcript, Turn
from omni.stages.dialogue import Dialogue, DialogueOptions

LIGHT = ActionSpec(name="light", description="Switch a light on or off.", say="{room} light {state}.",
                   parameters={"room": {"enum": ["kitchen", "bedroom", "living room"]},
                               "state": {"enum": ["on", "off"]}})
VOLUME = ActionSpec(name="volume", description="Turn the volume up or down.", say="Volume {direction}.",
                    parameters={"direction": {"enum": ["up", "down"]}})
STOP = ActionSpec(name="stop", description="Stop talking.", say="Okay.")
EXAMPLES = [
    IntentExample(text="turn on the kitchen light", action="light"),
    IntentExample(text="switch the bedroom light off", action="light"),
    IntentExample(text="lights off in the living room", action="light"),
    IntentExample(text="turn the volume up", action="volume", args={"direction": "up"}),
    IntentExample(text="louder please", action="volume", args={"direction": "up"}),
    IntentExample(text="turn the volume down", action="volume", args={"direction": "down"}),
    IntentExample(text="quieter please", action="volume", args={"direction": "down"}),
    IntentExample(text="stop", action="stop"),
    IntentExample(text="be quiet", action="stop"),
    IntentExample(text="what time is it", action="get_time"),
    IntentExample(text="set a timer for five minutes", action="set_timer"),
]


def noop(*a: Any) -> None:
    pass


def turn(i: int = 1) -> Turn:
    return Turn(id=i, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)


class Run:
    """A Dialogue stage driven turn by turn, with its metrics."""

    def _report(self, name: str, turn: Any, ms: float | None, extra: dict[str, Any]) -> None:
        if ms is None:  # more fields for the turn's record (as the TurnRecorder merges them)
            self.metrics[-1].update(extra)
        else:
            self.metrics.append({"ms": ms, **extra})

    def __init__(self, **options: Any) -> None:
        self.stage = Dialogue("llm", DialogueOptions(**options))
        self.metrics: list[dict[str, Any]] = []
        self.stage.context.reporter = self._report

    async def __aenter__(self) -> Run:
        await self.stage.load(noop)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stage.aclose()

    def frames(self, text: str, i: int = 1) -> AsyncIterator[Frame]:
        return self.stage.process(Transcript(turn=turn(i), text=text))

    async def ask(self, text: str, i: int = 1) -> tuple[str, list[Frame]]:
        out = [f async for f in self.frames(text, i)]
        (done,) = [f for f in out if isinstance(f, ReplyDone)]
        return done.text, out
