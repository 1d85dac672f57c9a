"""Geodesic kernels on the GPU (cupy, dask+cupy) against the CPU.

The CPU's per-row sweeps are pinned to a brute-force haversine reference in
test_geodesic.py; here the CUDA per-row kernel must give the same NaN cells and values
within float64 rounding of them, for every NaN policy, every linear statistic and area
weights, on a coarse global grid with NaN at a pole, on the dateline and on the equator,
and in dask chunkings of every shape (chunks narrower than a footprint, chunks spanning
the whole longitude axis, one row per chunk). Every test here skips without a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest

import xarray_focal as xf

from .backends import backend_params
from .test_geodesic import global_grid

STATS = ("mean", "sum", "count", "std", "var", "min", "max", "range")


@pytest.fixture(scope="module")
def field():
    return global_grid()


@pytest.fixture(scope="module")
def kernels(field):
    return {"circle": field.focal.circle_kernel("1234 km"),
            "gaussian": field.focal.gaussian_kernel("500 km"),
            "annulus": field.focal.annulus_kernel("1500 km", "600 km")}


def same(got, want):
    got = np.asarray(got, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg="NaN cells")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("kind", ["circle", "gaussian", "annulus"])
@pytest.mark.parametrize("backend", backend_params("cupy", "dask+cupy"), indirect=True)
def test_correlate_policies_match_numpy(field, kernels, kind, backend):
    k = kernels[kind]
    data = backend.to_backend(field.values, chunks=(5, 12))
    for policy, min_count in (("propagate", None), ("omit", None), ("renormalize", None),
                              ("omit", 4), ("propagate", 3)):
        out = xf.correlate(data, k, nan_policy=policy, min_count=min_count)
        backend.check_type(out)
        same(backend.to_numpy(out), xf.correlate(field.values, k, nan_policy=policy,
                                                 min_count=min_count))


@pytest.mark.parametrize("kind", ["circle", "annulus"])
@pytest.mark.parametrize("backend", backend_params("cupy", "dask+cupy"), indirect=True)
def test_statistics_and_area_weights_match_numpy(field, kernels, kind, backend):
    k = kernels[kind]
    data = backend.to_backend(field.values, chunks=(7, 36))  # chunks of whole rows
    for policy in ("omit", "propagate"):
        got = backend.to_numpy_all(xf.focal_stats(data, k, STATS, nan_policy=policy))
        want = xf.focal_stats(field.values, k, STATS, nan_policy=policy)
        for name in STATS:
            same(got[name], want[name])
    weighted = ("mean", "sum", "std", "var")
    got = backend.to_numpy_all(xf.focal_stats(data, k, weighted, area_weighted=True, min_count=2))
    want = xf.focal_stats(field.values, k, weighted, area_weighted=True, min_count=2)
    for name in weighted:
        same(got[name], want[name])
    # The weights matter: the area-weighted mean is not the plain one.
    assert not np.allclose(want["mean"], xf.focal_mean(field.values, k), equal_nan=True)


@pytest.mark.parametrize("chunks", [(18, 36), (18, 5), (1, 36), (4, 7), (3, 36)])
@pytest.mark.parametrize("backend", backend_params("dask+cupy"), indirect=True)
def test_dask_cupy_chunkings_match_numpy(field, kernels, chunks, backend):
    # (18, 5): columns narrower than the polar footprints' reach; (1, 36): one row a chunk.
    k = kernels["circle"]
    data = backend.to_backend(field.values, chunks=chunks)
    same(backend.to_numpy(xf.focal_mean(data, k)), xf.focal_mean(field.values, k))
    same(backend.to_numpy(xf.focal_std(data, k, area_weighted=True)),
         xf.focal_std(field.values, k, area_weighted=True))
    same(backend.to_numpy(xf.correlate(data, kernels["gaussian"], nan_policy="renormalize")),
         xf.correlate(field.values, kernels["gaussian"], nan_policy="renormalize"))


@pytest.mark.parametrize("backend", backend_params("cupy"), indirect=True)
def test_float32_cube_and_regional_boundary(field, kernels, backend):
    # A leading axis (one launch over both slices), float32 data, and a regional grid whose
    # latitude and longitude boundaries are real (reflect, nearest, nan).
    cube = np.stack([field.values, field.values[::-1] * 0.5 + 3])
    k = kernels["circle"]
    got = backend.to_numpy(xf.focal_mean(backend.to_backend(cube.astype(np.float32)), k))
    assert got.dtype == np.float32
    want = xf.focal_mean(cube.astype(np.float32), k)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=2e-6)
    # 17 columns, and 3 (fewer than a lane's consecutive outputs: the other layout).
    for cols in (slice(3, 20), slice(3, 6)):
        regional = field.isel(lon=cols, lat=slice(2, 16))
        rk = regional.focal.circle_kernel("1234 km")
        for boundary in ("nan", ("reflect", "nearest"), ("nearest", "nan")):
            for stat in ("mean", "max", "var"):
                fn = getattr(xf, f"focal_{stat}")
                same(backend.to_numpy(fn(backend.to_backend(regional.values), rk,
                                         boundary=boundary)),
                     fn(regional.values, rk, boundary=boundary))


@pytest.mark.parametrize("backend", backend_params("cupy", "dask+cupy"), indirect=True)
def test_tables_are_uploaded_once_per_kernel(field, backend):
    from xarray_focal._backends.cupy import UPLOADS

    k = field.focal.circle_kernel("987 km")
    data = backend.to_backend(field.values, chunks=(6, 36))
    backend.to_numpy(xf.focal_mean(data, k))
    before = UPLOADS["weights"]
    backend.to_numpy(xf.focal_mean(data, k))
    backend.to_numpy_all(xf.focal_stats(data, k, ("sum", "std")))
    assert UPLOADS["weights"] == before


@pytest.mark.parametrize("backend", backend_params("cupy"), indirect=True)
def test_accessor_on_gpu_data(field, kernels, backend):
    gpu = field.copy(data=backend.to_backend(field.values))
    out = gpu.focal.mean(kernels["circle"], area_weighted=True)
    backend.check_type(out.data)
    assert out.attrs["cell_methods"].endswith("area-weighted)")
    same(backend.to_numpy(out.data), field.focal.mean(kernels["circle"], area_weighted=True).values)


@pytest.mark.parametrize("shared, parts, heavy", [
    (True, 1, 10), (True, 4, 10), (False, 1, 10), (False, 4, 10), (False, 4, 512),
])
@pytest.mark.parametrize("backend", backend_params("cupy"), indirect=True)
def test_every_work_layout_matches_numpy(field, kernels, backend, shared, parts, heavy,
                                         monkeypatch):
    # Both layouts of the outputs over a warp's lanes (consecutive, sharing run cores, or
    # 32 columns apart), and rows with footprints over HEAVY_TAPS cells, whose runs go
    # into HEAVY_PARTS partial sums: on this coarse grid no footprint is that long, so the
    # bar is lowered.
    from xarray_focal._backends.cupy import geodesic

    monkeypatch.setattr(geodesic, "SHARED_RUNS", shared)
    monkeypatch.setattr(geodesic, "HEAVY_TAPS", heavy)
    monkeypatch.setattr(geodesic, "HEAVY_PARTS", parts)
    taps = field.focal.circle_kernel("1234 km").row_runs.ntaps_per_row()
    assert (taps > heavy).any() == (heavy == 10)
    data = backend.to_backend(np.stack([field.values, field.values[:, ::-1]]))
    host = np.stack([field.values, field.values[:, ::-1]])
    for kind in ("circle", "gaussian"):
        k = kernels[kind]
        same(backend.to_numpy(xf.correlate(data, k, nan_policy="renormalize")),
             xf.correlate(host, k, nan_policy="renormalize"))
        got = backend.to_numpy_all(xf.focal_stats(data, k, STATS))
        want = xf.focal_stats(host, k, STATS)
        for name in STATS:
            same(got[name], want[name])
        got = backend.to_numpy_all(xf.focal_stats(data, k, ("mean", "var"), area_weighted=True))
        want = xf.focal_stats(host, k, ("mean", "var"), area_weighted=True)
        for name in ("mean", "var"):
            same(got[name], want[name])


def test_the_polar_rows_here_are_whole_rows(kernels):
    # The kernel sums a run that is a whole row of a global grid once per warp
    # (geodesic.cu, warp_join): the circle's polar rows above must take that path, and
    # the work list must count such a run as a 32nd of a lane's taps.
    from xarray_focal._backends.cupy.geodesic import _work_taps

    runs = kernels["circle"].row_runs
    n360 = kernels["circle"]._grid.n360
    whole = np.array([int(np.sum(n[n == n360])) for n in runs.length])[runs.row_class]
    assert whole[0] == n360 and whole[-1] == n360 and whole[runs.nrows // 2] == 0
    np.testing.assert_array_equal(_work_taps(runs, n360), runs.ntaps_per_row() - whole + whole // 32)
    np.testing.assert_array_equal(_work_taps(runs, 0), runs.ntaps_per_row())


@pytest.mark.parametrize("backend", backend_params("cupy", "dask+cupy"), indirect=True)
def test_several_percentiles_and_classes_of_a_geodesic_kernel(field, kernels, backend):
    # Found at merge: the GPU branch of the rank engines took only "median" and
    # "percentile" as order statistics, so "percentile_<q>" outputs (focal_stats with
    # several q, the geodesic bands call the engines directly) were never written.
    k = kernels["circle"]
    stats = ("median", "percentile", "variety")
    data = backend.to_backend(np.round(field.values, 1), chunks=(5, 12))
    got = backend.to_numpy_all(xf.focal_stats(data, k, stats, q=(10, 90)))
    want = xf.focal_stats(np.round(field.values, 1), k, stats, q=(10, 90))
    for name in ("median", "percentile_10", "percentile_90", "variety"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
