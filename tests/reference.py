"""Independent references: numpy.pad + shift-and-add, written without the library's code.

The library builds index maps and gathers rows in numba; the reference pads the whole
array with :func:`numpy.pad` and adds one shifted view per nonzero tap, so the two share
no boundary logic. Zero taps are skipped here too -- that *is* the footprint rule.
"""

from __future__ import annotations

import warnings

import numpy as np

#: Our boundary names -> numpy.pad modes (docs/contract.md's table, written out independently).
PAD_MODES = {
    "nan": "constant",
    "constant": "constant",
    "nearest": "edge",
    "reflect": "symmetric",
    "mirror": "reflect",
    "wrap": "wrap",
}

BOUNDARIES = tuple(PAD_MODES)


def _pad(data: np.ndarray, ry: int, rx: int, boundary: str, cval: float) -> np.ndarray:
    widths = [(0, 0)] * (data.ndim - 2) + [(ry, ry), (rx, rx)]
    mode = PAD_MODES[boundary]
    if mode == "constant":
        fill = np.nan if boundary == "nan" else cval
        return np.pad(data, widths, mode="constant", constant_values=fill)
    return np.pad(data, widths, mode=mode)


def reference_correlate(data, kernel, boundary="nan", cval=0.0, *, absolute=False):
    """Correlation by shift-and-add over the nonzero taps (float64).

    With ``absolute=True`` returns sum(|w * x|), the scale of the accuracy contract.
    """
    data = np.asarray(data, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if absolute:
        data, kernel = np.abs(data), np.abs(kernel)
        cval = abs(cval)
    kh, kw = kernel.shape
    ry, rx = kh // 2, kw // 2
    h, w = data.shape[-2:]
    padded = _pad(data, ry, rx, boundary, cval)
    out = np.zeros(data.shape, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf is NaN here as in the library
        for i, j in zip(*np.nonzero(kernel)):
            out += kernel[i, j] * padded[..., i:i + h, j:j + w]
    return out


def assert_matches_contract(result, data, kernel, boundary="nan", cval=0.0, *, convolve=False):
    """Assert ``result`` meets the accuracy contract (docs/contract.md) against the reference.

    float64: |result - exact| <= 1e-12 * sum|w x|; float32: 1e-5 * sum|w x|; NaN exactly
    where the reference has NaN. Also checks the output dtype rule.
    """
    data = np.asarray(data)
    kernel = np.asarray(kernel, dtype=np.float64)
    if convolve:
        kernel = kernel[::-1, ::-1]
    expected_dtype = np.float32 if data.dtype == np.float32 else np.float64
    assert result.dtype == expected_dtype, (result.dtype, expected_dtype)
    assert result.shape == data.shape
    expected = reference_correlate(data, kernel, boundary, cval)
    scale = reference_correlate(data, kernel, boundary, cval, absolute=True)
    rtol = 1e-5 if expected_dtype == np.float32 else 1e-12
    result = np.asarray(result, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(result), np.isnan(expected), err_msg="NaN pattern")
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(result[~finite & ~np.isnan(expected)],
                                  expected[~finite & ~np.isnan(expected)], err_msg="inf values")
    err = np.abs(result[finite] - expected[finite])
    bound = rtol * scale[finite] + np.finfo(expected_dtype).tiny
    worst = np.argmax(err - bound) if err.size else None
    assert np.all(err <= bound), (
        f"accuracy contract broken: error {err[worst]:.3g} > bound {bound[worst]:.3g}"
    )


def reference_windows(data, kernel, boundary="nan", cval=0.0):
    """Stack of the footprint's shifted windows: shape (ntaps,) + data.shape, and weights."""
    data = np.asarray(data, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    kh, kw = kernel.shape
    ry, rx = kh // 2, kw // 2
    h, w = data.shape[-2:]
    padded = _pad(data, ry, rx, boundary, cval)
    taps = list(zip(*np.nonzero(kernel)))
    stack = np.stack([padded[..., i:i + h, j:j + w] for i, j in taps])
    weights = np.array([kernel[i, j] for i, j in taps])
    return stack, weights.reshape((-1,) + (1,) * data.ndim)


def reference_nan_policy(data, kernel, policy, boundary="nan", cval=0.0, min_count=None):
    """correlate with nan_policy, from the stacked windows (independent of the sweep)."""
    stack, w = reference_windows(data, kernel, boundary, cval)
    valid = ~np.isnan(stack)
    count = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        wsum = np.where(valid, w * stack, 0.0).sum(axis=0)
        if policy == "propagate":
            out = (w * stack).sum(axis=0)
            threshold = max(stack.shape[0], min_count or 0)
        elif policy == "omit":
            out = wsum
            threshold = max(1, min_count or 0)
        else:
            wvalid = np.where(valid, w, 0.0).sum(axis=0)
            # Valid weights that cancel to within the rounding of their sum (n eps sum|w|)
            # leave nothing to rescale by: NaN (the contract's rule, docs/contract.md).
            cancel = stack.shape[0] * np.finfo(np.float64).eps * np.abs(w).sum()
            usable = np.abs(wvalid) > cancel
            out = np.where(usable, wsum * (w.sum() / np.where(usable, wvalid, 1)), np.nan)
            # No tap missing: the weighted sum itself (the factor would be W / W, not 1).
            out = np.where(count == stack.shape[0], wsum, out)
            threshold = max(1, min_count or 0)
    return np.where(count >= threshold, out, np.nan)


def _nanvar(stack, axis):
    """Corrected two-pass variance (numpy's nanvar plus the mean's correction term).

    Plain two-pass ``nanvar`` is off by the square of its mean's rounding error, about
    (n eps |mean|)^2: 1e-14 for a window at 1e8, far above the contract for a small
    spread. Subtracting the squared mean deviation removes that term. A window of equal
    values has variance 0 exactly.
    """
    m = np.nanmean(stack, axis=axis, keepdims=True)
    d = stack - m
    msq, md = np.nanmean(d * d, axis=axis), np.nanmean(d, axis=axis)
    # Squares that overflow: the variance does too, whatever the (tiny) correction.
    var = np.where(np.isinf(msq) & np.isfinite(md), msq, msq - md * md)
    flat = np.nanmax(stack, axis=axis) == np.nanmin(stack, axis=axis)
    return np.where(flat & np.isfinite(var), 0.0, np.where(var < 0, 0.0, var))


def reference_stat(data, footprint, stat, boundary="nan", policy="omit", min_count=None):
    """Focal statistic from the stacked windows with numpy's nan-functions."""
    stack, _ = reference_windows(data, footprint != 0, boundary, 0.0)
    count = (~np.isnan(stack)).sum(axis=0)
    if stat == "count":
        return count.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        funcs = {
            "mean": np.nanmean, "sum": np.nansum, "min": np.nanmin, "max": np.nanmax,
            "std": lambda s, axis: np.sqrt(_nanvar(s, axis)), "var": _nanvar,
            "range": lambda s, axis: np.nanmax(s, axis=axis) - np.nanmin(s, axis=axis),
        }
        out = funcs[stat](stack, axis=0)
    threshold = stack.shape[0] if policy == "propagate" else 1
    threshold = max(threshold, min_count or 0)
    return np.where(count >= threshold, out, np.nan)


def stat_bound(data, footprint, stat, boundary="nan", policy="omit", min_count=None, *,
               dtype=np.float64):
    """Per-cell error bound of a focal statistic (docs/contract.md), from the windows.

    count, min, max and range are exact (0). sum: rtol * sum|x| and mean: rtol * sum|x| / n
    over the valid taps (rtol 1e-12 for float64 results, 1e-5 for float32). var: the
    one-pass bound about a value of the window, 8 (n + 2) eps R^2 with R = max - min of the
    window's valid values and n their count -- independent of the data's offset and of
    everything outside the window; std: min(sqrt B, B / std) for the variance's bound B,
    since |sqrt a - sqrt b| <= min(sqrt|a - b|, |a - b| / sqrt b), plus the square root's
    rounding. A float32 result adds one rounding of the float64 result.
    """
    dtype = np.dtype(dtype)
    if stat in ("count", "min", "max", "range"):
        return np.zeros(np.shape(data))
    data64 = np.asarray(data, dtype=np.float64)
    n = reference_stat(data64, footprint, "count", boundary)
    if stat in ("sum", "mean"):
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        abs_sum = reference_stat(np.abs(data64), footprint, "sum", boundary, policy, min_count)
        return rtol * abs_sum / (n if stat == "mean" else 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        spread = reference_stat(data64, footprint, "range", boundary)
        bound = 8 * (n + 2) * np.finfo(np.float64).eps * spread ** 2
    expected = np.abs(reference_stat(data64, footprint, stat, boundary, policy, min_count))
    if stat == "std":
        # |sqrt a - sqrt b| <= min(sqrt|a - b|, |a - b| / sqrt b), plus the sqrt's rounding.
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = np.fmin(np.sqrt(bound), bound / expected)
        bound = bound + np.finfo(np.float64).eps * expected
    if dtype == np.float32:
        bound = bound + np.finfo(np.float32).eps * (expected + bound)
    return bound


def assert_stat_accuracy(result, expected, data, stat, footprint, boundary="nan", policy="omit",
                         min_count=None, *, where=None):
    """Assert a focal statistic meets :func:`stat_bound` against ``expected`` per cell.

    NaN exactly where ``expected`` is NaN, infinities equal, finite cells within the bound.
    ``where`` (boolean, like ``data``) limits the check to those cells.
    """
    result = np.asarray(result)
    dtype = result.dtype
    expected = np.asarray(expected, dtype=np.float64)
    if dtype == np.float32 and stat in ("count", "min", "max", "range"):
        # The result is the float64 value rounded once; min/max/count are float32 already.
        expected = expected.astype(np.float32).astype(np.float64)
    result = result.astype(np.float64)
    bound = stat_bound(data, footprint, stat, boundary, policy, min_count, dtype=dtype)
    sel = np.ones(expected.shape, dtype=bool) if where is None else np.asarray(where, bool)
    np.testing.assert_array_equal(np.isnan(result[sel]), np.isnan(expected[sel]),
                                  err_msg=f"{stat}: NaN pattern")
    inf = sel & np.isinf(expected)
    np.testing.assert_array_equal(result[inf], expected[inf], err_msg=f"{stat}: infinities")
    ok = sel & np.isfinite(expected)
    err = np.abs(result[ok] - expected[ok])
    limit = bound[ok] + np.finfo(np.float64).tiny
    if err.size:
        worst = np.argmax(err - limit)
        assert np.all(err <= limit), (
            f"{stat}: error {err[worst]:.3g} > bound {limit[worst]:.3g} "
            f"(expected {expected[ok][worst]:.6g}, got {result[ok][worst]:.6g})"
        )


def assert_policy_accuracy(result, expected, data, kernel, policy, boundary="nan", cval=0.0, rtol=1e-12):
    """NaN where expected, and within the contract (docs/contract.md) per cell elsewhere.

    The scale is sum|w x| over the valid taps; renormalize multiplies by |W / W_valid| and
    by the conditioning of W_valid (a sum of signed weights), 1 + sum|w valid| / |W_valid|.
    """
    np.testing.assert_array_equal(np.isnan(result), np.isnan(expected))
    data = np.asarray(data, dtype=np.float64)
    scale = reference_nan_policy(np.abs(data), np.abs(kernel), "omit", boundary, abs(cval))
    if policy == "renormalize":
        ones = np.where(np.isnan(data), np.nan, 1.0)
        w_valid = reference_nan_policy(ones, kernel, "omit", boundary, 1.0)
        abs_valid = reference_nan_policy(ones, np.abs(kernel), "omit", boundary, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = scale * abs(kernel.sum()) / np.abs(w_valid) * (1 + abs_valid / np.abs(w_valid))
    ok = ~np.isnan(expected)
    err = np.abs(np.asarray(result, dtype=np.float64)[ok] - expected[ok])
    bound = rtol * scale[ok] + np.finfo(np.float64).tiny
    assert np.all(err <= bound), f"error {err.max():.3g} above the contract"


#: Statistics every backend gives to the bit (no sums involved).
EXACT_STATS = ("count", "min", "max", "range")


def assert_close_to_numpy_backend(result, cpu, stat):
    """``result`` (any backend, on the host) against the numpy backend's ``cpu``.

    dtype and NaN pattern equal; count/min/max/range bit for bit; sums, means and
    variances to rounding (another backend may sum in another order).
    """
    assert result.dtype == cpu.dtype
    np.testing.assert_array_equal(np.isnan(result), np.isnan(cpu), err_msg="NaN pattern vs CPU")
    if stat in EXACT_STATS:
        np.testing.assert_array_equal(result, cpu)
    else:
        rtol = 2e-7 if cpu.dtype == np.float32 else 1e-11
        np.testing.assert_allclose(result, cpu, rtol=rtol, atol=rtol, equal_nan=True)
