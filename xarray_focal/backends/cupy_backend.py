"""cupy backend: CUDA C kernels (NVRTC through :class:`cupy.RawKernel`) on device memory.

Same functions as :mod:`.numpy_backend` (``correlate``/``correlate_tile`` and the NaN-aware
``reduce``/``reduce_tile``); the dask wrapper calls the ``*_tile`` functions per chunk, so
dask+cupy needs no code of its own. cupy is imported only when a cupy array
reaches this module (it is an optional dependency).

How the work is laid out (details in the CUDA source below):

* The kernel arrives as its one description, :class:`~xarray_focal.algorithms.runs.KernelRuns`
  (adjacent taps of one row with one weight; a disc is one run per row), which this module
  lays out in bands of its own; the CPU's ``method=`` and its cost model play no part.
  Zero taps belong to no run, so they are never read (the footprint rule).
* A block stages its output tile plus halo in shared memory, reading through the
  per-axis index maps, so every boundary mode and every dask chunk is the same code.
* Each thread computes ``K`` consecutive outputs. A run of length ``L >= K`` costs
  ``L + K - 1`` shared-memory reads for all ``K`` windows instead of ``K * L``, and every
  window sum adds only values inside that window (NaN and inf stay exact, unlike
  running sums).
* Leading axes are the grid's z dimension: an N-D cube is one launch.

``reduce`` (NaN policies, focal statistics) is a second kernel on the same tiles and runs
with the semantics of :mod:`xarray_focal.algorithms.masked`; see ``_REDUCE_SOURCE``.

Device copies of the runs/weights and of the index maps are cached (keyed by the kernel's
digest or the map's bytes, the dtype and the device), so repeated calls and dask chunks upload nothing but new maps.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..algorithms.runs import KernelRuns
from ..boundary import source_index
from ..contract import working_dtype
from ..errors import FocalValueError
from ..forking import fork_safe_lock
from ..tiles import Tile

__all__ = ["correlate", "correlate_tile", "reduce", "reduce_tile", "UPLOADS"]

#: Host-to-device uploads done by this module, by kind (tests read it to prove caching).
UPLOADS = {"weights": 0, "index_maps": 0}

#: Unit roundoff of float32: the accuracy contract allows 1e-5 * sum|w x|, i.e. about
#: 167 units. We keep float32 accumulation while the worst-case bound is below this.
_F32_UNITS_ALLOWED = 160
_WARPS_X, _WARPS_Y = 4, 2
_THREADS = 32 * _WARPS_X * _WARPS_Y
#: Shared memory one block may use for its tile: two or more blocks fit on an SM.
_SMEM_BUDGET = 96 * 1024
_CACHE_SIZE = 64
_LOCK = fork_safe_lock()

#: The CUDA C of every variant (see the comments inside for the algorithm).
_CUDA_SOURCE = r"""
// CUDA C for the cupy backend (compiled by NVRTC through cupy.RawKernel).
//
// Macros set per variant by cupy_backend.py:
//   FOCAL_T  storage type of input and output (float or double)
//   FOCAL_A  accumulation type; also the type the shared-memory tile holds
//   FOCAL_K  outputs per thread, consecutive along x
//
// One block computes a TY x TX output tile of one 2-D slice (blockIdx.z walks the
// leading axes, so an N-D cube is one launch). Lane l of a warp owns output row l of its
// warp's 32 rows and K consecutive columns: a warp's shared-memory reads hit 32 different
// rows at the same column, which the odd row pitch spreads over all 32 banks.
//
// The kernel comes as *runs*: adjacent taps of one kernel row with one weight (a disc is
// one run per row). Zero taps are never part of a run, so they are never read. A run of
// length L contributes w * (sum of L neighbours) to each of the thread's K outputs:
//   L == 1      K loads, K fused multiply-adds (general kernels)
//   1 < L < K   the L+K-1 values slide through registers: one load per step
//   L >= K      the K windows share the middle L-K+1 values ("core"); each window adds
//               its own left suffix and right prefix (K-1 values on each side), so K
//               windows cost L+K-1 loads. Every window sum adds only values inside the
//               window: a NaN or inf outside it cannot leak in, unlike running sums.
// Runs of one kernel row accumulate into `racc`, flushed into `tot` at the row's end;
// cupy_backend.py bounds the rounding of this structure and picks FOCAL_A from it.
//
// Tiles larger than shared memory are split into bands of kernel rows/columns; each band
// loads its own halo and the accumulators carry over.

typedef FOCAL_T T;
typedef FOCAL_A A;
#define K FOCAL_K
#define WX 4
#define WY 2
#define NWARPS (WX * WY)
#define NTHREADS (32 * NWARPS)
#define TX (K * WX)
#define TY (32 * WY)

extern "C" __global__ void __launch_bounds__(NTHREADS)
focal_correlate(const T* __restrict__ src, T* __restrict__ out,
                const int* __restrict__ ymap, const int* __restrict__ xmap,
                const int4* __restrict__ runs, const A* __restrict__ weights,
                const int* __restrict__ bands, const int nbands,
                const A fill, const int hs, const int ws, const int ho, const int wo,
                const int ylen, const int xlen, const int nbatch, const int pitch)
{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    A* tile = reinterpret_cast<A*>(smem_raw);

    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int wy = warp / WX;
    const int wx = warp - wy * WX;
    const int x0 = blockIdx.x * TX;
    const int y0 = blockIdx.y * TY;
    const int orow = wy * 32 + lane;   // this thread's output row within the tile
    const int ocol = wx * K;           // its first output column within the tile

    for (int b = blockIdx.z; b < nbatch; b += gridDim.z) {
        const T* srcb = src + (long long)b * hs * ws;
        T* outb = out + (long long)b * ho * wo;

        A tot[K];
        A racc[K];
#pragma unroll
        for (int k = 0; k < K; ++k) { tot[k] = A(0); racc[k] = A(0); }

        for (int band = 0; band < nbands; ++band) {
            const int dy0 = bands[6 * band + 0];
            const int bh = bands[6 * band + 1];
            const int dx0 = bands[6 * band + 2];
            const int bw = bands[6 * band + 3];
            const int rbeg = bands[6 * band + 4];
            const int rend = bands[6 * band + 5];
            const int nrows = TY + bh - 1;
            const int ncols = TX + bw - 1;

            __syncthreads();  // the previous band (or slice) is done with the tile
            // Halo load through the index maps: every boundary mode is just data here.
            // (focal_reduce stages its tile with the same loop. Kept inline in both on
            // purpose: a shared __device__ routine -- even with the warp count as a
            // template constant -- took 60 instead of 48 registers and made the r=7
            // kernels 12-22 % slower on the H100, 2026-11-25.)
            for (int r = warp; r < nrows; r += NWARPS) {
                const int py = y0 + dy0 + r;
                const int sy = (py < ylen) ? ymap[py] : -1;
                const T* srow = srcb + (long long)(sy < 0 ? 0 : sy) * ws;
                A* trow = tile + r * pitch;
                for (int c = lane; c < ncols; c += 32) {
                    const int px = x0 + dx0 + c;
                    const int sx = (px < xlen) ? xmap[px] : -1;
                    trow[c] = (sy >= 0 && sx >= 0) ? A(srow[sx]) : fill;
                }
            }
            __syncthreads();

            const A* base = tile + orow * pitch + ocol;
            for (int i = rbeg; i < rend; ++i) {
                const int4 rn = runs[i];   // (row in band, column in band, length, row end: 1, only run: 2)
                const A w = weights[i];
                const A* p = base + rn.x * pitch + rn.y;
                const int L = rn.z;
                if (L == 1) {
#pragma unroll
                    for (int k = 0; k < K; ++k) racc[k] = fma(w, p[k], racc[k]);
                } else if (L < K) {
                    A v[K];
#pragma unroll
                    for (int k = 0; k < K; ++k) v[k] = p[k];
                    for (int j = 0;;) {
#pragma unroll
                        for (int k = 0; k < K; ++k) racc[k] = fma(w, v[k], racc[k]);
                        if (++j == L) break;
#pragma unroll
                        for (int k = 0; k < K - 1; ++k) v[k] = v[k + 1];
                        v[K - 1] = p[j + K - 1];
                    }
                } else {
                    // Window k covers p[k .. k+L-1] = p[k..K-2] + p[K-1..L-1] + p[L..L+k-1].
                    A core = p[K - 1];
                    for (int j = K; j < L; ++j) core += p[j];
                    A part[K];
                    A t = core;
                    part[K - 1] = core;
#pragma unroll
                    for (int k = K - 2; k >= 0; --k) { t += p[k]; part[k] = t; }
                    A u = A(0);
#pragma unroll
                    for (int k = 1; k < K; ++k) { u = (k == 1) ? p[L] : u + p[L + k - 1]; part[k] += u; }
                    if (rn.w == 2) {
                        // The row's only run: straight into the total, no row flush.
#pragma unroll
                        for (int k = 0; k < K; ++k) tot[k] = fma(w, part[k], tot[k]);
                        continue;
                    }
#pragma unroll
                    for (int k = 0; k < K; ++k) racc[k] = fma(w, part[k], racc[k]);
                }
                if (rn.w) {
#pragma unroll
                    for (int k = 0; k < K; ++k) { tot[k] += racc[k]; racc[k] = A(0); }
                }
            }
        }

        // Stage through shared memory so the global stores are coalesced rows.
        __syncthreads();
        A* stage = tile + orow * (TX + 1) + ocol;
#pragma unroll
        for (int k = 0; k < K; ++k) stage[k] = tot[k];
        __syncthreads();
        for (int r = warp; r < TY; r += NWARPS) {
            const int y = y0 + r;
            if (y >= ho) break;
            for (int c = lane; c < TX; c += 32) {
                const int x = x0 + c;
                if (x < wo) outb[(long long)y * wo + x] = T(tile[r * (TX + 1) + c]);
            }
        }
    }
}
"""


# --- host side: the kernel as runs, split into bands ----------------------------------


def _run_list(runs: KernelRuns) -> list[tuple[int, int, int, float]]:
    """The kernel's runs as ``(row, col, length, weight)`` in its footprint's bounding box."""
    return list(zip(runs.dy.tolist(), runs.dx.tolist(), runs.length.tolist(), runs.weight.tolist()))


def _cost(runs, K: int, kh: int, kw: int, itemsize: int) -> float:
    """Rough shared-memory cycles per output for ``K`` outputs per thread (lower is better).

    A shared-memory load costs ``itemsize / 4`` units (the pipe moves 128 bytes a clock);
    arithmetic runs four (float) or two (double) times faster than loads.
    """
    load = itemsize / 4
    alu = 0.25 if itemsize == 4 else 0.5
    tx, ty = _WARPS_X * K, 32 * _WARPS_Y
    cost = 3 * load * (ty + kh - 1) * (tx + kw - 1) / (ty * tx)  # halo staging
    for _, _, n, _ in runs:
        if n == 1:
            cost += load + alu
        elif n < K:
            cost += load * (n + K - 1) / K + alu * 2 * n
        else:
            cost += load * (n + K - 1) / K + alu * (n + 3 * K) / K
    return cost


#: Outputs per thread the chooser may pick from (the benchmark narrows it to compare).
K_CHOICES = (4, 8, 16)


def _split_bands(runs, kh: int, kw: int, K: int, itemsize: int, warps=None):
    """Bands of kernel rows/columns whose tiles fit ``_SMEM_BUDGET``; runs encoded per band.

    ``warps`` is the block's ``(warps along x, warps along y)``; the correlate kernel's
    layout by default.

    Returns ``(runs_i4, weights, bands, pitch, smem_bytes, groups)``: runs as
    ``(row in band, col in band, length, row end)`` (row end: 0 more runs follow, 1 last
    of several, 2 the row's only run), bands as
    ``(dy0, bh, dx0, bw, first run, end run)``, and per flush group the list of run
    lengths (for the rounding bound).
    """
    wx, wy = warps or (_WARPS_X, _WARPS_Y)
    tx, ty = wx * K, 32 * wy

    def pitch_for(bw):
        p = tx + bw - 1
        return p + 1 if p % 2 == 0 else p  # odd pitch: 32 rows hit 32 banks

    bh, bw = kh, kw
    rows_fit = _SMEM_BUDGET // (pitch_for(bw) * itemsize)
    if rows_fit < ty + bh - 1:
        if rows_fit >= ty:
            bh = rows_fit - ty + 1
        else:  # too wide even for one kernel row per band: split the columns too
            bh = 1
            bw = max(1, _SMEM_BUDGET // (ty * itemsize) - tx)
    enc, wts, bands, groups = [], [], [], []
    for dy0 in range(0, kh, bh):
        for dx0 in range(0, kw, bw):
            first = len(enc)
            by_row: dict[int, list] = {}
            for dy, dx, n, w in runs:
                lo, hi = max(dx, dx0), min(dx + n, dx0 + bw)
                if dy0 <= dy < dy0 + bh and lo < hi:
                    by_row.setdefault(dy, []).append((lo - dx0, hi - lo, w))
            for dy in sorted(by_row):
                pieces = by_row[dy]
                for i, (cx, n, w) in enumerate(pieces):
                    # 0: more runs follow in this row; 1: last of several (flush the row);
                    # 2: the row's only run (added straight into the total).
                    end = 0 if i < len(pieces) - 1 else (2 if len(pieces) == 1 else 1)
                    enc.append((dy - dy0, cx, n, end))
                    wts.append(w)
                groups.append([n for _, n, _ in pieces])
            if len(enc) > first:
                bands.append((dy0, min(bh, kh - dy0), dx0, min(bw, kw - dx0), first, len(enc)))
    nrows = ty + max(b[1] for b in bands) - 1
    pitch = pitch_for(max(b[3] for b in bands))
    return (
        np.asarray(enc, dtype=np.int32).reshape(-1, 4),
        np.asarray(wts, dtype=np.float64),
        np.asarray(bands, dtype=np.int32).reshape(-1, 6),
        pitch,
        max(nrows * pitch, ty * (tx + 1)) * itemsize,
        groups,
    )


def _rounding_units(groups, K: int) -> int:
    """First-order worst-case rounding bound, in units of the accumulation type's roundoff.

    Each output is ``sum over groups (sum over runs w * S)``: a long run's window sum ``S``
    is a recursive sum of ``L`` values (``L - 1`` roundings), a short run adds its ``L``
    products one by one, a group holds one kernel row of a band, and the groups are added
    in turn; plus the weight's own rounding and the final store.
    """
    longest = max([n for g in groups for n in g if n >= K] or [0])
    terms = max(sum(n if 1 < n < K else 1 for n in g) for g in groups)
    return longest + terms + len(groups) + 2


@dataclass(frozen=True, eq=False)
class _DevicePlan:
    """A kernel laid out for the device: everything a launch needs besides the data."""

    K: int
    acc: np.dtype
    runs: Any  # cupy int32 (n, 4)
    weights: Any  # cupy acc dtype (n,)
    bands: Any  # cupy int32 (nbands, 6)
    nbands: int
    pitch: int
    smem: int
    units: int


def _layout(kernel: KernelRuns, dtype: np.dtype) -> tuple:
    """Choose ``K``, the bands and the accumulation dtype for ``kernel`` on ``dtype`` data."""
    runs = _run_list(kernel)
    kh, kw = 2 * kernel.ry + 1, 2 * kernel.rx + 1
    K = min(K_CHOICES, key=lambda k: _cost(runs, k, kh, kw, dtype.itemsize))
    acc = dtype
    layout = _split_bands(runs, kh, kw, K, acc.itemsize)
    units = _rounding_units(layout[5], K)
    if dtype == np.float32 and units > _F32_UNITS_ALLOWED:
        # float32 sums could exceed 1e-5 * sum|w x| in the worst case: sum in float64.
        acc = np.dtype(np.float64)
        layout = _split_bands(runs, kh, kw, K, acc.itemsize)
    return K, acc, layout, units


class _LRU:
    """A small thread-safe least-recently-used cache of device objects."""

    def __init__(self, size: int):
        self.size = size
        self.items: OrderedDict = OrderedDict()

    def get(self, key, make):
        # make() runs under the lock: dask threads asking for one plan at once would
        # otherwise each upload it. It is quick (host layout and a small copy).
        with _LOCK:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            value = self.items[key] = make()
            while len(self.items) > self.size:
                self.items.popitem(last=False)
            return value


_PLANS = _LRU(_CACHE_SIZE)
_MAPS = _LRU(4 * _CACHE_SIZE)


def _device_plan(kernel: KernelRuns, dtype: np.dtype, device: int) -> _DevicePlan:
    key = (kernel.key, dtype.str, device)

    def make():
        import cupy as cp

        K, acc, (runs, wts, bands, pitch, smem, _), units = _layout(kernel, dtype)
        UPLOADS["weights"] += 1
        return _DevicePlan(
            K=K, acc=acc, runs=cp.asarray(runs), weights=cp.asarray(wts.astype(acc)),
            bands=cp.asarray(bands), nbands=len(bands), pitch=pitch, smem=smem, units=units,
        )

    return _PLANS.get(key, make)


def _device_map(index: np.ndarray, device: int):
    if index.size and int(index.max()) >= 2**31:
        raise FocalValueError(f"an axis of {index.max()} cells is too long for the GPU kernel")
    key = (index.tobytes(), device)

    def make():
        import cupy as cp

        UPLOADS["index_maps"] += 1
        return cp.asarray(index, dtype=cp.int32)

    return _MAPS.get(key, make)


def _whole_axis_map(n: int, radius: int, mode: str, device: int):
    """Device index map of a whole axis, cached by its parameters (no host work per call)."""

    def make():
        import cupy as cp

        UPLOADS["index_maps"] += 1
        index = source_index(np.arange(-radius, n + radius), n, mode)
        return cp.asarray(index, dtype=cp.int32)

    return _MAPS.get((n, radius, mode, device), make)


_KERNELS: dict = {}


def _smem_limit(device: int) -> int:
    """The device's opt-in shared memory per block, at least ``_SMEM_BUDGET``.

    A compiled kernel is cached for the process, so it is allowed the device's maximum
    rather than the budget in force when it was compiled (a test that shrinks the budget
    must not leave kernels that later launches with bigger tiles cannot use).
    """
    import cupy as cp

    optin = cp.cuda.Device(device).attributes.get("MaxSharedMemoryPerBlockOptin", 0)
    return max(int(optin), _SMEM_BUDGET)


def _kernel(dtype: np.dtype, acc: np.dtype, K: int, device: int):
    """The compiled variant for storage ``dtype``, accumulator ``acc`` and ``K`` (cached)."""
    key = (dtype.str, acc.str, K, device)
    kern = _KERNELS.get(key)
    if kern is None:
        import cupy as cp

        ctype = {"f4": "float", "f8": "double"}
        opts = (
            "-std=c++17",
            f"-DFOCAL_T={ctype[dtype.str[1:]]}",
            f"-DFOCAL_A={ctype[acc.str[1:]]}",
            f"-DFOCAL_K={K}",
        )
        kern = cp.RawKernel(_CUDA_SOURCE, "focal_correlate", options=opts)
        # Bands are sized to _SMEM_BUDGET, above the 48 KiB a block gets without asking.
        kern.max_dynamic_shared_size_bytes = _smem_limit(device)
        with _LOCK:
            kern = _KERNELS.setdefault(key, kern)
    return kern


# --- the backend interface -------------------------------------------------------------


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
    ny, nx = data.shape[-2:]
    device = data.device.id
    ymap = _whole_axis_map(ny, kernel.ry, boundary, device)
    xmap = _whole_axis_map(nx, kernel.rx, boundary, device)
    return _launch(data, kernel, ymap, xmap, fill)


def correlate_tile(tile: Tile, kernel: KernelRuns, method: str, fill: float, *,
                   parallel: bool) -> Any:
    """Correlate one tile on the device; the output has the tile's core shape.

    The kernels read one array, so the halo strips are put together with the block first
    (a device copy). ``parallel`` is ignored: one launch always fills the whole device.
    """
    src = tile.frame()
    device = src.device.id
    return _launch(
        src, kernel, _device_map(tile.ymap.index, device), _device_map(tile.xmap.index, device),
        fill,
    )


def _launch(src: Any, kernel: KernelRuns, ymap: Any, xmap: Any, fill: float) -> Any:
    """One launch over every slice of ``src``; ``ymap``/``xmap`` are device int32 maps."""
    import cupy as cp

    dtype = working_dtype(np.dtype(src.dtype))
    device = src.device.id
    with cp.cuda.Device(device):
        src = cp.ascontiguousarray(src, dtype=dtype)
        ho = ymap.size - 2 * kernel.ry
        wo = xmap.size - 2 * kernel.rx
        out = cp.empty(src.shape[:-2] + (ho, wo), dtype=dtype)
        if out.size == 0:
            return out
        dplan = _device_plan(kernel, dtype, device)
        K = dplan.K
        tx, ty = _WARPS_X * K, 32 * _WARPS_Y
        nbatch = out.size // (ho * wo)
        grid = ((wo + tx - 1) // tx, (ho + ty - 1) // ty, min(nbatch, 65535))
        if grid[1] > 65535:
            raise FocalValueError(f"{ho} rows are more than the GPU kernel's grid allows")
        kern = _kernel(dtype, dplan.acc, K, device)
        hs, ws = src.shape[-2:]
        kern(
            grid, (_THREADS,),
            (
                src, out, ymap, xmap, dplan.runs, dplan.weights, dplan.bands,
                np.int32(dplan.nbands), dplan.acc.type(fill), np.int32(hs), np.int32(ws),
                np.int32(ho), np.int32(wo), np.int32(ymap.size), np.int32(xmap.size),
                np.int32(nbatch), np.int32(dplan.pitch),
            ),
            shared_mem=dplan.smem,
        )
    return out


# --- NaN-aware statistics: reduce / reduce_tile ----------------------------------------

#: CUDA C of the NaN-aware sweep (the device twin of :mod:`..algorithms.masked`).
_REDUCE_SOURCE = r"""
// NaN-aware focal statistics (compiled by NVRTC through cupy.RawKernel).
//
// Macros set per variant by cupy_backend.py:
//   FOCAL_T  storage type of input and output (float or double)
//   FOCAL_K  outputs per thread, consecutive along x; FOCAL_WX x FOCAL_WY warps a block
//   NEED_X, NEED_WV, NEED_Q, NEED_MX, NEED_MN (0/1): the channels -- sum of w*x, sum of
//            w over valid taps, the variance's pair (see below), max, min; the count of
//            valid taps is always kept
//   UNIT_W   every run weight is 1 (statistics): no multiplications by w
//
// The tile, halo and bands are those of focal_correlate, but the tile holds doubles (a
// float is converted once when staged) and every read tap is split into channels on the
// fly: valid = (v == v); NaN adds 0 to the sums and is skipped by fmax/fmin (which
// return the other operand). Runs of length L >= K share their middle L-K+1 taps
// ("core") among the thread's K windows; window k adds its own left suffix and right
// prefix -- sums, counts, maxima and minima all split this way, and every window still
// adds only taps inside it (inf and NaN stay exact). Everything is accumulated in double,
// counts in int; the finishing formulas are masked.py's _finish.
//
// The sum of w*x is never shifted, so sum and mean do not depend on which other
// statistics are computed with them. The variance has its own pair, taken about a
// reference value s local to the window: a Part takes as s the first valid value it
// adds and keeps xs = sum(v - s), qs = sum((v - s)^2); an Acc takes the reference of the
// first part or tap with a valid value it receives and re-centres every later part on
// its own s (d = s_part - s_acc: xs += x + n d, qs += q + d (2 x + n d)). s is a value of
// the window, so |v - s| is at most the window's range R and the one-pass formula
// qs/n - (xs/n)^2 loses at most a few (n + 2) eps R^2, whatever lies outside the window.

typedef FOCAL_T T;
#define K FOCAL_K
#define WX FOCAL_WX
#define WY FOCAL_WY
#define NWARPS (WX * WY)
#define NTHREADS (32 * NWARPS)
#define TX (K * WX)
#define TY (32 * WY)

constexpr bool kX = NEED_X, kWV = NEED_WV, kQ = NEED_Q, kMX = NEED_MX, kMN = NEED_MN;
constexpr bool kUnit = UNIT_W;

__device__ __forceinline__ double nan_value() { return __longlong_as_double(0x7ff8000000000000LL); }
__device__ __forceinline__ double inf_value() { return __longlong_as_double(0x7ff0000000000000LL); }

// One window's (or part of a window's) unweighted channels.
struct Part {
    int n; double x, xs, qs, s, mx, mn;
    __device__ __forceinline__ void clear() {
        n = 0; x = 0.0; xs = 0.0; qs = 0.0; s = 0.0; mx = -inf_value(); mn = inf_value();
    }
    __device__ __forceinline__ void add(const double v) {
        const bool ok = (v == v);
        if (kQ) {
            s = (n == 0) ? v : s;  // NaN until the first valid value, then that value
            const double d = ok ? v - s : 0.0;
            xs += d;
            qs = fma(d, d, qs);
        }
        n += ok;
        if (kX) x += ok ? v : 0.0;
        if (kMX) mx = fmax(mx, v);
        if (kMN) mn = fmin(mn, v);
    }
};

// An output's accumulators: weighted sums over runs of the parts' channels.
struct Acc {
    int n; double a, wv, xs, qs, s, mx, mn;
    __device__ __forceinline__ void clear() {
        n = 0; a = 0.0; wv = 0.0; xs = 0.0; qs = 0.0; s = 0.0; mx = -inf_value(); mn = inf_value();
    }
    __device__ __forceinline__ void merge(const Part& p, const double w) {
        if (kQ) {
            s = (n == 0) ? p.s : s;
            // A part without valid values has s = NaN (or stale) and adds nothing.
            const double d = (p.n == 0) ? 0.0 : p.s - s;
            const double nd = double(p.n) * d;
            xs += p.xs + nd;
            qs += p.qs + d * (2.0 * p.xs + nd);
        }
        n += p.n;
        if (kX) a = kUnit ? a + p.x : fma(w, p.x, a);
        if (kWV) wv = fma(w, double(p.n), wv);
        if (kMX) mx = fmax(mx, p.mx);
        if (kMN) mn = fmin(mn, p.mn);
    }
    // One tap straight into the accumulators (runs shorter than K).
    __device__ __forceinline__ void tap(const double v, const double w) {
        const bool ok = (v == v);
        if (kQ) {
            s = (n == 0) ? v : s;
            const double d = ok ? v - s : 0.0;
            xs += d;
            qs = fma(d, d, qs);
        }
        n += ok;
        const double x = ok ? v : 0.0;
        if (kX) a = kUnit ? a + x : fma(w, x, a);
        if (kWV) wv += ok ? w : 0.0;
        if (kMX) mx = fmax(mx, v);
        if (kMN) mn = fmin(mn, v);
    }
    // masked.py's _finish for one statistic code.
    __device__ __forceinline__ double finish(const int code, const double threshold,
                                             const double wtotal, const int ntaps) const {
        const double cnt = double(n);
        if (code == 5) return cnt;
        if (cnt < threshold || cnt == 0.0) return nan_value();
        switch (code) {
        case 0: case 1: case 3: return a;
        case 2:
            // No tap missing: the weighted sum itself. wtotal / wv would be two
            // differently rounded sums, not exactly 1 (and 0 / 0 for zero-sum kernels).
            if (n == ntaps) return a;
            return wv == 0.0 ? nan_value() : a * (wtotal / wv);
        case 4: return a / cnt;
        case 6: case 7: {
            const double m = xs / cnt;
            const double qn = qs / cnt;
            double var = qn - m * m;
            // Within the one-pass rounding noise (about 2 (n + 2) eps qn) is 0, as on the
            // CPU; NaN (inf - inf: an infinity in the window) stays NaN.
            if (var == var && var <= 2.0 * (cnt + 2.0) * 2.220446049250313e-16 * qn) var = 0.0;
            return code == 6 ? var : sqrt(var);
        }
        case 8: return mx;
        case 9: return mn;
        default: return mx - mn;
        }
    }
};

extern "C" __global__ void __launch_bounds__(NTHREADS)
focal_reduce(const T* __restrict__ src, T* __restrict__ out,
             const int* __restrict__ ymap, const int* __restrict__ xmap,
             const int4* __restrict__ runs, const double* __restrict__ weights,
             const int* __restrict__ bands, const int nbands,
             const long long codes, const int nstats, const long long stat_stride,
             const double fill, const double threshold, const double wtotal,
             const int ntaps,
             const int hs, const int ws, const int ho, const int wo,
             const int ylen, const int xlen, const int nbatch, const int pitch)
{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    double* tile = reinterpret_cast<double*>(smem_raw);

    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int wy = warp / WX;
    const int wx = warp - wy * WX;
    const int x0 = blockIdx.x * TX;
    const int y0 = blockIdx.y * TY;
    const int orow = wy * 32 + lane;
    const int ocol = wx * K;

    for (int b = blockIdx.z; b < nbatch; b += gridDim.z) {
        const T* srcb = src + (long long)b * hs * ws;
        Acc acc[K];
#pragma unroll
        for (int k = 0; k < K; ++k) acc[k].clear();

        for (int band = 0; band < nbands; ++band) {
            const int dy0 = bands[6 * band + 0];
            const int bh = bands[6 * band + 1];
            const int dx0 = bands[6 * band + 2];
            const int bw = bands[6 * band + 3];
            const int rbeg = bands[6 * band + 4];
            const int rend = bands[6 * band + 5];
            const int nrows = TY + bh - 1;
            const int ncols = TX + bw - 1;

            __syncthreads();
            for (int r = warp; r < nrows; r += NWARPS) {
                const int py = y0 + dy0 + r;
                const int sy = (py < ylen) ? ymap[py] : -1;
                const T* srow = srcb + (long long)(sy < 0 ? 0 : sy) * ws;
                double* trow = tile + r * pitch;
                for (int c = lane; c < ncols; c += 32) {
                    const int px = x0 + dx0 + c;
                    const int sx = (px < xlen) ? xmap[px] : -1;
                    trow[c] = (sy >= 0 && sx >= 0) ? double(srow[sx]) : fill;
                }
            }
            __syncthreads();

            const double* base = tile + orow * pitch + ocol;
            for (int i = rbeg; i < rend; ++i) {
                const int4 rn = runs[i];  // (row in band, column in band, length, -)
                const double w = weights[i];
                const double* p = base + rn.x * pitch + rn.y;
                const int L = rn.z;
                if (L < K) {
                    for (int j = 0; j < L; ++j) {
#pragma unroll
                        for (int k = 0; k < K; ++k) acc[k].tap(p[k + j], w);
                    }
                    continue;
                }
                // Window k = p[k .. K-2] + core p[K-1 .. L-1] + p[L .. L+k-1].
                Part t;
                t.clear();
                for (int j = K - 1; j < L; ++j) t.add(p[j]);
                acc[K - 1].merge(t, w);
#pragma unroll
                for (int k = K - 2; k >= 0; --k) { t.add(p[k]); acc[k].merge(t, w); }
                Part u;
                u.clear();
#pragma unroll
                for (int k = 1; k < K; ++k) { u.add(p[L + k - 1]); acc[k].merge(u, w); }
            }
        }

        // One statistic at a time, staged through shared memory for coalesced stores.
        for (int s = 0; s < nstats; ++s) {
            const int code = int((codes >> (4 * s)) & 15);
            __syncthreads();
            double* stage = tile + orow * (TX + 1) + ocol;
#pragma unroll
            for (int k = 0; k < K; ++k) stage[k] = acc[k].finish(code, threshold, wtotal, ntaps);
            __syncthreads();
            T* outb = out + s * stat_stride + (long long)b * ho * wo;
            for (int r = warp; r < TY; r += NWARPS) {
                const int y = y0 + r;
                if (y >= ho) break;
                for (int c = lane; c < TX; c += 32) {
                    const int x = x0 + c;
                    if (x < wo) outb[(long long)y * wo + x] = T(tile[r * (TX + 1) + c]);
                }
            }
        }
    }
}
"""

#: Block layouts of the reduce kernel by outputs per thread: (K, warps along x, warps
#: along y). Both give 32-column tiles of 256 threads; K = 4 when many channels are kept
#: (each output holds up to seven accumulators in registers).
_REDUCE_LAYOUTS = {8: (8, 4, 2), 4: (4, 8, 1)}

#: Outputs per thread of every variant that keeps the sum of w*x (see ``_reduce_K``).
#: 4 is faster than 8 once the variance pair, the extremes or the valid weights come
#: beside the sum (registers), and about as fast for the sum alone.
_K_SUMS = 4


@dataclass(frozen=True, eq=False)
class _DeviceReducePlan:
    """A footprint laid out for the reduce kernel."""

    K: int
    warps: tuple[int, int]
    unit: bool
    ntaps: int  # taps the kernel reads per output (every nonzero footprint tap)
    runs: Any  # cupy int32 (n, 4)
    weights: Any  # cupy float64 (n,)
    bands: Any  # cupy int32 (nbands, 6)
    nbands: int
    pitch: int
    smem: int


def _reduce_K(channels) -> int:
    """Outputs per thread for a channel set.

    K decides how each window's sum is split into shared parts, so the last bits of a
    sum, a mean or a NaN-policy result depend on it: every variant that keeps the sum of
    w*x takes ``_K_SUMS``, so that a mean is the same to the bit whatever other
    statistics come with it (and renormalize equals omit where no tap is missing).
    Without the sum: 4 with the variance pair (its registers), else 8.
    """
    need_x, need_wv, need_q, need_mx, need_mn = channels
    if need_x:
        return _K_SUMS
    return 4 if need_q else 8


def _device_reduce_plan(kernel: KernelRuns, K: int, device: int) -> _DeviceReducePlan:
    key = ("reduce", kernel.key, K, device)

    def make():
        import cupy as cp

        runs = _run_list(kernel)
        kh, kw = 2 * kernel.ry + 1, 2 * kernel.rx + 1
        _, wx, wy = _REDUCE_LAYOUTS[K]
        enc, wts, bands, pitch, smem, _ = _split_bands(runs, kh, kw, K, 8, warps=(wx, wy))
        UPLOADS["weights"] += 1
        return _DeviceReducePlan(
            K=K, warps=(wx, wy), unit=bool(np.all(wts == 1.0)),
            ntaps=sum(n for _, _, n, _ in runs), runs=cp.asarray(enc),
            weights=cp.asarray(wts), bands=cp.asarray(bands), nbands=len(bands),
            pitch=pitch, smem=smem,
        )

    return _PLANS.get(key, make)


_REDUCE_KERNELS: dict = {}


def _reduce_kernel(dtype: np.dtype, dplan: _DeviceReducePlan, channels, device: int):
    """The compiled ``focal_reduce`` of a variant (cached)."""
    key = (dtype.str, dplan.K, dplan.warps, dplan.unit, tuple(channels), device)
    kern = _REDUCE_KERNELS.get(key)
    if kern is None:
        import cupy as cp

        ctype = {"f4": "float", "f8": "double"}[dtype.str[1:]]
        need_x, need_wv, need_q, need_mx, need_mn = (int(bool(c)) for c in channels)
        opts = (
            "-std=c++17", f"-DFOCAL_T={ctype}", f"-DFOCAL_K={dplan.K}",
            f"-DFOCAL_WX={dplan.warps[0]}", f"-DFOCAL_WY={dplan.warps[1]}",
            f"-DNEED_X={need_x}", f"-DNEED_WV={need_wv}", f"-DNEED_Q={need_q}",
            f"-DNEED_MX={need_mx}", f"-DNEED_MN={need_mn}", f"-DUNIT_W={int(dplan.unit)}",
        )
        kern = cp.RawKernel(_REDUCE_SOURCE, "focal_reduce", options=opts)
        kern.max_dynamic_shared_size_bytes = _smem_limit(device)
        with _LOCK:
            kern = _REDUCE_KERNELS.setdefault(key, kern)
    return kern


def reduce(data: Any, kernel: KernelRuns, method: str, boundary: str, fill: float,
           reduction: Any) -> list:
    """NaN-aware statistics of a whole cupy array: one device array per statistic.

    The semantics are :mod:`xarray_focal.algorithms.masked`'s (codes, threshold, wtotal).

    Examples
    --------
    >>> import cupy as cp  # doctest: +SKIP
    >>> import xarray_focal as xf  # doctest: +SKIP
    >>> xf.focal_mean(cp.array([[1.0, 3.0, cp.nan, 8.0]]), np.ones((1, 3)),
    ...               boundary="nearest")  # doctest: +SKIP
    array([[1.66666667, 2.        , 5.5       , 8.        ]])
    """
    ny, nx = data.shape[-2:]
    device = data.device.id
    ymap = _whole_axis_map(ny, kernel.ry, boundary, device)
    xmap = _whole_axis_map(nx, kernel.rx, boundary, device)
    return list(_launch_reduce(data, kernel, ymap, xmap, fill, reduction))


def reduce_tile(tile: Tile, kernel: KernelRuns, method: str, fill: float, reduction: Any, *,
                parallel: bool) -> Any:
    """NaN-aware statistics of one tile: shape ``(len(reduction.names),) + core shape``.

    ``parallel`` is ignored: one launch always fills the whole device.
    """
    src = tile.frame()
    device = src.device.id
    return _launch_reduce(
        src, kernel, _device_map(tile.ymap.index, device), _device_map(tile.xmap.index, device),
        fill, reduction,
    )


def _launch_reduce(src: Any, kernel: KernelRuns, ymap: Any, xmap: Any, fill: float,
                   reduction: Any):
    """One launch for every statistic and slice."""
    import cupy as cp

    dtype = working_dtype(np.dtype(src.dtype))
    device = src.device.id
    codes = [int(c) for c in reduction.codes]
    if not codes or max(codes) > 15 or len(codes) > 15:
        raise FocalValueError(f"cannot encode statistic codes {codes} for the GPU kernel")
    with cp.cuda.Device(device):
        src = cp.ascontiguousarray(src, dtype=dtype)
        ho = ymap.size - 2 * kernel.ry
        wo = xmap.size - 2 * kernel.rx
        nstats = len(codes)
        out = cp.empty((nstats,) + src.shape[:-2] + (ho, wo), dtype=dtype)
        if out.size == 0:
            return out
        channels = reduction.channels
        dplan = _device_reduce_plan(kernel, _reduce_K(channels), device)
        main = _reduce_kernel(dtype, dplan, channels, device)
        K = dplan.K
        tx, ty = dplan.warps[0] * K, 32 * dplan.warps[1]
        nbatch = out.size // (nstats * ho * wo)
        grid = ((wo + tx - 1) // tx, (ho + ty - 1) // ty, min(nbatch, 65535))
        if grid[1] > 65535:
            raise FocalValueError(f"{ho} rows are more than the GPU kernel's grid allows")
        packed = sum(c << (4 * i) for i, c in enumerate(codes))
        hs, ws = src.shape[-2:]
        main(
            grid, (32 * dplan.warps[0] * dplan.warps[1],),
            (
                src, out, ymap, xmap, dplan.runs, dplan.weights, dplan.bands,
                np.int32(dplan.nbands), np.int64(packed), np.int32(nstats),
                np.int64(nbatch * ho * wo), np.float64(fill), np.float64(reduction.threshold),
                np.float64(reduction.wtotal), np.int32(dplan.ntaps), np.int32(hs), np.int32(ws),
                np.int32(ho), np.int32(wo), np.int32(ymap.size), np.int32(xmap.size),
                np.int32(nbatch), np.int32(dplan.pitch),
            ),
            shared_mem=dplan.smem,
        )
    return out
