"""Asked how a thing is that omni itself just set, omni says what it set. "Is it on now?" right
after switching the kitchen light on got "I can't tell from here. I can switch a light on or
off": true (nothing reads a device) and no answer to someone who just heard "Kitchen light on.".
What omni did in the conversation is what it knows; another room, or a thing it never set, is
still a question it can't answer."""

from __future__ import annotations

import time

from helpers import Scripted
from scripted import LIGHT

from omni.dialogue.followups import set_by_me
from omni.dialogue.router import Router, RoutingOptions
from omni.dialogue.tools import ActionSpec, ToolRegistry, ToolsOptions
from omni.dialogue.types import ToolCall
from omni.frames import ReplyDone, Transcript, Turn
from omni.stages.dialogue import Dialogue, DialogueOptions

VOLUME = ActionSpec(name="volume", description="Turn the speaker volume up or down.", say="Volume {direction}.",
                    keywords=["volume", "louder", "quieter", "softer", "sound"],
                    parameters={"direction": {"enum": ["up", "down"]}},
                    words={"up": ["louder"], "down": ["quieter", "softer"]})
KITCHEN_ON = ("light", {"room": "kitchen", "state": "on"})


def test_the_call_asked_about_is_the_last_of_the_thing_named():
    tools = ToolRegistry(ToolsOptions(), [LIGHT, VOLUME])
    ran = [KITCHEN_ON, ("volume", {"direction": "up"})]
    assert set_by_me("Is the kitchen light on now?", ran, [ran[-1]], tools) == KITCHEN_ON
    assert set_by_me("Is the light off?", ran, [ran[-1]], tools) == KITCHEN_ON  # the state set is the answer
    assert set_by_me("Is it louder now?", ran, [ran[-1]], tools) == ran[-1]
    assert set_by_me("Is it on now?", ran[:1], ran[:1], tools) == KITCHEN_ON  # "it": the turn before's
    # another room, or nothing omni set: not known
    assert set_by_me("Is the bedroom light on?", ran, [ran[-1]], tools) is None
    assert set_by_me("Is the living room light on?", [("light", {"room": "living room", "state": "on"})], [],
                     tools) is not None
    assert set_by_me("Did I leave the bedroom light on?", [], [], tools) is None
    assert set_by_me("Is it raining?", ran, [], tools) is None  # "it", but the turn before did nothing
    # a question of what happened, the thing named by what it works on; not other talk of it
    bedroom = [("light", {"room": "bedroom", "state": "off"})]
    assert set_by_me("Did the bedroom one go off?", bedroom, bedroom, tools) == bedroom[0]
    assert set_by_me("Did it work?", bedroom, bedroom, tools) == bedroom[0]
    assert set_by_me("Is it raining?", bedroom, bedroom, tools) is None
    assert set_by_me("Do you know any jokes about it?", bedroom, bedroom, tools) is None
    assert set_by_me("Turn the bedroom light off.", bedroom, bedroom, tools) is None  # no question


async def _turns(stage: Dialogue, *texts: str) -> list[str]:
    out = []
    for i, text in enumerate(texts, 1):
        turn = Turn(id=i, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)
        frames = [f async for f in stage.process(Transcript(turn=turn, text=text))]
        out.append(next(f.text for f in frames if isinstance(f, ReplyDone)))
    return out


def _stage(replies: list, **options) -> tuple[Dialogue, Scripted]:
    stage = Dialogue("llm", DialogueOptions(intents={"enabled": False}, prefill_next=False, actions=[LIGHT], **options))
    fake = Scripted(replies)
    stage.backends = {"local": fake}
    stage.router = Router(stage.backends, RoutingOptions(order=["local"]))
    return stage, fake


async def test_asked_how_the_light_omni_just_switched_is_it_says_what_it_set():
    call = ToolCall("c1", "light", {"room": "kitchen", "state": "on"})
    stage, fake = _stage([call, "The bedroom light is off."])
    first, second, third = await _turns(stage, "Turn on the kitchen light.", "Is it on now?", "Is the bedroom light on?")
    assert first == "Kitchen light on."
    assert second == "I set it myself just now: kitchen light on."
    assert len(fake.requests) == 2  # no model for the second turn
    i = stage.memory.history.index({"role": "user", "content": "Is it on now?"})
    assert stage.memory.history[i + 1] == {"role": "assistant", "content": second}  # the next turn knows it
    # the bedroom light omni never set: the model's claim of it is not spoken
    assert "off" not in third and "can't tell" in third
    # off: asked like any other question
    stage, fake = _stage([call, "The kitchen light is on."], set_by_me=None)
    assert "set it myself" not in (await _turns(stage, "Turn on the kitchen light.", "Is it on now?"))[1]


def test_a_question_of_what_happened_asks_how_things_are_and_is_offered_no_device():
    """"Did I leave the bedroom light on?" (a blind probe) got the bedroom light switched on: a
    question of what happened, like "Is ... ?", asks for nothing to be done."""
    from omni.dialogue.asks import asks_how

    for said in ("Did I leave the bedroom light on?", "Did the timer go off?", "Didn't I switch it off?",
                 "Is the kitchen light on?"):
        assert asks_how(said), said
    for said in ("Turn the bedroom light on.", "Could you switch it off?", "Do turn it down."):
        assert not asks_how(said), said


def test_requests_and_other_questions_of_the_thing_are_not_told_what_was_set():
    """A review: each of these, right after the kitchen light went on, got "I set it myself just
    now: kitchen light on." and the light was not switched off."""
    stop = ActionSpec(name="stop", description="Stop talking.", say="Okay.", keywords=["stop"])
    tools = ToolRegistry(ToolsOptions(), [LIGHT, VOLUME, stop])
    ran = [KITCHEN_ON]
    for said in ("Do you mind turning the kitchen light off?", "Do you think you could turn it off?",
                 "Is the kitchen light still on, and can you turn it off?", "Is the light on? Turn it off then.",
                 "Do lights use much power when they are on?", "Does the light in the kitchen turn off automatically?",
                 "Is the kitchen light on a timer?", "Is that on purpose?", "Is it on sale?"):
        assert set_by_me(said, ran, ran, tools) is None, said
    assert set_by_me("Is the kitchen light still on?", ran, ran, tools) == KITCHEN_ON
    # an action with no state (stop), or one turned off (its device gone), is not told
    assert set_by_me("Did that work?", [("stop", {})], [("stop", {})], tools) is None
    tools.off = {"light"}
    assert set_by_me("Is it on now?", ran, ran, tools) is None


def test_a_did_question_with_a_request_after_it_still_asks_for_the_request():
    from omni.dialogue.asks import asks_how

    for said in ("Didn't you hear me? Turn off the kitchen light.", "Did you set the timer? If not, set one for five minutes."):
        assert not asks_how(said), said
