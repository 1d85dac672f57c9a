"""Every bad argument gets a TypeError/ValueError (and FocalError) whose message names it.

One table, one row per bad input: (id, call, expected exception class, regex the message
must match -- always the argument's name, plus what was wrong where that helps). The
calls go through the public API only. Nothing here may surface as a numba TypingError,
an OverflowError or a crash.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xarray_focal as xf
from xarray_focal.errors import FocalError

from . import requires_dask

DATA = np.arange(30.0).reshape(5, 6)
K3 = np.ones((3, 3))


def _raster(**attrs):
    return xr.DataArray(
        np.zeros((8, 9)),
        dims=("y", "x"),
        coords={"y": -30.0 * np.arange(8), "x": 30.0 * np.arange(9)},
        attrs=attrs,
    )


def _degrees():
    return xr.DataArray(
        np.zeros((8, 9)),
        dims=("lat", "lon"),
        coords={
            "lat": ("lat", 0.1 * np.arange(8), {"units": "degrees_north"}),
            "lon": ("lon", 0.1 * np.arange(9), {"units": "degrees_east"}),
        },
    )


def _irregular():
    return xr.DataArray(
        np.zeros((4, 4)), dims=("y", "x"), coords={"y": [0.0, 1.0, 3.0, 7.0], "x": [0.0, 1.0, 2.0, 3.0]}
    )


def _bare():
    return xr.DataArray(np.zeros((4, 4)), dims=("row", "col"))


T, V = TypeError, ValueError

# (id, call, exception, message regex)
BAD_ARGUMENTS = [
    # --- kernel ---------------------------------------------------------------------
    ("kernel-even-rows", lambda: xf.correlate(DATA, np.ones((2, 3))), V, r"kernel.*odd"),
    ("kernel-even-cols", lambda: xf.correlate(DATA, np.ones((3, 4))), V, r"kernel.*odd"),
    ("kernel-empty", lambda: xf.correlate(DATA, np.ones((0, 3))), V, r"kernel.*empty"),
    ("kernel-empty-list", lambda: xf.correlate(DATA, [[]]), V, r"kernel"),
    ("kernel-1d", lambda: xf.correlate(DATA, np.ones(3)), V, r"kernel.*2-D"),
    ("kernel-3d", lambda: xf.correlate(DATA, np.ones((3, 3, 3))), V, r"kernel.*2-D"),
    ("kernel-scalar", lambda: xf.correlate(DATA, 1.0), V, r"kernel.*2-D"),
    ("kernel-nan", lambda: xf.correlate(DATA, [[0, np.nan, 0]]), V, r"kernel.*finite"),
    ("kernel-inf", lambda: xf.correlate(DATA, [[0, 1, -np.inf]]), V, r"kernel.*finite"),
    ("kernel-all-zero", lambda: xf.correlate(DATA, np.zeros((3, 3))), V, r"kernel.*zero"),
    ("kernel-strings", lambda: xf.correlate(DATA, [["a", "b", "c"]]), T, r"kernel"),
    ("kernel-str", lambda: xf.correlate(DATA, "abc"), T, r"kernel"),
    ("kernel-none", lambda: xf.correlate(DATA, None), T, r"kernel"),
    ("kernel-object", lambda: xf.correlate(DATA, np.array([[1, None, 1]], dtype=object)), T, r"kernel"),
    ("kernel-ragged", lambda: xf.correlate(DATA, [[1, 2, 3], [4]]), T, r"kernel"),
    ("kernel-complex", lambda: xf.correlate(DATA, np.ones((3, 3)) * 1j), T, r"kernel.*complex"),
    ("kernel-datetime", lambda: xf.correlate(DATA, np.zeros((1, 1), "M8[s]")), T, r"kernel"),
    ("kernel-convolve-even", lambda: xf.convolve(DATA, np.ones((2, 2))), V, r"kernel.*odd"),
    ("kernel-custom-even", lambda: xf.custom_kernel(np.ones((4, 1))), V, r"kernel.*odd"),
    ("kernel-accessor-zero", lambda: _raster().focal.convolve(np.zeros((1, 1))), V, r"kernel.*zero"),
    (
        "kernel-dataset-even",
        lambda: xr.Dataset({"a": _raster()}).focal.correlate(np.ones((2, 2))),
        V,
        r"kernel.*odd",
    ),
    # --- boundary and cval -----------------------------------------------------------
    ("boundary-unknown", lambda: xf.correlate(DATA, K3, boundary="periodic"), V, r"boundary.*periodic"),
    ("boundary-case", lambda: xf.correlate(DATA, K3, boundary="Nearest"), V, r"boundary"),
    ("boundary-none", lambda: xf.correlate(DATA, K3, boundary=None), T, r"boundary"),
    ("boundary-number", lambda: xf.correlate(DATA, K3, boundary=0), T, r"boundary"),
    ("boundary-accessor", lambda: _raster().focal.correlate(K3, boundary="zero"), V, r"boundary"),
    ("cval-str", lambda: xf.correlate(DATA, K3, boundary="constant", cval="1"), T, r"cval"),
    ("cval-none", lambda: xf.correlate(DATA, K3, boundary="constant", cval=None), T, r"cval"),
    ("cval-complex", lambda: xf.correlate(DATA, K3, boundary="constant", cval=1 + 2j), T, r"cval"),
    ("cval-list", lambda: xf.correlate(DATA, K3, boundary="constant", cval=[1.0]), T, r"cval"),
    ("cval-str-unused", lambda: xf.correlate(DATA, K3, boundary="nan", cval="x"), T, r"cval"),
    ("cval-accessor", lambda: _raster().focal.convolve(K3, boundary="constant", cval="a"), T, r"cval"),
    # --- data ------------------------------------------------------------------------
    ("data-complex", lambda: xf.correlate(DATA + 1j, K3), T, r"data.*complex"),
    ("data-object", lambda: xf.correlate(DATA.astype(object), K3), T, r"data.*object"),
    ("data-datetime", lambda: xf.correlate(np.zeros((3, 3), "M8[ns]"), K3), T, r"data.*datetime"),
    ("data-timedelta", lambda: xf.correlate(np.zeros((3, 3), "m8[ns]"), K3), T, r"data.*timedelta"),
    ("data-strings", lambda: xf.correlate(np.full((3, 3), "a"), K3), T, r"data"),
    ("data-bytes", lambda: xf.correlate(np.full((3, 3), b"a"), K3), T, r"data"),
    ("data-scalar", lambda: xf.correlate(3.0, K3), T, r"data"),
    ("data-none", lambda: xf.correlate(None, K3), T, r"data"),
    ("data-dict", lambda: xf.correlate({"a": 1}, K3), T, r"data"),
    ("data-1d", lambda: xf.correlate(np.ones(5), K3), V, r"data.*2 dimensions"),
    ("data-0d", lambda: xf.correlate(np.float64(1.0) * np.ones(()), K3), V, r"data.*2 dimensions"),
    ("data-masked", lambda: xf.correlate(np.ma.ones((4, 4)), K3), T, r"masked"),
    ("data-convolve-complex", lambda: xf.convolve(DATA * 1j, K3), T, r"data.*complex"),
    ("da-complex", lambda: (_raster() * 1j).focal.correlate(K3), T, r"data.*complex"),
    ("da-datetime", lambda: _raster().astype("M8[ns]").focal.correlate(K3), T, r"data.*datetime"),
    ("da-strings", lambda: _raster().astype(str).focal.correlate(K3), T, r"data"),
    ("da-1d", lambda: xr.DataArray(np.ones(4), dims="x").focal.correlate(K3), V, r"2 dims"),
    ("da-0d", lambda: xr.DataArray(1.0).focal.convolve(K3), V, r"2 dims"),
    # --- dims ------------------------------------------------------------------------
    ("dims-missing", lambda: _raster().focal.correlate(K3, dims=("y", "lon")), V, r"dims.*lon"),
    ("dims-both-missing", lambda: _raster().focal.correlate(K3, dims=("a", "b")), V, r"dims.*'a'"),
    ("dims-duplicated", lambda: _raster().focal.correlate(K3, dims=("y", "y")), V, r"dims.*different"),
    ("dims-one", lambda: _raster().focal.correlate(K3, dims=("y",)), V, r"dims.*two"),
    ("dims-three", lambda: _raster().focal.correlate(K3, dims=("y", "x", "y")), V, r"dims.*two"),
    ("dims-empty", lambda: _raster().focal.correlate(K3, dims=()), V, r"dims.*two"),
    ("dims-string", lambda: _raster().focal.correlate(K3, dims="yx"), T, r"dims"),
    ("dims-int", lambda: _raster().focal.correlate(K3, dims=2), T, r"dims"),
    ("dims-kernel-missing", lambda: _raster().focal.circle_kernel(30, dims=("y", "z")), V, r"dims.*'z'"),
    (
        "dims-dataset-ambiguous",
        # No CF clue in the names: the two dims are held in both orders.
        lambda: xr.Dataset({"a": _bare(), "b": _bare().T}).focal.correlate(K3),
        V,
        r"dims",
    ),
    (
        "dims-dataset-missing",
        lambda: xr.Dataset({"a": _raster()}).focal.convolve(K3, dims=("y", "q")),
        V,
        r"dims.*'q'",
    ),
    # --- radius (array constructors) --------------------------------------------------
    ("radius-zero", lambda: xf.circle_kernel(1, 1, 0), V, r"radius"),
    ("radius-negative", lambda: xf.circle_kernel(1, 1, -2), V, r"radius"),
    ("radius-nan", lambda: xf.circle_kernel(1, 1, float("nan")), V, r"radius"),
    ("radius-inf", lambda: xf.circle_kernel(1, 1, float("inf")), V, r"radius"),
    ("radius-string-array-api", lambda: xf.circle_kernel(1, 1, "5 m"), T, r"radius"),
    ("radius-bool", lambda: xf.circle_kernel(1, 1, True), T, r"radius"),
    ("radius-none", lambda: xf.circle_kernel(1, 1, None), T, r"radius"),
    ("radius-huge", lambda: xf.circle_kernel(1, 1, 1e6), V, r"radius.*2000001x2000001"),
    ("radius-huge-anisotropic", lambda: xf.circle_kernel(1, 1000, 1e5), V, r"radius.*201x200001"),
    ("radius-astronomical", lambda: xf.circle_kernel(1, 1, 1e300), V, r"radius.*kernel"),
    ("radius-tiny-cells", lambda: xf.circle_kernel(1e-300, 1e-300, 1.0), V, r"radius.*kernel"),
    ("radius-infinite-ratio", lambda: xf.circle_kernel(1e-300, 1e-300, 1e300), V, r"radius.*kernel"),
    ("cellsize-zero", lambda: xf.circle_kernel(0, 1, 1), V, r"cellsize_x"),
    ("cellsize-negative", lambda: xf.circle_kernel(1, -1, 1), V, r"cellsize_y"),
    ("cellsize-nan", lambda: xf.circle_kernel(float("nan"), 1, 1), V, r"cellsize_x"),
    ("cellsize-str", lambda: xf.circle_kernel("1", 1, 1), T, r"cellsize_x"),
    ("annulus-inner-eq-outer", lambda: xf.annulus_kernel(1, 1, 3, 3), V, r"inner_radius.*outer_radius"),
    ("annulus-inner-gt-outer", lambda: xf.annulus_kernel(1, 1, 2, 3), V, r"inner_radius.*outer_radius"),
    ("annulus-inner-negative", lambda: xf.annulus_kernel(1, 1, 3, -1), V, r"inner_radius"),
    ("annulus-inner-nan", lambda: xf.annulus_kernel(1, 1, 3, float("nan")), V, r"inner_radius"),
    ("annulus-inner-str", lambda: xf.annulus_kernel(1, 1, 3, "1"), T, r"inner_radius"),
    ("annulus-outer-zero", lambda: xf.annulus_kernel(1, 1, 0, 0), V, r"outer_radius"),
    ("annulus-outer-huge", lambda: xf.annulus_kernel(1, 1, 1e7, 1), V, r"outer_radius.*kernel"),
    ("annulus-empty-ring", lambda: xf.annulus_kernel(1, 1, 1.2, 1.1), V, r"annulus.*no cell"),
    # --- radius (accessor: units and cell sizes) ---------------------------------------
    ("radius-str-zero", lambda: _raster().focal.circle_kernel("0 m"), V, r"radius"),
    ("radius-str-negative", lambda: _raster().focal.circle_kernel("-5 m"), V, r"radius"),
    ("radius-str-nan", lambda: _raster().focal.circle_kernel("nan m"), V, r"radius"),
    ("radius-str-inf", lambda: _raster().focal.circle_kernel("inf"), V, r"radius"),
    ("radius-str-overflow", lambda: _raster().focal.circle_kernel("1e400 m"), V, r"radius"),
    ("radius-float-nan", lambda: _raster().focal.circle_kernel(float("nan")), V, r"radius"),
    ("radius-float-inf", lambda: _raster().focal.circle_kernel(float("inf")), V, r"radius"),
    ("radius-unparsable", lambda: _raster().focal.circle_kernel("five metres"), V, r"radius.*five"),
    ("radius-empty-string", lambda: _raster().focal.circle_kernel(""), V, r"radius"),
    ("radius-unknown-unit", lambda: _raster().focal.circle_kernel("5 parsec"), V, r"unit.*parsec"),
    ("radius-none-accessor", lambda: _raster().focal.circle_kernel(None), T, r"radius"),
    ("radius-list", lambda: _raster().focal.circle_kernel([30]), T, r"radius"),
    ("radius-absurd", lambda: _raster().focal.circle_kernel("5000 km"), V, r"radius.*333333x333333"),
    ("radius-absurd-number", lambda: _raster().focal.circle_kernel(1e300), V, r"radius.*kernel"),
    ("radius-metric-beyond-half-the-earth", lambda: _degrees().focal.circle_kernel("20100 km"), V,
     r"radius of 20100 km is more than half the Earth's circumference"),
    ("outer-metric-on-degrees-inner-number", lambda: _degrees().focal.annulus_kernel("5 km", 1), V,
     r"inner_radius has no length unit"),
    ("inner-unparsable", lambda: _raster().focal.annulus_kernel("90 m", "abc"), V, r"inner_radius"),
    ("inner-negative-units", lambda: _raster().focal.annulus_kernel("90 m", "-1 m"), V, r"inner_radius"),
    ("inner-ge-outer-units", lambda: _raster().focal.annulus_kernel("60 m", "0.1 km"), V, r"inner_radius"),
    ("no-cell-size", lambda: _bare().focal.circle_kernel(3), V, r"cell size.*row"),
    ("no-cell-size-annulus", lambda: _bare().focal.annulus_kernel(3, 1), V, r"cell size"),
    ("irregular-coords", lambda: _irregular().focal.circle_kernel(1), V, r"'y'.*regular"),
    ("res-zero", lambda: _bare().assign_attrs(res=(0.0, 1.0)).focal.circle_kernel(3), V, r"res"),
    ("res-three", lambda: _bare().assign_attrs(res=(1.0, 1.0, 1.0)).focal.circle_kernel(3), V, r"res"),
    ("res-text", lambda: _bare().assign_attrs(res="ten").focal.circle_kernel(3), V, r"res"),
    ("res-nan", lambda: _bare().assign_attrs(res=float("nan")).focal.circle_kernel(3), V, r"res"),
    # An option is refused whatever the data: no empty array lets a bad one through.
    (
        "renormalize-zero-sum-empty-data",
        lambda: xf.correlate(np.empty((0, 5)), [[-1.0, 0.0, 1.0]], nan_policy="renormalize"),
        V,
        r"renormalize.*sum",
    ),
    # --- a Dataset variable that is not numbers: named, with a way out ----------------
    (
        "dataset-string-variable",
        lambda: xr.Dataset({"a": _raster(), "tag": _raster().astype(str)}).focal.mean(K3),
        T,
        r"variable 'tag'.*dtype.*ds\[\['a'\]\]",
    ),
]


@pytest.mark.parametrize(
    "call,exc,match", [row[1:] for row in BAD_ARGUMENTS], ids=[row[0] for row in BAD_ARGUMENTS]
)
def test_bad_argument_raises_clear_error(call, exc, match):
    with pytest.raises(exc, match=match) as info:
        call()
    assert isinstance(info.value, FocalError), f"{type(info.value).__name__}: {info.value}"


def test_table_ids_are_unique():
    ids = [row[0] for row in BAD_ARGUMENTS]
    assert len(ids) == len(set(ids))


@requires_dask
@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda d: d.astype(complex), T, r"data.*complex"),
        (lambda d: d.astype("M8[ns]"), T, r"data.*datetime"),
        (lambda d: d[0], V, r"data.*2 dimensions"),
    ],
    ids=["complex", "datetime", "1d"],
)
def test_bad_dask_data_fails_at_call_time_not_compute_time(make, exc, match):
    import dask.array as da

    from . import raise_if_dask_computes

    arr = make(da.zeros((20, 20), chunks=5))
    with raise_if_dask_computes(), pytest.raises(exc, match=match) as info:
        xf.correlate(arr, K3)
    assert isinstance(info.value, FocalError)


@pytest.mark.parametrize(
    "call",
    [
        lambda: xf.correlate(DATA, K3),
        lambda: xf.convolve(DATA, K3),
        lambda: xf.focal_mean(DATA, K3),
        lambda: _raster().focal.convolve(K3),
        lambda: _raster().focal.mean(K3),
        lambda: _raster().focal.stats(K3, ("mean", "max")),
        # A Dataset checks its options once, not once per variable.
        lambda: xr.Dataset({"a": _raster(), "b": _raster()}).focal.correlate(K3),
        lambda: xr.Dataset({"a": _raster(), "b": _raster()}).focal.var(K3),
    ],
    ids=["correlate", "convolve", "focal_mean", "da-convolve", "da-mean", "da-stats",
         "ds-correlate", "ds-var"],
)
def test_kernel_is_validated_once_per_call(monkeypatch, call):
    from xarray_focal import api, kernels

    seen = []
    real = kernels.custom_kernel

    def counting(kernel):
        seen.append(1)
        return real(kernel)

    monkeypatch.setattr(kernels, "custom_kernel", counting)
    monkeypatch.setattr(api, "custom_kernel", counting)
    call()
    assert len(seen) == 1


def test_errors_are_catchable_by_the_library_root_and_builtins():
    assert issubclass(xf.FocalValueError, ValueError) and issubclass(xf.FocalValueError, xf.FocalError)
    assert issubclass(xf.FocalTypeError, TypeError) and issubclass(xf.FocalTypeError, xf.FocalError)
    with pytest.raises(xf.FocalError):
        xf.correlate(DATA, K3, boundary="bogus")
