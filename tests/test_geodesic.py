"""Geodesic footprints on latitude/longitude grids, against a brute-force reference.

The reference shares nothing with the library: for every output cell it computes the
haversine distance to every cell of the grid, takes the cells within the radius, and sums
them with :func:`math.fsum` (exact rounding), so the accuracy contract's bounds
(docs/contract.md) are checked against an exact value.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

import xarray_focal as xf
from xarray_focal import GeodesicKernel
from xarray_focal.errors import FocalValueError

from .backends import backend_params

R_EARTH = 6_371_008.8
EPS = np.finfo(np.float64).eps


def haversine(lat0, lon0, lat, lon, radius=R_EARTH):
    p0, p1 = np.radians(lat0), np.radians(lat)
    h = np.sin((p1 - p0) / 2) ** 2 + np.cos(p0) * np.cos(p1) * np.sin(np.radians(lon - lon0) / 2) ** 2
    return 2 * radius * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def brute_force(data, lat, lon, reach, *, weight=None, area=None, inner=None, policy="omit"):
    """Per output cell: (valid values, their weights, all footprint weights), by brute force."""
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    cells = {}
    for i in range(lat.size):
        for j in range(lon.size):
            d = haversine(lat[i], lon[j], la, lo)
            f = d <= reach * (1 + 1e-12)
            if inner is not None:
                f &= d > inner * (1 + 1e-12)
            w = np.ones(f.sum()) if weight is None else weight(d[f])
            if area is not None:
                w = w * area[f]
            v = data[f]
            cells[i, j] = (v, w)
    return cells


def reduce_cells(cells, shape, stat, policy="omit", min_count=None):
    """Exact statistics (math.fsum) and the contract's scale of each cell."""
    out = np.full(shape, np.nan)
    scale = np.zeros(shape)
    for (i, j), (v, w) in cells.items():
        ok = ~np.isnan(v)
        if stat == "count":
            out[i, j] = ok.sum()
            continue
        threshold = len(v) if policy == "propagate" else max(1, min_count or 0)
        if ok.sum() < threshold:
            continue
        vv, ww = v[ok], w[ok]
        total = math.fsum(ww * vv)
        scale[i, j] = math.fsum(np.abs(ww * vv))
        if stat in ("sum", "correlate"):
            out[i, j] = total
        elif stat == "mean":
            wsum = math.fsum(ww)
            out[i, j] = total / wsum
            scale[i, j] /= wsum
        elif stat == "renormalize":
            out[i, j] = total if ok.all() else total * (math.fsum(w) / math.fsum(ww))
            scale[i, j] *= abs(math.fsum(w) / math.fsum(ww)) * 2
        elif stat == "var":
            wsum = math.fsum(ww)
            mean = math.fsum(ww * vv) / wsum
            out[i, j] = math.fsum(ww * (vv - mean) ** 2) / wsum
            scale[i, j] = 8 * (ok.sum() + 2) * (vv.max() - vv.min()) ** 2
        elif stat == "min":
            out[i, j] = vv.min()
        elif stat == "max":
            out[i, j] = vv.max()
    return out, scale


def assert_contract(result, expected, scale, rtol=1e-12):
    result = np.asarray(result, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(result), np.isnan(expected), err_msg="NaN pattern")
    ok = ~np.isnan(expected)
    err = np.abs(result[ok] - expected[ok])
    bound = rtol * scale[ok] + np.finfo(np.float64).tiny
    assert np.all(err <= bound), f"error {err.max():.3g} > bound {bound[np.argmax(err - bound)]:.3g}"


def global_grid(step=10.0, *, seed=0, offset=1000.0, lon0=-180.0):
    """A global field with NaN at a pole, on the dateline, on the equator and at random."""
    lat = np.arange(-90 + step / 2, 90, step)
    lon = np.arange(lon0 + step / 2, lon0 + 360, step)
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(lat.size, lon.size)) * 10 + offset
    data[-1, :3] = np.nan  # next to the north pole
    data[lat.size // 2, 0] = data[lat.size // 2, -1] = np.nan  # equator, either side of the dateline
    data[rng.random(data.shape) < 0.05] = np.nan
    coords = {"lat": ("lat", lat, {"units": "degrees_north"}),
              "lon": ("lon", lon, {"units": "degrees_east"})}
    return xr.DataArray(data, dims=("lat", "lon"), coords=coords, name="t", attrs={"units": "K"})


@pytest.fixture(scope="module")
def field():
    return global_grid()


@pytest.fixture(scope="module")
def disc_cells(field):
    return brute_force(field.values, field.lat.values, field.lon.values, 1234e3)


@pytest.mark.parametrize("stat", ["mean", "sum", "count", "min", "max", "var"])
@pytest.mark.parametrize("backend", backend_params("numpy", "dask"), indirect=True)
def test_disc_statistics_match_brute_force(field, disc_cells, stat, backend):
    k = field.focal.circle_kernel("1234 km")
    da = field.chunk({"lat": 5, "lon": 7}) if backend.lazy else field
    out = getattr(da.focal, stat)(k)
    assert out.dims == field.dims and out.attrs["units"] in ("K", "K2", "1")
    expected, scale = reduce_cells(disc_cells, field.shape, stat)
    assert_contract(out.values, expected, scale)


def test_propagate_and_correlate_match_brute_force(field, disc_cells):
    k = field.focal.circle_kernel("1234 km")
    expected, scale = reduce_cells(disc_cells, field.shape, "mean", "propagate")
    assert_contract(field.focal.mean(k, nan_policy="propagate").values, expected, scale)
    expected, scale = reduce_cells(disc_cells, field.shape, "correlate", "propagate")
    assert_contract(field.focal.correlate(k).values, expected, scale)
    # The footprint is symmetric, so convolve is the same.
    assert_contract(field.focal.convolve(k).values, expected, scale)


@pytest.mark.parametrize("stat", ["mean", "sum", "var"])
def test_area_weighted_statistics_weight_by_cell_area(field, stat):
    lat = field.lat.values
    step = np.radians(10.0)
    area_row = R_EARTH ** 2 * step * (np.sin(np.radians(lat + 5)) - np.sin(np.radians(lat - 5)))
    area = np.repeat(area_row[:, None], field.shape[1], axis=1)
    cells = brute_force(field.values, lat, field.lon.values, 1234e3, area=area)
    k = field.focal.circle_kernel("1234 km")
    out = getattr(field.focal, stat)(k, area_weighted=True)
    expected, scale = reduce_cells(cells, field.shape, stat)
    assert_contract(out.values, expected, scale)
    assert out.attrs["cell_methods"].endswith("cells, area-weighted)")
    if stat == "sum":
        assert out.attrs["units"] == "K m2"


@pytest.mark.parametrize("policy", ["omit", "renormalize", "propagate"])
def test_gaussian_weights_match_brute_force(field, policy):
    sigma = 600e3
    k = field.focal.gaussian_kernel("600 km")
    assert k.radius == 4 * sigma
    # Weights of each footprint sum to 1 (as scipy's and xarray_focal.gaussian_kernel's).
    gauss = lambda d: np.exp(-d * d / (2 * sigma * sigma)) / np.exp(-d * d / (2 * sigma * sigma)).sum()  # noqa: E731
    cells = brute_force(field.values, field.lat.values, field.lon.values, 4 * sigma,
                        weight=gauss)
    expected, scale = reduce_cells(cells, field.shape,
                                   "renormalize" if policy == "renormalize" else "correlate", policy)
    assert_contract(field.focal.correlate(k, nan_policy=policy).values, expected, scale)


def test_annulus_leaves_out_the_inner_disc(field):
    k = field.focal.annulus_kernel("2000 km", "900 km")
    cells = brute_force(field.values, field.lat.values, field.lon.values, 2000e3, inner=900e3)
    expected, scale = reduce_cells(cells, field.shape, "mean")
    assert_contract(field.focal.mean(k).values, expected, scale)


@pytest.mark.parametrize("chunks", [{"lat": 1, "lon": 36}, {"lat": 18, "lon": 1},
                                    {"lat": 4, "lon": 9}, {"time": 1, "lat": 7, "lon": 36}])
def test_dask_chunkings_match_numpy(chunks):
    field = global_grid(seed=3)
    cube = xr.concat([field, field * 2 - 5], dim="time")
    k = cube.focal.circle_kernel("2500 km")  # whole rows of longitude near the poles
    assert k.row_runs.rx >= cube.sizes["lon"] // 2
    eager = cube.focal.stats(k, ("mean", "count", "std", "max"))
    lazy = cube.chunk(chunks).focal.stats(k, ("mean", "count", "std", "max"))
    assert lazy["mean"].chunks is not None  # still lazy
    for name in eager:
        a, b = eager[name].values, lazy[name].compute().values
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(b, a, rtol=1e-13, atol=0)


def test_footprint_widens_towards_the_pole_and_never_crosses_it():
    field = global_grid(1.0)
    k = field.focal.circle_kernel("500 km")
    equator, sixty, pole = (k.footprint(lat=v) for v in (0.5, 60.5, 89.5))
    # Rows: 500 km is 4.5 degrees of latitude everywhere.
    assert equator.shape[0] == sixty.shape[0] == 9
    # Columns of the centre row: a degree of longitude is cos(latitude) times as long.
    degrees = 500e3 / (R_EARTH * np.pi / 180)
    for fp, lat in ((equator, 0.5), (sixty, 60.5)):
        centre = fp[fp.shape[0] // 2]
        assert centre.sum() == 2 * np.floor(degrees / np.cos(np.radians(lat))) + 1
    assert sixty.shape[1] == 19 and equator.shape[1] == 9
    # At the pole the nearest rows are whole rings, and nothing lies beyond the pole.
    assert pole.shape[1] == 360 and pole.shape[0] == 5
    assert pole[-1].all()


def test_global_grid_wraps_in_longitude_whatever_the_one_mode():
    field = global_grid(seed=4)
    k = field.focal.circle_kernel("1500 km")
    a = field.focal.mean(k, boundary="nan")
    b = field.focal.mean(k, boundary={"lat": "nearest", "lon": "wrap"})
    xr.testing.assert_identical(a, b)
    # Rolling the grid across the dateline changes nothing: no seam.
    rolled = field.roll(lon=7, roll_coords=False)
    np.testing.assert_allclose(rolled.focal.mean(k).values, np.roll(a.values, 7, axis=1),
                               rtol=1e-13)


def test_global_grid_refuses_another_longitude_mode():
    field = global_grid()
    k = field.focal.circle_kernel("1500 km")
    with pytest.raises(FocalValueError, match="spans 360 degrees of longitude.*'wrap'"):
        field.focal.mean(k, boundary={"lat": "nan", "lon": "nearest"})


def test_regional_grid_honours_the_boundary():
    field = global_grid(seed=5).isel(lat=slice(3, 12), lon=slice(5, 25))
    k = field.focal.circle_kernel("1500 km")
    assert not k.periodic
    cells = brute_force(field.values, field.lat.values, field.lon.values, 1500e3)
    expected, scale = reduce_cells(cells, field.shape, "mean")
    assert_contract(field.focal.mean(k).values, expected, scale)  # omit: outside cells missing
    propagate = field.focal.mean(k, nan_policy="propagate").values
    assert np.isnan(propagate[0]).all() and np.isnan(propagate[:, 0]).all()


def test_large_offsets_and_outliers_stay_within_the_contract():
    field = global_grid(2.5, seed=6, offset=1e8)
    values = field.values.copy()
    values[30, ::7] = 1e15  # outliers that leave the window as it slides along the row
    values[10:14, 40:60] = -1e12
    field = field.copy(data=values)
    k = field.focal.circle_kernel("700 km")
    cells = brute_force(values, field.lat.values, field.lon.values, 700e3)
    for stat in ("sum", "mean"):
        expected, scale = reduce_cells(cells, field.shape, stat)
        assert_contract(getattr(field.focal, stat)(k).values, expected, scale)


def test_float32_gives_float32_within_its_bound(field, disc_cells):
    k = field.focal.circle_kernel("1234 km")
    out = field.astype(np.float32).focal.mean(k)
    assert out.dtype == np.float32
    expected, scale = reduce_cells(disc_cells, field.shape, "mean")
    assert_contract(out.values, expected, scale, rtol=1e-5)


def test_array_api_takes_the_kernel_on_arrays_of_its_grid(field):
    k = field.focal.circle_kernel("1234 km")
    np.testing.assert_array_equal(xf.focal_mean(field.values, k), field.focal.mean(k).values)
    with pytest.raises(FocalValueError, match="built for a 18 x 36 grid"):
        xf.focal_mean(field.values[:, :30], k)


def test_repr_and_row_runs(field):
    k = field.focal.circle_kernel("1234 km")
    assert isinstance(k, GeodesicKernel)
    assert repr(k).startswith("GeodesicKernel(circle, radius=1234 km, grid 18 x 36 of 10 x 10 degrees, global")
    runs = k.row_runs
    # One run per kernel row for a disc, and rows of equal footprint share one table.
    row = runs.for_row(9)
    assert row.nruns == np.count_nonzero(row.kernel.any(axis=1))
    assert len(runs.dy) < field.shape[0]


def test_earth_radius_keyword_scales_the_footprint(field):
    small = field.focal.circle_kernel("1234 km", earth_radius=3_000_000)
    big = field.focal.circle_kernel("1234 km")
    # A smaller sphere: the same metres span more degrees.
    assert small.footprint(lat=5).sum() > big.footprint(lat=5).sum()
    assert "earth_radius=3e+06 m" in repr(small)


def test_projected_grids_keep_array_kernels():
    da = xr.DataArray(np.zeros((20, 20)), dims=("y", "x"),
                      coords={"y": np.arange(20) * 30.0, "x": np.arange(20) * 30.0})
    assert isinstance(da.focal.circle_kernel("60 m"), np.ndarray)
    field = global_grid()
    assert isinstance(field.focal.circle_kernel(20), np.ndarray)  # a plain number: degrees


@pytest.mark.parametrize("make, match", [
    (lambda f: f.assign_coords(lat=np.r_[f.lat.values[:-1], 89.9]).focal.circle_kernel("500 km"),
     "not regularly spaced"),
    (lambda f: f.focal.circle_kernel("21000 km"), "more than half the Earth's circumference"),
    (lambda f: f.focal.annulus_kernel("500 km", "800 km"), "inner_radius"),
    (lambda f: f.focal.gaussian_kernel("300 km", truncate=0), "truncate"),
    (lambda f: f.focal.circle_kernel("500 km", earth_radius=-1), "earth_radius"),
    (lambda f: f.focal.mean(np.ones((3, 3)), area_weighted=True), "needs a geodesic kernel"),
    (lambda f: f.focal.count(f.focal.circle_kernel("2000 km"), area_weighted=True), "area_weighted=True applies"),
    (lambda f: f.isel(lat=slice(0, 9)).focal.mean(f.focal.circle_kernel("2000 km")), "built for another grid"),
    (lambda f: f.focal.mean(f.focal.circle_kernel("2000 km"), min_count=10**6), "min_count"),
])
def test_bad_geodesic_input_is_refused(field, make, match):
    with pytest.raises(FocalValueError, match=match):
        make(field)


def test_curvilinear_grids_are_refused_naming_the_2d_coordinates():
    y, x = np.mgrid[0:6, 0:8]
    da = xr.DataArray(np.zeros((6, 8)), dims=("eta", "xi"),
                      coords={"lat": (("eta", "xi"), 40 + y * 0.5 + x * 0.1),
                              "lon": (("eta", "xi"), 10 + x * 0.5)})
    with pytest.raises(FocalValueError, match="curvilinear.*'lat' is 2-D"):
        da.focal.circle_kernel("50 km", dims=("eta", "xi"))


@pytest.mark.parametrize("names, policy", [
    (None, "propagate"), (None, "omit"), (None, "renormalize"),
    (("mean", "sum", "count"), "omit"), (("mean", "sum"), "propagate"),
])
@pytest.mark.parametrize("kind", ["circle", "gaussian", "annulus"])
def test_band_path_through_the_planar_kernels_agrees_with_the_row_sweep(field, kind, names, policy):
    # The path of arrays without a per-row sweep (cupy): one ordinary tile per band of rows
    # that share a footprint. Run here with the numpy backend's tile functions, it is an
    # independent second implementation of the sums. (min, max, range, std and var take
    # this path on numpy too; the brute-force tests above pin them.)
    from xarray_focal import _geodesic, api
    from xarray_focal._backends import numpy_backend
    from xarray_focal._tiles import Tile

    k = {"circle": lambda: field.focal.circle_kernel("1234 km"),
         "gaussian": lambda: field.focal.gaussian_kernel("400 km"),
         "annulus": lambda: field.focal.annulus_kernel("1500 km", "600 km")}[kind]()
    call = (api.check_correlate(k, nan_policy=policy) if names is None
            else api.check_stats(k, names, nan_policy=policy))
    cube = np.stack([field.values, field.values[::-1] * 0.5])
    tile = Tile.whole(cube, call.runs.ry, call.runs.rx, call.mode)
    sweep = _geodesic.tile_stack(tile, call.runs, call, parallel=True)
    bands = _geodesic.band_stack(tile, call.runs, call, numpy_backend, parallel=True)
    np.testing.assert_array_equal(np.isnan(sweep), np.isnan(bands))
    np.testing.assert_allclose(bands, sweep, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("backend", backend_params("cupy", "dask+cupy"), indirect=True)
def test_gpu_arrays_match_numpy(field, backend):
    k = field.focal.circle_kernel("1234 km")
    data = backend.to_backend(field.values, chunks=(5, 12))
    for stat in ("mean", "count", "max", "std"):
        out = getattr(xf, f"focal_{stat}")(data, k)
        backend.check_type(out)
        ref = getattr(xf, f"focal_{stat}")(field.values, k)
        got = backend.to_numpy(out)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9)
    got = backend.to_numpy(xf.correlate(data, k))
    np.testing.assert_allclose(got, xf.correlate(field.values, k), rtol=1e-12, atol=1e-9)
    # Area weights run on the GPU too (more in test_geodesic_gpu.py).
    got = backend.to_numpy(xf.focal_mean(data, k, area_weighted=True))
    ref = xf.focal_mean(field.values, k, area_weighted=True)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9)


def test_descending_latitudes_with_points_at_the_poles():
    # 90 .. -90 in 10-degree steps: the first and last rows are single points, every cell
    # of them at the same place, so a footprint takes all of such a row or none of it.
    lat, lon = np.arange(90.0, -91, -10), np.arange(0.0, 360, 10)
    rng = np.random.default_rng(7)
    data = rng.normal(size=(lat.size, lon.size)) + 50
    data[rng.random(data.shape) < 0.1] = np.nan
    da = xr.DataArray(data, dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    k = da.focal.circle_kernel("1800 km")
    cells = brute_force(data, lat, lon, 1800e3)
    for stat in ("mean", "max", "var"):
        expected, scale = reduce_cells(cells, da.shape, stat)
        assert_contract(getattr(da.focal, stat)(k).values, expected, scale)
    assert k.footprint(row=0).shape[1] == 36


@pytest.mark.parametrize("lo, hi", [(0, 300), (5, 301), (17, 40)])
def test_window_sums_add_only_cells_inside_each_window(lo, hi):
    # Grown and tree window sums alike: against math.fsum of each window, with
    # outliers that a running sum's subtraction would leave behind as rounding.
    from xarray_focal._algorithms.geodesic import GROW_MAX, _window_sums

    rng = np.random.default_rng(8)
    width = 310
    lens = np.array([2, 5, 5 + GROW_MAX, 6 + 2 * GROW_MAX, 120, 250], dtype=np.int64)
    lens = lens[lens <= hi - lo]
    buf = np.full((lens.size + 2, width), np.nan)
    p = rng.normal(size=width) * 10
    p[::37] = 1e15
    p[50] = np.inf
    buf[0] = p
    _window_sums(buf, lens, 0, lens.size, lo, hi, np.full((6, width), np.nan))  # tree levels
    for s, length in enumerate(lens):
        for x in range(lo, hi - length + 1):
            window = p[x:x + length]
            got = buf[s + 1, x]
            if np.isinf(window).any():
                assert got == np.inf
                continue
            exact = math.fsum(window)
            assert abs(got - exact) <= length * EPS * math.fsum(np.abs(window)), (length, x)


def _majority(v):
    values, counts = np.unique(v, return_counts=True)
    return values[np.argmax(counts)]  # np.unique sorts: ties go to the smallest class


RANK_CASES = {
    "median": (lambda da, k: da.focal.median(k), np.median),
    "percentile": (lambda da, k: da.focal.percentile(k, 90), lambda v: np.percentile(v, 90)),
    "majority": (lambda da, k: da.focal.majority(k), _majority),
    "minority": (lambda da, k: da.focal.minority(k),
                 lambda v: np.unique(v)[np.argmin(np.unique(v, return_counts=True)[1])]),
    "variety": (lambda da, k: da.focal.variety(k), lambda v: float(np.unique(v).size)),
    "apply": (lambda da, k: da.focal.apply(k, lambda v: v.max() - v.min()),
              lambda v: v.max() - v.min()),
}


@pytest.fixture(scope="module")
def classes():
    """Integer classes with ties and NaN on the 10 degree global grid, and its cells."""
    field = global_grid(seed=5)
    rng = np.random.default_rng(5)
    values = rng.integers(0, 4, field.shape).astype(float)
    values[np.isnan(field.values)] = np.nan
    da = field.copy(data=values)
    return da, brute_force(values, da.lat.values, da.lon.values, 1500e3)


@pytest.mark.parametrize("name", sorted(RANK_CASES))
def test_rank_class_custom_statistics_match_brute_force(classes, name):
    da, cells = classes
    run, reference = RANK_CASES[name]
    expected = np.full(da.shape, np.nan)
    for (i, j), (v, _) in cells.items():
        v = v[~np.isnan(v)]
        if v.size:
            expected[i, j] = reference(v)
    k = da.focal.circle_kernel("1500 km")
    np.testing.assert_array_equal(run(da, k).values, expected)
    # A chunking whose chunks are smaller than the polar rows' reach gives the same bits.
    np.testing.assert_array_equal(run(da.chunk({"lat": 5, "lon": 7}), k).values, expected)


def test_rank_statistics_propagate_and_min_count_follow_each_rows_footprint(classes):
    da, cells = classes
    k = da.focal.circle_kernel("1500 km")
    got = da.focal.median(k, nan_policy="propagate").values
    few = da.focal.stats(k, ("median", "mean"), min_count=6)
    for (i, j), (v, _) in cells.items():
        ok = v[~np.isnan(v)]
        want = np.median(v) if ok.size == v.size else np.nan
        np.testing.assert_array_equal(got[i, j], want)
        np.testing.assert_array_equal(few["median"].values[i, j],
                                      np.median(ok) if ok.size >= 6 else np.nan)
        assert np.isnan(few["mean"].values[i, j]) == (ok.size < 6)


def clustered_grid(step=10.0):
    """A global field with warm and cold regions (so Gi* finds both) and NaN cells."""
    da = global_grid(step, offset=0.0)
    lat, lon = np.radians(da.lat.values)[:, None], np.radians(da.lon.values)[None, :]
    return da + 25 * np.cos(lat) * np.sin(2 * lon) + 15 * np.sin(lat) ** 3


def brute_gistar(data, lat, lon, reach, weight=None):
    """Gi* z of every cell from haversine footprints (math.fsum sums), 0 where undefined."""
    cells = brute_force(data, lat, lon, reach, weight=weight)
    ok = ~np.isnan(data)
    n, mean, std = ok.sum(), data[ok].mean(), data[ok].std()
    z = np.zeros(data.shape)
    for (i, j), (v, w) in cells.items():
        good = ~np.isnan(v)
        s = math.fsum(w[good] * v[good])
        w1, w2 = math.fsum(w[good]), math.fsum(w[good] ** 2)
        var = (n * w2 - w1 * w1) / (n - 1)
        if var > 0:
            z[i, j] = (s - mean * w1) / (std * math.sqrt(var))
    return z


@pytest.fixture(scope="module")
def clustered():
    return clustered_grid()


@pytest.mark.parametrize("kind", ["circle", "gaussian"])
def test_hotspots_z_matches_brute_force_gistar(clustered, kind):
    from xarray_focal import api

    da = clustered
    lat, lon = da.lat.values, da.lon.values
    if kind == "circle":
        k = da.focal.circle_kernel("2000 km")
        ref = brute_gistar(da.values, lat, lon, 2000e3)
    else:
        k = da.focal.gaussian_kernel("700 km")
        ref = brute_gistar(da.values, lat, lon, 4 * 700e3,
                           weight=lambda d: np.exp(-d * d / (2 * 700e3 ** 2)))
    z = api.gistar_z(da.values, api.check_hotspots(k))
    np.testing.assert_allclose(z, ref, rtol=1e-9, atol=1e-12)
    classes = xf.hotspots(da.values, k)
    az = np.abs(ref)
    want = np.sign(ref) * (90 * (az > 1.65) + 5 * (az > 1.96) + 4 * (az > 2.58))
    near = np.min(np.abs(az[..., None] - np.array(api.HOTSPOT_Z)), axis=-1) < 1e-9
    np.testing.assert_array_equal(classes[~near], want[~near])
    assert (classes == 99).any() and (classes == -99).any()  # both kinds of spot are tested


def test_regional_hotspots_with_boundary_nan_drop_cells_whose_footprint_leaves_the_grid():
    # On a regional grid a footprint may reach past the grid's edge; with boundary="nan"
    # those taps are missing, so the cell's Gi* is undefined (class 0), as with planar
    # kernels. The reference lays the lattice out beyond the edges (never past a pole).
    from xarray_focal import api

    da = clustered_grid(10.0).isel(lat=slice(3, 15), lon=slice(4, 24))
    lat, lon = da.lat.values, da.lon.values
    reach = 1500e3
    pad = 6
    lat_ext = lat[0] + 10.0 * np.arange(-pad, lat.size + pad)
    lat_ext = lat_ext[np.abs(lat_ext) < 90]
    lon_ext = lon[0] + 10.0 * np.arange(-pad, lon.size + pad)
    inside_lat = np.isin(lat_ext, lat)
    inside_lon = np.isin(lon_ext, lon)
    la, lo = np.meshgrid(lat_ext, lon_ext, indexing="ij")
    inside = inside_lat[:, None] & inside_lon[None, :]
    values = da.values
    ok = ~np.isnan(values)
    n, mean, std = ok.sum(), values[ok].mean(), values[ok].std()
    want = np.zeros(values.shape)
    for i in range(lat.size):
        for j in range(lon.size):
            f = haversine(lat[i], lon[j], la, lo) <= reach * (1 + 1e-12)
            if (f & ~inside).any():
                continue  # a tap outside the grid: undefined
            sub = f[inside].reshape(values.shape)
            v = values[sub]
            good = ~np.isnan(v)
            w1 = float(good.sum())
            var = (n * w1 - w1 * w1) / (n - 1)
            if var > 0:
                want[i, j] = (math.fsum(v[good]) - mean * w1) / (std * math.sqrt(var))
    k = da.focal.circle_kernel("1500 km")
    z = api.gistar_z(da.values, api.check_hotspots(k, boundary="nan"))
    np.testing.assert_array_equal(z == 0, want == 0)
    np.testing.assert_allclose(z, want, rtol=1e-9, atol=1e-12)
    assert (want == 0).any() and (want != 0).any()


@pytest.mark.parametrize("backend", backend_params(), indirect=True)
def test_geodesic_hotspots_on_every_backend(clustered, backend):
    k = clustered.focal.gaussian_kernel("700 km")
    want = xf.hotspots(clustered.values, k)
    cube = np.stack([clustered.values, -clustered.values])
    got = backend.to_numpy(xf.hotspots(backend.to_backend(cube, chunks=(1, 5, 12)), k))
    np.testing.assert_array_equal(got[0], want)
    np.testing.assert_array_equal(got[1], -want)  # Gi* of -x is -Gi* of x


def test_accessor_hotspots_validate_the_kernel_once(clustered, monkeypatch):
    from xarray_focal import api

    ds = xr.Dataset({"a": clustered, "b": -clustered, "c": clustered * 2})
    k = clustered.focal.circle_kernel("2000 km")
    calls = []
    real = api.check_hotspots
    monkeypatch.setattr(api, "check_hotspots", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    out = ds.focal.hotspots(k)
    assert len(calls) == 1
    np.testing.assert_array_equal(out["a"].values, xf.hotspots(clustered.values, k))
    np.testing.assert_array_equal(out["b"].values, -out["a"].values)
    assert out["a"].attrs["flag_meanings"].startswith("cold_spot_99")
    # A kernel of another grid is refused per variable, naming the grid.
    other = global_grid(20.0).focal.circle_kernel("2000 km")
    with pytest.raises(FocalValueError, match="built for another grid"):
        ds.focal.hotspots(other)


# --- found in review -------------------------------------------------------------------


def test_order_statistics_honour_min_count_on_rows_whose_footprint_is_smaller():
    # NaN-free data: the sorting network's shortcut must still apply each band's min_count.
    lat, lon = np.linspace(90, -90, 19), np.arange(-180.0, 180, 20)
    da = xr.DataArray(np.arange(19 * 18.0).reshape(19, 18), dims=("lat", "lon"),
                      coords={"lat": lat, "lon": lon})
    k = da.focal.circle_kernel("700 km")  # one cell at the equator, whole rows at the poles
    taps = k.row_runs.ntaps_per_row()
    for stat in (lambda a: a.focal.median(k, min_count=3),
                 lambda a: a.focal.percentile(k, 30, min_count=3)):
        got = stat(da).values
        np.testing.assert_array_equal(np.isnan(got).all(axis=1), taps < 3)
        np.testing.assert_array_equal(stat(da.chunk({"lat": 1})).values, got)


def test_annulus_with_rows_it_leaves_empty_is_refused_when_built():
    g = global_grid()
    with pytest.raises(xf.FocalValueError, match="holds no cell centre at latitude"):
        g.focal.annulus_kernel("1000 km", "500 km")


def test_kernel_of_another_longitude_step_is_refused():
    g = global_grid()
    regional = xr.DataArray(np.ones((18, 36)), dims=("lat", "lon"),
                            coords={"lat": g.lat.values, "lon": np.arange(0.0, 180, 5)})
    with pytest.raises(xf.FocalValueError, match="built for another grid"):
        regional.focal.mean(g.focal.circle_kernel("1200 km"))


def test_float32_coordinates_are_regular_within_their_own_rounding():
    lat = np.arange(-89.95, 90, 0.1).astype(np.float32)[:40]
    lon = np.arange(-179.95, 180, 0.1).astype(np.float32)
    da = xr.DataArray(np.zeros((lat.size, lon.size)), dims=("lat", "lon"),
                      coords={"lat": lat, "lon": lon})
    k = da.focal.circle_kernel("30 km")
    assert k.periodic  # 3600 float32 steps of 0.1 degree still make a full circle


def test_regional_grid_across_the_dateline_is_regular_once_unwrapped():
    lat = np.arange(-85.0, 90, 10)
    across = xr.DataArray(np.arange(lat.size * 7.0).reshape(lat.size, 7), dims=("lat", "lon"),
                          coords={"lat": lat, "lon": [150.0, 160, 170, 180, -170, -160, -150]})
    straight = across.assign_coords(lon=np.arange(150.0, 211, 10))
    got = across.focal.mean(across.focal.circle_kernel("1200 km"))
    want = straight.focal.mean(straight.focal.circle_kernel("1200 km"))
    np.testing.assert_array_equal(got.values, want.values)


def test_a_repeated_cyclic_column_is_refused_with_a_hint():
    lat = np.arange(-85.0, 90, 10)
    cyclic = xr.DataArray(np.ones((lat.size, 37)), dims=("lat", "lon"),
                          coords={"lat": lat, "lon": np.arange(0.0, 361, 10)})
    with pytest.raises(xf.FocalValueError, match="repeats the first"):
        cyclic.focal.circle_kernel("800 km")


def test_an_accepted_grid_is_remembered_but_another_is_still_refused(field):
    k = field.focal.circle_kernel("1234 km")
    first = field.focal.mean(k)
    np.testing.assert_array_equal(field.focal.mean(k).values, first.values)
    shifted = field.assign_coords(lat=field.lat.values[::-1])  # same values, other order
    with pytest.raises(FocalValueError, match="built for another grid"):
        shifted.focal.mean(k)
    swapped = field.assign_coords(lat=field.lat.assign_attrs(units="degrees_east"))
    with pytest.raises(FocalValueError, match="built for another grid"):  # its attrs count
        swapped.focal.mean(k, dims=("lat", "lon"))
    assert len(k._grids_ok) == 1


def _two_grids_one_footprint():
    # Found in review: regional 1-degree grids at other latitudes whose footprints in
    # cells are the same (one row-runs key) but whose cell areas differ by about 10 %.
    rng = np.random.default_rng(5)
    lon = np.arange(0.5, 20.0)
    grids = [xr.DataArray(rng.random((10, 20)), dims=("lat", "lon"),
                          coords={"lat": np.arange(first, first + 10.0), "lon": lon})
             for first in (0.5, 25.5)]
    kernels = [g.focal.circle_kernel("120 km") for g in grids]
    assert kernels[0].row_runs.key == kernels[1].row_runs.key
    assert kernels[0].geometry != kernels[1].geometry
    return grids, kernels


@pytest.mark.parametrize("backend", backend_params("dask", "cupy", "dask+cupy"), indirect=True)
def test_area_weights_of_grids_sharing_footprints_are_their_own(backend):
    # Two calls whose footprints in cells agree are not the same computation: the dask
    # token and the GPU's cached area table both carry the grid's geometry.
    grids, kernels = _two_grids_one_footprint()
    data = backend.to_backend(grids[0].values, chunks=(5, 7))
    lazy = [xf.focal_sum(data, k, area_weighted=True) for k in kernels]
    if backend.lazy:
        import dask

        assert lazy[0].name != lazy[1].name
        # Together: with one name, one of them would have been computed for both.
        got = [np.asarray(x.get() if hasattr(x, "get") else x) for x in dask.compute(*lazy)]
    else:
        got = [backend.to_numpy(x) for x in lazy]
    want = [xf.focal_sum(grids[0].values, k, area_weighted=True) for k in kernels]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    assert not np.allclose(want[0], want[1])
