"""Task loops of the NaN-aware sweep and its driver, :func:`reduce`.

The tasks and the ring of source rows are :mod:`..sweep`'s. Per padded source row a task
gathers the row, splits it into channels (:mod:`.channels`) and, for row-run plans, builds
each channel's window sums or extremes into the ring; per output row it combines the runs
into the accumulators (:mod:`.combine`; column-run plans first build the vertical windows
of each channel) and finishes every statistic (:mod:`.finish`). :func:`reduce` runs row-run
(and direct) plans, :func:`reduce_columns` column-run plans. The scalars and flags of a
reduction travel as one :data:`ReductionArgs`, built only by :func:`reduction_args`.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from ..sweep import _combine, _gather, _task_bounds, _vertical_windows, _window_sums, buffers
from .channels import (_fill_counts, _reads_nan, _shifted_sums, _split_channels,
                       _vertical_extremes, _vertical_shifted, _window_extremes)
from .combine import _combine_extreme, _combine_var, _combine_var_taps
from .finish import _finish

__all__ = ["ReductionArgs", "reduce", "reduce_columns", "reduction_args"]

#: What a reduction computes, as the loops take it: the statistic codes (one output each),
#: the fewest valid taps that give a value, the total weight and the tap count (floats, for
#: ``renormalize``) and which channels are needed (see :func:`~xarray_focal._contract.channels`).
ReductionArgs = namedtuple(
    "ReductionArgs",
    "codes threshold wtotal ntaps wcancel need_sum need_wv need_var need_mx need_mn",
)

#: Per-thread ring buffers of each channel (``p`` the gathered row; ``hx`` values, ``hv``
#: valid indicator, ``h1``/``h2`` deviations and squares, ``hs`` shifts or raw rows,
#: ``hmx``/``hmn`` extremes) and the accumulator rows ``accs`` (see :mod:`.combine`).
Rings = namedtuple("Rings", "p hx hv h1 h2 hs hmx hmn accs")

#: Per-output-row vertical windows of each channel (column-run plans only).
Windows = namedtuple("Windows", "vx vv v1 v2 vs vmx vmn")


def reduction_args(reduction) -> ReductionArgs:
    """The loops' view of a :class:`~xarray_focal._contract.Reduction`."""
    need_sum, need_wv, need_var, need_mx, need_mn = reduction.channels
    return ReductionArgs(reduction.codes, reduction.threshold, reduction.wtotal,
                         float(reduction.ntaps), reduction.wcancel, need_sum, need_wv, need_var,
                         need_mx, need_mn)


@njit(nogil=True, cache=True)
def _constant_counts(accs, need_var, need_wv, ntaps, wtotal, ws):
    """Start a task without the count channel (see ``channels._fill_counts``): every
    window holds all ``ntaps`` taps (weight ``wtotal``) until a row reads NaN. Returns
    whether counts are kept from the start: the variance's joins need them."""
    if need_var:
        return True
    for x in range(ws):
        accs[1, x] = ntaps
    if need_wv:
        for x in range(ws):
            accs[2, x] = wtotal
    return False


@njit(nogil=True, cache=True)
def _task(src, plan, stats, out, pad, b, y0, y1, x0, x1, ones, zeros, rings):
    """One task of a row-run (or direct) plan: window sums per ring row, then combines."""
    srcs, ymap, xmaps, xb, fill = src.srcs, src.ymap, src.xmaps, src.xb, src.fill
    need_sum, need_wv, need_var = stats.need_sum, stats.need_wv, stats.need_var
    need_mx, need_mn = stats.need_mx, stats.need_mn
    codes, threshold, wtotal, ntaps = stats.codes, stats.threshold, stats.wtotal, stats.ntaps
    wcancel = stats.wcancel
    p, accs = rings.p, rings.accs
    hx, hv, hs, hmx, hmn = rings.hx, rings.hv, rings.hs, rings.hmx, rings.hmn
    h1, h2 = rings.h1, rings.h2
    run_dy, run_dx, run_slot, run_w = plan.run_dy, plan.run_dx, plan.run_slot, plan.run_w
    lengths = plan.lengths
    nhist = hv.shape[0]
    span = nhist - 1
    ws = x1 - x0
    wp = ws + pad
    count_on = _constant_counts(accs, need_var, need_wv, ntaps, wtotal, ws)
    for t in range(y0, y1 + span):
        slot = t % nhist
        _gather(srcs, b, ymap[t], xmaps, xb, fill, x0, p, wp)
        if not count_on and _reads_nan(p, wp):
            count_on = True
            _fill_counts(hv, slot, lengths, wp)
        _split_channels(p, slot, hx, hv, hs, hmx, hmn, wp, count_on, need_sum, need_var,
                        need_mx, need_mn, False)
        if count_on:
            _window_sums(hv[slot], lengths, wp)
        if need_sum:
            _window_sums(hx[slot], lengths, wp)
        if need_var:
            _shifted_sums(p, hs[slot, 0], h1[slot], h2[slot], lengths, wp)
        if need_mx:
            _window_extremes(hmx[slot], lengths, wp, True)
        if need_mn:
            _window_extremes(hmn[slot], lengths, wp, False)
        y = t - span
        if y < y0:
            continue
        if need_var:
            # Also the count (exact integers, so the same as the plain count combine).
            if lengths.shape[0] == 0:
                _combine_var_taps(accs, hv, hs, nhist, y, run_dy, run_dx, ws)
            else:
                _combine_var(accs, hv, h1, h2, hs, nhist, y, run_dy, run_dx, run_slot, zeros,
                             ws)
        elif count_on:
            _combine(accs[1], hv, nhist, y, run_dy, run_dx, run_slot, ones, ws)
        if need_sum:
            _combine(accs[0], hx, nhist, y, run_dy, run_dx, run_slot, run_w, ws)
        if need_wv and count_on:
            _combine(accs[2], hv, nhist, y, run_dy, run_dx, run_slot, run_w, ws)
        if need_mx:
            _combine_extreme(accs[4], hmx, nhist, y, run_dy, run_dx, run_slot, ws, True)
        if need_mn:
            _combine_extreme(accs[5], hmn, nhist, y, run_dy, run_dx, run_slot, ws, False)
        _finish(codes, out, b, y, x0, ws, accs, threshold, wtotal, ntaps, wcancel)


@njit(nogil=True, cache=True)
def _task_columns(src, plan, stats, out, pad, b, y0, y1, x0, x1, ones, rings, wins):
    """Column-run version of ``_task``: per output row, vertical windows of each channel."""
    srcs, ymap, xmaps, xb, fill = src.srcs, src.ymap, src.xmaps, src.xb, src.fill
    need_sum, need_wv, need_var = stats.need_sum, stats.need_wv, stats.need_var
    need_mx, need_mn = stats.need_mx, stats.need_mn
    codes, threshold, wtotal, ntaps = stats.codes, stats.threshold, stats.wtotal, stats.ntaps
    wcancel = stats.wcancel
    p, accs = rings.p, rings.accs
    hx, hv, hs, hmx, hmn = rings.hx, rings.hv, rings.hs, rings.hmx, rings.hmn
    vx, vv, vmx, vmn = wins.vx, wins.vv, wins.vmx, wins.vmn
    v1, v2, vs = wins.v1, wins.v2, wins.vs
    run_dy, run_dx, run_slot, run_w = plan.run_dy, plan.run_dx, plan.run_slot, plan.run_w
    win_base, win_ptr, win_rows = plan.win_base, plan.win_ptr, plan.win_rows
    nhist = hv.shape[0]
    span = nhist - 1
    ws = x1 - x0
    wp = ws + pad
    count_on = _constant_counts(accs, need_var, need_wv, ntaps, wtotal, ws)
    for t in range(y0, y1 + span):
        _gather(srcs, b, ymap[t], xmaps, xb, fill, x0, p, wp)
        if not count_on and _reads_nan(p, wp):
            count_on = True
            _fill_counts(hv, t % nhist, plan.lengths, wp)
        _split_channels(p, t % nhist, hx, hv, hs, hmx, hmn, wp, count_on, need_sum, need_var,
                        need_mx, need_mn, True)
        y = t - span
        if y < y0:
            continue
        if count_on:
            _vertical_windows(hv, nhist, y, win_base, win_ptr, win_rows, vv, wp)
        if need_var:
            _vertical_shifted(hs, nhist, y, win_base, win_ptr, win_rows, vv, v1, v2, vs, wp)
            _combine_var(accs, vv, v1, v2, vs, 1, 0, run_dy, run_dx, run_slot, run_slot, ws)
        elif count_on:
            _combine(accs[1], vv, 1, 0, run_dy, run_dx, run_slot, ones, ws)
        if need_wv and count_on:
            _combine(accs[2], vv, 1, 0, run_dy, run_dx, run_slot, run_w, ws)
        if need_sum:
            _vertical_windows(hx, nhist, y, win_base, win_ptr, win_rows, vx, wp)
            _combine(accs[0], vx, 1, 0, run_dy, run_dx, run_slot, run_w, ws)
        if need_mx:
            _vertical_extremes(hmx, nhist, y, win_base, win_ptr, win_rows, vmx, wp, True)
            _combine_extreme(accs[4], vmx, 1, 0, run_dy, run_dx, run_slot, ws, True)
        if need_mn:
            _vertical_extremes(hmn, nhist, y, win_base, win_ptr, win_rows, vmn, wp, False)
            _combine_extreme(accs[5], vmn, 1, 0, run_dy, run_dx, run_slot, ws, False)
        _finish(codes, out, b, y, x0, ws, accs, threshold, wtotal, ntaps, wcancel)


@njit(nogil=True, cache=True)
def _channel(needed, rows, slots, width):
    if needed:
        return buffers(rows, slots, width)
    return np.empty((1, 1, 1), dtype=np.float64)


@njit(nogil=True, cache=True)
def _alloc_all(plan, stats, span, strip, pad):
    """Ring buffers of every channel, per-output-row window buffers and accumulators."""
    columns = plan.columns
    need_sum, need_var, need_mx, need_mn = (stats.need_sum, stats.need_var, stats.need_mx,
                                            stats.need_mn)
    nhist = span + 1
    width = strip + pad
    # Column plans keep one slot per ring row (the channel value) plus per-output-row
    # window buffers; row plans keep every window length per ring row.
    nlen = 1 if columns else plan.lengths.shape[0] + 1
    p = np.empty(width, dtype=np.float64)
    hx = _channel(need_sum, nhist, nlen, width)
    hv = _channel(True, nhist, nlen, width)
    h1 = _channel(need_var and not columns, nhist, nlen, width)
    h2 = _channel(need_var and not columns, nhist, nlen, width)
    # Slot 0 (one tap, its own shift) is never written: its deviation sums are zero.
    h1[:, 0, :] = 0.0
    h2[:, 0, :] = 0.0
    hs = _channel(need_var, nhist, 1, width)
    hmx = _channel(need_mx, nhist, nlen, width)
    hmn = _channel(need_mn, nhist, nlen, width)
    accs = np.empty((8, strip), dtype=np.float64)
    nwin = plan.win_base.shape[0] if columns else 0
    wins = Windows(_channel(need_sum and nwin > 0, 1, nwin, width),
                   _channel(nwin > 0, 1, nwin, width),
                   _channel(need_var and nwin > 0, 1, nwin, width),
                   _channel(need_var and nwin > 0, 1, nwin, width),
                   _channel(need_var and nwin > 0, 1, nwin, width),
                   _channel(need_mx and nwin > 0, 1, nwin, width),
                   _channel(need_mn and nwin > 0, 1, nwin, width))
    return Rings(p, hx, hv, h1, h2, hs, hmx, hmn, accs), wins


@njit(nogil=True, cache=True)
def _ones_zeros(plan):
    """Unit weights (the count) and the shift slots of row runs (slot 0: a row's shifts)."""
    return (np.ones(plan.run_w.shape[0], dtype=np.float64),
            np.zeros(plan.run_w.shape[0], dtype=np.int64))


@njit(nogil=True, cache=True)
def reduce(src, plan, stats, tasks, task0, task1):
    """Tasks ``task0 .. task1 - 1`` of a row-run or direct plan in this thread.

    ``src`` is a :data:`..sweep.Source`, ``plan`` a plan's ``Plan.arrays()``, ``stats`` a
    :data:`ReductionArgs` and ``tasks`` a :data:`..sweep.Tasks` whose output is
    ``(statistics, slices, rows, cols)``. ``nogil``: host threads run ranges of one call at
    once (see :mod:`..sweep`).
    """
    out, band, strip, pad = tasks.out, tasks.band, tasks.strip, tasks.pad
    _, nb, ho, wo = out.shape
    nbands = (ho + band - 1) // band
    nstrips = (wo + strip - 1) // strip
    ones, zeros = _ones_zeros(plan)
    rings, _ = _alloc_all(plan, stats, tasks.span, strip, pad)
    for task in range(task0, task1):
        b, y0, y1, x0, x1 = _task_bounds(task, nbands, nstrips, band, strip, ho, wo)
        _task(src, plan, stats, out, pad, b, y0, y1, x0, x1, ones, zeros, rings)


@njit(nogil=True, cache=True)
def reduce_columns(src, plan, stats, tasks, task0, task1):
    """Column-run tasks ``task0 .. task1 - 1`` in this thread, like :func:`reduce`.

    A driver of its own (as ``sweep.columns``), so a call compiles only its method's loops.
    """
    out, band, strip, pad = tasks.out, tasks.band, tasks.strip, tasks.pad
    _, nb, ho, wo = out.shape
    nbands = (ho + band - 1) // band
    nstrips = (wo + strip - 1) // strip
    ones, _ = _ones_zeros(plan)
    rings, wins = _alloc_all(plan, stats, tasks.span, strip, pad)
    for task in range(task0, task1):
        b, y0, y1, x0, x1 = _task_bounds(task, nbands, nstrips, band, strip, ho, wo)
        _task_columns(src, plan, stats, out, pad, b, y0, y1, x0, x1, ones, rings, wins)
