"""The reply as it may be spoken: a `ClaimGuard` takes the model's text as it streams and gives
back whole clauses, each judged once it has ended.

A clause is not spoken when it claims or promises an action the turn did not record
(omni.dialogue.claims), says the user's words back, reads out omni's own prompt or a context note,
is the model's markup, or refuses what nobody asked to be refused. Lead-ins ("Sure,", "I'm
sorry,") go out with the clause after them, or not at all. Tool confirmations are the dialogue's
own words and do not pass through the guard.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from omni.dialogue.asks import (ASKS_TO_READ, asked, asks_deed, asks_errand, asks_for_action, asks_to_act,
                              says_question_back, words_of)
from omni.dialogue.claims import (BARE_DONE, NEGATIVE, acknowledges, backed, claims_action, claims_asked, echoes,
                                  pretends, promises, relays, repeats, under_way)
from omni.dialogue.prompts import PromptEcho

_MARKUP = re.compile(r"</?[a-z_][a-z_-]*>|<\|[a-z_]+\|>|\{\s*\"|\"\w+\"\s*:\s*(?:[\"{\[\d]|true|false|null)|"
                     r"\"\s*[}\]]|\[(?:insert|enter|add|your|current)\b[^\]]*\]", re.IGNORECASE)
"""Tags, chat-template tokens, call JSON (`"arguments": {"room": ...`, in whatever pieces the
clauses cut it) and template placeholders ("[insert current date and time]"): the model's own
markup, never words for the user."""
_QUOTED_ONLY = re.compile(r'^\s*"[^"]*"\W*$')
"""A clause that is only a quoted string (`"light",`): a JSON value, or a word the next clause
goes on from; it goes out with that clause, or not at all."""
# a clause ends at a mark followed by a space; at the end of what has streamed so far only "!"
# and "?" are sure ends: "12:" may be "12:34", "3." "3.5", "1," "1,000" (the rest comes at flush)
_SENTENCE = re.compile(r"[!?](?=\s|$)|\.(?=\s)|\n")
_BOUNDARY = re.compile(r"[!?](?=\s|$)|[.;:,](?=\s)|\n")
_REFUSING = re.compile(r"\b(can't|cannot|can not|unable|not able)\b.*\b(assist|help|do|answer|provide|with)\b",
                       re.IGNORECASE)
_LEAD = re.compile(r"^\s*(?:(?:oh|ah|well|so|sure|okay|ok|alright|all right|great|yes|yeah|no|of course|certainly|"
                   r"absolutely|understood|i understand|got it|right|no problem|(?:i'm |i am )?(?:sorry|afraid))\W*)+$",
                   re.IGNORECASE)
"""A clause that only leads in ("Sure,", "I'm sorry,", "Oh no!"): it goes out with the clause after
it, or not at all when that one is not spoken (no reply is left at "Sure,")."""
_YES_OR_NO = re.compile(r"^\W*(?:yes|yeah|yep)\b|^\W*(?:no|nope)\b.*(?:\bnot\b|n't\b|\bnever\b)", re.IGNORECASE)
"""A yes, or a no with the question's words denied ("No, the kettle isn't boiled yet."; not a
correction: "No, Canberra is the capital of Australia.")."""
_SHORT_LEAD = re.compile(r"^\s*[^\s,]+(?:\s+[^\s,]+)?,\s*$")
"""A clause of one or two words that ends at a comma ("Tom,", "Well, Paris,", "Red,"): a name
called, a word that leads in, a list's first item. It goes out with the clause after it, so that
a reply whose next clause is not spoken is not left at "Tom," (the chunker speaks whole
sentences, so holding it delays nothing heard)."""
_OFFER = re.compile(r"^\s*(?:(?:oh|well|sure|okay|ok|alright|all right|yes|yeah|of course|certainly|absolutely)\W+)*"
                    r"(?:i can|i could|i'll|i will|let me|i'd be (?:happy|glad) to|i would be (?:happy|glad) to|(?:i'm )?happy to)\s+"
                    r"help(?: you)?(?: with (?:that|this|it))?\W*$", re.IGNORECASE)
"""An offer of help and nothing more ("Sure, I can help with that!"): a lead-in too. Before a
promise no action backs ("Let's book a table ...") it would be a promise left standing."""

_CANT = re.compile(r"\b(?:i|i'm|i am|we|we're)\s+(?:\w+\s+)?(?:can't|cannot|can not|unable|not able|don't have|"
                   r"do not have|won't be able)\b(?!\s+wait\b)", re.IGNORECASE)
"""A clause in which the assistant says what it cannot do: an honest no, whatever came before
it (not "You can't go wrong with pepperoni.", "I can't wait.")."""


_ENDS_SENTENCE = re.compile(r"[.!?]['\")\]]*\s*$")
_DONE_STATE = re.compile(r"\b(?:is|are|'s|'re|has been|have been|was|were)\s+(?:now\s+|all\s+|already\s+)?"
                         r"(?:on|in|added|booked|ordered|sorted|done|ready|scheduled|sent|placed|paid|arranged|"
                         r"confirmed|reserved|locked|set|taken care of)\b", re.IGNORECASE)
_TO_YOU = re.compile(r"\b(?:you|your|can|could|should|might|may|would|will|try)\b", re.IGNORECASE)


@dataclass
class ClaimGuard:
    """Feed the model's text as it streams; get back what may be spoken, clause by clause."""

    done: Callable[[], list[tuple[str, dict[str, Any]]]]
    """The actions the turn has recorded so far."""
    said: str = ""
    """The user's words: a clause that only says them back is not spoken either."""
    echoed: list[str] = field(default_factory=list)
    earlier: tuple[str, ...] = ()
    """The conversation's replies before this one, when the user asked for another or more: a
    clause that is mostly one of them word for word (omni.dialogue.claims.repeats) is not
    spoken, with the rest of its sentence."""
    repeated: list[str] = field(default_factory=list)
    notes: str = ""
    """The context notes of the turn (what the camera saw): a clause that relays them is not spoken."""
    relayed: list[str] = field(default_factory=list)
    no_refusals: bool = False
    """The user asked for nothing refused: a clause of the model refusing ("I'm sorry, but I
    can't assist with that.") is not spoken (compact models refuse ordinary statements)."""
    refusals: list[str] = field(default_factory=list)
    lead: str = ""
    """A lead-in clause held back until the clause after it is judged."""
    buffer: str = ""
    dropped: list[str] = field(default_factory=list)
    """Clauses not spoken: they claimed what was not done."""

    no_action: bool = False
    """No action offered to the turn can do what its words ask (none was, or an errand no
    offered tool's words name: omni.dialogue.llm_turn): agreeing to do it
    ("Sure, I can help with that!") and what follows that agreement (the details it asks for,
    the errand told as under way) is a promise no action keeps, not spoken; a clause that says
    it can't still is."""
    promised: bool = False
    """Such an agreement was dropped: what follows it is held to the same."""

    @cached_property
    def _in_vain(self) -> bool:
        """The words ask for a thing to be done and no action was offered to do it (no_action):
        a device worked or an errand (asks_to_act), or any deed asked first that talk does not
        do ("Charge my car.", "Could you fold the laundry?"; not "Tell me a joke.")."""
        return self.no_action and bool(self.said) and (asks_to_act(self.said) or asks_deed(self.said))
    check_answers: bool = False
    """A yes or no said with the question back as a fact ("Yes, the kettle is boiling." to "Is the
    kettle boiled yet?") is held back (`asserted`): made up, when the question is about the
    user's own home (the turn asks once more, told so: DialogueOptions.unknown_note)."""
    asserted: list[str] = field(default_factory=list)
    held: str = ""
    """What the reply went on to say after an `asserted` clause: judged as ever, but not given
    out, so nothing of it is heard unless `release` is called (the turn is not asked again)."""
    offers: list[str] = field(default_factory=list)
    """Offers of help to words that asked for nothing, not spoken (unless nothing else is)."""
    prompt: PromptEcho | None = None
    """omni's own prompt text: a clause that reads it out is not spoken."""
    read_out: list[str] = field(default_factory=list)
    pretended: list[str] = field(default_factory=list)
    """Clauses not spoken: they gave omni a maker, a human self, a home or a family it does not
    have (omni.dialogue.claims.pretends), with the rest of their sentence."""
    rest_to: list[str] | None = None
    """A clause dropped with the rest of its sentence (pretended, repeated) ended before its
    sentence did ("I was created by OpenAI,"): the list the rest goes to."""

    def feed(self, text: str) -> str:
        """What may be spoken now: whole clauses, each judged once it has ended. (A clause's start
        given out early could not be taken back when its end claimed an action, and the reply
        was left cut off: "but I can tell you that the garden".)"""
        self.buffer += text
        out = ""
        # with a note in the prompt, whole sentences: a sentence that passes a sign on is dropped
        # whole, not left at 'The sign in front of me says: PLATFORM 4,'
        # and asked for another, whole sentences: one said before is dropped whole, not left at
        # "Well, as I said before,"
        boundary = _SENTENCE if self.notes or self.earlier else _BOUNDARY
        while (m := boundary.search(self.buffer)) is not None:
            clause, self.buffer = self.buffer[: m.end()], self.buffer[m.end():]
            out += self._check(clause)
        if self.gave and not self.lead and (n := len(self.buffer) - len(self.buffer.lstrip())):
            # the space after a clause given out goes with it: it tells the chunker that the
            # sentence has ended, which it would not learn until the next clause was judged
            out, self.buffer = out + self.buffer[:n], self.buffer[n:]
        return out

    def flush(self, calls: bool = False) -> str:
        """What is left, at the end of a round; `calls`: the round ended in tool calls (an offer
        before them is what they do)."""
        clause, self.buffer = self.buffer, ""
        out = self._check(clause) if clause.strip() else clause
        self.rest_to = None  # its sentence ended with the round
        if not calls and not self.spoke and not out.strip() and (_OFFER.match(self.lead) or acknowledges(self.lead)) \
                and (asks_errand(self.said) or self._in_vain) and not self.done():
            # "Sure, I can help with that!" or "I understand." and nothing more, to "Can you order
            # a pizza?" or "Skip this song.": agreeing to an errand no action did is a promise
            # left standing
            self.dropped.append(self.lead.strip())
            self.lead = ""
        if not self.spoke and not out.strip() and not self.lead and self.offers and not self.dropped:
            out = self.offers.pop(0)  # an offer is more of a reply than none
        # the reply ended on a lead-in ("Sure!"): said; not a quoted scrap of JSON nothing followed
        out, self.lead = out + ("" if _QUOTED_ONLY.match(self.lead) else self.lead), ""
        if self.asserted:  # (held with the answer before it: see release)
            self.held += out
            return ""
        return out

    recent: str = ""
    """The model's last words, clauses judged so far whether spoken or not (the relay check reads
    across clauses: a sign read out a few words a clause)."""

    spoke: bool = False
    """Some clause of the reply has been given out to be spoken."""

    gave: bool = False
    """The last clause judged was given out."""

    def _states_asked(self, clause: str) -> bool:
        """The clause tells what the user's words ask to be done to as done ("eggs are on the
        list", "the table is booked"), not denied, nor told to the user ("you could keep a
        shopping list in your notes app")."""
        things = {w for a in asked(self.said) for w in a.things}
        return not clause.rstrip().endswith("?") and bool(things & set(words_of(clause))) and \
            bool(_DONE_STATE.search(clause)) and not NEGATIVE.search(clause) and not _TO_YOU.search(clause)

    def release(self) -> str:
        """The held answer and what followed it, when the model is not asked once more."""
        out, self.held = " ".join([*self.asserted, self.held.strip()]).strip(), ""
        self.asserted = []
        return out

    def _check(self, clause: str) -> str:
        out = self._judge(clause)
        if self.asserted:
            self.held += out
            return ""
        self.gave = bool(out.strip())
        self.spoke = self.spoke or self.gave
        self.recent = (self.recent + clause)[-400:]
        return out

    def _drop_sentence(self, into: list[str], clause: str) -> str:
        """Not spoken: the clause with its lead-in, into `into`, and the rest of its sentence after it."""
        into.append((self.lead + clause).strip())
        self.lead = ""
        self.rest_to = None if _ENDS_SENTENCE.search(clause) else into
        return ""

    def _judge(self, clause: str) -> str:
        if _MARKUP.search(clause):  # "30:00</get_time>."
            self.dropped.append(clause.strip())
            self.lead = ""
            return ""
        if self.rest_to is not None:  # the rest of its sentence: "a company that specializes in AI."
            self.rest_to[-1] += f" {clause.strip()}"
            self.rest_to = None if _ENDS_SENTENCE.search(clause) else self.rest_to
            return ""
        if pretends(clause, self.said):  # "Yes," goes with "I am a real person."
            return self._drop_sentence(self.pretended, clause)
        kind = claims_action(clause) or under_way(clause) or promises(clause) or claims_asked(clause, self.said)
        if kind == "other" and BARE_DONE.match(clause) and self.done():
            kind = None  # "Done." after an action the turn did
        if kind is not None and not backed(clause, kind, self.done()):
            self.dropped.append(clause.strip())
            self.lead = ""  # "Sure," goes with "I'll turn on the TV."
            # what follows a promise nothing keeps goes with it (see no_action)
            self.promised = self.promised or self._in_vain
            return ""
        # counted across clauses: "You are omni," then "a helpful voice assistant."
        lead = " ".join(words_of(self.recent)[-(self.prompt.n - 1):]) if self.prompt is not None else ""
        if self.prompt is not None and self.prompt.find(f"{lead} {clause}", self.said):
            self.read_out.append(clause.strip())
            self.lead = ""
            return ""
        if kind is None and self.said and echoes(clause, self.said):
            self.echoed.append(clause.strip())
            lead, self.lead = self.lead, ""
            if _SHORT_LEAD.match(lead) and not _LEAD.match(lead) and \
                    not set(words_of(lead)) <= set(words_of(self.said)):
                # "Paris," then "the capital of France." said back: the answer is the lead's
                # words, not the user's ("Tom," then the user's words said back is not one)
                return lead.rstrip().rstrip(",") + ". "
            return ""
        if kind is None and self.earlier and repeats(clause, self.earlier) and \
                not (_CANT.search(clause) or _REFUSING.search(clause)):  # (the same honest no stands)
            # "Why did the cat cross the road?" again, to "Ha, got another one?"; and "Sure,
            # here's another joke:" before it goes with it
            return self._drop_sentence(self.repeated, clause)
        if self.notes and relays(clause, self.notes, before=self.recent, reading=bool(ASKS_TO_READ.search(self.said))):
            self.relayed.append(clause.strip())
            self.lead = ""
            return ""
        if not clause.strip():  # a line break between a lead-in and what it leads to
            if self.lead:
                self.lead += clause
                return ""
            return clause
        lead, self.lead = self.lead, ""
        if self.check_answers and not self.spoke and _YES_OR_NO.match(lead + clause) and says_question_back(self.said, clause):
            self.asserted.append((lead + clause).strip())
            return ""
        if self.promised and _CANT.search(clause):
            self.promised = False  # an honest no, and what goes on from it ("... but try the app.")
        elif self._in_vain and not self.done() \
                and (self.promised or _OFFER.match(clause)
                     or (acknowledges(lead) and clause.rstrip().endswith("?"))):
            # "Sure, I can help with that! What's the temperature?" to "Turn on the air
            # conditioning.", with no action to do it: agreeing, then asking the details of an
            # errand nothing will run, is a promise left standing
            self.dropped.append((lead + clause).strip())
            self.promised = True
            return ""
        if self.no_action and acknowledges(lead) and not self.done() and asks_errand(self.said) and \
                self._states_asked(clause):
            # "Sure, eggs are on the list." to "Add eggs to my shopping list.", with no action to
            # do it: agreeing, then telling the errand's things as done, is a claim
            self.dropped.append((lead + clause).strip())
            self.promised = True
            return ""
        if _OFFER.match(clause) and self.said and not asks_for_action(self.said) and not asks_errand(self.said) \
                and not self.said.rstrip().endswith("?"):
            # "Sure, I'll help you with that." to "My sister just moved to a flat.": help with what
            # nobody asked for is no reply to it; what follows goes out alone (and if nothing does,
            # the offer after all: flush)
            self.offers.append((lead + clause).strip())
            return ""
        if _LEAD.match(clause) or _SHORT_LEAD.match(clause) or _OFFER.match(clause) or clause.rstrip().endswith(":") or \
                _QUOTED_ONLY.match(clause):
            # "I'm sorry," then "but I can't assist with that." or "to hear that."; and what
            # announces the next clause ("you can use the following command:") goes with it,
            # or not at all when that clause is not spoken
            self.lead = lead + clause
            return ""
        if self.no_refusals and _REFUSING.search(clause):
            self.refusals.append((lead + clause).strip())
            return ""
        return lead + clause
