"""Focal statistics against numpy nan-functions over stacked windows."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xarray_focal as xf

from . import raise_if_dask_computes, requires_dask
from .conftest import awkward_data
from .reference import BOUNDARIES, assert_stat_accuracy, reference_stat

STATS = list(xf.STATISTICS)


@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("policy", ["omit", "propagate"])
def test_statistic_matches_numpy(stat, boundary, policy):
    data = awkward_data((23, 29), nan_fraction=0.1, seed=7)
    footprint = xf.annulus_kernel(1, 1, 2.5, 0.5) * 3.0  # weights are ignored
    result = xf.focal_stats(data, footprint, (stat,), boundary=boundary, nan_policy=policy)[stat]
    assert_stat_accuracy(result, reference_stat(data, footprint, stat, boundary, policy), data, stat,
           footprint, boundary, policy)


@pytest.mark.parametrize("method", ["direct", "runs", "columns"])
@pytest.mark.parametrize("min_count", [None, 4, 13])
def test_all_stats_in_one_pass(method, min_count):
    data = awkward_data((2, 31, 27), nan_fraction=0.25, seed=1)
    footprint = xf.circle_kernel(1, 1, 2)
    out = xf.focal_stats(data, footprint, STATS, boundary="nearest", min_count=min_count,
                         method=method)
    assert list(out) == STATS
    for stat in STATS:
        expected = reference_stat(data, footprint, stat, "nearest", "omit", min_count)
        if stat == "count":
            expected = reference_stat(data, footprint, "count", "nearest")
        assert_stat_accuracy(out[stat], expected, data, stat, footprint, "nearest", "omit", min_count)
        alone = getattr(xf, f"focal_{stat}")(data, footprint, boundary="nearest",
                                              min_count=min_count, method=method)
        # Each statistic has its own channels: the same bits alone as in company.
        np.testing.assert_array_equal(out[stat], alone)


def test_variance_of_offset_data_does_not_cancel():
    # A DEM-like offset: 1e6 + small noise; the naive sum-of-squares formula loses it all.
    rng = np.random.default_rng(0)
    data = 1e6 + rng.standard_normal((40, 40)) * 1e-2
    footprint = np.ones((5, 5))
    result = xf.focal_var(data, footprint, boundary="reflect")
    expected = reference_stat(data, footprint, "var", "reflect")
    np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_float32_and_int_dtypes():
    data32 = awkward_data((15, 15), np.float32, nan_fraction=0.1)
    out = xf.focal_mean(data32, np.ones((3, 3)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference_stat(data32, np.ones((3, 3)), "mean"),
                               rtol=1e-5, equal_nan=True)
    ints = awkward_data((15, 15), np.int16)
    assert xf.focal_max(ints, np.ones((3, 3))).dtype == np.float64
    np.testing.assert_array_equal(xf.focal_max(ints, np.ones((3, 3))),
                                  reference_stat(ints, np.ones((3, 3)), "max"))


def test_min_max_with_infinities():
    data = np.array([[1.0, -np.inf, 3.0, np.nan, np.inf]])
    fp = np.ones((1, 3))
    np.testing.assert_array_equal(xf.focal_min(data, fp, boundary="nearest"),
                                  [[-np.inf, -np.inf, -np.inf, 3.0, np.inf]])
    np.testing.assert_array_equal(xf.focal_max(data, fp, boundary="nearest"),
                                  [[1.0, 3.0, 3.0, np.inf, np.inf]])


@requires_dask
@pytest.mark.parametrize("chunks", [(4, 5), (1, 30), (17, 2)])
def test_dask_stats_equal_numpy_and_stay_lazy(chunks):
    import dask.array as da

    data = awkward_data((30, 34), nan_fraction=0.1)
    arr = da.from_array(data, chunks=chunks)
    fp = xf.circle_kernel(1, 1, 3)
    with raise_if_dask_computes():
        out = xf.focal_stats(arr, fp, STATS, boundary="mirror")
    expected = xf.focal_stats(data, fp, STATS, boundary="mirror")
    for stat in STATS:
        assert out[stat].chunks == arr.chunks
        # Every shift is local to its window: chunkings agree bit for bit.
        np.testing.assert_array_equal(out[stat].compute(), expected[stat])


def test_accessor_statistics_keep_labels():
    da = xr.DataArray(
        awkward_data((2, 12, 14), nan_fraction=0.1), dims=("time", "y", "x"), name="z",
        coords={"time": [1, 2], "y": np.arange(12.0), "x": np.arange(14.0)},
        attrs={"units": "m"},
    )
    fp = np.ones((3, 3))
    mean = da.focal.mean(fp)
    assert mean.dims == da.dims and mean.name == "z"
    # Attributes describe the statistic (issue 12): tests/test_cf.py pins them per statistic.
    assert mean.attrs == {"units": "m", "long_name": "focal mean of z",
                          "cell_methods": "y: x: mean (focal footprint of 9 cells)"}
    xr.testing.assert_identical(mean.coords.to_dataset(), da.coords.to_dataset())
    np.testing.assert_array_equal(mean.values, xf.focal_mean(da.values, fp))
    ds = da.focal.stats(fp, ("mean", "max", "count"))
    assert set(ds.data_vars) == {"mean", "max", "count"}
    np.testing.assert_array_equal(ds["max"].values, xf.focal_max(da.values, fp))
    ds2 = xr.Dataset({"a": da, "b": da * 2, "t": ("time", [0, 1])}).focal.stats(fp, ("std",))
    assert set(ds2.data_vars) == {"a_std", "b_std"}


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"stats": ("median",)}, ValueError, "statistic"),
        ({"stats": ()}, TypeError, "stats"),
        ({"stats": ("mean", "mean")}, ValueError, "twice"),
        ({"nan_policy": "renormalize"}, ValueError, "nan_policy"),
        ({"min_count": -2}, ValueError, "min_count"),
    ],
)
def test_bad_statistics_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        xf.focal_stats(np.ones((5, 5)), np.ones((3, 3)), **kwargs)


def test_variance_with_an_infinity_in_the_window_is_nan():
    data = np.array([[1.0, 2.0, np.inf, 4.0, 5.0, 6.0]])
    fp = np.ones((1, 3))
    expected = reference_stat(data, fp, "var", "nearest")
    result = xf.focal_var(data, fp, boundary="nearest")
    np.testing.assert_array_equal(np.isnan(result), np.isnan(expected))
    assert np.isnan(result[0, 1:4]).all()
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(result[ok], expected[ok], rtol=1e-12)
    assert np.isnan(xf.focal_std(data, fp, boundary="nearest")[0, 2])


def test_flat_plateau_far_from_the_tile_mean_has_zero_spread():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(40, 40)) * 100
    data[10:30, 10:30] = 1234.5678901
    fp = np.ones((3, 3))
    for stat in ("std", "var"):
        result = getattr(xf, f"focal_{stat}")(data, fp, boundary="nearest")
        np.testing.assert_array_equal(result[12:28, 12:28], 0.0)
        expected = reference_stat(data, fp, stat, "nearest")
        np.testing.assert_allclose(result, expected, rtol=1e-9, atol=1e-9)


def test_statistics_keep_2d_coords_when_spatial_dims_are_not_last():
    da = xr.DataArray(np.arange(30.0).reshape(5, 6), dims=("y", "x"),
                      coords={"lat": (("y", "x"), np.arange(30.0).reshape(5, 6))})
    da = da.transpose("x", "y", transpose_coords=False)
    out = da.focal.mean(np.ones((3, 3)), dims=("y", "x"))
    assert out.dims == ("x", "y") and out["lat"].dims == ("y", "x")
    xr.testing.assert_identical(out["lat"], da["lat"])
    with pytest.raises(TypeError, match="name"):
        xr.Dataset({"a": da}).focal.mean(np.ones((3, 3)), dims=("y", "x"), name="m")
