"""What the server counts, in Prometheus' own client (one registry per server, not the global one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from omni.config import PipelineConfig
from omni.errors import ConfigError
from omni.runtime.metrics import TurnRecord

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
"""Seconds: a voice turn lives between 0.1 and 3 s."""


class Stats:
    def __init__(self, pipeline: str, sessions_open: Callable[[], int], engines: Callable[[], list[dict]]) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        Gauge("omni_info", "The pipeline this server serves", ["pipeline"], registry=r).labels(pipeline).set(1)
        self.ready = Gauge("omni_ready", "1 once the models are loaded and the server answers", registry=r)
        self.requests = Counter("omni_http_requests", "HTTP requests by route and status", ["route", "code"],
                                registry=r)
        self.chats = Counter("omni_chat_completions", "Chat completions by the backend that answered "
                             "(none: all failed) and how they ended", ["backend", "finish"], registry=r)
        self.first_token = Histogram("omni_chat_first_token_seconds", "Request -> first text or tool call",
                                     ["backend"], buckets=LATENCY_BUCKETS, registry=r)
        self.total = Histogram("omni_chat_seconds", "Request -> last token", ["backend"], buckets=LATENCY_BUCKETS,
                               registry=r)
        self.tokens = Counter("omni_chat_tokens", "Tokens by kind (prompt, cached, completion)", ["kind"],
                              registry=r)
        self.failovers = Counter("omni_chat_failovers", "Backends that failed within a request, by outcome",
                                 ["backend", "outcome"], registry=r)
        self.cost = Counter("omni_chat_cost", "Cost of the answers, in the currency of the backends' declared "
                            "prices", registry=r)
        # voice turns (Realtime sessions, the browser page): one TurnRecord each
        self.turns = Counter("omni_turns", "Voice turns by how they ended (complete, interrupted, error, ...)",
                             ["end"], registry=r)
        self.v2v = Histogram("omni_v2v_seconds", "End of the user's speech -> first reply audio",
                             buckets=LATENCY_BUCKETS, registry=r)
        self.stage = Histogram("omni_stage_seconds", "Each stage's time on a turn", ["stage"],
                               buckets=LATENCY_BUCKETS, registry=r)
        self.overruns = Counter("omni_budget_overruns", "Turns on which a stage (or v2v) was over its budget",
                                ["stage"], registry=r)
        self.acted = Counter("omni_over_budget_actions", "What a stage over its budget did instead of waiting",
                             ["action"], registry=r)
        self.interruptions = Counter("omni_interruptions", "Replies the user talked over (or a client cancelled)",
                                     registry=r)
        self.turn_errors = Counter("omni_turn_errors", "Faults on turns, by stage", ["stage"], registry=r)
        self.turn_backend = Counter("omni_turn_backend", "Voice turns by the backend that answered", ["backend"],
                                    registry=r)
        self.turn_tokens = Counter("omni_turn_tokens", "Tokens of voice turns by kind (prompt, cached, completion)",
                                   ["kind"], registry=r)
        self.audio = Histogram("omni_audio_seconds", "Time to transcribe a file, or to speak a text",
                               ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.realtime_sessions = Counter("omni_realtime_sessions", "Realtime sessions ended, by how (closed, too "
                                         "slow, busy, refused)", ["outcome"], registry=r)
        self.realtime_events = Counter("omni_realtime_events", "Client events received, by type", ["type"],
                                       registry=r)
        r.register(_Live(sessions_open, engines))

    def turn(self, rec: TurnRecord, v2v_budget_ms: float | None = None) -> None:
        """A voice turn has ended: its times, how it ended, what answered it."""
        self.turns.labels(rec.reason or "unknown").inc()
        if rec.v2v_ms is not None:
            self.v2v.observe(rec.v2v_ms / 1000.0)
            if v2v_budget_ms is not None and rec.v2v_ms > v2v_budget_ms:
                self.overruns.labels("v2v").inc()
        for name, st in rec.stages.items():
            self.stage.labels(name).observe(st.ms / 1000.0)
            if not st.ok:
                self.overruns.labels(name).inc()
            backend = st.extra.get("backend")
            if backend:
                self.turn_backend.labels(str(backend)).inc()
            for kind in ("prompt", "cached", "completion"):
                n = st.extra.get(f"{kind}_tokens")
                if isinstance(n, int) and n > 0:
                    self.turn_tokens.labels(kind).inc(n)
        for acted in rec.acted:
            self.acted.labels(acted).inc()
        if rec.interrupted:
            self.interruptions.inc()
        for err in rec.errors:
            self.turn_errors.labels(err.split(":", 1)[0]).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Live(Collector):
    """Read at each scrape: sessions open now, engines loaded (by kind) and their calls."""

    def __init__(self, sessions_open: Callable[[], int], engines: Callable[[], list[dict]]) -> None:
        self.sessions_open, self.engines = sessions_open, engines

    def collect(self):  # type: ignore[no-untyped-def]
        yield GaugeMetricFamily("omni_sessions_open", "Conversations open now", value=self.sessions_open())
        loaded = GaugeMetricFamily("omni_engines_loaded", "Engines loaded in this process", labels=["kind"])
        calls = CounterMetricFamily("omni_engine_calls", "Calls into each kind of engine so far", labels=["kind"])
        by: dict[str, list[int]] = {}
        for e in self.engines():
            n = by.setdefault(e["kind"], [0, 0])
            n[0] += 1
            n[1] += e["calls"]
        for kind, (n, c) in sorted(by.items()):
            loaded.add_metric([kind], n)
            calls.add_metric([kind], c)
        yield loaded
        yield calls


class MetricsExporter:
    """Prometheus /metrics of one run (the live desktop app, the MQTT node, `--metrics-port`):
    the same per-turn metrics as `launch.py serve`'s, on 127.0.0.1:PORT (loopback only: there is
    no token here), in a thread of prometheus-client's own."""

    def __init__(self, cfg: PipelineConfig, port: int, engines: Any, recorder: Any,
                 dropped: Callable[[], int] | None = None) -> None:
        from prometheus_client import start_http_server

        self.stats = Stats(cfg.name, lambda: 1, engines.summary)
        if dropped is not None:
            Gauge("omni_frames_dropped", "Frames dropped by the run's bounded queues (by their policy)",
                  registry=self.stats.registry).set_function(dropped)
        budget = cfg.v2v_budget_ms
        recorder.listeners.append(lambda kind, rec: self.stats.turn(rec, budget) if kind == "turn" else None)
        try:
            self.server, self.thread = start_http_server(port, addr="127.0.0.1", registry=self.stats.registry)
        except OSError as e:
            raise ConfigError(f"--metrics-port {port}: {e.strerror or e}",
                              hint="pick another port, or stop what holds this one") from None
        self.stats.ready.set(1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
