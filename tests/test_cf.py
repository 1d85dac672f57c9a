"""CF conventions through the accessor: units, geographic grids, cell sizes, dims, labels.

Issue 12 items 4 and 5 and the "unclear or late errors" on cell sizes and default dims.
Kernels are compared with the plain constructors fed hand-computed cell sizes; statistics
values with tests/reference.py; the expected attributes are written out per statistic.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xarray_focal as xf
from xarray_focal import _units
from xarray_focal.errors import FocalError

from . import raise_if_dask_computes, requires_dask
from .conftest import awkward_data
from .reference import reference_correlate, reference_stat


def disc(r):
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return (x**2 + y**2 <= r**2).astype(float)


def grid(ydim="y", xdim="x", yattrs=None, xattrs=None, step=30.0, n=(12, 14), attrs=None, coords=True):
    """Zeros on (ydim, xdim) with ``step``-spaced coordinates carrying the given attributes."""
    c = {}
    if coords:
        c[ydim] = (ydim, 40.0 - step * np.arange(n[0]), yattrs or {})
        c[xdim] = (xdim, 5.0 + step * np.arange(n[1]), xattrs or {})
    return xr.DataArray(np.zeros(n), dims=(ydim, xdim), coords=c, attrs=attrs or {})


def assert_focal_error(info, *patterns):
    assert isinstance(info.value, FocalError), type(info.value)
    for pattern in patterns:
        assert pattern in str(info.value), (pattern, str(info.value))


# --- A. unit symbols are case-sensitive, names are not -------------------------------------


@pytest.mark.parametrize("radius", ["100 Mm", "100 M", "5 KM", "5 Km", "3 MM", "2 CM", "1 FT", "1 MI", "2 NMI"])
def test_unit_symbol_in_the_wrong_case_is_refused_naming_it_and_the_known_units(radius):
    with pytest.raises(ValueError) as info:
        grid().focal.circle_kernel(radius)
    bad = radius.split()[1]
    assert_focal_error(info, repr(bad), "known units", "km", "mm", "metres")


@pytest.mark.parametrize(
    "radius,metres",
    [("100 mm", 0.1), ("0.09 km", 90.0), ("90 m", 90.0), ("9000 cm", 90.0), ("90 Metres", 90.0),
     ("0.09 KILOMETERS", 90.0), ("90 Meter", 90.0), ("295.2756 Feet", 90.0), ("1 Mile", 1609.344),
     ("295.2756 ft", 90.0)],
)
def test_exact_symbols_and_names_in_any_case_are_converted(radius, metres):
    # 0.1 m on 30 m cells is the centre cell alone; the others are discs in 30 m cells.
    expected = xf.circle_kernel(30.0, 30.0, metres)
    np.testing.assert_array_equal(grid().focal.circle_kernel(radius), expected)


def test_coordinate_units_symbol_in_the_wrong_case_is_not_taken_as_metres():
    da = grid(yattrs={"units": "M"}, xattrs={"units": "M"})
    with pytest.raises(ValueError) as info:
        da.focal.circle_kernel("90 m")
    assert_focal_error(info, "'M'")


# --- A. geographic grids recognised from CF, not only from units ---------------------------

GEOGRAPHIC = {
    "units-degrees": ("lat", "lon", {"units": "degrees_north"}, {"units": "degrees_east"}),
    "units-degree_N": ("a", "b", {"units": "degree_N"}, {"units": "degree_E"}),
    "standard_name": ("a", "b", {"standard_name": "latitude"}, {"standard_name": "longitude"}),
    "rotated-pole": ("rlat", "rlon", {"standard_name": "grid_latitude"},
                     {"standard_name": "grid_longitude"}),
    "axis-with-degrees": ("j", "i", {"axis": "Y", "units": "degrees"}, {"axis": "X", "units": "degrees"}),
    "names-lat-lon": ("lat", "lon", {}, {}),
    "names-latitude-longitude": ("latitude", "longitude", {}, {}),
    "names-any-case": ("Latitude", "LON", {}, {}),
    "names-nav": ("nav_lat", "nav_lon", {}, {}),
}


@pytest.mark.parametrize("case", list(GEOGRAPHIC), ids=list(GEOGRAPHIC))
def test_length_radius_on_a_geographic_grid_gives_a_geodesic_kernel(case):
    ydim, xdim, yattrs, xattrs = GEOGRAPHIC[case]
    # 1-degree cells: read as metres, "500 m" would be a 1001 x 1001 kernel; as a geodesic
    # footprint 120 km is one degree north-south, more east-west (cos 35 deg = 0.82).
    da = grid(ydim, xdim, yattrs, xattrs, step=1.0)
    for make in (lambda: da.focal.circle_kernel("120 km", dims=(ydim, xdim)),
                 lambda: da.focal.annulus_kernel("120 km", "500 m", dims=(ydim, xdim)),
                 lambda: xr.Dataset({"v": da}).focal.circle_kernel("120 km", dims=(ydim, xdim))):
        k = make()
        assert isinstance(k, xf.GeodesicKernel)
        assert k.footprint(row=5).shape == (3, 3)
    # A plain number is in degrees, as before.
    np.testing.assert_array_equal(da.focal.circle_kernel(3, dims=(ydim, xdim)), disc(3))


def test_lat_lon_dims_without_coordinates_refuse_a_length_radius():
    da = grid("lat", "lon", coords=False, attrs={"res": 0.5})
    with pytest.raises(ValueError) as info:
        da.focal.circle_kernel("500 m")
    assert_focal_error(info, "1-D coordinate values", "'lat'")
    np.testing.assert_array_equal(da.focal.circle_kernel(1.5), disc(3))


@pytest.mark.parametrize(
    "yattrs,xattrs",
    [({"axis": "Y", "units": "m"}, {"axis": "X", "units": "m"}),
     ({"standard_name": "projection_y_coordinate", "units": "m"},
      {"standard_name": "projection_x_coordinate", "units": "m"}),
     ({}, {})],
)
def test_projected_grids_still_take_a_length_radius(yattrs, xattrs):
    da = grid("northing", "easting", yattrs, xattrs)
    np.testing.assert_array_equal(da.focal.circle_kernel("90 m"), disc(3))


# --- A. unit aliases compare equal --------------------------------------------------------


@pytest.mark.parametrize(
    "yunits,xunits,step_m",
    [("m", "metre", 30.0), ("meters", "metres", 30.0), ("meter", "m", 30.0),
     ("Metres", "m", 30.0), ("km", "kilometres", 30000.0), ("ft", "feet", 30 * 0.3048)],
)
def test_unit_aliases_on_y_and_x_are_the_same_unit(yunits, xunits, step_m):
    da = grid(yattrs={"units": yunits}, xattrs={"units": xunits})
    np.testing.assert_array_equal(da.focal.circle_kernel(f"{3 * step_m} m"), disc(3))
    np.testing.assert_array_equal(da.focal.circle_kernel(90), disc(3))


@pytest.mark.parametrize("radius", ["90 m", 90])
def test_different_units_on_y_and_x_are_refused_for_any_radius(radius):
    da = grid(yattrs={"units": "km"}, xattrs={"units": "m"})
    with pytest.raises(ValueError) as info:
        da.focal.circle_kernel(radius)
    assert_focal_error(info, "different units", "'km'", "'m'")


# --- B. cell sizes: res first for irregular coordinates; float32 rounding -------------------


def test_attrs_res_wins_over_irregular_coordinates():
    da = xr.DataArray(np.zeros((4, 5)), dims=("y", "x"),
                      coords={"y": [0.0, 1.0, 3.0, 7.0], "x": [0.0, 10.0, 11.0, 30.0, 31.0]},
                      attrs={"res": (10.0, 20.0)})
    np.testing.assert_array_equal(da.focal.circle_kernel(40), xf.circle_kernel(10.0, 20.0, 40.0))
    # Without res the error recommends it.
    with pytest.raises(ValueError, match=r"'x' is not regularly spaced.*attrs\['res'\]"):
        da.drop_attrs().focal.circle_kernel(40)


def _float32_axes(step):
    """Lat-like and lon-like float32 axes at ``step`` with magnitudes up to 180, built the
    usual ways: float32 ``numpy.arange`` from 0 (issue 12's example), float64 values
    stored as float32, and descending."""
    return {
        "arange": (np.arange(0, 10, step, dtype=np.float32), np.arange(0, 180, step, dtype=np.float32)),
        "float64-stored-as-float32": ((-90 + step * np.arange(round(180 / step))).astype(np.float32),
                                      (170 + step * np.arange(round(10 / step))).astype(np.float32)),
        "descending": ((90 - step * np.arange(round(10 / step))).astype(np.float32),
                       (180 - step * np.arange(round(360 / step))).astype(np.float32)),
    }


@pytest.mark.parametrize("how", ["arange", "float64-stored-as-float32", "descending"])
@pytest.mark.parametrize("step", [0.005, 0.01])
def test_float32_coordinates_at_fine_steps_are_regular(step, how):
    lat, lon = _float32_axes(step)[how]
    assert lat.dtype == lon.dtype == np.float32
    ds = xr.Dataset(coords={"lat": ("lat", lat, {"units": "degrees_north"}),
                            "lon": ("lon", lon, {"units": "degrees_east"})})
    csx, csy = _units.cellsize(ds, ("lat", "lon"))
    # Within float32's relative precision of the nominal step (float32 cannot hold it).
    assert abs(csx - step) <= 1e-6 * step and abs(csy - step) <= 1e-6 * step, (csx, csy)
    # 10 cells in degrees is the integer disc of radius 10, as on float64 coordinates.
    np.testing.assert_array_equal(ds.focal.circle_kernel(10 * step), disc(10))
    # The same grid in float64 (the decimals float32 rounded, recovered to 4 places).
    double = ds.assign_coords(lat=ds.lat.astype(np.float64).round(4), lon=ds.lon.astype(np.float64).round(4))
    np.testing.assert_array_equal(double.focal.circle_kernel(10 * step), disc(10))
    # A matching attrs['res'] agrees with them (float32-rounded or not).
    for res in (step, float(np.float32(step))):
        np.testing.assert_array_equal(ds.assign_attrs(res=res).focal.circle_kernel(10 * step), disc(10))


def test_float32_tenth_degree_grid_keeps_the_rim_of_a_three_cell_disc():
    # float32(0.1) is 0.10000000149: taken as the cell size, 0.3 degrees is 2.99999996 cells
    # and the rim ring would be lost.
    ds = xr.Dataset(coords={"lat": ("lat", (0.1 * np.arange(40)).astype(np.float32)),
                            "lon": ("lon", (0.1 * np.arange(50)).astype(np.float32))})
    np.testing.assert_array_equal(ds.focal.circle_kernel(0.3), disc(3))


@pytest.mark.parametrize(
    "values",
    [
        # One step of 1.5 cells in an otherwise regular float32 axis near 180.
        np.concatenate([np.arange(170, 175, 0.005), 175.0025 + np.arange(0, 5, 0.005)]),
        # Steps alternating 0.005 and 0.0052.
        170 + np.cumsum(np.tile([0.005, 0.0052], 500)),
        # A step off by 10 ulp of float32 at 180 (beyond 4 ulp of rounding).
        np.concatenate([np.arange(179.0, 179.5, 0.005), [179.5 - 0.005 + 0.005 + 10 * 1.52587890625e-05]]),
    ],
    ids=["jump", "alternating", "ten-ulp"],
)
def test_irregular_float32_coordinates_are_still_refused(values):
    values = values.astype(np.float32)
    ds = xr.Dataset(coords={"lat": ("lat", np.arange(4) * 0.005), "lon": ("lon", values)})
    with pytest.raises(ValueError, match="'lon' is not regularly spaced") as info:
        ds.focal.circle_kernel(0.01)
    assert isinstance(info.value, FocalError)


@pytest.mark.parametrize(
    "values",
    [np.array([0, 10, 20, 31]), np.array([0.0, 1.0, 2.0, 3.00001]),
     np.array([1e6, 1e6 + 30, 1e6 + 60, 1e6 + 90.0001])],
    ids=["int", "float64", "float64-utm"],
)
def test_int_and_float64_coordinates_stay_strict(values):
    da = xr.DataArray(np.zeros((4, 4)), dims=("y", "x"), coords={"y": np.arange(4.0), "x": values})
    with pytest.raises(ValueError, match="'x' is not regularly spaced"):
        da.focal.circle_kernel(1)


# --- C. default spatial dims from CF -------------------------------------------------------


def lat_lon_time():
    data = awkward_data((9, 11, 3), nan_fraction=0.05)
    return xr.DataArray(data, dims=("lat", "lon", "time"), name="t2m",
                        coords={"lat": 50 - 0.5 * np.arange(9), "lon": 0.5 * np.arange(11),
                                "time": [0.0, 6.0, 12.0]})


ASYM = np.array([[0.0, 1.5, -2.0], [0.25, 1.0, 0.0], [3.0, 0.0, 0.5]])


def test_lat_lon_time_is_smoothed_over_lat_and_lon():
    da = lat_lon_time()
    out = da.focal.correlate(ASYM, boundary="reflect")
    expected = np.stack(
        [reference_correlate(da.values[:, :, t], ASYM, "reflect") for t in range(3)], axis=-1
    )
    assert out.dims == da.dims
    np.testing.assert_allclose(out.values, expected, rtol=1e-12, atol=1e-12)
    mean = da.focal.mean(np.ones((3, 3)))
    np.testing.assert_allclose(
        mean.values,
        np.stack([reference_stat(da.values[:, :, t], np.ones((3, 3)), "mean") for t in range(3)], -1),
        rtol=1e-12, equal_nan=True,
    )


def test_kernel_constructors_read_the_cf_dims_not_the_last_two():
    # Cells: 0.5 degrees on lat/lon, 6 hours on time. Over (lon, time), radius 1 would be
    # a 3 x 1 kernel; over (lat, lon) it is the radius-2 disc.
    np.testing.assert_array_equal(lat_lon_time().focal.circle_kernel(1.0), disc(2))


@pytest.mark.parametrize(
    "dims,attrs,expected",
    [
        (("time", "y", "x"), {}, ("y", "x")),
        (("x", "time", "y"), {}, ("y", "x")),
        (("Time", "LAT", "Lon"), {}, ("LAT", "Lon")),
        (("member", "rlat", "rlon"), {}, ("rlat", "rlon")),
        (("northing", "easting", "band"), {}, ("northing", "easting")),
        (("band", "row", "col"), {"row": {"axis": "Y"}, "col": {"axis": "X"}}, ("row", "col")),
        (("j", "t", "i"), {"j": {"standard_name": "projection_y_coordinate"},
                           "i": {"standard_name": "projection_x_coordinate"}}, ("j", "i")),
        (("b", "a", "c"), {"a": {"units": "degrees_north"}, "b": {"units": "degrees_east"}}, ("a", "b")),
        (("n", "m", "k"), {"n": {"standard_name": "grid_latitude"},
                           "k": {"standard_name": "grid_longitude"}}, ("n", "k")),
        (("row", "col"), {}, ("row", "col")),
        (("col", "row"), {}, ("col", "row")),
    ],
)
def test_default_dims_are_detected_wherever_they_are(dims, attrs, expected):
    shape = tuple(5 + 2 * i for i in range(len(dims)))
    data = awkward_data(shape)
    coords = {d: (d, np.arange(float(n)), attrs[d]) for d, n in zip(dims, shape) if d in attrs}
    da = xr.DataArray(data, dims=dims, coords=coords)
    out = da.focal.correlate(ASYM, boundary="nearest")
    xr.testing.assert_identical(out, da.focal.correlate(ASYM, boundary="nearest", dims=expected))
    ds = xr.Dataset({"v": da})
    xr.testing.assert_identical(ds.focal.correlate(ASYM, boundary="nearest"),
                                ds.focal.correlate(ASYM, boundary="nearest", dims=expected))


@pytest.mark.parametrize(
    "dims",
    [("band", "row", "col"), ("lat", "band", "col"), ("y", "lat", "x"), ("time", "x"),
     ("y", "band")],
    ids=["nothing-spatial", "only-y", "two-y", "only-x-2d", "only-y-2d"],
)
def test_ambiguous_or_non_spatial_dims_are_refused_naming_dims(dims):
    da = xr.DataArray(awkward_data(tuple(4 + i for i in range(len(dims)))), dims=dims)
    for call in (lambda: da.focal.correlate(ASYM), lambda: da.focal.mean(np.ones((3, 3))),
                 lambda: xr.Dataset({"v": da}).focal.convolve(ASYM)):
        with pytest.raises(ValueError) as info:
            call()
        assert_focal_error(info, "dims=('y', 'x')", *(repr(d) for d in dims))


def test_dataset_uses_cf_dims_and_passes_other_variables_through():
    da = lat_lon_time()
    ds = xr.Dataset({"t2m": da, "station": ("time", [1.0, 2.0, 3.0]),
                     "flipped": da.transpose("time", "lon", "lat")})
    out = ds.focal.correlate(ASYM, boundary="wrap")
    explicit = ds.focal.correlate(ASYM, boundary="wrap", dims=("lat", "lon"))
    xr.testing.assert_identical(out, explicit)
    assert out["station"].identical(ds["station"])
    stats = ds.focal.stats(np.ones((3, 3)), ("mean", "max"))
    assert set(stats.data_vars) == {"t2m_mean", "t2m_max", "flipped_mean", "flipped_max"}


def test_dataset_without_cf_clues_and_three_dims_is_refused():
    ds = xr.Dataset({"a": (("band", "row", "col"), np.zeros((2, 4, 5)))})
    with pytest.raises(ValueError) as info:
        ds.focal.mean(np.ones((3, 3)))
    assert_focal_error(info, "dims=('y', 'x')", "'band'", "'row'", "'col'")


# --- D. statistics carry CF attributes -----------------------------------------------------

ATTRS = {
    "units": "m", "standard_name": "surface_altitude", "long_name": "elevation",
    "grid_mapping": "crs", "cell_methods": "time: mean", "valid_range": [0.0, 9000.0],
    "_FillValue": -9999.0, "scale_factor": 0.1, "add_offset": 0.0, "actual_range": [3.0, 2500.0],
    "source": "survey",
}
KEPT = {"grid_mapping": "crs", "source": "survey"}
METHOD = "(focal footprint of 5 cells)"
EXPECTED_ATTRS = {
    "mean": {**KEPT, "units": "m", "standard_name": "surface_altitude", "valid_range": [0.0, 9000.0],
             "long_name": "focal mean of elevation", "cell_methods": f"time: mean y: x: mean {METHOD}"},
    "min": {**KEPT, "units": "m", "standard_name": "surface_altitude", "valid_range": [0.0, 9000.0],
            "long_name": "focal minimum of elevation",
            "cell_methods": f"time: mean y: x: minimum {METHOD}"},
    "max": {**KEPT, "units": "m", "standard_name": "surface_altitude", "valid_range": [0.0, 9000.0],
            "long_name": "focal maximum of elevation",
            "cell_methods": f"time: mean y: x: maximum {METHOD}"},
    "sum": {**KEPT, "units": "m", "long_name": "focal sum of elevation",
            "cell_methods": f"time: mean y: x: sum {METHOD}"},
    "range": {**KEPT, "units": "m", "long_name": "focal range of elevation",
              "cell_methods": f"time: mean y: x: range {METHOD}"},
    "std": {**KEPT, "units": "m", "long_name": "focal standard deviation of elevation",
            "cell_methods": f"time: mean y: x: standard_deviation {METHOD}"},
    "var": {**KEPT, "units": "m2", "long_name": "focal variance of elevation",
            "cell_methods": f"time: mean y: x: variance {METHOD}"},
    "count": {**KEPT, "units": "1", "long_name": "focal count of valid cells of elevation"},
}
STATS = tuple(EXPECTED_ATTRS)
CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])


def elevation(dims=("time", "y", "x"), shape=(2, 8, 9)):
    return xr.DataArray(awkward_data(shape, nan_fraction=0.1), dims=dims, name="elev", attrs=dict(ATTRS),
                        coords={"y": 100.0 - 10 * np.arange(shape[-2]), "x": 10.0 * np.arange(shape[-1])})


def _values_ok(result, da, stat):
    expected = np.stack([reference_stat(da.values[i], CROSS, stat) for i in range(da.shape[0])])
    np.testing.assert_allclose(result.values, expected, rtol=1e-10, atol=1e-10, equal_nan=True)


@pytest.mark.parametrize("stat", STATS)
def test_dataarray_statistic_attributes(stat):
    da = elevation()
    result = getattr(da.focal, stat)(CROSS)
    assert result.attrs == EXPECTED_ATTRS[stat]
    assert result.name == "elev"
    assert da.attrs == ATTRS  # the input's attrs are not modified
    _values_ok(result, da, stat)


def test_stats_dataset_and_dataset_methods_carry_the_same_attributes():
    da = elevation()
    one = da.focal.stats(CROSS, STATS)
    ds = xr.Dataset({"elev": da, "other": da.rename("other").assign_attrs(long_name="")},
                    attrs={"title": "t"})
    many = ds.focal.stats(CROSS, STATS)
    assert one.attrs == {k: v for k, v in ATTRS.items()} and many.attrs == {"title": "t"}
    for stat in STATS:
        assert one[stat].attrs == EXPECTED_ATTRS[stat], stat
        assert many[f"elev_{stat}"].attrs == EXPECTED_ATTRS[stat], stat
        assert getattr(ds.focal, stat)(CROSS)["elev"].attrs == EXPECTED_ATTRS[stat], stat
        # No long_name: the variable's name says what was summarised.
        assert many[f"other_{stat}"].attrs["long_name"].endswith(" of other"), stat
        _values_ok(one[stat], da, stat)


@pytest.mark.parametrize(
    "units,squared",
    [("m", "m2"), ("kg m-2", "(kg m-2)2"), ("s-1", "s-2"), ("m2", "m4"), ("1", "1"),
     ("m s-1", "(m s-1)2"), ("degC", "degC2")],
)
def test_variance_units_are_squared(units, squared):
    da = xr.DataArray(awkward_data((6, 7)), dims=("y", "x"), attrs={"units": units})
    assert da.focal.var(CROSS).attrs["units"] == squared
    assert da.focal.stats(CROSS, ("std", "var"))["std"].attrs["units"] == units


def test_statistics_of_data_without_attributes():
    da = xr.DataArray(awkward_data((6, 7)), dims=("y", "x"))
    assert da.focal.var(CROSS).attrs == {"long_name": "focal variance",
                                         "cell_methods": f"y: x: variance {METHOD}"}
    assert da.focal.count(CROSS).attrs == {"units": "1", "long_name": "focal count of valid cells"}


def test_cell_methods_name_the_actual_dims_in_y_x_order():
    da = xr.DataArray(awkward_data((2, 9, 8)), dims=("time", "lon", "lat"), attrs=dict(ATTRS))
    out = da.focal.max(CROSS, dims=("lat", "lon"))
    assert out.attrs["cell_methods"] == f"time: mean lat: lon: maximum {METHOD}"


def test_temperature_spread_is_a_difference():
    da = xr.DataArray(awkward_data((6, 7)), dims=("y", "x"),
                      attrs={"units": "degC", "units_metadata": "temperature: on_scale"})
    ds = da.focal.stats(CROSS, ("mean", "std", "var", "range", "count"))
    assert ds["mean"].attrs["units_metadata"] == "temperature: on_scale"
    for stat in ("std", "var", "range"):
        assert ds[stat].attrs["units_metadata"] == "temperature: difference", stat
    assert "units_metadata" not in ds["count"].attrs


@pytest.mark.parametrize("op", ["correlate", "convolve"])
def test_correlate_and_convolve_keep_attrs_as_they_are(op):
    da = elevation()
    assert getattr(da.focal, op)(CROSS).attrs == ATTRS


@requires_dask
def test_dask_statistics_carry_attributes_and_stay_lazy():
    da = elevation().chunk({"y": 4, "x": 5})
    with raise_if_dask_computes():
        ds = da.focal.stats(CROSS, STATS)
        var = da.focal.var(CROSS)
    for stat in STATS:
        assert ds[stat].attrs == EXPECTED_ATTRS[stat], stat
    assert var.attrs == EXPECTED_ATTRS["var"]
    _values_ok(ds["var"].compute(), elevation(), "var")
