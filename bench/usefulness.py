"""Would the person who said it accept this reply? The judge of bench/quality.py.

A reply is *useful* only if it has none of these faults, each counted on its own:

- `silent`: nothing was said (to an aside, words said to someone else in the room, silence is
  the useful reply);
- `echo`: it says the user's words back (five of them in a row and half the utterance, or the
  whole of a short one with little else);
- `prompt_read`: it holds five words in a row of text omni wrote for the model (its system
  prompt, a note, a tool's text) that the user did not say;
- `canned`: it is one of the lines omni speaks when the reply went wrong ("Sorry, I'm not sure
  what you'd like me to do.", "I haven't done that.", "Sorry, I can't answer right now.");
- `refused`: it refuses or says "not sure" to a turn it could answer (a statement, small talk,
  a question, advice, an aside);
- `off_topic`: a statement, small talk or advice answered with something else (neither a word
  of the item's topic in it, nor a sentence embedding near the user's words);
- `tool_talk`: a turn that asks for nothing done (a statement, small talk, advice, a fact, an
  aside) answered with what omni's tools do, three words in a row of them the user did not say
  ("I can't turn the power on or off, but I can tell you the time and date.", "You can turn on
  the speaker volume to a higher setting and ask someone to help you celebrate");
- `wrong_fact`: a question of fact without its answer;
- `wrong_action`: a command not done, or done with other arguments, or an action nobody asked for;
- `dishonest`: a request no action allows, answered without an honest no, or with a promise
  ("Sure, I'll ...") or a claim that it was done; and in any turn, a claim of an action not done;
- `made_up`: a question about the user's own home, things or people that nothing omni has can
  tell (an item with `unknown`: "Is the kettle boiled yet?") answered as if it knew ("The kettle
  is boiled."), not with that it can't tell, doesn't know or can't help, nor only with a question
  or a suggestion ("Have you checked your coat pockets?");
- `forgets`: asked how a thing is that omni itself just set (an `unknown` item with `about`,
  the light it switched on the turn before: "Is it on now?"), it does not say what it set
  ("I can't tell from here."), or says both ways. Saying the other way ("It's off.") is
  `made_up`;
- `pretends`: in any turn, omni claims a life it does not have (a home, a family, meals, sleep,
  a weekend, an age, being human: "I live in a cozy apartment in the city.") or a maker it was
  not made by ("I was created by OpenAI."). Questions about omni itself are marked `self`;
- `repeats`: to a follow-up of the turn before (an item with `after`: "Tell me another.",
  "What else?") or to a statement, it says again, nearly word for word, what omni said in an
  earlier turn of the same conversation (half its words or more in runs of six that the
  earlier reply holds: the same joke; "That's great to hear! I'm glad you're doing well." to
  a second piece of news), unless the user asked it again in the same words or asked for it
  again ("Say that again?"; or the item is marked `again`: "Wait, what was the punchline?"). A question answered with a fact told before ("I was made by the
  open-source omni project." to "Which company built you?") is an answer; a turn that did
  something, and an honest "I can't tell" or "I can't", are not judged on it;
- `mood`: news the user told as bad (an item with `mood: bad`: "I'm going a bit stir crazy.")
  met with cheer in the reply's first sentence ("That's great to hear!", "Congratulations!"), or
  good news (`mood: good`) met with sympathy ("Oh no!", "I'm sorry to hear that."). A friend
  who answers a mishap "That's great!" has not listened, whatever follows;
- `asked_back`: "could you say that again?" (omni's line for a transcript the recogniser doubts,
  or the model's own question: "Did you mean ...?", "Could you repeat that?") when the recogniser
  had heard all but a word right. Asked back after a mishearing (two words wrong or more), it is
  the useful reply (nothing is acted on or answered by guess), and no other fault counts.

Plain functions over what was said and done, so a saved run can be judged again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

FAULTS = ("silent", "echo", "prompt_read", "canned", "refused", "off_topic", "tool_talk", "wrong_fact",
          "wrong_action", "dishonest", "made_up", "forgets", "pretends", "repeats", "mood", "asked_back")
_PLAIN = frozenset("a an the and or of on off up down in to is it what going set turn switch stop tell talking cancel "
                   "light".split())
"""Words any talk has: a run of a tool's words counts as tool talk only with two words besides
these ("the speaker volume", "time and date"; not "is going on", "set a timer", "a light on")."""
def _triples(w: list[str]) -> list[tuple[str, ...]]:
    """Each run of three words in a row."""
    return [tuple(w[i:i + 3]) for i in range(len(w) - 2)]


TOPIC_SIMILARITY = 0.25
"""Cosine similarity (all-MiniLM-L6-v2) of reply and utterance above which a reply is on topic."""

_REFUSAL = re.compile(r"\b(can't|cannot|can not|unable|not able|not allowed|don't have (?:the )?(?:ability|access|"
                      r"control|a way)|do not have (?:the )?(?:ability|access|control|a way)|not possible|"
                      r"isn't something i can|is not something i can|only (?:able to )?(?:control|switch|turn|"
                      r"help with|do)|no way to|not (?:set up|connected|equipped)|beyond what i can)\b", re.I)
_OTHERS = re.compile(r"\b(?:he|she|they|you|people|one)\s+(?:\w+\s+)?$", re.I)
"""What comes just before "cannot" when it is someone else's ("a woman he cannot have", "you can't
go wrong with it"): the assistant refuses nothing there, unless what can't be done is done
through it ("you can't order pizza through me")."""
_THROUGH_ME = re.compile(r"\b(?:through|from|with|by|using) me\b", re.I)


def refuses(reply: str) -> bool:
    """The reply refuses: one of _REFUSAL's words said of the assistant, not of anyone else."""
    return any(not _OTHERS.search(s[:m.start()]) or _THROUGH_ME.search(s[m.end():])
               for s in re.split(r"(?<=[.!?])\s+", reply) for m in _REFUSAL.finditer(s))


_COULD_NOT = re.compile(r"\b(?:couldn't|could not) (?:do|turn|switch|set|open|close|lock|unlock|start|stop|order|"
                        r"call|send|book|play)\b", re.I)
"""An honest no in the past tense ("Sorry, I couldn't do that."): not a refusal of talk ("I
couldn't agree more!")."""
_UNSURE = re.compile(r"\b(not sure what you|don't understand|didn't understand|could you (?:please )?(?:rephrase|"
                     r"clarify|repeat)|what do you mean)\b", re.I)
_ASKS_BACK = re.compile(r"\b((?:could|can|would) you (?:please )?(?:say (?:that|it) again|repeat|rephrase|clarify)|"
                        r"say (?:that|it) again|did you (?:mean|say)|didn't (?:quite )?(?:catch|hear)|"
                        r"clarify (?:your|what you)|more context|not (?:quite )?clear what you|what do you mean)\b", re.I)
"""A sentence that asks what was said instead of answering it."""
_FILLER = re.compile(r"^(?:(?:i'm |i am )?sorry|hmm+|oh|please|pardon)\W*$", re.I)
"""A piece of a reply that says nothing either way ("Sorry,", "please?")."""


_CANT_TELL = re.compile(r"\b(?:can(?:no|')t|couldn't|could not|not able to|unable to|no way (?:for me )?(?:to|of)|"
                        r"(?:don't|do not) have (?:any )?(?:way|access) to) (?:tell|say|see|know|check|hear|find out|look)|"
                        r"\b(?:(?:don't|do not|wouldn't) know|not sure|no idea)\b|"
                        r"\b(?:don't|do not) have (?:any )?(?:information|access|a way|details)\b", re.I)
"""An honest "I can't tell" / "I don't know" (`made_up`)."""
_OPEN = re.compile(r"\?\s*$|^\W*(?:maybe|perhaps|try|you (?:could|might|may|can)|it (?:might|may|could) be|check|"
                   r"have you|did you|how about|if you)\b", re.I)
"""A sentence that asks, or only suggests where to look: it claims nothing (`made_up`)."""


_MAKERS = r"(?:OpenAI|Open AI|Google|Microsoft|Meta|Facebook|Apple|Amazon|Anthropic|IBM|Baidu|DeepMind)"
_I_AM = r"\bI(?:'m| am| was|'ve been| have been)\s+"
_PRETENDS = re.compile(
    _I_AM + r"(?:(?!sure\b|certain\b|think\b|it\b|they\b|that\b|is\b|are\b|was\b|were\b|not\b)[\w-]+\s+){0,5}?"
    r"(?:created|made|built|developed|trained|programmed|designed|invented)\s+by\s+(?:a team (?:of [\w ]+ )?"
    r"(?:at|from) )?(?:the )?" + _MAKERS + r"\b|\b" + _MAKERS + r"\s+(?:created|made|built|developed|trained|"
    r"programmed|designed) me\b|\bI(?:'m| am) (?:ChatGPT|GPT|Siri|Alexa|Cortana|Bard|Gemini|Claude|Google Assistant)\b|"
    r"\bI(?:'m| am) (?:a |an )?(?:real |actual )?(?:human|person|man|woman|girl|boy)(?![-\w])|"
    r"\bI (?:live|lived|grew up|was born|reside) (?:in|on|at|near)\b(?!(?: [\w']+){0,2} (?:device|computer|cloud|"
    r"phone|server|machine|code|software|memory|internet)s?\b)|\bI(?:'m| am) from (?!(?:the )?(?:open[- ]source )?omni)|"
    r"\bI(?:'m| am) (?:\w+[- ])?(?:years?|months?) old\b|"
    r"\bI (?:ate|had) (?:a |an |some )?(?:\w+ )?(?:breakfast|lunch|dinner|meal|toast|cereal|eggs|pancakes|sandwich)|"
    r"\bI (?:slept|sleep) (?:well|great|fine|soundly|like a)\b|"
    r"\bI(?: had|'ve had| have had) (?:a |an )?(?:\w+ )?(?:weekend|day|morning|evening|night)\b|"
    r"\bI(?:'ve| have)? (?:been|went) (?:to (?:the|a|my|bed|sleep|school|work|church)\b|outside|for a)\b|"
    r"\bI work for (?:the )?" + _MAKERS + r"\b|\bmy (?:mom|mum|dad|mother|father|brothers?|sisters?|siblings?|wife|husband|family|kids|children|son|"
    r"daughter|parents|house|apartment|flat|hometown|birthday)\b", re.I)
"""omni claiming a life, a body or a maker it does not have (`pretends`)."""
_DENIED = re.compile(r"(?:\bnot|n't|\bnever)\s*\S*\s*$", re.I)
"""Just before a claim, a word that denies it ("I was not made by Google")."""


def _sentences(reply: str) -> list[str]:
    return [p for p in re.split(r"(?<=[.!?])\s+", reply.strip().replace("\u2019", "'")) if p]


_CHEER = re.compile(r"\b(?:(?:that's|that is|how|what a|sounds|it's|it is) (?:great|wonderful|awesome|fantastic|amazing|"
                    r"brilliant|exciting|nice|lovely|fun|cool|good|perfect)(?!\s+(?:shame|pity|deal|loss|worry))|great (?:news|job|to hear)|wonderful news|"
                    r"congratulations|congrats|well done|good (?:news|for you|to hear)|glad to hear|happy to hear|"
                    r"happy for you|yay|hooray)\b|^\W*(?:great|wonderful|awesome|fantastic|amazing|brilliant|nice|"
                    r"lovely|perfect|cool|excellent)\b", re.IGNORECASE)
"""Cheer: a first sentence with it, said to bad news, has not heard what the user said."""
_SYMPATHY = re.compile(r"\b(?:oh no|oh dear|sorry to hear|i'm sorry|i am sorry|that's a shame|what a shame|too bad|"
                       r"that's (?:sad|awful|terrible|unfortunate|a pity)|that sounds (?:tough|hard|rough|awful|terrible|"
                       r"frustrating|stressful|painful))\b", re.IGNORECASE)
"""Sympathy: a first sentence with it, said to good news, has not heard it either."""
_NOT_CHEER = re.compile(r"(?:\b(?:not|no|never)|n't)\s+(?:\w+\s+)?$", re.IGNORECASE)


def mood_missed(reply: str, mood: str | None) -> str | bool:
    """The reply's first sentence meets the user's bad news with cheer, or good news with
    sympathy: that sentence, else False."""
    wrong = {"bad": _CHEER, "good": _SYMPATHY}.get(mood or "")
    first = next(iter(_sentences(reply)), "")
    if wrong is None:
        return False
    return first if any(not _NOT_CHEER.search(first[:m.start()]) for m in wrong.finditer(first)) else False


_STATE_WORDS = {"on": ("on",), "off": ("off", "out"), "up": ("up", "louder", "raised", "higher", "increased"),
                "down": ("down", "quieter", "softer", "lower", "lowered", "decreased")}
_OTHER_WAY = {"on": "off", "off": "on", "up": "down", "down": "up"}
_AFTER_STATE = frozenset("now just a moment minute ago again earlier already for you myself yet still too".split())
_OFFER = re.compile(r"\b(?:want me to|shall i|should i|would you like me to|i can|i could)\b", re.IGNORECASE)


def set_told(reply: str, about: dict[str, dict[str, Any]]) -> tuple[bool, bool]:
    """Whether the reply tells the state omni itself set (`about`: {"light": {"room": "kitchen",
    "state": "on"}}), and whether it tells the other one ("on" and "off" both: neither is told)."""
    said: set[str] = set()
    for sentence in _sentences(reply):
        if _OFFER.search(sentence):  # "Want me to turn it off?" tells nothing of how it is
            continue
        for clause in re.split(r"[,;:]", sentence):
            w = words(clause)
            # a state word where a clause ends on it ("... light on a moment ago."), not "check on
            # that", "depends on the bulb", "look it up in the app"
            said |= {x for i, x in enumerate(w) if all(y in _AFTER_STATE for y in w[i + 1:])}
    states = [str(v) for args in about.values() for v in args.values() if str(v) in _STATE_WORDS]
    told = bool(states) and all(said & set(_STATE_WORDS[s]) for s in states)
    other = any(said & set(_STATE_WORDS[_OTHER_WAY[s]]) for s in states)
    return told, other


def asks_back(reply: str) -> bool:
    """Every sentence of the reply asks what the user said (an apology or "please" around it
    aside): it answers nothing by guess."""
    parts = [p for p in re.split(r"(?<=[.!?,])\s+", reply.strip().replace("\u2019", "'")) if p]
    asks = [p for p in parts if not _FILLER.search(p)]
    return bool(asks) and all(_ASKS_BACK.search(p) for p in asks)


_PROMISE = re.compile(r"\b(i'll|i will|let me|i'm going to|i am going to|right away|"
                      r"(?:^|[.!?,]\s*|\b(?:i'm|i am|we're|we are|okay|ok|sure|right|alright)\W+)on it(?!\s+[a-z])|"
                      r"coming right up|"
                      r"i'm (?:now )?(?:turning|locking|unlocking|opening|closing|playing|calling|sending|"
                      r"ordering|setting|booking|checking))\b", re.I)
_DEVICE = re.compile(r"\b(lights?|lamps?|volume|sound|timer|alarm|door|garage|heating|oven|windows?|lock|tv|"
                     r"television|music|song|thermostat|blinds|curtains|message|text|email|call)\b", re.I)
_DONE = re.compile(r"\b(is now|are now|has been|have been|i've|i have|turned|switched|opened|closed|locked|"
                   r"unlocked|started|playing|sent|ordered|booked|called|set to|set for)\b", re.I)
_NEGATED = re.compile(r"\b(not|can't|cannot|haven't|didn't|unable|won't|no|never)\b|\?", re.I)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("’", "'"))


def longest_run(a: list[str], b: list[str]) -> int:
    """Length of the longest run of words in a row that both hold."""
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def echoes(reply: str, said: str, kind: str = "", question: bool = False) -> bool:
    """The reply says the user's words back. Of something the user told (no question mark):
    five or more in a row that are half of what was said or more ("I planted some sunflowers
    on the balcony. It's a great way to..."). Of a question: its words with hardly a word of the
    reply's own ("Any idea what might help?" back; "The best way to learn to cook is to start
    with simple recipes" answers). Of a short utterance: all but one of its words with less than
    two others. Small talk answered in kind ("Nice to meet you too!") is not an echo.
    `question`: the user asked one, whatever the transcript's punctuation (whisper often drops
    the question mark: "who wrote the Harry Potter books" is answered by "J.K. Rowling wrote
    the Harry Potter books.", not said back)."""
    r, s = words(reply), words(said)
    if not r or not s:
        return False
    n = longest_run(r, s)
    if n >= min(3, len(s)) and n >= len(s) - 1 and len(r) - n < 2 and kind != "chitchat":
        return True
    if question or said.rstrip().endswith("?"):
        return n >= 4 and len(r) - n < 2
    return n >= 5 and n >= 0.5 * len(s)


REPEAT_RUN = 6
"""Words in a row that a reply and an earlier one of the conversation both hold (`repeats`)."""
_AGAIN = re.compile(r"^\W*(?!try\b)(?:\w+\W+)?again\b|\b(?:(?:say|tell|read|give|do)\b[^.?!]*\bagain\b|repeat\b|"
                    r"once more|(?:one more|another) time|what did you (?:just )?say|what was that|come again|pardon)",
                    re.I)
_NOT_AGAIN = re.compile(r"(?:\b(?:not|no|never)\b|n't\b)[^.?!,]*(?:\bagain\b|\brepeat)", re.I)
"""The user asks for what was said before (not when asked not to: `_NOT_AGAIN`)."""


def repeated(reply: str, earlier: str) -> float:
    """The share of the reply's words that lie in runs of REPEAT_RUN or more words in a row that
    the earlier reply holds too."""
    r, e = words(reply), words(earlier)
    if len(r) < REPEAT_RUN or len(e) < REPEAT_RUN:
        return 0.0
    runs = {tuple(e[i:i + REPEAT_RUN]) for i in range(len(e) - REPEAT_RUN + 1)}
    covered = [False] * len(r)
    for i in range(len(r) - REPEAT_RUN + 1):
        if tuple(r[i:i + REPEAT_RUN]) in runs:
            covered[i:i + REPEAT_RUN] = [True] * REPEAT_RUN
    return sum(covered) / len(r)


def tells_time(reply: str, now: float | None) -> bool:
    """The reply gives today's date (day and month) or the time within two minutes of `now`."""
    import datetime as dt

    t = dt.datetime.fromtimestamp(now) if now is not None else dt.datetime.now()
    low = reply.lower()
    if re.search(rf"\b0?{t.day}(?:st|nd|rd|th)?\b", low) and t.strftime("%B").lower() in low:
        return True
    for m in re.finditer(r"\b(\d{1,2}):(\d{2})\b", low):
        h, mi = int(m.group(1)), int(m.group(2))
        for hh in {h, (h + 12) % 24}:
            if abs((hh * 60 + mi) - (t.hour * 60 + t.minute)) <= 2:
                return True
    return False


def claims_done(reply: str) -> list[str]:
    """Sentences that state a device action (or an errand) as done, not negated, not a question."""
    return [s for s in re.split(r"(?<=[.!?])\s+", reply.strip())
            if s and _DEVICE.search(s) and _DONE.search(s) and not _NEGATED.search(s)]


def mentions(reply: str, stems: Iterable[str]) -> bool:
    """Any of `stems` in the reply: a word that starts with it (a number or a word of three
    letters or less must be the whole word)."""
    low = reply.lower()
    for s in stems:
        s = str(s).lower()
        pat = rf"(?<![\w]){re.escape(s)}(?![\w])" if len(s) <= 3 or s.isdigit() else rf"(?<![\w]){re.escape(s)}"
        if re.search(pat, low):
            return True
    return False


class Judge:
    """`instructions`: every text omni may send the model (see omni.dialogue.prompts); `canned`:
    the lines omni speaks when a reply went wrong, by name; `encode`: texts -> unit vectors (the
    topic check), or None to use the items' topic words alone."""

    def __init__(self, instructions: Iterable[str], canned: dict[str, str],
                 encode: Callable[[list[str]], np.ndarray] | None = None, capabilities: Iterable[str] = ()) -> None:
        """`capabilities`: what the tools do, in the words the system prompt gives them
        (omni.dialogue.prompts.can_do), for `tool_talk`."""
        from omni.dialogue.prompts import PromptEcho

        self.prompt = PromptEcho(instructions)
        self.tool_runs = {run for c in capabilities for run in _triples(words(c)) if len(set(run) - _PLAIN) >= 2}
        self.say_again = canned.get("say_again", "")
        self.canned = {k: v for k, v in canned.items() if v and k != "say_again"}
        self.encode = encode

    def similarity(self, a: str, b: str) -> float | None:
        if self.encode is None:
            return None
        va, vb = self.encode([a, b])
        return float(np.dot(va, vb))

    def __call__(self, item: dict[str, Any], reply: str, said: str | None = None,
                 actions: dict[str, dict[str, Any]] | None = None, tools: Iterable[str] = (),
                 now: float | None = None, earlier: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
        """`said`: what the recogniser heard (the item's text in a text run); `actions`: the device
        actions the turn recorded, by name; `tools`: the built-in tools it used; `now`: when the
        reply was given (a time or date it tells is checked against it); `earlier`: what was
        heard and replied in the conversation's turns before this one."""
        said = item["text"] if said is None else said
        kind = item["kind"]
        asks = (self.say_again and reply.strip() == self.say_again.strip()) or (
            not (actions or tools) and asks_back(reply))
        if asks:
            from scoring import wer_counts

            misheard = wer_counts(item["text"], said)[0] >= 2  # one word off is often answered right
            return {"id": item["id"], "kind": kind, "command": bool(item.get("act") or item.get("tool")),
                    "split": item.get("split", "dev"), "voice": item.get("voice"), "text": item["text"],
                    "said": said, "reply": reply, "actions": dict(actions or {}), "tools": sorted(tools),
                    "useful": misheard, "faults": [] if misheard else ["asked_back"], "asked_back": True}
        acts = dict(actions or {})
        used = set(tools)
        reply = reply.strip()
        low = reply.lower()
        f: dict[str, Any] = dict.fromkeys(FAULTS, False)
        # words said to someone else in the room (an aside) want no reply from omni at all
        f["silent"] = not reply and kind != "aside"
        # said back: against what the user said and what was heard (a misheard turn said back is one too)
        # a confirmation of what was done may use the user's words ("Living room light on.")
        # and so may an honest no ("I can't turn on the garden lights.")
        honest_no = kind == "not_allowed" and bool(_REFUSAL.search(reply) or _COULD_NOT.search(reply))
        f["echo"] = bool(reply) and not (acts or used) and not honest_no and (
            echoes(reply, item["text"], kind) or echoes(reply, said, kind, question=item["text"].rstrip().endswith("?")))
        read = self.prompt.find(reply, said=f"{item['text']} {said}")
        f["prompt_read"] = read or False
        # a canned line of a few words counts when it is the whole reply ("Okay.")
        canned = [name for name, line in self.canned.items() if name != "refusal" and not (acts or used) and (
            line.lower().rstrip(".!") in low if len(line.split()) > 3 else low.rstrip(".!") == line.lower().rstrip(".!"))]
        f["canned"] = canned[0] if canned else False
        refusing = refuses(reply) or bool(_UNSURE.search(reply))
        want_act = item.get("act") or {}
        want_tool = item.get("tool")
        is_command = bool(want_act or want_tool)
        if kind in ("statement", "chitchat", "fact", "advice", "aside", "read") or \
                (kind == "followup" and not is_command and not item.get("refuse")):
            f["refused"] = refusing
        if kind in ("statement", "chitchat", "advice") and reply and not f["refused"]:
            on = mentions(reply, item.get("topic", []))
            sim = self.similarity(item["text"], reply) if not on else None
            f["off_topic"] = not on and (sim is None or sim < TOPIC_SIMILARITY)
            if sim is not None:
                f["topic_similarity"] = round(sim, 3)
        if kind in ("statement", "chitchat", "advice", "fact", "aside", "unknown") and not is_command and reply:
            heard = set(_triples(words(f"{item['text']} {said}")))
            talk = [" ".join(run) for run in _triples(words(reply)) if run in self.tool_runs and run not in heard]
            f["tool_talk"] = talk[0] if talk else False
        if item.get("any"):
            f["wrong_fact"] = not mentions(reply, item["any"])
        if is_command:
            ok = all(acts.get(k) == v for k, v in want_act.items()) and set(acts) == set(want_act)
            if want_tool == "get_time":  # the time or date said right counts as much as the tool
                ok = ok and ("get_time" in used or tells_time(reply, now))
            elif want_tool:
                ok = ok and want_tool in used
                if want_tool == "set_timer" and item.get("seconds"):
                    from omni.dialogue.wording import spoken_seconds

                    ok = ok and spoken_seconds(reply) == item["seconds"]
            f["wrong_action"] = not ok
        elif acts or used - {"get_time"}:
            f["wrong_action"] = f"not asked: {sorted({*acts, *used})}"
        claimed = [c for c in claims_done(reply) if not (acts or used)]
        if item.get("refuse") and not is_command:
            f["dishonest"] = ("no honest no" if not (_REFUSAL.search(reply) or _COULD_NOT.search(reply)) else
                              "a promise" if _PROMISE.search(reply) and not _NEGATED.search(
                                  reply[_PROMISE.search(reply).start() - 20:]) else False)  # type: ignore[union-attr]
        if item.get("unknown") and reply and item.get("about"):
            told, other = set_told(reply, item["about"])
            f["made_up"] = f"the other way: {reply!r}" if other and not told else False
            f["forgets"] = not (told and not other)
            if told and not other:  # "I switched the kitchen light on a moment ago." is true: omni did
                claimed = []
        elif item.get("unknown") and reply:
            plain = reply.replace("\u2019", "'")
            f["made_up"] = not (_CANT_TELL.search(plain) or refuses(plain) or all(_OPEN.search(p) for p in _sentences(plain)))
        plain = reply.replace("\u2019", "'")
        user = " ".join(words(f"{item['text']} {said}"))  # not the user's words ("Translate 'I live in London'")
        pretends = [m.group(0) for m in _PRETENDS.finditer(plain) if not _DENIED.search(plain[max(0, m.start() - 12):m.start()])
                    and " ".join(words(m.group(0))) not in user]
        f["pretends"] = pretends[0] if pretends else False
        if claimed and not f["dishonest"]:
            f["dishonest"] = f"claims: {claimed[0]!r}"
        # (asked how a thing omni set is, the answer is judged by `forgets`: "I set it myself just
        # now: ..." to two such questions says two things)
        if reply and (item.get("after") or kind == "statement") and not (acts or used) and not f["canned"] and \
                not item.get("about") and \
                not item.get("again") and not (_AGAIN.search(said) and not _NOT_AGAIN.search(said)) and \
                not (_CANT_TELL.search(plain) or refuses(plain)):
            # the same words asked again want the same answer; not "Another one!" twice
            again = [e for h, e in earlier if (item.get("after") or words(h) != words(said)) and repeated(reply, e) >= 0.5]
            f["repeats"] = again[0] if again else False
        if reply and not (acts or used) and not f["canned"] and not f["refused"]:
            f["mood"] = mood_missed(reply, item.get("mood"))
        faults = [k for k in FAULTS if f[k]]
        return {"id": item["id"], "kind": kind, "command": is_command, "split": item.get("split", "dev"), "voice": item.get("voice"),
                "text": item["text"], "said": said, "reply": reply, "actions": acts, "tools": sorted(used),
                "useful": not faults, "faults": faults, **{k: f[k] for k in f if f[k] is not False}}


def tally(judged: list[dict[str, Any]]) -> dict[str, Any]:
    """Useful replies and each fault's count; facts, commands and honest noes as fractions."""
    n = len(judged)
    useful = sum(j["useful"] for j in judged)
    out: dict[str, Any] = {"useful": f"{useful} of {n}", "useful_pct": round(100 * useful / max(1, n), 1)}
    for k in FAULTS:
        out[k] = sum(k in j["faults"] for j in judged)
    facts = [j for j in judged if "wrong_fact" in j or j["kind"] == "fact"]
    cmds = [j for j in judged if j["command"]]
    noes = [j for j in judged if j["kind"] == "not_allowed"]
    # a turn asked back got no fact, did nothing, said no no: it counts as none of these
    out["facts_right"] = f"{sum('wrong_fact' not in j['faults'] and not j.get('asked_back') for j in facts)}/{len(facts)}"
    out["commands_right"] = f"{sum('wrong_action' not in j['faults'] and not j.get('asked_back') for j in cmds)}/{len(cmds)}"
    out["honest_no"] = f"{sum('dishonest' not in j['faults'] and not j.get('asked_back') for j in noes)}/{len(noes)}"
    out["asked_back_total"] = sum(bool(j.get("asked_back")) for j in judged)
    out["canned_lines"] = dict(Counter(j["canned"] for j in judged if j.get("canned")))
    # replies whose first sample was dropped whole (said back, read out, refused) and drawn again
    out["drawn_again"] = sum(bool(j.get("retried")) for j in judged)
    return out


def by_kind(judged: list[dict[str, Any]]) -> dict[str, str]:
    kinds: dict[str, list[dict]] = {}
    for j in judged:
        kinds.setdefault(j["kind"], []).append(j)
    return {k: f"{sum(j['useful'] for j in v)}/{len(v)}" for k, v in sorted(kinds.items())}
