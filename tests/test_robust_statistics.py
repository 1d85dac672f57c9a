"""Focal statistics on hostile data: sentinels, outliers, offsets, infinities, chunkings.

Every window is held to :func:`tests.reference.stat_bound` on its *own* values: the
variance within 8 (n + 2) eps R^2 of numpy's two-pass nanvar, R the window's range. A
value outside a window (a nodata sentinel never decoded, an outlier) must not change
it, nor may the chunking, nor the other statistics asked for in the same call.
"""

from __future__ import annotations

import numpy as np
import pytest

import xarray_focal as xf

from . import requires_dask
from .reference import BOUNDARIES, assert_stat_accuracy, reference_stat, reference_windows

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
