"""nan_policy / min_count of correlate and convolve, against the stacked-window reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xarray_focal as xf

from . import requires_dask
from .conftest import awkward_data
from .reference import BOUNDARIES, assert_policy_accuracy, reference_nan_policy

POLICIES = ["propagate", "omit", "renormalize"]
KERNELS = {
    "circle": xf.circle_kernel(1, 1, 2),
    "annulus": xf.annulus_kernel(1, 1, 2, 1),
    "weights": np.array([[0.5, 0.0, -1.0], [2.0, 1.0, 0.0], [0.0, 3.0, 0.25]]),
}
#: Kernels whose weight sum is not what any order of summing gives exactly: the ratio of
#: the full sum to a sum over valid taps is then not 1 even with no tap missing.
INEXACT_KERNELS = {
    "random": np.random.default_rng(17).random((5, 7)) - 0.3,
    "tenths": np.full((3, 3), 0.1),
    "normalised": xf.circle_kernel(1, 1, 3) / xf.circle_kernel(1, 1, 3).sum(),
    "mixed_signs": np.array([[0.3, -0.7, 0.1], [-0.2, 1.1, -0.6], [0.7, 0.35, -0.45]]),
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kname", sorted(KERNELS) + sorted(INEXACT_KERNELS))
@pytest.mark.parametrize("method", ["direct", "runs", "columns"])
def test_policy_matches_reference(policy, boundary, kname, method):
    data = awkward_data((25, 33), nan_fraction=0.15, seed=2)
    kernel = {**KERNELS, **INEXACT_KERNELS}[kname]
    result = xf.correlate(data, kernel, boundary=boundary, cval=2.5, nan_policy=policy,
                          method=method)
    expected = reference_nan_policy(data, kernel, policy, boundary, 2.5)
    assert_policy_accuracy(result, expected, data, kernel, policy, boundary, 2.5)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("min_count", [0, 1, 5, 9])
def test_min_count(policy, min_count):
    data = awkward_data((20, 22), nan_fraction=0.3, seed=5)
    kernel = np.ones((3, 3))
    result = xf.correlate(data, kernel, boundary="reflect", nan_policy=policy, min_count=min_count)
    expected = reference_nan_policy(data, kernel, policy, "reflect", min_count=min_count)
    assert_policy_accuracy(result, expected, data, kernel, policy, "reflect")


@pytest.mark.parametrize("policy", POLICIES)
def test_float32_policy(policy):
    data = awkward_data((30, 30), np.float32, nan_fraction=0.1)
    kernel = KERNELS["weights"]
    result = xf.convolve(data, kernel, nan_policy=policy, boundary="nearest")
    assert result.dtype == np.float32
    expected = reference_nan_policy(data, kernel[::-1, ::-1], policy, "nearest")
    assert_policy_accuracy(result, expected, data, kernel[::-1, ::-1], policy, "nearest", rtol=1e-5)


def test_renormalize_is_astropy_interpolate_by_hand():
    # 3x3 box over a hole: the mean of the 8 valid neighbours times the full weight sum.
    data = np.arange(25.0).reshape(5, 5)
    data[2, 2] = np.nan
    k = np.ones((3, 3)) / 9
    result = xf.correlate(data, k, nan_policy="renormalize")
    neighbours = [6, 7, 8, 11, 13, 16, 17, 18]
    assert result[2, 2] == pytest.approx(np.mean(neighbours), rel=1e-14)
    # boundary="nan": outside taps are missing too, so the corner is the mean of its 4 cells.
    assert result[0, 0] == pytest.approx((0 + 1 + 5 + 6) / 4, rel=1e-14)
    assert np.isnan(xf.correlate(data, k, nan_policy="propagate")[2, 2])
    omit = xf.correlate(data, k, nan_policy="omit", boundary="nan")
    assert omit[0, 0] == pytest.approx((0 + 1 + 5 + 6) / 9, rel=1e-14)


@pytest.mark.parametrize("kname", sorted(INEXACT_KERNELS) + sorted(KERNELS))
@pytest.mark.parametrize("method", ["direct", "runs", "columns"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_renormalize_without_missing_taps_is_propagate_bit_for_bit(kname, method, dtype):
    kernel = {**KERNELS, **INEXACT_KERNELS}[kname]
    data = awkward_data((21, 26), dtype, seed=3)
    assert not np.isnan(data).any()
    for boundary in ("nearest", "wrap", "constant"):
        kw = dict(boundary=boundary, cval=-1.5, method=method)
        renorm = xf.correlate(data, kernel, nan_policy="renormalize", **kw)
        np.testing.assert_array_equal(renorm, xf.correlate(data, kernel, **kw))
        np.testing.assert_array_equal(renorm, xf.correlate(data, kernel, nan_policy="omit", **kw))
    # boundary="nan": outside taps are missing, so only the edge cells are rescaled.
    renorm = xf.correlate(data, kernel, nan_policy="renormalize", method=method)
    plain = xf.correlate(data, kernel, boundary="nearest", method=method)
    full = ~np.isnan(xf.correlate(data, kernel, method=method))
    np.testing.assert_array_equal(renorm[full], plain[full])
    expected = reference_nan_policy(data, kernel, "renormalize", "nan")
    assert_policy_accuracy(renorm, expected, data, kernel, "renormalize", "nan",
                           rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("kname", sorted(INEXACT_KERNELS))
def test_renormalize_with_holes_matches_the_reference(kname):
    kernel = INEXACT_KERNELS[kname]
    data = awkward_data((30, 31), nan_fraction=0.04, seed=4)
    result = xf.correlate(data, kernel, nan_policy="renormalize", boundary="reflect",
                          min_count=2)
    expected = reference_nan_policy(data, kernel, "renormalize", "reflect", min_count=2)
    assert_policy_accuracy(result, expected, data, kernel, "renormalize", "reflect")
    # Cells with every tap valid are the weighted sum; the others are rescaled.
    full = xf.correlate(data, kernel, boundary="reflect", method="direct")
    ok = ~np.isnan(full)
    assert ok.any() and (~ok).any()
    np.testing.assert_array_equal(
        result[ok],
        xf.correlate(data, kernel, nan_policy="omit", boundary="reflect", min_count=2)[ok])


def test_renormalize_nan_where_valid_weights_cancel():
    data = np.array([[1.0, np.nan, 5.0]])
    kernel = np.array([[1.0, 2.0, -1.0]])  # valid weights at x=1: 1 + (-1) = 0
    result = xf.correlate(data, kernel, nan_policy="renormalize", boundary="nearest")
    assert np.isnan(result[0, 1])


def test_inf_is_not_missing():
    data = np.ones((5, 5))
    data[2, 2] = np.inf
    data[0, 4] = np.nan
    for policy in ("omit", "renormalize"):
        r = xf.correlate(data, np.ones((3, 3)), nan_policy=policy, boundary="nearest")
        assert r[2, 2] == np.inf and r[1, 1] == np.inf and np.isfinite(r[0, 0])


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 3), seed=st.integers(0, 100))
def test_hole_larger_than_footprint_gives_nan_under_omit(size, seed):
    data = awkward_data((30, 30), seed=seed)
    data[8:22, 8:22] = np.nan
    kernel = xf.circle_kernel(1, 1, size)
    r = xf.correlate(data, kernel, nan_policy="omit", boundary="nearest")
    inner = r[8 + size:22 - size, 8 + size:22 - size]
    assert np.isnan(inner).all()
    assert not np.isnan(r[:8 - size]).any()


@settings(max_examples=30, deadline=None)
@given(value=st.floats(-1e6, 1e6), nan_fraction=st.sampled_from([0.1, 0.5, 0.9]),
       seed=st.integers(0, 100), radius=st.integers(1, 3))
def test_renormalize_of_constant_field_is_that_constant(value, nan_fraction, seed, radius):
    data = np.full((20, 24), value)
    data[np.random.default_rng(seed).random(data.shape) < nan_fraction] = np.nan
    kernel = xf.circle_kernel(1, 1, radius)
    r = xf.correlate(data, kernel / kernel.sum(), nan_policy="renormalize", boundary="reflect")
    defined = ~np.isnan(r)
    np.testing.assert_allclose(r[defined], value, rtol=1e-12, atol=1e-300)


@requires_dask
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("chunks", [(5, 7), (2, 40), (13, 3)])
def test_dask_policy_equals_numpy(policy, chunks):
    import dask.array as da

    data = awkward_data((2, 26, 40), nan_fraction=0.2)
    arr = da.from_array(data, chunks=(1,) + chunks)
    for kernel in (KERNELS["annulus"], INEXACT_KERNELS["random"]):
        r = xf.correlate(arr, kernel, nan_policy=policy, boundary="wrap", min_count=3)
        assert r.chunks == arr.chunks and r.name.startswith("focal-")
        # Per cell the same sums in the same order whatever the chunk: the same bits.
        np.testing.assert_array_equal(
            r.compute(),
            xf.correlate(data, kernel, nan_policy=policy, boundary="wrap", min_count=3))


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"nan_policy": "ignore"}, ValueError, "nan_policy"),
        ({"nan_policy": None}, ValueError, "nan_policy"),
        ({"min_count": -1}, ValueError, "min_count"),
        ({"min_count": 1.5}, TypeError, "min_count"),
        ({"min_count": True}, TypeError, "min_count"),
    ],
)
def test_bad_policy_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        xf.correlate(np.ones((5, 5)), np.ones((3, 3)), **kwargs)
