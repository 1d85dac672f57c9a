"""Order statistics (median, percentiles) on cupy arrays: one CUDA thread per output cell.

Each thread reads its window through the tile's index maps (the footprint's cells are
compile-time constants: one kernel per footprint and dtype), sorts it in registers with the
footprint's sorting network (the same pruned Batcher network as the CPU engine, unrolled
into the kernel source; footprints of more than :data:`NETWORK_MAX_CELLS` cells are sorted
by insertion in local memory instead) and finishes the statistic in double precision
exactly as the CPU does, so both backends return the same order statistics. Class
statistics and ``apply`` are not available on the GPU (refused by the caller).
"""

from __future__ import annotations

import functools
from importlib.resources import files

import numpy as np

from .._algorithms.rank.order import network_pairs
from .._algorithms.runs import KernelRuns
from .._contract import working_dtype

__all__ = ["kernel_source", "order_tile"]

#: Footprints of at most this many cells get an unrolled sorting network.
NETWORK_MAX_CELLS = 64
BLOCK = (32, 8)


def kernel_source(ctype: str, dy: tuple[int, ...], dx: tuple[int, ...]) -> str:
    """The CUDA source of the kernel for one float type and footprint (its cells' rows and
    columns in the footprint's box).

    Examples
    --------
    >>> src = kernel_source("float", (0, 0, 1), (0, 1, 0))
    >>> src.splitlines()[:4]
    ['#define T float', '#define NTAPS 3', '#define TAP_DY {0, 0, 1}', '#define TAP_DX {0, 1, 0}']
    """
    ntaps = len(dy)
    head = [f"#define T {ctype}", f"#define NTAPS {ntaps}",
            f"#define TAP_DY {{{', '.join(map(str, dy))}}}",
            f"#define TAP_DX {{{', '.join(map(str, dx))}}}"]
    if ntaps <= NETWORK_MAX_CELLS:
        ces = " ".join(f"CE({a}, {b})" for a, b in network_pairs(ntaps).tolist())
        head.append(f"#define SORT_CELLS {ces}")
    body = files(__package__).joinpath("cupy_rank.cu").read_text(encoding="utf-8")
    return "\n".join(head) + '\n#line 1 "cupy_rank.cu"\n' + body


@functools.lru_cache(maxsize=32)
def _kernel(ctype: str, dy: tuple[int, ...], dx: tuple[int, ...]):
    """The kernel for one dtype and footprint (cupy also caches the compiled binary)."""
    import cupy as cp

    # No fused multiply-adds: the interpolation must round as the CPU's does.
    return cp.RawKernel(kernel_source(ctype, dy, dx), "order_stat",
                        options=("-std=c++17", "--fmad=false"))


def order_tile(tile, kernel: KernelRuns, fill: float, qs: np.ndarray, threshold: int):
    """Order statistics ``qs`` (NaN: median) of one cupy tile: ``(len(qs),) + lead + (rows,
    columns)``, the rows and columns the tile's maps cover (see ``RankReduction.run_tile``)."""
    import cupy as cp

    core = tile.core
    dtype = working_dtype(core.dtype)
    lead = core.shape[:-2]
    ho = tile.ymap.index.size - 2 * kernel.ry
    wo = tile.xmap.index.size - 2 * kernel.rx
    with cp.cuda.Device(core.device.id):
        return _order_on_device(tile, kernel, fill, qs, threshold, dtype, lead, ho, wo)


def _order_on_device(tile, kernel, fill, qs, threshold, dtype, lead, ho, wo):
    import cupy as cp

    out = cp.empty((qs.size,) + lead + (ho, wo), dtype=dtype)
    if out.size == 0:
        return out
    frame = cp.ascontiguousarray(tile.frame(), dtype=dtype)
    nb = int(np.prod(lead, dtype=np.int64))
    fh, fw = frame.shape[-2:]
    taps = kernel.taps()
    yidx = cp.asarray(tile.ymap.index, dtype=cp.int64)
    xidx = cp.asarray(tile.xmap.index, dtype=cp.int64)
    ctype = "float" if dtype == np.float32 else "double"
    kern = _kernel(ctype, tuple(taps.dy.tolist()), tuple(taps.dx.tolist()))
    grid = (-(-wo // BLOCK[0]), -(-ho // BLOCK[1]), nb)
    kern(grid, BLOCK, (
        frame, np.int64(fh), np.int64(fw), yidx, xidx, dtype.type(fill),
        np.int64(nb), np.int64(ho), np.int64(wo), cp.asarray(qs, dtype=cp.float64),
        np.int32(qs.size), np.int64(threshold), out,
    ))
    return out
