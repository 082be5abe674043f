"""numpy's BLAS on one thread: its idle threads must not take a core from the voice.

OpenBLAS (numpy's wheels bundle it) keeps a thread per core and, after each call, lets them
spin for about a tenth of a second before they sleep. omni's numpy work is small (the mel
features of whisper and Smart Turn, a few matrix products): one thread does it as fast, and
nothing spins afterwards. On two cores the spinning thread took one from the LLM just as the
reply started (bench/waterfall.py: Smart Turn 200 -> 90 ms beside the model, the model's first
token sooner; docs/benchmarks.md, twentieth session). The limit is the process's and is not
undone: the engine pool sets it (`EnginePool(blas_threads=...)`). A program that embeds omni
and wants its BLAS threads passes `Host(EnginePool(blas_threads=None))`, or sets
OPENBLAS_NUM_THREADS (or OMP_/MKL_/BLIS_NUM_THREADS), which the limit leaves be.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

_ASKED_FOR = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
"""Set in the environment: the user chose BLAS's threads, and the limit leaves them be."""


def limit_blas_threads(n: int) -> list[str]:
    """Hold every BLAS loaded (numpy's, loaded here first) to `n` threads; returns the libraries
    limited (empty when threadpoolctl is missing, the environment sets a thread count, or none
    runs more). A BLAS loaded later (a library with its own) is not limited."""
    chosen = [v for v in _ASKED_FOR if os.environ.get(v)]
    if chosen:
        log.info("BLAS threads left as the environment sets them (%s)", ", ".join(chosen))
        return []
    try:
        import numpy  # noqa: F401  (its BLAS must be loaded for threadpoolctl to find it)
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        log.info("threadpoolctl is not installed: numpy's BLAS keeps its own thread count")
        return []
    libs = [f"{i.get('internal_api')} ({i.get('num_threads')} threads)" for i in threadpool_info()
            if i.get("user_api") == "blas" and i.get("num_threads", 0) > n]
    if libs:
        threadpool_limits(limits=n, user_api="blas")  # set now, and kept until restored (never)
        log.info("BLAS held to %d thread(s): %s", n, ", ".join(libs))
    return libs
