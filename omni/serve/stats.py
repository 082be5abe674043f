"""What the server counts, in Prometheus' own client (one registry per server, not the global one)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

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
        r.register(_Live(sessions_open, engines))

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
