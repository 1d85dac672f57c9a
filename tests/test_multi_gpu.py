"""Several GPUs: every chunk computed on its own device, with one GPU's bits.

Two ways users spread work over GPUs, each checked for results and for where every output
chunk lives:

* one process, chunks placed on different devices (dask's threaded scheduler);
* a dask-cuda ``LocalCUDACluster``, one worker per GPU (data made on the workers).

Without cupy, a CUDA device, dask-cuda or enough GPUs, each test skips on its own (CI has
none of them). ``benchmarks/multi_gpu.py`` times the cluster case at full size.
"""

from __future__ import annotations

import numpy as np
import pytest

from . import cupy_with_a_device, requires_dask, requires_distributed

cp = cupy_with_a_device()

import xarray_focal as xf  # noqa: E402

pytestmark = [pytest.mark.gpu, requires_dask]

SHAPE, CHUNK = (192, 256), (64, 96)  # uneven chunks: 3 x 3 blocks, the last ones short
DISC = (np.add.outer(np.arange(-4, 5) ** 2, np.arange(-4, 5) ** 2) <= 16).astype(float)


def _device_count() -> int:
    return int(cp.cuda.runtime.getDeviceCount())


def _data() -> np.ndarray:
    rng = np.random.default_rng(19)
    data = (rng.standard_normal(SHAPE) * 50 + 1000).astype(np.float32)
    data[rng.random(SHAPE) < 0.02] = np.nan
    return data


def _operations(arr):
    stats = xf.focal_stats(arr, DISC, ("mean", "std", "max"), boundary="reflect")
    return {"correlate": xf.correlate(arr, DISC, boundary="nearest"), **stats}


def _one_device_blocks(data: np.ndarray) -> dict:
    """Every operation's output blocks computed on device 0 alone, as host arrays."""
    import dask
    import dask.array as da

    with cp.cuda.Device(0):
        arr = da.from_array(cp.asarray(data), chunks=CHUNK, asarray=False)
        out = {}
        for name, result in _operations(arr).items():
            blocks = dask.compute(*result.to_delayed().ravel(), scheduler="threads")
            out[name] = [cp.asnumpy(b) for b in blocks]
    return out


def test_chunks_on_several_devices_in_one_process_stay_there():
    import dask
    import dask.array as da

    ndev = _device_count()
    if ndev < 2:
        pytest.skip("needs two or more CUDA devices")
    data = _data()
    expected = _one_device_blocks(data)
    nby, nbx = -(-SHAPE[0] // CHUNK[0]), -(-SHAPE[1] // CHUNK[1])
    owner = {(i, j): (i * nbx + j) % ndev for i in range(nby) for j in range(nbx)}

    def place(block_id=None, block_info=None):
        (y0, y1), (x0, x1) = block_info[None]["array-location"]
        with cp.cuda.Device(owner[tuple(block_id)]):
            return cp.asarray(data[y0:y1, x0:x1])

    arr = da.map_blocks(place, chunks=da.core.normalize_chunks(CHUNK, SHAPE), dtype=data.dtype,
                        meta=cp.empty((0, 0), dtype=data.dtype))
    for name, result in _operations(arr).items():
        blocks = dask.compute(*result.to_delayed().ravel(), scheduler="threads")
        for k, (block, want) in enumerate(zip(blocks, expected[name])):
            assert block.device.id == owner[divmod(k, nbx)], (name, k)
            np.testing.assert_array_equal(cp.asnumpy(block), want, err_msg=f"{name} block {k}")


def _worker_report(block):
    """(device of the block, the worker's current device, that device's UUID)."""
    current = cp.cuda.runtime.getDevice()
    uuid = bytes(cp.cuda.runtime.getDeviceProperties(current)["uuid"]).hex()
    return int(block.device.id), int(current), uuid


@pytest.mark.slow
@requires_distributed
def test_local_cuda_cluster_one_worker_per_gpu_gives_one_gpus_bits():
    dask_cuda = pytest.importorskip("dask_cuda")
    import dask
    import dask.array as da
    from distributed import Client

    ngpu = min(_device_count(), 4)
    data = _data()
    expected = _one_device_blocks(data)
    with dask_cuda.LocalCUDACluster(
        CUDA_VISIBLE_DEVICES=",".join(map(str, range(ngpu))), dashboard_address=None,
    ) as cluster, Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == ngpu

        # Blocks placed round-robin on the workers, made there (only slices travel).
        workers = sorted(client.scheduler_info()["workers"])
        ys = np.cumsum((0,) + da.core.normalize_chunks(CHUNK, SHAPE)[0])
        xs = np.cumsum((0,) + da.core.normalize_chunks(CHUNK, SHAPE)[1])
        meta = cp.empty((0, 0), dtype=data.dtype)
        rows = []
        for i in range(ys.size - 1):
            row = []
            for j in range(xs.size - 1):
                piece = data[ys[i]:ys[i + 1], xs[j]:xs[j + 1]]
                future = client.submit(cp.asarray, piece, pure=False,
                                       workers=[workers[(i * (xs.size - 1) + j) % ngpu]])
                row.append(da.from_delayed(dask.delayed(future), piece.shape, data.dtype,
                                           meta=meta))
            rows.append(row)
        arr = da.block(rows)
        uuids = set()
        for name, result in _operations(arr).items():
            blocks = list(result.to_delayed().ravel())
            reports = client.gather(client.compute(
                [dask.delayed(_worker_report)(b) for b in blocks]))
            got = client.gather(client.compute(
                [dask.delayed(cp.asnumpy)(b) for b in blocks]))
            for k, ((on, current, uuid), block, want) in enumerate(
                    zip(reports, got, expected[name])):
                assert on == current, f"{name} block {k} on device {on}, worker on {current}"
                uuids.add(uuid)
                np.testing.assert_array_equal(block, want, err_msg=f"{name} block {k}")
        # Every GPU took part, each worker on its own one (no silent device-0 fallback).
        assert len(uuids) == ngpu
