"""Fuzzing as tests: every entry of bench/fuzzing.py (WAV files, audio/in chunks, MQTT commands,
pipeline files, --set) fed a bounded number of hypothesis cases. Each case is accepted or refused
with omni's clear error, a message that can be printed and published, within 10 s; anything else
fails with the case that caused it. `python bench/fuzz.py` runs 10,000 and more per entry."""

from __future__ import annotations

import contextlib
import signal
import sys

import pytest
from helpers import ROOT
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(ROOT / "bench"))
from fuzzing import ENTRIES, KNOWN  # noqa: E402

CASES = 150
"""Per entry in CI (bench/fuzz.py: --cases 10000)."""


@contextlib.contextmanager
def within(seconds: int):
    """A case that takes longer is a hang: it raises TimeoutError where it is stuck."""
    def hung(*_):
        raise TimeoutError(f"a case took over {seconds} s")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("name", list(ENTRIES))
def test_every_fuzz_case_is_accepted_or_clearly_refused(name):
    entry = ENTRIES[name]

    @settings(max_examples=CASES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(entry.strategy)
    def case(value):
        with within(10):
            try:
                entry.target(value)
            except entry.clear:
                pass

    for value in KNOWN.get(name, []):  # the cases that broke omni once
        case.hypothesis.inner_test(value)
    case()
