"""A process that has called the library can fork, and the children can call it too.

numba's default threading layer on Linux wheels is GNU OpenMP, which kills a child forked
after any parallel region ("fork() called from a process already using GNU OpenMP"), so a
``multiprocessing`` pool started with fork never returned. The library no longer uses
numba's threading layers at all (see ``xarray_focal._backends.threads``).

Each case runs in a fresh interpreter with a timeout, because the failure is a hang.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from . import requires_dask

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork"), reason="fork is POSIX-only"
)

PRELUDE = """
import multiprocessing as mp
import numpy as np
import xarray_focal as xf

DATA = np.random.default_rng(0).standard_normal((300, 200))
KERNEL = xf.circle_kernel(1, 1, 3)

def work(i):
    # Both a correlate and a statistic, in the child, with several threads of its own.
    c = xf.correlate(DATA + i, KERNEL, boundary="reflect")
    s = xf.focal_stats(DATA + i, KERNEL, ("mean", "std"))
    return float(c[100, 100]), float(s["mean"][100, 100]), float(s["std"][100, 100])
"""


def _run(body: str, timeout: float = 240.0) -> str:
    script = textwrap.dedent(PRELUDE) + textwrap.dedent(body)
    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_fork_pool_after_calls_returns_the_same_numbers():
    out = _run(
        """
        if __name__ == "__main__":
            parent = [work(i) for i in range(3)]          # the parent computes first
            with mp.get_context("fork").Pool(2) as pool:
                children = pool.map_async(work, range(3)).get(timeout=120)
            assert children == parent, (children, parent)
            print("ok", len(children))
        """
    )
    assert out.split() == ["ok", "3"]


def test_fork_while_another_thread_is_computing():
    # A fork taken while a pool thread of the parent is busy: the child must not inherit a
    # pool whose threads do not exist in it (it would wait forever for them).
    out = _run(
        """
        import threading
        if __name__ == "__main__":
            expected = [work(0), work(1)]   # compiled here: the children only compute
            big = np.random.default_rng(1).standard_normal((3000, 2000))
            stop = threading.Event()
            def busy():
                while not stop.is_set():
                    xf.correlate(big, KERNEL)
            t = threading.Thread(target=busy)
            t.start()
            try:
                with mp.get_context("fork").Pool(2) as pool:
                    got = pool.map_async(work, range(2)).get(timeout=120)
            finally:
                stop.set()
                t.join()
            assert got == expected
            print("ok")
        """
    )
    assert out.strip() == "ok"


@requires_dask
def test_fork_after_a_dask_compute():
    out = _run(
        """
        import dask.array as da
        if __name__ == "__main__":
            lazy = xf.correlate(da.from_array(DATA, chunks=(100, 100)), KERNEL)
            expected = lazy.compute()
            with mp.get_context("fork").Pool(2) as pool:
                got = pool.map_async(work, range(2)).get(timeout=120)
            assert got == [work(0), work(1)]
            np.testing.assert_array_equal(expected, xf.correlate(DATA, KERNEL))
            print("ok")
        """
    )
    assert out.strip() == "ok"


def test_numba_threading_layer_is_left_unlaunched():
    # The user's own numba code keeps whatever threading layer they choose later.
    out = _run(
        """
        import numba
        from numba.np.ufunc import parallel
        work(0)
        print(parallel._is_initialized)
        """
    )
    assert out.strip() == "False"


def test_fork_while_another_thread_holds_numbas_compiler_lock():
    # Deterministic version of a fork during another thread's first call (compiling or
    # loading numba's cache): without waiting for the compile, the child inherits the lock
    # held and its own first call waits forever.
    out = _run(
        """
        import threading, time
        from numba.core.compiler_lock import global_compiler_lock
        if __name__ == "__main__":
            held = threading.Event()
            def compiling():
                with global_compiler_lock:
                    held.set()
                    time.sleep(1.0)
            t = threading.Thread(target=compiling)
            t.start()
            held.wait()
            with mp.get_context("fork").Pool(1) as pool:   # the parent never called work()
                got = pool.map_async(work, range(2)).get(timeout=60)
            t.join()
            assert got == [work(0), work(1)]
            print("ok")
        """
    )
    assert out.strip() == "ok"
