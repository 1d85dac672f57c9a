"""Rank, class and custom statistics, and hotspots.

Inputs: 2000² float64 (NaN-free for the medians, as the peers' comparisons use), integer
classes 0..11 for the class statistics, a circle r=3 for apply and r=7 for hotspots.
"""

from __future__ import annotations

import numpy as np

import xarray_focal as xf

from . import as_backend, finish, random_raster, side


def _classes(n):
    n = side(n)
    return np.random.default_rng(0).integers(0, 12, (n, n))


class Median:
    """``focal_median`` with a box footprint: the generated shared-column kernel (5x5, 25
    cells) and the bitset of ranks (15x15, 225 cells); float32 and float64."""

    params = (("numpy", "dask"), (5, 15), ("float32", "float64"))
    param_names = ("backend", "size", "dtype")
    number = 1

    def setup(self, backend, size, dtype):
        self.footprint = np.ones((size, size))
        small = as_backend(random_raster(64).astype(dtype), backend, chunks=32)
        finish(xf.focal_median(small, self.footprint, boundary="reflect"))
        self.data = as_backend(random_raster(2000).astype(dtype), backend)

    def time_median(self, backend, size, dtype):
        finish(xf.focal_median(self.data, self.footprint, boundary="reflect"))


class Percentiles:
    """``focal_stats`` with ``"percentile"`` and three ``q`` (one sort per window): the
    sorting network (circle r=3, 37 cells) and the bitset of ranks (15x15)."""

    params = (("numpy", "dask"), ("circle3", "box15"))
    param_names = ("backend", "footprint")
    number = 1

    def setup(self, backend, footprint):
        self.footprint = xf.circle_kernel(1, 1, 3) if footprint == "circle3" else np.ones((15, 15))
        small = as_backend(random_raster(64), backend, chunks=32)
        finish(xf.focal_stats(small, self.footprint, ("percentile",), q=(10, 50, 90))["percentile_90"])
        self.data = as_backend(random_raster(2000), backend)

    def time_percentiles(self, backend, footprint):
        out = xf.focal_stats(self.data, self.footprint, ("percentile",), q=(10, 50, 90))
        finish(out["percentile_90"])  # dask: each chunk's one task computes all three


class ClassStatistic:
    """``majority`` / ``variety`` of 12 integer classes, 5x5 box."""

    params = (("numpy", "dask"), ("majority", "variety"))
    param_names = ("backend", "stat")
    number = 1

    def setup(self, backend, stat):
        self.footprint = np.ones((5, 5))
        small = as_backend(_classes(64), backend, chunks=32)
        finish(xf.focal_stats(small, self.footprint, (stat,))[stat])
        self.data = as_backend(_classes(2000), backend)
        self.stat = stat

    def time_statistic(self, backend, stat):
        finish(xf.focal_stats(self.data, self.footprint, (self.stat,))[self.stat])


class Apply:
    """``focal_apply`` with a jitted max - min over a circle r=3 (37 cells), 5% NaN."""

    params = (("numpy", "dask"),)
    param_names = ("backend",)
    number = 1

    def setup(self, backend):
        import numba

        @numba.njit
        def spread(v):
            return v.max() - v.min()

        self.func = spread
        self.kernel = xf.circle_kernel(1, 1, 3)
        small = as_backend(random_raster(64, nan_fraction=0.05), backend, chunks=32)
        finish(xf.focal_apply(small, self.kernel, spread))
        self.data = as_backend(random_raster(2000, nan_fraction=0.05), backend)

    def time_apply(self, backend):
        finish(xf.focal_apply(self.data, self.kernel, self.func))


class Hotspots:
    """Getis-Ord Gi* classes over a circle r=7."""

    params = (("numpy", "dask"),)
    param_names = ("backend",)
    number = 1

    def setup(self, backend):
        self.kernel = xf.circle_kernel(1, 1, 7)
        finish(xf.hotspots(as_backend(random_raster(64), backend, chunks=32), self.kernel))
        self.data = as_backend(np.cumsum(random_raster(2000), axis=1), backend)

    def time_hotspots(self, backend):
        finish(xf.hotspots(self.data, self.kernel))
