"""dask backend: run the chunk type's backend on every chunk with a halo from its neighbours.

The halo exchange is ours, not ``dask.array.overlap``: one task per block copies its eight
thin edge strips, and each output task reads its own block in place plus the strips of its
neighbours (a :class:`~xarray_focal._tiles.Tile`). dask's overlap instead copies
every block into a padded one first -- on a 2000x2000 float64 array in four chunks (circle
r=7, 2-core machine) that copy was ~5 of ~25 ms. Boundaries are not left to dask either:
every chunk builds the *global* index maps for its frame, so edge chunks reflect, repeat or
fill exactly as the whole-array numpy path does -- including ``mirror``, which dask has no
name for; with ``wrap`` the first and last chunks are neighbours.

Chunks smaller than the kernel's reach are merged with a neighbour on that axis only (and
the result is rechunked back), an axis shorter than the reach becomes one chunk; every
other chunk is left alone, and the output has the input's chunks.

Per chunk we call the *serial* ``nogil`` loop: dask's threads already keep every core busy,
and the serial loop needs no lock, so chunks truly run side by side. The locked parallel
loop makes chunks take turns instead. Measured on the 2-core dev machine (4000x4000
float64, 15x15 circle, threaded scheduler, medians): 16 chunks 113 ms serial vs 115 ms
locked-parallel, 4 chunks 101 vs 103 ms, 2 chunks 103 vs 111 ms. Serial is never slower,
and it cannot serialise a many-worker cluster behind one lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import dask.array as da
import numpy as np
from dask import delayed
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from .._algorithms.runs import KernelRuns
from .._boundary import axis_map, axis_modes
from .._contract import working_dtype
from .._tiles import Tile
from . import chunk_backend_for

__all__ = ["correlate"]

#: See the module docstring for the measurement behind this choice.
PARALLEL_PER_CHUNK = False


def _merge_small_chunks(chunks: tuple[int, ...], minimum: int) -> tuple[int, ...]:
    """Merge neighbouring chunks until each is at least ``minimum`` long (others untouched)."""
    if all(c >= minimum for c in chunks):
        return chunks
    merged: list[int] = []
    for c in chunks:
        if merged and merged[-1] < minimum:
            merged[-1] += c
        else:
            merged.append(c)
    if len(merged) > 1 and merged[-1] < minimum:
        # Pop first: in `merged[-2] += merged.pop()` the index -2 is resolved before the
        # pop, so with two chunks left it pointed past the shortened list.
        last = merged.pop()
        merged[-1] += last
    return tuple(merged)


def _spatial_chunks(chunks: tuple[int, ...], n: int, radius: int) -> tuple[tuple[int, ...], int]:
    """Chunks for one spatial axis and the overlap depth they allow."""
    if radius == 0:
        return chunks, 0
    merged = (n,) if radius >= n else _merge_small_chunks(chunks, radius)
    if len(merged) == 1:
        # The whole axis in one chunk: index maps then handle every boundary locally
        # (with "wrap" a halo would only copy the chunk's own far edge).
        return (n,), 0
    return merged, radius


def _starts(chunks: tuple[int, ...]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)


def correlate(data: da.Array, kernel: KernelRuns, method: str, boundary: str,
              fill: float) -> da.Array:
    """Lazily correlate the last two axes of a dask array; output keeps ``data.chunks``."""
    return _map_tiles(data, kernel, method, boundary, fill, None)


def reduce(data: da.Array, kernel: KernelRuns, method: str, boundary: str, fill: float,
           reduction) -> list[da.Array]:
    """Lazy NaN-aware statistics: one array per statistic, all from one pass per chunk."""
    stack = _map_tiles(data, kernel, method, boundary, fill, reduction)
    return [
        da.map_blocks(_pick, stack, i, drop_axis=0, dtype=stack.dtype, meta=data._meta.astype(stack.dtype),
                      name=f"focal-{stat}-{tokenize(stack.name, i)}")
        for i, stat in enumerate(reduction.names)
    ]


def _pick(block, i):
    return block[i]


def _map_tiles(data: da.Array, kernel: KernelRuns, method: str, boundary: str, fill: float,
               reduction) -> da.Array:
    ny, nx = data.shape[-2:]
    ychunks, ydepth = _spatial_chunks(data.chunks[-2], ny, kernel.ry)
    xchunks, xdepth = _spatial_chunks(data.chunks[-1], nx, kernel.rx)
    work = data.rechunk(data.chunks[:-2] + (ychunks, xchunks))
    ymode, xmode = axis_modes(boundary)
    out_dtype = working_dtype(data.dtype)
    chunks = data.chunks[:-2] + (ychunks, xchunks)
    if reduction is not None:
        chunks = ((len(reduction.names),),) + chunks
    grid = (ny, nx, _starts(ychunks), _starts(xchunks), ydepth, xdepth)
    # Tokenise explicitly: dask would otherwise hash the kernel object's identity.
    setup_token = tokenize(kernel, method, boundary, fill, reduction, grid)
    # Kernel and grid enter the graph once, as one key every block depends on. Passed with
    # each task they were copied into every task: with distributed each task is pickled
    # on its own, so a large kernel cost its size per chunk.
    setup = delayed(
        _BlockSetup(kernel, method, boundary, fill, reduction, grid), pure=True,
        name="focal-plan-" + setup_token,
    )
    name = ("focal-correlate-" if reduction is None else "focal-reduce-") + tokenize(work.name, setup_token)
    # The strips depend on the data and the halo depths only: focal operations of the
    # same reach on the same array share them.
    halo_name = "focal-halo-" + tokenize(work.name, ydepth, xdepth)
    layer: dict = {}
    ylen, xlen = work.numblocks[-2:]
    if ydepth or xdepth:
        for idx in np.ndindex(*work.numblocks):
            layer[(halo_name,) + idx] = (_edge_strips, (work.name,) + idx, ydepth, xdepth)
    for idx in np.ndindex(*work.numblocks):
        *lead, iy, ix = idx
        ybefore, yafter = _neighbours(iy, ylen, ydepth, ymode == "wrap")
        xbefore, xafter = _neighbours(ix, xlen, xdepth, xmode == "wrap")
        # sources[i][j]: the neighbour holding grid cell (i, j), before/core/after per axis.
        sources = [
            [None if (i, j) == (1, 1) or by is None or bx is None else (halo_name, *lead, by, bx)
             for j, bx in enumerate((xbefore, ix, xafter))]
            for i, by in enumerate((ybefore, iy, yafter))
        ]
        key = (name,) + (0,) * (reduction is not None) + idx
        layer[key] = (_tile, (work.name,) + idx, sources, setup.key, iy, ix,
                      ybefore, yafter, xbefore, xafter)
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[work, setup])
    meta = data._meta.astype(out_dtype)[(None,) * (reduction is not None)]
    result = da.Array(graph, name, chunks, meta=meta)
    target = data.chunks if reduction is None else ((len(reduction.names),),) + data.chunks
    if result.chunks != target:
        result = result.rechunk(target)
    return result


def _neighbours(i: int, count: int, depth: int, wrap: bool) -> tuple[int | None, int | None]:
    """Block indices before and after block ``i`` on an axis (None: no halo that side)."""
    if not depth:
        return None, None
    before = i - 1 if i > 0 else (count - 1 if wrap else None)
    after = i + 1 if i < count - 1 else (0 if wrap else None)
    return before, after


def _edge_strips(block, dy: int, dx: int):
    """The eight edge pieces of a block that its neighbours read (centre left out).

    One task per block hands all of them on, so a distributed worker ships thin strips,
    never a neighbour's whole block. They are copies, not views: a view would keep the
    whole block in memory until the last neighbour has run (with ``wrap``, until the far
    side of the array has) and would make dask under-count the memory held.
    """
    h, w = block.shape[-2:]
    rows = (slice(0, dy), slice(None), slice(h - dy, h))
    cols = (slice(0, dx), slice(None), slice(w - dx, w))
    return [[None if (i, j) == (1, 1) else _copy(block[..., rows[i], cols[j]]) for j in range(3)]
            for i in range(3)]


def _copy(piece):
    """A copy of ``piece`` on the device it lives on.

    cupy copies into the *current* device, and a dask thread's current device is the
    first GPU whatever the block's: a strip of a block on another GPU would land there.
    """
    device = getattr(piece, "device", None)
    if hasattr(device, "use"):  # a cupy.cuda.Device (numpy's .device is the string "cpu")
        with device:
            return piece.copy()
    return piece.copy()


@dataclass(frozen=True, eq=False)
class _BlockSetup:
    """What every block task needs besides its data (one graph key, shared)."""

    kernel: KernelRuns
    method: str
    boundary: str
    fill: float
    reduction: object
    grid: tuple


def _tile(block, sources, setup, iy, ix, ybefore, yafter, xbefore, xafter):
    """Compute one output block from its own block and its neighbours' edge strips."""
    kernel, method, boundary, fill = setup.kernel, setup.method, setup.boundary, setup.fill
    reduction = setup.reduction
    ny, nx, ystarts, xstarts, ydepth, xdepth = setup.grid
    h, w = block.shape[-2:]
    rows = (ydepth if ybefore is not None else 0, h, ydepth if yafter is not None else 0)
    cols = (xdepth if xbefore is not None else 0, w, xdepth if xafter is not None else 0)
    # Cell (i, j) of the grid is the (2 - i, 2 - j) edge strip of the neighbour that holds
    # it: what lies before this block is the far end of the block before it.
    cells = tuple(
        tuple(block if (i, j) == (1, 1) else
              block[..., :rows[i], :cols[j]] if sources[i][j] is None else
              sources[i][j][2 - i][2 - j]
              for j in range(3))
        for i in range(3)
    )
    ymode, xmode = axis_modes(boundary)
    ymap = _frame_map(ny, kernel.ry, ymode, ystarts, iy, ybefore, yafter, ydepth)
    xmap = _frame_map(nx, kernel.rx, xmode, xstarts, ix, xbefore, xafter, xdepth)
    tile = Tile(cells, ymap, xmap, kernel.ry, kernel.rx, (int(ystarts[iy]), int(xstarts[ix])))
    if getattr(kernel, "per_row", False):
        # A footprint per output row (geodesic kernels): this block's rows of it.
        from .._geodesic import chunk_stack

        rows = kernel.rows(int(ystarts[iy]), int(ystarts[iy + 1]))
        return chunk_stack(tile, rows, reduction, parallel=PARALLEL_PER_CHUNK)
    if hasattr(reduction, "run_tile"):  # rank, class and custom statistics (.rank)
        return reduction.run_tile(tile, kernel, fill, parallel=PARALLEL_PER_CHUNK)
    backend = chunk_backend_for(block)
    if reduction is None:
        return backend.correlate_tile(tile, kernel, method, fill, parallel=PARALLEL_PER_CHUNK)
    return backend.reduce_tile(tile, kernel, method, fill, reduction, parallel=PARALLEL_PER_CHUNK)


def _frame_map(n, radius, boundary, starts, i, before, after, depth):
    """Frame map of block ``i`` on one axis: the strips' global ranges come from their blocks."""
    core = (int(starts[i]), int(starts[i + 1]))
    strip_before = (0, 0) if before is None else (int(starts[before + 1]) - depth, int(starts[before + 1]))
    strip_after = (0, 0) if after is None else (int(starts[after]), int(starts[after]) + depth)
    return _axis_map(n, radius, boundary, core, strip_before, strip_after)


@lru_cache(maxsize=1024)
def _axis_map(n, radius, boundary, core, before, after):
    """:func:`axis_map`, cached: every compute asked again for every block's two maps
    (~0.2 ms each with 2048-cell chunks on the GPU host, a fifth of a chunk's host work).
    The maps are shared between tasks, and no backend writes to them."""
    return axis_map(n, radius, boundary, core=core, before=before, after=after)
