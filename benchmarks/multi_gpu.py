"""Several GPUs: xarray-focal on a dask-cuda cluster with one worker per GPU (issue 19).

For each worker count in ``--gpus`` (default 1 and every power of two up to the visible
GPUs) the script starts a ``dask_cuda.LocalCUDACluster`` on that many GPUs, generates a
``--size``² float32 field in ``--chunk``² chunks *on the workers* (each block from a
seeded generator of its own, so every run sees the same numbers wherever a block lives),
persists it there, and times, median of ``--repeat`` runs after a warm-up:

* ``copy``: ``data + 1`` -- no halo, the floor of scheduling and kernel launches;
* ``correlate``: a disc of radius 16 (33×33), ``boundary="nearest"``;
* ``stats``: ``focal_stats(("mean", "std"))`` over a disc of radius 7, 1 % NaN.

Each timed graph ends in one small task per output block that returns a checksum of the
block's bits (two 64-bit sums of its 32-bit words, one position-weighted), the device the
block lives on and the UUID of the GPU that computed it. So only checksums travel to the
client, and the run checks that

* every block's result is bit for bit the one-GPU result (the checksums of every count
  are compared with those of the first count, and with a plain threaded-scheduler run of
  the same chunks on the client's GPU: no cluster at all);
* every block was computed on the device of its worker, and a run on ``n`` GPUs used
  ``n`` distinct GPUs (no silent device-0 fallback).

The report (markdown, ``--out`` JSON) gives the times, the speed-up over one GPU and the
halo traffic: bytes of the edge strips that cross between chunks, an upper bound on what
moves between devices.

``--cpu N`` runs the same on a ``distributed.LocalCluster`` of 1, 2, ... N process workers
with numpy chunks: a stand-in for the multi-device logic where no GPU is lent.

Run (NVLink multicast stays off: ``NCCL_NVLS_ENABLE=0`` is inherited by the workers)::

    python benchmarks/multi_gpu.py --size 32768 --chunk 4096 --out multi.json
    python benchmarks/multi_gpu.py --cpu 2 --size 4096 --chunk 1024
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

DISC_CORRELATE = 16
DISC_STATS = 7
NAN_FRACTION = 0.01
SEED = 20261201


def disc(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.float64)


def make_block(shape, seed, nan_fraction, gpu, block_id=None):
    """One block of the field, from a generator seeded by the block's position only."""
    flat = seed + 1000003 * block_id[0] + block_id[1]
    if gpu:
        import cupy as xp
    else:
        xp = np
    rng = xp.random.default_rng(flat)
    block = rng.standard_normal(shape, dtype=xp.float32) * 50 + 1000
    if nan_fraction:
        block[rng.random(shape) < nan_fraction] = xp.nan
    return block


def field(size: int, chunk: int, gpu: bool, nan_fraction: float):
    import dask.array as da

    chunks = (tuple(min(chunk, size - s) for s in range(0, size, chunk)),) * 2
    if gpu:
        import cupy as cp

        meta = cp.empty((0, 0), dtype=np.float32)
    else:
        meta = np.empty((0, 0), dtype=np.float32)

    def block(block_id=None, block_info=None):
        shape = block_info[None]["chunk-shape"]
        return make_block(shape, SEED, nan_fraction, gpu, block_id=block_id)

    return da.map_blocks(block, chunks=chunks, dtype=np.float32, meta=meta)


def checksum(block, gpu: bool) -> tuple:
    """(sum of 32-bit words, position-weighted sum, device id, GPU UUID) of one block."""
    if gpu:
        import cupy as xp

        device = int(block.device.id)
        current = xp.cuda.runtime.getDevice()
        uuid = bytes(xp.cuda.runtime.getDeviceProperties(current)["uuid"]).hex()
        if device != current:
            uuid = f"MISMATCH block on {device}, worker on {current}"
    else:
        xp = np
        device, uuid = -1, "cpu"
    words = xp.ascontiguousarray(block).view(xp.uint32).ravel().astype(xp.uint64)
    weights = xp.arange(1, words.size + 1, dtype=xp.uint64)
    return int(words.sum()), int((words * weights).sum()), device, uuid


def operations():
    """Each timed graph by label: a function of the data returning its output arrays."""
    import xarray_focal as xf

    def stats(a):
        out = xf.focal_stats(a, disc(DISC_STATS), ("mean", "std"), boundary="nearest")
        return [out["mean"], out["std"]]

    return {
        "copy": lambda a: [a + 1],
        "correlate": lambda a: [xf.correlate(a, disc(DISC_CORRELATE), boundary="nearest")],
        "stats": stats,
    }


def checksum_tasks(outputs, gpu: bool):
    """One small task per output block: what travels to the client is its checksum."""
    from dask import delayed

    check = delayed(checksum, pure=True)
    return [check(b, gpu) for result in outputs for b in result.to_delayed().ravel()]


def run_ops(compute, data, gpu: bool, repeat: int) -> dict:
    """Times (s) and block checksums of every operation on ``data`` via ``compute``.

    The graph is built anew for every run (as a user's next call would), so a run never
    waits on keys the previous one is releasing.
    """
    out = {}
    for label, op in operations().items():
        compute(checksum_tasks(op(data), gpu))  # warm-up: compiles on every worker
        times, sums = [], None
        for _ in range(repeat):
            t0 = time.perf_counter()
            sums = compute(checksum_tasks(op(data), gpu))
            times.append(time.perf_counter() - t0)
        out[label] = {"seconds": times, "median_s": statistics.median(times),
                      "checksums": [list(s[:2]) for s in sums],
                      "devices": sorted({s[3] for s in sums}),
                      "block_devices": [s[2] for s in sums]}
    return out


def halo_bytes(size: int, chunk: int, radius: int, itemsize: int = 4) -> int:
    """Bytes of edge strips that cross chunk borders: every interior border, both sides."""
    nchunks = -(-size // chunk)
    borders = nchunks - 1
    sides = 2 * borders * size * radius  # each border: a strip on each side, per axis
    corners = 4 * borders * borders * radius * radius
    return itemsize * (2 * sides + corners)


def cluster_for(count: int, cpu: bool):
    if cpu:
        from distributed import LocalCluster

        return LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                            dashboard_address=None, worker_dashboard_address=None)
    from dask_cuda import LocalCUDACluster

    return LocalCUDACluster(CUDA_VISIBLE_DEVICES=",".join(str(i) for i in range(count)),
                            dashboard_address=None)


def visible_gpus() -> int:
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=None, help="side of the square field")
    parser.add_argument("--chunk", type=int, default=None, help="side of a square chunk")
    parser.add_argument("--gpus", default=None, help="worker counts, e.g. 1,2,4")
    parser.add_argument("--cpu", type=int, default=0,
                        help="process workers with numpy chunks (stand-in), up to N")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the threaded-scheduler run without a cluster")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    cpu = args.cpu > 0
    gpu = not cpu
    limit = args.cpu if cpu else visible_gpus()
    if limit < 1:
        print("no GPU visible (and --cpu not given): nothing to run", file=sys.stderr)
        return 2
    size = args.size or (4096 if cpu else 32768)
    chunk = args.chunk or (1024 if cpu else 4096)
    if args.gpus:
        counts = [int(c) for c in args.gpus.split(",")]
    else:
        counts = [c for c in (1, 2, 4, 8, 16) if c <= limit]
    if max(counts) > limit:
        parser.error(f"asked for {max(counts)} workers; {limit} available")

    import dask
    from distributed import Client, wait

    report = {"size": size, "chunk": chunk, "backend": "numpy" if cpu else "cupy",
              "counts": counts, "runs": {}}
    if not args.no_reference:
        # One process, threaded scheduler, the client's own device: no cluster at all.
        data = field(size, chunk, gpu, NAN_FRACTION).persist(scheduler="threads")
        report["runs"]["threads"] = run_ops(
            lambda ts: dask.compute(*ts, scheduler="threads"), data, gpu, args.repeat)
        del data
    for count in counts:
        with cluster_for(count, cpu) as cluster, Client(cluster) as client:
            data = field(size, chunk, gpu, NAN_FRACTION).persist()
            wait(data)
            report["runs"][str(count)] = run_ops(
                lambda ts: client.gather(client.compute(ts)), data, gpu, args.repeat)
            del data

    first = report["runs"][str(counts[0])]
    lines = [f"{size}² float32 in {chunk}² chunks ({report['backend']} workers); median of "
             f"{args.repeat}; halo strips per graph: correlate "
             f"{halo_bytes(size, chunk, DISC_CORRELATE) / 2**20:.0f} MiB, stats "
             f"{halo_bytes(size, chunk, DISC_STATS) / 2**20:.0f} MiB", "",
             "| operation | workers | time (ms) | speed-up vs 1 | same bits as 1 | devices |",
             "|---|---:|---:|---:|:---:|---:|"]
    ok = True
    for label in ("copy", "correlate", "stats"):
        base = first[label]["median_s"]
        for key, runs in report["runs"].items():
            r = runs[label]
            same = r["checksums"] == first[label]["checksums"]
            placed = not any(d.startswith("MISMATCH") for d in r["devices"])
            ndev = len(r["devices"])
            if key != "threads" and gpu and ndev != int(key):
                placed = False
            ok &= same and placed
            r["same_bits"], r["placed"] = same, placed
            lines.append(f"| {label} | {key} | {1e3 * r['median_s']:.1f} | "
                         f"{base / r['median_s']:.2f} | {'yes' if same else 'NO'} | "
                         f"{ndev}{'' if placed else ' (WRONG)'} |")
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
