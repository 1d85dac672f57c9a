"""Rank and class statistics on the GPU (cupy, dask+cupy) against the CPU and numpy.

The GPU must return the CPU engines' results to the bit (order statistics and class values
are data values; the percentile's interpolation is rounded as the CPU's); the CPU is in
turn held to ``np.nanmedian``/``np.nanpercentile`` and ``np.unique`` counts in
tests/test_rank.py, and the inf-free cases here check those references directly too. The
data is large enough that most threads take the selection network (NaN-free tiles), with
NaN holes and a NaN run, ties, +-inf and fill boundaries sending the other windows through
the per-window path. Every test skips without cupy and a CUDA device.
"""

from __future__ import annotations

import numpy as np
import pytest

import xarray_focal as xf
from xarray_focal.errors import FocalTypeError, FocalValueError

from .backends import backend_params, lazy_chunk_params
from .reference import assert_close_to_numpy_backend
from .test_rank import ANNULUS, ref_classes, ref_order

GPU = backend_params("cupy", "dask+cupy")


def gpu_chunks(chunkings):
    """dask+cupy with each chunking (``indirect=["backend"]``)."""
    return [p for p in lazy_chunk_params(chunkings) if p.values[0] == "dask+cupy"]
CROSS = np.zeros((5, 5))
CROSS[2, :] = CROSS[:, 2] = 1
SPARSE = (np.random.default_rng(5).random((7, 7)) < 0.5).astype(float)  # no structure at all
SPARSE[3, 3] = 1
RING24 = np.ones((5, 5))
RING24[2, 2] = 0


def awkward(shape, dtype, seed=0, *, inf=True):
    """Values with a large offset, ties, a few NaN, a NaN run, and (``inf``) +-inf."""
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape) * 100 + 1e4
    data[..., 10:, 30:] = np.round(data[..., 10:, 30:] / 50)  # many ties
    holes = rng.random(shape) < 0.01
    data[holes] = np.nan
    data[..., 5, 3:40] = np.nan  # a NaN run
    if inf:
        data[..., 20, 7] = np.inf
        data[..., 21, 9] = -np.inf
        data[..., 30, 50:53] = np.inf
    return data.astype(dtype)


def cpu(func, data, *args, **kw):
    return np.asarray(func(data, *args, **kw))


@pytest.mark.parametrize("backend", GPU, indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [3, 5, 7])
def test_median_and_percentiles_of_boxes_equal_the_cpu(backend, dtype, size):
    data = awkward((2, 45, 70), dtype, seed=size)
    fp = np.ones((size, size))
    arr = backend.to_backend(data)
    calls = {
        "median": (xf.focal_median, (), dict(boundary="nearest")),
        "median_nan": (xf.focal_median, (), dict(boundary="nan", min_count=size)),
        "p0": (xf.focal_percentile, (0,), dict(boundary="reflect")),
        "p37": (xf.focal_percentile, (37.5,), dict(boundary="constant")),
        "p90": (xf.focal_percentile, (90,), dict(boundary="wrap", nan_policy="propagate")),
    }
    got = backend.to_numpy_all({k: f(arr, fp, *a, **kw) for k, (f, a, kw) in calls.items()})
    for k, (f, a, kw) in calls.items():
        assert got[k].dtype == dtype
        np.testing.assert_array_equal(got[k], cpu(f, data, fp, *a, **kw), err_msg=k)


@pytest.mark.parametrize("backend", GPU, indirect=True)
@pytest.mark.parametrize("footprint, dtype", [
    (ANNULUS, np.float32), (CROSS, np.float64), (SPARSE, np.float32),
    (RING24, np.float64),  # an even count: the median is a mean
    (np.ones((9, 9)), np.float32), (np.ones((15, 15)), np.float64),
])
def test_median_and_percentile_of_any_footprint_equal_numpy(backend, footprint, dtype):
    data = awkward((1, 40, 64), dtype, seed=7, inf=False)
    arr = backend.to_backend(data)
    got = backend.to_numpy_all({
        "median": xf.focal_median(arr, footprint, boundary="reflect"),
        "p12": xf.focal_percentile(arr, footprint, 12.5, boundary="nan", min_count=3),
    })
    ref = data.astype(np.float64)
    np.testing.assert_array_equal(
        got["median"], ref_order(ref, footprint, boundary="reflect").astype(dtype))
    np.testing.assert_array_equal(
        got["p12"], ref_order(ref, footprint, 12.5, min_count=3).astype(dtype))
    withinf = backend.to_backend(awkward((1, 40, 64), dtype, seed=8))
    np.testing.assert_array_equal(
        backend.to_numpy(xf.focal_percentile(withinf, footprint, 63, boundary="nearest")),
        cpu(xf.focal_percentile, awkward((1, 40, 64), dtype, seed=8), footprint, 63,
            boundary="nearest"))


@pytest.mark.parametrize("backend, chunks", gpu_chunks([(1, 17, 23), (2, 9, 70), (1, 40, 5)]),
                         indirect=["backend"])
def test_order_statistics_of_dask_chunks_equal_the_whole_array(backend, chunks):
    data = awkward((2, 40, 70), np.float32, seed=3)
    arr = backend.to_backend(data, chunks=chunks)
    got = backend.to_numpy_all({
        "median": xf.focal_median(arr, np.ones((5, 5)), boundary="reflect"),
        "p70": xf.focal_percentile(arr, ANNULUS, 70, boundary="nan"),
    })
    np.testing.assert_array_equal(got["median"], cpu(xf.focal_median, data, np.ones((5, 5)),
                                                     boundary="reflect"))
    np.testing.assert_array_equal(got["p70"], cpu(xf.focal_percentile, data, ANNULUS, 70))


def classes(shape, kind, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 5, shape)
    ids[..., 8:16, 8:30] = rng.integers(0, 2, (8, 22))  # two-class ties
    if kind == "int":
        return (ids * 3 - 4).astype(np.int32)
    data = (ids * 0.5 + 1e6).astype(np.float64 if kind == "float64" else np.float32)
    data[rng.random(shape) < 0.1] = np.nan
    data[..., 4, :] = np.nan
    return data


@pytest.mark.parametrize("backend", GPU, indirect=True)
@pytest.mark.parametrize("kind", ["int", "float32", "float64"])
@pytest.mark.parametrize("footprint", [np.ones((3, 3)), ANNULUS, np.ones((11, 11))])
def test_class_statistics_equal_the_cpu_and_unique_counts(backend, kind, footprint):
    data = classes((2, 30, 41), kind, seed=footprint.size)
    arr = backend.to_backend(data)
    names = ("majority", "minority", "variety")
    calls = {
        "plain": dict(boundary="nan"),
        "fill": dict(boundary="constant"),
        "strict": dict(boundary="reflect", min_count=int(footprint.sum()) - 2),
        "propagate": dict(boundary="nearest", nan_policy="propagate"),
    }
    got = backend.to_numpy_all({
        f"{k}-{n}": res[n] for k, kw in calls.items()
        for res in [xf.focal_stats(arr, footprint, names, **kw)] for n in names})
    for k, kw in calls.items():
        expected = xf.focal_stats(data, footprint, names, **kw)
        for n in names:
            assert got[f"{k}-{n}"].dtype == expected[n].dtype
            np.testing.assert_array_equal(got[f"{k}-{n}"], expected[n], err_msg=f"{k} {n}")
    for n in names:
        for i in range(2):
            np.testing.assert_array_equal(got[f"plain-{n}"][i],
                                          ref_classes(data[i], footprint, n), err_msg=n)


@pytest.mark.parametrize("backend, chunks", gpu_chunks([(1, 11, 13), (2, 30, 4)]),
                         indirect=["backend"])
def test_class_statistics_of_dask_chunks_equal_the_whole_array(backend, chunks):
    data = classes((2, 30, 41), "float32", seed=9)
    got = backend.to_numpy_all({n: getattr(xf, f"focal_{n}")(
        backend.to_backend(data, chunks=chunks), ANNULUS, boundary="wrap")
        for n in ("majority", "minority", "variety")})
    for n, v in got.items():
        np.testing.assert_array_equal(v, getattr(xf, f"focal_{n}")(data, ANNULUS, boundary="wrap"))


@pytest.mark.parametrize("backend", GPU, indirect=True)
def test_order_and_class_statistics_in_one_call(backend):
    data = classes((2, 30, 41), "float64", seed=12)
    names = ("variety", "median", "mean", "majority")
    res = xf.focal_stats(backend.to_backend(data), ANNULUS, names, boundary="reflect")
    got = backend.to_numpy_all({n: res[n] for n in names})
    expected = xf.focal_stats(data, ANNULUS, names, boundary="reflect")
    for n in ("variety", "median", "majority"):
        np.testing.assert_array_equal(got[n], expected[n], err_msg=n)
    assert_close_to_numpy_backend(got["mean"], np.asarray(expected["mean"]), "mean")


@pytest.mark.parametrize("backend", GPU, indirect=True)
def test_gpu_refuses_apply_by_name_and_huge_integer_classes(backend):
    arr = backend.to_backend(np.ones((6, 6)))
    with pytest.raises(FocalTypeError, match="focal apply is not implemented on cupy"):
        xf.focal_apply(arr, np.ones((3, 3)), lambda v: v.sum())
    big = backend.to_backend(np.array([[2 ** 62 + 1, 2 ** 62 + 3, 3]], dtype=np.int64))
    with pytest.raises(FocalValueError, match="beyond 2\\*\\*53"):
        backend.to_numpy(xf.focal_majority(big, np.ones((1, 3))))
