"""Turn a validated kernel into the flat arrays the row sweep consumes.

A kernel is described, row by row, as *runs*: ``length`` adjacent taps of one weight. A
run costs one multiply-add per output cell whatever its length, because the sweep first
computes, for every distinct run length ``L``, the window sums ``S_L[x] = p[x] + ... +
p[x + L - 1]`` of each source row (incrementally: ``S_L`` from the next shorter ``S``).

- ``"direct"``: every nonzero tap is its own run of length 1 (no window sums). Best for
  small or irregular kernels.
- ``"runs"``: maximal runs of equal weight. A 33x33 circle is 33 runs (one per row) plus
  window sums of 10 distinct lengths, instead of 797 taps.
- ``"columns"``: the same runs laid down the kernel's columns. For each output row the
  distinct vertical windows are summed from a ring of source rows (nested windows from
  each other), so the buffers the runs read stay in L1 for any kernel size; the fastest
  for large circles.
- ``"separable"``: a rank-1 kernel ``outer(u, v)`` (box, Gaussian) as a row pass with
  ``v`` and a column pass with ``u``: ``nnz(u) + nnz(v)`` multiply-adds per cell. The
  footprint is unchanged (exactly the nonzero products), so NaN behaves as in the direct
  sum; the kernel must equal the outer product to a few ulps, so the contract holds.
- ``"auto"``: the cheapest of these by the cost model in :func:`estimate_cost`.

Zero taps never appear in any run: the footprint rule (zero-weight taps are never read)
holds by construction. Window sums only ever add values *inside* the window, so NaN and
inf behave exactly as in the direct sum and rounding stays within the accuracy bounds of the
result contract (docs/contract.md; a sum of ``L`` float64 terms).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..forking import fork_safe_lock
from ..errors import FocalTypeError, FocalValueError

__all__ = ["Plan", "make_plan", "METHODS", "estimate_cost"]

#: Accepted values of ``method=``.
METHODS = ("auto", "direct", "runs", "columns", "separable")


@dataclass(frozen=True, eq=False)
class Plan:
    """Work description for one kernel (correlation orientation).

    Attributes
    ----------
    kernel : ndarray
        The float64 kernel as overlaid on the data (already flipped for ``convolve``).
    ry, rx : int
        Reach of the footprint from the centre: the halo a tile needs. Zero border rows or
        columns do not count, so they cost neither time nor halo.
    row_dy : ndarray of int64
        For each kernel row with taps, its offset in padded coordinates (0 .. 2*ry).
    row_ptr : ndarray of int64
        The runs of row ``i`` are ``row_ptr[i]:row_ptr[i + 1]``.
    run_dy, run_dx, run_len, run_w : ndarray
        Run row and start in padded coordinates (0 .. 2*ry, 0 .. 2*rx), length in cells,
        weight.
    run_slot : ndarray of int64
        Which window-sum buffer a run reads: 0 is the source row itself (length 1),
        ``k`` is ``lengths[k - 1]``.
    lengths : ndarray of int64
        Distinct run lengths greater than one, ascending.
    sep_dx, sep_w : ndarray
        Row pass of a separable plan (tap starts in padded x coordinates, weights); empty
        otherwise. Its runs then read the row-passed buffer (slot 1), one per kernel row.
    win_base, win_ptr, win_rows : ndarray
        Column plans only: vertical window ``j`` is window ``win_base[j]`` (or nothing,
        -1) plus the padded rows ``win_rows[win_ptr[j]:win_ptr[j + 1]]``; its runs read
        window ``run_slot`` at column ``run_dx``.
    method : str
        ``"direct"``, ``"runs"`` (row runs), ``"columns"`` (column runs) or
        ``"separable"``.
    """

    kernel: np.ndarray
    ry: int
    rx: int
    row_dy: np.ndarray
    row_ptr: np.ndarray
    run_dy: np.ndarray
    run_dx: np.ndarray
    run_len: np.ndarray
    run_w: np.ndarray
    run_slot: np.ndarray
    lengths: np.ndarray
    method: str
    sep_dx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sep_w: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    win_base: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    win_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    win_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def ntaps(self) -> int:
        """Number of cells in the footprint."""
        return int(np.count_nonzero(self.kernel))


def _row_runs(row: np.ndarray, split: bool) -> list[tuple[int, int, float]]:
    """(start, length, weight) of the nonzero taps of one kernel row."""
    taps = np.flatnonzero(row)
    if split:
        return [(int(k), 1, float(row[k])) for k in taps]
    runs: list[tuple[int, int, float]] = []
    for k in taps:
        w = float(row[k])
        if runs and runs[-1][0] + runs[-1][1] == k and runs[-1][2] == w:
            start, length, _ = runs[-1]
            runs[-1] = (start, length + 1, w)
        else:
            runs.append((int(k), 1, w))
    return runs


def estimate_cost(plan: Plan) -> float:
    """Relative cost per output cell of sweeping ``plan`` (memory operations on row buffers).

    Combining costs a load per run plus an accumulator update per eight runs. Window sums
    add up to four elements a pass (their loads plus a base load and a store). Row-run
    window sums are kept for every source row of the ring, which spills out of the L1/L2
    caches for long kernels; column windows are built per output row and stay hot, so row
    runs pay a locality penalty per cached window-sum row.
    """
    nruns = plan.run_len.size
    cost = nruns + 2.0 * np.ceil(nruns / 8.0) + 1.0
    if plan.sep_w.size:
        return cost + plan.sep_w.size + 2.0 * np.ceil(plan.sep_w.size / 4.0)
    if plan.method == "columns":
        adds = np.diff(plan.win_ptr)
        return cost + float(np.sum(adds + 2.0 * np.ceil(adds / 4.0)))
    prev, sums = 1, 0.0
    for length in plan.lengths:
        inc = length - prev
        sums += inc + 2.0 * np.ceil(inc / 4.0)
        prev = length
    locality = plan.lengths.size * (2 * plan.ry + 1) / 16.0
    return cost + sums + locality


def _build(kernel: np.ndarray, split: bool, method: str) -> Plan:
    kh, kw = kernel.shape
    cy, cx = kh // 2, kw // 2
    rows, cols = np.nonzero(kernel)
    ry = int(np.abs(rows - cy).max())
    rx = int(np.abs(cols - cx).max())
    row_dy, row_ptr, run_dx, run_len, run_w = [], [0], [], [], []
    for ky in range(kh):
        runs = _row_runs(kernel[ky], split)
        if not runs:
            continue
        row_dy.append(ky - cy + ry)
        for start, length, w in runs:
            run_dx.append(start - cx + rx)
            run_len.append(length)
            run_w.append(w)
        row_ptr.append(len(run_dx))
    run_len_arr = np.asarray(run_len, dtype=np.int64)
    lengths = np.unique(run_len_arr[run_len_arr > 1])
    slot = np.searchsorted(lengths, run_len_arr) + 1
    slot[run_len_arr == 1] = 0
    return Plan(
        kernel=kernel,
        ry=ry,
        rx=rx,
        row_dy=np.asarray(row_dy, dtype=np.int64),
        row_ptr=np.asarray(row_ptr, dtype=np.int64),
        run_dy=np.repeat(np.asarray(row_dy, dtype=np.int64), np.diff(row_ptr)),
        run_dx=np.asarray(run_dx, dtype=np.int64),
        run_len=run_len_arr,
        run_w=np.asarray(run_w, dtype=np.float64),
        run_slot=slot.astype(np.int64),
        lengths=lengths.astype(np.int64),
        method=method,
    )


def _build_columns(kernel: np.ndarray) -> Plan:
    """Column runs: each kernel column as runs of equal weight down the column.

    Every distinct vertical window (start row, height) becomes a buffer built per output
    row from the largest smaller window it contains plus the missing rows, so nested
    windows (a circle's columns) cost two rows each.
    """
    rows_t = _build(np.ascontiguousarray(kernel.T), False, "runs")
    # In the transposed plan, "row" offsets are x offsets and run starts are y starts.
    ry, rx = rows_t.rx, rows_t.ry
    starts, heights = rows_t.run_dx, rows_t.run_len
    windows = sorted(set(zip(heights.tolist(), starts.tolist())))  # short first
    index, base, ptr, add = {}, [], [0], []
    for j, (h, s0) in enumerate(windows):
        best = -1
        for i, (bh, bs) in enumerate(windows[:j]):
            if bs >= s0 and bs + bh <= s0 + h and (best < 0 or bh > windows[best][0]):
                best = i
        have = set(range(windows[best][1], windows[best][1] + windows[best][0])) if best >= 0 else set()
        add.extend(r for r in range(s0, s0 + h) if r not in have)
        base.append(best)
        ptr.append(len(add))
        index[(h, s0)] = j
    slot = np.array([index[(h, s0)] for h, s0 in zip(heights.tolist(), starts.tolist())],
                    dtype=np.int64)
    return Plan(
        kernel=kernel,
        ry=ry,
        rx=rx,
        row_dy=np.zeros(1, dtype=np.int64),
        row_ptr=np.array([0, slot.size], dtype=np.int64),
        run_dy=np.zeros(slot.size, dtype=np.int64),
        run_dx=rows_t.run_dy.copy(),
        run_len=heights.copy(),
        run_w=rows_t.run_w.copy(),
        run_slot=slot,
        lengths=np.zeros(0, dtype=np.int64),
        method="columns",
        win_base=np.asarray(base, dtype=np.int64),
        win_ptr=np.asarray(ptr, dtype=np.int64),
        win_rows=np.asarray(add, dtype=np.int64),
    )


def rank_one_factors(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(u, v)`` with ``outer(u, v)`` equal to ``kernel`` within 8 ulps per weight, or None.

    The zero pattern must match exactly (the footprint rule), so a factorisation never
    reads a cell the kernel excludes.
    """
    i, j = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
    u = kernel[:, j].copy()
    v = kernel[i, :] / kernel[i, j]
    approx = np.outer(u, v)
    if not np.array_equal(approx != 0, kernel != 0):
        return None
    if np.all(np.abs(approx - kernel) <= 8 * np.finfo(np.float64).eps * np.abs(kernel)):
        return u, v
    return None


def _build_separable(kernel: np.ndarray, u: np.ndarray, v: np.ndarray) -> Plan:
    kh, kw = kernel.shape
    cy, cx = kh // 2, kw // 2
    rows, cols = np.flatnonzero(u), np.flatnonzero(v)
    ry = int(np.abs(rows - cy).max())
    rx = int(np.abs(cols - cx).max())
    n = rows.size
    return Plan(
        kernel=kernel,
        ry=ry,
        rx=rx,
        row_dy=(rows - cy + ry).astype(np.int64),
        row_ptr=np.arange(n + 1, dtype=np.int64),
        run_dy=(rows - cy + ry).astype(np.int64),
        run_dx=np.zeros(n, dtype=np.int64),
        run_len=np.full(n, cols.size, dtype=np.int64),
        run_w=u[rows].astype(np.float64),
        run_slot=np.ones(n, dtype=np.int64),
        lengths=np.zeros(0, dtype=np.int64),
        method="separable",
        sep_dx=(cols - cx + rx).astype(np.int64),
        sep_w=v[cols].astype(np.float64),
    )


def check_method(method: object) -> str:
    """Validate ``method=``."""
    if not isinstance(method, str):
        raise FocalTypeError(f"method must be a string, one of {METHODS}; got {method!r}")
    if method not in METHODS:
        raise FocalValueError(f"unknown method {method!r}; choose one of {METHODS}")
    return method


#: Recently built plans by (kernel bytes, shape, method, separable_ok): building one walks
#: every tap in Python, which a GPU call (or many dask graphs) would otherwise pay each time.
_PLANS: OrderedDict = OrderedDict()
_PLANS_MAX = 64
_PLANS_LOCK = fork_safe_lock()


def make_plan(kernel: np.ndarray, method: str = "auto", *, separable_ok: bool = True) -> Plan:
    """Describe ``kernel`` (validated, float64, odd sides) as runs for ``method``.

    ``separable_ok=False`` (NaN-aware sweeps, which need per-tap counts) keeps ``"auto"``
    away from the separable method and refuses it when asked for by name.

    Examples
    --------
    >>> p = make_plan(np.array([[0., 0., 0.], [0., 2., 3.], [0., 0., 0.]]), "direct")
    >>> p.ry, p.rx, p.row_dy.tolist(), p.run_dx.tolist(), p.run_w.tolist()
    (0, 1, [0], [1, 2], [2.0, 3.0])
    >>> p = make_plan(np.ones((3, 5)), "runs")
    >>> p.run_len.tolist(), p.lengths.tolist(), p.run_slot.tolist()
    ([5, 5, 5], [5], [1, 1, 1])
    >>> make_plan(np.ones((9, 9)), separable_ok=False).method
    'runs'
    >>> g = np.exp(-np.arange(-3, 4) ** 2 / 4.0)
    >>> make_plan(np.outer(g, g)).method
    'separable'
    """
    method = check_method(method)
    # A digest, not the bytes: a cache of large kernels must not hold them twice.
    key = (hashlib.blake2b(np.ascontiguousarray(kernel).tobytes(), digest_size=20).digest(),
           kernel.shape, method, separable_ok)
    with _PLANS_LOCK:
        plan = _PLANS.get(key)
        if plan is not None:
            _PLANS.move_to_end(key)
            return plan
    plan = _make_plan(np.array(kernel, dtype=np.float64), method, separable_ok)
    with _PLANS_LOCK:
        _PLANS[key] = plan
        while len(_PLANS) > _PLANS_MAX:
            _PLANS.popitem(last=False)
    return plan


def _make_plan(kernel: np.ndarray, method: str, separable_ok: bool) -> Plan:
    if method == "direct":
        return _build(kernel, True, "direct")
    if method == "runs":
        return _build(kernel, False, "runs")
    if method == "columns":
        return _build_columns(kernel)
    factors = rank_one_factors(kernel) if (separable_ok or method == "separable") else None
    if method == "separable":
        if not separable_ok:
            raise FocalValueError(
                "method='separable' works only for correlate/convolve with "
                "nan_policy='propagate' and no min_count (NaN-aware sums and statistics "
                "count valid taps per cell); use method='auto'"
            )
        if factors is None:
            raise FocalValueError(
                "method='separable' needs a rank-1 kernel (an outer product such as a box "
                "or a Gaussian); this kernel is not one"
            )
        return _build_separable(kernel, *factors)
    candidates = [_build(kernel, True, "direct"), _build(kernel, False, "runs")]  # ties: direct
    candidates.append(_build_columns(kernel))
    if factors is not None:
        candidates.append(_build_separable(kernel, *factors))
    return min(candidates, key=estimate_cost)
