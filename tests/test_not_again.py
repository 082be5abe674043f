"""Asked for another, omni does not say again what it said before. Asked "Ha, got another one?"
after a cat joke, the bundled model told the same joke word for word. In a turn that asks for
another or more, a clause that is mostly an earlier reply's words in a row is not spoken, with
the rest of its sentence; when nothing else is, the model draws once more, hotter, and a local
model then draws no run of `no_repeat` tokens of an earlier reply. In other turns an earlier
reply's words may come again ("I don't have information about ..." to two questions nothing
can tell), and so may the same honest no; asked for again ("Say that again?"), the same reply
is spoken."""

from __future__ import annotations

import pytest
from scripted import scripted_turn

from omni.dialogue.asks import asks_again, asks_more
from omni.dialogue.claims import repeats
from omni.dialogue.guard import ClaimGuard
from omni.frames import ReplyDone

JOKE = "Why did the cat cross the road? Because it wanted to look at the moon!"


def test_a_clause_mostly_of_an_earlier_replys_words_repeats_it():
    earlier = (JOKE, "Oh, that's a bit of a delay. Let's see if we can help you get there on time.")
    for clause in ("Why did the cat cross the road?", "Because it wanted to look at the moon!",
                   "Let's see if we can help you feel better.", "Oh, that's a bit of a surprise."):
        assert repeats(clause, earlier), clause
    for clause in ("Why was the cat sitting on the computer?", "That's not good.", "I'm sorry to hear that.",
                   "The moon is about 384,000 km away.", "Because it wanted to"):
        assert not repeats(clause, earlier), clause
    assert not repeats(JOKE, ())


def test_asked_for_again_is_told_apart_from_again_in_a_statement():
    for said in ("Say that again?", "Tell me that joke again.", "What did you say?", "Again, please.",
                 "Can you repeat that?", "Sorry, what was that?", "Could you say that one more time?",
                 # not heard (the intent model finds "Say what?" near asking for another one)
                 "Sorry?", "Huh?", "What?", "Say what?", "Sorry, I missed that.", "I didn't catch that.",
                 # the same asked again, in other words (near the turn before: not a new one)
                 "How tall did you say the Eiffel Tower was?"):
        assert asks_again(said), said
    for said in ("Tell me another.", "I burnt the rice again.", "The dishwasher is leaking again.", "Got another one?",
                 "Try again?", "Tell me another joke, but not that one again.", "Don't repeat yourself.",
                 "Sorry to hear that.", "What a day!", "What else?",
                 # a review: not heard only as the whole of it
                 "Say what you like, another one please.", "I didn't hear that one before, give me another!"):
        assert not asks_again(said), said


def test_asked_for_another_or_more_is_told_apart_from_more_in_other_words():
    for said in ("Give me another one.", "Got any more?", "One more, please!", "Ha, more!", "Anything else?",
                 "What other ideas do you have?", "Hmm, something else maybe."):
        assert asks_more(said), said
    for said in ("I need more sleep.", "Is there more milk?", "The more the merrier.", "Tell me a joke.",
                 "I burnt the rice again."):
        assert not asks_more(said), said


def test_the_guard_drops_a_clause_said_before_with_its_lead_and_keeps_the_rest():
    g = ClaimGuard(lambda: [], said="Ha, got another one?", earlier=(JOKE,))
    out = "".join(g.feed(w + " ") for w in f"Sure, here's another one: {JOKE}".split()) + g.flush()
    assert out.strip() == "" and g.repeated == ["Sure, here's another one: Why did the cat cross the road?",
                                                "Because it wanted to look at the moon!"]
    g = ClaimGuard(lambda: [], said="Any other ideas?",
                   earlier=("Oh, that's a bit of a delay. Let's see if we can help you get there on time.",))
    out = g.feed("That's not good. Let's see if we can help you feel better. Try a glass of water. ") + g.flush()
    assert out.strip() == "That's not good. Try a glass of water."
    # asked for another, whole sentences are judged: never "Well, as I said before," left
    g = ClaimGuard(lambda: [], said="Tell me more.",
                   earlier=("Octopuses have three hearts and blue blood.",))
    out = "".join(g.feed(w + " ") for w in "Well, as I said before, octopuses have three hearts and blue blood. "
                                            "They can also taste with their arms.".split()) + g.flush()
    assert out.strip() == "They can also taste with their arms.", out
    # the same honest no stands ("I can't order food." to a second order)
    g = ClaimGuard(lambda: [], said="Can you order another pizza?", earlier=("I'm sorry, but I can't order food for you.",))
    assert (g.feed("I'm sorry, but I can't order food for you. ") + g.flush()).strip() == \
        "I'm sorry, but I can't order food for you." and not g.repeated
    # the rest of its sentence goes with it: never "which is a non-profit organization." alone
    g = ClaimGuard(lambda: [], said="What else?", earlier=("I was built by the open-source omni project.",))
    out = "".join(g.feed(w + " ") for w in "I was built by the open-source omni project, which is a "
                                            "community effort. It runs on your device.".split()) + g.flush()
    assert out.strip() == "It runs on your device.", out


async def test_a_reply_said_before_is_drawn_again_and_the_new_one_spoken():
    new = "Why was the cat sitting on the computer? To keep an eye on the mouse!"
    stage, out, fake = await scripted_turn([JOKE, new], "Ha, got another one?",
                                           history=[("Know any jokes about cats?", JOKE)])
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == new and len(fake.requests) == 2
    # drawn again: hotter, not starting as the first did, and told the earlier replies (a local
    # model draws no run of them)
    assert fake.requests[0].not_repeating == () and fake.requests[1].not_repeating == (JOKE,)
    assert fake.requests[1].temperature > fake.requests[0].temperature and fake.requests[1].not_starting
    assert stage.memory.history[-1] == {"role": "assistant", "content": new}
    # drawn again and still the same: said (a joke heard twice is more of a reply than "not sure")
    stage, out, fake = await scripted_turn([JOKE, JOKE], "Ha, got another one?",
                                           history=[("Know any jokes about cats?", JOKE)])
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == JOKE and len(fake.requests) == 2


async def test_asked_for_another_twice_in_the_same_words_the_last_one_is_not_said_again():
    """A review: the reply to the same words before was left out of what may not be said again,
    and "Another one!" is what people say twice."""
    second = "Why was the cat sitting on the computer? To keep an eye on the mouse!"
    third = "What do you call a pile of cats? A meowtain!"
    stage, out, fake = await scripted_turn([second, third], "Another one!",
                                           history=[("Tell me a cat joke.", JOKE), ("Another one!", second)])
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == third and fake.requests[1].not_repeating == (JOKE, second)


async def test_not_drawn_again_a_reply_said_before_is_said_not_the_canned_line():
    """With no second draw (`llm.retry_temperature: null`), the joke again is more of a reply
    than "Sorry, I'm not sure what you'd like me to do."."""
    stage, out, fake = await scripted_turn([JOKE], "Ha, got another one?", retry_temperature=None,
                                           history=[("Know any jokes about cats?", JOKE)])
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == JOKE and len(fake.requests) == 1


@pytest.mark.parametrize("said", ["Say that again?", "Could you say that one more time?"])
async def test_asked_for_again_the_same_reply_is_spoken(said):
    stage, out, fake = await scripted_turn([JOKE], said, history=[("Know any jokes about cats?", JOKE)])
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == JOKE and len(fake.requests) == 1 and fake.requests[0].not_repeating == ()


async def test_in_a_turn_that_asks_for_nothing_more_an_earlier_replys_words_are_spoken():
    """The same honest no to two questions nothing omni has can tell (a probe of
    bench/quality/requests.yaml lost it to "not sure" while every turn was held to it)."""
    no = "I'm sorry, but I don't have information about the trains."
    stage, out, fake = await scripted_turn([no], "Which train are we catching tomorrow?",
                                           history=[("Is my car in the garage?",
                                                     "I'm sorry, but I don't have information about your car.")])
    (done,) = [f for f in out if isinstance(f, ReplyDone)]
    assert done.text == no and len(fake.requests) == 1


@pytest.mark.slow
async def test_the_local_model_draws_no_run_of_an_earlier_reply():
    """The bundled model, asked the same thing again: drawn as before, it says the first reply's
    words again; told the first reply, none of its `no_repeat` tokens in a row."""
    from dialogue_run import Run

    async with Run() as r:
        eng = r.stage.backends["local"].engine
        n = eng.settings.no_repeat
        msgs = r.stage.memory.messages("In one sentence, what is the Eiffel Tower?")

        def draw(**kw):
            text = "".join(eng.stream(msgs, max_tokens=40, temperature=0.0, words_only=True, **kw))
            return text, eng.llm.tokenize(text.strip().encode(), add_bos=False)

        first, a = draw()
        same, c = draw()
        again, b = draw(not_repeating=[first])
    runs = {tuple(a[i:i + n]) for i in range(len(a) - n + 1)}
    assert first.strip() and again.strip() and "paris" in again.lower(), (first, again)
    assert any(tuple(c[i:i + n]) in runs for i in range(len(c) - n + 1)), (first, same)
    assert not any(tuple(b[i:i + n]) in runs for i in range(len(b) - n + 1)), (first, again)


def test_asked_for_a_new_one_in_words_no_list_holds_is_found_by_nearness():
    """A blind probe asked for a new one without any word `asks_more` takes for it ("Got a
    bonus ... fact for me?"): the intent model finds such a turn near a way of asking for a new
    one, or near the turn before it in other words; a new question, thanks or the same words
    again are neither."""
    from omni.dialogue.intents import IntentMatcher, IntentOptions

    m = IntentMatcher(IntentOptions(), {})
    m.load(lambda *a: None)
    said = "I knew that one already."
    assert not asks_more(said) and m.asks_more(said)
    assert m.asks_more("Tell me a riddle I won't solve so fast.", "Give me a riddle.")
    for said, before in [("What's the capital of France?", "Tell me a joke."), ("Thank you so much.", "Tell me a joke."),
                         ("How tall is the Eiffel Tower?", None)]:
        assert not m.asks_more(said, before), said
    # near the turn before only in other words: the same words asked again want the same answer
    alone = IntentMatcher(IntentOptions(more_examples=[]), {})
    assert not alone.asks_more("I knew that one already.")  # not loaded: no
    alone.load(lambda *a: None)
    assert not alone.asks_more("I knew that one already.")
    assert alone.asks_more("Tell me a riddle I won't solve so fast.", "Give me a riddle.")
    assert not alone.asks_more("Give me a riddle.", "Give me a riddle.")
