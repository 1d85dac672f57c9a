"""Turn a validated kernel into the flat arrays the row sweep consumes.

A kernel is described, row by row, as *runs*: ``length`` adjacent taps of one weight. A
run costs one multiply-add per output cell whatever its length, because the sweep first
computes, for every distinct run length ``L``, the window sums ``S_L[x] = p[x] + ... +
p[x + L - 1]`` of each source row (incrementally: ``S_L`` from the next shorter ``S``).

- ``"direct"``: every nonzero tap is its own run of length 1 (no window sums). Best for
  small or irregular kernels.
- ``"runs"``: maximal runs of equal weight. A 33x33 circle is 33 runs (one per row) plus
  16 distinct odd lengths, instead of 797 taps.
- ``"auto"``: the cheaper of the two by the cost model in :func:`estimate_cost`.

Zero taps never appear in any run: the footprint rule (zero-weight taps are never read)
holds by construction. Window sums only ever add values *inside* the window, so NaN and
inf behave exactly as in the direct sum and rounding stays within DESIGN.md's contract
(a sum of ``L`` float64 terms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FocalTypeError, FocalValueError

__all__ = ["Plan", "make_plan", "METHODS", "estimate_cost"]

#: Accepted values of ``method=``.
METHODS = ("auto", "direct", "runs")


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
    method : str
        ``"direct"`` or ``"runs"``.
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

    @property
    def ntaps(self) -> int:
        """Number of cells in the footprint."""
        return int(self.run_len.sum())


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

    Combining costs a load per run plus an accumulator update per eight runs; building
    window sums costs a pass per two extra elements of each new length over the previous.
    """
    nruns = plan.run_len.size
    scatter = nruns + 2.0 * np.ceil(nruns / 8.0)
    prev, sums = 1, 0.0
    for length in plan.lengths:
        sums += 4.0 * np.ceil((length - prev) / 2.0)
        prev = length
    return scatter + sums + 1.0  # + gathering the source row


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


def check_method(method: object) -> str:
    """Validate ``method=``."""
    if not isinstance(method, str):
        raise FocalTypeError(f"method must be a string, one of {METHODS}; got {method!r}")
    if method not in METHODS:
        raise FocalValueError(f"unknown method {method!r}; choose one of {METHODS}")
    return method


def make_plan(kernel: np.ndarray, method: str = "auto") -> Plan:
    """Describe ``kernel`` (validated, float64, odd sides) as runs for ``method``.

    Examples
    --------
    >>> p = make_plan(np.array([[0., 0., 0.], [0., 2., 3.], [0., 0., 0.]]), "direct")
    >>> p.ry, p.rx, p.row_dy.tolist(), p.run_dx.tolist(), p.run_w.tolist()
    (0, 1, [0], [1, 2], [2.0, 3.0])
    >>> p = make_plan(np.ones((3, 5)), "runs")
    >>> p.run_len.tolist(), p.lengths.tolist(), p.run_slot.tolist()
    ([5, 5, 5], [5], [1, 1, 1])
    >>> make_plan(np.ones((9, 9))).method
    'runs'
    """
    method = check_method(method)
    if method == "direct":
        return _build(kernel, True, "direct")
    runs = _build(kernel, False, "runs")
    if method == "runs":
        return runs
    direct = _build(kernel, True, "direct")
    return runs if estimate_cost(runs) < estimate_cost(direct) else direct
