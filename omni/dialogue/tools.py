"""Tools the model may call and actions the assistant may take: an allow-list from the pipeline.

Device actions are declared in the pipeline file (name, description, parameters, a spoken
confirmation); the intent fast path and LLM tool calls can only produce those. Built-in tools
answer questions the model cannot (`time`) or keep state (`timer`). A call to anything not
declared, or with arguments that do not match the schema, is refused with a message the model
and the user both get; nothing raises out of here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from omni.dialogue.asks import asks_later, asks_to_time, timer_seconds
from omni.dialogue.types import ToolCall
from omni.dialogue.wording import mentions
from omni.errors import ConfigError

log = logging.getLogger(__name__)


class ActionSpec(BaseModel):
    """One thing the assistant may do to the world."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
    description: str
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """JSON schema of each argument, e.g. {room: {enum: [kitchen, bedroom]}}."""
    required: list[str] | None = None
    """Arguments that must be given (default: all)."""
    say: str = "Okay."
    """Spoken confirmation, formatted with the arguments: "{room} light {state}."."""
    keywords: list[str] | None = None
    """Words of which the user must have said one (or a word starting with one) for the model
    to call this action (default: its name). See ToolsOptions.grounded."""
    words: dict[str, list[str]] = Field(default_factory=dict)
    """Other words for an argument's value, which say it as well as the value itself:
    {up: [louder, raise], off: [out]}. Read where a value is taken from words (a model's claim
    "Volume raised." done as volume(up); a call's value counted as said)."""

    def said(self, value: str, words: list[str]) -> bool:
        """`value`, or one of its other words, is among `words`."""
        return any(_said(w, words) for w in [value, *self.words.get(value, [])])

    def schema(self) -> dict[str, Any]:
        props = {k: ({"type": "string", **v} if "enum" in v and "type" not in v else v)
                 for k, v in self.parameters.items()}
        req = self.required if self.required is not None else list(self.parameters)
        return {"type": "object", "properties": props, "required": req, "additionalProperties": False}

    def confirmation(self, args: dict[str, Any]) -> str:
        try:
            text = self.say.format(**args)
        except (KeyError, IndexError, ValueError):
            text = self.say
        return text[:1].upper() + text[1:]


class ToolsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    builtin: list[Literal["time", "timer"]] = Field(default_factory=lambda: ["time", "timer"])
    """Built-in tools to offer the model."""
    actions_as_tools: bool = True
    """Offer the declared device actions to the model as tools too."""
    max_rounds: int = Field(2, ge=0, le=5)
    """Model -> tools -> model rounds per turn (0: no tools)."""
    timeout_s: float = Field(5.0, gt=0)
    """A tool that takes longer fails (the model is told)."""
    max_timers: int = Field(8, ge=1)
    grounded: bool = True
    """A model's tool call must be grounded in the user's words: a device action only when one
    of its keywords and every text argument value was said ("turn on the oven" cannot become
    light(kitchen, on)), a built-in tool only when its own words were (time, timer...). A
    compact model calls whatever tool is nearest; this refuses instead, and says so."""
    offer_similarity: float = Field(0.56, ge=0, le=1)
    """A tool is offered to the model in a turn only when the turn could be asking for it: its
    nearest intent example is at least this similar (see IntentOptions), or, for a tool no
    example names, one of its keywords was said. Otherwise the model must answer in words."""
    keyword_similarity: float = Field(0.35, ge=0, le=1)
    """A keyword said offers a tool that has intent examples only when the turn is at least this
    similar to them too ("my train was twenty minutes late" says "minute", asks for no timer)."""
    speak_results: bool = True
    """Speak a successful tool's own confirmation ("It's 14:05.", "Timer set for 5 minutes.")
    instead of asking the model to phrase the result: one LLM round less, and compact models
    phrase results badly. Off: results go back to the model, which answers from them."""


@dataclass
class ToolResult:
    call: ToolCall
    ok: bool
    content: dict[str, Any]
    """What the model is told (as JSON)."""
    action: tuple[str, dict[str, Any]] | None = None
    """A device action to carry out: (name, validated args)."""
    say: str = ""
    """A confirmation to speak without asking the model again (device actions always; other
    tools when ToolsOptions.speak_results)."""

    def message(self) -> dict[str, Any]:
        return {"role": "tool", "tool_call_id": self.call.id, "name": self.call.name,
                "content": json.dumps(self.content)}


@dataclass
class _Tool:
    name: str
    description: str
    schema: dict[str, Any]
    run: Callable[[dict[str, Any]], Any]
    action: ActionSpec | None = None
    say: Callable[[dict[str, Any]], str] | None = None
    """The spoken confirmation of a successful result (see ToolsOptions.speak_results)."""
    keywords: tuple[str, ...] = ()
    """One of these must have been said for the model to call it (ToolsOptions.grounded)."""
    asked: Callable[[str], Any] | None = None
    """Words that ask for it without a keyword, as a keyword would ("Wake me in an hour.": a
    timer); truthy when they do."""
    claims_ground: bool = True
    """A model's claim of it ("Bedroom light off.") may name what the user's words left to it
    (the action, its values). False: only the user's words ground it and give its arguments
    (a timer: "Timer set for 40 minutes." is no length the user said)."""
    validator: Any = field(default=None, repr=False)


def _schema_validator(schema: dict[str, Any], where: str) -> Any:
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except jsonschema.SchemaError as e:
        raise ConfigError(f"{where}: invalid parameter schema: {e.message}") from e
    return cls(schema)


class ToolRegistry:
    """The declared tools; `call()` validates and runs one, never raising."""

    def __init__(self, opts: ToolsOptions, actions: list[ActionSpec],
                 clock: Callable[[], dt.datetime] = dt.datetime.now) -> None:
        self.opts = opts
        self.clock = clock
        self.timers: dict[str, asyncio.Task[None]] = {}
        self.fired: list[str] = []
        self.actions = {a.name: a for a in actions}
        if len(self.actions) != len(actions):
            raise ConfigError("two device actions have the same name")
        self._tools: dict[str, _Tool] = {}
        self.ran: list[tuple[str, dict[str, Any]]] = []
        """The tools run lately, oldest first (the last 16): a turn after one may refer to it."""
        self.runs = 0
        """Tools run in all."""
        if "time" in opts.builtin:
            self._add(_Tool("get_time", "Get the current local date and time.",
                            {"type": "object", "properties": {}, "required": []}, self._time,
                            # the time in a sentence of its own: its sound starts sooner
                            say=lambda r: f"It's {r['time']}. Today is {r['date']}.",
                            keywords=("time", "clock", "o'clock", "date", "day", "hour", "noon", "midnight", "midday", "how late")))
        if "timer" in opts.builtin:
            self._add(_Tool("set_timer", "Start a countdown timer.", {
                "type": "object", "required": ["seconds"], "additionalProperties": False,
                "properties": {"seconds": {"type": "integer", "minimum": 1, "maximum": 86400,
                                           "description": "duration in seconds"},
                               "label": {"type": "string", "maxLength": 40}}}, self._timer,
                            say=lambda r: f"Timer set for {_duration(r['seconds'])}.",
                            keywords=("timer", "remind", "alarm", "countdown", "count down"),
                            # a duration alone grounds no timer ("my train was twenty minutes
                            # late"); a time ahead the user asks to hear from it at does, and
                            # so does "time me"
                            asked=self.timer_asked, claims_ground=False))
        for a in actions:  # always callable by the fast path; offered to the model if actions_as_tools
            if a.name in self._tools:
                raise ConfigError(f"device action {a.name!r} has the name of a built-in tool")
            self._add(_Tool(a.name, a.description, a.schema(), lambda args: {"ok": True}, action=a,
                            keywords=tuple(a.keywords or [a.name.replace("_", " ")])))

    def timer_asked(self, said: str) -> bool:
        """The words ask for a timer without its word: to hear from the assistant at a time ahead
        (asks.asks_later) or to time something (asks.asks_to_time), naming no device action with
        it ("Turn the light off in ten minutes." asks for the light, later, which a timer is not)."""
        words = _words(said)
        return (asks_later(said) is not None or asks_to_time(said)) and not any(
            t.action is not None and any(_said(k, words) for k in t.keywords) for t in self._tools.values())

    off: frozenset[str] = frozenset()
    """Names turned off for this conversation (DialogueOptions.tools_off)."""

    def _add(self, tool: _Tool) -> None:
        tool.validator = _schema_validator(tool.schema, f"tool {tool.name}")
        self._tools[tool.name] = tool

    def schemas(self, only: frozenset[str] | None = None) -> list[dict[str, Any]]:
        """The tools in OpenAI format, for the model's prompt (with `only`, those named)."""
        if self.opts.max_rounds == 0:
            return []
        return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": t.schema}}
                for t in self._tools.values() if (t.action is None or self.opts.actions_as_tools)
                and (only is None or t.name in only) and t.name not in self.off]

    def offered(self, said: str, near: dict[str, float]) -> frozenset[str]:
        """The tools the turn `said` could be asking for, given its intent `near`ness to each
        action (see ToolsOptions.offer_similarity)."""
        o = self.opts
        if o.max_rounds == 0:
            return frozenset()
        words = _words(said)
        out = set()
        for name, t in self._tools.items():
            if (t.action is not None and not o.actions_as_tools) or name in self.off:
                continue
            sim = near.get(name)
            keyword = any(_said(k, words) for k in t.keywords) or bool(t.asked and t.asked(said))
            if (sim is not None and sim >= o.offer_similarity) or \
                    (keyword and (sim is None or sim >= o.keyword_similarity)):
                out.add(name)
        return frozenset(out)

    def targets(self) -> dict[str, dict[str, Any]]:
        """Every callable name (device actions and built-in tools) with its parameter schema."""
        return {name: t.schema for name, t in self._tools.items()}

    def validate(self, name: str, args: dict[str, Any]) -> str | None:
        """None when `args` fit tool/action `name`, else what is wrong."""
        tool = self._tools.get(name)
        if name in self.off:
            return f"{name} is turned off in this conversation"
        if tool is None:
            return f"no tool named {name!r}; available: {', '.join(sorted(self._tools)) or 'none'}"
        errors = sorted(tool.validator.iter_errors(args), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            where = ".".join(map(str, e.path)) or "arguments"
            return f"{name}: {where}: {e.message}"
        return None

    def claims_ground(self, name: str) -> bool:
        """A model's claim of tool `name` may ground it (_Tool.claims_ground)."""
        tool = self._tools.get(name)
        return tool is None or tool.claims_ground

    def keyword_said(self, name: str, said: str) -> bool:
        """One of tool `name`'s keywords (its name, for one declared without) is in the words
        `said`, or they ask for it otherwise (_Tool.asked)."""
        tool = self._tools.get(name)
        words = _words(said)
        return tool is not None and (any(_said(k, words) for k in tool.keywords) or bool(tool.asked and tool.asked(said)))

    def ungrounded(self, call: ToolCall, said: str) -> str | None:
        """None when the user's words `said` ground this call (see ToolsOptions.grounded), else why not."""
        tool = self._tools.get(call.name)
        if tool is None or not self.opts.grounded:
            return None
        words = _words(said)
        if tool.keywords and not self.keyword_said(call.name, said):
            return f"{call.name} was not asked for (none of: {', '.join(tool.keywords)})"
        if tool.action is not None:
            for k, v in call.arguments.items():
                if isinstance(v, str) and not tool.action.said(v, words):
                    return f"{call.name}: {k}={v!r} was not said"
                if isinstance(v, str) and _said_not(v, words):
                    return f"{call.name}: {k}={v!r} was ruled out (\"not {v}\")"
        return None

    def _said_duration(self, call: ToolCall, said: str) -> ToolCall:
        """A timer's length is what the user said, not what the model made of it ("five
        minutes" called as seconds=5)."""
        secs = timer_seconds(said)
        if call.name != "set_timer" or secs is None or call.arguments.get("seconds") == secs:
            return call
        log.info("set_timer: the model's seconds=%r replaced by the %d s said", call.arguments.get("seconds"),
                 secs, extra={"stage": "tools"})
        return dataclasses.replace(call, arguments={**call.arguments, "seconds": secs})

    def _choices(self, call: ToolCall, said: str) -> dict[str, Any]:
        """For a call refused over an argument the user did not say: which values it may take
        (so the reply can ask "which room?" instead of refusing)."""
        tool = self._tools.get(call.name)
        if tool is None or tool.action is None:
            return {}
        words = _words(said)
        for k, v in call.arguments.items():
            enum = tool.action.parameters.get(k, {}).get("enum")
            if isinstance(v, str) and enum and not tool.action.said(v, words):
                return {"ask": {"argument": k, "choices": [str(e) for e in enum]}}
        return {}

    def _allowed(self, call: ToolCall) -> dict[str, str]:
        """For a call with a value its action does not take ("garden" for a room): what to tell
        the user instead of the validator's words."""
        tool = self._tools.get(call.name)
        if tool is None or tool.action is None:
            return {}
        for k, v in call.arguments.items():
            enum = [str(e) for e in tool.action.parameters.get(k, {}).get("enum", [])]
            if enum and v not in enum:
                choices = ", ".join(enum[:-1]) + " or " + enum[-1] if len(enum) > 1 else enum[0]
                return {"say": f"Sorry, I can't do that: the {k} can only be the {choices}."}
        return {}

    def action(self, name: str) -> ActionSpec | None:
        """The device action called `name`, if the pipeline declares one."""
        tool = self._tools.get(name)
        return tool.action if tool is not None else None

    def contradicts(self, call: ToolCall, said: str) -> bool:
        """The user's words name other values for an argument of this call, and not its own
        ("bedroom" said, the model's claim names the kitchen), or name its own only to say not
        that one ("Not the kitchen light, please.", "the bedroom one, not the kitchen")."""
        tool = self._tools.get(call.name)
        if tool is None or tool.action is None:
            return False
        words = _words(said)
        for k, v in call.arguments.items():
            enum = [str(e) for e in tool.action.parameters.get(k, {}).get("enum", [])]
            named = [e for e in enum if tool.action.said(e, words)]
            named = [e for e in named if not any(e != o and e in o for o in named)]  # "living room" over "room"
            ruled_out = {e for e in named if _said_not(e, words)}
            if str(v) in ruled_out:
                return True
            named = [e for e in named if e not in ruled_out]
            if named and v not in named:
                return True
        return False

    def act_from_words(self, name: str, said: str) -> ToolCall | None:
        """A call of device action `name` with every argument taken from the words `said`
        (an enum value said once), or None when one is missing or said twice."""
        tool = self._tools.get(name)
        if tool is None or tool.action is None:
            return None
        ws = _words(said)
        low = " ".join(ws)
        args: dict[str, Any] = {}
        for k, p in tool.action.parameters.items():
            vals = [str(e) for e in p.get("enum", []) if mentions(low, str(e)) or
                    any(_said(w, ws) for w in tool.action.words.get(str(e), []))]
            vals = [v for v in vals if not any(v != w and v in w for w in vals)]  # "living room" over "room"
            if len(vals) == 1:
                args[k] = vals[0]
            elif "default" in p:
                args[k] = p["default"]
            else:
                return None
        return ToolCall(f"words_{name}", name, args)

    async def call(self, call: ToolCall, fast_path: bool = False, said: str | None = None) -> ToolResult:
        """Run one tool call. Unknown tools, bad arguments, failures and timeouts come back as
        ok=False results with an error message. `fast_path`: the call comes from the intent
        matcher, not the model: it may use device actions even when they are not offered to the
        model, and its result is always spoken from the tool's own confirmation."""
        speak = fast_path or self.opts.speak_results
        if (not fast_path and not self.opts.actions_as_tools
                and getattr(self._tools.get(call.name), "action", None) is not None):
            err = f"no tool named {call.name!r}: device actions are not offered to the model"
            log.warning("tool call refused: %s", err, extra={"stage": "tools"})
            return ToolResult(call, False, {"error": err})
        if call.raw_arguments and not call.arguments and call.raw_arguments.strip() not in ("", "{}"):
            err: str | None = f"{call.name}: arguments are not a JSON object: {call.raw_arguments[:80]!r}"
        else:
            err = self.validate(call.name, call.arguments)
        if err is None and said is not None and not fast_path:
            call = self._said_duration(call, said)
            why = self.ungrounded(call, said)
            if why is not None:
                log.warning("tool call refused: %s", why, extra={"stage": "tools"})
                return ToolResult(call, False, {"error": why, "refused": True, **self._choices(call, said)})
        if err is not None:
            log.warning("tool call refused: %s", err, extra={"stage": "tools"})
            return ToolResult(call, False, {"error": err, "invalid": True, **self._allowed(call)})
        tool = self._tools[call.name]
        self.ran.append((call.name, dict(call.arguments)))
        del self.ran[:-16]
        self.runs += 1
        if tool.action is not None:
            return ToolResult(call, True, {"ok": True, "done": tool.action.confirmation(call.arguments)},
                              action=(tool.action.name, dict(call.arguments)),
                              say=tool.action.confirmation(call.arguments) if speak else "")
        try:
            async with asyncio.timeout(self.opts.timeout_s):
                out = tool.run(call.arguments)
                if asyncio.iscoroutine(out):
                    out = await out
        except TimeoutError:
            return ToolResult(call, False, {"error": f"{call.name} took longer than {self.opts.timeout_s:g} s"})
        except Exception as e:  # a tool's own failure is reported, never raised
            log.warning("tool %s failed: %s", call.name, e, extra={"stage": "tools"})
            return ToolResult(call, False, {"error": f"{call.name} failed: {e}"})
        content = out if isinstance(out, dict) else {"result": out}
        say = ""
        if tool.say is not None and speak:
            try:
                say = tool.say(content)
            except (KeyError, TypeError, ValueError):
                say = ""
        return ToolResult(call, True, content, say=say)

    # built-in tools ---------------------------------------------------------------------

    def _time(self, args: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        return {"time": now.strftime("%H:%M"), "date": now.strftime("%A %d %B %Y")}

    def _timer(self, args: dict[str, Any]) -> dict[str, Any]:
        seconds = int(args["seconds"])
        label = str(args.get("label") or f"{seconds} second timer")
        live = {k: t for k, t in self.timers.items() if not t.done()}
        if len(live) >= self.opts.max_timers:
            n = len(live)
            raise RuntimeError(f"{n} timer{' is' if n == 1 else 's are'} already running (limit {self.opts.max_timers})")
        self.timers = live
        base, n = label, 2
        while label in live:  # a second timer of the same length is a timer of its own, not lost track of
            label, n = f"{base} ({n})", n + 1
        self.timers[label] = asyncio.get_running_loop().create_task(self._ring(label, seconds))
        return {"ok": True, "label": label, "seconds": seconds}

    async def _ring(self, label: str, seconds: int) -> None:
        await asyncio.sleep(seconds)
        self.fired.append(label)
        log.info("timer %r is done", label, extra={"stage": "tools"})

    async def aclose(self) -> None:
        from omni.runtime.tasks import cancel_and_wait

        for t in self.timers.values():
            await cancel_and_wait(t)
        self.timers.clear()


def _duration(seconds: int) -> str:
    """5 -> '5 seconds', 300 -> '5 minutes', 5400 -> '1 hour 30 minutes'."""
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in ((h, "hour"), (m, "minute"), (s, "second")) if n]
    return " ".join(parts) or "0 seconds"


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _at(want: list[str], words: list[str]) -> list[int]:
    """Where the words `want` are said in a row in `words`, each matching a said word or the
    start of one ("light" in "lights")."""
    n = len(want)
    return [i for i in range(len(words) - n + 1) if all(words[i + j].startswith(w) for j, w in enumerate(want))]


def _said_not(phrase: str, words: list[str]) -> bool:
    """`phrase` is said only after "not" ("not the kitchen", "no, not kitchen"): a value the user
    rules out, never one asked for. ("No, the bedroom." chooses the bedroom.)"""
    at = _at(_words(phrase), words)

    def ruled_out(i: int) -> bool:
        before = words[max(0, i - 2):i]
        if before and before[-1] in {"the", "a", "that", "this"}:
            before = before[:-1]
        return bool(before) and before[-1] == "not"
    return bool(at) and all(ruled_out(i) for i in at)


def _said(phrase: str, words: list[str]) -> bool:
    """Was `phrase` said: its words in a row, each matching a said word or the start of one
    ("light" in "lights", "minute" in "minutes")."""
    want = _words(phrase)
    if not want or _at(want, words):
        return True
    # a compound heard in two words ("bed room") or as one ("livingroom")
    joined = "".join(want)
    return len(joined) >= 6 and joined in {*words, *(a + b for a, b in zip(words, words[1:]))}
