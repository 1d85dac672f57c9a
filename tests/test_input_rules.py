"""Inputs the result contract has a rule for, checked at call time on every backend.

Each of these used to give a silently wrong result or an error only at compute time:
float16 and extended-precision data, masked kernels, dask arrays of unknown chunk sizes,
and ``renormalize`` with a kernel whose weights sum to zero.
"""

from __future__ import annotations

import numpy as np
import pytest

import xarray_focal as xf

from . import requires_dask
from .backends import backend_params
from .conftest import awkward_data
from .kernels import KERNELS, ZERO_SUM
from .reference import assert_matches_contract, assert_policy_accuracy, reference_nan_policy

KERNEL = KERNELS["circle2"]


# --- dtypes ------------------------------------------------------------------------------


def test_float16_is_computed_exactly_and_returned_as_float32(backend):
    data = (np.random.default_rng(0).standard_normal((20, 23)) * 100).astype(np.float16)
    result = backend.to_numpy(xf.correlate(backend.to_backend(data, (7, 9)), KERNEL,
                                           boundary="reflect"))
    assert result.dtype == np.float32
    # float16 -> float32 is exact, so the float32 contract holds against the float16 values.
    assert_matches_contract(result, data.astype(np.float32), KERNEL, "reflect")
    stats = xf.focal_stats(backend.to_backend(data, (7, 9)), KERNEL, ("mean", "max"))
    stats = backend.to_numpy_all(stats)
    assert {k: v.dtype for k, v in stats.items()} == {"mean": np.float32, "max": np.float32}
    np.testing.assert_array_equal(stats["max"], xf.focal_max(data, KERNEL))


# cupy has no extended-precision dtype: this rule is the host backends'.
@pytest.mark.parametrize("backend", backend_params("numpy", "dask"), indirect=True)
@pytest.mark.skipif(np.dtype(np.longdouble).itemsize <= 8, reason="longdouble is float64 here")
def test_longdouble_is_refused_rather_than_rounded_to_float64(backend):
    data = np.ones((9, 9), dtype=np.longdouble)
    with pytest.raises(xf.FocalTypeError, match="extended precision.*astype"):
        xf.correlate(backend.to_backend(data, (7, 9)), KERNEL)
    with pytest.raises(xf.FocalTypeError, match="extended precision"):
        xf.focal_mean(backend.to_backend(data, (7, 9)), KERNEL)


# --- kernels -----------------------------------------------------------------------------


def test_masked_kernel_is_refused_like_masked_data():
    kernel = np.ma.masked_array(np.ones((3, 3)), mask=np.eye(3, dtype=bool))
    with pytest.raises(xf.FocalTypeError, match="masked array.*filled\\(0\\)"):
        xf.correlate(np.ones((5, 5)), kernel)
    with pytest.raises(xf.FocalTypeError, match="masked array"):
        xf.focal_mean(np.ones((5, 5)), kernel)
    with pytest.raises(xf.FocalTypeError, match="masked array"):
        xf.custom_kernel(kernel)
    # The documented way out works and means what it says: masked taps leave the footprint.
    data = np.arange(25.0).reshape(5, 5)
    np.testing.assert_array_equal(
        xf.correlate(data, kernel.filled(0)), xf.correlate(data, np.where(np.eye(3), 0.0, 1.0))
    )


# --- dask --------------------------------------------------------------------------------


@requires_dask
@pytest.mark.parametrize("call", ["correlate", "focal_mean", "focal_stats"])
def test_unknown_dask_chunk_sizes_fail_at_call_time_naming_the_fix(call):
    import dask.array as da

    arr = da.from_array(np.arange(100.0).reshape(10, 10), chunks=5)
    rows = arr[arr[:, 0] > 20]  # boolean indexing: unknown row chunk sizes
    assert any(np.isnan(c) for c in rows.chunks[0])
    with pytest.raises(xf.FocalValueError, match=r"compute_chunk_sizes\(\)"):
        getattr(xf, call)(rows, KERNEL)
    # After the fix the result is right.
    fixed = rows.compute_chunk_sizes()
    np.testing.assert_array_equal(
        xf.correlate(fixed, KERNEL).compute(), xf.correlate(fixed.compute(), KERNEL)
    )


# --- zero-sum kernels and the NaN policies ----------------------------------------------


def _holey(seed=0, shape=(24, 31)):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape) * 10 + 500
    data[rng.random(shape) < 0.15] = np.nan
    return data


@pytest.mark.parametrize("name", ZERO_SUM)
@pytest.mark.parametrize("policy", ["propagate", "omit"])
def test_zero_sum_kernels_meet_the_contract_with_propagate_and_omit(policy, name, backend):
    kernel = KERNELS[name]
    data = _holey()
    result = backend.to_numpy(xf.correlate(backend.to_backend(data, (7, 9)), kernel,
                                           boundary="nearest", nan_policy=policy))
    expected = reference_nan_policy(data, kernel, policy, "nearest")
    np.testing.assert_array_equal(np.isnan(result), np.isnan(expected))
    scale = reference_nan_policy(np.abs(data), np.abs(kernel), "omit", "nearest")
    ok = ~np.isnan(expected)
    assert np.all(np.abs(result[ok] - expected[ok]) <= 1e-12 * scale[ok])


@pytest.mark.parametrize("name", ZERO_SUM)
def test_zero_sum_kernels_are_refused_for_renormalize(name, backend):
    with pytest.raises(xf.FocalValueError, match="renormalize.*sum to.*omit"):
        xf.correlate(backend.to_backend(_holey(), (7, 9)), KERNELS[name], nan_policy="renormalize")
    with pytest.raises(xf.FocalValueError, match="renormalize"):
        xf.convolve(backend.to_backend(_holey(), (7, 9)), KERNELS[name], nan_policy="renormalize")
    # omit still works and meets the contract.
    data = awkward_data((20, 20), nan_fraction=0.1)
    omit = backend.to_numpy(xf.correlate(backend.to_backend(data), KERNELS[name],
                                         nan_policy="omit", boundary="nearest"))
    assert_policy_accuracy(omit, reference_nan_policy(data, KERNELS[name], "omit", "nearest"),
                           data, KERNELS[name], "omit", "nearest")


def test_nearly_zero_sum_threshold_is_relative_to_the_weights():
    # A kernel with a small but real sum (1e-6 of sum|w|) is a legitimate weighted mean.
    kernel = np.array([[1.0, -1.0, 1e-6 * 2]])
    data = np.ones((3, 5))
    out = xf.correlate(data, kernel, nan_policy="renormalize", boundary="nearest")
    np.testing.assert_allclose(out, 2e-6, rtol=1e-9)


def test_min_count_above_the_footprint_is_refused_not_all_nan(backend):
    data = backend.to_backend(np.ones((9, 9)), (7, 9))
    ntaps = int((KERNEL != 0).sum())
    with pytest.raises(xf.FocalValueError, match=f"min_count={ntaps + 1}.*{ntaps} cells"):
        xf.focal_mean(data, KERNEL, min_count=ntaps + 1)
    with pytest.raises(xf.FocalValueError, match="min_count"):
        xf.correlate(data, KERNEL, nan_policy="omit", min_count=ntaps + 1)
    # Exactly the footprint is allowed: a full window gives a value.
    out = backend.to_numpy(xf.focal_mean(data, KERNEL, min_count=ntaps, boundary="nearest"))
    np.testing.assert_array_equal(out, np.ones((9, 9)))
