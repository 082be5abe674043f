"""Latency is data: per-turn stage times against budgets, V2V, overrun events."""

from __future__ import annotations

import collections
import logging
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from omni.frames import (DeviceAction, ErrorEvent, Frame, ReplyAudio, ReplyDone, ReplyPlayed, Transcript, Turn,
                         Utterance)

log = logging.getLogger(__name__)


@dataclass
class StageTime:
    """One stage's time for one turn."""

    ms: float
    budget_ms: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.budget_ms is None or self.ms <= self.budget_ms

    def as_dict(self) -> dict[str, Any]:
        return {"ms": round(self.ms, 1), "budget_ms": self.budget_ms, "ok": self.ok,
                **self.extra}


@dataclass
class TurnRecord:
    """Everything measured about one turn; `as_dict()` is its JSONL line."""

    turn: Turn
    transcript: str = ""
    reply: str = ""
    reason: str = ""
    v2v_ms: float | None = None
    reply_start_s: float | None = None
    stages: dict[str, StageTime] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    """Device actions the turn asked for: {action, args, source}."""
    truncated: bool = False
    interrupted: bool = False
    """The user talked over the reply and took the turn."""
    barge_in_ms: float | None = None
    """User speech onset -> the assistant's audio stopped."""
    paused: int = 0
    """Times the reply was paused because someone (the user, or its own echo) spoke over it."""
    heard: str | None = None
    """The part of the reply that was played before the interruption."""
    acted: list[str] = field(default_factory=list)
    """What stages over their budget did instead of waiting (`stt.partial`, `llm.failover`)."""

    @property
    def overruns(self) -> list[str]:
        return [name for name, st in self.stages.items() if not st.ok]

    def as_dict(self) -> dict[str, Any]:
        sr = self.turn.sample_rate
        return {
            "turn": self.turn.id,
            "speech_start_s": round(self.turn.speech_start / sr, 3),
            "speech_end_s": round(self.turn.speech_end / sr, 3),
            "transcript": self.transcript,
            "reply": self.reply,
            "reason": self.reason,
            "v2v_ms": None if self.v2v_ms is None else round(self.v2v_ms, 1),
            "reply_start_s": None if self.reply_start_s is None else round(self.reply_start_s, 3),
            "stages": {name: st.as_dict() for name, st in self.stages.items()},
            "overruns": self.overruns,
            "errors": self.errors,
            "actions": self.actions,
            "truncated": self.truncated,
            "interrupted": self.interrupted,
            "paused": self.paused,
            "barge_in_ms": None if self.barge_in_ms is None else round(self.barge_in_ms, 1),
            **({"heard": self.heard} if self.heard is not None else {}),
            "over_budget": self.acted,
            "end_of_turn_ms": next((round(st.ms, 1) for st in self.stages.values()
                                    if "end_of_turn" in st.extra), None),
            "preemptive": next((st.extra["preemptive"] for st in self.stages.values()
                                if "preemptive" in st.extra), None),
        }


@dataclass(frozen=True)
class BudgetOverrun:
    """An event: a stage took longer than its budget on a turn."""

    stage: str
    turn: int
    ms: float
    budget_ms: float


class TurnRecorder:
    """Observer and reporter that assembles one TurnRecord per turn.

    A turn opens with its Utterance, learns its transcript, its reply, its stage times and its
    first reply audio sample (V2V: the `t` of the first ReplyAudio, stamped when it left TTS),
    and closes when the audio output reports the reply played (ReplyPlayed).
    """

    def __init__(self, budgets: Mapping[str, float | None], *, done_stage: str | None = None,
                 v2v_budget_ms: float | None = None, keep: int | None = None) -> None:
        """`keep`: remember only the last `keep` finished turns (a service that runs for weeks)."""
        self.budgets = dict(budgets)
        self.keep = keep
        self.v2v_budget_ms = v2v_budget_ms
        self.done_stage = done_stage
        """For a pipeline with no audio output: the stage whose ReplyDone ends a turn."""
        self.open: dict[int, TurnRecord] = {}
        self._done: set[int] = set()
        self.finished: list[TurnRecord] | collections.deque[TurnRecord] = (
            [] if keep is None else collections.deque(maxlen=keep))
        self._done_order: collections.deque[int] = collections.deque()
        self.overruns: list[BudgetOverrun] = []
        self.errors: list[ErrorEvent] = []
        self.listeners: list[Callable[[str, Any], None]] = []
        """listener(kind, payload) with kind in: turn, overrun, error."""

    # reporter --------------------------------------------------------------------------
    def report(self, stage: str, turn: Turn, ms: float | None, extra: dict[str, Any]) -> None:
        if "over_budget" in extra:  # the stage did something instead of waiting: count it (once)
            rec, acted = self._record(turn), f"{stage}.{extra['over_budget']}"
            if acted not in rec.acted:
                rec.acted.append(acted)
        if ms is None:  # more fields for the stage's record of this turn
            rec = self._record(turn)
            if stage in rec.stages:
                rec.stages[stage].extra.update(extra)
            return
        st = StageTime(ms=ms, budget_ms=self.budgets.get(stage), extra=extra)
        self._record(turn).stages[stage] = st
        self._check(stage, turn.id, ms, st.budget_ms)

    def _check(self, stage: str, turn_id: int, ms: float, budget_ms: float | None) -> None:
        if budget_ms is None or ms <= budget_ms:
            return
        ev = BudgetOverrun(stage=stage, turn=turn_id, ms=ms, budget_ms=budget_ms)
        self.overruns.append(ev)
        log.warning("turn %d: %s took %.0f ms, over its %.0f ms budget", turn_id, stage, ms,
                    budget_ms, extra={"stage": stage, "turn": turn_id, "latency_ms": ms})
        self._emit("overrun", ev)

    # observer --------------------------------------------------------------------------
    def on_frame(self, stage: str, frame: Frame) -> None:
        if isinstance(frame, Utterance):
            rec = self._record(frame.turn)
            # the turn as it ended: a transcript decoded at an earlier pause of it (the user went
            # on) may have opened the record with that pause's end as the turn's
            rec.turn, rec.truncated = frame.turn, frame.truncated
        elif isinstance(frame, Transcript):
            self._record(frame.turn).transcript = frame.text
        elif isinstance(frame, ReplyAudio):
            rec = self._record(frame.turn)
            if rec.v2v_ms is None:
                rec.v2v_ms = (frame.t - frame.turn.t_speech_end) * 1000.0
        elif isinstance(frame, ReplyPlayed) or (isinstance(frame, ReplyDone) and stage == self.done_stage):
            if frame.turn.id in self._done:
                log.warning("turn %d ended twice; ignoring the second end", frame.turn.id)
                return
            rec = self._record(frame.turn)
            rec.reply, rec.reason = frame.text, frame.reason
            if frame.reason == "interrupted" and rec.heard is None:
                rec.interrupted, rec.heard = True, frame.text  # dropped before it was heard
                rec.v2v_ms = None  # its audio was made but never played: no voice-to-voice
            self._finish(frame.turn.id)
        elif isinstance(frame, DeviceAction) and frame.turn is not None:
            self._record(frame.turn).actions.append(
                {"action": frame.action, "args": dict(frame.args), "source": frame.source})
        elif isinstance(frame, ErrorEvent):
            self.errors.append(frame)
            if frame.turn is not None:
                self._record(frame.turn).errors.append(f"{frame.stage}: {frame.message}")
            self._emit("error", frame)

    def set_reply_start(self, turn: Turn, seconds: float) -> None:
        """Where the reply starts on the output timeline (set by the audio sink)."""
        rec = self._record(turn)
        if rec.reply_start_s is None:
            rec.reply_start_s = seconds

    def set_barge_in(self, turn: Turn, ms: float, heard: str) -> None:
        """The user interrupted this turn's reply `ms` after starting to speak (from the player)."""
        rec = self._record(turn)
        rec.interrupted, rec.barge_in_ms, rec.heard = True, ms, heard

    def count_pause(self, turn: Turn) -> None:
        self._record(turn).paused += 1

    def _record(self, turn: Turn) -> TurnRecord:
        if turn.id in self._done:  # a late frame of a finished turn changes nothing
            return TurnRecord(turn=turn)
        rec = self.open.get(turn.id)
        if rec is None:
            rec = self.open[turn.id] = TurnRecord(turn=turn)
        return rec

    def _finish(self, turn_id: int) -> None:
        rec = self.open.pop(turn_id)
        self._done.add(turn_id)
        if self.keep is not None:
            self._done_order.append(turn_id)
            while len(self._done_order) > 10 * self.keep:
                self._done.discard(self._done_order.popleft())
        if rec.v2v_ms is not None:
            self._check("v2v", turn_id, rec.v2v_ms, self.v2v_budget_ms)
        self.finished.append(rec)
        self._emit("turn", rec)

    def _emit(self, kind: str, payload: Any) -> None:
        for fn in self.listeners:
            try:
                fn(kind, payload)
            except Exception:
                log.exception("metrics listener failed")


def percentile(values: list[float], q: float) -> float | None:
    """q in [0, 100]; linear interpolation; None for no values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q) - 1))]


def summarize(records: list[TurnRecord]) -> dict[str, Any]:
    """Medians and p95 of V2V and of each stage over finished turns, with budget hit rates."""
    v2v = [r.v2v_ms for r in records if r.v2v_ms is not None]
    stages: dict[str, list[StageTime]] = {}
    for r in records:
        for name, st in r.stages.items():
            stages.setdefault(name, []).append(st)
    acted = collections.Counter(a for r in records for a in r.acted)
    return {
        "turns": len(records),
        "v2v_ms": {"p50": percentile(v2v, 50), "p95": percentile(v2v, 95), "n": len(v2v)},
        "over_budget": dict(sorted(acted.items())),
        "stages": {
            name: {"p50": percentile([s.ms for s in sts], 50),
                   "p95": percentile([s.ms for s in sts], 95),
                   "budget_ms": sts[0].budget_ms,
                   "hit_rate": sum(s.ok for s in sts) / len(sts)}
            for name, sts in stages.items()
        },
    }
