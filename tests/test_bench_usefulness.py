"""The judge of bench/quality.py (bench/usefulness.py) on the replies that taught it: what a
person hearing them would call said back, and what an answer."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from usefulness import echoes  # noqa: E402


def test_a_question_heard_without_its_question_mark_answered_in_its_words_is_an_answer() -> None:
    said = "who wrote the Harry Potter books"  # whisper dropped the "?"
    assert not echoes("J.K. Rowling wrote the Harry Potter books.", said, "fact", question=True)
    assert not echoes("The tallest mountain on Earth is Mount Everest, located in Nepal.",
                      "which is the tallest mountain on earth", "fact", question=True)
    # the same question said back, with hardly a word of its own, is still an echo
    assert echoes("Who wrote the Harry Potter books?", said, "fact", question=True)
    assert echoes("Who wrote the Harry Potter books? Yes.", said, "fact", question=True)


def test_a_statement_said_back_is_an_echo_even_inside_a_friendly_reply() -> None:
    said = "I ran 5 kilometers without stopping for the first time"
    assert echoes("That's amazing! I'm glad you were able to run 5 kilometers without stopping for the "
                  "first time.", said, "statement")
    assert not echoes("That's a great milestone! How long did it take you?", said, "statement")


def test_an_honest_no_in_the_past_tense_is_honest_and_agreeing_is_no_refusal() -> None:
    from usefulness import _COULD_NOT, _REFUSAL

    assert _COULD_NOT.search("Sorry, I couldn't do that. I can switch a light on or off.")
    assert not _REFUSAL.search("I couldn't agree more!") and not _COULD_NOT.search("I couldn't agree more!")


def test_a_cannot_of_someone_else_is_no_refusal() -> None:
    """'...The Great Gatsby ... the story of a young man who falls in love with a woman he cannot
    have.' was judged a refusal of the advice asked for (held a004, spoken)."""
    from usefulness import refuses

    assert not refuses("It tells the story of a young man who falls in love with a woman he cannot have.")
    assert not refuses("You can't go wrong with a cup of tea.")
    assert not refuses("I think you can't go wrong with a cup of tea.")
    assert not refuses("It tells the story of a woman he cannot have, and I loved it.")
    for reply in ["I'm sorry, but I can't assist with that.", "Sorry, I cannot do that.", "That's not possible.",
                  "I'm not able to help with that, but he can.", "Sorry, it is not possible for me to order food.",
                  "I'm a voice assistant who can't make calls.", "Unfortunately you can't order pizza through me."]:
        assert refuses(reply), reply


def test_the_models_own_question_back_counts_as_asking_back_and_an_answer_by_guess_does_not() -> None:
    from usefulness import Judge, asks_back

    assert asks_back("It's not clear what you mean by \"roughly hurts all limits.\" Could you please clarify?")
    assert asks_back("Sorry, did you say the kitchen?")
    # an answer to the misheard words, then a question, answered by guess
    assert not asks_back("The capital I'm paying is New York City. Did you mean Spain?")
    assert not asks_back("I'm sorry to hear that. Could you tell me more?")
    assert asks_back("Could you repeat that, please?") and asks_back("Hmm, did you mean Spain?")
    assert asks_back("Sorry, I didn\u2019t catch that.")
    # an apology alone, a canned line, an answer that uses the words: none asks anything
    for reply in ("Sorry.", "Sorry, I'm not sure what you'd like me to do.", "I've put your playlist on repeat.",
                  "Let me clarify that Madrid is the capital of Spain."):
        assert not asks_back(reply), reply
    judge = Judge(["You are omni, a friendly voice assistant."], {"say_again": "Could you say it again?"})
    item = {"id": "f1", "kind": "fact", "text": "What's the capital of Spain?", "any": ["Madrid"]}
    back = "Sorry, I didn't quite catch that. Could you repeat it?"
    misheard = judge(item, back, said="What's the capital I'm paying?")
    assert misheard["useful"] and misheard["asked_back"], misheard
    heard = judge(item, back, said="What's the capital of Spain?")
    assert not heard["useful"] and heard["faults"] == ["asked_back"], heard
    guessed = judge(item, "The capital I'm paying is New York City.", said="What's the capital I'm paying?")
    assert not guessed["useful"] and "wrong_fact" in guessed["faults"], guessed


def test_on_it_is_a_promise_only_as_a_reply_of_its_own() -> None:
    from usefulness import _PROMISE

    for reply in ("On it!", "Sure, on it.", "I'm on it.", "Okay on it.", "We're on it.", "On it, turning it off."):
        assert _PROMISE.search(reply), reply
    # an honest no about a thing "on it" promises nothing
    assert not _PROMISE.search("I don't have a calendar, so I can't tell you what's on it today.")
    assert not _PROMISE.search("There is a stain on it!")


def test_what_the_tools_do_told_to_a_turn_that_asks_nothing_done_is_tool_talk() -> None:
    """A system prompt change made the model answer "I just got a new job offer." with "That's
    great news! ... You can turn on the speaker volume to a higher setting and ask someone to help
    you celebrate your new job offer." The judge called it useful (on topic); a listener would not."""
    can = ["switch a light on or off (kitchen, bedroom or living room)", "turn the speaker volume up or down",
           "stop talking and cancel what is going on", "tell the time and date", "set a timer"]
    from usefulness import Judge

    judge = Judge(["You are omni, a friendly voice assistant."], {}, capabilities=can)
    item = {"id": "s", "kind": "statement", "text": "I just got a new job offer.", "topic": ["job", "offer"]}
    bad = judge(item, "Great news! You can turn on the speaker volume and celebrate your job offer.")
    assert bad["faults"] == ["tool_talk"] and bad["tool_talk"] == "the speaker volume", bad
    assert judge(item, "Congratulations on the job offer! What is the new role?")["useful"]
    # the same words are no tool talk where the user said them, or in talk of anything else
    said = {"id": "s2", "kind": "statement", "text": "The speaker volume on my phone is broken.", "topic": ["phone"]}
    assert judge(said, "Sorry about the phone, the speaker volume may come back after a restart.")["useful"]
    busy = {"id": "s3", "kind": "statement", "text": "Work is hectic this week.", "topic": ["work"]}
    assert judge(busy, "Sounds like a lot is going on at work; set a timer for breaks.")["useful"]


def test_an_answer_to_what_nothing_omni_has_can_tell_is_made_up() -> None:
    """"Is the baby still asleep upstairs?" got "Yes, the baby is still asleep upstairs." (a
    probe of bench/quality/requests.yaml): the judge had no class for it; a parent would be misled."""
    from usefulness import Judge

    judge = Judge(["You are omni, a friendly voice assistant."], {})
    item = {"id": "k", "kind": "unknown", "text": "Is the baby still asleep upstairs?", "unknown": True}
    for reply in ("Yes, the baby is still asleep upstairs.", "No, she woke up a minute ago.", "The baby is fine."):
        assert judge(item, reply)["faults"] == ["made_up"], reply
    for reply in ("I don't know if the baby is still asleep.", "I can't tell from here, I have no camera upstairs.",
                  "I'm not able to check on the baby.", "Have you checked the baby monitor?",
                  "I'm sorry, but I can't help with that.", "I don\u2019t know.", "I couldn't tell you, sorry."):
        assert judge(item, reply)["useful"], reply
    # the class is for such items only: a question of fact still wants its fact
    fact = {"id": "f", "kind": "fact", "text": "Is the sun a star?", "any": ["yes", "star"]}
    assert judge(fact, "Yes, the sun is a star.")["useful"]


def test_a_life_or_a_maker_omni_does_not_have_is_pretending() -> None:
    """"Who made you?" got "I was created by OpenAI, ..." and "So where do you live, exactly?" got
    "I live in a cozy apartment in the city." (the everyday set): the judge passed both."""
    from usefulness import Judge

    judge = Judge(["You are omni, a friendly voice assistant."], {})
    item = {"id": "v", "kind": "chitchat", "text": "Who made you?", "self": True, "topic": ["made", "omni", "assistant"]}
    for reply in ("I was created by OpenAI, a company that develops AI.", "Yes, I am a real person.",
                  "I live in a cozy apartment in the city.", "I slept well, thank you!", "I work for Google.",
                  "I had a lovely weekend, thanks!", "My family made me.", "I\u2019m 25 years old."):
        assert "pretends" in judge(item, reply)["faults"], reply
    for reply in ("I was made by the omni project, and I'm not a real person.", "No, I was not made by Google.",
                  "I wasn't created by OpenAI.", "I'm software, so I never went outside.",
                  "I don't have a family, I'm an assistant made by the omni project."):
        assert "pretends" not in judge(item, reply)["faults"], reply
    # facts about other things, omni's own maker, and the user's own words are no such claim (a review)
    for text, reply in [("Who makes the iPhone?", "The iPhone is made by Apple."),
                        ("Where are you from?", "I'm from the open-source omni project."),
                        ("Who made you?", "I'm pretty sure iPhones are made by Apple."),
                        ("Translate I live in London.", "I live in London is J'habite a Londres.")]:
        assert "pretends" not in judge({**item, "text": text}, reply)["faults"], reply
    assert "pretends" in judge(item, "I've had a lovely weekend, thanks!")["faults"]
    # in any turn: a statement answered with a life omni does not have
    news = {"id": "s", "kind": "statement", "text": "We went to the beach at the weekend.", "topic": ["beach"]}
    assert judge(news, "Lovely! I went to the beach too.")["faults"] == ["pretends"]


def test_a_reply_said_again_in_the_same_conversation_repeats() -> None:
    """"Ha, got another one?" got the cat joke told the turn before, word for word, and "I've been
    working from home all week and I'm going a bit stir crazy." got the reply given to a garden
    doing well (the everyday set, dev): the judge passed both."""
    from usefulness import Judge

    judge = Judge(["You are omni, a friendly voice assistant."], {})
    joke = "Sure, here's a joke about cats: Why did the cat cross the road? Because it wanted to look at the moon!"
    earlier = [("Know any good jokes about cats?", joke)]
    item = {"id": "u", "kind": "chitchat", "text": "Ha, got another one?", "topic": ["cat", "joke"], "after": "h"}
    again = "Sure, here's another joke about cats: Why did the cat cross the road? Because it wanted to look at the moon!"
    assert judge(item, again, earlier=earlier)["faults"] == ["repeats"]
    assert judge(item, again)["useful"]  # no earlier turn: nothing said again
    new = "Why was the cat sitting on the computer? To keep an eye on the mouse!"
    assert judge(item, new, earlier=earlier)["useful"]
    # asked for again, or asked again in the same words: the same reply is the answer
    assert judge({**item, "text": "Tell me that joke again."}, again, earlier=earlier)["useful"]
    assert judge({**item, "text": "Know any good jokes about cats?", "after": None}, joke, earlier=earlier)["useful"]
    # "Another one!" twice wants two new ones; "not that one again" asks for no repeat
    assert judge({**item, "text": "Another one!"}, again, earlier=[("Another one!", again)])["faults"] == ["repeats"]
    assert judge({**item, "text": "Another, but not that one again."}, again, earlier=earlier)["faults"] == ["repeats"]
    assert judge({**item, "text": "Could you say that one more time?"}, again, earlier=earlier)["useful"]
    # an item marked as asking for the same again, in words the judge does not know for it
    assert judge({**item, "text": "Wait, how did it end?"}, again, earlier=earlier)["faults"] == ["repeats"]
    assert judge({**item, "text": "Wait, how did it end?", "again": True}, again, earlier=earlier)["useful"]
    # a phrase in common is no reply said again
    stir = {"id": "s", "kind": "statement", "text": "I'm going a bit stir crazy.", "topic": ["stir", "crazy", "home", "cabin"]}
    assert judge(stir, "That's great to hear! I'm glad you're doing well. What would you like to do next?",
                 earlier=[("My garden is doing well.", "That's great to hear! I'm glad your garden is doing well. "
                                                          "What would you like to do next?")])["repeats"]
    assert judge(stir, "Cabin fever is real. A walk outside might help you reset.",
                 earlier=[("My garden is doing well.", "That's great to hear! What are you growing?")])["useful"]
    # a question answered with a fact told before is an answer (a probe of questions about omni:
    # a first version counted it)
    built = {"id": "b", "kind": "chitchat", "text": "Which company built you?", "topic": ["omni", "built"]}
    assert judge(built, "I was built by the open-source omni project.",
                 earlier=[("Were you made by Google?", "No, I was made by the open-source omni project.")])["useful"]


def test_bad_news_met_with_cheer_or_good_news_with_sympathy_misses_the_mood() -> None:
    """"I've been working from home all week and I'm going a bit stir crazy." got "That's great!
    Working from home can be a lot of fun." (the everyday set, dev, with prompt examples): on
    topic, not said back, and a friend would hear that it had not listened."""
    from usefulness import Judge

    judge = Judge(["You are omni, a friendly voice assistant."], {})
    bad = {"id": "b", "kind": "statement", "text": "I've been stuck at home all week and I'm going stir crazy.",
           "mood": "bad", "topic": ["home", "stir", "crazy"]}
    for reply in ("That's great! Working from home can be a lot of fun.", "Congratulations on staying home!",
                  "Sounds fun, home is the best place to be.", "How exciting, a week at home!"):
        assert judge(bad, reply)["faults"] == ["mood"], reply
    for reply in ("Oh no, a week stuck at home is a lot. Could you get out for a walk?",
                  "That's not great, being stuck at home. Maybe a walk would help?",
                  "That isn't fun at all. A walk at home helps some people.",
                  "Stuck at home all week sounds tough. It would be great to get out for a walk."):
        assert "mood" not in judge(bad, reply)["faults"], reply
    good = {"id": "g", "kind": "statement", "text": "My daughter won the spelling bee!", "mood": "good",
            "topic": ["daughter", "spelling", "won"]}
    assert judge(good, "Oh no, a spelling bee can be stressful.")["faults"] == ["mood"]
    assert judge(good, "I'm sorry to hear that about your daughter.")["faults"] == ["mood"]
    assert judge(good, "That's wonderful, congratulations to your daughter!")["faults"] == []
    # plain cheer counts; "great" in other senses and a denied "too bad" do not (a review)
    for reply in ("That's good.", "Nice!", "Perfect, a week at home."):
        assert "mood" in judge(bad, reply)["faults"], reply
    for reply in ("What a great shame, a week stuck at home.", "Wow, that's a great deal of stress at home."):
        assert "mood" not in judge(bad, reply)["faults"], reply
    assert "mood" not in judge(good, "Not too bad at all, your daughter won the spelling bee!")["faults"]
    # no mood told, none judged
    assert "mood" not in judge({**good, "mood": None}, "Oh no, a spelling bee!")["faults"]


def test_asked_how_a_thing_omni_set_is_told_what_it_set() -> None:
    """"Is it on now?" right after omni switched the kitchen light on (an item with `about`):
    "I can't tell from here." forgets what omni did; the other way is made up."""
    from usefulness import Judge

    judge = Judge(["You are omni, a friendly voice assistant."], {})
    item = {"id": "k", "kind": "unknown", "unknown": True, "text": "Is it on now?",
            "about": {"light": {"room": "kitchen", "state": "on"}}}
    assert judge(item, "I set it myself just now: kitchen light on.")["useful"]
    assert judge(item, "Yes, the kitchen light is on.")["useful"]
    assert judge(item, "I can't tell from here.")["faults"] == ["forgets"]
    assert judge(item, "I can't tell from here. I can switch a light on or off.")["faults"] == ["forgets"]
    assert judge(item, "The kitchen light is off.")["faults"] == ["made_up", "forgets"]
    louder = {**item, "text": "Is it louder?", "about": {"volume": {"direction": "up"}}}
    assert judge(louder, "I set it myself just now: volume up.")["useful"]
    assert judge(louder, "I turned it down.")["faults"] == ["made_up", "forgets"]
    # "on" and "up" in other senses tell nothing; an offer after the answer takes nothing from it (a review)
    for reply in ("I'm not able to check on that from here.", "It depends on the bulb."):
        assert judge(item, reply)["faults"] == ["forgets"], reply
    assert judge(louder, "Look it up in the app.")["faults"] == ["forgets"]
    assert judge(item, "Yes, I switched the kitchen light on a moment ago. Want me to turn it off?")["useful"]
    # with nothing set, an honest "can't tell" is the answer still
    assert judge({**item, "about": None}, "I can't tell from here.")["useful"]
