"""What a person sees while omni runs: loading, transcripts, replies, per-turn latency."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from omni.frames import DeviceAction, ErrorEvent, Frame, PartialTranscript, SpeechStarted, Transcript
from omni.runtime.metrics import TurnRecord, summarize


class ConsoleView:
    """Rich output on a terminal; plain lines when stdout is not one (logs, CI)."""

    def __init__(self, console: Console | None = None, *, quiet: bool = False) -> None:
        self.console = console or Console(stderr=False, highlight=False)
        self.live = self.console.is_terminal
        if not self.live:
            self.console.soft_wrap = True  # one line per event in logs
        self.quiet = quiet
        self._progress: Progress | None = None
        self._task: Any = None
        self._last_desc = ""
        self._t0 = time.monotonic()

    # loading ---------------------------------------------------------------------------
    def start_loading(self) -> None:
        self._t0 = time.monotonic()
        if self.live and not self.quiet:
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                      TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                                      console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("loading", total=None)

    def progress(self, desc: str, frac: float | None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=desc,
                                  total=None if frac is None else 1.0, completed=frac or 0)
        elif desc != self._last_desc and not self.quiet:
            self.console.print(f"[{time.monotonic() - self._t0:5.1f}s] {desc}")
        self._last_desc = desc

    def done_loading(self, seconds: float, ok: bool = True) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if ok and not self.quiet:
            self.console.print(f"[green]ready[/] in {seconds:.1f} s: models loaded")

    # during the run --------------------------------------------------------------------
    def on_frame(self, stage: str, frame: Frame) -> None:
        if self.quiet:
            return
        if isinstance(frame, SpeechStarted) and not frame.resumed:
            self.console.print(f"[dim]… speech at {frame.start / frame.sample_rate:.2f} s[/]")
        elif isinstance(frame, PartialTranscript):
            rest = frame.text[len(frame.stable):] if frame.text.startswith(frame.stable) else frame.text
            self.console.print(f"[dim]… hearing: [bold]{frame.stable}[/bold]{rest}[/]")
        elif isinstance(frame, Transcript) and not frame.tentative:
            said = frame.text or "[dim](nothing intelligible)[/]"
            self.console.print(f"[bold cyan]you[/] (turn {frame.turn.id}): {said}")
        elif isinstance(frame, DeviceAction):
            args = " ".join(f"{k}={v}" for k, v in frame.args.items())
            who = f"turn {frame.turn.id}, " if frame.turn is not None else ""
            self.console.print(f"[bold yellow]action[/] ({who}{frame.source}): {frame.action} {args}".rstrip())

    def on_event(self, kind: str, payload: Any) -> None:
        if self.quiet:
            return
        if kind == "turn":
            self._turn(payload)
        # overruns are already a warning log line; the turn line marks them with "!"
        elif kind == "error":
            assert isinstance(payload, ErrorEvent)
            self.console.print(f"[red]  error[/] in {payload.stage}: {payload.message}")

    def _turn(self, rec: TurnRecord) -> None:
        if rec.interrupted and rec.barge_in_ms is None:
            self.console.print(f"[dim]omni (turn {rec.turn.id}): reply dropped before it was heard: "
                               f"the user went on[/]")
        elif rec.interrupted:
            self.console.print(f"[bold magenta]omni[/] (turn {rec.turn.id}, [yellow]interrupted[/] "
                               f"{rec.barge_in_ms:.0f} ms after the user spoke): {rec.heard}")
        elif rec.reply:
            self.console.print(f"[bold magenta]omni[/] (turn {rec.turn.id}): {rec.reply}")
        elif rec.reason == "backchannel":
            self.console.print(f"[dim]  (turn {rec.turn.id} was a backchannel: the assistant went on)[/]")
        elif rec.reason == "aside":
            self.console.print(f"[dim]  (turn {rec.turn.id} was said to someone else: not answered)[/]")
        parts = []
        for name, st in rec.stages.items():
            mark = "[green]" if st.ok else "[red]!"
            acted = f" [yellow]→ {st.extra['over_budget']}[/]" if "over_budget" in st.extra else ""
            parts.append(f"{name} {mark}{st.ms:.0f}[/]{acted}")
        v2v = "-" if rec.v2v_ms is None else f"{rec.v2v_ms:.0f} ms"
        self.console.print(f"  [dim]latency[/] v2v [bold]{v2v}[/] | " + " · ".join(parts) + " ms")

    # the end ---------------------------------------------------------------------------
    def summary(self, records: list[TurnRecord], *, v2v_budget_ms: float | None,
                load_s: float, extra: dict[str, Any] | None = None) -> None:
        s = summarize(records)
        table = Table(title=f"omni: {s['turns']} turn(s)", title_justify="left")
        table.add_column("stage")
        table.add_column("p50 ms", justify="right")
        table.add_column("p95 ms", justify="right")
        table.add_column("budget ms", justify="right")
        table.add_column("within budget", justify="right")

        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:.0f}"

        for name, st in s["stages"].items():
            table.add_row(name, fmt(st["p50"]), fmt(st["p95"]), fmt(st["budget_ms"]),
                          f"{st['hit_rate'] * 100:.0f}%")
        v = s["v2v_ms"]
        hit = [r.v2v_ms for r in records if r.v2v_ms is not None]
        rate = "-" if not hit or v2v_budget_ms is None else \
            f"{sum(x <= v2v_budget_ms for x in hit) / len(hit) * 100:.0f}%"
        table.add_row("[bold]voice to voice[/]", fmt(v["p50"]), fmt(v["p95"]), fmt(v2v_budget_ms), rate)
        self.console.print(table)
        lines = [f"models loaded in {load_s:.1f} s"]
        if s["over_budget"]:
            lines.append("over budget, acted: " + ", ".join(f"{k} {n}×" for k, n in s["over_budget"].items()))
        for k, val in (extra or {}).items():
            lines.append(f"{k}: {val}")
        self.console.print("  ".join(lines))

