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
                 "Thanks, that was helpful.", "I liked your joke.",
                 # a review's: a choice, a correction, an answer, asked again or for another
                 "The second one sounds good.", "My mistake, I said bedroom.", "I was asking about the living room.",
                 "I think the answer is Paris.", "I didn't catch the last part.", "I'd like a different one.",
                 "I want another joke."):
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
    assert roles(mem.messages("Hi.", last=5)) == roles(mem.messages("Hi."))
    # an empty side (added from outside) leaves the exchanges whole
    mem.add("Are you there?", "")
    assert [m["content"] for m in mem.messages("Hi.", last=1)] == ["S", "Are you there?", "Hi."]
    assert [m["content"] for m in mem.messages("Hi.", last=2)][1:3] == list(HISTORY[1])


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


async def test_a_short_answer_or_one_to_a_question_for_a_detail_sees_what_it_answers():
    for said in ("I do.", "I did, yesterday."):
        _, _, fake = await scripted_turn(["Good."], said, history=HISTORY, memory={"news_exchanges": 0})
        assert len([m for m in fake.requests[0].messages if m["role"] == "assistant"]) == 2, said
    asked = [("Can you help me plan a party?", "Sure! How many people is it for?")]
    _, _, fake = await scripted_turn(["Six is a nice number."], "We have six people coming.", history=asked,
                                     memory={"news_exchanges": 0})
    assert [m["content"] for m in fake.requests[0].messages if m["role"] == "assistant"] == [asked[0][1]]
    # a question that asks for no detail ("How was your day?", "Anything else?") does not hold it
    chat = [("Hi.", "Hello! What would you like to do next?")]
    _, _, fake = await scripted_turn(["Oh, lovely!"], "I planted some sunflowers on the balcony.", history=chat,
                                     memory={"news_exchanges": 0})
    assert not [m for m in fake.requests[0].messages if m["role"] == "assistant"]
