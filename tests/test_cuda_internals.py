"""CUDA internals of the cupy backend: device plans, uploads, banded tiles, accumulation.

These pin how the GPU path is built, not what it computes (the behaviour tests run on
every backend in the feature files). They reach into private names of the cupy backend,
so they live here, in one GPU-only module: without cupy or a CUDA device it is skipped.
"""

from __future__ import annotations

import numpy as np
import pytest

from . import cupy_with_a_device

cp = cupy_with_a_device()

import xarray_focal as xf  # noqa: E402
from xarray_focal._backends import cupy as cupy_backend  # noqa: E402
from xarray_focal._backends.cupy import launch as cupy_launch  # noqa: E402
from xarray_focal._backends.cupy import layout as cupy_layout  # noqa: E402

from . import requires_dask  # noqa: E402
from .conftest import awkward_data  # noqa: E402
from .reference import (  # noqa: E402
    assert_close_to_numpy_backend,
    assert_matches_contract,
    assert_policy_accuracy,
    reference_nan_policy,
)

pytestmark = pytest.mark.gpu

STATS = list(xf.STATISTICS)


def _host(result):
    assert isinstance(result, cp.ndarray), type(result)  # results stay on the device
    return cp.asnumpy(result)


def test_float32_huge_dense_kernel_switches_to_float64_accumulation():
    from xarray_focal._algorithms.runs import describe

    kernel = np.random.default_rng(5).standard_normal((81, 81))
    data = awkward_data((50, 70), np.float32)
    dplan = cupy_launch.correlate_plan(
        describe(kernel), np.dtype(np.float32), cp.cuda.Device().id
    ).layout
    assert dplan.acc == np.float64 and dplan.units > cupy_layout.F32_UNITS_ALLOWED
    result = xf.correlate(cp.asarray(data), kernel, boundary="wrap")
    assert result.dtype == np.float32
    assert_matches_contract(_host(result), data, kernel, "wrap", 0.0)


def test_banded_tiles_match_for_correlate(monkeypatch):
    # A shared-memory budget this small forces bands of kernel rows and of columns.
    monkeypatch.setattr(cupy_layout, "SMEM_BUDGET", 64 * 40 * 8)
    monkeypatch.setattr(cupy_launch, "PLANS", cupy_launch.Cache(8))
    data = awkward_data((2, 90, 70), nan_fraction=0.02)
    for kernel in (xf.circle_kernel(1, 1, 9), np.random.default_rng(2).standard_normal((7, 45))):
        result = xf.correlate(cp.asarray(data), kernel, boundary="mirror")
        assert_matches_contract(_host(result), data, kernel, "mirror", 0.0)


def test_banded_tiles_match_for_statistics_and_policies(monkeypatch):
    # A shared-memory budget this small forces bands of footprint rows and of columns.
    monkeypatch.setattr(cupy_layout, "SMEM_BUDGET", 64 * 40 * 8)
    monkeypatch.setattr(cupy_launch, "PLANS", cupy_launch.Cache(8))
    data = awkward_data((2, 90, 70), nan_fraction=0.05)
    for fp in (xf.circle_kernel(1, 1, 9), np.ones((7, 45))):
        out = xf.focal_stats(cp.asarray(data), fp, STATS, boundary="mirror")
        cpu = xf.focal_stats(data, fp, STATS, boundary="mirror")
        for stat in STATS:
            assert_close_to_numpy_backend(_host(out[stat]), cpu[stat], stat)
        policy = xf.correlate(cp.asarray(data), fp * 0.5, boundary="mirror",
                              nan_policy="renormalize")
        assert_policy_accuracy(_host(policy),
                               reference_nan_policy(data, fp * 0.5, "renormalize", "mirror"),
                               data, fp * 0.5, "renormalize", "mirror")


def test_repeated_calls_do_not_reupload_weights(monkeypatch):
    # The generic kernel uploads its runs and weights; a generated one has them as constants.
    monkeypatch.setattr(cupy_launch, "UNROLLED", False)
    data = cp.asarray(awkward_data((67, 83)))  # two axes (sizes no other test uses): two maps
    kernel = xf.circle_kernel(1, 1, 4) * 0.37  # weights no other test uses
    before = dict(cupy_backend.UPLOADS)
    for _ in range(3):
        xf.correlate(data, kernel, boundary="nearest")
    assert cupy_backend.UPLOADS["weights"] == before["weights"] + 1
    assert cupy_backend.UPLOADS["index_maps"] == before["index_maps"] + 2
    # The same weights on float32 data are a new device layout, uploaded once more.
    xf.correlate(data.astype(cp.float32), kernel, boundary="nearest")
    xf.correlate(data.astype(cp.float32), kernel, boundary="nearest")
    assert cupy_backend.UPLOADS["weights"] == before["weights"] + 2


def test_generated_kernels_upload_nothing_but_the_maps_once():
    data = cp.asarray(awkward_data((71, 89)))  # sizes no other test uses: two new maps
    kernel = xf.circle_kernel(1, 1, 4) * 0.41
    before = dict(cupy_backend.UPLOADS)
    for _ in range(3):
        xf.correlate(data, kernel, boundary="nearest")
    assert cupy_backend.UPLOADS["weights"] == before["weights"]
    assert cupy_backend.UPLOADS["index_maps"] == before["index_maps"] + 2


@requires_dask
def test_dask_cupy_chunks_read_their_halo_in_place_and_match():
    import dask.array as da

    # Non-contiguous chunks (column blocks of one array), leading axes, int data.
    kernel = xf.circle_kernel(1, 1, 5) * 0.61
    for data in (awkward_data((2, 150, 260), np.float32, nan_fraction=0.01),
                 awkward_data((130, 170), np.int16)):
        arr = da.from_array(cp.asarray(data), chunks=data.shape[:-2] + (40, 70), asarray=False)
        for boundary in ("reflect", "wrap", "nan"):
            result = xf.correlate(arr, kernel, boundary=boundary).compute()
            assert_matches_contract(_host(result), data, kernel, boundary, 0.0)


@requires_dask
def test_dask_cupy_chunks_reuse_the_device_weights(monkeypatch):
    import dask.array as da

    monkeypatch.setattr(cupy_launch, "UNROLLED", False)

    kernel = xf.circle_kernel(1, 1, 5) * 0.61
    arr = da.from_array(cp.asarray(awkward_data((120, 130))), chunks=(30, 40), asarray=False)
    before = cupy_backend.UPLOADS["weights"]
    xf.correlate(arr, kernel, boundary="reflect").compute()
    xf.correlate(arr, kernel, boundary="reflect").compute()
    assert cupy_backend.UPLOADS["weights"] == before + 1


def _generic_and_generated(data, kernel, boundary, **kw):
    """The correlation by the generic kernel and by the one generated for ``kernel``."""
    from xarray_focal._algorithms.runs import describe

    assert cupy_launch._unrolled_variant(describe(kernel), np.dtype(data.dtype),
                                         cp.cuda.Device().id) is not None
    generated = _host(xf.correlate(cp.asarray(data), kernel, boundary=boundary, **kw))
    cupy_launch.UNROLLED = False
    try:
        generic = _host(xf.correlate(cp.asarray(data), kernel, boundary=boundary, **kw))
    finally:
        cupy_launch.UNROLLED = True
    return generated, generic


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["disc", "ring", "random", "row", "box"])
def test_generated_correlate_matches_the_contract(name, dtype):
    # 250 x 300 holds tiles inside the plain shift (straight loads) and border tiles
    # (index maps) of the 96-row tiles; NaN, inf and a large offset test exactness.
    rng = np.random.default_rng(11)
    ring = xf.circle_kernel(1, 1, 6) - np.pad(xf.circle_kernel(1, 1, 2), 4)
    kernel = {"disc": xf.circle_kernel(1, 1, 7), "ring": ring * 0.3,
              "random": rng.standard_normal((7, 9)), "row": np.ones((1, 31)),
              "box": np.ones((15, 15)) / 225}[name]
    data = awkward_data((250, 300), dtype, nan_fraction=0.01)
    data[100, 150] = np.inf
    data[40:60, 200:230] += 1e4
    for boundary in ("nan", "reflect", "wrap"):
        generated, generic = _generic_and_generated(data, kernel, boundary)
        assert_matches_contract(generated, data, kernel, boundary, 0.0)
        np.testing.assert_array_equal(np.isnan(generated), np.isnan(generic))


def test_generated_correlate_runs_leading_axes_and_odd_shapes():
    kernel = xf.circle_kernel(1, 1, 3) * 0.7
    for shape in ((3, 97, 65), (1, 1), (5, 200), (130, 3)):
        data = awkward_data(shape, np.float32, nan_fraction=0.02)
        generated, _ = _generic_and_generated(data, kernel, "nearest")
        assert_matches_contract(generated, data, kernel, "nearest", 0.0)


def test_generated_correlate_is_skipped_for_huge_kernels():
    from xarray_focal._algorithms.runs import describe
    from xarray_focal._backends.cupy import unrolled

    dense = describe(np.random.default_rng(3).standard_normal((41, 41)))
    assert unrolled.unrolled_layout(dense, np.dtype(np.float32)) is None
    disc = describe(xf.circle_kernel(1, 1, 7))
    assert unrolled.unrolled_layout(disc, np.dtype(np.float32)).acc == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["disc", "ring", "box", "row"])
def test_generated_statistics_match_the_cpu(name, dtype, monkeypatch):
    from xarray_focal._algorithms.runs import describe
    from xarray_focal._backends.cupy import unrolled

    monkeypatch.setattr(cupy_launch, "UNROLLED_STATS", True)
    ring = xf.circle_kernel(1, 1, 6) - np.pad(xf.circle_kernel(1, 1, 2), 4)
    fp = {"disc": xf.circle_kernel(1, 1, 7), "ring": ring, "box": np.ones((15, 15)),
          "row": np.ones((1, 31))}[name]
    for channels in [(True, False, False, False, False), (True, True, True, True, True),
                     (False, False, False, True, False)]:
        assert unrolled.reduce_unrolled_layout(describe(fp), np.dtype(dtype), channels,
                                               np.nan) is not None
    # Tiles on the plain shift and border tiles; NaN runs, an infinity, a large offset.
    data = awkward_data((230, 310), dtype, nan_fraction=0.02)
    data[50:58, 60:90] = np.nan
    data[120, 40] = np.inf
    data[150:170, 200:260] += 1e5
    out = xf.focal_stats(cp.asarray(data), fp, STATS, boundary="reflect")
    cpu = xf.focal_stats(data, fp, STATS, boundary="reflect")
    for stat in STATS:
        assert_close_to_numpy_backend(_host(out[stat]), cpu[stat], stat)
    # Each channel set compiles its own kernel (about a second): a few sets, one dtype.
    for stat in ("mean", "max", "std") if dtype == np.float32 else ():
        alone = getattr(xf, f"focal_{stat}")(cp.asarray(data), fp, boundary="nan")
        assert_close_to_numpy_backend(_host(alone),
                                      getattr(xf, f"focal_{stat}")(data, fp, boundary="nan"),
                                      stat)


def test_generated_statistics_leave_fills_float32_cannot_hold_to_the_generic_kernel(monkeypatch):
    from xarray_focal._algorithms.runs import describe
    from xarray_focal._backends.cupy import unrolled

    monkeypatch.setattr(cupy_launch, "UNROLLED_STATS", True)
    runs = describe(np.ones((5, 5)))
    mean = (True, False, False, False, False)
    assert unrolled.reduce_unrolled_layout(runs, np.dtype(np.float32), mean, 0.1) is None
    assert unrolled.reduce_unrolled_layout(runs, np.dtype(np.float64), mean, 0.1) is not None
    assert unrolled.reduce_unrolled_layout(runs, np.dtype(np.float32), mean, 0.5) is not None
    # Statistics take no cval; a fill reaches the NaN-aware sums through correlate's
    # nan_policy="omit" with boundary="constant" (0.1 is not a float32 number).
    data = awkward_data((40, 50), np.float32, nan_fraction=0.05)
    kernel = np.full((5, 5), 1 / 25)
    got = xf.correlate(cp.asarray(data), kernel, boundary="constant", cval=0.1, nan_policy="omit")
    cpu = xf.correlate(data, kernel, boundary="constant", cval=0.1, nan_policy="omit")
    assert_close_to_numpy_backend(_host(got), cpu, "mean")


def test_generated_statistics_keep_the_sums_bits_whatever_comes_with_them(monkeypatch):
    # The promise of reduce_K, kept by the generated kernels: one window grouping (K) for
    # every channel set with the sum, whatever rows per thread the set takes.
    monkeypatch.setattr(cupy_launch, "UNROLLED_STATS", True)
    data = cp.asarray(awkward_data((120, 140), nan_fraction=0.05, seed=3))
    fp = xf.circle_kernel(1, 1, 5)
    alone = _host(xf.focal_mean(data, fp, boundary="reflect"))
    for stats in [("mean", "std"), ("mean", "max", "min"), tuple(STATS)]:
        out = xf.focal_stats(data, fp, stats, boundary="reflect")
        np.testing.assert_array_equal(_host(out["mean"]), alone, err_msg=str(stats))
    k = fp * 0.3
    renorm = _host(xf.correlate(data, k, boundary="reflect", nan_policy="renormalize"))
    omit = _host(xf.correlate(data, k, boundary="reflect", nan_policy="omit"))
    full = ~np.isnan(_host(xf.correlate(data, k, boundary="reflect")))
    np.testing.assert_array_equal(renorm[full], omit[full])
