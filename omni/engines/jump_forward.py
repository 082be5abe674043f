"""Jump-forward decoding of a tool call: the parts of it the offered tools leave no choice about.

A local model writes a call as ~20 tokens of JSON (`{"name": "volume", "arguments":
{"direction": "up"}}`), decoded one at a time (~70 ms each for the 1.5B on 2 cores), and the
dialogue acts only when the last one is out. Most of those tokens are fixed by the format and
the schemas: the keys, the punctuation, the rest of a name or an enum value once its start names
it. `fixed_next` says what must come next, so the engine evaluates it in one batch (a few tokens
cost about what one decoded token does) and samples only where the model has a choice.

The format is the Hermes/Qwen one: `<tool_call>` and an object, or a bare object (some templates
teach `{{...}}`, and the model copies it), or the object in the `<tools>` tags the template puts
the schemas in (the 1.5B writes that too: the dialogue reads it as a call). Text that leaves it
(a name or key no schema has, a value outside its enum, prose) gets nothing forced: the model
writes on freely, and the dialogue judges the call as it would have.

A forced run ends where the model's own tokens would: before a name, key or value it chooses,
or after a value's closing quote together with what must follow it (`", "`, `"}}`), never at a
lone quote the model would have merged with the next character.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_TAGS = ((OPEN, CLOSE), ("<tools>", "</tools>"))
_WS = " \t\r\n"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_STRING_REST = re.compile(r'(?:[^"\\]|\\.)*"')  # a JSON string's rest, to its closing quote
_MAX_STEPS = 32


def starts_call(head: str) -> bool | None:
    """Whether a reply's first text opens a call `fixed_next` can follow; None: too little has
    come to tell."""
    head = head.lstrip(_WS)
    if head.startswith("{") or any(head.startswith(tag) for tag, _ in _TAGS):
        return True
    if not head or any(tag.startswith(head) for tag, _ in _TAGS):
        return None
    return False


def fixed_next(body: str, tools: Sequence[dict[str, Any]]) -> str:
    """What must follow `body` (a reply that opens with a tool call), given the offered `tools`
    (OpenAI function schemas): "" where the model chooses."""
    schemas = {}
    for t in tools:
        fn = t.get("function", t)
        if isinstance(fn.get("name"), str):
            schemas[fn["name"]] = fn.get("parameters") or {}
    out = ""
    for _ in range(_MAX_STEPS):
        step = _Reader(body + out, schemas).next()
        if not step:
            break
        out += step
    return out


class _Free(Exception):
    """The text has left what the schemas fix."""


class _Reader:
    """Reads the text as calls, one after another. Each part's reader returns None when the part
    is complete, or, when the text stops inside it, what must come next ("": the model's choice)."""

    def __init__(self, text: str, schemas: dict[str, dict[str, Any]]) -> None:
        self.t, self.i, self.schemas = text, 0, schemas

    def next(self) -> str:
        try:
            while True:
                self.ws()
                if self.done():
                    return ""  # between calls: the model ends the reply or opens another
                r = self.call()
                if r is not None:
                    return r
        except _Free:
            return ""

    def done(self) -> bool:
        return self.i >= len(self.t)

    def ws(self) -> None:
        while self.i < len(self.t) and self.t[self.i] in _WS:
            self.i += 1

    def lit(self, s: str) -> str | None:
        rest = self.t[self.i:]
        if rest.startswith(s):
            self.i += len(s)
            return None
        if s.startswith(rest):
            self.i = len(self.t)
            return s[len(rest):]
        raise _Free

    def word(self, options: Sequence[str]) -> tuple[str, str, str]:
        """A quoted word from `options`, after its opening quote: ("done", word, "") with its
        closing quote read; ("rest", word, the rest of it) when the text stops inside the one
        option it can be; ("open", "", "") when it stops where more than one fits."""
        end = self.t.find('"', self.i)
        part = self.t[self.i:] if end < 0 else self.t[self.i:end]
        if end >= 0:
            if part not in options:
                raise _Free
            self.i = end + 1
            return "done", part, ""
        fits = [o for o in options if o.startswith(part)]
        if not fits:
            raise _Free
        self.i = len(self.t)
        return ("rest", fits[0], fits[0][len(part):]) if len(fits) == 1 else ("open", "", "")

    def call(self) -> str | None:
        # `<tool_call>` and the `{{` a template teaches open nothing but a call; a bare `{` or
        # `<tools>` may also start the tool list written back ({"type": "function", ...}), so
        # there the model writes "name" itself before anything is forced
        close, sure = "", False
        for tag, end in _TAGS:
            if self.t.startswith(tag, self.i):
                self.i += len(tag)
                close, sure = end, tag == OPEN
                if self.done():
                    return '\n{"name": "' if sure else ""
                self.ws()
                break
            if tag.startswith(self.t[self.i:]):  # the text stops inside a tag
                fits = [t for t, _ in _TAGS if t.startswith(self.t[self.i:])]
                return tag[len(self.t) - self.i:] + '\n{"name": "' if fits == [OPEN] else ""
        if self.done():
            return '{"name": "' if sure else ""
        if self.t[self.i] != "{":
            raise _Free
        self.i += 1
        if self.done():
            return ""  # `{"` or the `{{` some templates teach: the model's choice
        braces = 2 if self.t[self.i] == "{" else 1
        self.i += braces - 1
        if not (sure or braces == 2):
            said = self.t[self.i:]
            if '"name'.startswith(said) and said != '"name':
                return ""
            if not said.startswith('"name'):
                raise _Free
        if (r := self.lit('"name": "')) is not None:
            return r
        kind, name, rest = self.word(sorted(self.schemas))
        if kind == "open":
            return ""
        if kind == "rest":  # the rest of the one name its start fits, and its closing quote; the
            # start is the model's: one tool offered is not the one it was about to call
            return rest + '"' if rest != name else ""
        schema = self.schemas[name]
        props = schema.get("properties") or {}
        if not isinstance(props, dict) or not all(isinstance(v, dict) for v in props.values()):
            raise _Free
        required = [k for k in schema.get("required") or [] if k in props]
        if (r := self.lit(', "arguments":')) is not None:
            return r
        if self.done():  # ` {"` (a key is due), ` {}` (none can be) or, with optional ones, either
            return ' {"' if required else "" if props else " {}"
        if (r := self.lit(" {")) is not None:
            return r
        if (r := self.arguments(props, required)) is not None:
            return r
        if (r := self.lit("}" * braces)) is not None:
            return r
        if close:
            if self.done():
                return "\n" + close
            self.ws()
            if (r := self.lit(close)) is not None:
                return r
        return None

    def arguments(self, props: dict[str, Any], required: list[str]) -> str | None:
        """The arguments object, after its `{`."""
        written: list[str] = []

        def after_value() -> str:
            if len(written) == len(props):
                return "}"
            if any(k not in written for k in required):
                return ', "'
            return ""

        self.ws()
        if self.done():  # a key when one is required; with optional ones only, maybe none
            return '"' if required else "" if props else "}"
        while True:
            if self.t[self.i] == "}":
                self.i += 1
                return None
            if (r := self.lit('"')) is not None:
                return r
            kind, key, rest = self.word([k for k in props if k not in written])
            if kind == "open":
                return ""
            spec = props[key]
            quoted = _quoted(spec)
            if kind == "rest":
                return rest + '": ' + ('"' if quoted else "")
            if (r := self.lit(": ")) is not None:
                return r + ('"' if quoted else "")
            written.append(key)
            if (r := self.value(spec, after_value)) is not None:
                return r
            self.ws()
            if self.done():
                return after_value()
            if self.t[self.i] == ",":
                self.i += 1
                if self.done():
                    return ' "'
                self.ws()
                if self.done():
                    return ""
            elif self.t[self.i] != "}":
                raise _Free

    def value(self, spec: dict[str, Any], after: Any) -> str | None:
        enum = spec.get("enum")
        if _plain(enum):
            if (r := self.lit('"')) is not None:
                return r
            kind, _, rest = self.word(enum)
            if kind == "open":
                return ""
            if kind == "rest":
                if rest:
                    return rest  # its closing quote waits for the next step: what follows it
                follow = after()
                return '"' + follow if follow else ""
            return None
        kind = spec.get("type")
        if kind == "string":
            if (r := self.lit('"')) is not None:
                return r
            m = _STRING_REST.match(self.t, self.i)
            if m is None:
                self.i = len(self.t)
                return ""
            self.i = m.end()
            return None
        if kind in ("integer", "number"):
            m = _NUMBER.match(self.t, self.i)
            if m is None or m.end() == len(self.t):
                if m is None and not self.done() and self.t[self.i] not in "-":
                    raise _Free
                self.i = len(self.t)
                return ""  # the number may go on
            self.i = m.end()
            return None
        if self.done():
            return ""
        raise _Free  # booleans, arrays, objects: written freely


def _quoted(spec: dict[str, Any]) -> bool:
    return spec.get("type") == "string" or _plain(spec.get("enum"))


def _plain(enum: Any) -> bool:
    """An enum of strings that JSON writes as they are (no quote or backslash to escape)."""
    return isinstance(enum, list) and bool(enum) and all(
        isinstance(e, str) and '"' not in e and "\\" not in e for e in enum)
