"""The CPU sweep's plan of a kernel: flat arrays derived from its :class:`~.runs.KernelRuns`.

The kernel's one description is its table of *runs* (:mod:`.runs`): ``length`` adjacent
taps of one weight. A run costs one multiply-add per output cell whatever its length,
because the sweep first computes, for every distinct run length ``L``, the window sums
``S_L[x] = p[x] + ... + p[x + L - 1]`` of each source row (incrementally: ``S_L`` from the
next shorter ``S``). A :class:`Plan` lays the runs out for one method; the numba drivers
(:mod:`.sweep`, :mod:`.masked`) take its arrays as one :data:`PlanArrays`
(:meth:`Plan.arrays`).

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
- ``"box"``: a rectangle of taps of one weight (a box, any rank-1 kernel of equal
  weights) by block prefix and suffix sums (:mod:`.box`): a few operations per cell
  whatever the rectangle's size, for correlate, every NaN policy and every statistic.
  The plan is the rectangle itself: ``run_dy``/``run_dx`` its top-left corner in padded
  coordinates, ``lengths`` its (height, width), ``run_w`` its weight.
- ``"auto"``: the cheapest of these by the cost model in :func:`estimate_cost`.

Zero taps never appear in any run: the footprint rule (zero-weight taps are never read)
holds by construction. Window sums only ever add values *inside* the window, so NaN and
inf behave exactly as in the direct sum and rounding stays within the accuracy bounds of the
result contract (docs/contract.md; a sum of ``L`` float64 terms).
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from dataclasses import dataclass, field

import numpy as np

from .._forking import fork_safe_lock
from .runs import KernelRuns, describe
from ..errors import FocalTypeError, FocalValueError

__all__ = ["Plan", "PlanArrays", "make_plan", "check_method_for", "METHODS", "estimate_cost"]

#: Accepted values of ``method=``.
METHODS = ("auto", "direct", "runs", "columns", "separable", "box")

#: A plan as the numba drivers take it (:meth:`Plan.arrays`): its arrays by name, so the
#: caller and the loops cannot disagree on an order, and ``columns`` (a column-run plan).
PlanArrays = namedtuple(
    "PlanArrays",
    "run_dy run_dx run_slot run_w lengths sep_dx sep_w win_base win_ptr win_rows columns",
)


@dataclass(frozen=True, eq=False)
class Plan:
    """Work description for one kernel (correlation orientation).

    Attributes
    ----------
    runs : KernelRuns
        The kernel's one description (:mod:`.runs`) this plan was derived from.
    ry, rx : int
        Reach of the footprint from the centre: the halo a tile needs. Zero border rows or
        columns do not count, so they cost neither time nor halo.
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

    runs: KernelRuns
    ry: int
    rx: int
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

    def arrays(self) -> PlanArrays:
        """The plan's arrays as the numba drivers (:mod:`.sweep`, :mod:`.masked`) take them."""
        return PlanArrays(self.run_dy, self.run_dx, self.run_slot, self.run_w, self.lengths,
                          self.sep_dx, self.sep_w, self.win_base, self.win_ptr, self.win_rows,
                          self.method == "columns")


def estimate_cost(plan: Plan) -> float:
    """Relative cost per output cell of sweeping ``plan`` (memory operations on row buffers).

    Combining costs a load per run plus an accumulator update per eight runs. Window sums
    add up to four elements a pass (their loads plus a base load and a store). Row-run
    window sums are kept for every source row of the ring, which spills out of the L1/L2
    caches for long kernels; column windows are built per output row and stay hot, so row
    runs pay a locality penalty per cached window-sum row.
    """
    if plan.method == "box":
        return box_cost(False)
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


def _build(runs: KernelRuns, method: str, table: KernelRuns | None = None) -> Plan:
    """A row-run plan (``"runs"``; ``"direct"`` with ``table=runs.taps()``)."""
    table = runs if table is None else table
    lengths = np.unique(table.length[table.length > 1])
    slot = np.searchsorted(lengths, table.length) + 1
    slot[table.length == 1] = 0
    return Plan(
        runs=runs,
        ry=runs.ry,
        rx=runs.rx,
        run_dy=table.dy.copy(),
        run_dx=table.dx.copy(),
        run_len=table.length.copy(),
        run_w=table.weight.copy(),
        run_slot=slot.astype(np.int64),
        lengths=lengths.astype(np.int64),
        method=method,
    )


def _build_columns(runs: KernelRuns) -> Plan:
    """Column runs: each kernel column as runs of equal weight down the column.

    Every distinct vertical window (start row, height) becomes a buffer built per output
    row from the largest smaller window it contains plus the missing rows, so nested
    windows (a circle's columns) cost two rows each.
    """
    cols = runs.transposed()
    # In the transposed table, "row" offsets are x offsets and run starts are y starts.
    ry, rx = runs.ry, runs.rx
    starts, heights = cols.dx, cols.length
    windows = sorted(set(zip(heights.tolist(), starts.tolist())))  # short first
    wh = np.array([h for h, _ in windows], dtype=np.int64)
    wsn = np.array([s0 for _, s0 in windows], dtype=np.int64)
    index, base, ptr, add = {}, [], [0], []
    for j, (h, s0) in enumerate(windows):
        # The tallest shorter window inside this one (the first of equal height): one
        # vectorised test over the windows before it, not a Python loop over them.
        inside = np.flatnonzero((wsn[:j] >= s0) & (wsn[:j] + wh[:j] <= s0 + h))
        best = int(inside[np.argmax(wh[inside])]) if inside.size else -1
        if best >= 0:
            bs, bh = int(wsn[best]), int(wh[best])
            add.extend(range(s0, bs))
            add.extend(range(bs + bh, s0 + h))
        else:
            add.extend(range(s0, s0 + h))
        base.append(best)
        ptr.append(len(add))
        index[(h, s0)] = j
    slot = np.array([index[(h, s0)] for h, s0 in zip(heights.tolist(), starts.tolist())],
                    dtype=np.int64)
    return Plan(
        runs=runs,
        ry=ry,
        rx=rx,
        run_dy=np.zeros(slot.size, dtype=np.int64),
        run_dx=cols.dy.copy(),
        run_len=heights.copy(),
        run_w=cols.weight.copy(),
        run_slot=slot,
        lengths=np.zeros(0, dtype=np.int64),
        method="columns",
        win_base=np.asarray(base, dtype=np.int64),
        win_ptr=np.asarray(ptr, dtype=np.int64),
        win_rows=np.asarray(add, dtype=np.int64),
    )


def box_shape(runs: KernelRuns) -> tuple[int, int, int, int, float] | None:
    """``(oy, ox, height, width, weight)`` if the footprint is a rectangle of one weight.

    O(runs): one run per row, on consecutive rows, all with the same start, length and
    weight (``kernel_runs`` splits a row where the weight changes).
    """
    dy, dx, length, w = runs.dy, runs.dx, runs.length, runs.weight
    n = dy.size
    if n == 0 or np.any(w != w[0]) or np.any(dx != dx[0]) or np.any(length != length[0]):
        return None
    if dy[-1] - dy[0] != n - 1:  # runs are sorted by row: consecutive rows, one run each
        return None
    return int(dy[0]), int(dx[0]), int(n), int(length[0]), float(w[0])


def _build_box(runs: KernelRuns, shape: tuple[int, int, int, int, float]) -> Plan:
    oy, ox, height, width, weight = shape
    return Plan(
        runs=runs,
        ry=runs.ry,
        rx=runs.rx,
        run_dy=np.array([oy], dtype=np.int64),
        run_dx=np.array([ox], dtype=np.int64),
        run_len=np.array([width], dtype=np.int64),
        run_w=np.array([weight], dtype=np.float64),
        run_slot=np.zeros(1, dtype=np.int64),
        lengths=np.array([height, width], dtype=np.int64),
        method="box",
    )


#: Cost of the box sweep per output cell in :func:`estimate_cost`'s units, whatever the
#: rectangle's size: for a plain correlation and for the NaN-aware sweeps (which count
#: valid taps too). Calibrated against the other methods by benchmarks/radius_sweep.py
#: (docs/user-guide/algorithms.md has the measurements).
BOX_COST = {"plain": 60.0, "masked": 16.0}


def box_cost(separable_ok: bool) -> float:
    """The box sweep's cost; ``separable_ok`` marks a plain correlation (see make_plan)."""
    return BOX_COST["plain" if separable_ok else "masked"]


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


def _build_separable(runs: KernelRuns, u: np.ndarray, v: np.ndarray) -> Plan:
    kernel = runs.kernel
    kh, kw = kernel.shape
    cy, cx = kh // 2, kw // 2
    rows, cols = np.flatnonzero(u), np.flatnonzero(v)
    ry = int(np.abs(rows - cy).max())
    rx = int(np.abs(cols - cx).max())
    n = rows.size
    return Plan(
        runs=runs,
        ry=ry,
        rx=rx,
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


#: Recently built plans by (kernel digest, method, separable_ok): the array API and every
#: dask chunk ask for the same plan again.
_PLANS: OrderedDict = OrderedDict()
_PLANS_MAX = 64
_PLANS_LOCK = fork_safe_lock()


def check_method_for(runs: KernelRuns, method: str, *, separable_ok: bool) -> None:
    """Refuse a ``method`` the kernel or the operation cannot use (at call time, in the API)."""
    if method == "box":
        if box_shape(runs) is None:
            raise FocalValueError(
                "method='box' needs a footprint that is a rectangle of taps of one weight "
                "(a box such as np.ones((15, 15)) or box_kernel); this kernel is not one: "
                "use method='auto'"
            )
        return
    if method != "separable":
        return
    if not separable_ok:
        raise FocalValueError(
            "method='separable' works only for correlate/convolve with "
            "nan_policy='propagate' and no min_count (NaN-aware sums and statistics "
            "count valid taps per cell); use method='auto'"
        )
    if rank_one_factors(runs.kernel) is None:
        raise FocalValueError(
            "method='separable' needs a rank-1 kernel (an outer product such as a box "
            "or a Gaussian); this kernel is not one"
        )


def make_plan(runs: KernelRuns | np.ndarray, method: str = "auto", *,
              separable_ok: bool = True) -> Plan:
    """The CPU sweep's plan for ``runs`` (or a validated float64 kernel) and ``method``.

    ``separable_ok=False`` (NaN-aware sweeps, which need per-tap counts) keeps ``"auto"``
    away from the separable method and refuses it when asked for by name.

    Examples
    --------
    >>> p = make_plan(np.array([[0., 0., 0.], [0., 2., 3.], [0., 0., 0.]]), "direct")
    >>> p.ry, p.rx, p.run_dy.tolist(), p.run_dx.tolist(), p.run_w.tolist()
    (0, 1, [0, 0], [1, 2], [2.0, 3.0])
    >>> p = make_plan(np.ones((3, 5)), "runs")
    >>> p.run_len.tolist(), p.lengths.tolist(), p.run_slot.tolist()
    ([5, 5, 5], [5], [1, 1, 1])
    >>> make_plan(np.ones((5, 5)), separable_ok=False).method
    'runs'
    >>> make_plan(np.ones((9, 9)), separable_ok=False).method  # a box at a fixed cost
    'box'
    >>> g = np.exp(-np.arange(-3, 4) ** 2 / 4.0)
    >>> make_plan(np.outer(g, g)).method
    'separable'
    """
    if not isinstance(runs, KernelRuns):
        runs = describe(runs)
    method = check_method(method)
    key = (runs.key, method, separable_ok)
    with _PLANS_LOCK:
        plan = _PLANS.get(key)
        if plan is not None:
            _PLANS.move_to_end(key)
            return plan
    # Only a new plan is checked: the array API checked this method at call time, and
    # every dask chunk asks again (the separable check factorises the kernel).
    check_method_for(runs, method, separable_ok=separable_ok)
    plan = _make_plan(runs, method, separable_ok)
    with _PLANS_LOCK:
        _PLANS[key] = plan
        while len(_PLANS) > _PLANS_MAX:
            _PLANS.popitem(last=False)
    return plan


def _make_plan(runs: KernelRuns, method: str, separable_ok: bool) -> Plan:
    if method == "direct":
        return _build(runs, "direct", runs.taps())
    if method == "runs":
        return _build(runs, "runs")
    if method == "columns":
        return _build_columns(runs)
    box = box_shape(runs)
    if method == "box":
        return _build_box(runs, box)
    factors = rank_one_factors(runs.kernel) if (separable_ok or method == "separable") else None
    if method == "separable":
        return _build_separable(runs, *factors)
    candidates = [_build(runs, "direct", runs.taps()), _build(runs, "runs")]  # ties: direct
    candidates.append(_build_columns(runs))
    if factors is not None:
        candidates.append(_build_separable(runs, *factors))
    best = min(candidates, key=estimate_cost)
    if box is not None and box_cost(separable_ok) < estimate_cost(best):
        return _build_box(runs, box)
    return best
