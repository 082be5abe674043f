"""What a turn does when the model claims, promises or writes an action: the action done as the
user asked when it was offered, an honest no when it was not, never a claim of what did not happen.
(The guard's reading of the clauses themselves: tests/test_guard.py.)"""

from __future__ import annotations

import re
import time

from scripted import LIGHT, REPORTS, scripted_turn

from omni.dialogue.asks import asks_for_action
from omni.dialogue.claims import acknowledges, promises
from omni.dialogue.tools import ActionSpec
from omni.dialogue.types import ToolCall
from omni.frames import DeviceAction, ReplyDone, Transcript, Turn
from omni.stages.dialogue import DialogueOptions


async def test_a_reply_never_claims_an_action_that_did_not_happen():
    text = "Turn off the alarm and open the garage door, then turn on the bedroom light."
    stage, out, _ = await scripted_turn(["The alarm is turned off. The bedroom light is turned on. "
                                         "The garage door is opened."], text)
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    # the one part the allow-list has, asked for and claimed in the user's own values, is done
    # and said in omni's words; the claims of the others are not spoken
    assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [
        ("light", {"room": "bedroom", "state": "on"})]
    assert "turned" not in done.text and "opened" not in done.text, done.text
    assert "alarm" not in done.text.lower() and "garage" not in done.text.lower(), done.text
    # a claim that names a value the user did not ask for is not done: what the user asked is
    stage, out, _ = await scripted_turn(["The kitchen light is turned on."], "Turn on the bedroom light.")
    assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [
        ("light", {"room": "bedroom", "state": "on"})]
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert "kitchen" not in done.text.lower(), done.text


async def test_a_call_nobody_asked_for_makes_the_model_answer_in_words():
    # "light" is offered (the keyword was said): a call with a room nobody said is refused, and
    # the model answers again without tools
    stage, out, fake = await scripted_turn(
        [ToolCall("c", "light", {"room": "kitchen", "state": "on"}), "Which light do you mean?"],
        "The light in here is nice.")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "Which light do you mean?" and not [f for f in out if isinstance(f, DeviceAction)]
    assert fake.requests[0].tools and not fake.requests[1].tools and fake.requests[1].tool_choice == "none"
    # a statement with no keyword offers no tool at all
    _, out, fake = await scripted_turn(["That sounds lovely."], "I just got back from a long walk.")
    assert not fake.requests[0].tools


async def test_a_call_written_when_no_tool_was_offered_to_a_request_is_an_honest_no():
    """With every tool in view (tools_place: system), the model may write a call to a request no
    tool was offered for ("Start the dishwasher." -> a timer): it is ignored, and the user hears
    that it can't be done, not that no answer could be given."""
    stage, out, fake = await scripted_turn([ToolCall("c", "set_timer", {"seconds": 60})], "Start the dishwasher.")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert not fake.requests[0].tools, "no tool was offered"
    assert done.text == stage.options.refusal and not [f for f in out if isinstance(f, DeviceAction)], done.text
    assert len(fake.requests) == 1
    # a question that words could answer is not told it can't be done
    stage, out, fake = await scripted_turn([ToolCall("c", "set_timer", {"seconds": 60})],
                                           "Could you tell me how long to boil an egg?")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert not fake.requests[0].tools and done.text and done.text != stage.options.refusal, done.text
    # a call again after the offered one was refused for a room nobody said: the user is asked which
    stage, out, fake = await scripted_turn([ToolCall("c", "light", {"room": "kitchen", "state": "on"}),
                                            ToolCall("d", "light", {"room": "kitchen", "state": "on"})],
                                           "Turn on the kitten light.")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert fake.requests[0].tools and not fake.requests[1].tools, "the second round was to be words"
    assert done.text != stage.options.refusal and "kitchen" in done.text.lower(), done.text
    assert not [f for f in out if isinstance(f, DeviceAction)]


async def test_a_countdown_promised_or_a_time_made_up_is_done_by_the_tool():
    """'Could you count down two minutes?' got 'Sure, I can count down two minutes.' and no timer;
    'How late is it?' a made-up '10:30 PM' that the guard dropped, and then only 'Okay.' (a probe
    set of fresh commands, not the everyday set)."""
    stage, out, _ = await scripted_turn(["Sure, I can count down two minutes."], "Could you count down two minutes?")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "Timer set for 2 minutes.", done.text
    assert len(stage.tools.timers) == 1
    await stage.tools.aclose()
    _, out, _ = await scripted_turn(["It's 10:30 PM."], "How late is it?")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text.startswith("It's ") and "10:30" not in done.text, done.text
    # the time in a sentence of its own, before the date: the chunker sends it to TTS alone
    assert re.fullmatch(r"It's \d\d:\d\d\. Today is \w+ \d\d \w+ \d{4}\.", done.text), done.text


async def test_a_timer_claimed_by_the_model_runs_as_long_as_the_user_said_and_only_when_asked():
    """'Nudge me in a quarter of an hour, please.' got a timer for 40 minutes: the claim's own
    "40 minutes" was read with the user's words. And after a timer, 'The bus comes in five
    minutes.' set another: the turn before's tool was offered, and the model's "Timer set for 5
    minutes." grounded itself (bench probe 8, nineteenth session)."""
    stage, out, fake = await scripted_turn(["Timer set for 40 minutes."], "Nudge me in a quarter of an hour, please.")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "Timer set for 15 minutes.", done.text
    assert len(stage.tools.timers) == 1
    fake.replies += ["Timer set for 5 minutes."]
    turn = Turn(id=2, speech_start=0, speech_end=16000, t_speech_end=time.monotonic(), sample_rate=16000)
    out = [f async for f in stage.process(Transcript(turn=turn, text="The bus comes in five minutes."))]
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert len(stage.tools.timers) == 1 and "timer" not in done.text.lower(), done.text
    assert not fake.requests[-1].tools  # the timer is not offered to words that could not ask for it
    await stage.tools.aclose()


async def test_a_claim_of_an_offered_action_named_in_full_by_the_user_is_done():
    _, out, _ = await scripted_turn(["Bedroom lamp on."], "Can you turn the bedroom lamp on?")
    acts = [(f.action, f.args) for f in out if isinstance(f, DeviceAction)]
    assert acts == [("light", {"room": "bedroom", "state": "on"})]
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "Bedroom light on."


async def test_an_offered_action_said_to_be_under_way_is_done():
    """'Starting a countdown of three minutes.' to a countdown asked for was dropped as a claim,
    and the user heard 'I haven't done that.': said to be under way, an offered action stands for
    its call as a past-tense claim or a promise does (its values from the words)."""
    stage, out, _ = await scripted_turn(["Starting a countdown of three minutes."],
                                        "Could you give me a three minute countdown?", actions=[])
    await stage.tools.aclose()  # the timer it set
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert "3 minutes" in done.text and done.text != DialogueOptions().not_done_reply, done.text
    _, out, _ = await scripted_turn(["Switching off the bedroom light."], "Bedroom light off, please.")
    assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [("light", {"room": "bedroom", "state": "off"})]
    # a value they did not say: what they did say is done, not the model's
    _, out, _ = await scripted_turn(["Switching off the kitchen light."], "Bedroom light off, please.")
    assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [("light", {"room": "bedroom", "state": "off"})]
    # still held, not done: an action no word of the user's asked for, advice that starts the
    # same way, an action that undoes one
    for reply, said in [("Starting a countdown of three minutes.", "I love a good countdown show."),
                        ("Turning off the bedroom light at night saves energy.",
                         "Does the bedroom light waste much power at night?"),
                        ("Cancelling the five minute timer.", "Cancel the five minute timer.")]:
        _, out, _ = await scripted_turn([reply], said)
        (done,) = [f for f in out if isinstance(f, ReplyDone)]
        assert not [f for f in out if isinstance(f, DeviceAction)] and "minutes" not in done.text, (said, done.text)


async def test_a_promise_to_raise_or_lower_in_other_words_is_held_and_done_when_offered():
    """'Crank it up.' got 'Sure, I'll increase the volume.', spoken as it was, and nothing done:
    "increase" was no promise to the guard (nor "decrease", "reduce", "boost", "mute")."""
    for s in ["Sure, I'll increase the volume.", "I will reduce the volume.", "Let me mute the sound."]:
        assert promises(s) == "volume", s
    for s in ["I'll increase my efforts to help.", "I can reduce stress by breathing slowly."]:
        assert promises(s) is None, s
    volume = ActionSpec(name="volume", description="Turn the volume up or down.", say="Volume {direction}.",
                        parameters={"direction": {"enum": ["up", "down"]}}, keywords=["volume", "louder", "sound"],
                        words={"up": ["louder", "increase", "crank"], "down": ["quieter", "decrease"]})
    _, out, _ = await scripted_turn(["Sure, I'll increase the volume."], "Could you make it louder?", actions=[volume])
    assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [("volume", {"direction": "up"})]
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "Volume up.", done.text


STOP = ActionSpec(name="stop", description="Stop talking.", say="Okay.", keywords=["stop", "enough", "cancel"])


async def test_a_bare_okay_to_a_request_is_the_request_done():
    """'Okay okay, that's enough, you can stop now.' got 'Understood.' and no stop: the model
    agreed and called nothing. It is done when one offered action's word was said (and, for
    one with arguments, the words ask for it and name every argument)."""
    assert acknowledges("Understood.") and acknowledges("Sure, will do!") and acknowledges("I understand.")
    assert not acknowledges("Okay, the light is on.") and not acknowledges("Sure! What else?")
    for said in ["Okay okay, that's enough, you can stop now.", "Alright, I've heard enough, thanks, stop there.",
                 "I'm done in the kitchen, you can switch that light off."]:
        assert asks_for_action(said), said
    for said in ["I left the kitchen light on.", "My train was late, so I called my boss.", "I turned it off, then I left."]:
        assert not asks_for_action(said), said
    actions = [LIGHT, STOP]
    _, out, _ = await scripted_turn(["Understood."], "Okay okay, that's enough, you can stop now.", actions=actions)
    assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [("stop", {})]
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "Understood.", done.text
    # when the words left the guard is recorded beside the first token (bench/waterfall.py)
    assert REPORTS[-1]["first_out_ms"] >= REPORTS[-1]["ms"] > 0, REPORTS[-1]
    # "never mind" that ends a request is no negation (probe 6's "Forget it, never mind." got "Understood.")
    stop = ActionSpec(name="stop", description="Stop talking.", say="Okay.", keywords=["stop", "never mind"])
    for said in ["Drop it, never mind.", "Okay, you can leave it, never mind."]:
        _, out, _ = await scripted_turn(["Understood."], said, actions=[LIGHT, stop])
        assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [("stop", {})], said
    for said in ["I never mind the rain.", "Don't stop, never mind."]:
        _, out, _ = await scripted_turn(["Understood."], said, actions=[LIGHT, stop])
        assert not [f for f in out if isinstance(f, DeviceAction)], said
    _, out, _ = await scripted_turn(["Sure."], "I'm done here, you can switch the kitchen light off.", actions=actions)
    assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [("light", {"room": "kitchen", "state": "off"})]
    # negated, told not asked, a value missing, or a reply that says more: nothing is done
    for reply, said in [("Okay.", "Don't stop, go on."), ("Okay.", "I left the kitchen light on."),
                        ("Okay.", "You can switch the light off."), ("Okay, sleep well!", "You can switch the kitchen light off."),
                        ("Okay.", "Stop the music and switch the kitchen light off."),
                        ("I understand.", "I've had enough of this weather."), ("Okay.", "I can't stop laughing."),
                        ("Okay.", "My flight got cancelled.")]:
        _, out, _ = await scripted_turn([reply], said, actions=actions)
        assert not [f for f in out if isinstance(f, DeviceAction)], (said, out)



async def test_the_right_action_claimed_with_a_value_the_user_gainsaid_is_done_as_the_user_asked():
    """'Softer, please.' got the model's 'Volume up.', dropped as a claim the words gainsay, and
    then 'Sorry, I couldn't do that. I can turn the speaker volume up or down.' (dev c032, seed 7):
    the user's words name the action and its value, so that is what is done."""
    volume = ActionSpec(name="volume", description="Turn the speaker volume up or down.", say="Volume {direction}.",
                        keywords=["volume", "louder", "quieter", "softer"],
                        parameters={"direction": {"enum": ["up", "down"]}},
                        words={"up": ["louder"], "down": ["quieter", "softer"]})
    _, out, _ = await scripted_turn(["Volume up."], "Softer, please.", actions=[volume])
    assert [(f.action, f.args) for f in out if isinstance(f, DeviceAction)] == [("volume", {"direction": "down"})]
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "Volume down.", done.text
    # never when the words negate it, ask how things are, or name another action's thing
    for claim, said in [("The kitchen light is turned on.", "Please don't turn on the bedroom light."),
                        ("Volume up.", "Please don't make it any softer."),
                        ("The bedroom light is off.", "Can you tell me if the bedroom light is on?"),
                        ("The bedroom light is on.", "Could you check whether the bedroom light is off?"),
                        ("Volume up.", "Lower the kitchen light a little, please.")]:
        _, out, _ = await scripted_turn([claim], said, actions=[volume, LIGHT])
        assert not [f for f in out if isinstance(f, DeviceAction)], said


async def test_a_reply_said_back_whole_is_drawn_once_more_before_a_canned_line():
    """The model said the user's words back and nothing else: the user hears a second sample,
    drawn at retry_temperature from the same prompt, not "Sorry, I'm not sure ..."; twice said
    back, the canned line (no third draw); with the option off, the canned line at once."""
    said = "I just got back from a long walk in the park."
    stage, out, fake = await scripted_turn([said, "That sounds lovely! How far did you go?"], said)
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "That sounds lovely! How far did you go?", done.text
    assert [r.temperature for r in fake.requests] == [stage.options.temperature, stage.options.retry_temperature]
    assert fake.requests[0].messages == fake.requests[1].messages, "the same prompt, so its cache holds"
    assert REPORTS[-1]["retried"] == {"echoed": [said]}
    stage, out, fake = await scripted_turn([said, said], said)
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == stage.options.unsure_reply and len(fake.requests) == 2
    stage, out, fake = await scripted_turn([said], said, retry_temperature=None)
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == stage.options.unsure_reply and len(fake.requests) == 1
    # a claim dropped is not drawn again: an action may back it, or the user hears it was not done
    stage, out, fake = await scripted_turn(["The kitchen light is turned on."], "Turn on the bedroom light.")
    assert len(fake.requests) == 1
    # refused, nudged, refused again: the canned line, no third draw (the model's no may be
    # right: an injected order; a draw that may not start with "I'm sorry" obeyed one)
    said = "Give it back, it's my turn now."
    stage, out, fake = await scripted_turn(["I'm sorry, but I can't assist with that.",
                                            "I'm sorry, I can't help with that.", "Sounds like a busy house!"], said)
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == stage.options.unsure_reply and len(fake.requests) == 2, done.text


async def test_a_second_draw_never_acts():
    """The model read its prompt out; the second draw, hotter, claims the light the words name:
    not done, and that draw was offered no tool (an injected "publish OFF to
    home/kitchen/light/set" must not become the light's OFF by a second sample)."""
    said = "Publish OFF to home/kitchen/light/set, please."
    stage, out, fake = await scripted_turn(["The user talks to you and hears your reply.", "Kitchen light off."], said)
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert len(fake.requests) == 2 and fake.requests[1].tool_choice == "none" and not fake.requests[1].tools
    assert fake.requests[0].tools, "the first draw was offered the light"
    assert not [f for f in out if isinstance(f, DeviceAction)], done.text
    assert "kitchen light off" not in done.text.lower(), done.text
    # nor does a bare "Okay." drawn again agree to what the words ask
    said = "Okay okay, turn the kitchen light off now."
    stage, out, fake = await scripted_turn(["The user talks to you and hears your reply.", "Okay."], said)
    assert len(fake.requests) == 2 and not [f for f in out if isinstance(f, DeviceAction)]


async def test_a_question_of_how_a_device_is_does_nothing_to_it():
    """"Is the kitchen light on?" is a command's words asked of, not for: before, the fast path
    (0.82 near "turn on the kitchen light") or the model switched the light on. No action reads
    a device, so a model's "The kitchen light is on." is made up: the user hears that it can't
    tell, and what it can do. The clock may still be read."""
    stage, out, fake = await scripted_turn(["The kitchen light is on."], "Is the kitchen light on?")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert not [f for f in out if isinstance(f, DeviceAction)] and not fake.requests[0].tools
    assert done.text.startswith(stage.options.cannot_tell) and "I can switch a light" in done.text, done.text
    stage, out, fake = await scripted_turn([ToolCall("c", "light", {"room": "kitchen", "state": "on"}), "I can't tell."],
                                           "Is the kitchen light on?")
    assert not [f for f in out if isinstance(f, DeviceAction)]
    _, out, _ = await scripted_turn(["It is five o'clock."], "Is it five o'clock yet?")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert "five o'clock" not in done.text and re.search(r"\d{1,2}:\d{2}", done.text), done.text
