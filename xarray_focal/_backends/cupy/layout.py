"""Host side of the cupy backend: a kernel's runs laid out in bands for the CUDA kernels.

From the one kernel description (:class:`~xarray_focal._algorithms.runs.KernelRuns`) this
module chooses, with numpy alone (no device, no cupy):

* ``K``, the outputs each thread computes (``correlate.cu``'s cost model :func:`cost`, or
  :func:`reduce_K` for the statistics, whose ``K`` also fixes their rounding);
* the bands of kernel rows/columns whose tiles fit the shared-memory budget
  (:func:`split_bands`) and each run's encoding in its band;
* for float32 correlation, the accumulation type: float32 while the worst-case rounding
  bound (:func:`rounding_units`) stays inside the accuracy contract, float64 beyond.

The result is a :class:`Layout`; :mod:`.launch` uploads it and launches on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._algorithms.runs import KernelRuns

__all__ = ["Layout", "correlate_layout", "reduce_layout", "reduce_K", "cost", "split_bands",
           "rounding_units", "K_CHOICES"]

#: Unit roundoff of float32: the accuracy contract allows 1e-5 * sum|w x|, i.e. about
#: 167 units. We keep float32 accumulation while the worst-case bound is below this.
F32_UNITS_ALLOWED = 160
#: The correlate kernel's block: warps along x, warps along y (``correlate.cu``'s WX, WY).
CORRELATE_WARPS = (4, 2)
#: Shared memory one block may use for its tile: two or more blocks fit on an SM.
SMEM_BUDGET = 96 * 1024
#: Outputs per thread the correlate chooser may pick from (the benchmark narrows it to compare).
K_CHOICES = (4, 8, 16)
#: Block layouts of the reduce kernel by outputs per thread: K -> (warps along x, warps
#: along y). Both give 32-column tiles of 256 threads; K = 4 when many channels are kept
#: (each output holds up to seven accumulators in registers).
REDUCE_WARPS = {8: (4, 2), 4: (8, 1)}
#: Outputs per thread of every reduce variant that keeps the sum of w*x (see :func:`reduce_K`).
#: 4 is faster than 8 once the variance pair, the extremes or the valid weights come
#: beside the sum (registers), and about as fast for the sum alone.
K_SUMS = 4


@dataclass(frozen=True, eq=False)
class Layout:
    """A kernel laid out for one CUDA kernel: everything a launch needs besides the data.

    Attributes
    ----------
    K : int
        Outputs per thread, consecutive along x.
    warps : tuple of int
        The block's warps along x and along y; its output tile is
        ``(32 * warps[1], K * warps[0])``.
    acc : numpy.dtype
        Accumulation (and shared-memory tile) type; float64 for the statistics.
    runs : ndarray of int32, shape (n, 4)
        Each run as ``(row in band, column in band, length, row end)``; row end is 0 when
        more runs of its row follow, 1 for the last of several, 2 for the row's only run.
    weights : ndarray of float64, shape (n,)
        Each run's weight.
    bands : ndarray of int32, shape (nbands, 6)
        ``(first row, height, first column, width, first run, end run)`` of each band.
    pitch : int
        Row pitch of the shared-memory tile (odd: 32 rows hit 32 banks).
    smem : int
        Shared-memory bytes a block needs.
    units : int
        Worst-case rounding bound of the correlate sums, in units of ``acc``'s roundoff.
    unit : bool
        Every weight is 1 (the reduce kernel then multiplies by none).
    """

    K: int
    warps: tuple[int, int]
    acc: np.dtype
    runs: np.ndarray
    weights: np.ndarray
    bands: np.ndarray
    pitch: int
    smem: int
    units: int
    unit: bool

    @property
    def tile(self) -> tuple[int, int]:
        """Output rows and columns of one block."""
        return 32 * self.warps[1], self.K * self.warps[0]

    @property
    def threads(self) -> int:
        """Threads of one block."""
        return 32 * self.warps[0] * self.warps[1]



def run_list(runs: KernelRuns) -> list[tuple[int, int, int, float]]:
    """The kernel's runs as ``(row, col, length, weight)`` in its footprint's bounding box."""
    return list(zip(runs.dy.tolist(), runs.dx.tolist(), runs.length.tolist(), runs.weight.tolist()))


def cost(runs, K: int, kh: int, kw: int, itemsize: int) -> float:
    """Rough shared-memory cycles per output for ``K`` outputs per thread (lower is better).

    A shared-memory load costs ``itemsize / 4`` units (the pipe moves 128 bytes a clock);
    arithmetic runs four (float) or two (double) times faster than loads.

    Examples
    --------
    >>> from xarray_focal._algorithms.runs import describe
    >>> from xarray_focal.kernels import circle_kernel
    >>> disc = run_list(describe(circle_kernel(1, 1, 7)))  # 15 runs, one per row
    >>> [round(cost(disc, k, 15, 15, 4), 1) for k in (4, 8, 16)]
    [74.8, 56.9, 101.8]
    """
    load = itemsize / 4
    alu = 0.25 if itemsize == 4 else 0.5
    wx, wy = CORRELATE_WARPS
    tx, ty = wx * K, 32 * wy
    total = 3 * load * (ty + kh - 1) * (tx + kw - 1) / (ty * tx)  # halo staging
    for _, _, n, _ in runs:
        if n == 1:
            total += load + alu
        elif n < K:
            total += load * (n + K - 1) / K + alu * 2 * n
        else:
            total += load * (n + K - 1) / K + alu * (n + 3 * K) / K
    return total


def split_bands(runs, kh: int, kw: int, K: int, itemsize: int, warps=CORRELATE_WARPS):
    """Bands of kernel rows/columns whose tiles fit :data:`SMEM_BUDGET`; runs encoded per band.

    ``warps`` is the block's ``(warps along x, warps along y)``.

    Returns ``(runs_i4, weights, bands, pitch, smem_bytes, groups)``: the first five as in
    :class:`Layout`, and per flush group (one kernel row of a band) the list of its run
    lengths (for the rounding bound).
    """
    wx, wy = warps
    tx, ty = wx * K, 32 * wy

    def pitch_for(bw):
        p = tx + bw - 1
        return p + 1 if p % 2 == 0 else p  # odd pitch: 32 rows hit 32 banks

    bh, bw = kh, kw
    rows_fit = SMEM_BUDGET // (pitch_for(bw) * itemsize)
    if rows_fit < ty + bh - 1:
        if rows_fit >= ty:
            bh = rows_fit - ty + 1
        else:  # too wide even for one kernel row per band: split the columns too
            bh = 1
            bw = max(1, SMEM_BUDGET // (ty * itemsize) - tx)
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


def rounding_units(groups, K: int) -> int:
    """First-order worst-case rounding bound, in units of the accumulation type's roundoff.

    Each output is ``sum over groups (sum over runs w * S)``: a long run's window sum ``S``
    is a recursive sum of ``L`` values (``L - 1`` roundings), a short run adds its ``L``
    products one by one, a group holds one kernel row of a band, and the groups are added
    in turn; plus the weight's own rounding and the final store.

    Examples
    --------
    >>> rounding_units([[15]] * 15, 16)  # a 15 x 15 square: 15 groups of one short run
    32
    """
    longest = max([n for g in groups for n in g if n >= K] or [0])
    terms = max(sum(n if 1 < n < K else 1 for n in g) for g in groups)
    return longest + terms + len(groups) + 2


def correlate_layout(kernel: KernelRuns, dtype: np.dtype) -> Layout:
    """``K``, bands and accumulation type of ``focal_correlate`` for ``kernel`` on ``dtype``.

    Examples
    --------
    >>> from xarray_focal._algorithms.runs import describe
    >>> lay = correlate_layout(describe(np.ones((81, 81))), np.dtype(np.float32))
    >>> lay.K, lay.acc.name, lay.units > F32_UNITS_ALLOWED
    (16, 'float64', True)
    """
    runs = run_list(kernel)
    kh, kw = 2 * kernel.ry + 1, 2 * kernel.rx + 1
    K = min(K_CHOICES, key=lambda k: cost(runs, k, kh, kw, dtype.itemsize))
    acc = dtype
    bands = split_bands(runs, kh, kw, K, acc.itemsize)
    units = rounding_units(bands[5], K)
    if dtype == np.float32 and units > F32_UNITS_ALLOWED:
        # float32 sums could exceed 1e-5 * sum|w x| in the worst case: sum in float64.
        acc = np.dtype(np.float64)
        bands = split_bands(runs, kh, kw, K, acc.itemsize)
    return Layout(K, CORRELATE_WARPS, acc, *bands[:5], units=units,
                  unit=bool(np.all(bands[1] == 1.0)))


def reduce_K(channels) -> int:
    """Outputs per thread of ``focal_reduce`` for a channel set (:func:`..contract.channels`).

    K decides how each window's sum is split into shared parts, so the last bits of a
    sum, a mean or a NaN-policy result depend on it: every variant that keeps the sum of
    w*x takes :data:`K_SUMS`, so that a mean is the same to the bit whatever other
    statistics come with it (and renormalize equals omit where no tap is missing).
    Without the sum: 4 with the variance pair (its registers), else 8.

    Examples
    --------
    >>> reduce_K((True, False, True, False, False)), reduce_K((False, False, False, True, True))
    (4, 8)
    """
    need_x, need_wv, need_q, need_mx, need_mn = channels
    if need_x:
        return K_SUMS
    return 4 if need_q else 8


def reduce_layout(kernel: KernelRuns, K: int) -> Layout:
    """Bands of ``focal_reduce`` (float64 tile) for ``kernel`` with ``K`` outputs per thread."""
    runs = run_list(kernel)
    kh, kw = 2 * kernel.ry + 1, 2 * kernel.rx + 1
    warps = REDUCE_WARPS[K]
    bands = split_bands(runs, kh, kw, K, 8, warps=warps)
    return Layout(K, warps, np.dtype(np.float64), *bands[:5], units=rounding_units(bands[5], K),
                  unit=bool(np.all(bands[1] == 1.0)))
