"""Rank, class and custom statistics and hotspots against independent numpy references.

References: numpy.pad + stacked windows (tests/reference.py) reduced by ``np.nanmedian`` /
``np.nanpercentile``; ``np.unique`` counts per window in a plain loop; a direct Getis-Ord
Gi* formula; xarray-spatial where it is installed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import xarray_focal as xf
from xarray_focal._backends import rank as rank_backend
from xarray_focal.errors import FocalTypeError, FocalValueError

from . import requires_dask
from .reference import BOUNDARIES, reference_windows

ANNULUS = np.array([[0, 1, 1, 1, 0],
                    [1, 1, 1, 1, 1],
                    [1, 1, 0, 1, 1],
                    [1, 1, 1, 1, 1],
                    [0, 1, 1, 1, 0]], dtype=float)


@pytest.fixture(params=["network", "bitset"])
def engine(request, monkeypatch):
    """Pin the order-statistic engine: both must give the same exact statistics."""
    monkeypatch.setattr(rank_backend, "NETWORK_MAX_CELLS", 10**9 if request.param == "network" else 0)
    return request.param


def nan_data(shape, seed=0, nan_fraction=0.15, dtype=np.float64):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape) * 100 + 1e6  # a large offset: no cancellation games
    data[rng.random(shape) < nan_fraction] = np.nan
    data[..., 2, :] = np.nan  # a NaN run across the whole row
    return data.astype(dtype)


def ref_order(data, footprint, q=None, boundary="nan", cval=0.0, policy="omit", min_count=None):
    stack, _ = reference_windows(np.asarray(data, dtype=np.float64), footprint, boundary, cval)
    count = (~np.isnan(stack)).sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.nanmedian(stack, axis=0) if q is None else np.nanpercentile(stack, q, axis=0)
    threshold = stack.shape[0] if policy == "propagate" else 1
    threshold = max(threshold, min_count or 0)
    return np.where(count >= threshold, out, np.nan)


def ref_classes(data, footprint, stat, boundary="nan", cval=0.0):
    stack, _ = reference_windows(np.asarray(data, dtype=np.float64), footprint, boundary, cval)
    out = np.full(stack.shape[1:], np.nan)
    for idx in np.ndindex(*out.shape):
        w = stack[(slice(None),) + idx]
        w = w[~np.isnan(w)]
        if w.size == 0:
            continue
        values, counts = np.unique(w, return_counts=True)  # ascending: argmax/argmin take the smallest
        out[idx] = {"majority": lambda: values[np.argmax(counts)],
                    "minority": lambda: values[np.argmin(counts)],
                    "variety": lambda: values.size}[stat]()
    return out


# --- order statistics -----------------------------------------------------------------------

@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_median_matches_nanmedian_every_boundary(engine, boundary):
    data = nan_data((13, 17))
    got = xf.focal_median(data, ANNULUS, boundary=boundary)
    np.testing.assert_array_equal(got, ref_order(data, ANNULUS, boundary=boundary))


@pytest.mark.parametrize("q", [0, 10, 37.5, 50, 99.9, 100])
def test_percentile_matches_nanpercentile(engine, q):
    data = nan_data((2, 11, 14), seed=3)
    fp = np.ones((3, 5))
    got = xf.focal_percentile(data, fp, q, boundary="reflect")
    np.testing.assert_array_equal(got, ref_order(data, fp, q, boundary="reflect"))


def test_float32_is_the_float64_statistic_rounded_once(engine):
    data = nan_data((12, 12), seed=5, dtype=np.float32)
    got = xf.focal_percentile(data, np.ones((3, 3)), 30, boundary="nearest")
    assert got.dtype == np.float32
    expected = ref_order(data.astype(np.float64), np.ones((3, 3)), 30, boundary="nearest")
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_ties_and_integer_data(engine):
    rng = np.random.default_rng(7)
    data = rng.integers(0, 4, (15, 16))  # many equal values in every window
    got = xf.focal_median(data, np.ones((5, 5)), boundary="mirror")
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, ref_order(data, np.ones((5, 5)), boundary="mirror"))


def test_min_count_propagate_and_all_nan_windows(engine):
    data = nan_data((14, 15), seed=2, nan_fraction=0.4)
    data[6:11, 6:11] = np.nan  # windows with no valid value at all
    fp = np.ones((3, 3))
    for policy, min_count in (("omit", None), ("omit", 5), ("propagate", None)):
        got = xf.focal_median(data, fp, nan_policy=policy, min_count=min_count)
        np.testing.assert_array_equal(got, ref_order(data, fp, policy=policy, min_count=min_count))
    assert np.isnan(xf.focal_median(data, fp)[8, 8])


@pytest.mark.parametrize("boundary", ["nan", "reflect", "wrap", "mirror"])
def test_one_cell_and_windows_larger_than_the_array(engine, boundary):
    data = nan_data((4, 5), seed=9, nan_fraction=0.0)
    np.testing.assert_array_equal(xf.focal_median(data, np.ones((1, 1))), data)
    big = np.ones((9, 11))
    np.testing.assert_array_equal(xf.focal_percentile(data, big, 80, boundary=boundary),
                                  ref_order(data, big, 80, boundary=boundary))


def test_infinite_values_are_values():
    data = np.array([[1.0, np.inf, 2.0, -np.inf, 3.0]])
    fp = np.ones((1, 3))
    np.testing.assert_array_equal(xf.focal_median(data, fp, boundary="nearest"),
                                  [[1.0, 2.0, 2.0, 2.0, 3.0]])
    # Between a finite and an infinite order statistic: the infinite one; numpy says NaN.
    np.testing.assert_array_equal(xf.focal_percentile(data[:, :2], np.ones((1, 1)), 50), data[:, :2])
    assert xf.focal_percentile(np.array([[1.0, np.inf]]), np.ones((1, 3)), 75)[0, 0] == np.inf


def test_huge_values_do_not_overflow_the_midpoint():
    data = np.array([[1.7e308, 1.7e308, np.nan]])
    assert xf.focal_median(data, np.ones((1, 3)), boundary="nearest")[0, 1] == 1.7e308


def test_scipy_median_filter_identical_without_nan():
    ndimage = pytest.importorskip("scipy.ndimage")
    data = np.random.default_rng(4).standard_normal((40, 41))
    for k in (5, 9):  # network (25 cells) and bitset (81 cells)
        np.testing.assert_array_equal(
            xf.focal_median(data, np.ones((k, k)), boundary="reflect"),
            ndimage.median_filter(data, size=k, mode="reflect"))


@pytest.mark.parametrize("q", [-1, 100.5, np.nan])
def test_bad_percentile_is_refused(q):
    with pytest.raises(FocalValueError, match="q must be a percentile"):
        xf.focal_percentile(np.ones((3, 3)), np.ones((3, 3)), q)


def test_non_number_percentile_is_refused():
    with pytest.raises(FocalTypeError, match="q must be a real number"):
        xf.focal_percentile(np.ones((3, 3)), np.ones((3, 3)), [50])


# --- class statistics ----------------------------------------------------------------------

@pytest.mark.parametrize("stat", ["majority", "minority", "variety"])
@pytest.mark.parametrize("boundary", ["nan", "reflect", "constant"])
def test_class_statistics_match_unique_counts(stat, boundary):
    rng = np.random.default_rng(11)
    data = rng.integers(-2, 3, (12, 13)).astype(np.float64)  # ties everywhere
    data[rng.random(data.shape) < 0.2] = np.nan
    got = xf.focal_stats(data, ANNULUS, (stat,), boundary=boundary)[stat]
    np.testing.assert_array_equal(got, ref_classes(data, ANNULUS, stat, boundary))


def test_float_classes_wide_integers_and_infinities():
    rng = np.random.default_rng(12)
    data = rng.choice([-np.inf, 0.25, 1e9, 3.5, np.nan, 7e12], size=(9, 10))
    for stat in ("majority", "minority", "variety"):
        np.testing.assert_array_equal(xf.focal_stats(data, np.ones((3, 3)), (stat,))[stat],
                                      ref_classes(data, np.ones((3, 3)), stat))
    wide = rng.integers(-(10**12), 10**12, (8, 9))
    np.testing.assert_array_equal(xf.focal_variety(wide, np.ones((3, 3)), boundary="nearest"),
                                  ref_classes(wide, np.ones((3, 3)), "variety", "nearest"))


def test_focal_stats_mixes_linear_and_rank_statistics():
    data = nan_data((10, 12), seed=13)
    stats = ("mean", "median", "count", "variety")
    out = xf.focal_stats(data, ANNULUS, stats, boundary="nearest")
    assert list(out) == list(stats)
    for s in stats:
        single = xf.focal_stats(data, ANNULUS, (s,), boundary="nearest")[s]
        np.testing.assert_array_equal(out[s], single)
    np.testing.assert_array_equal(out["median"], ref_order(data, ANNULUS, boundary="nearest"))


# --- a window function ---------------------------------------------------------------------

def test_apply_receives_the_valid_values():
    import numba

    @numba.njit
    def second_smallest_plus_count(v):
        return np.sort(v)[min(1, v.size - 1)] + v.size * 1000.0

    data = nan_data((9, 11), seed=14) - 1e6
    got = xf.focal_apply(data, ANNULUS, second_smallest_plus_count, boundary="wrap", min_count=3)
    stack, _ = reference_windows(data, ANNULUS, "wrap", 0.0)
    expected = np.full(data.shape, np.nan)
    for idx in np.ndindex(*data.shape):
        w = stack[(slice(None),) + idx]
        w = np.sort(w[~np.isnan(w)])
        if w.size >= 3:
            expected[idx] = w[1] + w.size * 1000.0
    np.testing.assert_array_equal(got, expected)


def test_apply_plain_function_and_propagate():
    data = nan_data((8, 8), seed=15)

    def mean(v):
        return v.mean()

    got = xf.focal_apply(data, np.ones((3, 3)), mean, nan_policy="propagate")
    stack, _ = reference_windows(data, np.ones((3, 3)), "nan", 0.0)
    np.testing.assert_allclose(got, stack.mean(axis=0), rtol=1e-15)


def test_apply_refuses_functions_numba_cannot_compile():
    def uses_python_objects(v):
        return float(len(str(v.tolist())))

    with pytest.raises(FocalTypeError, match="uses_python_objects"):
        xf.focal_apply(np.ones((3, 3)), np.ones((3, 3)), uses_python_objects)

    def returns_an_array(v):
        return v * 2

    with pytest.raises(FocalTypeError, match="returns_an_array.*real number"):
        xf.focal_apply(np.ones((3, 3)), np.ones((3, 3)), returns_an_array)
    with pytest.raises(FocalTypeError, match="func must be a function"):
        xf.focal_apply(np.ones((3, 3)), np.ones((3, 3)), 3.0)


# --- hotspots ------------------------------------------------------------------------------

def ref_gistar_classes(data, kernel, boundary):
    """Gi* written out cell by cell (float64) and classified at |z| > 1.65, 1.96, 2.58."""
    x = np.asarray(data, dtype=np.float64)
    valid = ~np.isnan(x)
    n = valid.sum()
    mean = x[valid].mean()
    std = x[valid].std()
    stack, w = reference_windows(np.where(valid, x, 0.0), kernel, boundary, 0.0)
    vstack, _ = reference_windows(valid.astype(float), kernel, boundary, 0.0)
    out = np.zeros(x.shape, dtype=np.int8)
    for idx in np.ndindex(*x.shape):
        xs = stack[(slice(None),) + idx]
        vs = vstack[(slice(None),) + idx]
        ww = w.reshape(-1)
        if np.isnan(xs).any():  # a tap outside with boundary="nan"
            continue
        s, w1, w2 = (ww * xs).sum(), (ww * vs).sum(), (ww * ww * vs).sum()
        var = (n * w2 - w1 * w1) / (n - 1)
        if not var > 0:
            continue
        z = (s - mean * w1) / (std * np.sqrt(var))
        conf = 90 * (abs(z) > 1.65) + 5 * (abs(z) > 1.96) + 4 * (abs(z) > 2.58)
        out[idx] = np.sign(z) * conf
    return out


@pytest.mark.parametrize("boundary", ["nan", "nearest", "reflect", "wrap"])
def test_hotspots_match_the_gistar_formula(boundary):
    rng = np.random.default_rng(16)
    data = rng.standard_normal((14, 15)).cumsum(axis=1)  # clustered: many significant cells
    data[rng.random(data.shape) < 0.1] = np.nan
    kernel = np.array([[0.5, 1, 0.5], [1, 1, 1], [0.5, 1, 0]])
    got = xf.hotspots(data, kernel, boundary=boundary)
    assert got.dtype == np.int8
    expected = ref_gistar_classes(data, kernel, boundary)
    np.testing.assert_array_equal(got, expected)
    assert (got > 0).any() and (got < 0).any()  # the comparison covers both kinds of spot


def test_hotspots_match_xarray_spatial():
    xrs = pytest.importorskip("xrspatial.focal")
    rng = np.random.default_rng(17)
    data = rng.standard_normal((30, 31)).cumsum(axis=0).astype(np.float32)
    kernel = np.ones((5, 5))  # no zero taps: xarray-spatial reads those (0 * NaN = NaN)
    for boundary in ("nan", "nearest", "wrap"):
        theirs = xrs.hotspots(xr.DataArray(data), kernel, boundary=boundary).values
        np.testing.assert_array_equal(xf.hotspots(data, kernel, boundary=boundary), theirs)


def test_variety_matches_xarray_spatial():
    xrs = pytest.importorskip("xrspatial.focal")
    rng = np.random.default_rng(23)
    classes = rng.integers(0, 7, (30, 31)).astype(float)
    classes[rng.random(classes.shape) < 0.1] = np.nan
    fp = xf.circle_kernel(1, 1, 2)
    theirs = xrs.focal_stats(xr.DataArray(classes), fp, stats_funcs=["variety"]).values[0]
    np.testing.assert_array_equal(xf.focal_variety(classes, fp), theirs)


def test_hotspots_refuse_degenerate_rasters():
    with pytest.raises(FocalValueError, match="standard deviation of 0"):
        xf.hotspots(np.ones((5, 5)), np.ones((3, 3)))
    with pytest.raises(FocalValueError, match="at least 2 valid"):
        xf.hotspots(np.full((5, 5), np.nan), np.ones((3, 3)))
    with pytest.raises(FocalValueError, match="do not sum to 0"):
        xf.hotspots(np.arange(25.0).reshape(5, 5), [[1, 0, -1]])


# --- dask, accessors, labels -----------------------------------------------------------------

@requires_dask
@pytest.mark.parametrize("chunks", [(1, 5, 7), (2, 13, 4), (1, 3, 20)])
def test_dask_is_numpy_for_every_statistic(chunks):
    import dask.array as da
    import numba

    @numba.njit
    def span(v):
        return v.max() - v.min()

    data = nan_data((2, 13, 20), seed=18)
    classes = np.round(data / 60)
    lazy, lazy_classes = da.from_array(data, chunks=chunks), da.from_array(classes, chunks=chunks)
    cases = [
        (lambda a: xf.focal_median(a, ANNULUS, boundary="mirror"), False),
        (lambda a: xf.focal_percentile(a, np.ones((11, 9)), 90, boundary="wrap"), False),
        (lambda a: xf.focal_apply(a, np.ones((3, 3)), span, boundary="reflect"), False),
        (lambda a: xf.focal_stats(a, ANNULUS, ("majority", "min", "variety"))["variety"], True),
        (lambda a: xf.focal_minority(a, np.ones((3, 5)), boundary="nearest"), True),
        (lambda a: xf.hotspots(a, ANNULUS), False),
    ]
    for func, on_classes in cases:
        eager, lazy_in = (classes, lazy_classes) if on_classes else (data, lazy)
        result = func(lazy_in)
        assert isinstance(result, da.Array) and result.chunks == lazy_in.chunks
        np.testing.assert_array_equal(result.compute(), func(eager))


def test_accessor_labels_and_dataset():
    data = nan_data((9, 10), seed=19)
    da = xr.DataArray(data, dims=("y", "x"), name="z",
                      attrs={"units": "m", "standard_name": "altitude", "long_name": "elevation",
                             "flag_values": [1, 2], "flag_meanings": "a b"})
    med = da.focal.median(ANNULUS, boundary="nearest")
    np.testing.assert_array_equal(med.values, xf.focal_median(data, ANNULUS, boundary="nearest"))
    assert med.attrs["cell_methods"] == "y: x: median (focal footprint of 20 cells)"
    assert med.attrs["units"] == "m" and med.attrs["standard_name"] == "altitude"
    assert "flag_values" not in med.attrs
    maj = da.focal.majority(ANNULUS)
    assert maj.attrs["cell_methods"].endswith("mode (focal footprint of 20 cells)")
    assert maj.attrs["flag_meanings"] == "a b"
    var = da.focal.variety(ANNULUS)
    assert var.attrs["units"] == "1" and "cell_methods" not in var.attrs
    assert "standard_name" not in var.attrs
    p = da.focal.percentile(np.ones((3, 3)), 90, name="p90")
    assert p.name == "p90" and p.attrs["long_name"] == "focal percentile q=90 of elevation"
    assert "cell_methods" not in p.attrs
    hs = da.focal.hotspots(np.ones((3, 3)))
    assert hs.dtype == np.int8 and list(hs.attrs["flag_values"]) == [-99, -95, -90, 0, 90, 95, 99]
    ds = xr.Dataset({"a": da, "b": da * 2, "t": ("time", [1, 2])})
    out = ds.focal.stats(ANNULUS, ("median", "variety"))
    np.testing.assert_array_equal(out["b_median"].values, xf.focal_median(data * 2, ANNULUS))
    np.testing.assert_array_equal(ds.focal.percentile(ANNULUS, 25)["a"].values,
                                  xf.focal_percentile(data, ANNULUS, 25))
    import numba

    @numba.njit
    def top(v):
        return v.max()

    applied = ds.focal.apply(np.ones((3, 3)), top)
    np.testing.assert_array_equal(applied["a"].values, xf.focal_max(data, np.ones((3, 3))))
    assert "units" not in applied["a"].attrs
    assert applied["t"].identical(ds["t"])


def test_inputs_are_not_modified():
    data = nan_data((8, 9), seed=20)
    before = data.copy()
    xf.focal_stats(data, ANNULUS, ("median", "majority", "minority", "variety"))
    xf.focal_percentile(data, ANNULUS, 5)
    xf.hotspots(data, ANNULUS)
    np.testing.assert_array_equal(data, before)


# --- every backend (the cupy ones run on a GPU machine, and skip elsewhere) ------------------

@pytest.mark.parametrize("size", [5, 9])  # GPU: unrolled network (25 cells), insertion (81)
def test_order_statistics_on_every_backend(backend, size):
    data = nan_data((2, 21, 23), seed=21).astype(np.float32)
    fp = np.ones((size, size))
    fp[size // 2, 0] = 0
    arr = backend.to_backend(data)
    got = backend.to_numpy_all({
        "median": xf.focal_median(arr, fp, boundary="reflect"),
        "p10": xf.focal_percentile(arr, fp, 10, boundary="constant", nan_policy="omit"),
        "p90": xf.focal_percentile(arr, fp, 90, boundary="nan", min_count=size),
    })
    assert got["median"].dtype == np.float32
    ref = data.astype(np.float64)
    np.testing.assert_array_equal(got["median"], ref_order(ref, fp, boundary="reflect").astype(np.float32))
    np.testing.assert_array_equal(got["p10"], ref_order(ref, fp, 10, boundary="constant").astype(np.float32))
    np.testing.assert_array_equal(got["p90"], ref_order(ref, fp, 90, min_count=size).astype(np.float32))


def test_hotspots_on_every_backend(backend):
    rng = np.random.default_rng(22)
    data = rng.standard_normal((2, 16, 18)).cumsum(axis=-1)
    got = backend.to_numpy(xf.hotspots(backend.to_backend(data), ANNULUS, boundary="nearest"))
    for i in range(2):
        np.testing.assert_array_equal(got[i], ref_gistar_classes(data[i], ANNULUS, "nearest"))


# --- found in review -------------------------------------------------------------------


def test_integer_classes_beyond_2_53_are_refused_and_large_float_classes_kept_apart():
    b = 2 ** 62
    with pytest.raises(xf.FocalValueError, match="beyond 2\\*\\*53"):
        xf.focal_majority(np.array([[b + 1, b + 3, b + 3]], dtype=np.int64), np.ones((1, 3)))
    big = np.array([[2.0 ** 53, 2.0 ** 53 + 2, 2.0 ** 53 + 2]])
    np.testing.assert_array_equal(
        xf.focal_majority(big, np.ones((1, 3)), boundary="nearest") - 2.0 ** 53, [[0, 2, 2]])
    np.testing.assert_array_equal(
        xf.focal_variety(np.array([[1e19, 1e19 + 4096, 1e19]]), np.ones((1, 3))),
        [[2, 2, 2]])


def test_apply_refuses_a_callable_numba_cannot_compile_by_name():
    with pytest.raises(xf.FocalTypeError, match="func 'median' cannot be compiled"):
        xf.focal_apply(np.zeros((3, 3)), np.ones((3, 3)), np.median)


def test_accessor_percentile_apply_hotspots_take_a_boundary_per_dim():
    da = xr.DataArray(np.random.default_rng(0).normal(size=(5, 6)), dims=("y", "x"))
    per_dim = {"y": "nearest", "x": "wrap"}
    np.testing.assert_array_equal(
        da.focal.percentile(np.ones((3, 3)), 50, boundary=per_dim).values,
        xf.focal_percentile(da.values, np.ones((3, 3)), 50, boundary=("nearest", "wrap")))
    np.testing.assert_array_equal(
        da.focal.apply(np.ones((3, 3)), lambda v: v.max(), boundary=per_dim).values,
        xf.focal_max(da.values, np.ones((3, 3)), boundary=("nearest", "wrap")))
    np.testing.assert_array_equal(
        da.focal.hotspots(np.ones((3, 3)), boundary=per_dim).values,
        xf.hotspots(da.values, np.ones((3, 3)), boundary=("nearest", "wrap")))


def test_a_plain_python_func_is_jitted_once():
    from xarray_focal import api

    def spread(v):
        return v.max() - v.min()

    assert api._check_func(spread) is api._check_func(spread)


# --- the shared-column median kernels of full boxes (boxnet) --------------------------------

def test_generated_box_kernels_are_in_sync_with_their_generator():
    from xarray_focal._algorithms.rank import boxnet

    assert boxnet.GENERATED.read_text() == boxnet.module_source()


@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (5, 3), (5, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_box_median_kernels_match_nanmedian(shape, dtype):
    # Rows 0-9 NaN-free (the generated kernels), a NaN at (14, 300) and a NaN run in row 20
    # (the counting network for the rows whose windows reach them): both paths, one call.
    # 600 columns: several strips; ties, +-inf and a large offset in every row.
    assert rank_backend._box_code(_runs(np.ones(shape)), np.array([np.nan])) != 0
    rng = np.random.default_rng(sum(shape))
    data = (rng.integers(0, 6, (24, 600)) * 0.5 + 3e7).astype(dtype)
    data[rng.random(data.shape) < 0.01] = np.inf
    data[rng.random(data.shape) < 0.01] = -np.inf
    data[14, 300] = np.nan
    data[20, 40:90] = np.nan
    fp = np.ones(shape)
    for boundary in ("nearest", "nan", "wrap"):
        got = xf.focal_median(data, fp, boundary=boundary)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, ref_order(data, fp, boundary=boundary).astype(dtype))


def _runs(footprint):
    from xarray_focal._algorithms.runs import kernel_runs

    return kernel_runs(np.asarray(footprint, dtype=np.float64))


def test_box_median_tiny_arrays_and_other_statistics_keep_the_general_network():
    fp = np.ones((5, 5))
    assert rank_backend._box_code(_runs(fp), np.array([50.0])) == 0  # a percentile
    assert rank_backend._box_code(_runs(ANNULUS), np.array([np.nan])) == 0  # not a full box
    assert rank_backend._box_code(_runs(np.ones((7, 5))), np.array([np.nan])) == 0  # 35 cells
    for shape in [(1, 1), (1, 2), (2, 1), (3, 4), (6, 5)]:  # narrower than the box
        data = np.random.default_rng(shape[1]).standard_normal(shape) - 1e9
        for boundary in ("reflect", "nan"):
            np.testing.assert_array_equal(xf.focal_median(data, fp, boundary=boundary),
                                          ref_order(data, fp, boundary=boundary))


@requires_dask
def test_box_median_dask_is_numpy():
    import dask.array as da

    data = nan_data((2, 23, 31), seed=31, nan_fraction=0.02)
    for chunks in [(1, 7, 9), (2, 23, 4)]:
        lazy = xf.focal_median(da.from_array(data, chunks=chunks), np.ones((5, 5)),
                               boundary="reflect")
        np.testing.assert_array_equal(lazy.compute(),
                                      xf.focal_median(data, np.ones((5, 5)), boundary="reflect"))


# --- percentiles in focal_stats (q=) ---------------------------------------------------------

def test_focal_stats_percentiles_match_nanpercentile(engine):
    data = nan_data((2, 12, 15), seed=40)
    data[0, 3:6, :] = np.round(data[0, 3:6, :], -2)  # ties
    fp = np.ones((3, 5))
    qs = (0, 2.5, 50, 90, 100 / 3, 100)
    out = xf.focal_stats(data, fp, ("mean", "percentile", "median"), q=qs, boundary="reflect")
    names = ["percentile_0", "percentile_2.5", "percentile_50", "percentile_90",
             "percentile_33.333333333333336", "percentile_100"]
    assert list(out) == ["mean", *names, "median"]
    for name, q in zip(names, qs):
        np.testing.assert_array_equal(out[name], ref_order(data, fp, q, boundary="reflect"))
    np.testing.assert_array_equal(out["median"], ref_order(data, fp, boundary="reflect"))
    np.testing.assert_array_equal(out["mean"], xf.focal_mean(data, fp, boundary="reflect"))
    # One q, min_count and propagate as for focal_percentile.
    for policy, min_count in (("omit", 9), ("propagate", None)):
        one = xf.focal_stats(data, fp, ("percentile",), q=np.float32(75), nan_policy=policy,
                             min_count=min_count)
        assert list(one) == ["percentile_75"]
        np.testing.assert_array_equal(
            one["percentile_75"], ref_order(data, fp, 75, policy=policy, min_count=min_count))


@pytest.mark.parametrize("stats, q, error, match", [
    (("mean",), 90, FocalValueError, "no \"percentile\""),
    (("mean", "percentile"), None, FocalTypeError, "give its q="),
    (("percentile",), (90, 90.0), FocalValueError, "twice"),
    (("percentile",), (10, 101), FocalValueError, "between 0 and 100"),
    (("percentile",), "90", FocalTypeError, "q must be"),
    (("percentile",), (), FocalValueError, "q is empty"),
    (("percentile",), (10, True), FocalTypeError, "q must be a real number"),
])
def test_focal_stats_q_is_checked(stats, q, error, match):
    with pytest.raises(error, match=match):
        xf.focal_stats(np.ones((5, 5)), np.ones((3, 3)), stats, q=q)


@requires_dask
def test_focal_stats_percentiles_dask_is_numpy():
    import dask.array as da

    data = nan_data((2, 17, 19), seed=41)
    for fp in (np.ones((3, 3)), np.ones((9, 7))):  # network and bitset engines
        eager = xf.focal_stats(data, fp, ("percentile", "variety"), q=(5, 95), boundary="wrap")
        for chunks in [(1, 6, 7), (2, 17, 5)]:
            lazy = xf.focal_stats(da.from_array(data, chunks=chunks), fp, ("percentile", "variety"),
                                  q=(5, 95), boundary="wrap")
            assert list(lazy) == list(eager)
            for name in eager:
                np.testing.assert_array_equal(lazy[name].compute(), eager[name])


def test_accessor_stats_percentiles_dataarray_and_dataset():
    data = nan_data((9, 11), seed=42)
    attrs = {"units": "K", "standard_name": "air_temperature", "long_name": "temperature",
             "cell_methods": "time: mean"}
    da = xr.DataArray(data, dims=("y", "x"), name="t", attrs=attrs)
    fp = np.ones((3, 3))
    out = da.focal.stats(fp, ("median", "percentile"), q=(10, 90))
    assert list(out.data_vars) == ["median", "percentile_10", "percentile_90"]
    np.testing.assert_array_equal(out["percentile_10"].values, ref_order(data, fp, 10))
    p90 = out["percentile_90"]
    assert p90.attrs["long_name"] == "focal percentile q=90 of temperature"
    assert p90.attrs["cell_methods"] == "time: mean"  # the input's; CF has no percentile
    assert p90.attrs["units"] == "K" and p90.attrs["standard_name"] == "air_temperature"
    assert out["median"].attrs["cell_methods"] == "time: mean y: x: median (focal footprint of 9 cells)"
    ds = xr.Dataset({"a": da, "b": da * 2})
    dout = ds.focal.stats(fp, ("percentile",), q=2.5)
    assert list(dout.data_vars) == ["a_percentile_2.5", "b_percentile_2.5"]
    np.testing.assert_array_equal(dout["b_percentile_2.5"].values, ref_order(data * 2, fp, 2.5))
    assert dout["a_percentile_2.5"].attrs["long_name"] == "focal percentile q=2.5 of temperature"


def test_statistics_without_a_cf_method_keep_the_inputs_cell_methods():
    import numba

    @numba.njit
    def top(v):
        return v.max()

    data = np.round(nan_data((8, 9), seed=43) / 50)
    da = xr.DataArray(data, dims=("y", "x"), name="c",
                      attrs={"cell_methods": "time: mean (interval: 1 day)", "units": "1"})
    fp = np.ones((3, 3))
    results = {
        "percentile": da.focal.percentile(fp, 30),
        "minority": da.focal.minority(fp),
        "variety": da.focal.variety(fp),
        "apply": da.focal.apply(fp, top),
        "stats variety": da.focal.stats(fp, ("variety", "minority"))["variety"],
        "dataset minority": xr.Dataset({"c": da}).focal.minority(fp)["c"],
    }
    for what, r in results.items():
        assert r.attrs.get("cell_methods") == "time: mean (interval: 1 day)", what
    np.testing.assert_array_equal(results["minority"].values, ref_classes(data, fp, "minority"))
    # The ones CF names still append their focal entry.
    assert da.focal.majority(fp).attrs["cell_methods"] == (
        "time: mean (interval: 1 day) y: x: mode (focal footprint of 9 cells)")


def test_focal_stats_percentiles_on_every_backend(backend):
    data = nan_data((2, 13, 14), seed=44).astype(np.float32)
    fp = np.ones((5, 5))
    out = xf.focal_stats(backend.to_backend(data), fp, ("median", "percentile"), q=(10, 90),
                         boundary="reflect")
    got = backend.to_numpy_all(out)
    ref = data.astype(np.float64)
    np.testing.assert_array_equal(got["median"], ref_order(ref, fp, boundary="reflect").astype(np.float32))
    for q in (10, 90):
        np.testing.assert_array_equal(got[f"percentile_{q}"],
                                      ref_order(ref, fp, q, boundary="reflect").astype(np.float32))


def test_bitset_dense_windows_every_rank_position():
    # 21 x 21 windows in a small task region: many window bits per 64-bit word, so the
    # pivot word's popcounts and the in-word selection (halves of 32, 16, 8 bits) all run;
    # q 0 and 100 select the lowest and highest set bit, 50 the middle pair (even counts).
    data = nan_data((45, 47), seed=45, nan_fraction=0.1)
    data[10:14, :] = np.round(data[10:14, :], -2)  # ties
    fp = np.ones((21, 21))
    fp[3, 4] = 0
    for q in (0, 1, 50, 99, 100):
        got = xf.focal_percentile(data, fp, q, boundary="mirror")
        np.testing.assert_array_equal(got, ref_order(data, fp, q, boundary="mirror"))
    np.testing.assert_array_equal(xf.focal_median(data, fp, boundary="nan"), ref_order(data, fp))


def test_focal_stats_percentiles_with_a_geodesic_kernel_are_the_single_percentiles():
    lat, lon = np.arange(-60.0, 61, 10), np.arange(0.0, 360, 15)
    data = nan_data((lat.size, lon.size), seed=46, nan_fraction=0.1)
    da = xr.DataArray(data, dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    kernel = da.focal.circle_kernel("1500 km")
    out = da.focal.stats(kernel, ("median", "percentile"), q=(10, 90))
    assert list(out.data_vars) == ["median", "percentile_10", "percentile_90"]
    for q in (10, 90):
        np.testing.assert_array_equal(out[f"percentile_{q}"].values,
                                      da.focal.percentile(kernel, q).values)
    np.testing.assert_array_equal(out["median"].values, da.focal.median(kernel).values)


@pytest.mark.parametrize("cluster", [4, 10**6])
def test_bitset_values_apart_only_in_their_last_bits(cluster):
    # The bitset engine sorts keys that drop a value's last mantissa bits: values that
    # differ only there must still come out in exact order (short runs: insertion; a
    # whole region in one run: the fallback sort). Negative values, -0.0 and +-inf too.
    rng = np.random.default_rng(47)
    shape = (30, 33)
    k = rng.permutation(shape[0] * shape[1]) % cluster
    base = np.where(rng.random(shape) < 0.5, -(2.0 ** 30), 2.0 ** 30)
    if cluster > 10:
        base[:] = 2.0 ** 30
    data = base + k.reshape(shape) * np.spacing(2.0 ** 30)
    if cluster <= 10:
        data += np.round(rng.standard_normal(shape) * 3) * 1024  # clusters of near-equal values
        data[0, :5] = [-0.0, 0.0, np.inf, -np.inf, np.nan]
    fp = np.ones((9, 9))
    for q in (0, 37, 50, 100):
        got = xf.focal_percentile(data, fp, q, boundary="reflect")
        expected = ref_order(data, fp, q, boundary="reflect")
        finite = np.isfinite(expected)  # numpy gives NaN between a finite and an inf value
        np.testing.assert_array_equal(got[finite], expected[finite])
    np.testing.assert_array_equal(xf.focal_median(data, fp, boundary="reflect"),
                                  ref_order(data, fp, boundary="reflect"))
