"""A dialogue turn answered by a scripted backend (helpers.Scripted): what the dialogue does
with given model replies, without a model (tests/test_unscripted.py, tests/test_honest_no.py)."""

from __future__ import annotations

import time
from typing import Any

from helpers import Scripted

from omni.dialogue.router import Router, RoutingOptions
from omni.dialogue.tools import ActionSpec
from omni.dialogue.types import ToolCall
from omni.frames import Transcript, Turn
from omni.stages.dialogue import Dialogue, DialogueOptions

LIGHT = ActionSpec(name="light", description="Switch a light.", say="{room} light {state}.",
                   keywords=["light", "lamp"],
                   parameters={"room": {"enum": ["kitchen", "bedroom", "living room"]},
                               "state": {"enum": ["on", "off"]}})


REPORTS: list[dict[str, Any]] = []
"""The llm stage's records of scripted_turn's turns, newest last."""


async def scripted_turn(replies: list[str | ToolCall], text: str, history: list[tuple[str, str]] = (),
                        **options: Any) -> tuple[Dialogue, list, Scripted]:
    """`history`: exchanges (the user's words, the reply) the conversation had before."""
    options.setdefault("actions", [LIGHT])
    stage = Dialogue("llm", DialogueOptions(intents={"enabled": False}, prefill_next=False, **options))
    for said, reply in history:
        stage.memory.add(said, reply)
    fake = Scripted(replies)
    stage.backends = {"local": fake}
    stage.router = Router(stage.backends, RoutingOptions(order=["local"]))
    stage.context.reporter = lambda name, t, ms, extra: REPORTS.append({"ms": ms, **extra}) if ms is not None else None
    turn = Turn(id=1, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)
    out = [f async for f in stage.process(Transcript(turn=turn, text=text))]
    return stage, out, fake
