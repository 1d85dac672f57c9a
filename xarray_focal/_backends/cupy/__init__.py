"""cupy backend: CUDA kernels (NVRTC through :class:`cupy.RawKernel`) on device memory.

Same functions as :mod:`..numpy_backend` (``correlate``/``correlate_tile`` and the NaN-aware
``reduce``/``reduce_tile``); the dask wrapper calls the ``*_tile`` functions per chunk, so
dask+cupy needs no code of its own. cupy is imported only when a cupy array reaches this
package (it is an optional dependency).

The package:

``layout.py``
    host side, numpy only: the kernel's one description,
    :class:`~xarray_focal._algorithms.runs.KernelRuns`, laid out in bands of shared-memory
    tiles, with the outputs per thread ``K`` and the accumulation type chosen for it. The
    CPU's ``method=`` and its cost model play no part.
``launch.py``
    device side: the CUDA sources, the compiled kernels, the caches of uploaded layouts and
    index maps, and the one launcher.
``unrolled.py``
    host side too: CUDA C generated for one kernel's runs (straight-line code, runs and
    weights as constants, several output rows a thread sharing their window sums). The
    correlation runs there wherever the kernel qualifies (bounded code size, one
    shared-memory band), reading a dask chunk's halo strips in place; the generated
    statistics kernels are behind ``launch.UNROLLED_STATS`` until timed.
``geodesic.py``, ``geodesic.cu``
    geodesic kernels (a footprint per output row): the per-row run tables on the device
    once per kernel, every linear output of a tile in one launch (:func:`geodesic_tile`).
``correlate.cu``, ``reduce.cu``, ``common.cuh``, ``stats.cuh``
    the CUDA C: ``focal_correlate`` (weighted sums) and ``focal_reduce`` (NaN policies and
    focal statistics, with the semantics of :mod:`xarray_focal._algorithms.masked`), and
    what they share -- staging a tile plus halo in shared memory through the per-axis
    index maps (so every boundary mode and every dask chunk is the same code), the
    coalesced store of the outputs, and the statistics' channels (``stats.cuh``).

How the work is laid out (details in the CUDA files): each thread computes ``K``
consecutive outputs; a run of length ``L >= K`` costs ``L + K - 1`` shared-memory reads for
all ``K`` windows instead of ``K * L``, and every window sum adds only values inside that
window (NaN and inf stay exact, unlike running sums). Zero taps belong to no run, so they
are never read (the footprint rule). Leading axes are the grid's z dimension: an N-D cube
is one launch. Repeated calls and dask chunks upload nothing but new index maps.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..._algorithms.runs import KernelRuns
from ..._contract import Reduction
from ..._boundary import axis_modes
from ..._tiles import Tile
from . import launch
from .launch import UPLOADS, device_map, launch_generated, launch_kernel, whole_axis_map
from .geodesic import geodesic_tile

__all__ = ["correlate", "correlate_tile", "reduce", "reduce_tile", "geodesic_tile", "UPLOADS"]


def _whole_maps(data: Any, kernel: KernelRuns, boundary: str):
    ny, nx = data.shape[-2:]
    device = data.device.id
    ymode, xmode = axis_modes(boundary)  # one mode, or a (y, x) pair
    return (whole_axis_map(ny, kernel.ry, ymode, device),
            whole_axis_map(nx, kernel.rx, xmode, device))


def _on_one_device(tile: Tile) -> Tile:
    """``tile`` with every halo strip on its block's device.

    The chunks of one dask array may live on different GPUs of one process (the threaded
    scheduler, chunks placed by the user); the kernels read every piece by pointer, so a
    strip from another device is copied to the block's first (cupy copies between devices).
    On a cluster each worker receives its strips on its own device, and nothing is copied.
    """
    device = tile.core.device.id
    if all(piece.device.id == device for row in tile.grid for piece in row):
        return tile
    import cupy as cp

    with cp.cuda.Device(device):
        grid = tuple(tuple(piece if piece.device.id == device else piece.copy() for piece in row)
                     for row in tile.grid)
    return dataclasses.replace(tile, grid=grid)


def _frame(tile: Tile) -> Any:
    """The tile put together as one array on its block's device (strips moved there first)."""
    return _on_one_device(tile).frame()


def _tile_maps(src: Any, tile: Tile):
    device = src.device.id
    return device_map(tile.ymap, device), device_map(tile.xmap, device)


def correlate(data: Any, kernel: KernelRuns, method: str, boundary: str, fill: float) -> Any:
    """Correlate the last two axes of a cupy array with ``kernel`` (one launch; ``method`` unused).

    Examples
    --------
    >>> import cupy as cp  # doctest: +SKIP
    >>> import xarray_focal as xf  # doctest: +SKIP
    >>> xf.correlate(cp.ones((4, 4)), np.ones((3, 3)), boundary="nearest")  # doctest: +SKIP
    array([[9., 9., 9., 9.],
           [9., 9., 9., 9.],
           [9., 9., 9., 9.],
           [9., 9., 9., 9.]])
    """
    key = launch.whole_recipe_key(data, kernel, boundary, fill)
    recipe = launch.RECIPES.get(key)
    if recipe is not None:
        return launch.launch_recipe(recipe, data)
    maps = _whole_maps(data, kernel, boundary)
    e = data[..., :0, :0]
    grid = ((e, e, e), (e, data, e), (e, e, e))
    out = launch_generated(grid, kernel, *maps, fill, recipe_key=key)
    return launch_kernel(data, kernel, *maps, fill) if out is None else out


def correlate_tile(tile: Tile, kernel: KernelRuns, method: str, fill: float, *,
                   parallel: bool) -> Any:
    """Correlate one tile on the device; the output has the tile's core shape.

    The kernel generated for ``kernel`` (:mod:`.unrolled`) reads the block and its halo
    strips in place; the generic kernels read one array, so for them the strips are put
    together with the block first (a device copy). ``parallel`` is ignored: one launch
    always fills the whole device.
    """
    tile = _on_one_device(tile)
    maps = _tile_maps(tile.core, tile)
    out = launch_generated(tile.grid, kernel, *maps, fill)
    if out is not None:
        return out
    src = _frame(tile)
    return launch_kernel(src, kernel, *maps, fill)


def reduce(data: Any, kernel: KernelRuns, method: str, boundary: str, fill: float,
           reduction: Reduction) -> list:
    """NaN-aware statistics of a whole cupy array: one device array per statistic.

    The semantics are :mod:`xarray_focal._algorithms.masked`'s (codes, threshold, wtotal).

    Examples
    --------
    >>> import cupy as cp  # doctest: +SKIP
    >>> import xarray_focal as xf  # doctest: +SKIP
    >>> xf.focal_mean(cp.array([[1.0, 3.0, cp.nan, 8.0]]), np.ones((1, 3)),
    ...               boundary="nearest")  # doctest: +SKIP
    array([[1.66666667, 2.        , 5.5       , 8.        ]])
    """
    return list(launch_kernel(data, kernel, *_whole_maps(data, kernel, boundary), fill, reduction))


def reduce_tile(tile: Tile, kernel: KernelRuns, method: str, fill: float,
                reduction: Reduction, *, parallel: bool) -> Any:
    """NaN-aware statistics of one tile: shape ``(len(reduction.names),) + core shape``.

    ``parallel`` is ignored: one launch always fills the whole device.
    """
    src = _frame(tile)
    return launch_kernel(src, kernel, *_tile_maps(src, tile), fill, reduction)
