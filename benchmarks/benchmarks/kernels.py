"""Kernel construction: array-level constructors and the unit-aware accessor path."""

from __future__ import annotations

import numpy as np

import xarray_focal as xf


class CircleKernel:
    """``circle_kernel`` by radius in cells (100 cells is a 201x201 kernel)."""

    params = ((1, 7, 16, 100),)
    param_names = ("radius",)

    def time_circle_kernel(self, radius):
        xf.circle_kernel(1.0, 1.0, radius)

    def time_annulus_kernel(self, radius):
        xf.annulus_kernel(1.0, 1.0, radius, radius / 2)

    def track_circle_taps(self, radius):
        # Footprint size, so a change in the inclusion rule shows up next to the timings.
        return int(np.count_nonzero(xf.circle_kernel(1.0, 1.0, radius)))

    track_circle_taps.unit = "taps"


class AccessorKernel:
    """``da.focal.circle_kernel("500 m")``: radius with units, cell size from coordinates."""

    def setup(self):
        import xarray as xr

        n = 200
        self.da = xr.DataArray(
            np.zeros((n, n)),
            dims=("y", "x"),
            coords={
                "y": ("y", np.arange(n) * -30.0, {"units": "m"}),
                "x": ("x", np.arange(n) * 30.0, {"units": "m"}),
            },
        )

    def time_circle_kernel_with_units(self):
        self.da.focal.circle_kernel("500 m")

    def time_annulus_kernel_with_units(self):
        self.da.focal.annulus_kernel("1 km", "500 m")
