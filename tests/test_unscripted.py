"""What omni does with talk nobody scripted, in the parts that need no model: which tools a turn
is offered, requests of several parts, words that end a turn, and visual questions in other
words. (Claims of actions not done: tests/test_guard.py and tests/test_claimed_calls.py; the same
behaviours on real voices: tests/test_real_speech.py; in figures: bench/quality.py.)"""

from __future__ import annotations

import time

from scripted import LIGHT

from omni.dialogue.wording import clauses, spoken_seconds
from omni.dialogue.tools import ActionSpec, ToolRegistry, ToolsOptions
from omni.dialogue.types import ToolCall
from omni.engines.turn_words import sounds_finished, unfinished
from omni.frames import SceneFrame, TextLine
from omni.stages.look import LookStage

# which tools a turn is offered ------------------------------------------------------------

def test_a_tool_is_offered_only_to_a_turn_near_it():
    reg = ToolRegistry(ToolsOptions(), [LIGHT])
    assert reg.offered("Can you turn the bedroom lamp on?", {"light": 0.69, "set_timer": 0.1}) == {"light"}
    # "minute" is a timer keyword, but the turn is nowhere near asking for a timer
    assert reg.offered("My train was twenty minutes late this morning.", {"set_timer": 0.19}) == frozenset()
    assert reg.offered("I just got back from a long walk.", {"light": 0.16, "get_time": 0.13}) == frozenset()
    # without intent examples (no nearness known), a keyword said is enough
    assert reg.offered("What time is it?", {}) == {"get_time"}
    assert reg.offered("How late is it?", {}) == {"get_time"}
    assert [t["function"]["name"] for t in reg.schemas(frozenset({"light"}))] == ["light"]


def test_the_volumes_own_words_ground_a_call_to_it_and_other_things_lowered_do_not():
    """"Softer, please." asks for the volume down: the model's call is done, not refused as a
    call the words do not ask for (the desktop pipeline's actions, as declared)."""
    from omni.config import load_pipeline

    cfg = load_pipeline("desktop")
    opts = next(s for s in cfg.stages if s.kind == "dialogue").options
    reg = ToolRegistry(ToolsOptions(**opts["tools"]), [ActionSpec(**a) for a in opts["actions"]])
    down = ToolCall("c1", "volume", {"direction": "down"})
    for said in ("Softer, please.", "A bit quieter.", "Turn the sound down."):
        assert reg.ungrounded(down, said) is None, said
    assert reg.ungrounded(down, "Reduce the oven temperature.") is not None


def test_arguments_are_read_from_the_words_said():
    reg = ToolRegistry(ToolsOptions(), [LIGHT])
    c = reg.act_from_words("light", "switch off the bed room light")
    assert c is not None and c.arguments == {"room": "bedroom", "state": "off"}
    c = reg.act_from_words("light", "lights on in the living room")
    assert c is not None and c.arguments == {"room": "living room", "state": "on"}
    assert reg.act_from_words("light", "turn the light on and then off") is None, "two states said"
    assert reg.act_from_words("light", "turn on the kitten light") is None, "no room said"


async def test_a_timer_runs_for_the_length_the_user_said():
    reg = ToolRegistry(ToolsOptions(), [])
    res = await reg.call(ToolCall("c", "set_timer", {"seconds": 5}), said="Set a timer for five minutes.")
    assert res.ok and res.content["seconds"] == 300, res.content
    await reg.aclose()
    assert spoken_seconds("set a timer for minus five seconds") == -5
    res = await reg.call(ToolCall("c", "set_timer", {"seconds": -5}), said="a timer for minus five seconds")
    assert not res.ok and res.content.get("invalid")


async def test_a_call_over_an_unsaid_room_asks_which_room():
    reg = ToolRegistry(ToolsOptions(), [LIGHT])
    res = await reg.call(ToolCall("c", "light", {"room": "kitchen", "state": "on"}), said="Turn on the kitten light.")
    assert res.content.get("refused") and res.content["ask"] == {
        "argument": "room", "choices": ["kitchen", "bedroom", "living room"]}


def test_a_request_of_several_parts_is_split():
    assert clauses("Turn off the alarm and open the garage door, then turn on the bedroom light.") == [
        "Turn off the alarm", "open the garage door", "turn on the bedroom light"]
    assert clauses("Lights off in the kitchen, please.") == ["Lights off in the kitchen"]
    assert clauses("What is the capital of France?") == ["What is the capital of France"]


# the words at a pause ----------------------------------------------------------------------

def test_finished_and_unfinished_words():
    for t in ["Ever tried.", "What are you talking about?", "It was the age of wisdom, it was the age of foolishness.",
              "Yes."]:
        assert sounds_finished(t), t
    for t in ["It was the best of times,", "I need eggs, milk and", "Tell me about the", "Do you remember the day",
              "ever tried...", ""]:
        assert not sounds_finished(t), t
    assert unfinished("eggs, milk,") and not unfinished("That is all for now.")


# visual questions in other words ------------------------------------------------------------

PHRASINGS = ["What does that sign say?", "Read this for me.", "What's written there?", "What does that time say?",
             "Can you read that?", "What am I looking at?", "What does it say on the board?",
             "Tell me what that says.", "Which platform is this?", "What's on that sign over there?"]
NOT_VISUAL = ["What is the capital of France?", "How are you today?", "Tell me a fun fact about trains.",
              "Set a timer for five minutes."]


def sign_scene(text: tuple[str, ...] = ("PLATFORM 7", "TRAINS TO OSLO")) -> SceneFrame:
    return SceneFrame(captured=time.monotonic(), seq=1, source="test", size=(640, 480),
                      text=tuple(TextLine(text=t, score=0.99, box=(0, 0, 10, 10)) for t in text),
                      t=time.monotonic())


def test_with_text_in_view_questions_about_it_are_visual_whatever_the_words():
    look = LookStage("look")
    look.scene = sign_scene()
    assert [q for q in PHRASINGS if look.kind(q) is None] == []
    assert [q for q in NOT_VISUAL if look.kind(q) is not None] == []
    look.scene = sign_scene(())  # nothing written in view: "that time" is not read from the camera
    assert look.kind("What does that time say?") is None
    assert look.kind("What am I looking at?") == "look"
