"""A request no action allows gets an honest no, not agreement and a question about its details;
a stop agreed to in words is done; a value the user rules out is never acted on. (Scripted model
replies, as the bundled models gave them on the everyday set's dev half: bench/quality.py.)"""

from __future__ import annotations

import time

from helpers import Scripted
from scripted import LIGHT, scripted_turn

from omni.dialogue.asks import asks_for_action, asks_to_act
from omni.dialogue.claims import acknowledges, claims_asked, promises
from omni.dialogue.guard import ClaimGuard
from omni.dialogue.router import Router, RoutingOptions
from omni.dialogue.tools import ActionSpec, ToolRegistry, ToolsOptions
from omni.dialogue.types import ToolCall
from omni.frames import DeviceAction, ReplyDone, Transcript, Turn
from omni.stages.dialogue import Dialogue, DialogueOptions


def reply_of(out: list) -> str:
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    return done.text


async def test_an_errand_no_offered_tool_names_is_in_vain_whatever_tool_was_offered():
    """'Book a haircut for Saturday morning.' was offered the clock (near "morning"), so the guard
    took it that an action might do the errand and let "Sure, I can help with that. What time
    would you like the haircut?" through (probe 4): the clock books nothing."""
    stage = Dialogue("llm", DialogueOptions(intents={"enabled": False}, prefill_next=False, actions=[LIGHT]))
    stage.backends = {"local": Scripted(["Sure, I can help with that. What time would you like the haircut?"])}
    stage.router = Router(stage.backends, RoutingOptions(order=["local"]))
    stage.tools.offered = lambda said, near: frozenset({"get_time"})  # type: ignore[method-assign]
    turn = Turn(id=1, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)
    out = [f async for f in stage.process(Transcript(turn=turn, text="Book a haircut for Saturday morning."))]
    assert reply_of(out) == "Sorry, I can't do that.", reply_of(out)


async def test_agreeing_to_what_no_action_does_and_asking_its_details_is_an_honest_no():
    """'Turn on the air conditioning.' got 'Sure, I can help with that. What's the temperature?',
    and 'Book a table for two at the Italian place on Friday.' 'Sure, I can help with that! Let's
    go to the Italian place on Friday and book a table for two.' (dev n029, n007): a promise, and
    the user would wait for a table nobody books."""
    for reply, said in [("Sure, I can help with that. What's the temperature?", "Turn on the air conditioning."),
                        ("Sure, I can help with that! Let's go to the Italian place on Friday and book a table for two.",
                         "Book a table for two at the Italian place on Friday."),
                        ("Sure! What time would you like the table?", "Can you book a table for two?"),
                        ("Sure, I can help you with that. Where to?", "Order me a cab to the station."),
                        # a deed no list names, asked first (probes 1 and 2 of bench/quality/requests.yaml)
                        ("Sure, I can help with that.", "Charge my car."),
                        ("Sure, let me help you with that. What kind of plants are they?", "Water the plants."),
                        ("Sure, I can help you record this show.", "Can you record this show?"),
                        ("Of course. Which programme?", "Could you start the washing machine?")]:
        _, out, _ = await scripted_turn([reply], said)
        assert reply_of(out) == "Sorry, I can't do that.", (said, reply_of(out))
        assert not [f for f in out if isinstance(f, DeviceAction)]
    # help promised with the errand named is the errand promised, and so is what follows it (dev n003, spoken)
    for reply in ["Sure, I can help you order a pizza!", "Sure, I can help you order a pizza! What toppings?"]:
        _, out, _ = await scripted_turn([reply], "Can you order a pizza for us?")
        assert reply_of(out) == "Sorry, I can't do that.", (reply, reply_of(out))
    # what talk does is no deed left undone, nor is a statement that starts with a verb's form
    # (a review's cases: these were dropped for "Sorry, I can't do that.")
    for reply, said in [("Sure, I can help you plan your week. What's on Monday?", "Plan my week."),
                        ("Running your first marathon is a huge achievement! How are you feeling?",
                         "Running my first marathon on Sunday."),
                        ("Painting your bedroom can really refresh the space.", "Painting my bedroom this weekend."),
                        ("Sure, I can help with that! What is the capital of Peru?", "Quiz me on world capitals."),
                        ("Sure, I can help you practice Spanish! ¿Cómo estás?", "Practice Spanish with me."),
                        ("Okay.", "Ignore that, I was talking to my son."),
                        ("Sure! Why did the scarecrow win an award? He was outstanding in his field.", "Tell me a joke."),
                        ("Of course! What should the poem be about?", "Can you write me a poem?")]:
        _, out, _ = await scripted_turn([reply], said)
        # (an offer to words that ask nothing goes unsaid when more follows: "What is the capital of Peru?")
        heard = reply_of(out)
        assert heard and heard != "Sorry, I can't do that." and reply.endswith(heard), (said, heard)
    # another's "can't" ends no promise ("You can't go wrong with pepperoni." is still the pizza)
    for reply in ["Sure, I can help you order a pizza! You can't go wrong with pepperoni. What size?",
                  "I'll order a pizza for you! I can't wait. What toppings?"]:
        _, out, _ = await scripted_turn([reply], "Can you order a pizza for us?")
        assert reply_of(out) == "Sorry, I can't do that.", (reply, reply_of(out))
    # what it says it can't do is still said after the agreement, and what it says from there on
    for reply, said, heard in [
            ("Sure, I can help with that! However, I can't book tables myself.", "Book a table for two at eight.",
             "I can't book tables myself."),
            ("Sure, I can help with that! I'm unable to order, but try the Domino's app.", "Can you order a pizza for us?",
             "I'm unable to order, but try the Domino's app.")]:
        _, out, _ = await scripted_turn([reply], said)
        assert reply_of(out).endswith(heard), reply_of(out)
    # help asked for in words, talk that only sounds like an errand, or an action offered: as before
    for reply, said in [("Sure, I can help with that! What kind of email is it?", "Can you help me write an email?"),
                        ("I can help you plan a trip. Where to?", "Can you help me plan a trip?"),
                        ("Sure, I can help you save money on groceries.", "Can you help me save money on groceries?"),
                        ("Sure! What are you cooking?", "I'm starting dinner now."),
                        ("Sure, I can help with that! Roses are red.", "Can you turn this into a poem?"),
                        ("Sure! What would you like to talk about?", "Switch topics: what's your favourite film?"),
                        ("Sure! Have you tried a list?", "Start of the week is always busy, any tips?"),
                        ("Sure! Did you know octopuses have three hearts?", "Cool! Tell me a fun fact."),
                        ("Sure! How about twenty questions?", "Can you play a game with me?"),
                        ("Sure, I can help with that! Mix flour, eggs and milk.", "Could you send me a recipe for pancakes?"),
                        ("Sure! What genres do you like?", "Book recommendations for the summer?"),
                        ("Sure! Go to settings, then apps.", "Lock screen keeps showing ads, how do I fix it?"),
                        ("Sure! One, two, five.", "Can you order these from smallest to largest: five, one, two?"),
                        ("Sure! Which room?", "Turn on the light.")]:
        _, out, _ = await scripted_turn([reply], said)
        assert reply_of(out) == reply, (said, reply_of(out))
    assert asks_to_act("Turn on the air conditioning.") and asks_to_act("Could you start the dishwasher?")
    assert not asks_to_act("Can you help me write an email?") and not asks_to_act("I'm starting dinner now.")


def test_help_promised_with_a_device_or_errand_named_is_a_promise_of_it():
    assert promises("Sure, I can be quiet for a while.") == "stop"
    assert promises("Sure, I can help you set a timer for five minutes.") == "set_timer"
    assert promises("I can help you turn off the kitchen light.") == "light"
    assert promises("I can help you turn on the air conditioning.") == "other"
    assert promises("Sure, I can help you order a pizza!") == "other"
    for advice in ["I can help you set goals for the week.", "I can help you reduce stress.",
                   "I can help you turn your life around.", "I can help you plan a trip."]:
        assert promises(advice) is None, advice


def test_the_guard_drops_the_agreement_and_what_follows_it_but_not_a_no():
    g = ClaimGuard(list, said="Turn on the air conditioning.", no_action=True)
    assert g.feed("Sure, I can help with that. ") + g.feed("What's the temperature?") + g.flush() == ""
    assert g.dropped == ["Sure, I can help with that.", "What's the temperature?"]
    # with an action offered the guard cannot know it will not be done: the agreement goes out
    g = ClaimGuard(list, said="Turn on the air conditioning.")
    assert g.feed("Sure, I can help with that. What's the temperature?") + g.flush() == \
        "Sure, I can help with that. What's the temperature?"


STOP = ActionSpec(name="stop", description="Stop talking and cancel what is going on.", say="Okay.",
                  keywords=["stop", "quiet", "cancel", "enough", "shut", "never mind"])


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
    # with a word before it, and what goes with it, "never mind" is still a stop
    for said in ["Actually, never mind, forget it.", "Um, never mind, don't bother."]:
        _, out, _ = await scripted_turn(["Okay."], said, actions=[LIGHT, STOP])
        assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [("stop", {})], (said, out)
    # words that hold the keyword and ask for something, but no stop: not done
    for reply, said in [("Okay.", "Please, I never mind the rain."),
                        ("Okay.", "Please, I'd never mind a bit of rain.")]:
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
                 "It's not dark in here, turn the kitchen light on.", "Turn on the bedroom light, no, the kitchen light.",
                 "Oh no, the kitchen light is still off, turn it on."]:
        assert not reg.contradicts(kitchen_on, said), said
    # nor does a model's own call to it run
    assert "ruled out" in (reg.ungrounded(kitchen_on, "Turn on the bedroom light, not the kitchen one.") or "")
    assert reg.ungrounded(kitchen_on, "Turn on the kitchen light, not the bedroom one.") is None


async def test_a_correction_with_no_chooses_the_value_after_it():
    _, out, _ = await scripted_turn(["Bedroom light on."], "Turn on the kitchen light, no, the bedroom light.")
    assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [
        ("light", {"room": "bedroom", "state": "on"})]


async def test_a_claim_of_a_light_the_user_ruled_out_is_not_done():
    for said in ["Turn on the bedroom light, not the kitchen one.", "Not the kitchen light, please."]:
        _, out, _ = await scripted_turn(["The kitchen light is on."], said)
        assert ("light", {"room": "kitchen", "state": "on"}) not in [
            (f.action, f.args) for f in out if isinstance(f, DeviceAction)], said
        assert "kitchen light is on" not in reply_of(out).lower(), reply_of(out)


async def test_a_claim_is_read_against_what_was_asked_whatever_thing_it_names():
    """'Start the robot mower.' got 'Robot mower started.', 'Arm the security system.' 'Security
    system armed.', 'Wake me up at seven tomorrow.' "Sure, I'll wake you up at seven tomorrow."
    (a probe set of fresh requests, not the everyday set): no list of devices held the thing, so
    the guard let the lie through. Read against the words that asked for it, it is a claim."""
    for reply, said in [("Lawnmower started.", "Start the lawnmower."),
                        ("Heated blanket on.", "Turn on the heated blanket."),
                        ("Feeding the cat now.", "Could you feed the cat?"),
                        ("Sure, I'll wake you at six.", "Wake me at six."),
                        ("Sprinklers running.", "Please start the sprinklers."),
                        ("Recording paused.", "Pause the recording."),
                        ("Sure, let me look up your order.", "Where's my order?"),
                        ("I can iron your shirt.", "Iron my shirt, please."),  # agreed as an ability
                        ("Turn on the radio.", "Put some music on."),  # an errand handed back
                        ("Phone your brother.", "Phone my brother."),
                        ("Done.", "Set the hallway lamp to blue."),  # and nothing was done
                        ("Set a timer for 12 hours.", "Remind me to water the plants tonight."),
                        # a fresh probe set (probe 4): the errand under way in other words, and
                        # handed back after a lead-in
                        ("Garage defrosting in progress.", "Defrost the garage freezer."),
                        ("Sure, wash the car before you go.", "Wash the car before I go."),
                        ("Okay, heat up the soup in the microwave.", "Heat up the soup for dinner.")]:
        _, out, _ = await scripted_turn([reply], said)
        assert reply_of(out) == "Sorry, I can't do that.", (said, reply_of(out))
        assert not [f for f in out if isinstance(f, DeviceAction)]
    # answers to what was asked in words are no claims of it
    for reply, said in [("Alexander Graham Bell invented the telephone.", "Could you tell me who invented the telephone?"),
                        ("I'll tell you a joke: why did the chicken cross the road?", "Tell me a joke."),
                        ("Boil the water first, then add the pasta.", "Can you give me a pasta recipe?"),
                        ("I can't start the lawnmower, sorry.", "Start the lawnmower."),
                        ("Congratulations on starting the new job!", "I started a new job today."),
                        ("Let me explain your options: rent or buy.", "What are my options?"),
                        ("Turn it off and on again.", "How do I fix my router?"),
                        ("Turn the bike upside down first.", "Can you help me fix my bike?"),
                        # a review's cases: words taken for an asked verb, verbs kept by talking
                        ("Turn it off and on again.", "Hey Omni, how do I fix my router?"),
                        ("Put your phone away an hour before bed.", "I can't sleep. Tips?"),
                        ("Sure! Let me know what's on your mind.", "Let's chat."),
                        ("Got it, I'll keep that in mind.", "Keep in mind that I'm vegetarian."),
                        ("Of course, I can keep a secret!", "Can you keep a secret?"),
                        ("Yes, I can hear you.", "Can you hear me?"),
                        ("Wishing you the best of luck on your exam!", "Wish me luck, I have an exam today!"),
                        ("I flipped a coin and got heads.", "Flip a coin."),
                        ("Defrosting a freezer with a bowl of hot water inside takes about an hour.",
                         "I need to defrost the freezer."),
                        ("Sure, boiling the kettle first makes it quicker.", "How do I make tea?")]:
        assert claims_asked(reply, said) is None, (said, reply)
    assert claims_asked("Kitchen light on.", "Turn on the kitchen light.") == "light"


async def test_agreeing_and_telling_the_errands_things_as_done_is_a_claim():
    """'Add eggs to my shopping list.' got 'Sure, eggs are on the list.' (the everyday set's dev
    half, text, after the twenty-fourth session's system prompt): nothing put them there."""
    for reply, said in [("Sure, eggs are on the list.", "Add eggs to my shopping list."),
                        ("Okay, the table is booked for Friday.", "Book a table at Luigis for Friday.")]:
        _, out, _ = await scripted_turn([reply], said)
        assert reply_of(out) == "Sorry, I can't do that.", (said, reply_of(out))
    # where else to do it is told to the user, not claimed done (a review's cases)
    for reply, said in [("Sure, you could keep a shopping list in your phone's notes app.", "Add eggs to my shopping list."),
                        ("Sure, Luigis takes bookings by phone or on their website.", "Book a table at Luigis for Friday.")]:
        _, out, _ = await scripted_turn([reply], said)
        assert " ".join(reply_of(out).split()) == reply, (said, reply_of(out))
    # an honest no after the same lead is spoken as it was
    for reply, said in [("Sure, I can't add eggs to a list, sorry.", "Add eggs to my shopping list."),
                        ("Okay, but I can't lock the back door.", "Lock the back door, please.")]:
        _, out, _ = await scripted_turn([reply], said)
        assert " ".join(reply_of(out).split()) == reply, (said, reply_of(out))
