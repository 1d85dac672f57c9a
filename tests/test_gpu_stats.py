"""NaN policies and focal statistics on cupy and dask+cupy (issue 6 on the GPU).

Every result is compared with the independent references of ``tests/reference.py``
(stacked shifted windows with numpy's nan-functions) *and* with the numpy backend, whose
semantics (:mod:`xarray_focal.algorithms.masked`) the CUDA kernel must equal: NaN patterns
identically, ``count``/``min``/``max``/``range`` bit for bit, sums, means and variances to
rounding. Without cupy or a CUDA device the whole module is skipped.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from . import cupy_with_a_device

cp = cupy_with_a_device()

import xarray_focal as xf  # noqa: E402
from xarray_focal.backends.cupy import launch as cupy_launch  # noqa: E402
from xarray_focal.backends.cupy import layout as cupy_layout  # noqa: E402

from . import has_dask, raise_if_dask_computes, requires_dask  # noqa: E402
from .conftest import awkward_data  # noqa: E402
from .reference import (  # noqa: E402
    BOUNDARIES,
    assert_matches_contract,
    assert_policy_accuracy,
    assert_stat_accuracy,
    reference_nan_policy,
    reference_stat,
    reference_windows,
)

pytestmark = pytest.mark.gpu

STATS = list(xf.STATISTICS)
POLICIES = ["propagate", "omit", "renormalize"]
EXACT = ("count", "min", "max", "range")
KERNELS = {
    "circle7": xf.circle_kernel(1, 1, 7),
    "annulus": xf.annulus_kernel(1, 1, 2, 1),
    "weights": np.array([[0.5, 0.0, -1.0], [2.0, 1.0, 0.0], [0.0, 3.0, 0.25]]),
    "wide5x9": np.random.default_rng(3).standard_normal((5, 9)),
    # Runs shorter than, equal to and longer than both K choices (4 and 8).
    "runs": np.array([[2.0] * 3 + [0.0] + [1.5] * 8 + [-1.0] * 17 + [0.0] * 2 + [0.5] * 4 + [0.0] * 2]),
}
FOOTPRINTS = {
    "annulus": xf.annulus_kernel(1, 1, 2.5, 0.5) * 3.0,  # weights are ignored
    "circle7": xf.circle_kernel(1, 1, 7),
    "rows": np.array([[1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1],
                      [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                      [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]], dtype=float),
}


def _gpu(data):
    return cp.asarray(data)


def _host(result):
    assert isinstance(result, cp.ndarray), type(result)  # results stay on the device
    return cp.asnumpy(result)


def _check_stat(result, expected, data, stat, fp, boundary="nan", policy="omit", min_count=None):
    """The CPU tests' per-cell accuracy check (count/min/max/range exact, sums 1e-12, var/std
    by the one-pass bound)."""
    assert_stat_accuracy(result, expected, data, stat, fp, boundary, policy, min_count)


def _same_as_cpu(result, cpu, stat):
    """The numpy backend's answer: exact for count/min/max/range, else to rounding."""
    assert result.dtype == cpu.dtype
    np.testing.assert_array_equal(np.isnan(result), np.isnan(cpu), err_msg="NaN pattern vs CPU")
    if stat in EXACT:
        np.testing.assert_array_equal(result, cpu)
    else:
        rtol = 2e-7 if cpu.dtype == np.float32 else 1e-11
        np.testing.assert_allclose(result, cpu, rtol=rtol, atol=rtol, equal_nan=True)


def _close_policy(result, expected, data, kernel, policy, boundary="nan", cval=0.0, rtol=1e-12):
    """The CPU tests' per-cell contract check for the NaN policies."""
    assert_policy_accuracy(result, expected, data, kernel, policy, boundary, cval, rtol)


# --- statistics on cupy ------------------------------------------------------------


@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("policy", ["omit", "propagate"])
def test_cupy_statistic_matches_reference_and_cpu(stat, boundary, policy):
    data = awkward_data((23, 29), nan_fraction=0.1, seed=7)
    fp = FOOTPRINTS["annulus"]
    result = xf.focal_stats(_gpu(data), fp, (stat,), boundary=boundary, nan_policy=policy)[stat]
    result = _host(result)
    _check_stat(result, reference_stat(data, fp, stat, boundary, policy), data, stat, fp,
                boundary, policy)
    cpu = xf.focal_stats(data, fp, (stat,), boundary=boundary, nan_policy=policy)[stat]
    _same_as_cpu(result, cpu, stat)


@pytest.mark.parametrize("fname", sorted(FOOTPRINTS))
@pytest.mark.parametrize("min_count", [None, 4, 13])
def test_cupy_all_stats_in_one_launch(fname, min_count):
    data = awkward_data((2, 41, 57), nan_fraction=0.25, seed=1)
    fp = FOOTPRINTS[fname]
    out = xf.focal_stats(_gpu(data), fp, STATS, boundary="nearest", min_count=min_count)
    cpu = xf.focal_stats(data, fp, STATS, boundary="nearest", min_count=min_count)
    assert list(out) == STATS
    for stat in STATS:
        result = _host(out[stat])
        expected = reference_stat(data, fp, stat, "nearest", "omit", min_count)
        _check_stat(result, expected, data, stat, fp, "nearest", "omit", min_count)
        _same_as_cpu(result, cpu[stat], stat)
        alone = _host(getattr(xf, f"focal_{stat}")(_gpu(data), fp, boundary="nearest",
                                                   min_count=min_count))
        _same_as_cpu(alone, cpu[stat], stat)


@pytest.mark.parametrize("stats", [("mean",), ("max",), ("mean", "max"), ("count", "min"),
                                   ("std", "range")])
@pytest.mark.parametrize("fname", sorted(FOOTPRINTS))
def test_cupy_statistic_subsets_pick_their_own_variant(stats, fname):
    # Different channel sets compile different variants (K = 4 or 8); all must agree.
    data = awkward_data((37, 70), nan_fraction=0.05, seed=11)
    fp = FOOTPRINTS[fname]
    out = xf.focal_stats(_gpu(data), fp, stats, boundary="reflect")
    cpu = xf.focal_stats(data, fp, stats, boundary="reflect")
    for stat in stats:
        result = _host(out[stat])
        _check_stat(result, reference_stat(data, fp, stat, "reflect"), data, stat, fp, "reflect")
        _same_as_cpu(result, cpu[stat], stat)


@pytest.mark.parametrize("stat", STATS)
def test_cupy_float32_statistics(stat):
    data = awkward_data((33, 47), np.float32, nan_fraction=0.1, seed=3)
    fp = FOOTPRINTS["circle7"]
    result = _host(xf.focal_stats(_gpu(data), fp, (stat,), boundary="mirror")[stat])
    assert result.dtype == np.float32
    cpu = xf.focal_stats(data, fp, (stat,), boundary="mirror")[stat]
    _same_as_cpu(result, cpu, stat)
    expected = reference_stat(data, fp, stat, "mirror")
    np.testing.assert_array_equal(np.isnan(result), np.isnan(expected))
    ok = ~np.isnan(expected)
    scale = np.nanmax(np.abs(data)) ** (2 if stat == "var" else 1)
    np.testing.assert_allclose(result[ok], expected[ok], rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.bool_], ids=lambda d: np.dtype(d).name)
def test_cupy_integer_statistics_are_float64(dtype):
    data = awkward_data((19, 23), dtype)
    fp = np.ones((3, 5))
    out = xf.focal_stats(_gpu(data), fp, ("max", "mean", "var"), boundary="wrap")
    for stat, arr in out.items():
        assert arr.dtype == np.float64
        _check_stat(_host(arr), reference_stat(data, fp, stat, "wrap"), data.astype(float), stat,
                    fp, "wrap")


def test_cupy_min_max_with_infinities():
    data = np.array([[1.0, -np.inf, 3.0, np.nan, np.inf]])
    fp = np.ones((1, 3))
    np.testing.assert_array_equal(_host(xf.focal_min(_gpu(data), fp, boundary="nearest")),
                                  [[-np.inf, -np.inf, -np.inf, 3.0, np.inf]])
    np.testing.assert_array_equal(_host(xf.focal_max(_gpu(data), fp, boundary="nearest")),
                                  [[1.0, 3.0, 3.0, np.inf, np.inf]])


def test_cupy_infinities_are_values_like_the_cpu():
    data = awkward_data((21, 40), nan_fraction=0.1, seed=9)
    data[5, 7], data[12, 30], data[12, 33] = np.inf, -np.inf, np.inf
    fp = xf.circle_kernel(1, 1, 2)
    out = xf.focal_stats(_gpu(data), fp, STATS, boundary="reflect")
    cpu = xf.focal_stats(data, fp, STATS, boundary="reflect")
    for stat in STATS:
        result = _host(out[stat])
        ref = cpu[stat]
        np.testing.assert_array_equal(np.isnan(result), np.isnan(ref), err_msg=stat)
        np.testing.assert_array_equal(np.isinf(result), np.isinf(ref), err_msg=stat)
        np.testing.assert_array_equal(result[np.isinf(ref)], ref[np.isinf(ref)], err_msg=stat)
        finite = np.isfinite(ref)
        np.testing.assert_allclose(result[finite], ref[finite], rtol=1e-11, atol=1e-9,
                                   err_msg=stat)
    assert np.isinf(_host(out["max"])[5, 7]) and np.isinf(_host(out["mean"])[5, 7])


def test_cupy_variance_of_offset_data_does_not_cancel():
    rng = np.random.default_rng(0)
    data = 1e6 + rng.standard_normal((40, 40)) * 1e-2
    fp = np.ones((5, 5))
    result = _host(xf.focal_var(_gpu(data), fp, boundary="reflect"))
    np.testing.assert_allclose(result, reference_stat(data, fp, "var", "reflect"), rtol=1e-6)
    cpu = xf.focal_var(data, fp, boundary="reflect")
    np.testing.assert_allclose(result, cpu, rtol=1e-8)


def test_cupy_hole_larger_than_footprint_gives_nan_under_omit():
    data = awkward_data((30, 30), seed=4)
    data[8:20, 10:25] = np.nan
    fp = xf.circle_kernel(1, 1, 2)
    mean = _host(xf.focal_mean(_gpu(data), fp, boundary="nearest"))
    count = _host(xf.focal_count(_gpu(data), fp, boundary="nearest"))
    assert np.all(np.isnan(mean[10:18, 12:23])) and np.all(count[10:18, 12:23] == 0)
    assert not np.isnan(mean[0, 0])


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_cupy_statistics_kernel_larger_than_array(boundary):
    data = awkward_data((3, 4), nan_fraction=0.2, seed=2)
    fp = xf.circle_kernel(1, 1, 5)
    out = xf.focal_stats(_gpu(data), fp, STATS, boundary=boundary)
    for stat in STATS:
        _check_stat(_host(out[stat]), reference_stat(data, fp, stat, boundary), data, stat, fp,
                    boundary)


def test_cupy_banded_tiles_match(monkeypatch):
    # A shared-memory budget this small forces bands of footprint rows and of columns.
    monkeypatch.setattr(cupy_layout, "SMEM_BUDGET", 64 * 40 * 8)
    monkeypatch.setattr(cupy_launch, "PLANS", cupy_launch.Cache(8))
    data = awkward_data((2, 90, 70), nan_fraction=0.05)
    for fp in (xf.circle_kernel(1, 1, 9), np.ones((7, 45))):
        out = xf.focal_stats(_gpu(data), fp, STATS, boundary="mirror")
        cpu = xf.focal_stats(data, fp, STATS, boundary="mirror")
        for stat in STATS:
            _same_as_cpu(_host(out[stat]), cpu[stat], stat)
        policy = xf.correlate(_gpu(data), fp * 0.5, boundary="mirror", nan_policy="renormalize")
        _close_policy(_host(policy), reference_nan_policy(data, fp * 0.5, "renormalize", "mirror"),
                      data, fp * 0.5, "renormalize", "mirror")


def test_cupy_nd_cube_and_non_contiguous_input_untouched():
    base = _gpu(awkward_data((3, 2, 30, 44), nan_fraction=0.1, seed=6))
    before = base.copy()
    view = base[:, :, ::-1, ::2]
    fp = xf.annulus_kernel(1, 1, 2, 1)
    out = xf.focal_stats(view, fp, ("mean", "std", "max"), boundary="wrap")
    host = cp.asnumpy(view)
    for stat, arr in out.items():
        assert arr.shape == view.shape
        _check_stat(_host(arr), reference_stat(host, fp, stat, "wrap"), host, stat, fp, "wrap")
        assert not cp.shares_memory(arr, base)
    cp.testing.assert_array_equal(base, before)


# --- NaN policies on cupy --------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kname", sorted(KERNELS))
def test_cupy_policy_matches_reference_and_cpu(policy, boundary, kname):
    data = awkward_data((25, 53), nan_fraction=0.15, seed=2)
    kernel = KERNELS[kname]
    result = _host(xf.correlate(_gpu(data), kernel, boundary=boundary, cval=2.5,
                                nan_policy=policy))
    expected = reference_nan_policy(data, kernel, policy, boundary, 2.5)
    _close_policy(result, expected, data, kernel, policy, boundary, 2.5)
    cpu = xf.correlate(data, kernel, boundary=boundary, cval=2.5, nan_policy=policy)
    np.testing.assert_array_equal(np.isnan(result), np.isnan(cpu))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("min_count", [0, 1, 5, 9])
def test_cupy_policy_min_count(policy, min_count):
    data = awkward_data((20, 22), nan_fraction=0.3, seed=5)
    kernel = np.ones((3, 3))
    result = _host(xf.correlate(_gpu(data), kernel, boundary="reflect", nan_policy=policy,
                                min_count=min_count))
    expected = reference_nan_policy(data, kernel, policy, "reflect", min_count=min_count)
    _close_policy(result, expected, data, kernel, policy, "reflect")


@pytest.mark.parametrize("policy", POLICIES)
def test_cupy_float32_policy(policy):
    data = awkward_data((30, 30), np.float32, nan_fraction=0.1)
    kernel = KERNELS["weights"]
    result = _host(xf.convolve(_gpu(data), kernel, nan_policy=policy, boundary="nearest"))
    assert result.dtype == np.float32
    expected = reference_nan_policy(data, kernel[::-1, ::-1], policy, "nearest")
    _close_policy(result, expected, data, kernel[::-1, ::-1], policy, "nearest", rtol=1e-5)
    if policy != "propagate":
        # omit/renormalize run the reduce kernel, which sums in float64 like the CPU;
        # plain propagate takes the correlate kernel's float32 sums (contract above only).
        cpu = xf.convolve(data, kernel, nan_policy=policy, boundary="nearest")
        _same_as_cpu(result, cpu, "sum")


def test_cupy_renormalize_nan_where_valid_weights_cancel():
    # At x=1 the valid taps (weights 1 and -1) cancel, the NaN tap held the kernel's 0.5.
    data = np.array([[2.0, np.nan, 3.0]])
    kernel = np.array([[1.0, 0.5, -1.0]])
    assert np.isnan(_host(xf.correlate(_gpu(data), kernel, boundary="nan",
                                       nan_policy="renormalize"))[0, 1])
    data = np.array([[2.0, 5.0, 2.0]])
    kernel = np.array([[1.0, 1.0, -1.0]])
    r = _host(xf.correlate(_gpu(data), kernel, boundary="nan", nan_policy="renormalize"))
    assert np.isnan(r[0, 0]) and r[0, 1] == 5.0


def test_cupy_renormalize_of_constant_field_is_that_constant():
    data = np.full((40, 50), 7.25)
    data[awkward_data((40, 50), seed=3) > 120] = np.nan
    kernel = xf.circle_kernel(1, 1, 4)
    result = _host(xf.correlate(_gpu(data), kernel / kernel.sum(), boundary="nan",
                                nan_policy="renormalize"))
    ok = ~np.isnan(result)
    assert ok.sum() > 100
    np.testing.assert_allclose(result[ok], 7.25, rtol=1e-13)


def test_cupy_policy_inf_is_not_missing():
    data = np.ones((5, 9))
    data[2, 4] = np.inf
    data[0, 0] = np.nan
    for policy in ("omit", "renormalize"):
        r = _host(xf.correlate(_gpu(data), np.ones((3, 3)), boundary="nearest",
                               nan_policy=policy))
        assert np.isinf(r[2, 4]) and np.isinf(r[1, 3]) and np.isfinite(r[0, 0])
        np.testing.assert_array_equal(r, xf.correlate(data, np.ones((3, 3)), boundary="nearest",
                                                      nan_policy=policy))


# --- outliers, sentinels and local variance shifts (issue 12) ----------------------------

#: Undecoded nodata values a user may leave in the data.
SENTINELS = [-3.4028235e38, -9999.0, 1e22]
#: Cells holding the sentinel: far apart, one near a corner (reach 7 of circle7).
SENTINEL_CELLS = [(3, 5), (30, 48), (60, 20), (62, 93)]
EPS = np.finfo(np.float64).eps


def _smooth_field(shape, dtype, seed=0):
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
    data = _smooth_field((64, 96), dtype, seed)
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
def test_cupy_sentinels_spoil_only_their_own_windows(fname, sentinel, dtype):
    # A nodata sentinel left in the data changes the statistics of the windows that hold
    # it and of no other: every window meets the contract on its own values (its range),
    # mean and sum are right with std/var in the same call, and a window without the
    # sentinel gives the same bits as on data without it.
    fp = FOOTPRINTS[fname]
    boundary = "nearest"
    data, clean = _with_sentinels(dtype, sentinel)
    refs, bounds = _window_references(data, fp, boundary)
    out = xf.focal_stats(_gpu(data), fp, STATS, boundary=boundary)
    out_clean = xf.focal_stats(_gpu(clean), fp, STATS, boundary=boundary)
    away = _windows_without_sentinel(fp, boundary, data.shape)
    assert away.sum() > 1000 and (~away).sum() > 100
    for stat in STATS:
        result = _host(out[stat])
        assert result.dtype == dtype
        _assert_window_contract(result, refs, bounds, stat)
        np.testing.assert_array_equal(result[away], _host(out_clean[stat])[away], err_msg=stat)
    for stat in ("std", "var"):  # alone: the variance-only variant
        alone = _host(getattr(xf, f"focal_{stat}")(_gpu(data), fp, boundary=boundary))
        _assert_window_contract(alone, refs, bounds, stat)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
def test_cupy_variance_of_flat_windows_beside_an_outlier_is_zero(dtype):
    data = np.full((40, 50), 1234.5678, dtype=dtype)
    data[20, 25] = 1e22
    fp = FOOTPRINTS["circle7"]
    var = _host(xf.focal_var(_gpu(data), fp, boundary="reflect"))
    away = np.ones(data.shape, bool)
    away[20 - 7:20 + 8, 25 - 7:25 + 8] = False
    assert np.all(var[away] == 0.0)
    assert np.all(var[~away & (np.hypot(*np.mgrid[-20:20, -25:25]) <= 7)] > 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fname", sorted(FOOTPRINTS))
def test_cupy_mean_and_sum_bits_do_not_depend_on_other_statistics(fname, dtype):
    data = _smooth_field((45, 77), dtype, seed=5) + awkward_data((45, 77), dtype, seed=2)
    fp = FOOTPRINTS[fname]
    alone = {s: _host(getattr(xf, f"focal_{s}")(_gpu(data), fp, boundary="reflect"))
             for s in ("mean", "sum")}
    for stats in [("mean", "std"), ("sum", "var"), ("mean", "sum", "max", "min"),
                  ("std", "mean", "range"), tuple(STATS)]:
        out = xf.focal_stats(_gpu(data), fp, stats, boundary="reflect")
        for stat in set(stats) & {"mean", "sum"}:
            np.testing.assert_array_equal(_host(out[stat]), alone[stat],
                                          err_msg=f"{stat} with {stats}")


# --- renormalize where no tap is missing (issue 12) ---------------------------------------

_g1, _g2 = (np.exp(-(np.mgrid[-3:4, -3:4] ** 2).sum(axis=0) / (2 * s * s)) for s in (1.0, 2.0))
#: Kernels whose weight sum is not exactly what the device's sum of valid weights gives:
#: normalised weights, mixed signs, random weights.
RENORM_KERNELS = {
    "disc_normalised": xf.circle_kernel(1, 1, 4) / xf.circle_kernel(1, 1, 4).sum(),
    # Sharpening: a delta plus a difference of Gaussians (mixed signs, sum 1 up to rounding).
    "sharpen": _g1 / _g1.sum() - _g2 / _g2.sum() + np.pad([[1.0]], _g1.shape[0] // 2),
    "mixed_signs": np.array([[0.1, 0.2, 0.1], [0.2, -1.0, 0.2], [0.1, 0.2, 0.1]]),
    # Zero-sum kernels (Sobel, Laplace, a DoG) are refused for renormalize: see
    # test_cupy_zero_sum_kernels_are_refused_for_renormalize.
    "wide5x9": KERNELS["wide5x9"],
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("boundary", ["reflect", "nearest", "wrap", "constant"])
@pytest.mark.parametrize("kname", sorted(RENORM_KERNELS))
def test_cupy_renormalize_without_missing_taps_is_propagate(kname, boundary, dtype):
    # NaN-free data: no tap is ever missing, so renormalize must be the plain weighted sum,
    # bit for bit the value of omit and of propagate on the same kernel (not scaled by a
    # Sum(w) / Sum(w valid) that rounds away from 1, nor 0 / 0 for a zero-sum kernel).
    data = awkward_data((37, 53), dtype, seed=4)
    kernel = RENORM_KERNELS[kname]
    gpu = _gpu(data)
    renorm = _host(xf.correlate(gpu, kernel, boundary=boundary, cval=2.5,
                                nan_policy="renormalize"))
    assert renorm.dtype == dtype
    omit = _host(xf.correlate(gpu, kernel, boundary=boundary, cval=2.5, nan_policy="omit"))
    # min_count takes propagate through the same NaN-aware kernel as renormalize.
    prop = _host(xf.correlate(gpu, kernel, boundary=boundary, cval=2.5, nan_policy="propagate",
                              min_count=1))
    np.testing.assert_array_equal(renorm, omit)
    np.testing.assert_array_equal(renorm, prop)
    assert_matches_contract(renorm, data, kernel, boundary, 2.5)
    if has_dask:
        lazy = xf.correlate(_dask_gpu(data, (11, 20)), kernel, boundary=boundary, cval=2.5,
                            nan_policy="renormalize")
        lazy_omit = xf.correlate(_dask_gpu(data, (11, 20)), kernel, boundary=boundary, cval=2.5,
                                 nan_policy="omit")
        np.testing.assert_array_equal(_host(lazy.compute()), _host(lazy_omit.compute()))


@pytest.mark.parametrize("kname", sorted(RENORM_KERNELS))
def test_cupy_renormalize_scales_only_windows_with_missing_taps(kname):
    data = awkward_data((41, 47), nan_fraction=0.04, seed=8)
    kernel = RENORM_KERNELS[kname]
    renorm = _host(xf.correlate(_gpu(data), kernel, boundary="nan", nan_policy="renormalize"))
    omit = _host(xf.correlate(_gpu(data), kernel, boundary="nan", nan_policy="omit"))
    stack, _ = reference_windows(data, kernel, "nan")
    complete = np.all(~np.isnan(stack), axis=0)
    assert complete.sum() > 100 and (~complete).sum() > 100
    np.testing.assert_array_equal(renorm[complete], omit[complete])
    expected = reference_nan_policy(data, kernel, "renormalize", "nan")
    _close_policy(renorm, expected, data, kernel, "renormalize", "nan")


@pytest.mark.parametrize("kernel", [
    np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]),
    np.array([[0.1, 0.2, 0.1], [0.2, -1.2, 0.2], [0.1, 0.2, 0.1]]),
    _g1 / _g1.sum() - _g2 / _g2.sum(),
], ids=["sobel", "laplace", "dog"])
def test_cupy_zero_sum_kernels_are_refused_for_renormalize(kernel):
    data = _gpu(awkward_data((20, 20), nan_fraction=0.1))
    with pytest.raises(xf.FocalValueError, match="renormalize"):
        xf.correlate(data, kernel, nan_policy="renormalize")
    # omit still works and matches the CPU within the contract.
    omit = _host(xf.correlate(data, kernel, nan_policy="omit", boundary="nearest"))
    host = awkward_data((20, 20), nan_fraction=0.1)
    _close_policy(omit, reference_nan_policy(host, kernel, "omit", "nearest"), host, kernel,
                  "omit", "nearest")


# --- accessor -----------------------------------------------------------------------------


def test_accessor_stats_on_cupy_keeps_labels_and_stays_on_device():
    import xarray as xr

    data = awkward_data((2, 30, 40), nan_fraction=0.1)
    obj = xr.DataArray(
        _gpu(data), dims=("time", "y", "x"), name="dem", attrs={"units": "m"},
        coords={"time": [1, 2], "y": np.arange(30) * -30.0, "x": np.arange(40) * 30.0},
    )
    fp = obj.focal.circle_kernel("60 m")
    ds = obj.focal.stats(fp, ("mean", "std", "max", "count"), boundary="nearest")
    assert isinstance(ds, xr.Dataset) and set(ds.data_vars) == {"mean", "std", "max", "count"}
    for stat, var in ds.data_vars.items():
        assert isinstance(var.data, cp.ndarray)
        assert var.dims == obj.dims
        assert var.attrs["units"] == ("1" if stat == "count" else "m")  # CF labels, test_cf.py
        xr.testing.assert_identical(var.coords.to_dataset(), obj.coords.to_dataset())
        _check_stat(_host(var.data), reference_stat(data, fp, stat, "nearest"), data, stat, fp,
                    "nearest")
    mean = obj.focal.mean(fp, boundary="nearest")
    assert isinstance(mean.data, cp.ndarray) and mean.name == "dem"
    # The mean never depends on the other statistics of the call, to the bit.
    np.testing.assert_array_equal(_host(mean.data), _host(ds["mean"].data))
    smooth = obj.focal.correlate(fp, nan_policy="renormalize", boundary="nearest")
    assert isinstance(smooth.data, cp.ndarray)


# --- dask + cupy --------------------------------------------------------------------------

dask_chunkings = [(7, 9), (2, 3), (40, 1), (13, 61), (37, 61)] if has_dask else []


def _dask_gpu(data, chunks):
    import dask.array as da

    return da.from_array(_gpu(data), chunks=chunks, asarray=False)


@requires_dask
@pytest.mark.parametrize("chunks", dask_chunkings)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("policy", ["omit", "propagate"])
def test_dask_cupy_statistics_match_reference(policy, boundary, chunks):
    import dask.array as da

    data = awkward_data((37, 61), nan_fraction=0.1, seed=8)
    fp = FOOTPRINTS["annulus"]  # reach 2: chunks (2, 3) and (40, 1) are smaller
    arr = _dask_gpu(data, chunks)
    with raise_if_dask_computes():
        out = xf.focal_stats(arr, fp, STATS, boundary=boundary, nan_policy=policy)
    cpu = xf.focal_stats(data, fp, STATS, boundary=boundary, nan_policy=policy)
    for stat in STATS:
        lazy = out[stat]
        assert isinstance(lazy, da.Array) and isinstance(lazy._meta, cp.ndarray)
        assert lazy.chunks == arr.chunks
        result = _host(lazy.compute())
        _check_stat(result, reference_stat(data, fp, stat, boundary, policy), data, stat, fp,
                    boundary, policy)
        if stat in EXACT:
            np.testing.assert_array_equal(result, cpu[stat])


@requires_dask
@pytest.mark.parametrize("chunks", dask_chunkings)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("policy", POLICIES)
def test_dask_cupy_policy_matches_reference(policy, boundary, chunks):
    import dask.array as da

    data = awkward_data((37, 61), nan_fraction=0.1, seed=12)
    kernel = KERNELS["wide5x9"]
    arr = _dask_gpu(data, chunks)
    result = xf.correlate(arr, kernel, boundary=boundary, cval=7.0, nan_policy=policy,
                          min_count=3)
    assert isinstance(result, da.Array) and isinstance(result._meta, cp.ndarray)
    assert result.chunks == arr.chunks
    expected = reference_nan_policy(data, kernel, policy, boundary, 7.0, min_count=3)
    _close_policy(_host(result.compute()), expected, data, kernel, policy, boundary, 7.0)


@requires_dask
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_dask_cupy_footprint_larger_than_chunks_and_array(boundary):
    # (The reach 6 is at least each axis: with an axis of 9 in chunks (4, 4, 1),
    # dask_backend._merge_small_chunks raises IndexError -- reported, not ours to fix.)
    data = awkward_data((5, 6), nan_fraction=0.2, seed=1)
    fp = xf.circle_kernel(1, 1, 6)
    out = xf.focal_stats(_dask_gpu(data, (2, 4)), fp, STATS, boundary=boundary,
                         min_count=2)
    for stat in STATS:
        expected = reference_stat(data, fp, stat, boundary, "omit",
                                  None if stat == "count" else 2)
        _check_stat(_host(out[stat].compute()), expected, data, stat, fp, boundary, "omit",
                    None if stat == "count" else 2)


@requires_dask
def test_dask_cupy_float32_cube():
    data = awkward_data((2, 30, 40), np.float32, nan_fraction=0.1)
    fp = xf.circle_kernel(1, 1, 3)
    out = xf.focal_stats(_dask_gpu(data, (1, 11, 13)), fp, ("mean", "std", "range"),
                         boundary="reflect")
    cpu = xf.focal_stats(data, fp, ("mean", "std", "range"), boundary="reflect")
    for stat, arr in out.items():
        assert arr.dtype == np.float32 and arr._meta.dtype == np.float32
        _same_as_cpu(_host(arr.compute()), cpu[stat], stat)


@requires_dask
def test_dask_cupy_accessor_stats_lazy_with_labels():
    import dask.array as da
    import xarray as xr

    data = awkward_data((2, 40, 50), nan_fraction=0.1)
    obj = xr.DataArray(_dask_gpu(data, (1, 20, 25)), dims=("t", "y", "x"), attrs={"a": 1},
                       name="v")
    fp = xf.circle_kernel(1, 1, 3)
    with raise_if_dask_computes():
        ds = obj.focal.stats(fp, ("mean", "max"), boundary="nan")
    for stat, var in ds.data_vars.items():
        assert isinstance(var.data, da.Array) and var.data.chunks == obj.data.chunks
        assert isinstance(var.data._meta, cp.ndarray)
        # The CF labels are the numpy path's, whatever the chunk type.
        on_host = xr.DataArray(data, dims=obj.dims, attrs=obj.attrs, name="v")
        assert var.attrs == on_host.focal.stats(fp, ("mean", "max"), boundary="nan")[stat].attrs
        assert var.attrs["a"] == 1 and var.attrs["long_name"].startswith("focal ")
        computed = var.data.compute()
        _check_stat(_host(computed), reference_stat(data, fp, stat, "nan"), data, stat, fp, "nan")


@requires_dask
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("chunks", [(16, 24), (9, 50), (64, 13)])
def test_dask_cupy_sentinels_spoil_only_their_own_windows(chunks, dtype):
    # Per chunk the same kernel: every window meets the contract on its own values,
    # whatever chunk holds the sentinel; count/min/max/range are cupy's to the bit.
    fp = FOOTPRINTS["circle7"]
    data, clean = _with_sentinels(dtype, -3.4028235e38, seed=3)
    refs, bounds = _window_references(data, fp, "reflect")
    out = xf.focal_stats(_dask_gpu(data, chunks), fp, STATS, boundary="reflect")
    whole = xf.focal_stats(_gpu(data), fp, STATS, boundary="reflect")
    away = _windows_without_sentinel(fp, "reflect", data.shape)
    for stat in STATS:
        result = _host(out[stat].compute())
        _assert_window_contract(result, refs, bounds, stat)
        if stat in EXACT:
            np.testing.assert_array_equal(result, _host(whole[stat]))
    lazy = xf.focal_stats(_dask_gpu(data, chunks), fp, ("mean", "std"), boundary="reflect")
    lazy_clean = xf.focal_stats(_dask_gpu(clean, chunks), fp, ("mean", "std"), boundary="reflect")
    for stat in ("mean", "std"):
        np.testing.assert_array_equal(_host(lazy[stat].compute())[away],
                                      _host(lazy_clean[stat].compute())[away])
