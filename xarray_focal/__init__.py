"""Fast, NaN-correct neighbourhood ("focal") operations for xarray.

xarray-focal correlates and convolves gridded data with a kernel and computes focal
statistics (mean, sum, count, min, max, range, std, var) over a footprint, on numpy
(multi-core numba), dask, cupy (CUDA) and dask+cupy arrays alike. Importing the package
registers the ``.focal`` accessor on :class:`xarray.DataArray` and :class:`xarray.Dataset`;
results keep dims, coords and attrs, and dask input stays lazy.

>>> import numpy as np
>>> import xarray as xr
>>> import xarray_focal as xf                     # also registers the .focal accessor
>>> da = xr.DataArray(np.arange(25.0).reshape(5, 5), dims=("y", "x"))
>>> da[1, 1] = np.nan                              # a hole in the data
>>> box = np.ones((3, 3)) / 9
>>> da.focal.correlate(box).values[3, 1:4]         # default: NaN if a tap is NaN or outside
array([16., 17., 18.])
>>> print(da.focal.correlate(box, nan_policy="renormalize").values[2, 2])
12.75
>>> print(da.focal.mean(np.ones((3, 3))).values[0, 0])   # statistics skip missing taps
2.0

Kernels sized in map units come from the data's coordinates, e.g.
``dem.focal.circle_kernel("500 m")``; ``circle_kernel``, ``annulus_kernel``,
``box_kernel``, ``gaussian_kernel`` and ``custom_kernel`` build them from cell sizes.

Main entry points
-----------------
DataArray.focal / Dataset.focal
    ``correlate``, ``convolve``, ``mean`` ... ``var``, ``stats``, ``circle_kernel``,
    ``annulus_kernel``, ``box_kernel``, ``gaussian_kernel``.
correlate, convolve, focal_stats, focal_mean, ...
    The same operations as plain functions on numpy, dask and cupy arrays.
BOUNDARY_MODES, NAN_POLICIES, STATISTICS
    The accepted ``boundary=``, ``nan_policy=`` and statistic names.
FocalError, FocalValueError, FocalTypeError
    Every error raised on purpose derives from ``FocalError``.

What a result promises (boundaries, NaN policies, dtypes, per-cell accuracy) is set out
on the "Result contract" page of the documentation (``docs/contract.md``).
"""

from __future__ import annotations

from . import _accessor  # noqa: F401  (registers the .focal accessors)
from .api import (
    NAN_POLICIES,
    RANK_STATISTICS,
    STATISTICS,
    convolve,
    correlate,
    focal_count,
    focal_max,
    focal_mean,
    focal_min,
    focal_range,
    focal_stats,
    focal_std,
    focal_sum,
    focal_var,
    focal_median,
    focal_percentile,
    focal_majority,
    focal_minority,
    focal_variety,
    focal_apply,
    hotspots,
)
from ._boundary import BOUNDARY_MODES
from .errors import FocalError, FocalTypeError, FocalValueError
from .kernels import annulus_kernel, box_kernel, circle_kernel, custom_kernel, gaussian_kernel
from ._geodesic import GeodesicKernel

__version__ = "0.1.0"

__all__ = [
    "BOUNDARY_MODES",
    "NAN_POLICIES",
    "STATISTICS",
    "FocalError",
    "FocalTypeError",
    "FocalValueError",
    "GeodesicKernel",
    "__version__",
    "annulus_kernel",
    "box_kernel",
    "circle_kernel",
    "convolve",
    "correlate",
    "custom_kernel",
    "focal_count",
    "focal_max",
    "focal_mean",
    "focal_min",
    "focal_range",
    "focal_stats",
    "focal_std",
    "focal_sum",
    "focal_var",
    "RANK_STATISTICS",
    "focal_median",
    "focal_percentile",
    "focal_majority",
    "focal_minority",
    "focal_variety",
    "focal_apply",
    "hotspots",
    "gaussian_kernel",
]
