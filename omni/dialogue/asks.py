"""What the user's words ask for: an errand in the world, a device worked, something done at all,
and which verb with which object ("Arm the security system." asks "arm" of "security",
"system").

The reply guards (omni.dialogue.claims, omni.dialogue.guard) read a model's words against these:
a claim or a promise is judged by what was asked, not only by a list of devices.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from omni.dialogue.wording import NUMBER_WORDS, ahead, plain, spoken_seconds

ERRANDS = (r"(?:order|buy|call|ring|phone|text|message|email|send|book|play|lock|unlock|open|close|shut|record|"
            r"vacuum|clean|brew|cook|water|feed|wash|heat|cool|skip|pause|take (?:a |the )?(?:photo|picture)|"
            r"add(?!\s+(?:that|to that|to this)\b)|schedule|remind(?!\s+you\s+(?:that|of)\b)|reserve|"
            r"pay(?!\s+attention\b)|transfer|download|install|print|save(?!\s+you\b))")
STRICT_ERRANDS = (r"(?:order|buy|call|ring|phone|text|message|email|send|book|reserve|pay(?!\s+attention\b)|"
                   r"transfer|schedule|vacuum|lock|unlock|print|download|install)")
"""Errands with no ordinary sense in talk ("play", "cool", "save", "water" have one)."""

PHYSICAL = r"(?:turn|switch|dim)\s+(?:\w+\s+){0,3}?(?:on|off|up|down)\b|(?:turn|switch)\s+(?:on|off)\b"

def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())

_AGAIN = re.compile(r"^\W*(?!try\b)(?:\w+\W+)?again\b|\b(?:(?:say|tell|read|give|do)\b[^.?!]*\bagain\b|"
                    r"repeat\b|once more|(?:one more|another) time|what (?:did|was it) you (?:just )?sa(?:y|id)|"
                    r"what was that|come again|pardon|(?:did|do) you say|say what\W*$|(?:missed|didn't catch|did not catch|"
                    r"didn't hear|did not hear|couldn't hear) (?:that|what you said|you|it)\W*$)"
                    r"|^\W*(?:sorry|what|huh|eh|you what)\W*$", re.IGNORECASE)
_NOT_AGAIN = re.compile(r"(?:\b(?:not|no|never)\b|n't\b)[^.?!,]*(?:\bagain\b|\brepeat)", re.IGNORECASE)
"""A repeat asked not to be: "Tell me another, but not that one again.", "Don't repeat yourself."."""


def asks_again(said: str) -> bool:
    """The user asks to hear what was said before ("Say that again?", "Tell me that joke
    again.", "What did you say?", "How tall did you say it was?"), or did not hear it ("Sorry?",
    "Huh?", "Say what?", "I missed that.")."""
    return bool(_AGAIN.search(said)) and not _NOT_AGAIN.search(said)


_MORE = re.compile(r"\b(?:another|one more|(?:tell|give) (?:me |us )?more|more (?:please|ideas?|suggestions?|facts?|jokes?|"
                   r"about)|any more|(?:anything|something|what) (?:else|besides)|(?:something|anything) (?:different|new)|"
                   r"(?:any )?other (?:ideas?|suggestions?|options?|ones?)|besides (?:that|this)|try again|"
                   r"(?:a|an) (?:different|second|new|other|fresh) (?:one|idea|name|joke|fact|question|suggestion|option|tip)|"
                   r"next (?:one|question|idea|joke|fact|suggestion))\b|^\W*(?:\w+\W+)?more\W*$", re.IGNORECASE)


def asks_more(said: str) -> bool:
    """The user asks for another of what was just said, or more of it ("Tell me another.",
    "Cool, one more.", "What else?", "Something different?")."""
    return bool(_MORE.search(said))


_TELLS = re.compile(r"^\W*(?:(?:ugh|oh|okay|ok|so|well|hey|wow|yay|um|uh|guess what)\W+)*"
                    r"(?:i|i'm|i've|i'd|we|we're|we've|my|our|the|today|yesterday|last night)\b", re.IGNORECASE)


_BACK = re.compile(r"\b(?:it|that|this|these|those|them|there|yours?|you|answer|part|(?:first|second|third|last|other|"
                   r"same|next|different|new) one)\b|\bi (?:said|meant|asked|was asking)\b|\bmy mistake\b", re.IGNORECASE)
"""Words that point back at what was said before ("I tried that.", "My mum loved it.", "The second
one sounds good.", "My mistake, I said bedroom.", "I think the answer is Paris.")."""
_DETAIL = re.compile(r"\b(?:how (?:many|much|long|old|far|often|soon)|which|what (?:time|day|date|kind|sort|size|colou?r)|"
                     r"when|where|who|whose)\b[^.!?]*\?\s*$", re.IGNORECASE)


def asks_detail(reply: str) -> bool:
    """The assistant's words end on a question for a detail ("How many people is it for?",
    "Which room?"), which the user's next words answer ("We have six people coming.")."""
    return bool(_DETAIL.search(reply))


def tells(said: str) -> bool:
    """The user tells something of their own (news, how they are): words that start as one ("I
    ...", "My ...", "The ..."), no question, nothing asked to be done, nothing that points back
    at the talk before ("I planted some sunflowers."; not "I need you to turn the light off.",
    "I tried that and it didn't help.")."""
    return "?" not in said and bool(_TELLS.match(said)) and not _BACK.search(said) and not asks_for_action(said) \
        and not asks_to_act(said) and asks_later(said) is None and not asks_more(said) and not asks_again(said)


_YES_NO = re.compile(r"^\W*(?:(?:hey|so|and|okay|ok|um|uh|wait)\W+)*(?:is|are|was|were|did|does|do|has|have|had)(?:n't)?\b"
                     r"(?!\s+(?:you|your|yours|yourself)\b)[^?]*\?\s*$", re.IGNORECASE)
_PLAIN_WORDS = frozenset("is are was were did does do has have had the a an it its their his her my our your of on in at to "
                         "yet still now already there this that".split())


def says_question_back(said: str, clause: str) -> bool:
    """`said` asks yes or no of how something is or was ("Is the baby still asleep upstairs?",
    not of "you"), and `clause` says its words back as a fact ("the baby is still asleep
    upstairs."): two thirds of its own words (each by its first four letters), at least two."""
    if not _YES_NO.match(said):
        return False
    own = {w[:4] for w in words_of(said) if w not in _PLAIN_WORDS}
    have = {w[:4] for w in words_of(clause)}
    return len(own) >= 2 and len(own & have) >= max(2, -(-2 * len(own) // 3))


ASKS_TO_READ = re.compile(r"\b(?:read|reads|says?|said|written|writing|sign|signs|text|words?|label|menu|board)\b",
                          re.IGNORECASE)
"""Words of a turn that asks what writing says: reading the writing out is then the answer."""

_OPENER = r"^\W*(?:(?:hey|okay|ok|so|um|uh|right|now)\W+)*(?:please\W+)?"
"""How a request may start before its verb ("Hey, please turn ...")."""
_VERBS = (r"(?:turn|switch|open|close|shut|lock|unlock|play|order|book|call|ring|phone|text|send|add|take|set|start|"
          r"stop|make|put|skip|pause|vacuum|clean|brew|record|dim|raise|lower|check|buy|email|message|remind|cancel|"
          r"show|find|forget)\b")
_REQUEST = re.compile(
    # the verb first, in the turn or in a part of it after the others ("Alright, thanks, stop there.")
    rf"(?:{_OPENER}|[,;.!?]\s+(?:(?:and|then|and then|so|now)\s+)?(?:please\s+)?){_VERBS}"
    rf"|\b(?:can|could|would|will) you\b|\bplease\b|\bi (?:want|need) you to\b"
    rf"|\byou can (?:now\s+|go ahead and\s+|just\s+)?{_VERBS}", re.IGNORECASE)


_ASKS_ERRAND = re.compile(
    rf"{_OPENER}{ERRANDS}\b"
    rf"|\b(?:can|could|would|will) you\s+(?:please\s+|just\s+|go ahead and\s+)?{ERRANDS}\b"
    rf"|\bi (?:want|need) you to\s+{ERRANDS}\b", re.IGNORECASE)

def asks_errand(said: str) -> bool:
    """The user's words ask for an errand in the world to be done ("Can you order a pizza?",
    "Book a table for two."), its verb the one asked for: not "Can you help me write an email?"."""
    return bool(_ASKS_ERRAND.search(said))


_WORK = (rf"(?:{PHYSICAL}|(?:start|stop)\s+(?:the|my|our)\s+\w+"
         rf"|{STRICT_ERRANDS}\s+(?:a|an|the|my|our|us|some|more|\d+)\b"
         rf"|(?:book|order|buy|call|reserve)\s+(?:me|us)\s+(?:a|an|the|some)\b)")
"""A device worked, or an errand done to something ("Book a table", "Call my mum"; not "Book
recommendations?", "Send me a recipe", "Lock screen keeps ...")."""
_ASKS_TO_ACT = re.compile(
    rf"{_OPENER}(?:please\s+)?{_WORK}"
    rf"|\b(?:can|could|would|will) you\s+(?:please\s+|just\s+|go ahead and\s+)?{_WORK}"
    rf"|\bi (?:want|need) you to\s+{_WORK}", re.IGNORECASE)


def asks_to_act(said: str) -> bool:
    """The user's words ask for a thing to be done in the world: a device worked ("Turn on the
    air conditioning.", "Could you start the dishwasher?") or an errand that is one in any talk
    ("Book a table for two."); not "Can you turn this into a poem?", "Can you play a game?"."""
    return bool(_ASKS_TO_ACT.search(said))


_ASKS_HOW = re.compile(r"^\W*(?:(?:did|didn't)\b(?=[^.?!;]*\?\s*$)|(?:is|are|was|were|has|have|had|isn't|aren't|wasn't|weren't|hasn't|haven't)\b)"
                       r"(?!\s+(?:you able|it possible|there (?:any )?way|it (?:ok|okay|alright) (?:if|to))\b)",
                       re.IGNORECASE)


def asks_how(said: str) -> bool:
    """The words ask how things are ("Is the kitchen light on?", "Has the timer been set?", "Did I
    leave the bedroom light on?", a "Did" one only as the whole turn: not "Didn't you hear me? Turn
    it off."): a command's words, asked of and not for; nothing is to be done. ("Are you able to ...?", "Is it
    possible to ...?" ask for it.)"""
    return bool(_ASKS_HOW.match(said))


def asks_for_action(said: str) -> bool:
    """The user's words ask for something to be done ("Turn on the TV.", "Can you order a
    pizza?"), as against telling or asking about something."""
    return bool(_REQUEST.search(said))


_ASKED_AT = (rf"(?:{_OPENER}|[,;.!?]\s+(?:(?:and|then|and then|so|now)\s+)?(?:please\s+)?"
             rf"|\b(?:can|could|would|will) you\s+(?:please\s+|just\s+)?|\bi (?:want|need) you to\s+)")
"""Where a request of the assistant starts: the words' start ("Hey, please ..."), a part's
("..., then ..."), "could you", "I want you to"."""
_NOTIFY = (r"(?:(?:wake|get|ping|nudge|buzz|alert|warn|notify|signal|tell|remind|(?:holler|yell|shout|beep) at)"
           r"\s+(?:me|us)(?:\s+up)?|let\s+(?:me|us)\s+know|give\s+(?:me|us)\s+a\s+(?:shout|heads[- ]?up|nudge|buzz|"
           r"ping|bell|call|ring)|beep|buzz|ping|chime)")
"""Ways to ask to hear from the assistant ("wake me up", "let me know", "give me a shout", "beep")."""
_LATER = re.compile(rf"{_ASKED_AT}(?:just\s+)?{_NOTIFY}\s+(?P<t>[^,;.!?]*)"
                    rf"|^\W*(?P<b>(?:in|after|within)\s+[^,;.!?]+)[,;]?\s+(?:please\s+)?"
                    rf"(?:(?:can|could|would|will) you\s+(?:please\s+)?)?{_NOTIFY}\b", re.IGNORECASE)
_REPORTED = re.compile(r"\b(?:said|says|told|tells|texted|wrote|asked|asks)\b", re.IGNORECASE)


@lru_cache(maxsize=64)
def asks_later(said: str) -> int | None:
    """Seconds to the time ahead the user asks to hear from the assistant at, named by its distance
    right after the asking ("Wake me in an hour.", "Could you let me know when ten minutes are
    up?", "In half an hour, give me a shout."): a timer asked for in other words. None when no
    such time is asked for: told ("The bus comes in five minutes."), asked about, asked of
    something else ("Tell me a joke in five minutes."), negated ("Please don't wake me in an
    hour."), or reported ("She said, wake me in an hour.")."""
    said = plain(said)[:400]
    for m in _LATER.finditer(said):
        tail = m.group("t")
        if tail is not None and not re.match(r"(?:in|after|within|when|once)\b|.*\bfrom now\b", tail, re.IGNORECASE):
            continue  # "Tell me a joke in five minutes."
        if _REPORTED.search(said[:m.start()]):
            continue
        secs = ahead(tail if tail is not None else m.group("b"))
        if secs is not None:
            return secs
    return None


_TIME_IT = re.compile(rf"{_ASKED_AT}time\s+(?:me|us|it|this|that|them\b|(?=(?:{NUMBER_WORDS})\b))", re.IGNORECASE)


@lru_cache(maxsize=64)
def asks_to_time(said: str) -> bool:
    """The user's words ask the assistant to time something ("Time me for a minute.", "Can you
    time four minutes for me?", "The tea needs four minutes, can you time it?"): a timer asked
    for in other words. Not "Time flies.", "What time is it?", "Time for a ten minute break.",
    nor negated ("Please don't time me.")."""
    return bool(_TIME_IT.search(plain(said)))


def timer_seconds(said: str) -> int | None:
    """A timer's length as the user's words say it: the time ahead they ask to hear from the
    assistant at, else the first length said ("I'm napping for twenty minutes, wake me in
    fifteen." is 15 minutes)."""
    return asks_later(said) or spoken_seconds(said)

_NOT_VERBS = frozenset(
    "i i'm i'd i've i'll me my we we're our you you're your it it's its this that these those there here they "
    "he she his her them a an the some any what what's who who's whom which when where why how is are was were "
    "am be been do does did don't doesn't can could would will should shall may might must have has had "
    "not no yes yeah yep nope oh ah hey hi hello okay ok so um uh hmm well right now then just really actually "
    "maybe also still already very too quite and but or if because of in on at to for from with about by as "
    "let's thanks thank please sorry wow great nice good cool love like let don doesn didn isn aren wasn won omni "
    "can couldn wouldn shouldn haven hasn".split())
"""Words that start a turn without being the verb it asks to be done, nor name its object (the
contractions count there: "Turn it's ..." keeps "it's" out of the object's words; a verb's place
takes only the stem before the apostrophe, "don", "let")."""
TALK_VERBS = frozenset(
    "tell say explain describe give help recommend suggest name list guess think imagine answer repeat spell "
    "translate calculate define talk sing write summarize summarise compare teach read speak chat find show "
    "remember count convert check look keep wait use pick choose hear listen wish flip roll try stay continue "
    "rephrase clarify surprise learn pretend consider note promise hold hang relax enjoy have bear mind go come "
    "see be plan draft outline brainstorm organise organize believe imagine write create compose solve "
    "work figure proofread review edit rewrite improve correct analyse analyze rate quiz practice practise test "
    "cheer motivate entertain recap paraphrase shorten expand simplify ignore disregard forget".split())
"""Verbs whose promise is kept in words or by the talk itself ("I'll tell you a joke", "Let me
explain", "I'll keep that in mind", "Wishing you luck!"): never read as an errand."""
_ASKED = tuple(re.compile(p, re.IGNORECASE) for p in (
    rf"{_OPENER}(?:just\s+)?(?P<v>[a-z]+)\b",
    r"\b(?:can|could|would|will) you\s+(?:please\s+|just\s+|go ahead and\s+)?(?P<v>[a-z]+)\b",
    r"\bi (?:want|need) you to\s+(?P<v>[a-z]+)\b",
    r"[,;.!?]\s+(?:(?:and|then|and then|so|now)\s+)?(?:please\s+)?(?P<v>[a-z]+)\b"))
"""Where a verb asked to be done stands: first ("Arm the ..."), after "could you", "I want you
to", or first in a later part ("Okay, that's all, stop.")."""

_STOP = frozenset("the a an my our your some more this that it me us please for to of in on at and up down off "
                  "now just all any thanks".split())
"""Words that name no object of the verb."""


class Asked(NamedTuple):
    verb: str
    things: frozenset[str]
    """The words of what it is done to ("security", "system")."""
    first: bool
    """The words start with it or ask with it ("could you ..."), not a part after a comma."""


@lru_cache(maxsize=64)
def asked(said: str) -> tuple[Asked, ...]:
    """What the user's words ask to be done, in the imperative or asked of the assistant ("Arm the
    security system.", "Could you water the plants?"): each verb with the words of what it is done
    to. Empty for words that tell or ask about something. (Read once for a turn: the guard asks
    it of every clause.)"""
    out = []
    for n, pattern in enumerate(_ASKED):
        for m in pattern.finditer(said):
            verb = m["v"].lower()
            if verb in _NOT_VERBS or len(verb) < 2:
                continue
            rest = words_of(said[m.end():])[:6]
            things = frozenset(w for w in rest if w not in _STOP and w not in _NOT_VERBS and len(w) > 2)
            out.append(Asked(verb, things, first=n < 3))
    return tuple(out)


def asks_deed(said: str) -> bool:
    """The user's words start by asking for a deed that talk does not do, in the imperative or
    of the assistant ("Charge my car.", "Could you fold the laundry?"); not "Tell me a joke.",
    "Can you plan dinner?", nor a verb later in the turn."""
    if said.rstrip().endswith("?") and not re.search(r"\b(?:can|could|would|will) you\b", said, re.IGNORECASE):
        return False  # "Book recommendations for the summer?": a noun asked about
    return any(a.first and a.verb not in TALK_VERBS and a.verb not in _LIGHT_VERBS
               and not re.search(r"(?:ing|ed|[^s]s)$", a.verb)  # "Running my first ...", "Movies this ..."
               and re.search(rf"\b{a.verb}\s+{_DONE_TO}", said, re.IGNORECASE)
               for a in asked(said))


_DONE_TO = r"(?:(?:up|down|out|off|on|over|back|in)\s+)?(?:the|my|our|your|his|her|their|a|an|some|these|those|this|that|it)\b"
"""What follows a verb that does something to a thing ("Charge my car", "Fill up the bird
feeder"): not "Quiz me on capitals", "Practice Spanish with me", "Goodnight.", "Dinner was
amazing tonight."."""


_LIGHT_VERBS = frozenset("turn switch set put make take get do give start stop run open close play add show find "
                         "bring send check".split())
"""Verbs whose deed is in their object ("Can you turn this into a poem?", "Make me a playlist",
"Give me a minute"): asks_to_act reads them with it."""


def _phrases(*text: str) -> tuple[tuple[str, ...], ...]:
    return tuple(sorted({tuple(p.split()) for t in text for p in t.split("|")}, key=len, reverse=True))


_HUSH = _phrases("stop|stop it|stop that|stop there|stop now|stop talking|stop speaking|you can stop|you may stop",
                 "be quiet|keep quiet|stay quiet|quiet|quiet down|hush|shush|sh|silence|shut up|zip it",
                 "enough|enough already|that's enough|that is enough|that's plenty|plenty|that's all|that'll do|"
                 "that will do|no more",
                 "cancel|cancel it|cancel that|cancel this|never mind|nevermind|forget it|forget about it|"
                 "forget that|forget i asked")
"""Phrases that ask the assistant to stop, word by word (longest first)."""
_FILLER = _phrases("okay|ok|alright|all right|right|oh|um|uh|hmm|please|thanks|thank you|now|just|for now|actually|"
                   "hey|already|i said|a second|a sec|a moment|a minute|a bit|for a second|for a sec|"
                   "for a moment|for a minute|for a bit")
"""Words around the stop phrases that change nothing ("wait" and a "no" after one take it back:
"Cancel that. No, wait.")."""
_SOFT = frozenset({("quiet",), ("silence",), ("plenty",), ("no", "more"), ("that's", "all"),
                   ("keep", "quiet"), ("stay", "quiet")})
"""Stop phrases that are also plain answers: "Quiet." to "How was your weekend?", "Plenty." to
"Do you have enough time?". Not a request to stop right after the assistant asked something.
("Enough." is left a stop: after "How about yours?", "Alright, enough." was one, bench probe 10.)"""


def _phrases_at(words: list[str], i: int, phrases: tuple[tuple[str, ...], ...]) -> list[int]:
    """How many words from `i` each of `phrases` there takes, longest first ("stop that" and
    "stop" at "stop, that will do")."""
    return [len(p) for p in phrases if tuple(words[i:i + len(p)]) == p]


def asks_only_to_stop(said: str, answering: bool = False) -> bool:
    """Every word of the turn asks the assistant to stop: "Shush.", "Okay, that'll do.", "Forget
    it, never mind.", "Quiet, please." (besides "okay", "please", "just", "for a second" and the
    like, and a "no" that leads: "No, stop."). Not a turn with any other word in it: "I can't stop
    thinking about it.", "Never mind the rain, we had fun.", "Enough about me, how was your
    day?", "Don't stop." (a word no stop phrase holds); not a question ("That's all?"), a stop
    taken back ("Cancel that. No, wait."), "please" alone, or more than 200 characters.
    `answering`: the assistant's last words asked something, and "Quiet.", "Plenty." or "Keep
    quiet." answer it (_SOFT). Read word by word, longest phrase first, and a shorter one where
    the rest needs it ("Okay, stop, that will do.": "stop", not "stop that")."""
    if len(said) > 200 or "?" in said:  # a bare stop is a few words, and asks nothing
        return False
    words = ["sh" if re.fullmatch(r"sh+", w) else w for w in words_of(plain(said))]

    @lru_cache(maxsize=None)
    def rest(i: int, hushed: bool) -> bool:  # words[i:] are stop phrases and fillers
        if i >= len(words):
            return hushed
        for n in _phrases_at(words, i, _HUSH):  # longest first; a shorter one when the rest needs it
            if answering and tuple(words[i:i + n]) in _SOFT:
                return False
            if rest(i + n, True):
                return True
        if words[i] == "no" and not hushed and (i + 1 >= len(words) or words[i + 1] != "more") and rest(i + 1, False):
            return True  # "No, stop." (but "Stop. No." takes it back)
        return any(rest(i + n, hushed) for n in _phrases_at(words, i, _FILLER))

    return rest(0, False)
