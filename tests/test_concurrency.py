"""Concurrency: many host threads, dask's threaded scheduler, both at once, processes.

What can go wrong: numba's ``workqueue`` threading layer aborts the whole process when two
host threads enter a parallel region at once, and GNU OpenMP (``omp``) is not fork-safe;
so the library runs its ``nogil`` loops on plain Python threads and never enters numba's
pool (``backends.threads``), leaving the layer to the user's own numba code. These tests
hammer whole-array calls and dask chunks together and require identical results every
time. The threading-layer test runs in subprocesses, so an abort shows up as a failed test
rather than a dead test session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import xarray_focal as xf

from . import requires_dask, requires_distributed
from .conftest import awkward_data
from .reference import assert_matches_contract

KERNEL = xf.circle_kernel(1, 1, 3)
ROUNDS = 3
HOST_THREADS = 12
CALLS_PER_THREAD = 6


def _cases():
    """A few differently shaped jobs, so threads do not all run in lock-step."""
    return [
        (awkward_data((2, 61, 83), nan_fraction=0.02, seed=1), "reflect"),
        (awkward_data((97, 40), np.float32, seed=2), "nan"),
        (awkward_data((33, 129), np.int16, seed=3), "wrap"),
    ]


@pytest.fixture(scope="module")
def cases_with_expected():
    out = []
    for data, boundary in _cases():
        expected = xf.correlate(data, KERNEL, boundary=boundary)
        assert_matches_contract(expected, data, KERNEL, boundary)  # the baseline itself is right
        out.append((data, boundary, expected))
    return out


def _hammer_numpy(cases, start):
    results = []
    for i in range(CALLS_PER_THREAD):
        data, boundary, expected = cases[(start + i) % len(cases)]
        results.append((xf.correlate(data, KERNEL, boundary=boundary), expected))
    return results


def test_many_host_threads_on_the_numpy_path(cases_with_expected):
    barrier = threading.Barrier(HOST_THREADS)

    def worker(start):
        barrier.wait()  # start together: maximise overlap in the parallel region
        return _hammer_numpy(cases_with_expected, start)

    for _ in range(ROUNDS):
        with ThreadPoolExecutor(HOST_THREADS) as pool:
            batches = list(pool.map(worker, range(HOST_THREADS)))
        pairs = [pair for batch in batches for pair in batch]
        assert len(pairs) == HOST_THREADS * CALLS_PER_THREAD
        for got, expected in pairs:
            np.testing.assert_array_equal(got, expected)


@requires_dask
def test_dask_threaded_scheduler_with_more_workers_than_cores(cases_with_expected):
    import dask
    import dask.array as da

    workers = 4 * (os.cpu_count() or 1) + 3
    for _ in range(ROUNDS):
        lazies, expecteds = [], []
        for data, boundary, expected in cases_with_expected:
            arr = da.from_array(data, chunks=(1,) * (data.ndim - 2) + (13, 17))
            lazies.append(xf.correlate(arr, KERNEL, boundary=boundary))
            expecteds.append(expected)
        with dask.config.set(scheduler="threads", num_workers=workers):
            results = dask.compute(*lazies)
        for got, expected in zip(results, expecteds):
            np.testing.assert_array_equal(got, expected)


@requires_dask
def test_host_threads_and_dask_threads_at_the_same_time(cases_with_expected):
    import dask.array as da

    barrier = threading.Barrier(HOST_THREADS)

    def worker(start):
        barrier.wait()
        if start % 2:
            return _hammer_numpy(cases_with_expected, start)
        out = []
        for i in range(2):
            data, boundary, expected = cases_with_expected[(start + i) % len(cases_with_expected)]
            arr = da.from_array(data, chunks=(1,) * (data.ndim - 2) + (11, 23))
            # Each host thread runs its own threaded-scheduler pool of 6 workers.
            got = xf.correlate(arr, KERNEL, boundary=boundary).compute(scheduler="threads", num_workers=6)
            out.append((got, expected))
        return out

    total = 0
    for _ in range(ROUNDS):
        with ThreadPoolExecutor(HOST_THREADS) as pool:
            for batch in pool.map(worker, range(HOST_THREADS)):
                for got, expected in batch:
                    np.testing.assert_array_equal(got, expected)
                    total += 1
    assert total == ROUNDS * (HOST_THREADS // 2) * (CALLS_PER_THREAD + 2)


def _available_layers():
    layers = ["workqueue"]
    for layer, module in (("omp", "numba.np.ufunc.omppool"), ("tbb", "numba.np.ufunc.tbbpool")):
        try:
            __import__(module)
        except Exception:  # the layer's native library is missing here
            continue
        layers.append(layer)
    return layers


_LAYER_SCRIPT = textwrap.dedent(
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor
    import numba, numpy as np
    import xarray_focal as xf

    @numba.njit(parallel=True)
    def users_own_parallel_loop(a):
        s = 0.0
        for i in numba.prange(a.size):
            s += a[i]
        return s

    rng = np.random.default_rng(0)
    data = rng.standard_normal((3, 120, 150))
    kernel = xf.circle_kernel(1, 1, 4)
    expected = xf.correlate(data, kernel, boundary="reflect")
    expected_std = xf.focal_std(data, kernel)
    barrier = threading.Barrier(16)
    done = threading.Event()

    def work(_):
        barrier.wait()
        out = [xf.correlate(data, kernel, boundary="reflect") for _ in range(5)]
        return out, xf.focal_std(data, kernel)

    ones = np.ones(10_000)
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(work, i) for i in range(16)]
        # Meanwhile the user's own parallel numba code runs in the main thread, in the
        # threading layer they chose: it must be the only one entering numba's pool.
        while not all(f.done() for f in futures):
            assert users_own_parallel_loop(ones) == 10_000.0
        for f in futures:
            batch, std = f.result()
            for got in batch:
                assert np.array_equal(got, expected)
            assert np.array_equal(std, expected_std, equal_nan=True)
    print("layer", numba.threading_layer(), "threads", numba.get_num_threads(), "calls", 16 * 5)
    """
)


@pytest.mark.parametrize("layer", _available_layers())
def test_every_numba_threading_layer_survives_concurrent_host_threads(layer):
    # NUMBA_NUM_THREADS=4 on a 2-core machine oversubscribes numba's own pool too.
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer, NUMBA_NUM_THREADS="4")
    env["PYTHONPATH"] = os.pathsep.join([_repo_root()] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run(
        [sys.executable, "-c", _LAYER_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert f"layer {layer} threads 4 calls 80" in proc.stdout


def _repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(xf.__file__)))


@requires_dask
@requires_distributed
@pytest.mark.slow
def test_distributed_local_cluster_with_process_workers_equals_numpy(cases_with_expected):
    import dask.array as da
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        worker_dashboard_address=None,
    ) as cluster, Client(cluster) as client:
        # The workers must run the same xarray_focal as this process (not another checkout).
        files = set(client.run(lambda: __import__("xarray_focal").__file__).values())
        assert files == {xf.__file__}
        for _ in range(2):
            lazies, expecteds = [], []
            for data, boundary, expected in cases_with_expected:
                arr = da.from_array(data, chunks=(1,) * (data.ndim - 2) + (20, 30))
                lazies.append(xf.correlate(arr, KERNEL, boundary=boundary))
                expecteds.append(expected)
            for got, expected in zip(client.compute(lazies, sync=True), expecteds):
                np.testing.assert_array_equal(got, expected)
        # Both workers took part: the work was really spread over processes.
        assert len(client.scheduler_info()["workers"]) == 2


# --- what dask and distributed ship: graph hygiene ------------------------------------------


def _focal_tasks(arr, kernel, boundary):
    """Tasks the focal op adds on top of ``arr``'s own graph."""
    result = xf.correlate(arr, kernel, boundary=boundary)
    return result, len(result.__dask_graph__()) - len(arr.__dask_graph__())


@requires_dask
@pytest.mark.parametrize("boundary", ["nan", "nearest", "reflect", "mirror", "wrap", "constant"])
def test_task_count_per_chunk_is_small_constant_and_independent_of_the_kernel(boundary):
    import dask.array as da

    chunk = 20
    per_chunk = {}
    for n in (12, 24):
        arr = da.zeros((n * chunk, n * chunk), chunks=chunk)
        counts = {r: _focal_tasks(arr, np.ones((2 * r + 1, 2 * r + 1)), boundary)[1] for r in (1, 9, chunk - 1)}
        # The kernel's reach changes halo widths, never the number of tasks.
        assert len(set(counts.values())) == 1, counts
        per_chunk[n] = counts[1] / n**2
    # One task hands out a chunk's edge strips, one computes it (every boundary, wrap too:
    # its halo is the same exchange with the far chunk). Measured 2.007 / 2.002 (n=12/24),
    # the rest being the shared plan key. dask's overlap took 10 (17 with wrap).
    assert per_chunk[24] <= 2.01, per_chunk
    assert per_chunk[24] <= per_chunk[12] + 0.5, per_chunk  # no growth with the grid


@requires_dask
def test_kernel_enters_the_graph_once_not_once_per_task():
    import cloudpickle
    import dask.array as da

    arr = da.zeros((400, 400), chunks=50)  # 64 chunks
    sizes = {}
    for r in (1, 40):  # 3x3 vs 81x81 kernel (the plan of the latter is ~100 kB)
        result, _ = _focal_tasks(arr, xf.circle_kernel(1, 1, r), "reflect")
        graph = dict(result.__dask_graph__())
        # distributed pickles each task separately when it sends it to a worker.
        focal = [len(cloudpickle.dumps(v)) for k, v in graph.items() if isinstance(k, tuple) and k[0].startswith("focal-")]
        sizes[r] = (max(focal), sum(len(cloudpickle.dumps(v)) for v in graph.values()))
    kernel_bytes = xf.circle_kernel(1, 1, 40).nbytes
    # Each block task stays small and the same size whatever the kernel...
    assert sizes[40][0] == sizes[1][0] < 4096, sizes
    # ...and the whole graph grows by about one copy of the plan, not 64 of them.
    assert sizes[40][1] - sizes[1][1] < 4 * kernel_bytes, (sizes, kernel_bytes)


@requires_dask
@pytest.mark.parametrize("boundary", ["reflect", "wrap"])
def test_no_task_holds_more_than_a_chunk_and_its_halo(boundary):
    """Outputs stay chunk-sized, and what a chunk hands its neighbours is thin strips.

    With distributed, a task's result is pickled to reach another worker: the edge strips
    must pickle as strips, not as the whole chunk they are views of.
    """
    import pickle

    import dask
    from dask.callbacks import Callback

    import dask.array as da

    chunk, r = 30, 6
    arr = da.random.random((240, 270), chunks=chunk)
    result = xf.correlate(arr, np.ones((2 * r + 1, 2 * r + 1)), boundary=boundary)
    biggest, shipped = [], []

    class Largest(Callback):
        def _posttask(self, key, value, dsk, state, id):
            # Skip the final assembly of the whole result: that is compute() itself.
            if not str(key).startswith("finalize-"):
                biggest.append((getattr(value, "nbytes", 0), key))
            if str(key).startswith("('focal-halo-"):
                shipped.append((len(pickle.dumps(value, protocol=5)), key))

    with Largest(), dask.config.set(scheduler="sync"):
        result.compute()
    limit = (chunk + 2 * r) ** 2 * 8
    nbytes, key = max(biggest)
    assert nbytes <= limit, (nbytes, limit, key)
    assert len(shipped) == 8 * 9
    strips = ((chunk + 2 * r) ** 2 - chunk**2) * 8  # the eight edge pieces of one chunk
    nbytes, key = max(shipped)
    assert strips <= nbytes < strips + 2048, (nbytes, strips, key)
