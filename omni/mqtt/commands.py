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

_ID = {"type": "string", "minLength": 1, "maxLength": 128}


def _schema(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": {"id": _ID, **props}, "required": ["id", *required],
            "additionalProperties": False}


TEXT = {"type": "string", "minLength": 1, "maxLength": 2000}

SCHEMAS: dict[str, dict[str, Any]] = {
    "ask": _schema({"text": TEXT}, ["text"]),
    "say": _schema({"text": TEXT}, ["text"]),
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
    if name in SWITCHES and payload.strip().upper() in (b"ON", b"OFF"):
        return Command(name, "", {"id": "", "on": payload.strip().upper() == b"ON"})
    if name not in SCHEMAS:
        raise CommandError(f"unknown command {name!r}; known: {', '.join(SCHEMAS)}", command=name)
    if len(payload) > max_bytes:
        raise CommandError(f"payload of {len(payload)} bytes is over the limit of {max_bytes}", command=name)
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CommandError(f"payload is not JSON: {e}", command=name) from None
    cid = body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str) else None
    err = jsonschema.exceptions.best_match(_VALIDATORS[name].iter_errors(body))
    if err is not None:
        where = "/".join(map(str, err.absolute_path)) or "payload"
        raise CommandError(f"{where}: {err.message}", id=cid, command=name)
    return Command(name, body["id"], body)


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
