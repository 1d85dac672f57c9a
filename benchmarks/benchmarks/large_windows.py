"""Large windows: focal statistics and correlation over boxes and discs of growing size.

Inputs: 2000² float64 (NaN-free, and with 5% NaN cells), ``boundary="nearest"``. A box of
any size should cost about what a small one does (``method="box"``: block prefix / suffix
passes); a disc grows with its number of rows. The peers for the same work are timed in
``benchmarks/peers.py`` (cases W1-W4).
"""

from __future__ import annotations

import numpy as np

import xarray_focal as xf

from . import as_backend, finish, random_raster


class BoxStatistics:
    """``focal_mean`` / ``focal_max`` / ``focal_std`` with ``size=`` boxes of 15 to 101 cells."""

    params = (("numpy", "dask"), (15, 51, 101), (0.0, 0.05))
    param_names = ("backend", "size", "nan_fraction")
    number = 1

    def setup(self, backend, size, nan_fraction):
        self.data = as_backend(random_raster(2000, nan_fraction=nan_fraction), backend)
        small = as_backend(random_raster(64, nan_fraction=nan_fraction), backend, chunks=32)
        for func in (xf.focal_mean, xf.focal_max, xf.focal_std):
            finish(func(small, size=3, boundary="nearest"))

    def time_mean(self, backend, size, nan_fraction):
        finish(xf.focal_mean(self.data, size=size, boundary="nearest"))

    def time_max(self, backend, size, nan_fraction):
        finish(xf.focal_max(self.data, size=size, boundary="nearest"))

    def time_std(self, backend, size, nan_fraction):
        finish(xf.focal_std(self.data, size=size, boundary="nearest"))


class BoxCorrelate:
    """``correlate`` with a normalised box (``auto``: separable for small boxes, box sweep
    for large ones)."""

    params = ((15, 51, 101),)
    param_names = ("size",)
    number = 1

    def setup(self, size):
        self.data = random_raster(2000)
        self.kernel = np.ones((size, size)) / size**2
        finish(xf.correlate(random_raster(64), self.kernel, boundary="nearest"))

    def time_correlate(self, size):
        finish(xf.correlate(self.data, self.kernel, boundary="nearest"))


class DiscMean:
    """``focal_mean`` over discs of radius 7 to 50 cells."""

    params = ((7, 25, 50),)
    param_names = ("radius",)
    number = 1

    def setup(self, radius):
        self.data = random_raster(2000)
        self.kernel = xf.circle_kernel(1, 1, radius)
        finish(xf.focal_mean(random_raster(64), self.kernel, boundary="nearest"))

    def time_mean(self, radius):
        finish(xf.focal_mean(self.data, self.kernel, boundary="nearest"))


class PlanHugeBox:
    """Describing and planning a 501 x 501 box (no Python loop over its 251 001 taps)."""

    number = 1

    def setup(self):
        from xarray_focal._algorithms import plan, runs

        self.plan, self.runs = plan, runs
        self.kernel = np.ones((501, 501))

    def time_plan(self):
        self.runs._CACHE.clear()
        self.plan._PLANS.clear()
        self.plan.make_plan(self.runs.describe(self.kernel), "auto", separable_ok=False)
