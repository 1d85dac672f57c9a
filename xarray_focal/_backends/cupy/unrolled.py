"""Correlation kernels generated for one kernel's runs: straight-line CUDA, nothing looked up.

The generic ``focal_correlate`` (``correlate.cu``) reads its runs from device memory and
loops over them at run time; Nsight Compute counted about 340 instructions per output for a
15 x 15 disc on float32, of which the sums proper are a fifth (loop control, run and weight
loads, address arithmetic, the index-map lookups of the halo). Here the runs are constants
of the source, so the compiler unrolls everything: shared-memory offsets and weights are
immediates.

Work per thread: ``M`` consecutive output rows by ``K`` consecutive columns. For each of the
``M + kh - 1`` tile rows the thread reads, it loads the values it needs into registers once
and serves every one of its output rows that reads this tile row through some kernel row:
two output rows that read the same run shape (same first column and length) from one tile
row share its ``K`` window sums (a disc's rows repeat their lengths, and a box's are all
equal). The ``K`` window sums of a run of length ``L`` are built in groups of
``B = min(L, K)`` neighbouring windows that share their middle ``L - B + 1`` values (each
window then adds its own left suffix and right prefix, the van Herk/Gil--Werman split
applied to sums), or one by one where that is cheaper (short runs): every window sum adds
only the ``L`` values inside its window, so NaN and inf stay exact, and it is a recursive
sum of ``L`` values (``L - 1`` roundings) in some order. A kernel row's runs are summed with
their weights into one partial, added to the output's total in kernel-row order: the
structure :func:`.layout.rounding_units` bounds, so float32 accumulation is chosen by the
same rule as the generic kernel.

Lanes of a warp own consecutive groups of ``M`` rows; ``M`` and the tile's row pitch are
odd, so the 32 lanes' loads of one column hit 32 different banks. Tiles that read no cell
outside the maps' plain shift (every tile of a large array but its border) stage the halo
with straight coalesced loads, without the index maps.

A dask chunk's tile is read where it lies: the kernel takes the 3 x 3 grid of the block and
its neighbours' halo strips (pointers with row and batch strides) and picks the piece of
each frame cell, so no frame is assembled; a whole array is the grid's middle piece alone.

:func:`unrolled_layout` says whether a kernel qualifies (one shared-memory band, code of a
bounded size) and with which shape; :func:`source` writes the CUDA C.

The NaN-aware statistics have their generated kernel too (:func:`reduce_unrolled_layout`,
:func:`reduce_source`): the same tile rows and shared run shapes, with the window parts
and merges of ``reduce.cu`` (``stats.cuh``) in place of plain sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._algorithms.runs import KernelRuns
from . import layout

__all__ = ["Unrolled", "unrolled_layout", "source", "SHAPES", "MAX_OPS"]

#: ``(K, M, WX, WY, MINB)`` by accumulation itemsize: outputs per thread along x, rows per
#: thread, warps along x and along y, and the blocks per multiprocessor the compiler must
#: leave registers for (``__launch_bounds__``). The block is ``32 * WX * WY`` threads and
#: its output tile ``(32 * M * WY, K * WX)``.
SHAPES = {4: ((8, 3, 8, 1, 2),), 8: ((8, 3, 8, 1, 2), (4, 3, 8, 1, 2))}
#: Generated additions and multiply-adds per thread above which the generic kernel runs
#: instead (compile time and instruction-cache misses grow with the code).
MAX_OPS = 12000


@dataclass(frozen=True, eq=False)
class Unrolled:
    """A kernel's generated correlate: shape, accumulation type and shared memory."""

    K: int
    M: int
    warps: tuple[int, int]
    minb: int
    acc: np.dtype
    kh: int
    kw: int
    pitch: int
    smem: int
    rows: tuple  # per kernel row: tuple of (dx, length, weight)
    units: int
    ops: int

    @property
    def tile(self) -> tuple[int, int]:
        return 32 * self.M * self.warps[1], self.K * self.warps[0]

    @property
    def threads(self) -> int:
        return 32 * self.warps[0] * self.warps[1]


def _window_plan(L: int, K: int) -> tuple[str, int]:
    """How to build the ``K`` window sums of a run of length ``L``, and its additions."""
    naive = K * (L - 1)
    if L <= 2:
        return "naive", naive
    B = min(L, K)
    groups = -(-K // B)
    shared = groups * (L + 2 * B - 4)
    return ("shared", shared) if shared < naive else ("naive", naive)


def _count_ops(rows, K: int, M: int) -> int:
    kh = len(rows)
    ops = 0
    for s in range(M + kh - 1):
        shapes = set()
        for m in range(M):
            dy = s - m
            if 0 <= dy < kh:
                for dx, L, _ in rows[dy]:
                    shapes.add((dx, L))
                ops += K * len(rows[dy]) + (K if len(rows[dy]) > 1 else 0)
        ops += sum(_window_plan(L, K)[1] for _, L in shapes)
    return ops


def unrolled_layout(kernel: KernelRuns, dtype: np.dtype, shape=None) -> Unrolled | None:
    """The generated kernel's layout for ``kernel`` on ``dtype`` data, or None if it does not fit.

    The first shape of :data:`SHAPES` whose tile fits the shared-memory budget is taken;
    ``shape`` overrides them (benchmarks compare shapes). The accumulation type
    is the generic layout's (:func:`.layout.correlate_layout`): float32 only while its
    rounding bound holds.

    Examples
    --------
    >>> from xarray_focal._algorithms.runs import describe
    >>> from xarray_focal.kernels import circle_kernel
    >>> u = unrolled_layout(describe(circle_kernel(1, 1, 7)), np.dtype(np.float32))
    >>> u.K, u.M, u.tile, u.acc.name
    (8, 3, (96, 64), 'float32')
    >>> unrolled_layout(describe(np.ones((301, 301))), np.dtype(np.float32)) is None
    True
    """
    generic = layout.correlate_layout(kernel, dtype)
    acc = generic.acc
    kh, kw = 2 * kernel.ry + 1, 2 * kernel.rx + 1
    if not np.all(np.isfinite(kernel.weight)):
        return None
    for K, M, WX, WY, MINB in (shape,) if shape else SHAPES[acc.itemsize]:
        ty, tx = 32 * M * WY, K * WX
        ncols = tx + kw - 1
        pitch = ncols if ncols % 2 else ncols + 1
        smem = max((ty + kh - 1) * pitch, ty * (tx + 1)) * acc.itemsize
        if smem <= layout.SMEM_BUDGET:
            break
    else:
        return None
    rows: list[list] = [[] for _ in range(kh)]
    for dy, dx, n, w in layout.run_list(kernel):
        rows[dy].append((dx, n, w))
    rows_t = tuple(tuple(r) for r in rows)
    ops = _count_ops(rows_t, K, M)
    if ops > MAX_OPS:
        return None
    return Unrolled(K, M, (WX, WY), MINB, acc, kh, kw, pitch, smem, rows_t, generic.units, ops)


def _lit(w: float, acc: np.dtype) -> str:
    """``w`` rounded to ``acc`` as an exact C hexadecimal literal."""
    if acc == np.float32:
        return float(np.float32(w)).hex() + "f"
    return float(w).hex()


def _body(u: Unrolled) -> list[str]:
    """The unrolled sums: tile rows in turn, each serving the thread's output rows."""
    K, M, kh = u.K, u.M, u.kh
    out = []
    for m in range(M):
        out.append(f"A t{m}[K];")
        out.append(f"#pragma unroll\nfor (int k = 0; k < K; ++k) t{m}[k] = A(0);")
    for s in range(M + kh - 1):
        users = [(m, s - m) for m in range(M) if 0 <= s - m < kh and u.rows[s - m]]
        if not users:
            continue
        shapes = sorted({(dx, L) for _, dy in users for dx, L, _ in u.rows[dy]})
        need = sorted({dx + j for dx, L in shapes for j in range(L + K - 1)})
        out.append("{")
        out.append(f"const A* p = base + {s} * PITCH;")
        out += [f"const A v{j} = p[{j}];" for j in need]
        names = {}
        for si, (dx, L) in enumerate(shapes):
            name = f"S{si}"
            names[(dx, L)] = name
            out.append(f"A {name}[K];")
            how, _ = _window_plan(L, K)
            if how == "naive":
                for k in range(K):
                    terms = [f"v{dx + k + j}" for j in range(L)]
                    expr = terms[0]
                    for t in terms[1:]:
                        expr = f"({expr} + {t})"
                    out.append(f"{name}[{k}] = {expr};")
            else:
                B = min(L, K)
                for g in range(0, K, B):
                    nb = min(B, K - g)
                    # Windows g .. g+nb-1 share v[dx+g+B-1 .. dx+g+L-1] (L - B + 1 values).
                    core = [f"v{dx + g + j}" for j in range(B - 1, L)]
                    expr = core[0]
                    for t in core[1:]:
                        expr = f"({expr} + {t})"
                    out.append(f"{{ A c = {expr};")
                    # Left suffixes, from the window nearest the core outwards.
                    out.append(f"{name}[{g + B - 1}] = c;" if B - 1 < nb else "")
                    out.append("A l = c;")
                    for i in range(B - 2, -1, -1):
                        out.append(f"l = l + v{dx + g + i};")
                        if i < nb:
                            out.append(f"{name}[{g + i}] = l;")
                    # Right prefixes: window g+i also reads v[dx+g+L .. dx+g+L+i-1].
                    for i in range(1, nb):
                        if i == 1:
                            out.append(f"A r = v{dx + g + L};")
                        else:
                            out.append(f"r = r + v{dx + g + L + i - 1};")
                        out.append(f"{name}[{g + i}] = {name}[{g + i}] + r;")
                    out.append("}")
        for m, dy in users:
            runs = u.rows[dy]
            if len(runs) == 1:
                dx, L, w = runs[0]
                S = names[(dx, L)]
                if float(w) == 1.0:
                    out.append(f"#pragma unroll\nfor (int k = 0; k < K; ++k) t{m}[k] += {S}[k];")
                else:
                    out.append(f"#pragma unroll\nfor (int k = 0; k < K; ++k) "
                               f"t{m}[k] = fma(A({_lit(w, u.acc)}), {S}[k], t{m}[k]);")
            else:
                out.append("{ A q[K];")
                for i, (dx, L, w) in enumerate(runs):
                    S = names[(dx, L)]
                    lit = f"A({_lit(w, u.acc)})"
                    if i == 0:
                        out.append(f"#pragma unroll\nfor (int k = 0; k < K; ++k) q[k] = {lit} * {S}[k];")
                    else:
                        out.append(f"#pragma unroll\nfor (int k = 0; k < K; ++k) "
                                   f"q[k] = fma({lit}, {S}[k], q[k]);")
                out.append(f"#pragma unroll\nfor (int k = 0; k < K; ++k) t{m}[k] += q[k]; }}")
        out.append("}")
    return [line for line in out if line]


_TEMPLATE = r"""
// Generated by xarray_focal/_backends/cupy/unrolled.py for one kernel (see its docstring).
typedef FOCAL_T T;
typedef {A} A;
#define K {K}
#define M {M}
#define WX {WX}
#define WY {WY}
#define MINB {MINB}
#define NWARPS (WX * WY)
#define NTHREADS (32 * NWARPS)
#define TX (K * WX)
#define TY (32 * M * WY)
#define KH {KH}
#define KW {KW}
#define PITCH {PITCH}
#define NROWS (TY + KH - 1)
#define NCOLS (TX + KW - 1)

#include "common.cuh"

// The source is a dask tile's 3 x 3 grid of pieces read in place (a whole array: the
// core alone): piece (i, j) starts at P##i##j, with row and batch strides in elements.
// The frame maps give frame rows/columns; hb, hc (wb, wc) are the before strip's and the
// core's rows (columns) in the frame.
#define PIECE_ARGS(i, j) const T* __restrict__ P##i##j, const long long RS##i##j, \
                         const long long BS##i##j
#define PICK(iy, ix, what) ((iy) == 0 ? ((ix) == 0 ? what##00 : (ix) == 1 ? what##01 : what##02) \
                          : (iy) == 1 ? ((ix) == 0 ? what##10 : (ix) == 1 ? what##11 : what##12) \
                          : ((ix) == 0 ? what##20 : (ix) == 1 ? what##21 : what##22))

extern "C" __global__ void __launch_bounds__(NTHREADS, MINB)
focal_correlate_unrolled(PIECE_ARGS(0, 0), PIECE_ARGS(0, 1), PIECE_ARGS(0, 2),
                         PIECE_ARGS(1, 0), PIECE_ARGS(1, 1), PIECE_ARGS(1, 2),
                         PIECE_ARGS(2, 0), PIECE_ARGS(2, 1), PIECE_ARGS(2, 2),
                         const int hb, const int hc, const int wb, const int wc,
                         T* __restrict__ out,
                         const int* __restrict__ ymap, const int* __restrict__ xmap,
                         const A fill, const int ho, const int wo,
                         const int ylen, const int xlen, const int nbatch,
                         const int ylo, const int yhi, const int yoff,
                         const int xlo, const int xhi, const int xoff)
{{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    A* tile = reinterpret_cast<A*>(smem_raw);
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int wy = warp / WX;
    const int wx = warp - wy * WX;
    const int x0 = blockIdx.x * TX;
    const int y0 = blockIdx.y * TY;
    const int orow = (wy * 32 + lane) * M;  // first of this thread's M output rows
    const int ocol = wx * K;
    // Every cell this block reads lies in the core, on the maps' plain shift (yoff, xoff:
    // to core rows/columns): straight loads, no lookups.
    const bool plain = y0 >= ylo && y0 + NROWS <= yhi && x0 >= xlo && x0 + NCOLS <= xhi;

    for (int b = blockIdx.z; b < nbatch; b += gridDim.z) {{
        T* outb = out + (long long)b * ho * wo;
        __syncthreads();
        if (plain) {{
            const T* s0 = P11 + b * BS11 + (long long)(y0 + yoff) * RS11 + (x0 + xoff);
            // Unrolled: many independent loads in flight (the block waits for all of them).
#pragma unroll 4
            for (int r = warp; r < NROWS; r += NWARPS) {{
                const T* srow = s0 + r * RS11;
                A* trow = tile + r * PITCH;
#pragma unroll
                for (int c = lane; c < NCOLS; c += 32) trow[c] = A(srow[c]);
            }}
        }} else {{
            for (int r = warp; r < NROWS; r += NWARPS) {{
                const int py = y0 + r;
                const int sy = (py < ylen) ? ymap[py] : -1;
                const int iy = (sy >= hb) + (sy >= hb + hc);
                const int ly = sy - (iy == 0 ? 0 : iy == 1 ? hb : hb + hc);
                const T* row0 = PICK(iy, 0, P) + b * PICK(iy, 0, BS) + ly * PICK(iy, 0, RS);
                const T* row1 = PICK(iy, 1, P) + b * PICK(iy, 1, BS) + ly * PICK(iy, 1, RS);
                const T* row2 = PICK(iy, 2, P) + b * PICK(iy, 2, BS) + ly * PICK(iy, 2, RS);
                A* trow = tile + r * PITCH;
                for (int c = lane; c < NCOLS; c += 32) {{
                    const int px = x0 + c;
                    const int sx = (px < xlen) ? xmap[px] : -1;
                    const int ix = (sx >= wb) + (sx >= wb + wc);
                    const int lx = sx - (ix == 0 ? 0 : ix == 1 ? wb : wb + wc);
                    const T* rowp = ix == 0 ? row0 : ix == 1 ? row1 : row2;
                    trow[c] = (sy >= 0 && sx >= 0) ? A(rowp[lx]) : fill;
                }}
            }}
        }}
        __syncthreads();
        const A* base = tile + orow * PITCH + ocol;
{BODY}
        __syncthreads();
{STORE}
        __syncthreads();
        FOCAL_STORE_TILE(outb, tile, y0, x0, ho, wo);
    }}
}}
"""


def source(u: Unrolled) -> str:
    """CUDA C of the generated correlate for ``u`` (``FOCAL_T`` is defined by the compile)."""
    A = "float" if u.acc == np.float32 else "double"
    # Named per row (no array of rows: a runtime-indexed one could go to local memory).
    store = "\n".join(
        f"        {{ A* st = tile + (orow + {m}) * (TX + 1) + ocol;\n"
        f"#pragma unroll\n        for (int k = 0; k < K; ++k) st[k] = t{m}[k]; }}"
        for m in range(u.M))
    body = "\n".join("        " + line for line in _body(u))
    return _TEMPLATE.format(A=A, K=u.K, M=u.M, WX=u.warps[0], WY=u.warps[1], MINB=u.minb, KH=u.kh,
                            KW=u.kw, PITCH=u.pitch, BODY=body, STORE=store)


# --- NaN-aware statistics ------------------------------------------------------------------

#: Outputs per thread along x of the generated statistics, for every channel set: the
#: window grouping fixes the last bits of a sum, and a mean must be the same to the bit
#: whatever statistics come with it.
REDUCE_K = 4
#: 32-bit registers of an output's accumulators above which a thread takes one output row
#: (``M = 1``) instead of three (more spill registers in the statistics' finishing code).
REDUCE_REGS = 3
#: Generated window steps (Part additions and merges of a thread with three output rows)
#: above which the generic statistics kernel runs instead: for channel sets with the sum
#: a bound on the kernel alone (the same choice for every such set), a looser one without
#: it. Compile time grows with the code: NVRTC took ~2 s at 2700 steps with all channels.
MAX_REDUCE_OPS = {True: 3000, False: 6000}


def _acc_regs(channels) -> int:
    need_x, need_wv, need_q, need_mx, need_mn = channels
    return 1 + 2 * (need_x + need_wv + 3 * need_q + need_mx + need_mn)


def _reduce_ops(rows, K: int, M: int) -> int:
    """Part additions and merges of the generated statistics, per thread."""
    kh = len(rows)
    ops = 0
    for s in range(M + kh - 1):
        shapes: dict = {}
        for m in range(M):
            dy = s - m
            if 0 <= dy < kh:
                for dx, L, _ in rows[dy]:
                    shapes[(dx, L)] = shapes.get((dx, L), 0) + 1
        for (dx, L), users in shapes.items():
            B = min(L, K)
            groups = -(-K // B)
            ops += groups * (L + B - 1) + 2 * K * users
    return ops


def reduce_unrolled_layout(kernel: KernelRuns, dtype: np.dtype, channels,
                           fill: float) -> Unrolled | None:
    """Layout of the generated statistics kernel, or None where the generic one runs.

    Whether a kernel qualifies depends on the kernel, the data type and ``fill`` only, never
    on the statistics asked for (every channel set with the sum must sum alike). The tile
    holds the data type (a float32 tile fits twice the halo); a ``fill`` a float32 cannot
    hold exactly sends float32 data to the generic kernel, whose tile is float64.

    Examples
    --------
    >>> from xarray_focal._algorithms.runs import describe
    >>> u = reduce_unrolled_layout(describe(np.ones((51, 51))), np.dtype(np.float32),
    ...                            (False, False, False, True, False), np.nan)
    >>> u.K, u.M, u.tile
    (4, 3, (96, 32))
    """
    if not np.all(np.isfinite(kernel.weight)):
        return None
    if dtype == np.float32 and not np.isnan(fill) and float(np.float32(fill)) != float(fill):
        return None
    need_x = bool(channels[0])
    K = REDUCE_K
    M = 3 if _acc_regs(channels) <= REDUCE_REGS else 1
    WX, WY = 8, 1
    kh, kw = 2 * kernel.ry + 1, 2 * kernel.rx + 1
    rows: list[list] = [[] for _ in range(kh)]
    for dy, dx, n, w in layout.run_list(kernel):
        rows[dy].append((dx, n, w))
    rows_t = tuple(tuple(r) for r in rows)
    tx = K * WX
    ncols = tx + kw - 1
    pitch = ncols if ncols % 2 else ncols + 1
    # Checked on the three-row tile whatever M is: qualifying must not depend on channels.
    ty3 = 32 * 3 * WY
    if (ty3 + kh - 1) * pitch * dtype.itemsize > layout.SMEM_BUDGET:
        return None
    if _reduce_ops(rows_t, K, 3) > MAX_REDUCE_OPS[need_x]:
        return None
    ty = 32 * M * WY
    smem = max((ty + kh - 1) * pitch * dtype.itemsize, ty * (tx + 1) * 8)
    return Unrolled(K, M, (WX, WY), 2, dtype, kh, kw, pitch, smem, rows_t, 0,
                    _reduce_ops(rows_t, K, M))


def _reduce_body(u: Unrolled) -> list[str]:
    """Tile rows in turn; each run shape's window parts merged into every output using it.

    The parts are those of ``reduce.cu``: windows in groups of ``B = min(L, K)`` sharing a
    core part; window ``g + i`` merges the core grown by its left suffix, then its right
    prefix part. Merges of one output come in tile-row order, then by run (first column).
    """
    K, M, kh = u.K, u.M, u.kh
    out = []
    for m in range(M):
        out.append(f"Acc a{m}[K];")
        out.append(f"#pragma unroll\nfor (int k = 0; k < K; ++k) a{m}[k].clear();")
    for s in range(M + kh - 1):
        users: dict = {}
        for m in range(M):
            dy = s - m
            if 0 <= dy < kh:
                for dx, L, w in u.rows[dy]:
                    users.setdefault((dx, L), []).append((m, w))
        if not users:
            continue
        need = sorted({dx + j for dx, L in users for j in range(L + K - 1)})
        out.append("{")
        out.append(f"const T* p = base + {s} * PITCH;")
        out += [f"const double v{j} = double(p[{j}]);" for j in need]

        def merge(part, k, who):
            return [f"a{m}[{k}].merge({part}, {float(w).hex()});" for m, w in who]

        for (dx, L), who in sorted(users.items()):
            B = min(L, K)
            for g in range(0, K, B):
                nb = min(B, K - g)
                out.append("{ Part t; t.clear();")
                out += [f"t.add(v{dx + g + j});" for j in range(B - 1, L)]
                if B - 1 < nb:
                    out += merge("t", g + B - 1, who)
                for i in range(B - 2, -1, -1):
                    out.append(f"t.add(v{dx + g + i});")
                    if i < nb:
                        out += merge("t", g + i, who)
                if nb > 1:
                    out.append("Part r; r.clear();")
                    for i in range(1, nb):
                        out.append(f"r.add(v{dx + g + L + i - 1});")
                        out += merge("r", g + i, who)
                out.append("}")
        out.append("}")
    return out


_REDUCE_TEMPLATE = r"""
// Generated by xarray_focal/_backends/cupy/unrolled.py for one kernel (see its docstring).
typedef FOCAL_T T;
#define K {K}
#define M {M}
#define WX {WX}
#define WY {WY}
#define MINB {MINB}
#define NWARPS (WX * WY)
#define NTHREADS (32 * NWARPS)
#define TX (K * WX)
#define TY (32 * M * WY)
#define KH {KH}
#define KW {KW}
#define PITCH {PITCH}
#define NROWS (TY + KH - 1)
#define NCOLS (TX + KW - 1)

#include "common.cuh"
#include "stats.cuh"

extern "C" __global__ void __launch_bounds__(NTHREADS, MINB)
focal_reduce_unrolled(const T* __restrict__ src, T* __restrict__ out,
                      const int* __restrict__ ymap, const int* __restrict__ xmap,
                      const long long codes, const int nstats, const long long stat_stride,
                      const double fill, const double threshold, const double wtotal,
                      const int ntaps, const double wcancel,
                      const int hs, const int ws, const int ho, const int wo,
                      const int ylen, const int xlen, const int nbatch,
                      const int ylo, const int yhi, const int yoff,
                      const int xlo, const int xhi, const int xoff)
{{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* tile = reinterpret_cast<T*>(smem_raw);
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int wy = warp / WX;
    const int wx = warp - wy * WX;
    const int x0 = blockIdx.x * TX;
    const int y0 = blockIdx.y * TY;
    const int orow = (wy * 32 + lane) * M;
    const int ocol = wx * K;
    const bool plain = y0 >= ylo && y0 + NROWS <= yhi && x0 >= xlo && x0 + NCOLS <= xhi;
    const T tfill = T(fill);  // exact: unrolled.py sends other fills to the generic kernel

    for (int b = blockIdx.z; b < nbatch; b += gridDim.z) {{
        const T* srcb = src + (long long)b * hs * ws;
        __syncthreads();
        if (plain) {{
            const T* s0 = srcb + (long long)(y0 + yoff) * ws + (x0 + xoff);
#pragma unroll 4
            for (int r = warp; r < NROWS; r += NWARPS) {{
                const T* srow = s0 + (long long)r * ws;
                T* trow = tile + r * PITCH;
#pragma unroll
                for (int c = lane; c < NCOLS; c += 32) trow[c] = srow[c];
            }}
        }} else {{
            FOCAL_STAGE_HALO(T, tile, srcb, ymap, xmap, tfill, y0, x0, NROWS, NCOLS, PITCH, ws,
                             ylen, xlen);
        }}
        __syncthreads();
        const T* base = tile + orow * PITCH + ocol;
{BODY}
        double* stage = reinterpret_cast<double*>(smem_raw);
        for (int s = 0; s < nstats; ++s) {{
            const int code = int((codes >> (4 * s)) & 15);
            __syncthreads();
{STORE}
            __syncthreads();
            T* outb = out + s * stat_stride + (long long)b * ho * wo;
            FOCAL_STORE_TILE(outb, stage, y0, x0, ho, wo);
        }}
    }}
}}
"""


def reduce_source(u: Unrolled) -> str:
    """CUDA C of the generated statistics kernel for ``u`` (the channel flags, ``FOCAL_T`` and
    ``UNIT_W`` are defined by the compile)."""
    store = "\n".join(
        f"            {{ double* st = stage + (orow + {m}) * (TX + 1) + ocol;\n"
        f"#pragma unroll\n            for (int k = 0; k < K; ++k) "
        f"st[k] = a{m}[k].finish(code, threshold, wtotal, ntaps, wcancel); }}"
        for m in range(u.M))
    body = "\n".join("        " + line for line in _reduce_body(u))
    return _REDUCE_TEMPLATE.format(K=u.K, M=u.M, WX=u.warps[0], WY=u.warps[1], MINB=u.minb,
                                   KH=u.kh, KW=u.kw, PITCH=u.pitch, BODY=body, STORE=store)
