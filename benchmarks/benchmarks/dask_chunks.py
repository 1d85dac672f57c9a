"""Chunked dask input: how per-chunk overhead and halos scale with the chunk count."""

from __future__ import annotations

import xarray_focal as xf

from . import as_backend, finish, random_raster, side, warm_correlate


class DaskChunked:
    """A 4000² raster, r=7 (15x15 circle), in 64, 16 or 4 chunks, on dask's threads.

    Fewer, larger chunks mean less halo and scheduling overhead; more chunks than cores
    keep every core busy. The direct numpy path at 4000² is the yardstick
    (``Correlate.time_correlate('numpy', 4000, 7, 'float64')``).
    """

    params = ((500, 1000, 2000), ("nan", "wrap"))
    param_names = ("chunk", "boundary")
    number = 1

    def setup(self, chunk, boundary):
        self.kernel = xf.circle_kernel(1, 1, 7)
        warm_correlate("dask", "float64", self.kernel, boundary=boundary)
        data = random_raster(4000)
        # Keep the chunk count when the smoke test shrinks the raster.
        chunk = max(1, chunk * side(4000) // 4000)
        self.data = as_backend(data, "dask", chunks=chunk)

    def time_correlate(self, chunk, boundary):
        finish(xf.correlate(self.data, self.kernel, boundary=boundary))

    def time_graph_only(self, chunk, boundary):
        # Building the lazy graph must stay cheap: users chain many operations.
        xf.correlate(self.data, self.kernel, boundary=boundary)
