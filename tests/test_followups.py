"""Turns that go on from the one before: follow-ups and corrections resolve against what was said
and done, with the real local model (the pipeline's default) for the ones only a model can answer."""

from __future__ import annotations

import time

import pytest

from omni.config import load_pipeline
from omni.dialogue.followups import follow_up
from omni.frames import DeviceAction, ReplyDone, Transcript, Turn
from omni.stages import build_stage


def desktop_tools():
    stage = build_stage(next(s for s in load_pipeline("desktop").stages if s.kind == "dialogue"))
    return stage.tools


@pytest.mark.parametrize("said, last, want", [
    ("And the kitchen too.", ("light", {"room": "bedroom", "state": "on"}), ("light", {"room": "kitchen", "state": "on"})),
    ("Oops, no, I meant the bedroom.", ("light", {"room": "living room", "state": "off"}),
     ("light", {"room": "bedroom", "state": "off"})),
    ("A bit more.", ("volume", {"direction": "up"}), ("volume", {"direction": "up"})),
    ("Actually, make it ten.", ("set_timer", {"seconds": 300}), ("set_timer", {"seconds": 600})),
    ("No, louder.", ("volume", {"direction": "down"}), ("volume", {"direction": "up"})),
    ("More, I still can't hear you.", ("volume", {"direction": "up"}), ("volume", {"direction": "up"})),
    ("One more time.", ("volume", {"direction": "up"}), ("volume", {"direction": "up"})),
    # a thing named that is the action's own, or why more is asked (a review of the check above)
    ("Turn it down a bit more.", ("volume", {"direction": "down"}), ("volume", {"direction": "down"})),
    ("Turn up the volume again.", ("volume", {"direction": "up"}), ("volume", {"direction": "up"})),
    ("More, I can't hear the music.", ("volume", {"direction": "up"}), ("volume", {"direction": "up"})),
    # how the room is, not the speaker, asks for the same again
    ("It's too quiet again.", ("volume", {"direction": "up"}), ("volume", {"direction": "up"})),
    ("More please, I'm cooking.", ("volume", {"direction": "up"}), ("volume", {"direction": "up"})),
    ("Again, I'm still in the dark.", ("light", {"room": "kitchen", "state": "on"}), ("light", {"room": "kitchen", "state": "on"})),
    ("Once more, I'm cold again.", ("volume", {"direction": "up"}), ("volume", {"direction": "up"})),
])
def test_a_follow_up_changes_what_it_names_of_the_last_call(said, last, want):
    call = follow_up(said, [last], desktop_tools())
    assert call is not None and (call.name, call.arguments) == want


@pytest.mark.parametrize("said, last", [
    ("The kitchen is a mess.", ("light", {"room": "bedroom", "state": "on"})),  # no cue: not about the light
    ("And what about dinner tonight, any ideas for something quick and healthy?", ("light", {"room": "bedroom", "state": "on"})),
    ("No, thanks.", ("light", {"room": "bedroom", "state": "on"})),  # names nothing, asks for nothing again
    ("And the garden too.", ("light", {"room": "bedroom", "state": "on"})),  # not a room the action has
    # "more" asks for the same again only when nothing else is asked for (a probe set: 'Order
    # more dog food.' right after a light was switched off switched it off again)
    ("Order more dog food.", ("light", {"room": "bedroom", "state": "off"})),
    ("Tell me more.", ("volume", {"direction": "up"})),
    ("Order the dog food again.", ("light", {"room": "bedroom", "state": "off"})),
    ("Sorry, say that again?", ("volume", {"direction": "up"})),
    ("That's enough, no more.", ("volume", {"direction": "up"})),
    # a statement of its own with "again" in it (probe 14: the kitchen light switched off again)
    ("Oh dear, I burnt the toast again.", ("light", {"room": "kitchen", "state": "off"})),
    ("We lost the match again, can you believe it?", ("volume", {"direction": "up"})),
    ("It's raining again.", ("light", {"room": "kitchen", "state": "on"})),
    ("Oh no, not again.", ("volume", {"direction": "up"})),
    # how the speaker is, said with "again" (a note of the twenty-second session)
    ("I'm hungry again.", ("light", {"room": "kitchen", "state": "off"})),
    ("We're running late again.", ("volume", {"direction": "down"})),
    ("I am so tired again.", ("volume", {"direction": "up"})),
])
def test_what_is_not_a_follow_up_of_the_last_call_is_not_one(said, last):
    assert follow_up(said, [last], desktop_tools()) is None
    assert follow_up("And the kitchen too.", [], desktop_tools()) is None  # nothing was done before


def turn(i: int) -> Turn:
    return Turn(id=i, speech_start=i * 16000, speech_end=i * 16000 + 1, t_speech_end=time.monotonic(),
                sample_rate=16000)


@pytest.mark.slow
async def test_follow_ups_and_corrections_through_the_real_model():
    cfg = load_pipeline("desktop", ["llm.temperature=0"])
    stage = build_stage(next(s for s in cfg.stages if s.kind == "dialogue"))
    await stage.load(lambda *a: None)
    said: list[tuple[str, str, list]] = []
    try:
        for i, text in enumerate(["Turn off the living room light.", "No, I meant the bedroom.",
                                  "What's the capital of Spain?", "And of Portugal?",
                                  "Turn the volume up.", "A bit more."], 1):
            out = [f async for f in stage.process(Transcript(turn=turn(i), text=text))]
            (done,) = [f for f in out if isinstance(f, ReplyDone)]
            said.append((text, done.text, [(f.action, f.args) for f in out if isinstance(f, DeviceAction)]))
    finally:
        await stage.aclose()
    assert said[1][2] == [("light", {"room": "bedroom", "state": "off"})], said[1]
    assert "madrid" in said[2][1].lower(), said[2]
    assert "lisbon" in said[3][1].lower(), said[3]
    assert said[5][2] == [("volume", {"direction": "up"})], said[5]
