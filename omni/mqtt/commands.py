"""Commands a node takes over MQTT: JSON payloads checked against schemas, deduplicated by id.

Every command carries an `id` (any string up to 128 characters, unique per command: a QoS 1
redelivery repeats it and is not acted on twice). A command that is accepted is answered on
event/ack; one that is refused, on event/error with the reason and the id when it had one.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass
from typing import Any

import jsonschema

from omni.errors import InputError
from omni.strings import escaped, has_surrogates, json_depth

_ID = {"type": "string", "minLength": 1, "maxLength": 128}
MAX_DEPTH = 8
"""JSON commands nest at most this deep (a settings command is 3): checked before parsing."""


def _schema(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": {"id": _ID, **props}, "required": ["id", *required],
            "additionalProperties": False}


TEXT = {"type": "string", "minLength": 1, "maxLength": 2000}
SAY_CHARS = 400
"""A `say` is spoken whole and holds the speaker while it plays (about 25 s at this length):
longer announcements are refused, to be sent as several."""

SCHEMAS: dict[str, dict[str, Any]] = {
    "ask": _schema({"text": TEXT}, ["text"]),
    "say": _schema({"text": {**TEXT, "maxLength": SAY_CHARS}}, ["text"]),
    "cancel": _schema({}, []),
    "listen": _schema({"on": {"type": "boolean"}}, ["on"]),
    "mute": _schema({"on": {"type": "boolean"}}, ["on"]),
    "settings": _schema({"set": {"type": "object", "minProperties": 1, "maxProperties": 32,
                                 "propertyNames": {"pattern": r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"}}},
                        ["set"]),
}
"""JSON schema of each command's payload (documented in the README)."""

_VALIDATORS = {k: jsonschema.Draft202012Validator(v) for k, v in SCHEMAS.items()}


@dataclass(frozen=True)
class Command:
    name: str
    id: str
    body: dict[str, Any]


class CommandError(InputError):
    """A command that cannot be carried out; `id` is its id when it could be read."""

    def __init__(self, message: str, *, id: str | None = None, command: str | None = None) -> None:
        super().__init__(message)
        self.id = id
        self.command = command


SWITCHES = ("listen", "mute")
"""Commands that also take a plain ON / OFF (what a Home Assistant switch sends). Setting a state
twice is harmless, so these need no id; they get the id "" and are not deduplicated."""


def parse_command(name: str, payload: bytes, max_bytes: int) -> Command:
    """A command's payload checked in order: size, nesting, JSON, Unicode, schema. Every refusal
    is a CommandError that names the command and, once it could be read, the id."""
    if name in SWITCHES and payload.strip().upper() in (b"ON", b"OFF"):
        return Command(name, "", {"id": "", "on": payload.strip().upper() == b"ON"})
    if len(payload) > max_bytes:
        raise CommandError(f"payload of {len(payload)} bytes is over the limit of {max_bytes}", command=name)
    if json_depth(payload, MAX_DEPTH) > MAX_DEPTH:
        raise CommandError(f"payload nests deeper than {MAX_DEPTH} levels", command=name)
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CommandError(f"payload is not JSON: {e}", command=name) from None
    raw_id = body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str) else None
    cid = escaped(raw_id) if raw_id is not None else None
    if name not in SCHEMAS:
        raise CommandError(f"unknown command {name!r}; known: {', '.join(SCHEMAS)}", id=cid, command=name)
    where = _surrogate_at(body)
    if where is not None:
        raise CommandError(f"{where}: not valid Unicode (a lone UTF-16 surrogate such as \\ud800)",
                           id=cid, command=name)
    err = jsonschema.exceptions.best_match(_VALIDATORS[name].iter_errors(body))
    if err is not None:
        at = "/".join(map(str, err.absolute_path)) or "payload"
        if err.validator == "maxLength":  # not jsonschema's message: it repeats the whole text
            why = f"{len(err.instance)} characters is too long (at most {err.validator_value})"
            if name == "say":
                why += "; send a long announcement as several say commands"
            raise CommandError(f"{at}: {why}", id=cid, command=name)
        raise CommandError(f"{at}: {err.message[:300]}", id=cid, command=name)
    return Command(name, body["id"], body)


def _surrogate_at(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) holding a lone surrogate, or None."""
    if isinstance(value, str):
        return (path or "payload") if has_surrogates(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        if isinstance(k, str) and has_surrogates(k):
            return f"{path}/{escaped(k)}".lstrip("/") + " (a key)"
        found = _surrogate_at(v, f"{path}/{k}".lstrip("/"))
        if found:
            return found
    return None


class Dedupe:
    """The last `size` command ids: a redelivered command is recognised and not acted on again."""

    def __init__(self, size: int) -> None:
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.size = size
        self.duplicates = 0

    def first_time(self, cid: str) -> bool:
        if cid in self._seen:
            self._seen.move_to_end(cid)
            self.duplicates += 1
            return False
        self._seen[cid] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True
