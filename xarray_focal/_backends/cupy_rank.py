"""Order and class statistics on cupy arrays: CUDA kernels generated per footprint.

Order statistics (median, percentiles)
    Each CUDA thread computes a tile of neighbouring outputs with the selection network of
    :mod:`.cupy_rank_select` (columns sorted once and shared by the windows that contain
    them, pruned merges), unrolled into the kernel source as straight-line min/max on
    registers; the footprint, the wanted ranks and the tile are compile-time constants (one
    kernel per footprint, statistics and dtype). That is the path of every window of a
    NaN-free region away from a fill boundary. Any other window -- one with NaN, a cell
    outside the array, fewer cells than ``min_count``, or a thread's tile cut by the
    array's edge -- is computed on its own: its values read through the tile's index maps
    (NaN as +inf, counted out), sorted in registers by the footprint's sorting network (the
    same pruned Batcher network as the CPU engine; footprints of more than
    :data:`NETWORK_MAX_CELLS` cells by insertion in local memory) and finished with the
    valid count's ranks. Both paths finish the statistic in double precision exactly as
    the CPU does (:mod:`xarray_focal._algorithms.rank.order`), so all backends return the
    same bits.
Class statistics (majority, minority, variety)
    One thread per output sorts its window's valid values the same way; the runs of equal
    values are the window's classes in ascending order, so the first run of a tie is the
    smallest class, as on the CPU.

``apply`` is not available on the GPU (refused by the caller).
"""

from __future__ import annotations

import functools
import math
from importlib.resources import files

import numpy as np

from .._algorithms.rank.order import network_pairs
from .._algorithms.runs import KernelRuns
from .._contract import working_dtype
from .cupy import launch
from ..errors import FocalValueError
from . import cupy_rank_select

__all__ = ["kernel_source", "order_tile", "class_tile", "choose_tile", "launch_grid"]

#: Most blocks of a launch along z, the slices of the leading axes (CUDA's limit); the
#: kernels loop over the slices beyond.
MAX_GRID_Z = 65535
#: Footprints of at most this many cells get an unrolled sorting network.
NETWORK_MAX_CELLS = 64
#: Footprints of at most this many cells get the selection network (a tile per thread).
FAST_MAX_CELLS = 81
#: Output tiles a thread may compute, (rows, columns).
TILES = ((1, 1), (1, 2), (2, 1), (2, 2), (1, 4), (2, 4), (4, 2), (4, 4), (2, 8))
#: Most region cells a thread holds in registers: this many, or a third more than the
#: footprint's cells (a 2 x 2 tile of a 7 x 7 box); and most network operations (code size).
#: Fewer registers per thread keep more warps resident to hide the reads' latency: on the
#: H200 the 2 x 2 tile was the fastest or close to it for every box of 3 to 7 cells, float32
#: and float64 (docs/performance-gpu.md), though larger tiles need fewer operations.
LEAF_CAP = 40
LEAF_GROWTH = 4 / 3
OPS_CAP = 1600
#: A tile within this factor of the fewest operations per output, with fewer cells, wins.
TILE_SLACK = 1.05
#: Forces one tile (rows, columns), or None for the automatic choice (benchmarks compare).
TILE = None
BLOCK = (32, 8)  # one thread per output (no selection network) and the class statistics
FAST_BLOCK = (32, 4)  # a tile per thread

#: Integers up to this magnitude are exact in float64 (as on the CPU: rank.class_ids).
FLOAT64_EXACT_INT = 2 ** 53


def positions(n: int, q: float) -> tuple[int, int, float]:
    """(lower rank, upper rank, weight) of statistic ``q`` (NaN: median) among ``n`` values:
    the CPU's ``order._positions`` (the same float64 operations).

    Examples
    --------
    >>> positions(25, float("nan")), positions(4, float("nan")), positions(5, 30.0)
    ((12, 12, 0.0), (1, 2, 0.5), (1, 2, 0.19999999999999996))
    """
    if math.isnan(q):
        hi = n // 2
        return (hi, hi, 0.0) if n % 2 == 1 else (hi - 1, hi, 0.5)
    vi = float(n - 1) * (q / 100.0)
    if vi >= n - 1:
        return n - 1, n - 1, 0.0
    lo = math.floor(vi)
    return lo, lo + 1, vi - lo


@functools.lru_cache(maxsize=64)
def choose_tile(taps: tuple[tuple[int, int], ...], ranks: tuple[int, ...], ctype: str):
    """The tile (rows, columns) a thread computes, or None (one output per thread).

    The fewest network operations per output among the tiles whose region fits the
    register budget (:data:`LEAF_CAP`, :data:`LEAF_GROWTH`) and whose code fits
    :data:`OPS_CAP`; of those within :data:`TILE_SLACK` of it, the one holding the fewest
    cells. ``ctype`` keys the choice by type, though both types follow one rule today (the
    2 x 2 tile measured best or near it for float32 and float64 alike).

    Examples
    --------
    >>> box5 = tuple((y, x) for y in range(5) for x in range(5))
    >>> choose_tile(box5, (12,), "float")
    (2, 2)
    """
    if TILE is not None:
        return TILE
    if len(taps) > FAST_MAX_CELLS:
        return None
    cands = []
    for rows, cols in TILES:
        sel = cupy_rank_select.build(taps, rows, cols, ranks)
        if len(sel.leaves) <= max(LEAF_CAP, LEAF_GROWTH * len(taps)) and sel.nops <= OPS_CAP:
            cands.append((sel.nops / (rows * cols), len(sel.leaves), (rows, cols)))
    if not cands:
        return None
    best = min(c[0] for c in cands)
    return min((c for c in cands if c[0] <= best * TILE_SLACK), key=lambda c: (c[1], c[0]))[2]


def _fast_defines(sel, ctype: str, qs: tuple, ntaps: int) -> list[str]:
    """The FAST_* macros of cupy_rank.cu for the selection network ``sel``."""
    rows = sorted({r for r, _ in sel.leaves})
    cols = sorted({c for _, c in sel.leaves})
    nl = len(sel.leaves)

    def name(i):
        return f"l{i}" if i < nl else f"o{i}"

    load = [f"const T* p{r} = slice + sy{r} * fw;" for r in rows]
    load += [f"T l{i} = p{r}[sx{c}]; ok &= l{i} == l{i};" for i, (r, c) in enumerate(sel.leaves)]
    net = [f"T o{nl + k} = {'MN' if kind == 0 else 'MX'}({name(a)}, {name(b)});"
           for k, (kind, a, b) in enumerate(sel.ops)]
    slot = {k: j for j, k in enumerate(sel.ranks)}
    store = []
    for o, ids in enumerate(sel.outputs):
        r, c = divmod(o, sel.cols)
        for s, q in enumerate(qs):
            i, j, w = positions(ntaps, math.nan if q is None else q)
            a, b = name(ids[slot[i]]), name(ids[slot[j]])
            dst = f"out[(({s} * nb + b) * ho + y0 + {r}) * wo + x0 + {c}]"
            if i == j:
                store.append(f"{dst} = {a};")
            else:
                qlit = "NAN_" if q is None else float(q).hex()
                store.append(f"{dst} = (T)finish((double){a}, (double){b}, {float(w).hex()}, "
                             f"{qlit});")
    inside = " | ".join([f"sy{r}" for r in rows] + [f"sx{c}" for c in cols])
    return [f"#define TR {sel.rows}", f"#define TC {sel.cols}", "#define FAST 1",
            "#define FAST_ROWS " + " ".join(f"const long long sy{r} = yidx[y0 + {r}];"
                                            for r in rows),
            "#define FAST_COLS " + " ".join(f"const long long sx{c} = xidx[x0 + {c}];"
                                            for c in cols),
            f"#define FAST_INSIDE (({inside}) >= 0)",
            "#define FAST_LOAD " + " ".join(load),
            "#define FAST_NET " + " ".join(net),
            "#define FAST_STORE " + " ".join(store)]


def kernel_source(ctype: str, dy: tuple[int, ...], dx: tuple[int, ...], qs: tuple = (),
                  tile=None) -> str:
    """The CUDA source of the kernels for one float type and footprint (its cells' rows and
    columns in the footprint's box); with ``tile`` (rows, columns), ``order_stat``'s
    selection network for the statistics ``qs`` (None: the median) on NaN-free regions.

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
    fmin, fmax = ("fminf", "fmaxf") if ctype == "float" else ("fmin", "fmax")
    head += [f"#define MN(a, b) {fmin}(a, b)", f"#define MX(a, b) {fmax}(a, b)"]
    if ntaps <= NETWORK_MAX_CELLS:
        ces = " ".join(f"CE({a}, {b})" for a, b in network_pairs(ntaps).tolist())
        head.append(f"#define SORT_CELLS {ces}")
    if tile is not None:
        ranks = _ranks(ntaps, qs)
        sel = cupy_rank_select.build(tuple(zip(dy, dx)), tile[0], tile[1], ranks)
        head += _fast_defines(sel, ctype, qs, ntaps)
    body = files(__package__).joinpath("cupy_rank.cu").read_text(encoding="utf-8")
    return "\n".join(head) + '\n#line 1 "cupy_rank.cu"\n' + body


def _ranks(ntaps: int, qs: tuple) -> tuple[int, ...]:
    out = set()
    for q in qs:
        i, j, _ = positions(ntaps, math.nan if q is None else q)
        out |= {i, j}
    return tuple(sorted(out))


def _qkey(qs: np.ndarray) -> tuple:
    return tuple(None if np.isnan(q) else float(q) for q in qs)


def fast_tile(ctype: str, dy: tuple[int, ...], dx: tuple[int, ...], qs: tuple):
    """The tile of ``order_stat``'s selection network for this footprint, or None."""
    return choose_tile(tuple(zip(dy, dx)), _ranks(len(dy), qs), ctype)


def launch_grid(ho: int, wo: int, nb: int, tile) -> tuple[tuple, tuple]:
    """(grid, block) of ``order_stat`` (``tile`` None: ``class_stat`` too)."""
    # The kernels loop over the slices of the leading axes: a grid holds 65535 in z.
    nz = max(1, min(nb, MAX_GRID_Z))
    if tile is None:
        return (-(-wo // BLOCK[0]), -(-ho // BLOCK[1]), nz), BLOCK
    bx, by = FAST_BLOCK
    return (-(-wo // (bx * tile[1])), -(-ho // (by * tile[0])), nz), FAST_BLOCK


@functools.lru_cache(maxsize=64)
def _kernel(ctype: str, dy: tuple[int, ...], dx: tuple[int, ...], qs: tuple, tile, entry: str):
    """One kernel for one dtype, footprint and statistics (cupy also caches the binary)."""
    import cupy as cp

    # No fused multiply-adds: the interpolation must round as the CPU's does.
    return cp.RawKernel(kernel_source(ctype, dy, dx, qs, tile), entry,
                        options=("-std=c++17", "--fmad=false"))


def _prepare(tile, kernel: KernelRuns):
    core = tile.core
    dtype = working_dtype(core.dtype)
    lead = core.shape[:-2]
    ho = tile.ymap.index.size - 2 * kernel.ry
    wo = tile.xmap.index.size - 2 * kernel.rx
    frame = tile.frame()
    nb = int(np.prod(lead, dtype=np.int64))
    taps = kernel.taps()
    # int32 maps, cached on the device by their bytes (shared with the other cupy kernels).
    device = core.device.id
    yidx = launch.device_map(tile.ymap, device).index
    xidx = launch.device_map(tile.xmap, device).index
    ctype = "float" if dtype == np.float32 else "double"
    return (frame, dtype, lead, ho, wo, nb, yidx, xidx, ctype,
            tuple(taps.dy.tolist()), tuple(taps.dx.tolist()))


def _on_device(values: np.ndarray, dtype, tile):
    """``values`` as a device array, uploaded once per device (the statistics' q, codes)."""
    import cupy as cp

    values = np.ascontiguousarray(values, dtype=dtype)
    device = tile.core.device.id
    return launch.MAPS.get(("rank-args", values.dtype.str, values.tobytes(), device),
                           lambda: cp.asarray(values))


def order_tile(tile, kernel: KernelRuns, fill: float, qs: np.ndarray, threshold: int):
    """Order statistics ``qs`` (NaN: median) of one cupy tile: ``(len(qs),) + lead + (rows,
    columns)``, the rows and columns the tile's maps cover (see ``RankReduction.run_tile``)."""
    import cupy as cp

    with cp.cuda.Device(tile.core.device.id):
        frame, dtype, lead, ho, wo, nb, yidx, xidx, ctype, dy, dx = _prepare(tile, kernel)
        out = cp.empty((qs.size,) + lead + (ho, wo), dtype=dtype)
        if out.size == 0:
            return out
        frame = cp.ascontiguousarray(frame, dtype=dtype)
        fh, fw = frame.shape[-2:]
        qkey = _qkey(qs)
        tile_shape = fast_tile(ctype, dy, dx, qkey)
        kern = _kernel(ctype, dy, dx, qkey if tile_shape else (), tile_shape, "order_stat")
        grid, block = launch_grid(ho, wo, nb, tile_shape)
        kern(grid, block, (
            frame, np.int64(fh), np.int64(fw), yidx, xidx, dtype.type(fill),
            np.int64(nb), np.int64(ho), np.int64(wo), _on_device(qs, np.float64, tile),
            np.int32(qs.size), np.int64(threshold), out,
        ))
        return out


def class_tile(tile, kernel: KernelRuns, fill: float, codes: np.ndarray, threshold: int):
    """Class statistics ``codes`` (0 majority, 1 minority, 2 variety) of one cupy tile, laid
    out as :func:`order_tile`'s."""
    import cupy as cp

    with cp.cuda.Device(tile.core.device.id):
        frame, dtype, lead, ho, wo, nb, yidx, xidx, ctype, dy, dx = _prepare(tile, kernel)
        out = cp.empty((codes.size,) + lead + (ho, wo), dtype=dtype)
        if out.size == 0:
            return out
        if frame.dtype.kind in "biu" and frame.size:
            # As the CPU (rank.class_ids): beyond 2**53 the float64 classes would merge.
            big = max(abs(int(frame.min())), abs(int(frame.max())))
            if big > FLOAT64_EXACT_INT:
                raise FocalValueError(
                    f"integer classes up to {big} are beyond 2**53: the float64 results "
                    "(majority, minority) and the class table cannot tell neighbouring values "
                    "apart; renumber the classes first (np.unique(data, return_inverse=True))")
        frame = cp.ascontiguousarray(frame, dtype=dtype)
        fh, fw = frame.shape[-2:]
        kern = _kernel(ctype, dy, dx, (), None, "class_stat")
        grid, block = launch_grid(ho, wo, nb, None)
        kern(grid, block, (
            frame, np.int64(fh), np.int64(fw), yidx, xidx, dtype.type(fill),
            np.int64(nb), np.int64(ho), np.int64(wo), _on_device(codes, np.int32, tile),
            np.int32(codes.size), np.int64(threshold), out,
        ))
        return out
