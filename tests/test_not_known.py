"""A question about the user's own home, things or people that nothing omni has can tell ("Is
the baby still asleep upstairs?") is not answered by saying the question back as a fact ("Yes,
the baby is still asleep upstairs."): the model is asked once more, told that it cannot know the
user's home, and what it says then is spoken. A question of fact answered so is answered as it was."""

from __future__ import annotations

import pytest
from scripted import scripted_turn

from omni.dialogue.asks import says_question_back
from omni.dialogue.guard import ClaimGuard
from omni.frames import ReplyDone


@pytest.mark.parametrize("said, clause", [
    ("Is the baby still asleep upstairs?", "the baby is still asleep upstairs."),
    ("Did the kids eat their lunch?", "the kids ate their lunch."),
    ("Is the kettle boiled yet?", "the kettle is boiling."),
    ("So, is the washing dry on the line?", "it's dry on the line, the washing."),
    ("Is the sun a star?", "the sun is a star."),  # the same form: told apart by the model, asked again
    ("Isn't the baby asleep yet?", "the baby is asleep."),
])
def test_the_question_said_back_as_a_fact_is_found(said, clause):
    assert says_question_back(said, clause)


@pytest.mark.parametrize("said, clause", [
    ("Is the kettle boiled yet?", "it should be ready in a minute or two."),
    ("What is the capital of France?", "Paris is the capital of France."),  # not a yes or no
    ("Are you there?", "I'm here, how can I help?"),  # asked of omni
    ("Is it raining?", "it is raining."),  # too few words of its own to tell
    ("Is your name omni?", "my name is omni."),  # asked of omni
    ("Turn the kitchen light on.", "the kitchen light is on."),
])
def test_other_answers_are_not_taken_for_one(said, clause):
    assert not says_question_back(said, clause)


def test_the_guard_holds_a_yes_with_the_question_back_and_nothing_else():
    said = "Is the baby still asleep upstairs?"
    g = ClaimGuard(lambda: [], said=said, check_answers=True)
    assert (g.feed("Yes, the baby is still asleep upstairs.") + g.flush()).strip() == ""
    assert g.asserted == ["Yes, the baby is still asleep upstairs."]
    g = ClaimGuard(lambda: [], said=said, check_answers=True)
    assert (g.feed("I can't tell from here, I have no camera.") + g.flush()).strip() and not g.asserted
    g = ClaimGuard(lambda: [], said=said)  # off: as before
    assert (g.feed("Yes, the baby is still asleep upstairs.") + g.flush()).strip()
    # what follows is held with it (a review: "Yes, the sun is a star, a huge ball of hot gas."
    # was heard as "a huge ball of hot gas."), and all of it said if the turn is not asked again
    g = ClaimGuard(lambda: [], said="Is the sun a star?", check_answers=True)
    assert (g.feed("Yes, the sun is a star, a huge ball ") + g.feed("of hot gas.") + g.flush()) == ""
    assert g.release() == "Yes, the sun is a star, a huge ball of hot gas." and not g.asserted
    # a no that corrects is an answer; a no that denies the question's words is held too
    g = ClaimGuard(lambda: [], said="Is Sydney the capital of Australia?", check_answers=True)
    assert (g.feed("No, Canberra is the capital of Australia.") + g.flush()).strip() and not g.asserted
    g = ClaimGuard(lambda: [], said="Is the kettle boiled yet?", check_answers=True)
    assert (g.feed("No, the kettle isn't boiled yet.") + g.flush()) == "" and g.asserted


async def test_the_model_is_asked_once_more_and_its_second_answer_is_spoken():
    stage, out, fake = await scripted_turn(["Yes, the baby is still asleep upstairs.", "I don't know, I can't check."],
                                           "Is the baby still asleep upstairs?")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "I don't know, I can't check."
    assert len(fake.requests) == 2
    note = stage.options.unknown_note
    assert note not in str(fake.requests[0].messages) and \
        fake.requests[1].messages[-2] == {"role": "system", "content": note}
    assert fake.requests[1].messages[-1]["content"] == "Is the baby still asleep upstairs?"
    # a question of fact: the same words again are spoken, and only one more draw is made
    stage, out, fake = await scripted_turn(["Yes, the sun is a star.", "Yes, the sun is a star."], "Is the sun a star?")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "Yes, the sun is a star." and len(fake.requests) == 2
    # asked once more, an honest no is the answer (not dropped as a refusal of talk)
    stage, out, fake = await scripted_turn(["Yes, the baby is still asleep upstairs.",
                                            "I'm sorry, but I can't help with that."],
                                           "Is the baby still asleep upstairs?")
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == "I'm sorry, but I can't help with that."
    # the history keeps the question and the answer spoken, not the note
    assert stage.memory.history[-2:] == [
        {"role": "user", "content": "Is the baby still asleep upstairs?"},
        {"role": "assistant", "content": "I'm sorry, but I can't help with that."}]
