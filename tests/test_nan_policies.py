"""nan_policy / min_count of correlate and convolve, against the stacked-window reference.

Tests that take the ``backend`` fixture run on numpy, dask, cupy and dask+cupy; those with
a ``method`` parameter are the numpy backend's algorithms and run there only.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xarray_focal as xf

from . import has_dask, requires_dask
from .backends import lazy_chunk_params
from .conftest import awkward_data
from .kernels import INEXACT, KERNELS, POLICY, POLICY_BACKENDS, RENORMALIZE
from .reference import (
    BOUNDARIES,
    assert_close_to_numpy_backend,
    assert_matches_contract,
    assert_policy_accuracy,
    reference_nan_policy,
    reference_windows,
)

POLICIES = ["propagate", "omit", "renormalize"]
dask_chunkings = [(7, 9), (2, 3), (40, 1), (13, 61), (37, 61)] if has_dask else []


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kname", sorted(POLICY) + sorted(INEXACT))
@pytest.mark.parametrize("method", ["direct", "runs", "columns"])
def test_policy_matches_reference(policy, boundary, kname, method):
    data = awkward_data((25, 33), nan_fraction=0.15, seed=2)
    kernel = KERNELS[kname]
    result = xf.correlate(data, kernel, boundary=boundary, cval=2.5, nan_policy=policy,
                          method=method)
    expected = reference_nan_policy(data, kernel, policy, boundary, 2.5)
    assert_policy_accuracy(result, expected, data, kernel, policy, boundary, 2.5)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kname", POLICY_BACKENDS)
def test_policy_matches_reference_on_every_backend(backend, policy, boundary, kname):
    data = awkward_data((25, 53), nan_fraction=0.15, seed=2)
    kernel = KERNELS[kname]
    result = backend.to_numpy(xf.correlate(backend.to_backend(data), kernel, boundary=boundary,
                                           cval=2.5, nan_policy=policy))
    expected = reference_nan_policy(data, kernel, policy, boundary, 2.5)
    assert_policy_accuracy(result, expected, data, kernel, policy, boundary, 2.5)
    cpu = xf.correlate(data, kernel, boundary=boundary, cval=2.5, nan_policy=policy)
    np.testing.assert_array_equal(np.isnan(result), np.isnan(cpu))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("min_count", [0, 1, 5, 9])
def test_min_count(backend, policy, min_count):
    data = awkward_data((20, 22), nan_fraction=0.3, seed=5)
    kernel = np.ones((3, 3))
    result = backend.to_numpy(xf.correlate(backend.to_backend(data), kernel, boundary="reflect",
                                           nan_policy=policy, min_count=min_count))
    expected = reference_nan_policy(data, kernel, policy, "reflect", min_count=min_count)
    assert_policy_accuracy(result, expected, data, kernel, policy, "reflect")


@pytest.mark.parametrize("policy", POLICIES)
def test_float32_policy(backend, policy):
    data = awkward_data((30, 30), np.float32, nan_fraction=0.1)
    kernel = KERNELS["weights"]
    result = backend.to_numpy(xf.convolve(backend.to_backend(data), kernel, nan_policy=policy,
                                          boundary="nearest"))
    assert result.dtype == np.float32
    expected = reference_nan_policy(data, kernel[::-1, ::-1], policy, "nearest")
    assert_policy_accuracy(result, expected, data, kernel[::-1, ::-1], policy, "nearest", rtol=1e-5)
    if policy != "propagate":
        # omit/renormalize sum in float64 on every backend (on the GPU the reduce kernel);
        # plain propagate on the GPU takes the correlate kernel's float32 sums (contract above).
        cpu = xf.convolve(data, kernel, nan_policy=policy, boundary="nearest")
        assert_close_to_numpy_backend(result, cpu, "sum")


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


@pytest.mark.parametrize("kname", sorted(INEXACT) + sorted(POLICY))
@pytest.mark.parametrize("method", ["direct", "runs", "columns"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_renormalize_without_missing_taps_is_propagate_bit_for_bit(kname, method, dtype):
    kernel = KERNELS[kname]
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


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("boundary", ["reflect", "nearest", "wrap", "constant"])
@pytest.mark.parametrize("kname", RENORMALIZE)
def test_renormalize_without_missing_taps_is_omit_and_propagate(backend, kname, boundary, dtype):
    # NaN-free data: no tap is ever missing, so renormalize must be the plain weighted sum,
    # bit for bit the value of omit and of propagate on the same kernel (not scaled by a
    # Sum(w) / Sum(w valid) that rounds away from 1).
    data = awkward_data((37, 53), dtype, seed=4)
    kernel = KERNELS[kname]
    arr = backend.to_backend(data, chunks=(11, 20))

    def run(**kw):
        return backend.to_numpy(xf.correlate(arr, kernel, boundary=boundary, cval=2.5, **kw))

    renorm = run(nan_policy="renormalize")
    assert renorm.dtype == dtype
    np.testing.assert_array_equal(renorm, run(nan_policy="omit"))
    # min_count takes propagate through the same NaN-aware kernel as renormalize.
    np.testing.assert_array_equal(renorm, run(nan_policy="propagate", min_count=1))
    assert_matches_contract(renorm, data, kernel, boundary, 2.5)


@pytest.mark.parametrize("kname", sorted(INEXACT))
def test_renormalize_with_holes_matches_the_reference(kname):
    kernel = KERNELS[kname]
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


@pytest.mark.parametrize("kname", RENORMALIZE)
def test_renormalize_scales_only_windows_with_missing_taps(backend, kname):
    # With centre_minus_ring the valid weights of one cell cancel (0.1 + 0.2 + ... - 1.0):
    # one order of summing gives exactly 0, another 1e-16 -- NaN by the cancellation rule
    # either way, not -5.5e15.
    data = awkward_data((41, 47), nan_fraction=0.04, seed=8)
    kernel = KERNELS[kname]
    arr = backend.to_backend(data)
    renorm = backend.to_numpy(xf.correlate(arr, kernel, boundary="nan", nan_policy="renormalize"))
    omit = backend.to_numpy(xf.correlate(arr, kernel, boundary="nan", nan_policy="omit"))
    stack, _ = reference_windows(data, kernel, "nan")
    complete = np.all(~np.isnan(stack), axis=0)
    assert complete.sum() > 100 and (~complete).sum() > 100
    np.testing.assert_array_equal(renorm[complete], omit[complete])
    expected = reference_nan_policy(data, kernel, "renormalize", "nan")
    assert_policy_accuracy(renorm, expected, data, kernel, "renormalize", "nan")


def test_renormalize_nan_where_valid_weights_cancel(backend):
    def renormalize(data, kernel, boundary):
        return backend.to_numpy(xf.correlate(backend.to_backend(data), kernel,
                                             nan_policy="renormalize", boundary=boundary))

    # valid weights at x=1: 1 + (-1) = 0
    assert np.isnan(renormalize(np.array([[1.0, np.nan, 5.0]]), np.array([[1.0, 2.0, -1.0]]),
                                "nearest")[0, 1])
    # At x=1 the valid taps (weights 1 and -1) cancel, the NaN tap held the kernel's 0.5.
    assert np.isnan(renormalize(np.array([[2.0, np.nan, 3.0]]), np.array([[1.0, 0.5, -1.0]]),
                                "nan")[0, 1])
    r = renormalize(np.array([[2.0, 5.0, 2.0]]), np.array([[1.0, 1.0, -1.0]]), "nan")
    assert np.isnan(r[0, 0]) and r[0, 1] == 5.0


def test_inf_is_not_missing(backend):
    data = np.ones((5, 5))
    data[2, 2] = np.inf
    data[0, 4] = np.nan
    wide = np.ones((5, 9))
    wide[2, 4] = np.inf
    wide[0, 0] = np.nan
    for policy in ("omit", "renormalize"):
        r = backend.to_numpy(xf.correlate(backend.to_backend(data), np.ones((3, 3)),
                                          nan_policy=policy, boundary="nearest"))
        assert r[2, 2] == np.inf and r[1, 1] == np.inf and np.isfinite(r[0, 0])
        r = backend.to_numpy(xf.correlate(backend.to_backend(wide), np.ones((3, 3)),
                                          boundary="nearest", nan_policy=policy))
        assert np.isinf(r[2, 4]) and np.isinf(r[1, 3]) and np.isfinite(r[0, 0])
        np.testing.assert_array_equal(r, xf.correlate(wide, np.ones((3, 3)), boundary="nearest",
                                                      nan_policy=policy))


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


def test_renormalize_of_a_holey_constant_field_is_that_constant(backend):
    data = np.full((40, 50), 7.25)
    data[awkward_data((40, 50), seed=3) > 120] = np.nan
    kernel = xf.circle_kernel(1, 1, 4)
    result = backend.to_numpy(xf.correlate(backend.to_backend(data), kernel / kernel.sum(),
                                           boundary="nan", nan_policy="renormalize"))
    ok = ~np.isnan(result)
    assert ok.sum() > 100
    np.testing.assert_allclose(result[ok], 7.25, rtol=1e-13)


@requires_dask
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("chunks", [(5, 7), (2, 40), (13, 3)])
def test_dask_policy_equals_numpy(policy, chunks):
    import dask.array as da

    data = awkward_data((2, 26, 40), nan_fraction=0.2)
    arr = da.from_array(data, chunks=(1,) + chunks)
    for kernel in (KERNELS["annulus"], KERNELS["random5x7"]):
        r = xf.correlate(arr, kernel, nan_policy=policy, boundary="wrap", min_count=3)
        assert r.chunks == arr.chunks and r.name.startswith("focal-")
        # Per cell the same sums in the same order whatever the chunk: the same bits.
        np.testing.assert_array_equal(
            r.compute(),
            xf.correlate(data, kernel, nan_policy=policy, boundary="wrap", min_count=3))


@pytest.mark.parametrize("backend,chunks", lazy_chunk_params(dask_chunkings),
                         indirect=["backend"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("policy", POLICIES)
def test_chunked_policy_matches_reference(backend, policy, boundary, chunks):
    data = awkward_data((37, 61), nan_fraction=0.1, seed=12)
    kernel = KERNELS["wide5x9"]
    arr = backend.to_backend(data, chunks=chunks)
    result = xf.correlate(arr, kernel, boundary=boundary, cval=7.0, nan_policy=policy,
                          min_count=3)
    assert result.chunks == arr.chunks
    expected = reference_nan_policy(data, kernel, policy, boundary, 7.0, min_count=3)
    assert_policy_accuracy(backend.to_numpy(result), expected, data, kernel, policy, boundary,
                           7.0)


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


def test_renormalize_is_nan_where_the_valid_weights_cancel_to_rounding(backend):
    # Kernel weights 0.1, 0.2, -0.3, (0), 0.7: at x=2 the 0.7 tap reads the NaN at x=4 and
    # the valid weights 0.1 + 0.2 - 0.3 sum to 5.6e-17 in float64, not 0 -- rescaling by
    # 0.7 / 5.6e-17 made the result 1e16 times too large. Now NaN.
    kernel = np.array([[0.1, 0.2, -0.3, 0.0, 0.7]])
    assert 0.1 + 0.2 - 0.3 != 0.0  # the rounding the rule is about
    data = np.array([[1.0, 2.0, 3.0, 4.0, np.nan, 6.0, 7.0]])
    arr = backend.to_backend(data)
    renorm = backend.to_numpy(xf.correlate(arr, kernel, boundary="nan", nan_policy="renormalize"))
    omit = backend.to_numpy(xf.correlate(arr, kernel, boundary="nan", nan_policy="omit"))
    assert np.isnan(renorm[0, 2])
    assert renorm[0, 3] == omit[0, 3]  # x=3 reads x=1, 2, 3 and 5: nothing missing
    expected = reference_nan_policy(data, kernel, "renormalize", "nan")
    np.testing.assert_array_equal(np.isnan(renorm), np.isnan(expected))
