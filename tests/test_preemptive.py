"""Replies started at a pause, before the turn has ended (dialogue.preemptive): no tool acts
until the final transcript of the same turn confirms the words, and a resumed pause or a
different final transcript throws the early reply away."""

from __future__ import annotations

import asyncio
import time

from omni.dialogue.router import Router, RoutingOptions
from omni.dialogue.tools import ActionSpec
from omni.dialogue.types import ToolCall
from omni.frames import DeviceAction, ReplyDone, ReplyToken, SpeechStarted, Transcript, Turn
from omni.stages.dialogue import Dialogue, DialogueOptions

from helpers import Scripted

LIGHT = ActionSpec(name="light", description="Switch a light.", say="{room} light {state}.",
                   keywords=["light", "lamp"],
                   parameters={"room": {"enum": ["kitchen", "bedroom"]}, "state": {"enum": ["on", "off"]}})
ASK = "Turn on the bedroom light."


def dialogue(replies: list[str | ToolCall]) -> tuple[Dialogue, Scripted, list[str]]:
    stage = Dialogue("llm", DialogueOptions(actions=[LIGHT], intents={"enabled": False}, prefill_next=False,
                                            preemptive=True))
    fake = Scripted(replies)
    stage.backends = {"local": fake}
    stage.router = Router(stage.backends, RoutingOptions(order=["local"]))
    acted: list[str] = []
    call = stage.tools.call

    async def spy(c: ToolCall, **kw):  # every tool call that reaches the allow-list
        acted.append(c.name)
        return await call(c, **kw)

    stage.tools.call = spy  # type: ignore[method-assign]
    return stage, fake, acted


def turn() -> Turn:
    return Turn(id=1, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)


async def settle() -> None:
    """Let the early reply run as far as it can: a few turns of the loop, no clock."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_an_early_reply_acts_only_once_the_final_transcript_confirms_it():
    stage, fake, acted = dialogue([ToolCall("c1", "light", {"room": "bedroom", "state": "on"})])
    t = turn()
    assert [f async for f in stage.process(Transcript(turn=t, text=ASK, tentative=True))] == []
    await asyncio.wait_for(fake.done.wait(), 5)  # the model has answered the words at the pause
    await settle()
    assert acted == [], "no tool acts on a tentative transcript"
    out = [f async for f in stage.process(Transcript(turn=t, text=ASK))]
    assert acted == ["light"] and len(fake.requests) == 1, "the early reply is used, not made again"
    assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [("light", {"room": "bedroom", "state": "on"})]
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "Bedroom light on."


async def test_a_different_final_transcript_throws_the_early_reply_away():
    stage, fake, acted = dialogue([ToolCall("c1", "light", {"room": "bedroom", "state": "on"}),
                                   "It is a lovely evening."])
    t = turn()
    assert [f async for f in stage.process(Transcript(turn=t, text=ASK, tentative=True))] == []
    await asyncio.wait_for(fake.done.wait(), 5)
    await settle()
    out = [f async for f in stage.process(Transcript(turn=t, text="What a lovely evening."))]
    assert acted == [] and not [f for f in out if isinstance(f, DeviceAction)], "the early call never acts"
    assert len(fake.requests) == 2, "the final words are answered afresh"
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert "lovely" in done.text and "Bedroom light on" not in done.text
    assert not any(m["content"] == "Bedroom light on." for m in stage.memory.history if m["role"] == "assistant")


async def test_going_on_after_the_pause_throws_the_early_reply_away():
    stage, fake, acted = dialogue(["Sure.", "Here is the weather."])
    t = turn()
    assert [f async for f in stage.process(Transcript(turn=t, text="What about the", tentative=True))] == []
    await asyncio.wait_for(fake.done.wait(), 5)
    resumed = [f async for f in stage.process(SpeechStarted(start=20000, sample_rate=16000, resumed=True))]
    assert [type(f) for f in resumed] == [SpeechStarted] and stage._pre is None, "the early reply is gone"
    out = [f async for f in stage.process(Transcript(turn=t, text="What about the weather tomorrow?"))]
    assert len(fake.requests) == 2 and acted == []
    assert "".join(f.text for f in out if isinstance(f, ReplyToken)).strip() == "Here is the weather."
