"""Correlation speed and memory over backend, raster size, kernel radius, dtype and boundary."""

from __future__ import annotations

import numpy as np

import xarray_focal as xf

from . import BACKENDS, as_backend, finish, random_raster, warm_correlate

#: Raster sides (square rasters), smallest first.
SIZES = (500, 2000, 4000)
#: Circle radii in cells: 3x3 cross, 15x15 (177 taps) and 33x33 (797 taps) discs.
RADII = (1, 7, 16)
DTYPES = ("float32", "float64")


class Correlate:
    """``xf.correlate`` with the default ``boundary="nan"`` across the whole grid.

    The 4000² r=16 corner is the slow one (seconds per call with the direct method), so
    asv takes few samples of it.
    """

    params = (BACKENDS, SIZES, RADII, DTYPES)
    param_names = ("backend", "size", "radius", "dtype")
    repeat = (1, 5, 30.0)
    number = 1
    timeout = 300

    def setup(self, backend, size, radius, dtype):
        self.kernel = xf.circle_kernel(1, 1, radius)
        warm_correlate(backend, dtype, self.kernel)
        self.data = as_backend(random_raster(size, dtype), backend)

    def time_correlate(self, backend, size, radius, dtype):
        finish(xf.correlate(self.data, self.kernel))


class Boundary:
    """Every boundary mode at 2000², r=7: edges use index maps, ``wrap`` a periodic halo."""

    params = (("numpy", "dask"), tuple(xf.BOUNDARY_MODES))
    param_names = ("backend", "boundary")
    number = 1

    def setup(self, backend, boundary):
        self.kernel = xf.circle_kernel(1, 1, 7)
        warm_correlate(backend, "float64", self.kernel, boundary=boundary, cval=1.5)
        self.data = as_backend(random_raster(2000), backend)

    def time_correlate(self, backend, boundary):
        finish(xf.correlate(self.data, self.kernel, boundary=boundary, cval=1.5))


class Method:
    """Each algorithm forced with ``method=`` on circles and a Gaussian.

    ``"auto"`` must never be much slower than the best forced one; ``"separable"`` only
    applies to the (rank-1) Gaussian and raises NotImplementedError (a skip) on circles.
    """

    params = (("auto", "direct", "runs", "columns", "separable"), RADII, ("circle", "gaussian"))
    param_names = ("method", "radius", "kernel")
    number = 1

    def setup(self, method, radius, kernel):
        if kernel == "circle":
            if method == "separable":
                raise NotImplementedError("a circle is not a rank-1 kernel")
            self.kernel = xf.circle_kernel(1, 1, radius)
        else:
            g = np.exp(-np.arange(-radius, radius + 1) ** 2 / (0.5 * radius**2 + 0.5))
            self.kernel = np.outer(g, g) / np.outer(g, g).sum()
        warm_correlate("numpy", "float64", self.kernel, method=method)
        self.data = random_raster(2000)
        self.method = method

    def time_correlate(self, method, radius, kernel):
        xf.correlate(self.data, self.kernel, method=self.method)


class Accessor:
    """The labelled path, ``DataArray.focal.correlate``: the xarray overhead on top of the
    array API (compare with ``Correlate`` at the same size, radius and dtype)."""

    params = (("numpy", "dask"),)
    param_names = ("backend",)
    number = 1

    def setup(self, backend):
        import xarray as xr

        self.kernel = xf.circle_kernel(1, 1, 7)
        warm_correlate(backend, "float64", self.kernel)
        data = as_backend(random_raster(2000), backend)
        ny, nx = data.shape
        self.da = xr.DataArray(
            data,
            dims=("y", "x"),
            coords={"y": np.arange(ny) * -30.0, "x": np.arange(nx) * 30.0},
            attrs={"units": "m"},
            name="elevation",
        )

    def time_accessor_correlate(self, backend):
        finish(self.da.focal.correlate(self.kernel))


class PeakMemory:
    """Peak resident memory of a whole correlate call (input and JIT included, so compare
    rows with each other, not with the raster size alone).

    The numpy path should stay near input + output (no padded copy of the raster); the
    dask path adds a halo per chunk.
    """

    params = (("numpy", "dask"), (2000, 4000))
    param_names = ("backend", "size")

    def setup(self, backend, size):
        self.kernel = xf.circle_kernel(1, 1, 7)
        warm_correlate(backend, "float64", self.kernel)
        self.data = as_backend(random_raster(size), backend)

    def peakmem_correlate(self, backend, size):
        finish(xf.correlate(self.data, self.kernel))

