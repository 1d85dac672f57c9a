"""xarray-focal: fast, NaN-correct neighbourhood (focal) operations for xarray.

Importing the package registers the ``.focal`` accessor on :class:`xarray.DataArray` and
:class:`xarray.Dataset`. The array-level functions work on numpy, dask and cupy arrays
without xarray.
"""

from __future__ import annotations

from . import accessor as _accessor  # noqa: F401  (registers the .focal accessors)
from .api import (
    NAN_POLICIES,
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
)
from .boundary import BOUNDARY_MODES
from .errors import FocalError, FocalTypeError, FocalValueError
from .kernels import annulus_kernel, circle_kernel, custom_kernel

__version__ = "0.1.0"

__all__ = [
    "BOUNDARY_MODES",
    "NAN_POLICIES",
    "STATISTICS",
    "FocalError",
    "FocalTypeError",
    "FocalValueError",
    "__version__",
    "annulus_kernel",
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
]
