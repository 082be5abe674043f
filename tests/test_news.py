"""A turn that tells something of the user's own ("I planted some sunflowers on the balcony.")
is answered from its own words, not from the conversation's earlier replies: the bundled 1.5B,
shown the history, copied an earlier reply's cheer ("That's great to hear! I'm glad you're doing
well.") to "I'm going a bit stir crazy", or its tool talk ("I can't tell you the time and date,
but ..."). `memory.news_exchanges` is how many of the last exchanges such a turn sees (the
desktop pipelines: none; docs/dialogue.md)."""

from __future__ import annotations

from scripted import scripted_turn

from omni.dialogue.asks import tells
from omni.dialogue.memory import Memory, MemoryOptions

HISTORY = [("What's the capital of Peru?", "The capital of Peru is Lima."),
           ("My garden is doing really well.", "That's great to hear! I'm glad you're doing well.")]


def test_news_of_ones_own_is_told_apart_from_questions_requests_and_words_that_point_back():
    for said in ("I planted some sunflowers on the balcony.", "Ugh, my train was late again.",
                 "We just got back from Lisbon!", "The dishwasher is leaking.", "Okay so, I start my new job today."):
        assert tells(said), said
    for said in ("I need you to turn the kitchen light off.", "My timer, set it for ten minutes.",
                 "I wonder how far the moon is?", "I tried that and it didn't help.", "My mum loved it.",
                 "The bedroom one, please.", "Wake me in an hour.", "Turn on the light.", "Tell me a joke.",
                 "Thanks, that was helpful.", "I liked your joke."):
        assert not tells(said), said


def test_memory_gives_only_the_last_exchanges_when_asked():
    mem = Memory("S", MemoryOptions())
    for said, reply in HISTORY:
        mem.add(said, reply)
    roles = lambda msgs: [m["role"] for m in msgs]  # noqa: E731
    assert roles(mem.messages("Hi.")) == ["system", "user", "assistant", "user", "assistant", "user"]
    assert roles(mem.messages("Hi.", last=1)) == ["system", "user", "assistant", "user"]
    assert mem.messages("Hi.", last=1)[1]["content"] == HISTORY[1][0]
    assert roles(mem.messages("Hi.", last=0)) == ["system", "user"]


async def test_a_turn_telling_news_is_not_shown_earlier_replies_to_copy_and_other_turns_are():
    news = "I've been working from home all week and I'm going a bit stir crazy."
    _, _, fake = await scripted_turn(["Oh no, cabin fever! Have you been out for a walk?"], news,
                                     history=HISTORY, memory={"news_exchanges": 0})
    (req,) = fake.requests
    assert not [m for m in req.messages if m["role"] == "assistant"]
    assert req.messages[-1]["content"] == news
    # a question, or words that point back, see the conversation
    for said in ("And what about Chile?", "I tried that and it didn't help."):
        _, _, fake = await scripted_turn(["Santiago."], said, history=HISTORY, memory={"news_exchanges": 0})
        assert [m["content"] for m in fake.requests[0].messages if m["role"] == "assistant"] == [r for _, r in HISTORY]
    # unset, the whole history
    _, _, fake = await scripted_turn(["Oh no!"], news, history=HISTORY)
    assert len([m for m in fake.requests[0].messages if m["role"] == "assistant"]) == 2


async def test_a_short_answer_sees_what_it_answers():
    for said in ("I do.", "I did, yesterday."):
        _, _, fake = await scripted_turn(["Good."], said, history=HISTORY, memory={"news_exchanges": 0})
        assert len([m for m in fake.requests[0].messages if m["role"] == "assistant"]) == 2, said
