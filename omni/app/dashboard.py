"""The terminal view of a live run: what the assistant hears, sees and says, and how long each
stage took against its budget, redrawn in place (rich Live). When stdout is not a terminal the
console view's plain lines are used instead (see omni.app.view)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from omni.frames import (ContextUpdate, Frame, PartialTranscript, ReplySentence, SpeechStarted, Transcript,
                         WakeWord)
from omni.runtime.metrics import TurnRecord
from omni.runtime.state import AssistantState

STATE_STYLE = {"idle": "dim", "listening": "bold green", "thinking": "bold yellow", "speaking": "bold magenta",
               "asleep": "dim"}
BAR = 30
"""Width of a latency bar at its budget; an overrun runs past it (up to twice) in red."""


class Dashboard:
    """A model of the run (fed by frames and turn records) and its rendering."""

    def __init__(self, budgets: dict[str, float | None] | None = None) -> None:
        self.budgets = budgets or {}
        self.status = AssistantState()
        self.hearing = ""
        self.heard = ""
        self.reply = ""
        self.caption: tuple[str, float] | None = None
        self.last: TurnRecord | None = None
        self.wake: str | None = None

    @property
    def state(self) -> str:
        return self.status.state

    def on_frame(self, stage: str, frame: Frame) -> None:
        self.status.on_frame(stage, frame)
        if isinstance(frame, WakeWord):
            self.wake = frame.name
        elif isinstance(frame, SpeechStarted):
            self.hearing = ""
        elif isinstance(frame, PartialTranscript):
            self.hearing = frame.text
        elif isinstance(frame, Transcript) and not frame.tentative:
            self.heard, self.hearing, self.reply = frame.text, "", ""
        elif isinstance(frame, ReplySentence):
            self.reply = (self.reply + " " + frame.text).strip() if frame.index else frame.text
        elif isinstance(frame, ContextUpdate) and frame.source == "camera":
            self.caption = (frame.text, frame.captured)

    def on_event(self, kind: str, payload: Any) -> None:
        if kind == "turn" and isinstance(payload, TurnRecord):
            self.last = payload

    # rendering --------------------------------------------------------------------------
    def render(self) -> RenderableType:
        head = Text.assemble(("omni ", "bold"), (f"● {self.state}", STATE_STYLE.get(self.state, "")))
        if self.wake:
            head.append(f"   wake word: {self.wake}", "dim")
        rows = Table.grid(padding=(0, 1))
        rows.add_column(style="bold", width=9)
        rows.add_column(ratio=1)
        rows.add_row("hearing", Text(self.hearing or "…", "italic" if self.hearing else "dim"))
        rows.add_row("you", Text(self.heard or "-"))
        rows.add_row("omni", Text(self.reply or "-", "magenta"))
        if self.caption is not None:
            text, captured = self.caption
            rows.add_row("camera", Text(f"{text}  ({time.monotonic() - captured:.1f} s ago)", "cyan"))
        return Panel(Group(head, rows, self.latency()), title="omni", title_align="left")

    def latency(self) -> RenderableType:
        t = Table.grid(padding=(0, 1))
        t.add_column(width=10)
        t.add_column(width=2 * BAR)
        t.add_column(justify="right")
        rec = self.last
        if rec is None:
            t.add_row(Text("latency", "dim"), Text("no turn yet", "dim"), "")
            return t
        for name, st in rec.stages.items():
            label = Text(_ms(st.ms, st.budget_ms), "red" if not st.ok else "")
            if "over_budget" in st.extra:  # the stage acted instead of waiting: say what it did
                label.append(f" → {st.extra['over_budget']}", "yellow")
            t.add_row(name, bar(st.ms, st.budget_ms), label)
        if rec.v2v_ms is not None:
            budget = self.budgets.get("v2v")
            over = budget is not None and rec.v2v_ms > budget
            t.add_row(Text("v2v", "bold"), bar(rec.v2v_ms, budget), Text(_ms(rec.v2v_ms, budget), "bold red" if over else "bold"))
        return t


def bar(ms: float, budget: float | None) -> Text:
    """A bar BAR wide at the budget: green within it, the part over it red."""
    scale = BAR / budget if budget else BAR / max(ms, 1.0)
    n = min(2 * BAR, round(ms * scale))
    ok = min(n, BAR)
    out = Text("█" * ok, "green")
    if n > BAR:
        out.append("█" * (n - BAR), "red")
    return out


def _ms(ms: float, budget: float | None) -> str:
    return f"{ms:.0f} ms" + (f" / {budget:.0f}" if budget else "")
