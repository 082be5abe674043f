"""A request no action allows gets an honest no, not agreement and a question about its details;
a stop agreed to in words is done; a value the user rules out is never acted on. (Scripted model
replies, as the bundled models gave them on the everyday set's dev half: bench/quality.py.)"""

from __future__ import annotations

from scripted import LIGHT, scripted_turn

from omni.dialogue.claims import ClaimGuard, acknowledges, asks_for_action, asks_to_act
from omni.dialogue.tools import ActionSpec, ToolRegistry, ToolsOptions
from omni.dialogue.types import ToolCall
from omni.frames import DeviceAction, ReplyDone


def reply_of(out: list) -> str:
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    return done.text


async def test_agreeing_to_what_no_action_does_and_asking_its_details_is_an_honest_no():
    """'Turn on the air conditioning.' got 'Sure, I can help with that. What's the temperature?',
    and 'Book a table for two at the Italian place on Friday.' 'Sure, I can help with that! Let's
    go to the Italian place on Friday and book a table for two.' (dev n029, n007): a promise, and
    the user would wait for a table nobody books."""
    for reply, said in [("Sure, I can help with that. What's the temperature?", "Turn on the air conditioning."),
                        ("Sure, I can help with that! Let's go to the Italian place on Friday and book a table for two.",
                         "Book a table for two at the Italian place on Friday."),
                        ("Sure! What time would you like the table?", "Can you book a table for two?"),
                        ("Of course. Which programme?", "Could you start the washing machine?")]:
        _, out, _ = await scripted_turn([reply], said)
        assert reply_of(out) == "Sorry, I can't do that.", (said, reply_of(out))
        assert not [f for f in out if isinstance(f, DeviceAction)]
    # help promised with the errand named is the errand promised (dev n003, spoken)
    _, out, _ = await scripted_turn(["Sure, I can help you order a pizza!"], "Can you order a pizza for us?")
    assert reply_of(out) == "Sorry, I can't do that.", reply_of(out)
    _, out, _ = await scripted_turn(["I can help you plan a trip. Where to?"], "Can you help me plan a trip?")
    assert reply_of(out) == "I can help you plan a trip. Where to?", reply_of(out)
    # what it says it can't do is still said after the agreement
    _, out, _ = await scripted_turn(["Sure, I can help with that! However, I can't book tables myself."],
                                    "Book a table for two at eight.")
    assert reply_of(out).endswith("I can't book tables myself."), reply_of(out)
    # help asked for in words, a question about the user's day, or an action offered: as before
    for reply, said in [("Sure, I can help with that! What kind of email is it?", "Can you help me write an email?"),
                        ("Sure! What are you cooking?", "I'm starting dinner now."),
                        ("Sure! Which room?", "Turn on the light.")]:
        _, out, _ = await scripted_turn([reply], said)
        assert reply_of(out) == reply, (said, reply_of(out))
    assert asks_to_act("Turn on the air conditioning.") and asks_to_act("Could you start the dishwasher?")
    assert not asks_to_act("Can you help me write an email?") and not asks_to_act("I'm starting dinner now.")


def test_the_guard_drops_the_agreement_and_what_follows_it_but_not_a_no():
    g = ClaimGuard(list, said="Turn on the air conditioning.", no_action=True)
    assert g.feed("Sure, I can help with that. ") + g.feed("What's the temperature?") + g.flush() == ""
    assert g.dropped == ["Sure, I can help with that.", "What's the temperature?"]
    # with an action offered the guard cannot know it will not be done: the agreement goes out
    g = ClaimGuard(list, said="Turn on the air conditioning.")
    assert g.feed("Sure, I can help with that. What's the temperature?") + g.flush() == \
        "Sure, I can help with that. What's the temperature?"


STOP = ActionSpec(name="stop", description="Stop talking and cancel what is going on.", say="Okay.",
                  keywords=["stop", "quiet", "cancel", "enough", "shut", "never mind", "forget it"])


async def test_a_stop_agreed_to_with_thanks_or_asked_as_never_mind_is_done():
    """'Okay okay, that's enough, you can stop now.' got 'Okay, thank you.', and 'Never mind,
    forget it.' got 'I understand.' (dev c006, c012): agreed, and nothing stopped."""
    assert acknowledges("Okay, thank you.") and acknowledges("Thanks!")
    assert asks_for_action("Never mind, forget it.")
    for reply, said in [("Okay, thank you.", "Okay okay, that's enough, you can stop now."),
                        ("I understand.", "Never mind, forget it.")]:
        _, out, _ = await scripted_turn([reply], said, actions=[LIGHT, STOP])
        assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [("stop", {})], (said, out)
        assert reply_of(out) == reply
    # thanks for what the user told is no stop, nor is forgetting told about
    for reply, said in [("Thank you.", "I never mind the rain, honestly."), ("Okay.", "I always forget it.")]:
        _, out, _ = await scripted_turn([reply], said, actions=[LIGHT, STOP])
        assert not [f for f in out if isinstance(f, DeviceAction)], (said, out)


def test_a_value_the_user_rules_out_is_never_the_one_acted_on():
    """'Not the kitchen light, please.' did not stop a claim of the kitchen light: the room was
    named, and named was taken for asked."""
    reg = ToolRegistry(ToolsOptions(), actions=[LIGHT])
    kitchen_on = ToolCall("c", "light", {"room": "kitchen", "state": "on"})
    for said in ["Not the kitchen light, please.", "Turn on the bedroom light, not the kitchen one.",
                 "No, not kitchen, the bedroom."]:
        assert reg.contradicts(kitchen_on, said), said
    for said in ["Turn on the kitchen light, not the bedroom one.", "Kitchen light on, please.",
                 "It's not dark in here, turn the kitchen light on."]:
        assert not reg.contradicts(kitchen_on, said), said


async def test_a_claim_of_a_light_the_user_ruled_out_is_not_done():
    for said in ["Turn on the bedroom light, not the kitchen one.", "Not the kitchen light, please."]:
        _, out, _ = await scripted_turn(["The kitchen light is on."], said)
        assert ("light", {"room": "kitchen", "state": "on"}) not in [
            (f.action, f.args) for f in out if isinstance(f, DeviceAction)], said
        assert "kitchen light is on" not in reply_of(out).lower(), reply_of(out)
