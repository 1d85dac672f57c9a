"""Tiles: what a backend reads to compute one block of output.

A tile is a 3x3 grid of arrays -- the block itself in the middle, thin halo strips from
its neighbours around it -- plus the two frame maps (:func:`~xarray_focal._boundary.axis_map`)
from padded coordinates into the grid put together. The whole-array path is a tile with
empty strips. Backends choose how to read it: the numpy sweep reads a float block in place
(other dtypes are converted first) and the strips from two small arrays they are copied
into (:meth:`Tile.pieces`); the CUDA kernels read one assembled array (:meth:`Tile.frame`),
a cheap device copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._boundary import AxisMap, axis_map, axis_modes, split_map

__all__ = ["Tile"]


@dataclass(frozen=True, eq=False)
class Tile:
    """One block of output's source.

    ``grid[i][j]`` for ``i, j`` in (before, core, after) along y and x; ``grid[1][1]`` is
    the block. A strip missing at an array edge has length 0 along that axis. Leading
    (non-spatial) axes are the block's own.

    Examples
    --------
    The right half of a 4 x 4 array as a chunk, with the one column before it as its halo
    (a kernel reaching one cell; ``reflect`` at the right edge stays inside the chunk):

    >>> from xarray_focal._boundary import axis_map
    >>> a = np.arange(16.0).reshape(4, 4)
    >>> core, before = a[:, 2:], a[:, 1:2]
    >>> no_rows = (a[:0, :1], a[:0, 2:], a[:0, :0])  # widths 1, 2, 0 like the middle row
    >>> grid = (no_rows, (before, core, a[:, :0]), no_rows)
    >>> tile = Tile(grid, axis_map(4, 1, "reflect"),
    ...             axis_map(4, 1, "reflect", core=(2, 4), before=(1, 2)), 1, 1)
    >>> tile.frame()[0]  # columns 1, 2, 3 of row 0
    array([1., 2., 3.])
    >>> tile.xmap.index  # padded columns 1..4 read frame columns 0, 1, 2 and 2 (reflected)
    array([0, 1, 2, 2])
    >>> tile.pieces()[4].index  # the same, with the halo column as side column 0 (-2 - 0)
    array([-2,  0,  1,  1])
    """

    grid: tuple[tuple[Any, Any, Any], tuple[Any, Any, Any], tuple[Any, Any, Any]]
    ymap: AxisMap
    xmap: AxisMap
    ry: int
    rx: int
    #: Global (row, column) of the block's first output cell: the box sweep aligns its
    #: blocks to the whole array, so its sums do not depend on the chunking.
    origin: tuple[int, int] = (0, 0)

    @classmethod
    def whole(cls, data: Any, ry: int, rx: int, boundary: str | tuple[str, str]) -> Tile:
        """The whole array as one tile (no halo strips); ``boundary``: one mode or (y, x)."""
        ny, nx = data.shape[-2:]
        ymode, xmode = axis_modes(boundary)
        e = data[..., :0, :0]
        empty = ((e, data[..., :0, :], e), (data[..., :, :0], data, data[..., :, :0]), (e, data[..., :0, :], e))
        return cls(empty, axis_map(ny, ry, ymode), axis_map(nx, rx, xmode), ry, rx)

    @property
    def core(self) -> Any:
        return self.grid[1][1]

    @property
    def strips(self) -> tuple[int, int, int, int]:
        """Depths of the (y before, y after, x before, x after) strips."""
        g = self.grid
        return g[0][1].shape[-2], g[2][1].shape[-2], g[1][0].shape[-1], g[1][2].shape[-1]

    def frame(self) -> Any:
        """The grid as one array (a copy unless there are no strips), where the core lives.

        np.concatenate dispatches to cupy for cupy blocks (``__array_function__``); cupy
        allocates on the *current* device, which in a dask thread is the first GPU whatever
        the block's, so the copy is made under the core's own device.
        """
        g = self.grid
        if not any(self.strips):
            return self.core
        device = getattr(self.core, "device", None)
        if hasattr(device, "use"):  # a cupy.cuda.Device (numpy's .device is "cpu")
            with device:
                return np.concatenate([np.concatenate(row, axis=-1) for row in g], axis=-2)
        return np.concatenate([np.concatenate(row, axis=-1) for row in g], axis=-2)

    def pieces(self) -> tuple[Any, Any, Any, AxisMap, AxisMap]:
        """(core, side, cap, ymap, xmap) for reading the core in place.

        ``side`` holds the before and after columns of the core's rows, ``cap`` the halo
        rows (before then after) across the whole frame width; the maps say core positions
        as ``>= 0`` and strip positions ``k`` as ``-2 - k`` (see
        :func:`~xarray_focal._boundary.split_map`). The cap rows are read with the frame's
        own x map.
        """
        g = self.grid
        core = g[1][1]
        strips = self.strips
        if not any(strips):
            # No strips (the whole array): nothing to put together or re-encode.
            return core, g[1][0], g[0][1], self.ymap, self.xmap
        side = np.concatenate((g[1][0], g[1][2]), axis=-1)
        cap = np.concatenate(
            (np.concatenate(g[0], axis=-1), np.concatenate(g[2], axis=-1)), axis=-2
        )
        ymap = split_map(self.ymap, strips[0], core.shape[-2], self.ry)
        xmap = split_map(self.xmap, strips[2], core.shape[-1], self.rx)
        return core, side, cap, ymap, xmap
