"""The fast path: clear commands mapped to allow-listed actions without any LLM.

Which action: the utterance's sentence embedding (all-MiniLM-L6-v2, in numpy) against the
pipeline's example phrases; the nearest example must clear `threshold` and beat the nearest
example of any other action by `margin`. Which arguments: read from the words themselves (an
enum value said in the utterance, "kitchen", "off"), else implied by the matched example
("louder please" carries direction=up), else the parameter's schema default.
Embeddings cannot tell "on" from "off" (their cosine is ~0.9), words can. A turn that is long
or names two values for one argument goes to the LLM. A clear command that leaves a required
choice open ("Lights off, please.": which room?) is asked about at once when its words hold
nothing but the command (no word its action's examples do not have: "Turn on the garden lights"
names a place the action does not take, and goes to the LLM for its honest no).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from omni.dialogue.asks import asks_how
from omni.dialogue.wording import clauses, gainsays, masked, spoken_seconds, stems, too_much, values_said
from omni.errors import ConfigError


REFUSE = "refuse"
"""The examples of what no action allows (omni.dialogue.options.REFUSE)."""

MORE_EXAMPLES = (
    "tell me another one", "give me another", "one more please", "a different one please", "what else have you got",
    "got any more", "more of those", "something new please", "can I have a new one", "tell me a new one",
    "give me a fresh one", "I've heard that one, tell me something I don't know", "I already know that one",
    "not that one, something else",
)
"""Asking for a new one of what was just given, in a few ways (IntentOptions.more_examples)."""


class IntentExample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    action: str
    """A declared device action or a built-in tool (get_time, set_timer)."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Arguments the phrasing implies without saying them ("louder" -> direction: up)."""


class IntentOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    model: str = "minilm-l6"
    """Bundled embedding model name or a sentence-transformers BERT folder."""
    threshold: float = Field(0.72, ge=0, le=1)
    """Cosine similarity the nearest example must reach."""
    margin: float = Field(0.04, ge=0, le=1)
    """Lead the best action must have over the next-best action."""
    own_words_threshold: float = Field(0.6, ge=0, le=1)
    """The similarity enough for a turn whose every word is its nearest action's own (its
    examples' words and its values, besides "please", "can you" and the like) and which says
    each argument itself: "Turn it up." is 0.67 from "turn the volume up". (1: never lower.)"""
    max_words: int = Field(12, ge=1)
    """Longer turns go to the LLM."""
    timer_words: bool = True
    """A timer asked for without its word, by a time ahead ("Wake me in forty minutes.", "Let me
    know when ten minutes are up.") or to time a length said ("Can you time four minutes for
    me?"), is set without the model (omni.dialogue.turns.timer_call). The 1.5B, offered the
    timer, answered such turns "Sorry, I can't do that." or "I'll text you in three minutes."
    (bench probe 8)."""
    stop_words: bool = True
    """A turn whose every word asks the assistant to stop ("Shush.", "Okay, that'll do.",
    "Forget it, never mind."; omni.dialogue.asks.asks_only_to_stop) does the pipeline's `stop`
    action without the model (omni.dialogue.turns.stop_call). The 1.5B answered such turns with
    sympathy ("Nevermind." -> "I'm sorry to hear that.") and the examples' nearest match took
    "Quiet, please." for the volume (bench probe 10)."""
    ask_for: list[str] = Field(default_factory=list)
    """Arguments the fast path asks for when a clear command leaves them open ("room": "Lights
    off, please." -> "Which room: kitchen, bedroom or living room?"); the command is matched
    against its examples with that argument's values taken out ("turn on the light")."""
    examples: list[IntentExample] = Field(default_factory=list)
    more_examples: list[str] = Field(default_factory=lambda: list(MORE_EXAMPLES))
    """Ways of asking for a new one of what was just given ("Got any more?"): a turn near one
    (`more_threshold`), or near the turn before it in other words (`same_ask_threshold`: "Give
    me a riddle." then "A riddle I won't get, this time?"), is not answered with what omni said
    before (omni.dialogue.claims.repeats). Besides omni.dialogue.asks.asks_more's words."""
    more_threshold: float = Field(0.45, ge=0, le=1)
    same_ask_threshold: float = Field(0.5, ge=0, le=1)


@dataclass(frozen=True)
class IntentMatch:
    action: str
    args: dict[str, Any]
    score: float
    example: str
    said: str = ""
    """The words it was matched on (a part of the turn, for a request of several)."""
    ask: dict[str, Any] | None = None
    """A required choice the words left open: {"argument": "room", "choices": [...]}. The
    fast path asks which instead of acting (`args` holds what was said)."""


class IntentMatcher:
    """Blocking; `load()` and `match()` run in a worker thread."""

    def __init__(self, opts: IntentOptions, targets: dict[str, dict[str, Any]],
                 words: dict[str, dict[str, list[str]]] | None = None) -> None:
        """`targets`: what an example may name (device actions, built-in tools) with the JSON
        schema of its arguments; `words`: each action's other words for its values
        ({"volume": {"up": ["louder", ...]}}, ActionSpec.words)."""
        self.opts = opts
        self.targets = targets
        self.words = words or {}
        for ex in opts.examples:
            if ex.action not in targets:
                raise ConfigError(f"intent example {ex.text!r} names action {ex.action!r}, "
                                  "which is not declared", hint=f"actions and tools: {sorted(targets)}")
        self.model: Any = None
        self.vectors = np.zeros((0, 1), np.float32)
        self._recent: dict[str, np.ndarray] = {}
        self._open: list[tuple[IntentExample, str, str]] = []
        self._open_vectors: np.ndarray | None = None
        self._more_vectors: np.ndarray | None = None
        self._vocab: dict[str, set[str]] = {}
        """Each action's words: its examples' and its arguments' values (whole and in words)."""
        for ex in opts.examples:
            self._vocab.setdefault(ex.action, set()).update(stems(ex.text))
        for action, schema in targets.items():
            for prop in schema.get("properties", {}).values():
                for v in prop.get("enum", []):
                    self._vocab.setdefault(action, set()).update(stems(str(v)))

    def load(self, progress: Any) -> None:
        from omni.engines.minilm import MiniLM
        from omni.models import resolve

        res = resolve("embed", self.opts.model, progress)
        if res.kind == "hub":
            raise ConfigError(f"embedding model {res.spec!r}: give a bundled name or a local folder",
                              hint="bundled: minilm-l6")
        progress(f"loading intent embeddings {res.spec}", None)
        self.model = MiniLM(Path(res.location))
        self.vectors = self.model.encode([masked(ex.text) for ex in self.opts.examples])
        # each example with an argument that may be asked for taken out ("turn on the light")
        self._open = [(ex, arg, text) for ex in self.opts.examples for arg in self.opts.ask_for
                      if (text := _without(ex.text, self.targets[ex.action], arg)) is not None]
        self._open_vectors = self.model.encode([masked(t) for _, _, t in self._open]) if self._open else None
        self._more_vectors = self.model.encode([masked(t) for t in self.opts.more_examples]) \
            if self.opts.more_examples else None

    def asks_more(self, text: str, before: str | None = None) -> bool:
        """`text` asks for a new one of what was just given: near a way of asking for one, or
        near `before` (the user's turn before) in other words."""
        if self.model is None or not text.strip():
            return False
        v = self._vector(masked(text))
        if self._more_vectors is not None and float((self._more_vectors @ v).max()) >= self.opts.more_threshold:
            return True
        if before and stems(before) != stems(text):
            return float(self._vector(masked(before)) @ v) >= self.opts.same_ask_threshold
        return False

    def _vector(self, masked_text: str) -> np.ndarray:
        """The embedding of `masked_text`, kept for the turn's next look (a turn's parts are
        embedded for its nearness, then again by match_parts)."""
        v = self._recent.get(masked_text)
        if v is None:
            v = self._recent[masked_text] = self.model.encode_one(masked_text)
            while len(self._recent) > 32:
                self._recent.pop(next(iter(self._recent)))
        return v

    def slots(self, text: str, schema: dict[str, Any], example: IntentExample) -> dict[str, Any] | None:
        low = text.lower()
        args: dict[str, Any] = {}
        for name, prop in schema.get("properties", {}).items():
            if name == "seconds" and prop.get("type") == "integer":  # a spoken duration
                secs = spoken_seconds(low)
                if secs is not None:
                    args[name] = secs
                continue
            said = values_said(low, prop)
            meant = too_much(low, prop, self.words.get(example.action, {}))
            if meant is not None:  # "Not so loud, please." near "louder please": down, not up
                if said and said != [meant]:
                    return None  # "it's too loud up here": not a clear command
                said = [meant]
            if len(said) > 1:
                return None  # "on ... off": not a clear command
            if said:
                args[name] = said[0]
            elif name in example.args:  # implied by the phrasing ("louder" -> up)
                args[name] = example.args[name]
            elif "default" in prop:
                args[name] = prop["default"]
        if any(r not in args for r in schema.get("required", [])):
            return None
        return args

    def open_choice(self, text: str, action: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """The one required choice `args` leave open for `action`, to be asked ("which room:
        kitchen, bedroom or living room?"), when the words hold nothing but the command: no word
        the action's examples and values lack ("Turn on the garden lights" names a place, and a
        model's honest no is the answer). None otherwise."""
        schema = self.targets[action]
        missing = [r for r in schema.get("required", []) if r not in args]
        if len(missing) != 1 or not (choices := schema["properties"].get(missing[0], {}).get("enum")):
            return None
        if stems(text) - self._vocab.get(action, set()) - _COMMAND_WORDS:
            return None
        return {"argument": missing[0], "choices": [str(c) for c in choices]}

    def match(self, text: str) -> tuple[IntentMatch | None, float]:
        """The action for `text` (or None) and the best similarity seen; only a command whose
        arguments are all said (not one that leaves a choice to be asked: see assess)."""
        m, score, _ = self.assess(text)
        return (m if m is None or m.ask is None else None), score

    def assess(self, text: str) -> tuple[IntentMatch | None, float, dict[str, float]]:
        """`match()` (or a match whose `ask` names the choice left open), and the best similarity
        of `text` to each action's examples (how near the turn is to asking for each, even when no
        example is near enough to act on)."""
        if not self.opts.enabled or self.model is None or not len(self.opts.examples):
            return None, 0.0, {}
        if len(text.split()) > self.opts.max_words * 3:
            return None, 0.0, {}
        v = self._vector(masked(text))
        sims = self.vectors @ v
        near: dict[str, float] = {}
        for ex, sim in zip(self.opts.examples, sims):
            near[ex.action] = max(near.get(ex.action, -1.0), float(sim))
        # a command wrapped in other words ("Alright, I've heard enough, thanks, stop there."): the
        # whole is far from every example, its part is not. Nearness only (which tools the model
        # is offered); acting at once still needs the whole turn to match, and a request no action
        # allows is judged on the whole turn ("I left the front door open" is no "unlock the door")
        parts = clauses(text)
        if len(parts) > 1:
            vs = np.stack([self._vector(masked(p)) for p in parts])
            for ex, sim in zip(self.opts.examples, (self.vectors @ vs.T).max(axis=1)):
                if ex.action != REFUSE:
                    near[ex.action] = max(near[ex.action], float(sim))
        if len(text.split()) > self.opts.max_words:
            return None, 0.0, near
        if asks_how(text):  # "Is the kitchen light on?" is 0.82 near "turn on the kitchen light"
            return None, float(sims.max()), near
        order = np.argsort(-sims)
        best = int(order[0])
        ex = self.opts.examples[best]
        score = float(sims[best])
        other = next((float(sims[i]) for i in order[1:] if self.opts.examples[int(i)].action != ex.action), -1.0)
        if score - other < self.opts.margin or score < self.opts.threshold and not (
                score >= self.opts.own_words_threshold and self._own_words(text, ex.action)):
            return self._asking(text, v, sims), score, near
        if gainsays(text, ex.text):  # "I can hear you." is near "i can't hear you" (volume up)
            return None, score, near
        args = self.slots(text, self.targets[ex.action], ex)
        if args is None:
            return self._asking(text, v, sims), score, near
        return IntentMatch(ex.action, args, score, ex.text), score, near

    def _own_words(self, text: str, action: str) -> bool:
        """Every word of `text` is one of `action`'s own or any command's, at least one of them
        is not a word any command has, and the action takes arguments, all said in them (none
        taken from an example: "Volume." says no direction; an action without arguments is
        matched on its words alone, and "What is it?" is not "what time is it")."""
        words = stems(text)
        if action == REFUSE or not words - _COMMAND_WORDS or words - self._vocab.get(action, set()) - _COMMAND_WORDS:
            return False
        props = self.targets[action].get("properties", {})
        heard = self.slots(text, self.targets[action], IntentExample(text="", action=action))
        return bool(props) and heard is not None and any(
            k in heard and heard[k] != p.get("default") for k, p in props.items())

    def _asking(self, text: str, v: np.ndarray, sims: np.ndarray) -> IntentMatch | None:
        """A clear command but for an argument it leaves open (ask_for): near an example with
        that argument taken out, ahead of every other action's examples, and the words hold
        nothing else (open_choice). Its match asks which; None otherwise."""
        if self._open_vectors is None:
            return None
        osims = self._open_vectors @ v
        best = int(np.argmax(osims))
        ex, arg, stripped = self._open[best]
        score = float(osims[best])
        other = max((float(s) for e, s in zip(self.opts.examples, sims) if e.action != ex.action), default=-1.0)
        if score < self.opts.threshold or score - other < self.opts.margin:
            return None
        partial = self.slots(text, {**self.targets[ex.action], "required": []}, ex)
        if partial is None or arg in partial:
            return None
        ask = self.open_choice(text, ex.action, partial)
        if ask is None or ask["argument"] != arg:
            return None
        return IntentMatch(ex.action, partial, score, stripped, ask=ask)

    def answer(self, text: str, asked: IntentMatch) -> IntentMatch | None:
        """The command `asked` completed by this turn's words, when they answer its open choice
        and say nothing else ("The kitchen." or "In the bedroom, please." to "Which room:
        kitchen, bedroom or living room?"); None otherwise ("The kitchen is a mess." says more)."""
        if asked.ask is None or text.rstrip().endswith("?") or \
                stems(text) - self._vocab.get(asked.action, set()) - _COMMAND_WORDS - _ANSWER_WORDS:
            return None
        low = text.lower()
        args = dict(asked.args)
        for name, prop in self.targets[asked.action].get("properties", {}).items():
            said = values_said(low, prop)
            if len(said) > 1:
                return None
            if said:
                args[name] = said[0]
        if asked.ask["argument"] not in args:
            return None
        return IntentMatch(asked.action, args, 1.0, f"(answers which {asked.ask['argument']})", said=text)

    def match_parts(self, text: str) -> list[IntentMatch] | None:
        """A request of several commands ("turn off the alarm and open the garage door, then
        turn on the bedroom light"): one match per part, or None unless every part matches."""
        parts = clauses(text)
        if len(parts) < 2:
            return None
        out = []
        for p in parts:
            m, _ = self.match(p)
            if m is None:
                return None
            out.append(dataclasses.replace(m, said=p))
        return out


    def match_last(self, text: str) -> IntentMatch | None:
        """A clear command said last, after words that ask for nothing near an action ("Okay, I
        don't need you anymore, stop.", "I'm putting the pasta on, set a timer for eleven
        minutes."): its match, or None. Not in a question."""
        parts = clauses(text)
        if len(parts) < 2 or "?" in text or _LAST_NEGATED.search(parts[-1]) or _REPORTED.search(" ".join(parts[:-1])):
            return None  # "..., don't stop."; "so I said, stop": not asked of the assistant
        head = [w for w in re.findall(r"[a-z']+", parts[0].lower()) if w not in _INTERJECTIONS]
        if 0 < len(head) <= 2 and not set(head) & _SPEAKER:
            return None  # "Kids, dinner is ready, turn off the kitchen light.": said to someone else
        m, _ = self.match(parts[-1])
        if m is None or m.action == REFUSE or any(self.match(p)[1] >= self.opts.threshold for p in parts[:-1]):
            return None  # a request no action allows is judged on the whole turn ("I got home, I turned on the oven.")
        return dataclasses.replace(m, said=parts[-1])


_COMMAND_WORDS = frozenset(
    "a an the please now thanks thank you can could would will just my our hey okay ok oh um uh so right "
    "omni again too".split())
"""Words any command may hold beside its action's own."""


def _without(example: str, schema: dict[str, Any], arg: str) -> str | None:
    """The example with the values of `arg` taken out ("lights off in the living room" ->
    "lights off"), or None when it names none of them."""
    values = sorted((str(v) for v in schema.get("properties", {}).get(arg, {}).get("enum", [])), key=len, reverse=True)
    out = example
    for v in values:
        out = re.sub(rf"\s*\bin\s+the\s+{re.escape(v)}\b|\b{re.escape(v)}\s*\b", " ", out, flags=re.IGNORECASE)
    out = " ".join(out.split())
    return out if out != " ".join(example.split()) else None


_ANSWER_WORDS = frozenset("in one that i mean meant yes".split())
"""Words an answer to "which room?" may hold beside the choice ("The living room one.")."""


_LAST_NEGATED = re.compile(r"\b(?:don't|do not|never|not|no)\b|n't\b", re.IGNORECASE)
_REPORTED = re.compile(r"\b(?:said|say|says|shouted|yelled|told|tells|asked|asks|goes|went|like)\b", re.IGNORECASE)
_SPEAKER = frozenset("i i'm i've i'd we we're it it's that's that this there there's you you're".split())
"""Words of a first part that speaks for the user ("I'm cold, ..."), not to someone by name."""
_INTERJECTIONS = frozenset("alright right so um uh well hey yes yeah no oh hmm okay ok fine great thanks cool sorry "
                           "actually wait please omni come on".split())
