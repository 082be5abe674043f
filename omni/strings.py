"""Text from outside (MQTT commands, command-line values, a model server's replies) made safe at
the boundary: after this, no print, log line, JSON dump or encode can fail on it.

Python strings can hold what UTF-8 cannot: lone UTF-16 surrogates (JSON's "\\ud800" escape, a
command-line byte that is not UTF-8) fail every later `.encode()`, a print to the console, a
publish. Control characters other than tab and newline are dropped: they have no place in speech
and can rewrite a terminal."""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def has_surrogates(s: str) -> bool:
    return _SURROGATE.search(s) is not None


def escaped(s: str) -> str:
    """`s` with each lone surrogate written as the JSON escape that made it (`\\ud800`): a
    refused id can be named back to its sender."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", s)


def safe_text(s: str) -> str:
    """Lone surrogates become U+FFFD (the replacement character), control characters go."""
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", s))


def json_depth(data: bytes | str, limit: int) -> int:
    """How deeply the arrays and objects of a JSON text nest, counted without parsing it (so a
    payload nested 100,000 deep costs one pass, not a RecursionError); stops counting past `limit`."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if text.count("[") + text.count("{") <= limit:  # the usual command: no character-by-character walk
        return min(limit, text.count("[") + text.count("{"))
    depth = deepest = 0
    in_string = escape = False
    for c in text:
        if in_string:
            if escape:
                escape = False
            elif c == "\\":
                escape = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif c in "]}":
            depth -= 1
    return deepest
