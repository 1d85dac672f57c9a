"""NaN-aware correlation and focal statistics.

Inputs: 2000² float64 with 5% NaN cells, a 15x15 circle (r=7), ``boundary="nan"``.
"""

from __future__ import annotations

import xarray_focal as xf

from . import as_backend, finish, random_raster

NAN_FRACTION = 0.05
STATISTICS = ("mean", "sum", "count", "min", "max", "range", "std", "var")


def _dataarray(backend):
    import xarray as xr

    data = as_backend(random_raster(2000, nan_fraction=NAN_FRACTION), backend)
    return xr.DataArray(data, dims=("y", "x"))


def _warm(func, backend, *args, **kwargs):
    """Call ``func(small DataArray, ...)`` once so the JIT compiles outside the timing."""
    import xarray as xr

    small = as_backend(random_raster(64, nan_fraction=NAN_FRACTION), backend, chunks=32)
    finish(func(xr.DataArray(small, dims=("y", "x")), *args, **kwargs))


class NanPolicy:
    """``correlate(k / k.sum(), nan_policy=...)``; ``renormalize`` is the NaN-aware mean
    (astropy's ``nan_treatment="interpolate"``)."""

    params = (("numpy", "dask"), ("propagate", "omit", "renormalize"))
    param_names = ("backend", "nan_policy")
    number = 1

    def setup(self, backend, nan_policy):
        kernel = xf.circle_kernel(1, 1, 7)
        self.kernel = kernel / kernel.sum()
        small = as_backend(random_raster(64, nan_fraction=NAN_FRACTION), backend, chunks=32)
        finish(xf.correlate(small, self.kernel, nan_policy=nan_policy))
        self.data = as_backend(random_raster(2000, nan_fraction=NAN_FRACTION), backend)

    def time_correlate(self, backend, nan_policy):
        finish(xf.correlate(self.data, self.kernel, nan_policy=nan_policy))


class FocalStatistic:
    """One statistic, ``da.focal.<stat>(footprint)`` (default ``nan_policy="omit"``)."""

    params = (("numpy", "dask"), STATISTICS)
    param_names = ("backend", "stat")
    number = 1

    def setup(self, backend, stat):
        self.footprint = xf.circle_kernel(1, 1, 7)
        _warm(lambda d, k: getattr(d.focal, stat)(k), backend, self.footprint)
        self.da = _dataarray(backend)
        self.stat = stat

    def time_statistic(self, backend, stat):
        finish(getattr(self.da.focal, self.stat)(self.footprint))


class FocalStats:
    """Several statistics at once, ``da.focal.stats(footprint, stats)`` -> Dataset."""

    params = (("numpy", "dask"), (("mean", "max"), ("mean", "std", "min", "max")))
    param_names = ("backend", "stats")
    number = 1

    def setup(self, backend, stats):
        self.footprint = xf.circle_kernel(1, 1, 7)
        _warm(lambda d, k: d.focal.stats(k, stats), backend, self.footprint)
        self.da = _dataarray(backend)

    def time_stats(self, backend, stats):
        finish(self.da.focal.stats(self.footprint, stats))
