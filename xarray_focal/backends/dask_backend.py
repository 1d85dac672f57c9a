"""dask backend: run the chunk type's backend on every chunk with a halo from its neighbours.

Boundaries are not left to dask: the overlap uses ``boundary="none"`` (no padding at the
array edges) and every chunk builds the *global* index maps for its window, so edge chunks
reflect, repeat or fill exactly as the whole-array numpy path does -- including ``mirror``,
which dask has no name for. Only ``wrap`` asks dask for a ``"periodic"`` halo, because its
source lies at the far end of the array.

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

import dask.array as da
import numpy as np
from dask import delayed
from dask.base import tokenize

from ..algorithms.plan import Plan
from ..boundary import axis_map
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
    if radius >= n or len(chunks) == 1:
        # The whole axis in one chunk: index maps then handle every boundary locally.
        return (n,), 0
    return _merge_small_chunks(chunks, radius), radius


def _starts(chunks: tuple[int, ...]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)


def correlate(data: da.Array, plan: Plan, boundary: str, fill: float) -> da.Array:
    """Lazily correlate the last two axes of a dask array; output keeps ``data.chunks``."""
    return _map_tiles(data, plan, boundary, fill, None)


def reduce(data: da.Array, plan: Plan, boundary: str, fill: float, reduction) -> list[da.Array]:
    """Lazy NaN-aware statistics: one array per statistic, all from one pass per chunk."""
    stack = _map_tiles(data, plan, boundary, fill, reduction)
    return [
        da.map_blocks(_pick, stack, i, drop_axis=0, dtype=stack.dtype, meta=data._meta.astype(stack.dtype),
                      name=f"focal-{stat}-{tokenize(stack.name, i)}")
        for i, stat in enumerate(reduction.names)
    ]


def _pick(block, i):
    return block[i]


def _map_tiles(data: da.Array, plan: Plan, boundary: str, fill: float, reduction) -> da.Array:
    from .numpy_backend import working_dtype

    ny, nx = data.shape[-2:]
    ychunks, ydepth = _spatial_chunks(data.chunks[-2], ny, plan.ry)
    xchunks, xdepth = _spatial_chunks(data.chunks[-1], nx, plan.rx)
    work = data.rechunk(data.chunks[:-2] + (ychunks, xchunks))
    periodic = boundary == "wrap"
    dask_boundary = "periodic" if periodic else "none"
    if ydepth or xdepth:
        ax_y, ax_x = data.ndim - 2, data.ndim - 1
        work = da.overlap.overlap(
            work,
            depth={ax_y: ydepth, ax_x: xdepth},
            boundary={ax_y: dask_boundary, ax_x: dask_boundary},
            allow_rechunk=False,
        )
    out_dtype = working_dtype(data.dtype)
    chunks = data.chunks[:-2] + (ychunks, xchunks)
    extra = {}
    if reduction is not None:
        chunks = ((len(reduction.names),),) + chunks
        extra["new_axis"] = 0
    op = "focal-correlate-" if reduction is None else "focal-reduce-"
    grid = (ny, nx, _starts(ychunks), _starts(xchunks), ydepth, xdepth, periodic)
    # Tokenise explicitly: dask would otherwise hash the plan object's identity.
    setup_token = tokenize(plan.kernel, plan.method, boundary, fill, reduction, grid)
    # Plan and grid enter the graph once, as one key every block depends on. Passed as
    # map_blocks kwargs they were copied into every task: with distributed each task is
    # pickled on its own, so a 81x81 kernel (plan ~175 kB) cost 175 kB per chunk.
    setup = delayed(
        _BlockSetup(plan, boundary, fill, reduction, grid), pure=True,
        name="focal-plan-" + setup_token,
    )
    result = da.map_blocks(
        _tile,
        work,
        setup,
        dtype=out_dtype,
        meta=data._meta.astype(out_dtype)[(None,) * (reduction is not None)],
        chunks=chunks,
        name=op + tokenize(work.name, setup_token),
        **extra,
    )
    target = data.chunks if reduction is None else ((len(reduction.names),),) + data.chunks
    if result.chunks != target:
        result = result.rechunk(target)
    return result


@dataclass(frozen=True, eq=False)
class _BlockSetup:
    """What every block task needs besides its data (one graph key, shared)."""

    plan: Plan
    boundary: str
    fill: float
    reduction: object
    grid: tuple


def _tile(block, setup, block_id=None):
    plan, boundary, fill, reduction = setup.plan, setup.boundary, setup.fill, setup.reduction
    ny, nx, ystarts, xstarts, ydepth, xdepth, periodic = setup.grid
    iy, ix = block_id[-2], block_id[-1]
    maps = []
    for n, starts, depth, i, radius in (
        (ny, ystarts, ydepth, iy, plan.ry),
        (nx, xstarts, xdepth, ix, plan.rx),
    ):
        c0, c1 = int(starts[i]), int(starts[i + 1])
        if periodic and depth:
            maps.append(axis_map(n, radius, boundary, core=(c0, c1), periodic_padded=True))
        else:
            # boundary="none": the halo is cut off at the array edges.
            maps.append(axis_map(n, radius, boundary, core=(c0, c1), source_start=max(c0 - depth, 0)))
    backend = chunk_backend_for(block)
    if reduction is None:
        return backend.correlate_tile(block, plan, maps[0], maps[1], fill, parallel=PARALLEL_PER_CHUNK)
    return backend.reduce_tile(block, plan, maps[0], maps[1], fill, reduction,
                               parallel=PARALLEL_PER_CHUNK)
