"""Per-axis boundaries: ``boundary=(y_mode, x_mode)`` in the array API, ``{dim: mode}`` on
the accessor, against references that pad each axis on its own (numpy.pad) and against
scipy.ndimage's mode sequences (``uniform_filter`` takes one; ``correlate`` does not)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import xarray as xr

import xarray_focal as xf
from xarray_focal.errors import FocalTypeError, FocalValueError

from .reference import PAD_MODES

#: Our names -> scipy.ndimage's (its "wrap" is not periodic for every size: "grid-wrap" is).
SCIPY_MODES = {"nearest": "nearest", "reflect": "reflect", "mirror": "mirror",
               "wrap": "grid-wrap", "constant": "constant"}

PAIRS = [("nearest", "wrap"), ("reflect", "mirror"), ("wrap", "constant"), ("nan", "wrap"),
         ("mirror", "nearest")]


def padded_reference(data, kernel, modes, cval):
    """Correlation of ``data`` padded axis by axis with numpy.pad, then a valid-only sum."""
    kernel = np.asarray(kernel, dtype=np.float64)
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    p = np.asarray(data, dtype=np.float64)
    for axis, (mode, r) in enumerate(zip(modes, (ry, rx))):
        widths = [(0, 0), (0, 0)]
        widths[axis] = (r, r)
        if PAD_MODES[mode] == "constant":
            fill = np.nan if mode == "nan" else cval
            p = np.pad(p, widths, mode="constant", constant_values=fill)
        else:
            p = np.pad(p, widths, mode=PAD_MODES[mode])
    h, w = data.shape
    out = np.zeros((h, w))
    for i, j in zip(*np.nonzero(kernel)):
        out += kernel[i, j] * p[i:i + h, j:j + w]
    return out


@pytest.mark.parametrize("modes", PAIRS, ids="-".join)
def test_mode_pair_correlate_matches_padding_each_axis(backend, modes):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(13, 17)) * 10 + 1e3
    kernel = rng.normal(size=(5, 7))
    # Kernels wider than the array repeat the boundary rule (as numpy.pad does).
    for k in (kernel, rng.normal(size=(3, 41))):
        out = backend.to_numpy(xf.correlate(backend.to_backend(data, chunks=(4, 5)), k,
                                            boundary=modes, cval=2.5))
        ref = padded_reference(data, k, modes, 2.5)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
        scale = np.abs(padded_reference(np.abs(data), np.abs(k), modes, 2.5))
        ok = ~np.isnan(ref)
        assert np.all(np.abs(out[ok] - ref[ok]) <= 1e-12 * scale[ok])


@pytest.mark.parametrize("modes", [p for p in PAIRS if "nan" not in p], ids="-".join)
def test_mode_pair_mean_matches_scipy_mode_sequence(backend, modes):
    data = np.random.default_rng(2).normal(size=(11, 14))
    out = backend.to_numpy(xf.focal_mean(backend.to_backend(data, chunks=(4, 6)),
                                         np.ones((5, 3)), boundary=modes))
    ref = ndi.uniform_filter(data, (5, 3), mode=[SCIPY_MODES[m] for m in modes], cval=0.0)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-13)


def test_equal_pair_is_the_single_mode():
    data = np.random.default_rng(3).normal(size=(9, 9))
    k = np.ones((3, 3))
    np.testing.assert_array_equal(xf.correlate(data, k, boundary=("reflect", "reflect")),
                                  xf.correlate(data, k, boundary="reflect"))


def test_accessor_dict_names_modes_by_dim():
    data = np.random.default_rng(4).normal(size=(2, 8, 12))
    da = xr.DataArray(data, dims=("time", "lat", "lon"))
    k = np.ones((3, 5))
    out = da.focal.correlate(k, boundary={"lon": "wrap", "lat": "nearest"})
    ref = np.stack([padded_reference(d, k, ("nearest", "wrap"), 0.0) for d in data])
    np.testing.assert_allclose(out.values, ref, rtol=1e-13)
    # The same on data laid out (lon, lat): the dict follows the dims, not positions.
    t = da.transpose("lon", "time", "lat").focal.mean(k != 0, boundary={"lat": "nearest", "lon": "wrap"})
    np.testing.assert_allclose(t.transpose("time", "lat", "lon").values,
                               ndi.uniform_filter(data, (1, 3, 5), mode=["nearest", "nearest", "grid-wrap"]),
                               atol=1e-13)


@pytest.mark.parametrize("boundary, error, match", [
    ({"lat": "nearest"}, FocalValueError, r"no mode for spatial dim\(s\) \['lon'\]"),
    ({"lat": "nearest", "lon": "wrap", "time": "wrap"}, FocalValueError, r"\['time'\].*not a spatial dim"),
    ({"lat": "nearest", "lon": "periodic"}, FocalValueError, "unknown boundary\\[1\\] \\(x\\) 'periodic'"),
])
def test_accessor_dict_errors_name_the_dim(boundary, error, match):
    da = xr.DataArray(np.zeros((2, 5, 6)), dims=("time", "lat", "lon"))
    with pytest.raises(error, match=match):
        da.focal.mean(np.ones((3, 3)), boundary=boundary)


@pytest.mark.parametrize("boundary, error, match", [
    (("nearest",), FocalValueError, "one mode per spatial axis"),
    (("nearest", "wrap", "wrap"), FocalValueError, "one mode per spatial axis"),
    (("nan", "constant"), FocalValueError, "mixes 'nan' and 'constant'"),
    (("nearest", 3), FocalTypeError, r"boundary\[1\] \(x\) must be a string"),
])
def test_bad_mode_pairs_are_refused(boundary, error, match):
    with pytest.raises(error, match=match):
        xf.correlate(np.zeros((5, 5)), np.ones((3, 3)), boundary=boundary)
