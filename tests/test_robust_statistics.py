"""Focal statistics on hostile data: sentinels, outliers, offsets, infinities, chunkings.

Every window is held to :func:`tests.reference.stat_bound` on its *own* values: the
variance within 8 (n + 2) eps R^2 of numpy's two-pass nanvar, R the window's range. A
value outside a window (a nodata sentinel never decoded, an outlier) must not change
it, nor may the chunking, nor the other statistics asked for in the same call.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xarray_focal as xf

from . import requires_dask
from .backends import backend_params
from .conftest import awkward_data
from .kernels import FOOTPRINTS, KERNELS
from .reference import (
    BOUNDARIES,
    EXACT_STATS,
    assert_stat_accuracy,
    reference_stat,
    reference_windows,
)

STATS = list(xf.STATISTICS)
METHODS = ["direct", "runs", "columns"]
#: Undecoded nodata values seen in the wild: float32's lowest, ArcGIS's -9999, a huge one.
SENTINELS = [-3.4028235e38, -9999.0, 1e22]


def smooth_field(shape, dtype=np.float64, seed=0, offset=1000.0, noise=1e-3):
    """offset + small noise: the spread of every window is tiny next to its level."""
    rng = np.random.default_rng(seed)
    return (offset + noise * rng.standard_normal(shape)).astype(dtype)


def windows_touching(mask, footprint, boundary):
    """True where the footprint window (as the boundary pads it) holds a ``mask`` cell."""
    stack, _ = reference_windows(mask.astype(np.float64), np.asarray(footprint) != 0, boundary)
    return np.nan_to_num(stack).any(axis=0)


def check_all_stats(out, data, footprint, boundary, *, where=None, policy="omit",
                    min_count=None):
    for stat in out:
        expected = reference_stat(data, footprint, stat, boundary, policy, min_count)
        if stat == "count":
            expected = reference_stat(data, footprint, "count", boundary)
        assert_stat_accuracy(out[stat], expected, data, stat, footprint, boundary, policy,
                             min_count, where=where)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "sentinel,dtype",
    [(s, np.float64) for s in SENTINELS] + [(-3.4028235e38, np.float32)],
)
def test_sentinel_in_one_cell_leaves_every_other_window_exact(sentinel, dtype, method):
    data = smooth_field((31, 37), dtype)
    data[np.random.default_rng(4).random(data.shape) < 0.05] = np.nan
    data[11, 23] = sentinel
    fp = xf.circle_kernel(1, 1, 3)
    out = xf.focal_stats(data, fp, STATS, boundary="reflect", method=method)
    hit = np.zeros(data.shape, dtype=bool)
    hit[11, 23] = True
    clean = ~windows_touching(hit, fp, "reflect")
    assert clean.sum() > 0.7 * clean.size
    check_all_stats(out, data, fp, "reflect", where=clean)
    # The spread of a clean window is the noise, not zero (a tile-wide shift gave 0 here).
    assert np.all(out["std"][clean & ~np.isnan(out["std"])] > 0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sentinel", [None, -3.4028235e38, 1e22])
def test_mean_and_sum_do_not_depend_on_the_other_statistics(sentinel, dtype, method):
    data = smooth_field((29, 33), dtype, seed=2)
    data[::7, ::5] = np.nan
    if sentinel is not None:
        data[3, 30] = sentinel
    fp = xf.circle_kernel(1, 1, 2)
    mean = xf.focal_mean(data, fp, boundary="nearest", method=method)
    total = xf.focal_sum(data, fp, boundary="nearest", method=method)
    for others in (("std",), ("var", "min"), ("count", "max", "range", "std", "var")):
        out = xf.focal_stats(data, fp, ("mean", "sum") + others, boundary="nearest",
                             method=method)
        np.testing.assert_array_equal(out["mean"], mean)
        np.testing.assert_array_equal(out["sum"], total)
    # The documented default pair, as the issue saw it (0.0 instead of ~1000).
    np.testing.assert_array_equal(xf.focal_stats(data, fp, boundary="nearest",
                                                 method=method)["mean"], mean)


@requires_dask
@pytest.mark.parametrize("method", ["runs", "columns"])
@pytest.mark.parametrize("chunks", [(7, 9), (2, 3), (31, 5), (10, 37)])
def test_dask_equals_numpy_bit_for_bit_whatever_the_chunks(chunks, method):
    import dask.array as da

    data = smooth_field((31, 37), seed=5)
    data[np.random.default_rng(6).random(data.shape) < 0.1] = np.nan
    data[20, 4] = -9999.0  # a different tile mean in every chunking
    fp = xf.circle_kernel(1, 1, 3)  # reach 3: chunks of 2 x 3 are smaller than it
    expected = xf.focal_stats(data, fp, STATS, boundary="wrap", method=method)
    out = xf.focal_stats(da.from_array(data, chunks=chunks), fp, STATS, boundary="wrap",
                         method=method)
    for stat in STATS:
        np.testing.assert_array_equal(out[stat].compute(), expected[stat], err_msg=stat)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("method", METHODS)
def test_large_offset_on_terraces_meets_the_bound_in_every_window(boundary, method):
    # 1e8 on terraces 1e4 .. 1e5 apart plus noise 1e-3: the windows' own levels differ by
    # far more than their spread, so no single shift for the array serves them all.
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:27, 0:35]
    data = 1e8 + 1e5 * (x // 9) + 1e4 * (y // 7) + 1e-3 * rng.standard_normal(x.shape)
    data[5:9, 10] = np.nan
    fp = np.ones((3, 5))
    out = xf.focal_stats(data, fp, STATS, boundary=boundary, method=method)
    check_all_stats(out, data, fp, boundary)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_alternating_signs_and_nan_runs(dtype, method):
    rng = np.random.default_rng(8)
    sign = np.where((np.add.outer(np.arange(30), np.arange(34)) % 2) == 0, 1.0, -1.0)
    # +-1e3 around levels 1e7 apart: cancellation inside a window and between windows.
    level = 1e7 * (np.arange(34) // 12)
    data = (sign * 1e3 + level + rng.standard_normal(sign.shape)).astype(dtype)
    data[4, 2:20] = np.nan     # runs of NaN longer than the kernel's rows
    data[10:25, 17] = np.nan   # and longer than its columns
    data[14:17, 3:8] = np.nan  # a hole a small window fits in
    for fp in (np.ones((1, 1)), np.ones((3, 3)), xf.circle_kernel(1, 1, 5)):
        out = xf.focal_stats(data, fp, STATS, boundary="mirror", method=method)
        check_all_stats(out, data, fp, "mirror")
        if fp.size == 1:
            valid = ~np.isnan(data)
            np.testing.assert_array_equal(out["var"][valid], 0.0)


@pytest.mark.parametrize("method", METHODS)
def test_infinity_beyond_an_empty_run_stays_outside_the_window(method):
    # A run with no valid tap must not pick up the next valid value past it (here +inf,
    # just outside the window) as its shift: inf * 0 would make the window NaN.
    data = smooth_field((9, 12), seed=9)
    data[:, 3:6] = np.nan
    data[:, 6] = np.inf
    data[2, 0] = -np.inf
    fp = np.ones((3, 5))
    out = xf.focal_stats(data, fp, STATS, boundary="nearest", method=method)
    check_all_stats(out, data, fp, "nearest")
    # Windows over columns 1..3 see the NaN run but not the infinity: finite spread.
    assert np.isfinite(out["var"][5:, 3]).all()
    # Windows whose only valid value is an infinity: nanvar says NaN, not 0.
    lone = np.full((3, 7), np.nan)
    lone[1, 3] = np.inf
    for stat in ("var", "std"):
        got = getattr(xf, f"focal_{stat}")(lone, np.ones((1, 3)), boundary="nearest",
                                           method=method)
        assert np.isnan(got).all()


@pytest.mark.parametrize("method", METHODS)
def test_variance_overflowing_the_float64_range_is_inf_like_numpy(method):
    data = np.array([[1e200, -1e200, 1e200, 3.0, 4.0, 5.0]])
    fp = np.ones((1, 3))
    out = xf.focal_stats(data, fp, ("var", "std", "mean"), boundary="nearest", method=method)
    check_all_stats(out, data, fp, "nearest")
    assert np.isinf(out["var"][0, :4]).all()


@pytest.mark.parametrize("method", METHODS)
def test_big_window_on_an_outlier_field(method):
    rng = np.random.default_rng(10)
    data = smooth_field((48, 52), seed=10, noise=0.5)
    data[rng.random(data.shape) < 0.01] = 1e22  # scattered outliers
    data[rng.random(data.shape) < 0.1] = np.nan
    fp = xf.circle_kernel(1, 1, 11)
    out = xf.focal_stats(data, fp, STATS, boundary="constant", method=method)
    hit = data == 1e22
    clean = ~windows_touching(hit, fp, "constant")
    assert clean.any() and (~clean).any()
    # Windows with an outlier meet the bound too: R is then the outlier's size.
    check_all_stats(out, data, fp, "constant")
    # Clean interior windows (the outside reads cval 0) keep the noise's spread.
    inner = np.zeros(data.shape, dtype=bool)
    inner[11:-11, 11:-11] = True
    assert (clean & inner).any()
    np.testing.assert_array_less(out["std"][clean & inner], 2.0)


@pytest.mark.parametrize("method", METHODS)
def test_min_count_and_propagate_with_local_shifts(method):
    data = smooth_field((25, 27), seed=11, offset=-5e7, noise=3.0)
    data[np.random.default_rng(12).random(data.shape) < 0.2] = np.nan
    data[0, 0] = 1e22
    fp = xf.annulus_kernel(1, 1, 3, 1)
    for policy, min_count in (("omit", 5), ("propagate", None)):
        out = xf.focal_stats(data, fp, STATS, boundary="nan", nan_policy=policy,
                             min_count=min_count, method=method)
        check_all_stats(out, data, fp, "nan", policy=policy, min_count=min_count)


# --- per-window contract on every backend (moved from the GPU file) ----------------------

#: Cells holding the sentinel: far apart, one near a corner (reach 7 of circle7).
SENTINEL_CELLS = [(3, 5), (30, 48), (60, 20), (62, 93)]
EPS = np.finfo(np.float64).eps
EXACT = EXACT_STATS


def _holey_smooth_field(shape, dtype, seed=0):
    """1000 + small noise with a few NaN holes: data where a far-off shift cancels badly."""
    rng = np.random.default_rng(seed)
    data = 1000.0 + 0.01 * rng.standard_normal(shape)
    data[rng.random(shape) < 0.03] = np.nan
    return data.astype(dtype)


def _window_references(data, fp, boundary):
    """Per-window statistics and contract bounds from the stacked windows (float64).

    The variance is a corrected two-pass one (mean of squared deviations minus the squared
    mean deviation), which cancels the mean's own rounding. Bounds: sums 1e-12 sum|x|, means
    that over n, variance 8 (n + 2) eps R^2 with R the window's range of valid values (a
    one-pass variance about any value of the window), std its square root.
    """
    stack, _ = reference_windows(np.asarray(data, dtype=np.float64), fp != 0, boundary, 0.0)
    valid = ~np.isnan(stack)
    n = valid.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        total = np.nansum(stack, axis=0)
        abs_total = np.nansum(np.abs(stack), axis=0)
        mean = total / n
        dev = stack - mean
        var = np.nanmean(dev * dev, axis=0) - np.nanmean(dev, axis=0) ** 2
        mx, mn = np.nanmax(stack, axis=0), np.nanmin(stack, axis=0)
        var_bound = 8 * (n + 2) * EPS * (mx - mn) ** 2
        refs = {"count": n, "sum": total, "mean": mean, "var": var, "std": np.sqrt(var),
                "max": mx, "min": mn, "range": mx - mn}
        bounds = {"sum": 1e-12 * abs_total, "mean": 1e-12 * abs_total / n, "var": var_bound,
                  "std": np.sqrt(var_bound)}
    for stat in refs:
        if stat != "count":
            refs[stat] = np.where(n > 0, refs[stat], np.nan)
    return refs, bounds


def _assert_window_contract(result, refs, bounds, stat):
    """``result`` meets the per-window contract; float32 adds its one rounding at the store."""
    ref = refs[stat]
    out_dtype = result.dtype
    np.testing.assert_array_equal(np.isnan(result), np.isnan(ref), err_msg=f"{stat}: NaN")
    ok = ~np.isnan(ref)
    with np.errstate(over="ignore"):
        expected = ref.astype(out_dtype)
    if stat in EXACT:
        np.testing.assert_array_equal(result[ok], expected[ok], err_msg=stat)
        return
    # A float32 result whose exact value is beyond float32's range is that infinity.
    over = ok & np.isinf(expected)
    np.testing.assert_array_equal(result[over], expected[over], err_msg=f"{stat}: overflow")
    ok &= ~over
    bound = bounds[stat][ok]
    if out_dtype == np.float32:
        bound = bound + (np.abs(ref[ok]) + bound) * 2.0**-24
    err = np.abs(result[ok].astype(np.float64) - ref[ok])
    worst = np.argmax(err - bound)
    assert np.all(err <= bound + np.finfo(np.float64).tiny), (
        f"{stat}: error {err[worst]:.3g} > bound {bound[worst]:.3g} "
        f"(value {result[ok][worst]!r}, exact {ref[ok][worst]!r})"
    )


def _with_sentinels(dtype, sentinel, seed=0):
    data = _holey_smooth_field((64, 96), dtype, seed)
    for cell in SENTINEL_CELLS:
        data[cell] = sentinel
    clean = data.copy()
    for cell in SENTINEL_CELLS:
        clean[cell] = 1000.0
    return data, clean


def _windows_without_sentinel(fp, boundary, shape):
    """Output cells whose window holds no sentinel cell."""
    marks = np.zeros(shape)
    for cell in SENTINEL_CELLS:
        marks[cell] = 1.0
    stack, _ = reference_windows(marks, fp != 0, boundary, 0.0)
    return np.nansum(stack, axis=0) == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("sentinel", SENTINELS, ids=repr)
@pytest.mark.parametrize("fname", ["circle7", "rows"])
def test_sentinels_spoil_only_their_own_windows(backend, fname, sentinel, dtype):
    # A nodata sentinel left in the data changes the statistics of the windows that hold
    # it and of no other: every window meets the contract on its own values (its range),
    # mean and sum are right with std/var in the same call, and a window without the
    # sentinel gives the same bits as on data without it.
    fp = KERNELS[FOOTPRINTS[fname]]
    boundary = "nearest"
    data, clean = _with_sentinels(dtype, sentinel)
    refs, bounds = _window_references(data, fp, boundary)
    out = backend.to_numpy_all(xf.focal_stats(backend.to_backend(data), fp, STATS,
                                              boundary=boundary))
    out_clean = backend.to_numpy_all(xf.focal_stats(backend.to_backend(clean), fp, STATS,
                                                    boundary=boundary))
    away = _windows_without_sentinel(fp, boundary, data.shape)
    assert away.sum() > 1000 and (~away).sum() > 100
    for stat in STATS:
        result = out[stat]
        assert result.dtype == dtype
        _assert_window_contract(result, refs, bounds, stat)
        np.testing.assert_array_equal(result[away], out_clean[stat][away], err_msg=stat)
    for stat in ("std", "var"):  # alone: the variance-only variant
        alone = backend.to_numpy(getattr(xf, f"focal_{stat}")(backend.to_backend(data), fp,
                                                              boundary=boundary))
        _assert_window_contract(alone, refs, bounds, stat)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
def test_variance_of_flat_windows_beside_an_outlier_is_zero(backend, dtype):
    data = np.full((40, 50), 1234.5678, dtype=dtype)
    data[20, 25] = 1e22
    fp = KERNELS["circle7"]
    var = backend.to_numpy(xf.focal_var(backend.to_backend(data), fp, boundary="reflect"))
    away = np.ones(data.shape, bool)
    away[20 - 7:20 + 8, 25 - 7:25 + 8] = False
    assert np.all(var[away] == 0.0)
    assert np.all(var[~away & (np.hypot(*np.mgrid[-20:20, -25:25]) <= 7)] > 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fname", sorted(FOOTPRINTS))
def test_mean_and_sum_bits_do_not_depend_on_other_statistics(backend, fname, dtype):
    data = _holey_smooth_field((45, 77), dtype, seed=5) + awkward_data((45, 77), dtype, seed=2)
    fp = KERNELS[FOOTPRINTS[fname]]
    arr = backend.to_backend(data)
    alone = {s: backend.to_numpy(getattr(xf, f"focal_{s}")(arr, fp, boundary="reflect"))
             for s in ("mean", "sum")}
    for stats in [("mean", "std"), ("sum", "var"), ("mean", "sum", "max", "min"),
                  ("std", "mean", "range"), tuple(STATS)]:
        out = backend.to_numpy_all(xf.focal_stats(arr, fp, stats, boundary="reflect"))
        for stat in set(stats) & {"mean", "sum"}:
            np.testing.assert_array_equal(out[stat], alone[stat], err_msg=f"{stat} with {stats}")


@pytest.mark.parametrize("backend", backend_params("dask", "dask+cupy"), indirect=True)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("chunks", [(16, 24), (9, 50), (64, 13)])
def test_chunked_sentinels_spoil_only_their_own_windows(backend, chunks, dtype):
    # Per chunk the same kernel: every window meets the contract on its own values,
    # whatever chunk holds the sentinel; count/min/max/range are the unchunked call's bits.
    fp = KERNELS["circle7"]
    data, clean = _with_sentinels(dtype, -3.4028235e38, seed=3)
    refs, bounds = _window_references(data, fp, "reflect")
    out = backend.to_numpy_all(xf.focal_stats(backend.to_backend(data, chunks), fp, STATS,
                                              boundary="reflect"))
    eager = backend.eager
    whole = eager.to_numpy_all(xf.focal_stats(eager.to_backend(data), fp, STATS,
                                              boundary="reflect"))
    away = _windows_without_sentinel(fp, "reflect", data.shape)
    for stat in STATS:
        result = out[stat]
        _assert_window_contract(result, refs, bounds, stat)
        if stat in EXACT:
            np.testing.assert_array_equal(result, whole[stat])
    lazy = backend.to_numpy_all(xf.focal_stats(backend.to_backend(data, chunks), fp,
                                               ("mean", "std"), boundary="reflect"))
    lazy_clean = backend.to_numpy_all(xf.focal_stats(backend.to_backend(clean, chunks), fp,
                                                     ("mean", "std"), boundary="reflect"))
    for stat in ("mean", "std"):
        np.testing.assert_array_equal(lazy[stat][away], lazy_clean[stat][away])


@pytest.mark.parametrize("backend", backend_params("numpy", "dask"), indirect=True)
@pytest.mark.parametrize("method", ["box", "runs", "direct", "columns"])
def test_finite_values_whose_squares_overflow_give_an_infinite_variance(backend, method):
    # Found in review: inf <= inf passed the rounding-noise test and gave var 0 (box,
    # direct, columns) or NaN (runs joined inf - inf), where numpy's nanvar gives inf.
    data = np.zeros((30, 20))
    data[10, 5], data[14, 9] = 1e200, -1e200
    fp = np.ones((9, 9))
    got = backend.to_numpy(xf.focal_var(backend.to_backend(data, chunks=(7, 6)), fp, boundary="nearest",
                                        method=method))
    pad = np.pad(data, 4, mode="edge")
    with np.errstate(over="ignore"):  # the reference overflows on purpose
        want = np.array([[np.var(pad[y:y + 9, x:x + 9]) for x in range(20)] for y in range(30)])
    assert np.isinf(want).any() and (want == 0).any()
    np.testing.assert_array_equal(got, want)
    std = backend.to_numpy(xf.focal_std(backend.to_backend(data, chunks=(7, 6)), fp, boundary="nearest",
                                        method=method))
    np.testing.assert_array_equal(std, np.sqrt(want))


@pytest.mark.parametrize("backend", backend_params("cupy", "dask+cupy"), indirect=True)
def test_squares_overflowing_give_an_infinite_variance_on_the_gpu(backend):
    # The CUDA finish (stats.cuh) mirrors masked/finish.py: inf, not the noise test's 0.
    data = np.zeros((30, 20))
    data[10, 5], data[14, 9] = 1e200, -1e200
    fp = np.ones((9, 9))
    got = backend.to_numpy(xf.focal_var(backend.to_backend(data, chunks=(7, 6)), fp,
                                        boundary="nearest"))
    want = xf.focal_var(data, fp, boundary="nearest")
    assert np.isinf(want).any() and (want == 0).any()
    np.testing.assert_array_equal(got, want)
