"""The process's threads: numpy's BLAS held to one by the engine pool (omni.runtime.blas)."""

import os
import subprocess
import sys

import pytest


def test_the_engine_pool_holds_numpys_blas_to_one_thread_unless_told_not_to():
    # OpenBLAS's idle threads spin after each call and took a core from the LLM (omni.runtime.blas);
    # the limit is the process's, so each case runs in a process of its own
    code = ("import sys, numpy; from threadpoolctl import threadpool_info as i\n"
            "n = lambda: max(x['num_threads'] for x in i() if x['user_api'] == 'blas')\n"
            "before = n(); from omni.runtime.engines import EnginePool\n"
            "pool = EnginePool() if sys.argv[1] == 'default' else EnginePool(blas_threads=None)\n"
            "print(before, n())")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}

    def run(case: str, **more: str) -> list[str]:
        return subprocess.run([sys.executable, "-c", code, case], capture_output=True, text=True, check=True,
                              env={**env, **more}).stdout.split()

    got = run("default")
    before = int(got[0])
    if before < 2:
        pytest.skip("numpy's BLAS runs one thread on this machine already")
    assert got == [str(before), "1"]
    assert run("none") == [str(before), str(before)]
    # a thread count the environment sets is the user's choice: left as it is
    assert run("default", OPENBLAS_NUM_THREADS=str(before)) == [str(before), str(before)]
