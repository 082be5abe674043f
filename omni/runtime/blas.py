"""numpy's BLAS on one thread: its idle threads must not take a core from the voice.

OpenBLAS (numpy's wheels bundle it) keeps a thread per core and, after each call, lets them
spin for about a tenth of a second before they sleep. omni's numpy work is small (the mel
features of whisper and Smart Turn, a few matrix products): one thread does it as fast, and
nothing spins afterwards. On two cores the spinning thread took one from the LLM just as the
reply started (bench/waterfall.py: Smart Turn 200 -> 90 ms beside the model, the model's first
token sooner; docs/benchmarks.md, twentieth session). The limit is the process's: the engine
pool sets it once (`EnginePool(blas_threads=...)`; None leaves BLAS as it is).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_limits: object | None = None  # held for the process's life: the limit is undone when it goes


def limit_blas_threads(n: int) -> list[str]:
    """Hold every BLAS numpy (and anything else loaded) uses to `n` threads; returns the
    libraries limited (empty when threadpoolctl is missing or finds none)."""
    global _limits
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        log.info("threadpoolctl is not installed: numpy's BLAS keeps its own thread count")
        return []
    libs = [f"{i.get('internal_api')} ({i.get('num_threads')} threads)" for i in threadpool_info()
            if i.get("user_api") == "blas" and i.get("num_threads", 0) > n]
    if libs:
        _limits = threadpool_limits(limits=n, user_api="blas")
        log.info("BLAS held to %d thread(s): %s", n, ", ".join(libs))
    return libs
