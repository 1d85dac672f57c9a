"""Radii with units and cell sizes read from coordinates, through ``.focal.*_kernel``.

Expected kernels are written as "a disc of so many cells" with the conversion done by hand
here (1 mi = 1609.344 m, 1 ft = 0.3048 m), then built with the plain array constructor.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xarray_focal as xf
from xarray_focal.errors import FocalError


def raster(ny=20, nx=30, dy=-30.0, dx=30.0, units=None, attrs=None, ydim="y", xdim="x"):
    """A (y, x) grid; ``units`` is one units attribute for both coordinates or a (y, x) pair."""
    y = 1000.0 + np.arange(ny) * dy
    x = 500.0 + np.arange(nx) * dx
    yunits, xunits = (units, units) if units is None or isinstance(units, str) else units
    yattrs = {} if yunits is None else {"units": yunits}
    xattrs = {} if xunits is None else {"units": xunits}
    return xr.DataArray(
        np.zeros((ny, nx)),
        dims=(ydim, xdim),
        coords={ydim: (ydim, y, yattrs), xdim: (xdim, x, xattrs)},
        attrs=attrs or {},
    )


def integer_disc(r):
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return (x**2 + y**2 <= r**2).astype(float)


@pytest.mark.parametrize(
    "radius,metres",
    [
        ("500 m", 500.0),
        ("500m", 500.0),
        ("0.5km", 500.0),
        ("0.5 km", 500.0),
        ("2 mi", 2 * 1609.344),
        ("30 ft", 30 * 0.3048),
        ("1000 ft", 1000 * 0.3048),
        ("  250 metres ", 250.0),
        ("1.5e2 m", 150.0),
    ],
)
def test_radius_string_converted_to_metres_on_unitless_coords(radius, metres):
    da = raster(dy=-30.0, dx=30.0)  # no units attribute: taken as metres
    expected = xf.circle_kernel(30.0, 30.0, metres)
    np.testing.assert_array_equal(da.focal.circle_kernel(radius), expected)


def test_500_m_on_30_m_cells_is_a_16_cell_disc_with_the_partial_cell_rule():
    # 500 / 30 = 16.67 cells: the kernel is 33x33 and holds the cells whose centre is
    # within 16.67 cells -- more than the integer r=16 disc, fewer than r=17.
    k = raster().focal.circle_kernel("500 m")
    assert k.shape == (33, 33)
    y, x = np.mgrid[-16:17, -16:17]
    np.testing.assert_array_equal(k, ((x * 30.0) ** 2 + (y * 30.0) ** 2 <= 500.0**2).astype(float))
    assert integer_disc(16).sum() < k.sum()


def test_feet_radius_on_3_m_cells():
    # 30 ft = 9.144 m = 3.048 cells: the same cells as the integer radius-3 disc
    # (the next ring starts at sqrt(10) = 3.16 cells).
    np.testing.assert_array_equal(raster(dy=3.0, dx=3.0).focal.circle_kernel("30 ft"), integer_disc(3))


def test_plain_number_is_in_coordinate_units():
    np.testing.assert_array_equal(raster(dy=-30.0, dx=30.0).focal.circle_kernel(90), integer_disc(3))
    km = raster(dy=0.5, dx=0.5, units="km")
    np.testing.assert_array_equal(km.focal.circle_kernel(1.5), integer_disc(3))


@pytest.mark.parametrize("radius", ["1500 m", "1.5 km", "1500m"])
def test_coordinates_in_km_convert_metric_radius(radius):
    km = raster(dy=-0.5, dx=0.5, units="km")
    np.testing.assert_array_equal(km.focal.circle_kernel(radius), integer_disc(3))


def test_coordinates_in_feet_convert_metric_radius():
    ft = raster(dy=10.0, dx=10.0, units="ft")
    # 9.144 m = 30 ft = 3 cells of 10 ft.
    np.testing.assert_array_equal(ft.focal.circle_kernel("9.144 m"), integer_disc(3))


@pytest.mark.parametrize(
    "units",
    [("degrees_north", "degrees_east"), "degrees", ("degree_north", "degree_east"), "deg",
     ("degreesN", "degreesE")],
)
def test_degree_coordinates_take_a_metric_radius_as_a_geodesic_footprint(units):
    da = raster(dy=-0.1, dx=0.1, units=units, ydim="lat", xdim="lon")
    # raster() starts at 1000: as latitudes those are no place on Earth.
    with pytest.raises(ValueError, match=r"'lat' has values outside \[-90, 90\]") as info:
        da.focal.circle_kernel("500 m")
    assert isinstance(info.value, FocalError)
    da = da.assign_coords(lat=da.lat - 950)
    k = da.focal.circle_kernel("20 km")
    assert isinstance(k, xf.GeodesicKernel)
    # 0.1 degree is 11.1 km north-south and 11.1 km * cos(50 deg) = 7.1 km east-west.
    assert k.footprint(lat=50.0).shape == (3, 5)


def test_degree_coordinates_take_a_plain_number_in_degrees():
    lat = np.arange(10) * -0.1 + 50
    lon = np.arange(12) * 0.1
    da = xr.DataArray(
        np.zeros((10, 12)),
        dims=("lat", "lon"),
        coords={
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
    )
    # 0.3 degrees over 0.1-degree cells is 3 cells, although 0.3 / 0.1 < 3 in doubles.
    np.testing.assert_array_equal(da.focal.circle_kernel(0.3), integer_disc(3))


def test_descending_y_gives_positive_cell_size():
    down = raster(dy=-20.0, dx=10.0)
    up = raster(dy=20.0, dx=10.0)
    expected = xf.circle_kernel(10.0, 20.0, 40.0)
    assert expected.shape == (5, 9)
    np.testing.assert_array_equal(down.focal.circle_kernel(40), expected)
    np.testing.assert_array_equal(up.focal.circle_kernel(40), expected)


def test_anisotropic_cells_from_coordinates():
    da = raster(dy=-45.0, dx=30.0)
    np.testing.assert_array_equal(da.focal.circle_kernel("300 m"), xf.circle_kernel(30.0, 45.0, 300.0))


def test_attrs_res_is_the_fallback_without_coordinates():
    bare = xr.DataArray(np.zeros((20, 30)), dims=("y", "x"), attrs={"res": (10.0, 20.0)})
    # res is (x, y), as rasterio/rioxarray write it.
    np.testing.assert_array_equal(bare.focal.circle_kernel(40), xf.circle_kernel(10.0, 20.0, 40.0))
    square = bare.assign_attrs(res=25.0)
    np.testing.assert_array_equal(square.focal.circle_kernel("0.1 km"), integer_disc(4))


def test_attrs_res_that_contradicts_regular_coordinates_is_an_error_naming_both():
    da = raster(dy=-30.0, dx=30.0, attrs={"res": (1.0, 1.0)})
    with pytest.raises(ValueError, match=r"res.*1\.0.*'x'.*30\.0") as info:
        da.focal.circle_kernel(90)
    assert isinstance(info.value, FocalError)


def test_attrs_res_that_agrees_with_regular_coordinates_is_fine():
    # rioxarray writes y's res negative for a north-up grid: only the size counts.
    da = raster(dy=-30.0, dx=20.0, attrs={"res": (20.0, -30.0)})
    np.testing.assert_array_equal(da.focal.circle_kernel(90), xf.circle_kernel(20.0, 30.0, 90.0))


def test_kernel_dims_keyword_picks_the_spatial_dims():
    da = raster(dy=-10.0, dx=20.0).expand_dims(band=[1, 2, 3], axis=-1)  # (y, x, band)
    np.testing.assert_array_equal(
        da.focal.circle_kernel(40, dims=("y", "x")), xf.circle_kernel(20.0, 10.0, 40.0)
    )


def test_annulus_kernel_with_units():
    da = raster(dy=-30.0, dx=30.0)
    np.testing.assert_array_equal(
        da.focal.annulus_kernel("90 m", "30 m"), xf.annulus_kernel(30.0, 30.0, 90.0, 30.0)
    )
    np.testing.assert_array_equal(
        da.focal.annulus_kernel("0.09 km", 0), xf.annulus_kernel(30.0, 30.0, 90.0, 0.0)
    )


def test_dataset_kernel_from_shared_coordinates():
    da = raster(dy=-30.0, dx=30.0)
    ds = xr.Dataset({"a": da, "b": da + 1})
    np.testing.assert_array_equal(ds.focal.circle_kernel("90 m"), integer_disc(3))


@pytest.mark.parametrize(
    "coords,match",
    [
        ({"y": [0.0, 1.0, 3.0, 7.0], "x": [0.0, 1.0, 2.0, 3.0]}, "'y'.*regular"),
        ({"y": [0.0, 1.0, 2.0, 3.0], "x": [0.0, 10.0, 11.0, 30.0]}, "'x'.*regular"),
    ],
)
def test_irregular_coordinates_are_an_error(coords, match):
    da = xr.DataArray(np.zeros((4, 4)), dims=("y", "x"), coords=coords)
    with pytest.raises(ValueError, match=match):
        da.focal.circle_kernel(1)


def test_no_cell_size_is_an_error_naming_the_dims():
    bare = xr.DataArray(np.zeros((4, 4)), dims=("row", "col"))
    with pytest.raises(ValueError, match="cell size.*row") as info:
        bare.focal.circle_kernel(1)
    assert isinstance(info.value, FocalError)


@pytest.mark.parametrize("inner", [0, 0.0, "0 m", "0km"])
def test_annulus_inner_radius_zero_with_or_without_unit_drops_only_the_centre(inner):
    expected = xf.circle_kernel(30.0, 30.0, 90.0)
    expected[3, 3] = 0
    np.testing.assert_array_equal(raster().focal.annulus_kernel("90 m", inner), expected)
