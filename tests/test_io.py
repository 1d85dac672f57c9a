"""File round trips: open lazily with xarray, focal op, write, reopen.

NetCDF through whichever engine is installed (scipy's NetCDF3 writer ships with the test
extra already; netCDF4/h5netcdf are used when present) and Zarr when zarr is installed.
Checked after the reopen: values equal the eager result (and the reference), NaN holes
are still NaN, dtype, coords with their attrs, the CRS variable, variable and global
attrs are kept, and the computation stayed lazy until the write.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import xarray as xr

import xarray_focal as xf

from . import raise_if_dask_computes, requires_dask
from .reference import assert_matches_contract

pytestmark = requires_dask

KERNEL = xf.circle_kernel(30.0, 30.0, 90.0)


def _engines():
    out = []
    for engine, modules in (
        ("scipy", ["scipy"]),
        ("netcdf4", ["netCDF4"]),
        ("h5netcdf", ["h5netcdf", "h5py"]),
        ("zarr", ["zarr"]),
    ):
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        out.append(pytest.param(engine, marks=pytest.mark.skipif(bool(missing), reason=f"needs {missing}")))
    return out


def _dem_dataset():
    rng = np.random.default_rng(11)
    ny, nx = 45, 52
    elev = rng.normal(500, 40, (2, ny, nx)).astype(np.float32)
    elev[0, 5:8, 9:12] = np.nan  # nodata hole
    y = 4_000_000.0 - 30.0 * np.arange(ny)
    x = 300_000.0 + 30.0 * np.arange(nx)
    ds = xr.Dataset(
        {
            "elev": (
                ("time", "y", "x"),
                elev,
                {"units": "m", "long_name": "surface elevation", "grid_mapping": "spatial_ref"},
            ),
            "station_count": ("time", np.array([3, 4], np.int32), {"units": "1"}),
        },
        coords={
            "time": ("time", np.array(["2024-01-01", "2024-07-01"], dtype="M8[ns]")),
            "y": ("y", y, {"units": "m", "standard_name": "projection_y_coordinate"}),
            "x": ("x", x, {"units": "m", "standard_name": "projection_x_coordinate"}),
            "spatial_ref": ((), np.int32(0), {"grid_mapping_name": "transverse_mercator", "epsg": 32633}),
        },
        attrs={"title": "synthetic DEM", "Conventions": "CF-1.8"},
    )
    ds["elev"].encoding.update({"_FillValue": np.float32(-9999.0), "dtype": "float32"})
    return ds


def _write(ds, path, engine, chunks=None):
    if chunks is not None:
        # Store in the chunks we will open with: Zarr refuses to write dask chunks that
        # straddle its stored chunks (for the pass-through variables, which keep encoding).
        ds = ds.chunk({d: c for d, c in chunks.items() if d in ds.dims})
    if engine == "zarr":
        ds.to_zarr(path, mode="w", consolidated=False)
    else:
        ds.to_netcdf(path, engine=engine)


def _open(path, engine, chunks):
    if engine == "zarr":
        return xr.open_zarr(path, chunks=chunks, consolidated=False)
    return xr.open_dataset(path, engine=engine, chunks=chunks)


@pytest.mark.parametrize("engine", _engines())
def test_lazy_open_focal_write_reopen_round_trip(tmp_path, engine):
    src = _dem_dataset()
    suffix = "zarr" if engine == "zarr" else "nc"
    chunks = {"time": 1, "y": 16, "x": 20}
    _write(src, tmp_path / f"in.{suffix}", engine, chunks)
    opened = _open(tmp_path / f"in.{suffix}", engine, chunks)
    with raise_if_dask_computes():
        # The kernel is sized from the file's own coordinates: 90 m on 30 m cells.
        kernel = opened.focal.circle_kernel("90 m")
        smoothed = opened.focal.convolve(kernel, boundary="reflect")
    np.testing.assert_array_equal(kernel, KERNEL)
    assert smoothed["elev"].chunks == opened["elev"].chunks

    # Writing is the first compute.
    _write(smoothed, tmp_path / f"out.{suffix}", engine)
    opened.close()
    back = _open(tmp_path / f"out.{suffix}", engine, None).load()

    eager = src.focal.convolve(KERNEL, boundary="reflect")
    assert back["elev"].dtype == np.float32
    np.testing.assert_array_equal(back["elev"].values, eager["elev"].values)
    assert_matches_contract(back["elev"].values, src["elev"].values, KERNEL, "reflect", convolve=True)
    # The nodata hole is still NaN after the file's fill value round trip.
    assert np.isnan(back["elev"].values[0, 6, 10])
    assert not np.isnan(back["elev"].values[1]).any()

    assert back.attrs == src.attrs
    assert back["elev"].attrs == src["elev"].attrs
    assert back["elev"].dims == src["elev"].dims
    # Variables without the spatial dims passed through untouched.
    np.testing.assert_array_equal(back["station_count"].values, src["station_count"].values)
    assert back["station_count"].attrs == src["station_count"].attrs
    for name in ("time", "y", "x"):
        np.testing.assert_array_equal(back[name].values, src[name].values)
        assert back[name].attrs == src[name].attrs, name
    assert "spatial_ref" in back.coords
    assert back["spatial_ref"].attrs == src["spatial_ref"].attrs
    assert int(back["spatial_ref"]) == 0


@pytest.mark.parametrize("engine", _engines())
def test_round_trip_of_a_dataarray_with_dims_not_last(tmp_path, engine):
    src = _dem_dataset()["elev"].transpose("y", "x", "time")
    suffix = "zarr" if engine == "zarr" else "nc"
    chunks = {"y": 10, "x": 25, "time": 1}
    _write(src.to_dataset(), tmp_path / f"in.{suffix}", engine, chunks)
    opened = _open(tmp_path / f"in.{suffix}", engine, chunks)["elev"]
    with raise_if_dask_computes():
        result = opened.focal.correlate(KERNEL, boundary="nan", dims=("y", "x"), name="elev_mean")
    assert result.dims == ("y", "x", "time") and result.chunks == opened.chunks
    _write(result.to_dataset(), tmp_path / f"out.{suffix}", engine)
    opened.close()
    back = _open(tmp_path / f"out.{suffix}", engine, None)["elev_mean"].load()
    expected = src.focal.correlate(KERNEL, boundary="nan", dims=("y", "x"))
    np.testing.assert_array_equal(back.values, expected.values)
    assert back.attrs == src.attrs
