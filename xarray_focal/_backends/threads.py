"""Host threads for whole-array calls: ranges of tasks of a ``nogil`` kernel side by side.

The numpy backend does not use numba's ``parallel=True``: its threading layers are either
not fork-safe (``omp`` with GNU OpenMP, the default on Linux wheels: a ``multiprocessing``
pool forked after any parallel call hangs) or not safe when several host threads enter
parallel regions at once (``workqueue`` aborts the process). Plain Python threads calling
a kernel compiled with ``nogil=True`` are both, and leave numba's threading layer alone for
the user's own code. One call splits its tasks into one contiguous range per thread, runs
the first range itself and the others on a shared pool (a forked child starts its own;
see :mod:`xarray_focal._forking`).

The thread count is ``NUMBA_NUM_THREADS`` (numba's setting, default: the usable cores).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba

from .._forking import after_fork_in_child, fork_safe_lock

__all__ = ["num_threads", "run_ranges"]

_pool: ThreadPoolExecutor | None = None
_pool_lock = fork_safe_lock()


def num_threads() -> int:
    """Threads a whole-array call uses (numba's ``NUMBA_NUM_THREADS`` setting)."""
    return max(1, int(numba.config.NUMBA_NUM_THREADS))


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, num_threads() - 1), thread_name_prefix="xarray-focal")
        return _pool


def _forget_pool_in_child() -> None:
    # A forked child inherits the pool object but none of its threads: work submitted to it
    # would wait forever. The child starts a fresh pool when it needs one.
    global _pool
    _pool = None


after_fork_in_child(_forget_pool_in_child)


def run_ranges(kernel, args: tuple, ntasks: int, *, parallel: bool) -> None:
    """Call ``kernel(*args, task0, task1)`` over ``0 .. ntasks - 1`` in contiguous ranges.

    With ``parallel=False`` (a dask task, already one of many threads) one call covers
    every task in this thread.
    """
    nthreads = min(num_threads(), ntasks) if parallel else 1
    if nthreads <= 1:
        kernel(*args, 0, ntasks)
        return
    bounds = [ntasks * i // nthreads for i in range(nthreads + 1)]
    pool = _get_pool()
    futures = [pool.submit(kernel, *args, bounds[i], bounds[i + 1]) for i in range(1, nthreads)]
    try:
        kernel(*args, bounds[0], bounds[1])
    finally:
        for future in futures:
            future.result()  # waits for every range; re-raises a worker's error
