"""The fast path: clear commands mapped to allow-listed actions without any LLM.

Which action: the utterance's sentence embedding (all-MiniLM-L6-v2, in numpy) against the
pipeline's example phrases; the nearest example must clear `threshold` and beat the nearest
example of any other action by `margin`. Which arguments: read from the words themselves (an
enum value said in the utterance, "kitchen", "off"), else implied by the matched example
("louder please" carries direction=up), else the parameter's schema default.
Embeddings cannot tell "on" from "off" (their cosine is ~0.9), words can. A turn that is long,
names two values for one argument, or leaves a required argument open goes to the LLM.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from omni.errors import ConfigError


REFUSE = "refuse"
"""The examples of what no action allows (omni.dialogue.options.REFUSE)."""


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
    max_words: int = Field(12, ge=1)
    """Longer turns go to the LLM."""
    examples: list[IntentExample] = Field(default_factory=list)


@dataclass(frozen=True)
class IntentMatch:
    action: str
    args: dict[str, Any]
    score: float
    example: str
    said: str = ""
    """The words it was matched on (a part of the turn, for a request of several)."""


def _mentions(text: str, value: str) -> bool:
    v = value.lower()
    if re.search(rf"(?<![\w-]){re.escape(v)}(?![\w-])", text) is not None:
        return True
    # a compound heard in two words ("bed room") or as one ("livingroom")
    if len(v) < 6:
        return False
    ws = re.findall(r"[a-z]+", text)
    return re.sub(r"[\s-]", "", v) in {*ws, *(a + b for a, b in zip(ws, ws[1:]))}


class IntentMatcher:
    """Blocking; `load()` and `match()` run in a worker thread."""

    def __init__(self, opts: IntentOptions, targets: dict[str, dict[str, Any]]) -> None:
        """`targets`: what an example may name (device actions, built-in tools) with the JSON
        schema of its arguments."""
        self.opts = opts
        self.targets = targets
        for ex in opts.examples:
            if ex.action not in targets:
                raise ConfigError(f"intent example {ex.text!r} names action {ex.action!r}, "
                                  "which is not declared", hint=f"actions and tools: {sorted(targets)}")
        self.model: Any = None
        self.vectors = np.zeros((0, 1), np.float32)
        self._recent: dict[str, np.ndarray] = {}

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
            said = [v for v in prop.get("enum", []) if isinstance(v, str) and _mentions(low, v)]
            said = [v for v in said if not any(v != w and v in w for w in said)]  # "living room" over "room"
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

    def match(self, text: str) -> tuple[IntentMatch | None, float]:
        """The action for `text` (or None) and the best similarity seen."""
        m, score, _ = self.assess(text)
        return m, score

    def assess(self, text: str) -> tuple[IntentMatch | None, float, dict[str, float]]:
        """`match()`, and the best similarity of `text` to each action's examples (how near the
        turn is to asking for each, even when no example is near enough to act on)."""
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
        order = np.argsort(-sims)
        best = int(order[0])
        ex = self.opts.examples[best]
        score = float(sims[best])
        other = next((float(sims[i]) for i in order[1:] if self.opts.examples[int(i)].action != ex.action), -1.0)
        if score < self.opts.threshold or score - other < self.opts.margin:
            return None, score, near
        args = self.slots(text, self.targets[ex.action], ex)
        if args is None:
            return None, score, near
        return IntentMatch(ex.action, args, score, ex.text), score, near

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


_LAST_NEGATED = re.compile(r"\b(?:don't|do not|never|not|no)\b|n't\b", re.IGNORECASE)
_REPORTED = re.compile(r"\b(?:said|say|says|shouted|yelled|told|tells|asked|asks|goes|went|like)\b", re.IGNORECASE)
_SPEAKER = frozenset("i i'm i've i'd we we're it it's that's that this there there's you you're".split())
"""Words of a first part that speaks for the user ("I'm cold, ..."), not to someone by name."""
_INTERJECTIONS = frozenset("alright right so um uh well hey yes yeah no oh hmm okay ok fine great thanks cool sorry "
                           "actually wait please omni come on".split())
_CLAUSE = re.compile(r"\s*(?:[,;]\s*(?:and\s+|then\s+|and then\s+)?|\s(?:and then|and|then|also)\s)\s*",
                     re.IGNORECASE)


def clauses(text: str) -> list[str]:
    """The parts of a request joined by "and", "then", commas ("please" and fillers left out)."""
    t = re.sub(r"[.!?]+$", "", text.strip())
    parts = [p.strip() for p in _CLAUSE.split(t) if p and p.strip()]
    return [p for p in parts if p.lower().strip(" ,.") not in ("please", "thanks", "thank you", "ok", "okay")]


_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_NUMBERS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
                 "a": 1, "an": 1})
_UNITS = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600}
_DURATION = re.compile(r"\b(\d+|(?:(?:twenty|thirty|forty|fifty)[- ])?[a-z]+)\s+(second|sec|minute|min|hour)s?\b")
_NEGATIVE = re.compile(r"\b(minus|negative)\s+(\d|[a-z])")


def spoken_seconds(text: str) -> int | None:
    """'ten minutes' -> 600, '1 hour 30 minutes' -> 5400, 'half an hour' / 'a half-hour' -> 1800; None if no
    duration; 'minus five seconds' -> -5 (no timer can run that, and the tool says so)."""
    low = text.lower()
    sign = -1 if _NEGATIVE.search(low) else 1
    # "a half hour timer", "half-hour"; not the half of "one and a half hour"
    low = re.sub(r"(?<!and )(?<!and a )\b(?:a\s+)?half[- ]hour\b", "half an hour", low)
    total = 1800 if re.search(r"\bhalf an hour\b", low) else 0
    # "an hour and a half", "two and a half minutes": half of the unit said, besides the whole ones
    for m in re.finditer(r"\b(hour|minute|second)s?\s+and a half\b|\band a half\s+(hour|minute|second)s?\b", low):
        total += _UNITS[m.group(1) or m.group(2)] // 2
    low = re.sub(r"\s+and a half\b", "", low).replace("half an hour", "")
    # one duration, in parts said together ("1 hour 30 minutes", "an hour and ten minutes"); a
    # second one later ("four minutes? ... timer for four minutes.") says the same again
    last_end = None
    for m in _DURATION.finditer(low):
        num, unit = m.group(1), m.group(2)
        if num.isdigit():
            n = int(num)
        else:
            parts = re.split(r"[- ]", num)
            if not all(p in _NUMBERS for p in parts):
                continue
            n = sum(_NUMBERS[p] for p in parts)
        if last_end is not None and not re.fullmatch(r"[\s,]*(?:and\s*)?", low[last_end:m.start()]):
            break
        total += n * _UNITS[unit]
        last_end = m.end()
    return sign * total or None


def masked(text: str) -> str:
    """What gets embedded: lower case, no punctuation (a full stop moved one command's similarity
    to its own example from 1.0 to 0.69), and the numbers of durations replaced by one word, so
    "ten minutes" and "5 minutes" embed alike (the slots read the value)."""
    low = re.sub(r"[^\w\s'-]", " ", text.lower())  # transcripts have punctuation, examples rarely
    low = re.sub(r"\bhalf an hour\b|(?<!and )(?<!and a )\b(?:a\s+)?half[- ]hour\b", "some minutes", low)
    low = " ".join(low.split())
    return _DURATION.sub(lambda m: f"some {m.group(2)}s", low)
