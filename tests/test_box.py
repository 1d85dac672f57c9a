"""The box sweep (``method="box"``): block prefix / suffix sums and extremes of rectangles.

Against scipy.ndimage on NaN-free data, against the stacked-window numpy references for the
NaN policies and every statistic, on hostile data (offsets, alternating signs, sentinels,
NaN runs, infinities) window by window, and dask against numpy to the bit for chunkings
smaller than the window (the blocks are aligned to the whole array).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

import xarray_focal as xf
from xarray_focal._algorithms.plan import box_shape, make_plan
from xarray_focal._algorithms.runs import describe

from . import requires_dask
from .backends import backend_params
from .conftest import awkward_data
from .reference import (
    BOUNDARIES,
    assert_matches_contract,
    assert_policy_accuracy,
    assert_stat_accuracy,
    reference_nan_policy,
    reference_stat,
)

STATS = list(xf.STATISTICS)
#: Rectangles: a single tap, one row, one column, small, wide, tall, larger than the data.
SHAPES = [(1, 1), (1, 3), (3, 1), (3, 3), (5, 9), (11, 3), (29, 31)]
SCIPY_MODES = {"nearest": "nearest", "reflect": "reflect", "mirror": "mirror", "wrap": "wrap"}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("boundary", list(SCIPY_MODES))
def test_box_sums_and_maxima_match_scipy(shape, boundary):
    data = awkward_data((23, 26), seed=sum(shape))
    k = np.ones(shape)
    mode = SCIPY_MODES[boundary]
    summed = xf.correlate(data, k * 0.25, boundary=boundary, method="box")
    np.testing.assert_allclose(summed, 0.25 * ndi.correlate(data, k, mode=mode),
                               rtol=0, atol=1e-12 * np.abs(data).sum())
    assert_matches_contract(summed, data, k * 0.25, boundary)
    np.testing.assert_array_equal(xf.focal_max(data, k, boundary=boundary, method="box"),
                                  ndi.maximum_filter(data, size=shape, mode=mode))
    np.testing.assert_array_equal(xf.focal_min(data, k, boundary=boundary, method="box"),
                                  ndi.minimum_filter(data, size=shape, mode=mode))


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("shape", [(1, 3), (5, 9), (29, 31)])
@pytest.mark.parametrize("policy", ["omit", "propagate"])
def test_every_statistic_on_nan_holes_meets_the_contract(boundary, shape, policy):
    data = awkward_data((21, 24), nan_fraction=0.25, seed=3)
    data[4:9, 2:15] = np.nan  # a NaN run wider than some windows
    k = np.ones(shape)
    out = xf.focal_stats(data, k, STATS, boundary=boundary, nan_policy=policy, method="box")
    for stat in STATS:
        expected = reference_stat(data, k, stat, boundary, policy if stat != "count" else "omit")
        assert_stat_accuracy(out[stat], expected, data, stat, k, boundary, policy)


@pytest.mark.parametrize("policy,min_count", [("omit", None), ("omit", 5), ("renormalize", None),
                                              ("renormalize", 7), ("propagate", 3)])
@pytest.mark.parametrize("boundary", ["nan", "reflect", "constant"])
def test_nan_policies_match_the_window_reference(policy, min_count, boundary):
    data = awkward_data((19, 22), nan_fraction=0.3, seed=5)
    k = np.full((3, 5), 0.1)
    result = xf.correlate(data, k, boundary=boundary, cval=2.5, nan_policy=policy,
                          min_count=min_count, method="box")
    expected = reference_nan_policy(data, k, policy, boundary, 2.5, min_count)
    assert_policy_accuracy(result, expected, data, k, policy, boundary, 2.5)


def test_off_centre_rectangle_and_zero_border_rows():
    """A 4x6 box inside a 5x7 kernel (zero last row and column) is still a box."""
    k = np.zeros((5, 7))
    k[:4, :6] = 2.0
    assert box_shape(describe(k)) == (0, 0, 4, 6, 2.0)
    data = awkward_data((17, 20), seed=2)
    for boundary in ("nearest", "wrap", "nan"):
        assert_matches_contract(xf.correlate(data, k, boundary=boundary, method="box"), data, k,
                                boundary)
    np.testing.assert_array_equal(
        xf.focal_max(data, k, boundary="nearest", method="box"),
        xf.focal_max(data, k, boundary="nearest", method="direct"))


def test_window_larger_than_the_array_in_every_mode():
    data = awkward_data((5, 4), nan_fraction=0.2, seed=9)
    k = np.ones((13, 11))
    for boundary in BOUNDARIES:
        out = xf.focal_stats(data, k, STATS, boundary=boundary, method="box")
        for stat in STATS:
            assert_stat_accuracy(out[stat], reference_stat(data, k, stat, boundary), data, stat,
                                 k, boundary)


# --- hostile data: each window is held to its own values -------------------------------------


def _hostile(kind, shape=(40, 45), seed=0):
    rng = np.random.default_rng(seed)
    if kind == "offset":
        return 1e8 + rng.standard_normal(shape) * 1e-3
    if kind == "alternating":
        signs = np.where((np.indices(shape).sum(axis=0) % 2) == 0, 1.0, -1.0)
        return signs * 1e15 + rng.standard_normal(shape)
    data = rng.standard_normal(shape) + 10.0
    if kind == "sentinels":
        data[rng.random(shape) < 0.02] = -3.4028235e38
        data[rng.random(shape) < 0.02] = -9999.0
    elif kind == "nan_runs":
        data[5:8, :] = np.nan
        data[:, 30:33] = np.nan
        data[rng.random(shape) < 0.1] = np.nan
    elif kind == "inf":
        data[rng.random(shape) < 0.01] = np.inf
        data[rng.random(shape) < 0.01] = -np.inf
    return data


@pytest.mark.parametrize("kind", ["offset", "alternating", "sentinels", "nan_runs", "inf"])
@pytest.mark.parametrize("shape", [(7, 7), (15, 21)])
def test_hostile_data_meets_the_bound_in_every_window(kind, shape):
    data = _hostile(kind)
    k = np.ones(shape)
    out = xf.focal_stats(data, k, STATS, boundary="nearest", method="box")
    for stat in STATS:
        assert_stat_accuracy(out[stat], reference_stat(data, k, stat, "nearest"), data, stat, k,
                             "nearest")
    summed = xf.correlate(data, k, boundary="nearest", method="box")
    with np.errstate(invalid="ignore"):
        assert_matches_contract(summed, data, k, "nearest")


def test_values_that_left_the_window_leave_no_residue():
    """A 1e15 (and an inf) two cells before a window of small integers: the box sum of
    that window is exact, where a running sum (add the new value, subtract the old) would
    carry ~0.1 of rounding from the 1e15 and NaN from inf - inf."""
    data = np.ones((9, 60))
    data[:, 3] = 1e15
    data[:, 5] = np.inf
    k = np.ones((3, 9))
    out = xf.correlate(data, k, boundary="nearest", method="box")
    np.testing.assert_array_equal(out[:, 10:], 27.0)
    stats = xf.focal_stats(data, k, ("mean", "std", "max"), boundary="nearest", method="box")
    np.testing.assert_array_equal(stats["mean"][:, 10:], 1.0)
    np.testing.assert_array_equal(stats["std"][:, 10:], 0.0)
    np.testing.assert_array_equal(stats["max"][:, 10:], 1.0)


@pytest.mark.parametrize("kind", ["offset", "alternating", "sentinels", "nan_runs", "inf"])
@pytest.mark.parametrize("shape", [(3, 63), (3, 64), (5, 81), (1, 130)])
def test_wide_windows_meet_the_bound_on_hostile_data(kind, shape):
    """Rows summed through every level of the base-4 tree (63 = 333, 64 = 1000, 81 = 1101
    and 130 = 2002 in base 4) and a window wider than the data, held to each window's own
    values on hostile data. An even width is an odd kernel with a zero last column."""
    data = _hostile(kind, shape=(12, 110), seed=3)
    k = np.ones((shape[0], shape[1] | 1))
    k[:, shape[1]:] = 0.0
    out = xf.focal_stats(data, k, ("sum", "mean", "count", "std"), boundary="nearest",
                         method="box")
    for stat in ("sum", "mean", "count", "std"):
        assert_stat_accuracy(out[stat], reference_stat(data, k, stat, "nearest"), data, stat, k,
                             "nearest")
    with np.errstate(invalid="ignore"):
        assert_matches_contract(xf.correlate(data, k, boundary="nearest", method="box"), data,
                                k, "nearest")


def test_a_far_sentinel_leaves_no_residue_in_a_wide_window():
    """A -3.4e38 and a 1e300 outside a 1 x 101 window of ones, in the rows the tree's
    levels sum across: the window's sum is exact."""
    data = np.ones((3, 400))
    data[:, 50] = -3.4028235e38
    data[:, 260] = 1e300
    k = np.ones((1, 101))
    out = xf.correlate(data, k, boundary="nearest", method="box")
    np.testing.assert_array_equal(out[:, 101:209], 101.0)
    np.testing.assert_array_equal(out[:, 311:], 101.0)
    mean = xf.focal_mean(data, k, boundary="nearest", method="box")
    np.testing.assert_array_equal(mean[:, 101:209], 1.0)


# --- chunking, threads and planning --------------------------------------------------------


@requires_dask
@pytest.mark.parametrize("chunks", [(7, 9), (40, 5), (13, 64)])
def test_dask_equals_numpy_bit_for_bit_with_chunks_smaller_than_the_window(chunks):
    import dask.array as da

    data = awkward_data((52, 64), nan_fraction=0.1, seed=4)
    k = np.ones((15, 17))
    lazy = da.from_array(data, chunks=chunks)
    np.testing.assert_array_equal(
        xf.correlate(lazy, k / 255, boundary="reflect", method="box").compute(),
        xf.correlate(data, k / 255, boundary="reflect", method="box"))
    want = xf.focal_stats(data, k, STATS, boundary="nan", method="box")
    got = xf.focal_stats(lazy, k, STATS, boundary="nan", method="box")
    for stat in STATS:
        np.testing.assert_array_equal(got[stat].compute(), want[stat], err_msg=stat)


def test_float32_is_summed_in_float64_and_rounded_once():
    data = awkward_data((30, 33), dtype=np.float32, nan_fraction=0.1, seed=8)
    k = np.ones((9, 9))
    for stat in ("mean", "std", "max"):
        got = getattr(xf, "focal_" + stat)(data, k, method="box")
        want = getattr(xf, "focal_" + stat)(data.astype(np.float64), k, method="box")
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want.astype(np.float32))


def test_leading_axes_are_separate_slices():
    data = awkward_data((3, 2, 17, 19), nan_fraction=0.1, seed=6)
    k = np.ones((5, 7))
    out = xf.focal_mean(data, k, method="box")
    for i in np.ndindex(3, 2):
        np.testing.assert_array_equal(out[i], xf.focal_mean(data[i], k, method="box"))


def test_box_method_is_refused_for_other_footprints():
    with pytest.raises(xf.FocalValueError, match="rectangle of taps of one weight"):
        xf.correlate(np.ones((9, 9)), xf.circle_kernel(1, 1, 2), method="box")
    with pytest.raises(xf.FocalValueError, match="rectangle"):
        xf.correlate(np.ones((9, 9)), [[1.0, 2.0, 1.0]], method="box")
    with pytest.raises(xf.FocalValueError, match="rectangle"):
        xf.focal_mean(np.ones((9, 9)), xf.annulus_kernel(1, 1, 2, 1), method="box")


def test_auto_takes_the_box_sweep_for_large_boxes():
    assert make_plan(np.ones((51, 51))).method == "box"
    assert make_plan(np.ones((101, 101)), separable_ok=False).method == "box"
    assert make_plan(np.ones((15, 15)), separable_ok=False).method == "box"
    assert make_plan(xf.circle_kernel(1, 1, 7)).method != "box"


def test_a_huge_box_plans_as_one_rectangle():
    plan = make_plan(np.ones((1001, 1001)), "auto", separable_ok=False)
    assert plan.method == "box" and plan.lengths.tolist() == [1001, 1001]
    assert plan.run_dy.tolist() == [0] and plan.run_dx.tolist() == [0]


# --- constructors and size= -------------------------------------------------------------


def test_box_kernel_takes_the_cells_within_half_the_box():
    assert xf.box_kernel(10, 10, 1000).shape == (101, 101)  # 1 km on a 10 m grid
    assert xf.box_kernel(30, 30, 300).shape == (11, 11)  # |d| <= 150 m: 5 cells each side
    assert xf.box_kernel(30, 30, 299).shape == (9, 9)
    assert xf.box_kernel(10, 20, 50).shape == (3, 5)
    assert xf.box_kernel(1, 1, 4, 2).shape == (3, 5)
    assert xf.box_kernel(1, 1, 0.5).shape == (1, 1)
    assert np.all(xf.box_kernel(2, 3, 17) == 1.0)
    with pytest.raises(xf.FocalValueError, match="width"):
        xf.box_kernel(1, 1, -3)
    with pytest.raises(xf.FocalTypeError, match="height"):
        xf.box_kernel(1, 1, 3, "2")
    with pytest.raises(xf.FocalValueError, match="limit"):
        xf.box_kernel(1, 1, 1e9)


@pytest.mark.parametrize("sigma,cells,truncate", [(0.7, (1, 1), 4.0), (2.0, (1, 1), 4.0),
                                                  (30.0, (10, 20), 3.0)])
def test_gaussian_kernel_matches_scipy_gaussian_filter(sigma, cells, truncate):
    data = awkward_data((40, 50), seed=1)
    k = xf.gaussian_kernel(cells[0], cells[1], sigma, truncate=truncate)
    assert k.sum() == pytest.approx(1.0, abs=1e-14)
    expected = ndi.gaussian_filter(data, (sigma / cells[1], sigma / cells[0]), mode="nearest",
                                   truncate=truncate)
    np.testing.assert_allclose(xf.correlate(data, k, boundary="nearest"), expected, rtol=0,
                               atol=1e-12 * np.abs(data).max())
    assert make_plan(k).method == "separable"


def test_gaussian_kernel_rejects_bad_arguments():
    with pytest.raises(xf.FocalValueError, match="sigma"):
        xf.gaussian_kernel(1, 1, 0)
    with pytest.raises(xf.FocalValueError, match="truncate"):
        xf.gaussian_kernel(1, 1, 1, truncate=-1)
    with pytest.raises(xf.FocalValueError, match="sigma"):
        xf.gaussian_kernel(1, 1, 1e8)


def test_accessor_kernels_in_map_units():
    import xarray as xr

    dem = xr.DataArray(np.zeros((20, 20)), dims=("y", "x"),
                       coords={"y": np.arange(20) * -10.0, "x": np.arange(20) * 10.0})
    assert dem.focal.box_kernel("1 km").shape == (101, 101)
    assert dem.focal.box_kernel("0.05 km", "30 m").shape == (3, 5)
    np.testing.assert_array_equal(dem.focal.gaussian_kernel("20 m", truncate=3.0),
                                  xf.gaussian_kernel(10, 10, 20, truncate=3.0))
    geo = xr.DataArray(np.zeros((5, 5)), dims=("lat", "lon"),
                       coords={"lat": ("lat", np.arange(5.0), {"units": "degrees_north"}),
                               "lon": ("lon", np.arange(5.0), {"units": "degrees_east"})})
    with pytest.raises(xf.FocalValueError, match="geographic"):
        geo.focal.box_kernel("300 m")
    # A length sigma on degrees is a geodesic Gaussian (issue 16), never degrees as metres.
    assert isinstance(geo.focal.gaussian_kernel("200 km"), xf.GeodesicKernel)


def test_size_is_a_box_of_cells_like_scipy():
    import xarray as xr

    data = awkward_data((30, 40), nan_fraction=0.1, seed=12)
    np.testing.assert_array_equal(xf.focal_mean(data, size=15),
                                  xf.focal_mean(data, np.ones((15, 15))))
    np.testing.assert_array_equal(xf.focal_max(data, size=(15, 31), boundary="nearest"),
                                  xf.focal_max(data, np.ones((15, 31)), boundary="nearest"))
    out = xf.focal_stats(data, stats=("std", "count"), size=(3, 5))
    np.testing.assert_array_equal(out["count"], xf.focal_count(data, np.ones((3, 5))))
    da = xr.DataArray(data, dims=("y", "x"))
    np.testing.assert_array_equal(da.focal.mean(size=15).values, xf.focal_mean(data, size=15))
    np.testing.assert_array_equal(da.focal.stats(size=(5, 3), stats=("min",))["min"].values,
                                  xf.focal_min(data, size=(5, 3)))


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"size": 4}, xf.FocalValueError, "odd"),
    ({"size": (15, 30)}, xf.FocalValueError, "odd"),
    ({"size": 0}, xf.FocalValueError, "positive"),
    ({"size": 2.5}, xf.FocalTypeError, "int"),
    ({"size": (3, 3, 3)}, xf.FocalTypeError, "pair"),
    ({"size": True}, xf.FocalTypeError, "int"),
    ({"size": 3, "footprint": np.ones((3, 3))}, xf.FocalTypeError, "not both"),
    ({}, xf.FocalTypeError, "footprint array, or size="),
])
def test_size_errors_name_the_problem(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        xf.focal_mean(np.ones((9, 9)), **kwargs)


def test_strips_and_bands_do_not_change_a_bit(monkeypatch):
    """Narrow strips (tiny ring budget) cut every row into many tasks; the blocks are
    aligned to the whole array, so each window is summed in the same order."""
    from xarray_focal._backends import numpy_backend

    data = awkward_data((70, 300), nan_fraction=0.05, seed=21)
    k = np.ones((9, 13))
    want = xf.focal_stats(data, k, STATS, boundary="wrap", method="box")
    want_sum = xf.correlate(data, k * 0.3, boundary="mirror", method="box")
    monkeypatch.setattr(numpy_backend, "BOX_RING_BYTES", 1024)
    monkeypatch.setattr(numpy_backend, "BOX_MIN_WINDOWS", 1)
    got = xf.focal_stats(data, k, STATS, boundary="wrap", method="box")
    for stat in STATS:
        np.testing.assert_array_equal(got[stat], want[stat], err_msg=stat)
    np.testing.assert_array_equal(xf.correlate(data, k * 0.3, boundary="mirror", method="box"),
                                  want_sum)


def test_a_first_nan_late_in_the_task_starts_the_counts_right():
    """Counts are kept from the first row that reads NaN on; the windows before and after
    it (across several whole blocks) count as the reference does."""
    data = awkward_data((64, 40), seed=30)
    data[47, 11] = np.nan
    data[52:55, 30:] = np.nan
    for shape in ((5, 5), (7, 3), (1, 9)):
        k = np.ones(shape)
        out = xf.focal_stats(data, k, ("count", "mean", "max"), boundary="nearest",
                             method="box")
        for stat in out:
            assert_stat_accuracy(out[stat], reference_stat(data, k, stat, "nearest"), data, stat,
                                 k, "nearest")


@pytest.mark.parametrize("row", [20, 21, 23, 24, 40])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_first_nan_late_in_a_block_of_a_sums_only_task(row, value):
    """Mean, sum and count alone take the sums-only loop, which folds each row into its
    block's prefix as it gathers it: a first NaN (or inf) at any row of a block -- its
    first, its last, in between -- rebuilds that prefix without it."""
    data = awkward_data((48, 37), seed=31)
    data[row, 5] = value
    data[row + 3, 20:] = value
    k = np.ones((5, 7))
    for stat in ("mean", "sum", "count"):
        got = xf.focal_stats(data, k, (stat,), boundary="nearest", method="box")[stat]
        with np.errstate(invalid="ignore"):
            assert_stat_accuracy(got, reference_stat(data, k, stat, "nearest"), data, stat, k,
                                 "nearest")
    if np.isnan(value):  # (the policy helper measures finite errors only)
        assert_policy_accuracy(
            xf.correlate(data, k, boundary="nearest", nan_policy="omit", method="box"),
            reference_nan_policy(data, k, "omit", "nearest", 0.0, None), data, k, "omit",
            "nearest", 0.0)


@pytest.mark.parametrize("backend", backend_params(), indirect=True)
def test_every_backend_accepts_the_box_method_and_size(backend):
    """method="box" and size= on every backend (the CUDA kernels plan their own runs and
    only validate method=); results within the contract of the numpy backend's."""
    data = awkward_data((40, 45), nan_fraction=0.1, seed=13)
    arr = backend.to_backend(data)
    out = backend.to_numpy_all(xf.focal_stats(arr, stats=STATS, size=(9, 11), method="box",
                                              boundary="nearest"))
    want = xf.focal_stats(data, stats=STATS, size=(9, 11), method="box", boundary="nearest")
    k = np.ones((9, 11))
    for stat in STATS:
        if backend.same_bits_as_numpy:
            np.testing.assert_array_equal(out[stat], want[stat], err_msg=stat)
        else:
            assert_stat_accuracy(out[stat], reference_stat(data, k, stat, "nearest"), data,
                                 stat, k, "nearest")
    summed = backend.to_numpy(xf.correlate(arr, k / 99, boundary="reflect", method="box"))
    assert_matches_contract(summed, data, k / 99, "reflect")
    with pytest.raises(xf.FocalValueError, match="rectangle"):
        xf.correlate(arr, xf.circle_kernel(1, 1, 3), method="box")


@pytest.mark.parametrize("method", ["direct", "runs", "columns", "box"])
def test_counts_kept_from_the_first_nan_row_for_every_method(method):
    """Every NaN-aware sweep skips the count channel until a row reads NaN; windows before
    and after that row, and the weighted sums of renormalize, match the references."""
    data = awkward_data((60, 41), seed=31)
    data[44, 7] = np.nan
    data[50:52, 20:] = np.nan
    k = np.ones((5, 5)) if method == "box" else xf.circle_kernel(1, 1, 3)
    out = xf.focal_stats(data, k, ("count", "mean", "min"), boundary="reflect", method=method)
    for stat in out:
        assert_stat_accuracy(out[stat], reference_stat(data, k, stat, "reflect"), data, stat, k,
                             "reflect")
    w = k * np.linspace(0.5, 1.5, k.size).reshape(k.shape) if method != "box" else k * 0.2
    result = xf.correlate(data, w, boundary="reflect", nan_policy="renormalize", method=method)
    expected = reference_nan_policy(data, w, "renormalize", "reflect")
    assert_policy_accuracy(result, expected, data, w, "renormalize", "reflect")


try:
    from hypothesis import given
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    given = None

if given is not None:

    @given(
        shape=st.tuples(st.integers(1, 24), st.integers(1, 24)),
        half=st.tuples(st.integers(0, 9), st.integers(0, 9)),
        corners=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
        weight=st.sampled_from([1.0, 0.3, -2.0]),
        nan_fraction=st.sampled_from([0.0, 0.1, 0.5]),
        boundary=st.sampled_from(BOUNDARIES),
        policy=st.sampled_from(["omit", "propagate"]),
        seed=st.integers(0, 2**16),
    )
    def test_any_rectangle_in_any_kernel_meets_the_contract(shape, half, corners, weight,
                                                            nan_fraction, boundary, policy,
                                                            seed):
        kh, kw = 2 * half[0] + 1, 2 * half[1] + 1
        r0, r1 = sorted(int(c * (kh - 1) + 0.5) for c in corners[:2])
        c0, c1 = sorted(int(c * (kw - 1) + 0.5) for c in corners[2:])
        k = np.zeros((kh, kw))
        k[r0:r1 + 1, c0:c1 + 1] = weight
        data = awkward_data(shape, nan_fraction=nan_fraction, seed=seed)
        out = xf.focal_stats(data, k, STATS, boundary=boundary, nan_policy=policy, method="box")
        for stat in STATS:
            expected = reference_stat(data, k, stat, boundary,
                                      policy if stat != "count" else "omit")
            assert_stat_accuracy(out[stat], expected, data, stat, k, boundary, policy)
        result = xf.correlate(data, k, boundary=boundary, cval=1.5, nan_policy="renormalize",
                              method="box")
        expected = reference_nan_policy(data, k, "renormalize", boundary, 1.5)
        assert_policy_accuracy(result, expected, data, k, "renormalize", boundary, 1.5)


def test_a_size_too_large_for_any_kernel_is_refused_by_name():
    # Found in review: size=10**9 + 1 reached np.ones and raised numpy's MemoryError.
    with pytest.raises(xf.FocalValueError, match=r"size=1000000001 is a box of"):
        xf.focal_mean(np.zeros((4, 4)), size=10**9 + 1)
    with pytest.raises(xf.FocalValueError, match=r"size=\(4097, 4097\)"):
        xf.focal_max(np.zeros((4, 4)), size=(4097, 4097))


@pytest.mark.parametrize("backend", backend_params("numpy", "dask"), indirect=True)
def test_float32_box_sums_are_float64_sums_whatever_was_read_before(backend):
    # Found in review: the box sums written straight into a float32 output row kept their
    # partial sums there, so a window's mean depended on a NaN outside it (which switches
    # the task to the float64 path) and on the chunking, and a plain correlate lost the 1
    # between +-1e8.
    row = np.zeros((1, 40), np.float32)
    row[0, 0], row[0, 3], row[0, 7] = 1, 1e8, -1e8
    holed = row.copy()
    holed[0, 39] = np.nan
    fp = np.ones((1, 11))
    means = [backend.to_numpy(xf.focal_mean(backend.to_backend(r, chunks=(1, 20)), fp,
                                            boundary="constant", method="box"))[0, 5]
             for r in (row, holed)]
    assert means == [np.float32(1 / 11)] * 2
    got = backend.to_numpy(xf.correlate(backend.to_backend(row, chunks=(1, 20)), fp,
                                        boundary="constant", method="box"))
    assert got[0, 5] == 1.0
    rng = np.random.default_rng(0)
    x = (3e7 + rng.normal(0, 1e3, (60, 70))).astype(np.float32)
    x[55, 65] = np.nan
    whole = xf.focal_mean(x, np.ones((15, 15)), boundary="nearest", method="box")
    lazy = backend.to_numpy(xf.focal_mean(backend.to_backend(x, chunks=(30, 35)),
                                          np.ones((15, 15)), boundary="nearest", method="box"))
    np.testing.assert_array_equal(lazy, whole)
