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

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from omni.dialogue.tools import ActionSpec
from omni.errors import ConfigError


class IntentExample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    action: str
    args: dict[str, Any] = Field(default_factory=dict)


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


def _mentions(text: str, value: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(value.lower())}(?![\w-])", text) is not None


class IntentMatcher:
    """Blocking; `load()` and `match()` run in a worker thread."""

    def __init__(self, opts: IntentOptions, actions: list[ActionSpec]) -> None:
        self.opts = opts
        self.actions = {a.name: a for a in actions}
        for ex in opts.examples:
            if ex.action not in self.actions:
                raise ConfigError(f"intent example {ex.text!r} names action {ex.action!r}, "
                                  "which is not declared", hint=f"actions: {sorted(self.actions)}")
        self.model: Any = None
        self.vectors = np.zeros((0, 1), np.float32)

    def load(self, progress: Any) -> None:
        from omni.engines.minilm import MiniLM
        from omni.models import resolve

        res = resolve("embed", self.opts.model, progress)
        if res.kind == "hub":
            raise ConfigError(f"embedding model {res.spec!r}: give a bundled name or a local folder",
                              hint="bundled: minilm-l6")
        progress(f"loading intent embeddings {res.spec}", None)
        self.model = MiniLM(Path(res.location))
        self.vectors = self.model.encode([ex.text for ex in self.opts.examples])

    def slots(self, text: str, action: ActionSpec, example: IntentExample) -> dict[str, Any] | None:
        low = text.lower()
        args: dict[str, Any] = {}
        for name, schema in action.parameters.items():
            said = [v for v in schema.get("enum", []) if isinstance(v, str) and _mentions(low, v)]
            said = [v for v in said if not any(v != w and v in w for w in said)]  # "living room" over "room"
            if len(said) > 1:
                return None  # "on ... off": not a clear command
            if said:
                args[name] = said[0]
            elif name in example.args:  # implied by the phrasing ("louder" -> up)
                args[name] = example.args[name]
            elif "default" in schema:
                args[name] = schema["default"]
        required = action.required if action.required is not None else list(action.parameters)
        if any(r not in args for r in required):
            return None
        return args

    def match(self, text: str) -> tuple[IntentMatch | None, float]:
        """The action for `text` (or None) and the best similarity seen."""
        if not self.opts.enabled or self.model is None or not len(self.opts.examples):
            return None, 0.0
        if len(text.split()) > self.opts.max_words:
            return None, 0.0
        v = self.model.encode_one(text)
        sims = self.vectors @ v
        order = np.argsort(-sims)
        best = int(order[0])
        ex = self.opts.examples[best]
        score = float(sims[best])
        other = next((float(sims[i]) for i in order[1:] if self.opts.examples[int(i)].action != ex.action), -1.0)
        if score < self.opts.threshold or score - other < self.opts.margin:
            return None, score
        args = self.slots(text, self.actions[ex.action], ex)
        if args is None:
            return None, score
        return IntentMatch(ex.action, args, score, ex.text), score
