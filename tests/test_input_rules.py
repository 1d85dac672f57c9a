"""Inputs the result contract has a rule for, checked at call time on numpy and dask.

Each of these used to give a silently wrong result or an error only at compute time:
float16 and extended-precision data, masked kernels, dask arrays of unknown chunk sizes,
and ``renormalize`` with a kernel whose weights sum to zero.
"""

from __future__ import annotations

import numpy as np
import pytest

import xarray_focal as xf

from . import has_dask, requires_dask
from .reference import assert_matches_contract, reference_nan_policy

BACKENDS = ["numpy", "dask"] if has_dask else ["numpy"]
KERNEL = xf.circle_kernel(1, 1, 2)
#: Zero-mean kernels a scientist uses: a 5-point Laplacian, a 3x3 box minus the 5x5 ring
#: around it (sum 0 only up to rounding), random weights minus their mean, a Sobel filter.
ZERO_SUM = {
    "laplacian": np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "inner_minus_outer_box": np.pad(np.full((3, 3), 1 / 9), 1, constant_values=-1 / 16),
    "zero_mean_random": (lambda k: k - k.mean())(np.random.default_rng(3).random((5, 5))),
    "sobel": np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]),
}


def _as(backend, data, chunks=(7, 9)):
    if backend == "dask":
        import dask.array as da

        return da.from_array(data, chunks=chunks)
    return data


def _compute(result):
    return result.compute() if hasattr(result, "compute") else result


# --- dtypes ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_float16_is_computed_exactly_and_returned_as_float32(backend):
    data = (np.random.default_rng(0).standard_normal((20, 23)) * 100).astype(np.float16)
    result = _compute(xf.correlate(_as(backend, data), KERNEL, boundary="reflect"))
    assert result.dtype == np.float32
    # float16 -> float32 is exact, so the float32 contract holds against the float16 values.
    assert_matches_contract(result, data.astype(np.float32), KERNEL, "reflect")
    stats = xf.focal_stats(_as(backend, data), KERNEL, ("mean", "max"))
    assert {k: _compute(v).dtype for k, v in stats.items()} == {"mean": np.float32, "max": np.float32}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.skipif(np.dtype(np.longdouble).itemsize <= 8, reason="longdouble is float64 here")
def test_longdouble_is_refused_rather_than_rounded_to_float64(backend):
    data = np.ones((9, 9), dtype=np.longdouble)
    with pytest.raises(xf.FocalTypeError, match="extended precision.*astype"):
        xf.correlate(_as(backend, data), KERNEL)
    with pytest.raises(xf.FocalTypeError, match="extended precision"):
        xf.focal_mean(_as(backend, data), KERNEL)


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


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(ZERO_SUM))
@pytest.mark.parametrize("policy", ["propagate", "omit"])
def test_zero_sum_kernels_meet_the_contract_with_propagate_and_omit(policy, name, backend):
    kernel = ZERO_SUM[name]
    data = _holey()
    result = _compute(xf.correlate(_as(backend, data), kernel, boundary="nearest", nan_policy=policy))
    expected = reference_nan_policy(data, kernel, policy, "nearest")
    np.testing.assert_array_equal(np.isnan(result), np.isnan(expected))
    scale = reference_nan_policy(np.abs(data), np.abs(kernel), "omit", "nearest")
    ok = ~np.isnan(expected)
    assert np.all(np.abs(result[ok] - expected[ok]) <= 1e-12 * scale[ok])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(ZERO_SUM))
def test_zero_sum_kernels_are_refused_for_renormalize(name, backend):
    with pytest.raises(xf.FocalValueError, match="renormalize.*sum to.*omit"):
        xf.correlate(_as(backend, _holey()), ZERO_SUM[name], nan_policy="renormalize")
    with pytest.raises(xf.FocalValueError, match="renormalize"):
        xf.convolve(_as(backend, _holey()), ZERO_SUM[name], nan_policy="renormalize")


def test_nearly_zero_sum_threshold_is_relative_to_the_weights():
    # A kernel with a small but real sum (1e-6 of sum|w|) is a legitimate weighted mean.
    kernel = np.array([[1.0, -1.0, 1e-6 * 2]])
    data = np.ones((3, 5))
    out = xf.correlate(data, kernel, nan_policy="renormalize", boundary="nearest")
    np.testing.assert_allclose(out, 2e-6, rtol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_min_count_above_the_footprint_is_refused_not_all_nan(backend):
    data = _as(backend, np.ones((9, 9)))
    ntaps = int((KERNEL != 0).sum())
    with pytest.raises(xf.FocalValueError, match=f"min_count={ntaps + 1}.*{ntaps} cells"):
        xf.focal_mean(data, KERNEL, min_count=ntaps + 1)
    with pytest.raises(xf.FocalValueError, match="min_count"):
        xf.correlate(data, KERNEL, nan_policy="omit", min_count=ntaps + 1)
    # Exactly the footprint is allowed: a full window gives a value.
    out = _compute(xf.focal_mean(data, KERNEL, min_count=ntaps, boundary="nearest"))
    np.testing.assert_array_equal(out, np.ones((9, 9)))
