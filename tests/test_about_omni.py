"""omni never says it is what it is not. Asked about itself, the bundled model answered "Who made
you?" with "I was created by OpenAI", "Where do you live?" with an apartment in the city, and
"Are you a real person?" with "Yes, I am a real person." A reply that gives omni a maker, a
human self, a home or a family is not spoken: the model is asked once more, told what omni is
(`llm.self_note`), and that answer is spoken."""

from __future__ import annotations

import pytest
from scripted import scripted_turn

from omni.dialogue.claims import pretends
from omni.dialogue.guard import ClaimGuard
from omni.dialogue.options import DEFAULT_SYSTEM_PROMPT, DialogueOptions
from omni.frames import ReplyDone


@pytest.mark.parametrize("clause", [
    "I was created by OpenAI, a company that specializes in AI.",
    "I am a large language model created by OpenAI.",
    "Yes, I am a real person.",
    "I live in a cozy apartment in the city.",
    "I work for Google.",
    "My family is very proud of me.",
    "I\u2019m human, just like you!",
])
def test_a_life_or_a_maker_omni_does_not_have_is_found(clause):
    assert pretends(clause)


@pytest.mark.parametrize("clause", [
    "I was made by the open-source omni project, running on your own device.",
    "No, I'm not a real person, I'm software.",
    "I wasn't made by Google.",
    "I was not created by OpenAI.",
    "I don't have a family or a home.",
    "I work for you.",
    "Are you a real person?",  # a question claims nothing
    "It was painted by Leonardo da Vinci.",  # someone else's maker
    "I was created by Alibaba Cloud's Qwen team.",  # the model's own makers: not false
    "I'm pretty sure iPhones are made by Apple.",  # (a review's cases)
    "I live on your device.",
    "I'm a human-like assistant.",
    'I can\'t make calls, but you could say "Hey Google, call my mom" on your phone.',  # quoted
])
def test_what_omni_may_say_of_itself_is_not_taken_for_one(clause):
    assert not pretends(clause)


def test_the_users_own_words_are_not_taken_for_one():
    """A review: a translation or a poem the user asked for holds their words."""
    assert not pretends("My family in Spanish is mi familia.", "How do you say my family in Spanish?")
    assert not pretends("I live in London is J'habite à Londres.", "Translate I live in London into French.")
    assert pretends("I live in London.", "Where do you live?")


def test_the_note_says_what_omni_is_and_the_system_prompt_does_not():
    """In the system prompt it cost more replies elsewhere than it won (docs/benchmarks.md)."""
    note = DialogueOptions().self_note
    assert "open-source omni project" in note and "not a person" in note
    assert "omni project" not in DEFAULT_SYSTEM_PROMPT


def test_the_guard_drops_the_clause_with_its_lead_and_keeps_the_rest():
    g = ClaimGuard(lambda: [], said="Are you a real person?")
    assert (g.feed("Yes, I am a real person.") + g.flush()).strip() == ""
    assert g.pretended == ["Yes, I am a real person."]
    g = ClaimGuard(lambda: [], said="Where do you live?")
    out = g.feed("I'm a voice assistant. I live in a house in the city.") + g.flush()
    assert out.strip() == "I'm a voice assistant." and g.pretended == ["I live in a house in the city."]
    # the rest of its sentence goes with it: "Who made you?" was heard as "a company that
    # specializes in artificial intelligence research and development." (the everyday set, dev)
    g = ClaimGuard(lambda: [], said="Who made you?")
    out = "".join(g.feed(w + " ") for w in "I was created by OpenAI, a company that specializes in AI. "
                                            "How can I help?".split())
    out += g.flush()
    assert out.strip() == "How can I help?", out
    assert g.pretended == ["I was created by OpenAI, a company that specializes in AI."]
    # a round that ends mid-sentence ends the sentence: the next round is judged afresh
    g = ClaimGuard(lambda: [], said="Who made you?")
    assert (g.feed("I was created by OpenAI, a company") + g.flush()).strip() == ""
    assert (g.feed("Here is the time. ") + g.flush()).strip() == "Here is the time."


async def test_the_model_is_asked_once_more_told_what_omni_is_and_that_is_spoken():
    stage, out, fake = await scripted_turn(["Yes, I am a real person.", "No, I'm omni, a voice assistant, not a person."],
                                           "Are you a real person?")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "No, I'm omni, a voice assistant, not a person."
    assert len(fake.requests) == 2
    note = stage.options.self_note
    assert fake.requests[1].messages[-2] == {"role": "system", "content": note}
    assert fake.requests[1].messages[-1]["content"] == "Are you a real person?"
    # the history keeps the answer spoken, not the note nor the first answer
    assert stage.memory.history[-1] == {"role": "assistant", "content": "No, I'm omni, a voice assistant, not a person."}
    # said so once more: the last resort, never the claim
    stage, out, fake = await scripted_turn(["I was created by OpenAI.", "I was built by OpenAI."], "Who made you?")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == stage.options.self_reply and len(fake.requests) == 2
    # nothing of the kind: one draw, spoken as it was
    stage, out, fake = await scripted_turn(["I'm omni, made by the open-source omni project."], "Who made you?")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "I'm omni, made by the open-source omni project." and len(fake.requests) == 1
