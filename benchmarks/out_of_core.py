"""Out-of-core run: a lazily created float32 raster larger than we want in RAM, circle r=16, mean.

    python benchmarks/out_of_core.py                      # 20000^2, chunks 2000^2 (issue 7)
    python benchmarks/out_of_core.py --size 10000         # a quicker variant
    python benchmarks/out_of_core.py --no-distributed     # threaded scheduler only

Each phase runs in a fresh subprocess, so its peak RSS (``ru_maxrss``) is its own:

1. ``threads``: dask's threaded scheduler (one worker per core). Reports time, Mpx/s and
   the peak RSS of the whole process, which must stay <= 2.5 GB for 20000^2 (1.6 GB of
   data that never exists at once).
2. ``distributed``: the same graph on a ``distributed.LocalCluster`` with process
   workers (one thread each). Reports time, Mpx/s, peak RSS of the client and of each
   worker, and whether the mean equals phase 1's.

Also printed: the graph's task count per chunk and its pickled size. The data comes from
``dask.array.random`` with a fixed seed, so both phases see the same raster.

Measured on the shared 2-core dev machine, 2026-11-25, with the column-run sweep (auto
picks it for r=16): threads 4.07 s = 98 Mpx/s, peak RSS 1.17 GB; LocalCluster with 2
process workers 4.25 s = 94 Mpx/s, workers 0.73 / 0.77 GB, client 0.20 GB; means
identical. 100 chunks, 9.85 focal tasks per chunk, pickled graph 118 kB (largest task
11.7 kB). 2026-11-26, with the halo exchange of our own (no dask overlap): threads 4.16 s,
peak RSS 1.17 GB; LocalCluster 4.09 s, workers 0.76 / 0.77 GB; means identical; 2.01 focal
tasks per chunk, 440 tasks, pickled graph 55 kB.
(With the first, direct loop the same run took 157 s.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

RSS_LIMIT_GB = 2.5


def _peak_rss_gb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def build(size: int, chunk: int, radius: int):
    """The lazy pipeline: random float32 raster -> circle correlate -> mean (nothing computed)."""
    import dask.array as da
    import numpy as np

    import xarray_focal as xf

    raster = da.random.default_rng(20260).random((size, size), chunks=chunk, dtype=np.float32)
    kernel = xf.circle_kernel(1.0, 1.0, float(radius))
    smoothed = xf.correlate(raster, kernel, boundary="reflect")
    return raster, smoothed, smoothed.mean()


def graph_stats(raster, smoothed, mean) -> dict:
    import cloudpickle

    nchunks = raster.npartitions
    focal_tasks = len(smoothed.__dask_graph__()) - len(raster.__dask_graph__())
    graph = dict(mean.__dask_graph__())
    return {
        "chunks": nchunks,
        "focal_tasks_per_chunk": round(focal_tasks / nchunks, 2),
        "total_tasks": len(graph),
        "pickled_graph_bytes": len(cloudpickle.dumps(graph)),
        "pickled_per_task_bytes_max": max(len(cloudpickle.dumps(v)) for v in graph.values()),
    }


def phase_threads(size: int, chunk: int, radius: int) -> dict:
    import dask

    raster, smoothed, mean = build(size, chunk, radius)
    stats = graph_stats(raster, smoothed, mean)
    import numpy as np

    import xarray_focal as xf

    # Compile (or load numba's cache) outside the timed region.
    xf.correlate(np.zeros((64, 64), np.float32), np.ones((3, 3)))
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        value = float(mean.compute())
    seconds = time.perf_counter() - t0
    return {
        "phase": "threads",
        "workers": os.cpu_count(),
        "seconds": round(seconds, 2),
        "mpx_per_s": round(size * size / seconds / 1e6, 2),
        "mean": value,
        "peak_rss_gb": round(_peak_rss_gb(), 3),
        **stats,
    }


def phase_distributed(size: int, chunk: int, radius: int, workers: int) -> dict:
    from distributed import Client, LocalCluster

    raster, smoothed, mean = build(size, chunk, radius)
    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit="3GB",
    ) as cluster, Client(cluster) as client:
        client.run(_warm_up)
        t0 = time.perf_counter()
        value = float(client.compute(mean, sync=True))
        seconds = time.perf_counter() - t0
        worker_rss = sorted(round(v, 3) for v in client.run(_peak_rss_gb).values())
    return {
        "phase": "distributed",
        "workers": workers,
        "seconds": round(seconds, 2),
        "mpx_per_s": round(size * size / seconds / 1e6, 2),
        "mean": value,
        "client_peak_rss_gb": round(_peak_rss_gb(), 3),
        "worker_peak_rss_gb": worker_rss,
    }


def _warm_up():
    import numpy as np

    import xarray_focal as xf

    xf.correlate(np.zeros((64, 64), np.float32), np.ones((3, 3)))


def _run_child(args: argparse.Namespace, phase: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", phase, "--size", str(args.size),
           "--chunk", str(args.chunk), "--radius", str(args.radius), "--workers", str(args.workers)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{phase} failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--radius", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster process workers")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per phase")
    parser.add_argument("--no-distributed", action="store_true")
    parser.add_argument("--child", choices=["threads", "distributed"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child == "threads":
        print(json.dumps(phase_threads(args.size, args.chunk, args.radius)))
        return 0
    if args.child == "distributed":
        print(json.dumps(phase_distributed(args.size, args.chunk, args.radius, args.workers)))
        return 0

    print(f"raster {args.size}^2 float32 ({args.size**2 * 4 / 1e9:.2f} GB), chunks {args.chunk}^2, "
          f"circle r={args.radius}, boundary=reflect, .mean()", flush=True)
    threads = _run_child(args, "threads")
    print(json.dumps(threads), flush=True)
    ok = threads["peak_rss_gb"] <= RSS_LIMIT_GB
    print(f"threads: {threads['seconds']} s, {threads['mpx_per_s']} Mpx/s, peak RSS "
          f"{threads['peak_rss_gb']} GB ({'<=' if ok else '>'} {RSS_LIMIT_GB} GB)", flush=True)
    if not args.no_distributed:
        dist = _run_child(args, "distributed")
        print(json.dumps(dist), flush=True)
        same = dist["mean"] == threads["mean"]
        rel = abs(dist["mean"] - threads["mean"]) / abs(threads["mean"])
        print(f"distributed: {dist['seconds']} s, {dist['mpx_per_s']} Mpx/s, worker peak RSS "
              f"{dist['worker_peak_rss_gb']} GB; mean {'identical' if same else f'differs by {rel:.2e} (relative)'}",
              flush=True)
        ok = ok and rel <= 1e-6
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
