"""Hypothesis properties over shapes, dtypes, chunkings, boundaries and kernels.

Profiles live in tests/conftest.py ("ci" when the CI variable is set, "dev" otherwise).
Comparisons use the accuracy bounds of docs/contract.md (scaled by sum|w x|) rather than bit
equality, so they keep holding when the CPU algorithms change (separable passes,
running sums, FFT) -- NaN patterns are always compared exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import xarray_focal as xf  # noqa: E402

from . import has_dask  # noqa: E402
from .reference import BOUNDARIES, assert_matches_contract, reference_correlate  # noqa: E402

RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}

# --- strategies ----------------------------------------------------------------------------

boundaries = st.sampled_from(BOUNDARIES)
cvals = st.floats(-100, 100, allow_nan=False, width=32).map(float)
odd_sides = st.sampled_from([1, 3, 5, 7, 9])


@st.composite
def kernels(draw, shape=None):
    """Odd-sided kernels, often sparse (zero taps matter: they are never read)."""
    shape = shape or (draw(odd_sides), draw(odd_sides))
    weights = st.one_of(
        st.just(0.0),
        st.just(1.0),
        st.integers(-3, 3).map(float),
        st.floats(-10, 10, allow_nan=False, allow_infinity=False),
    )
    k = draw(hnp.arrays(np.float64, shape, elements=weights))
    assume(k.any())
    return k


@st.composite
def rasters(draw, dtypes=("float64", "float32", "int16", "uint8", "bool"), nan=True, lead=True):
    """Data of a few dtypes and shapes, floats with optional NaN holes (never inf here)."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    lead_shape = (draw(st.integers(1, 2)),) if lead and draw(st.booleans()) else ()
    shape = lead_shape + (draw(st.integers(1, 24)), draw(st.integers(1, 24)))
    if dtype.kind == "f":
        elements = st.floats(-1e6, 1e6, allow_nan=False, width=dtype.itemsize * 8)
        if nan:
            elements = st.one_of(elements, st.just(float("nan")))
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def chunkings(draw, shape):
    """Random chunks for every axis, including ones smaller than a kernel's reach."""
    chunks = []
    for n in shape:
        sizes = []
        left = n
        while left > 0:
            c = draw(st.integers(1, max(1, left)))
            sizes.append(c)
            left -= c
        chunks.append(tuple(sizes))
    return tuple(chunks)


def assert_close_per_contract(actual, expected, scale, dtype):
    """|actual - expected| within twice the contract bound (two results, each within it)."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg="NaN pattern")
    finite = np.isfinite(expected)
    bound = 2 * RTOL[np.dtype(dtype)] * scale[finite] + np.finfo(dtype).tiny
    assert np.all(np.abs(actual[finite] - expected[finite]) <= bound)


def out_dtype(data):
    return np.dtype(np.float32) if data.dtype == np.float32 else np.dtype(np.float64)


# --- properties ----------------------------------------------------------------------------


@given(data=rasters(), kernel=kernels(), boundary=boundaries, cval=cvals)
def test_numpy_matches_reference(data, kernel, boundary, cval):
    assert_matches_contract(xf.correlate(data, kernel, boundary=boundary, cval=cval), data, kernel, boundary, cval)


@given(data=rasters(), kernel=kernels(), boundary=boundaries, cval=cvals)
def test_convolve_is_correlate_with_flipped_kernel(data, kernel, boundary, cval):
    conv = xf.convolve(data, kernel, boundary=boundary, cval=cval)
    corr = xf.correlate(data, kernel[::-1, ::-1], boundary=boundary, cval=cval)
    scale = reference_correlate(data, kernel[::-1, ::-1], boundary, cval, absolute=True)
    assert conv.dtype == corr.dtype == out_dtype(data)
    assert_close_per_contract(conv, corr, scale, out_dtype(data))
    assert_matches_contract(conv, data, kernel, boundary, cval, convolve=True)


@given(
    data=rasters(),
    shape=st.tuples(odd_sides, odd_sides),
    where=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    boundary=boundaries,
    cval=cvals,
)
def test_delta_kernel_is_identity(data, shape, where, boundary, cval):
    # A single tap of 1 at the centre of a kernel of any odd shape: the zero taps are never
    # read, so no boundary (not even "nan") can change a single cell.
    kernel = np.zeros(shape)
    kernel[shape[0] // 2, shape[1] // 2] = 1.0
    result = xf.correlate(data, kernel, boundary=boundary, cval=cval)
    assert result.dtype == out_dtype(data)
    expected = data.astype(np.float64)
    assert_close_per_contract(result, expected, np.abs(expected), out_dtype(data))


@given(
    x=rasters(dtypes=("float64",), nan=False, lead=False),
    kernel=kernels(),
    a=st.floats(-5, 5),
    b=st.floats(-5, 5),
    seed=st.integers(0, 2**16),
    boundary=boundaries,
)
def test_linear_in_data(x, kernel, a, b, seed, boundary):
    # cval=0: with another constant the operator is affine, not linear.
    y = np.random.default_rng(seed).uniform(-1e3, 1e3, x.shape)
    f = lambda d: xf.correlate(d, kernel, boundary=boundary, cval=0.0)  # noqa: E731
    combo = a * x + b * y
    lhs = f(combo)
    rhs = a * f(x) + b * f(y)
    scale = (
        reference_correlate(combo, kernel, boundary, absolute=True)
        + abs(a) * reference_correlate(x, kernel, boundary, absolute=True)
        + abs(b) * reference_correlate(y, kernel, boundary, absolute=True)
    )
    assert_close_per_contract(lhs, rhs, scale, np.float64)


@given(
    data=rasters(dtypes=("float64", "float32"), nan=False),
    shape=st.tuples(odd_sides, odd_sides),
    pair=st.data(),
    boundary=st.sampled_from([b for b in BOUNDARIES if b != "nan"]),
    cval=cvals,
)
def test_linear_in_kernel(data, shape, pair, boundary, cval):
    k1 = pair.draw(kernels(shape))
    k2 = pair.draw(kernels(shape))
    both = k1 + k2
    # Footprints must add up: no tap of k1 cancelled exactly by k2 (that tap would leave
    # the footprint of the sum and be skipped), and the sum must not vanish.
    assume(np.array_equal(both != 0, (k1 != 0) | (k2 != 0)))
    f = lambda k: xf.correlate(data, k, boundary=boundary, cval=cval)  # noqa: E731
    lhs = f(both)
    rhs = f(k1).astype(np.float64) + f(k2)
    scale = reference_correlate(data, np.abs(k1) + np.abs(k2), boundary, cval, absolute=True)
    assert_close_per_contract(lhs, rhs, scale, out_dtype(data))


@given(data=rasters(), kernel=kernels(), dy=st.integers(-30, 30), dx=st.integers(-30, 30))
def test_wrap_commutes_with_roll(data, kernel, dy, dx):
    f = lambda d: xf.correlate(d, kernel, boundary="wrap")  # noqa: E731
    rolled_first = f(np.roll(data, (dy, dx), axis=(-2, -1)))
    rolled_after = np.roll(f(data), (dy, dx), axis=(-2, -1))
    scale = np.roll(reference_correlate(data, kernel, "wrap", absolute=True), (dy, dx), axis=(-2, -1))
    assert_close_per_contract(rolled_first, rolled_after, scale, out_dtype(data))


@pytest.mark.skipif(not has_dask, reason="needs dask")
@given(data=rasters(), kernel=kernels(), boundary=boundaries, cval=cvals, pick=st.data())
def test_dask_equals_numpy_for_any_chunking(data, kernel, boundary, cval, pick):
    import dask
    import dask.array as da

    chunks = pick.draw(chunkings(data.shape))
    arr = da.from_array(data, chunks=chunks)
    lazy = xf.correlate(arr, kernel, boundary=boundary, cval=cval)
    assert lazy.chunks == arr.chunks
    assert lazy.dtype == out_dtype(data)
    with dask.config.set(scheduler="threads", num_workers=4):
        result = lazy.compute()
    assert result.dtype == out_dtype(data)
    eager = xf.correlate(data, kernel, boundary=boundary, cval=cval)
    scale = reference_correlate(data, kernel, boundary, cval, absolute=True)
    assert_close_per_contract(result, eager, scale, out_dtype(data))
    assert_matches_contract(result, data, kernel, boundary, cval)


@st.composite
def zero_sum_kernels(draw):
    """Kernels whose weights sum to zero up to rounding: any kernel minus its mean."""
    k = draw(kernels())
    k = k - k.mean()
    assume(np.abs(k).sum() > 0)
    return k


@given(data=rasters(dtypes=("float64", "float32")), kernel=zero_sum_kernels(),
       boundary=boundaries, policy=st.sampled_from(["propagate", "omit"]))
def test_zero_sum_kernels_with_propagate_and_omit_match_the_reference(data, kernel, boundary, policy):
    from .reference import reference_nan_policy

    result = xf.correlate(data, kernel, boundary=boundary, nan_policy=policy)
    expected = reference_nan_policy(data, kernel, policy, boundary)
    scale = reference_nan_policy(np.abs(data), np.abs(kernel), "omit", boundary)
    np.testing.assert_array_equal(np.isnan(result), np.isnan(expected))
    ok = ~np.isnan(expected)
    bound = RTOL[out_dtype(data)] * scale[ok] + np.finfo(out_dtype(data)).tiny
    assert np.all(np.abs(np.asarray(result, np.float64)[ok] - expected[ok]) <= bound)


@given(data=rasters(dtypes=("float64",)), kernel=zero_sum_kernels())
def test_zero_sum_kernels_are_refused_for_renormalize(data, kernel):
    with pytest.raises(xf.FocalValueError, match="renormalize"):
        xf.correlate(data, kernel, nan_policy="renormalize")


#: Undecoded nodata sentinels and outliers a user may leave in the data.
SENTINELS = [-3.4028235e38, -9999.0, 1e22, -1e300, 7.5e15]


@given(data=rasters(dtypes=("float64", "float32"), lead=False), footprint=kernels(),
       boundary=boundaries, pick=st.data())
def test_a_sentinel_changes_no_statistic_of_a_window_without_it(data, footprint, boundary, pick):
    """Every statistic of a window is a function of that window's values alone.

    Put one sentinel in one cell: each statistic of every window that does not contain
    the cell (under the boundary's padding) is bit for bit what it is with any other value
    there -- no shift, scale or rounding leaks from outside the window.
    """
    h, w = data.shape
    y, x = pick.draw(st.integers(0, h - 1)), pick.draw(st.integers(0, w - 1))
    sentinel = pick.draw(st.sampled_from(SENTINELS))
    if data.dtype == np.float32:
        sentinel = float(np.float32(max(sentinel, -3.4028235e38)))
    with_sentinel, with_other = data.copy(), data.copy()
    with_sentinel[y, x] = sentinel
    with_other[y, x] = 1.0
    marker = np.zeros(data.shape)
    marker[y, x] = 1.0
    touched = reference_correlate(marker, footprint != 0, boundary, 0.0) != 0
    stats = ("mean", "sum", "count", "min", "max", "range", "std", "var")
    a = xf.focal_stats(with_sentinel, footprint, stats, boundary=boundary)
    b = xf.focal_stats(with_other, footprint, stats, boundary=boundary)
    for name in stats:
        np.testing.assert_array_equal(a[name][~touched], b[name][~touched], err_msg=name)
