"""The ``.focal`` accessors: labels kept, dims chosen, broadcasting, Datasets, laziness.

Values are checked against tests/reference.py (numpy.pad shift-and-add) applied to the
raw numpy data with the spatial axes moved last by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xarray_focal  # noqa: F401  (registers .focal)

from . import raise_if_dask_computes, requires_dask
from .conftest import awkward_data
from .reference import assert_matches_contract, reference_correlate

ASYM = np.array([[0.0, 1.5, -2.0], [0.25, 0.0, 0.0], [3.0, 0.0, 0.5], [0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])


def cube(dims=("time", "band", "y", "x"), shape=(2, 3, 17, 23), dtype=np.float64, nan_fraction=0.03):
    data = awkward_data(shape, dtype, nan_fraction=nan_fraction if np.dtype(dtype).kind == "f" else 0)
    coords = {}
    for d, n in zip(dims, shape):
        if d == "y":
            coords[d] = ("y", 100.0 - 10.0 * np.arange(n), {"units": "m", "long_name": "northing"})
        elif d == "x":
            coords[d] = ("x", 10.0 * np.arange(n), {"units": "m"})
        elif d == "time":
            coords[d] = np.array(["2020-01-01", "2020-02-01", "2020-03-01"][:n], dtype="M8[ns]")
        else:
            coords[d] = [f"{d}{i}" for i in range(n)]
    da = xr.DataArray(data, dims=dims, coords=coords, name="elev", attrs={"units": "m", "source": "test"})
    # A non-dimension coordinate over the spatial dims, and a scalar one.
    if "y" in dims and "x" in dims:
        da = da.assign_coords(mask=(("y", "x"), np.ones((da.sizes["y"], da.sizes["x"]), bool)))
    return da.assign_coords(crs=0)


def expected_values(da, kernel, dims=("y", "x"), boundary="nan", cval=0.0):
    """Reference result in ``da``'s own dim order (spatial axes moved last and back)."""
    others = [d for d in da.dims if d not in dims]
    moved = da.transpose(*others, *dims).values
    ref = reference_correlate(moved, kernel, boundary, cval)
    order = [list(others) + list(dims)].pop()
    return np.transpose(ref, [order.index(d) for d in da.dims])


def assert_labels_kept(result, da, name=None):
    assert result.dims == da.dims
    assert result.name == (da.name if name is None else name)
    assert result.attrs == da.attrs
    assert set(result.coords) == set(da.coords)
    for key, coord in da.coords.items():
        assert result.coords[key].identical(coord), key


@pytest.mark.parametrize("method", ["correlate", "convolve"])
def test_dims_coords_attrs_and_name_kept(method):
    da = cube()
    result = getattr(da.focal, method)(ASYM, boundary="reflect")
    assert_labels_kept(result, da)
    kernel = ASYM if method == "correlate" else ASYM[::-1, ::-1]
    assert_matches_contract(result.values, da.values, kernel, "reflect")


def test_name_keyword_renames_result_only():
    da = cube()
    result = da.focal.correlate(ASYM, name="smooth")
    assert_labels_kept(result, da, name="smooth")
    assert da.name == "elev"


def test_nd_cube_in_one_call_equals_per_slice_results():
    da = cube()
    result = da.focal.correlate(ASYM, boundary="wrap")
    for t in da.time.values:
        for b in da.band.values:
            one = da.sel(time=t, band=b).focal.correlate(ASYM, boundary="wrap")
            np.testing.assert_array_equal(result.sel(time=t, band=b).values, one.values)
    np.testing.assert_allclose(result.values, expected_values(da, ASYM, boundary="wrap"), rtol=1e-12)


@pytest.mark.parametrize(
    "dims",
    [("y", "x", "band"), ("band", "y", "x"), ("y", "band", "x"), ("x", "band", "y")],
)
def test_spatial_dims_not_last(dims):
    shape = {"y": 13, "x": 19, "band": 3}
    da = cube(dims=dims, shape=tuple(shape[d] for d in dims))
    result = da.focal.correlate(ASYM, boundary="nearest", dims=("y", "x"))
    assert_labels_kept(result, da)
    expected = expected_values(da, ASYM, ("y", "x"), "nearest")
    np.testing.assert_array_equal(np.isnan(result.values), np.isnan(expected))
    np.testing.assert_allclose(result.values, expected, rtol=1e-12, atol=1e-9)


def test_dims_order_decides_which_axis_is_y():
    # dims=("x", "y") overlays the kernel's rows along x: the same as transposing the data.
    da = cube(dims=("y", "x"), shape=(11, 14))
    swapped = da.focal.correlate(ASYM, boundary="reflect", dims=("x", "y"))
    assert swapped.dims == ("y", "x")
    expected = reference_correlate(da.values.T, ASYM, "reflect").T
    np.testing.assert_allclose(swapped.values, expected, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.bool_], ids=lambda d: np.dtype(d).name)
def test_dtype_rules_through_the_accessor(dtype):
    da = cube(dims=("y", "x"), shape=(12, 15), dtype=dtype)
    result = da.focal.correlate(ASYM, boundary="nearest")
    assert result.dtype == (np.float32 if dtype == np.float32 else np.float64)
    assert_matches_contract(result.values, da.values, ASYM, "nearest")


def test_dataset_processes_spatial_vars_and_passes_others_through():
    da = cube()
    ds = xr.Dataset(
        {
            "elev": da,
            "slope": (da * 2).rename("slope"),
            "flipped": da.transpose("x", "band", "time", "y"),
            "series": ("time", np.arange(2.0), {"units": "s"}),
            "label": ((), "hello"),
        },
        attrs={"title": "cube"},
    )
    result = ds.focal.correlate(ASYM, boundary="mirror", cval=0.0, dims=("y", "x"))
    assert result.attrs == ds.attrs
    assert list(result.data_vars) == list(ds.data_vars)
    for name in ("elev", "slope", "flipped"):
        var = ds[name]
        assert result[name].dims == var.dims
        assert result[name].attrs == var.attrs
        np.testing.assert_allclose(
            result[name].values, expected_values(var, ASYM, ("y", "x"), "mirror"), rtol=1e-12, atol=1e-9
        )
    assert result["series"].identical(ds["series"])
    assert result["label"].identical(ds["label"])
    for key in ds.coords:
        assert result.coords[key].identical(ds.coords[key])


def test_dataset_convolve_equals_per_variable_convolve():
    da = cube(dims=("y", "x"), shape=(15, 16))
    ds = xr.Dataset({"a": da, "b": da * -1.5})
    result = ds.focal.convolve(ASYM, boundary="wrap")
    for name in ds.data_vars:
        assert result[name].identical(ds[name].focal.convolve(ASYM, boundary="wrap"))


def test_convolve_flips_and_correlate_does_not():
    # A single off-centre tap: correlate reads the right neighbour, convolve the left.
    da = xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("y", "x"))
    tap = [[0, 0, 0], [0, 0, 1], [0, 0, 0]]
    np.testing.assert_array_equal(
        da.focal.correlate(tap, boundary="wrap").values, np.roll(da.values, -1, axis=1)
    )
    np.testing.assert_array_equal(
        da.focal.convolve(tap, boundary="wrap").values, np.roll(da.values, 1, axis=1)
    )


def test_accessor_kernel_then_convolve_chain():
    da = cube(dims=("y", "x"), shape=(30, 40), nan_fraction=0)
    k = da.focal.circle_kernel("30 m")
    smooth = da.focal.convolve(k, boundary="reflect")
    rough = (da - smooth).focal.convolve(k, boundary="reflect")
    assert rough.dims == da.dims and rough.coords["x"].identical(da.coords["x"])
    assert_matches_contract(smooth.values, da.values, k, "reflect")


def test_input_dataarray_not_modified():
    da = cube()
    before = da.copy(deep=True)
    out = da.focal.correlate(ASYM, boundary="constant", cval=3.0)
    assert da.identical(before)
    assert not np.shares_memory(out.values, da.values)


# --- dask ----------------------------------------------------------------------------


@requires_dask
@pytest.mark.parametrize("dims", [("time", "band", "y", "x"), ("y", "x", "band"), ("x", "band", "y")])
def test_dask_in_lazy_dask_out_with_same_chunks(dims):
    import dask.array as da_

    shape = {"time": 2, "band": 3, "y": 17, "x": 23}
    da = cube(dims=[d for d in dims], shape=tuple(shape[d] for d in dims))
    chunks = {"time": 1, "band": 2, "y": 6, "x": 9}
    lazy = da.chunk({d: chunks[d] for d in dims})
    with raise_if_dask_computes():
        result = lazy.focal.correlate(ASYM, boundary="reflect", dims=("y", "x"))
        conv = lazy.focal.convolve(ASYM, boundary="reflect", dims=("y", "x"))
    assert isinstance(result.data, da_.Array)
    assert result.chunks == lazy.chunks
    assert conv.chunks == lazy.chunks
    assert_labels_kept(result, da)
    eager = da.focal.correlate(ASYM, boundary="reflect", dims=("y", "x"))
    np.testing.assert_array_equal(result.values, eager.values)
    np.testing.assert_array_equal(
        conv.values, da.focal.convolve(ASYM, boundary="reflect", dims=("y", "x")).values
    )


@requires_dask
def test_dask_dataset_stays_lazy():
    import dask.array as da_

    da = cube()
    ds = xr.Dataset({"a": da, "b": da.transpose("x", "y", "band", "time")}).chunk({"y": 8, "x": 10})
    with raise_if_dask_computes():
        result = ds.focal.convolve(ASYM, boundary="nan", dims=("y", "x"))
    for name in ds.data_vars:
        assert isinstance(result[name].data, da_.Array)
        assert result[name].chunks == ds[name].chunks
    eager = ds.compute().focal.convolve(ASYM, boundary="nan", dims=("y", "x"))
    xr.testing.assert_identical(result.compute(), eager)


@requires_dask
def test_dask_kernel_from_accessor_stays_lazy():
    da = cube(dims=("y", "x"), shape=(40, 50)).chunk(16)
    with raise_if_dask_computes():
        k = da.focal.circle_kernel("30 m")
        result = da.focal.correlate(k)
    assert result.chunks == da.chunks


def _with_text_and_time_vars():
    da = cube(dims=("y", "x"), shape=(9, 11))
    return xr.Dataset(
        {
            "elev": da,
            "slope": (da * 2).rename("slope"),
            "label": (("y", "x"), np.full(da.shape, "a")),
            "when": (("y", "x"), np.full(da.shape, np.datetime64("2020-01-01", "ns"))),
        }
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda ds: ds.focal.correlate(ASYM, dims=("y", "x")),
        lambda ds: ds.focal.convolve(ASYM, dims=("y", "x")),
        lambda ds: ds.focal.mean(np.ones((3, 3)), dims=("y", "x")),
        lambda ds: ds.focal.stats(np.ones((3, 3)), ("min", "count"), dims=("y", "x")),
    ],
    ids=["correlate", "convolve", "mean", "stats"],
)
@pytest.mark.parametrize("bad", ["label", "when"])
def test_dataset_non_numeric_spatial_variable_is_named_not_dropped(call, bad):
    ds = _with_text_and_time_vars()
    ds = ds.drop_vars([v for v in ("label", "when") if v != bad])
    # Raised, not skipped: a result without the variable would lose it without a word.
    with pytest.raises(xarray_focal.FocalTypeError, match=rf"variable '{bad}'.*dtype") as info:
        call(ds)
    assert "ds[['elev', 'slope']]" in str(info.value)
    # The suggested selection works, and gives each variable its own DataArray result.
    out = call(ds[["elev", "slope"]])
    key = "elev_min" if "elev_min" in out else "elev"
    one = call(ds[["elev"]])
    xr.testing.assert_identical(out[key], one[key])


def test_dataset_non_numeric_variable_without_spatial_dims_passes_through():
    ds = _with_text_and_time_vars().drop_vars(["label", "when"])
    ds["note"] = ("band", np.array(["x", "y"]))
    out = ds.focal.mean(np.ones((3, 3)), dims=("y", "x"))
    assert out["note"].identical(ds["note"])
    np.testing.assert_array_equal(
        out["elev"].values, ds["elev"].focal.mean(np.ones((3, 3))).values
    )


def test_every_parameter_of_every_accessor_method_is_documented():
    import inspect

    from xarray_focal._accessor import FocalDataArrayAccessor, FocalDatasetAccessor

    for cls in (FocalDataArrayAccessor, FocalDatasetAccessor):
        for attr in ("correlate", "convolve", "circle_kernel", "annulus_kernel", "box_kernel",
                     "gaussian_kernel", "mean", "sum", "count", "min", "max", "range", "std", "var", "stats"):
            func = getattr(cls, attr)
            doc = inspect.getdoc(func)
            assert "%(" not in doc, (cls.__name__, attr)
            section = doc.split("Parameters\n----------\n")[1].split("\n\n")[0]
            documented = set()
            for line in section.splitlines():
                if line and not line.startswith(" "):
                    documented.update(n.strip() for n in line.split(" : ")[0].split(","))
            params = set(inspect.signature(func).parameters) - {"self"}
            assert params <= documented, (cls.__name__, attr, params - documented)
