"""Which backend answers a turn, and failing over to the next one within the turn.

The policy is data (RoutingOptions, from the pipeline file):
- `offline_only`: a hard switch; only backends that need no network are candidates;
- `order`: the preference for ordinary turns; `complex_order` for turns the complexity estimate
  calls complex (long or multi-part questions);
- the turn's first-token budget: a backend whose recent first-token latency exceeds it moves
  behind the ones that fit;
- availability: a backend that errors, times out, or misses its own `first_token_ms` fails over
  to the next candidate in the same turn; after `breaker.failures` faults in a row it is left out
  for `breaker.cooldown_s` (then one turn may try it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from omni.dialogue.backends import ChatBackend
from omni.dialogue.types import ChatRequest, Delta, Finished, Started, TextDelta, Usage
from omni.errors import ConfigError, ServiceError

log = logging.getLogger(__name__)


class BreakerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    failures: int = Field(2, ge=1)
    """Consecutive faults that open the breaker."""
    cooldown_s: float = Field(30.0, ge=0)
    """How long an open breaker keeps the backend out."""


class ComplexityOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_words: int = Field(25, ge=1)
    """A question of at least this many words is complex."""
    multi_part: bool = True
    """Two or more questions in one turn make it complex."""
    markers: list[str] = Field(default_factory=lambda: [
        "explain", "compare", "step by step", "difference between", "pros and cons", "summarize",
        "write a", "plan a"])
    """Phrases that make a turn complex on their own."""


class RoutingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offline_only: bool = True
    """Hard switch: never use a backend that needs the network."""
    order: list[str] = Field(default_factory=lambda: ["local"])
    """Backends to try, in order, for an ordinary turn."""
    complex_order: list[str] | None = None
    """Backends to try for a complex turn (None: same as `order`)."""
    complexity: ComplexityOptions = Field(default_factory=ComplexityOptions)
    breaker: BreakerOptions = Field(default_factory=BreakerOptions)
    stall_ms: float = Field(5000, gt=0)
    """Once a reply has started, a gap longer than this between deltas is a fault (failover)."""
    prefill_fallback: bool = True
    """While a backend with a `first_token_ms` budget is tried, the next backend in line that
    runs on this machine evaluates the prompt, so that a failover answers at once instead of
    adding its own prompt time to the budget already spent."""


@dataclass
class Attempt:
    backend: str
    outcome: str
    """answered, error, first_token_budget, stalled, skipped."""
    ms: float = 0.0
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"backend": self.backend, "outcome": self.outcome, "ms": round(self.ms, 1)}
        if self.detail:
            d["detail"] = self.detail
        return d


@dataclass
class Plan:
    order: list[str]
    reason: str
    complex: bool = False


@dataclass
class RouteRecord:
    """What routing did in one turn (for the turn's metrics)."""

    backend: str | None = None
    reason: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    route_ms: float = 0.0
    """Time spent deciding (the router's own overhead)."""
    turn_limited: set[str] = field(default_factory=set)
    """Backends whose first token was due by the turn's own limit (a stage's over_budget)."""

    def add_usage(self, u: Usage, cost: float | None) -> None:
        self.usage.prompt_tokens += u.prompt_tokens
        self.usage.completion_tokens += u.completion_tokens
        self.usage.cached_tokens += u.cached_tokens
        self.usage.forced_tokens += u.forced_tokens
        self.usage.finish_reason = u.finish_reason
        self.usage.estimated = self.usage.estimated or u.estimated
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost


class AllBackendsFailed(ServiceError):
    pass


class CircuitBreaker:
    def __init__(self, opts: BreakerOptions) -> None:
        self.opts = opts
        self.faults = 0
        self.open_until = 0.0

    def blocked(self, now: float) -> str | None:
        if self.faults >= self.opts.failures and now < self.open_until:
            return f"circuit open for {self.open_until - now:.0f} s more"
        return None

    def success(self) -> None:
        self.faults = 0

    def failure(self, now: float) -> None:
        self.faults += 1
        if self.faults >= self.opts.failures:
            self.open_until = now + self.opts.cooldown_s


_QUESTION_SPLIT = re.compile(r"\?\s*\S")


def complexity(text: str, opts: ComplexityOptions) -> str | None:
    """Why a turn counts as complex, or None."""
    words = len(text.split())
    if words >= opts.min_words:
        return f"{words} words"
    if opts.multi_part and len(_QUESTION_SPLIT.findall(text.strip())) >= 1:
        return "several questions"
    low = text.lower()
    for m in opts.markers:
        if m in low:
            return f"asks to {m!r}"
    return None


class Router:
    def __init__(self, backends: dict[str, ChatBackend], opts: RoutingOptions) -> None:
        self.backends = backends
        self.opts = opts
        for name in [*opts.order, *(opts.complex_order or [])]:
            if name not in backends:
                raise ConfigError(f"routing names backend {name!r}, which is not declared",
                                  hint=f"declared backends: {sorted(backends)}")
        if not opts.order:
            raise ConfigError("routing.order is empty: name at least one backend")
        if opts.offline_only and not any(backends[n].offline for n in opts.order):
            raise ConfigError("routing.offline_only is on but no backend in routing.order works offline",
                              hint="add a llama.cpp backend (or a loopback server) to routing.order")
        self.breakers = {n: CircuitBreaker(opts.breaker) for n in backends}
        self.first_token_ewma: dict[str, float] = {}

    def plan(self, text: str, budget_ms: float | None = None) -> Plan:
        o = self.opts
        why = complexity(text, o.complexity)
        order = list(o.complex_order or o.order) if why else list(o.order)
        reasons = [f"complex ({why})" if why else "default order"]
        if o.offline_only:
            dropped = [n for n in order if not self.backends[n].offline]
            if dropped:
                order = [n for n in order if n not in dropped]
                reasons.append(f"offline only (skips {', '.join(dropped)})")
        if budget_ms is not None:
            slow = [n for n in order if self.first_token_ewma.get(n, 0.0) > budget_ms]
            # only worth it when a backend that fits is there to go first
            if slow and any(n not in slow and not self._blocked(n) for n in order):
                order = [n for n in order if n not in slow] + slow
                reasons.append(f"first-token budget {budget_ms:g} ms (demotes {', '.join(slow)})")
        return Plan(order=order, reason="; ".join(reasons), complex=why is not None)

    def _learn(self, name: str, ms: float) -> None:
        old = self.first_token_ewma.get(name)
        self.first_token_ewma[name] = ms if old is None else 0.7 * old + 0.3 * ms

    async def stream(self, req: ChatRequest, plan: Plan, rec: RouteRecord,
                     first_token_ms: float | None = None) -> AsyncIterator[Delta]:
        """Deltas of the first backend in `plan` that answers; failover is invisible to the
        consumer except that a reply cut off mid-stream is continued (or restarted) by the next.
        `first_token_ms`: the turn's own first-token limit (a dialogue stage's `over_budget:
        failover`), for every backend with another one after it in the plan."""
        said = ""
        rec.reason = rec.reason or plan.reason
        prefill: asyncio.Task[None] | None = None
        try:
            for i, name in enumerate(plan.order):
                backend = self.backends[name]
                blocked = self._blocked(name)
                if blocked:
                    rec.attempts.append(Attempt(name, "skipped", detail=blocked))
                    continue
                r = replace(req, prefix=said) if said else req
                limit = backend.options.first_token_ms
                if first_token_ms is not None and any(not self._blocked(n) for n in plan.order[i + 1:]) \
                        and (limit is None or first_token_ms < limit):
                    limit = first_token_ms
                    rec.turn_limited.add(name)  # the turn's over_budget, not the backend's own budget
                if prefill is None and limit and self.opts.prefill_fallback:
                    nxt = next((self.backends[n] for n in plan.order[i + 1:]
                                if self.backends[n].continues and not self._blocked(n)), None)
                    if nxt is not None:
                        prefill = asyncio.create_task(nxt.prefill(r), name=f"prefill-{nxt.name}")
                async with contextlib.aclosing(self._attempt(name, r, rec, limit)) as attempt:
                    async for d in attempt:
                        if isinstance(d, TextDelta):
                            said += d.text
                        yield d
                if rec.attempts[-1].outcome == "answered":
                    return
        finally:
            if prefill is not None:
                prefill.cancel()  # the worker thread finishes its eval; the task ends at once
                await asyncio.wait({prefill})  # (not `await prefill`: that would swallow our own cancellation)
        raise AllBackendsFailed("no backend could answer: " + "; ".join(
            f"{a.backend} {a.outcome}{': ' + a.detail if a.detail else ''}" for a in rec.attempts),
            retryable=True)

    def _blocked(self, name: str) -> str | None:
        return self.breakers[name].blocked(time.monotonic()) or self.backends[name].available

    async def _attempt(self, name: str, r: ChatRequest, rec: RouteRecord,
                       budget: float | None) -> AsyncIterator[Delta]:
        """One backend's try, its first token due within `budget` ms; appends its Attempt to
        `rec` (outcome answered or a fault)."""
        backend = self.backends[name]
        t0 = time.monotonic()
        outcome, detail = "answered", ""
        started = False
        if log.isEnabledFor(logging.DEBUG):  # what the model is sent, for a reply that puzzles
            log.debug("%s is sent %d messages, tools %s: %s", name, len(r.messages),
                      [t["function"]["name"] for t in r.tools] or "none",
                      " | ".join(f"{m.get('role')}: {m.get('content')!s:.300}" for m in r.messages))
        gen = backend.stream(r)
        try:
            async with contextlib.aclosing(gen):
                while True:
                    limit = (budget if not started else self.opts.stall_ms)
                    try:
                        async with asyncio.timeout(limit / 1000 if limit else None):
                            d = await anext(gen)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        outcome = "stalled" if started else "first_token_budget"
                        detail = (f"no delta for {limit:g} ms" if started
                                  else f"no first token within {limit:g} ms")
                        break
                    if isinstance(d, Started):
                        if not started:
                            started = True
                            rec.backend = name  # answering, as far as we know yet
                            self._learn(name, (time.monotonic() - t0) * 1000)
                        continue
                    if isinstance(d, Finished):
                        rec.add_usage(d.usage, backend.cost(d.usage.prompt_tokens, d.usage.completion_tokens))
                    yield d
        except ServiceError as e:
            outcome, detail = "error", str(e)
        except Exception as e:  # a bug or a fault in the backend (or its engine): a failed attempt too
            log.exception("backend %s raised", name, extra={"stage": "router"})
            outcome, detail = "error", f"{type(e).__name__}: {e}"
        ms = (time.monotonic() - t0) * 1000
        rec.attempts.append(Attempt(name, outcome, ms, detail))
        if outcome == "answered":
            self.breakers[name].success()
            failed = [a for a in rec.attempts if a.outcome not in ("answered", "skipped")]
            if failed:
                rec.reason += f"; failover to {name} after {failed[-1].backend} {failed[-1].outcome}"
            rec.backend = name
            return
        self.breakers[name].failure(time.monotonic())
        log.warning("backend %s failed (%s: %s); trying the next", name, outcome, detail,
                    extra={"stage": "router"})
