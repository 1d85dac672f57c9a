"""Combining a window's runs into the accumulators of the NaN-aware sweep.

Plain sums and counts use :func:`.sweep._combine` (weights, or ones for the count). The
extremes fold each run's window extreme (:func:`_combine_extreme`). The variance moves
each run's shifted sums to the window's own reference ``r`` -- the shift of its first run
with a valid tap -- and adds them (:func:`_combine_var`; :func:`_combine_var_taps` for
plans whose runs are single taps). The accumulators are rows of ``accs``: 0 sum of w*x,
1 count of valid taps, 2 sum of w over valid taps, 3 squared deviations, 4 max, 5 min,
6 deviations, 7 the reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .channels import _fold_extreme


@njit(nogil=True, cache=True)
def _combine_extreme(acc, hist, nhist, y, run_dy, run_dx, run_slot, ws, want_max):
    """acc[x] = max (or min) over runs of the window extreme at x + dx of row y + dy."""
    init = -np.inf if want_max else np.inf
    for x in range(ws):
        acc[x] = init
    for k in range(run_dx.shape[0]):
        b0 = hist[(y + run_dy[k]) % nhist, run_slot[k], run_dx[k]:run_dx[k] + ws]
        _fold_extreme(acc, b0, ws, want_max)


@njit(nogil=True, cache=True)
def _run_terms(nk, a1, a2, s, r):
    """One run's deviation and square sums moved from its shift s to the reference r.

    d = s - r is a difference of two values of the window, so no term exceeds its range.
    A run with no valid tap adds exact zeros whatever its (unused) shift.
    """
    d = s - r if nk > 0.0 else 0.0
    ta = a1 + nk * d
    return ta, a2 + d * (a1 + ta)  # sum (x - r)^2 = S2 + d (2 S1 + n d)


@njit(nogil=True, cache=True)
def _combine_var(accs, hv, h1, h2, hs, nhist, y, run_dy, run_dx, run_slot, shift_slot, ws):
    """Window count, deviations and squared deviations about the window's own reference.

    Run k reads count, deviation and square sums from slot ``run_slot[k]`` of hv, h1, h2
    and its shift from slot ``shift_slot[k]`` of hs, all of row y + dy_k at x + dx_k. The
    reference r is the shift of the first run (plan order) with a valid tap. Four runs a
    pass, added as a tree like ``sweep._combine``; a short pass is padded with the zero
    slots (count 0: no effect). Writes accs[1] (count), accs[6] (deviations), accs[3]
    (squares) and accs[7] (reference).
    """
    acc_n, acc_a, acc_q, acc_r = accs[1], accs[6], accs[3], accs[7]
    for x in range(ws):
        acc_n[x] = 0.0
        acc_a[x] = 0.0
        acc_q[x] = 0.0
        acc_r[x] = 0.0
    zv = hv[0, hv.shape[1] - 1, :ws]
    z1 = h1[0, h1.shape[1] - 1, :ws]
    z2 = h2[0, h2.shape[1] - 1, :ws]
    zs = hs[0, hs.shape[1] - 1, :ws]
    nruns = run_dx.shape[0]
    k = 0
    while k < nruns:
        v0, v1, v2, v3 = zv, zv, zv, zv
        a0, a1, a2, a3 = z1, z1, z1, z1
        q0, q1, q2, q3 = z2, z2, z2, z2
        s0, s1, s2, s3 = zs, zs, zs, zs
        for i in range(min(4, nruns - k)):
            row = (y + run_dy[k + i]) % nhist
            lo = run_dx[k + i]
            slot = run_slot[k + i]
            vi = hv[row, slot, lo:lo + ws]
            ai = h1[row, slot, lo:lo + ws]
            qi = h2[row, slot, lo:lo + ws]
            si = hs[row, shift_slot[k + i], lo:lo + ws]
            if i == 0:
                v0, a0, q0, s0 = vi, ai, qi, si
            elif i == 1:
                v1, a1, q1, s1 = vi, ai, qi, si
            elif i == 2:
                v2, a2, q2, s2 = vi, ai, qi, si
            else:
                v3, a3, q3, s3 = vi, ai, qi, si
        for x in range(ws):
            # Every load first, then only selects on values: conditional loads would stop
            # LLVM from vectorising the loop.
            n0, n1, n2, n3 = v0[x], v1[x], v2[x], v3[x]
            e0, e1, e2, e3 = s0[x], s1[x], s2[x], s3[x]
            n, r = acc_n[x], acc_r[x]
            # The pass's first shift with a valid tap; it becomes r if the window had none.
            first = e3
            first = e2 if n2 > 0.0 else first
            first = e1 if n1 > 0.0 else first
            first = e0 if n0 > 0.0 else first
            r = first if n == 0.0 else r
            ta0, tq0 = _run_terms(n0, a0[x], q0[x], e0, r)
            ta1, tq1 = _run_terms(n1, a1[x], q1[x], e1, r)
            ta2, tq2 = _run_terms(n2, a2[x], q2[x], e2, r)
            ta3, tq3 = _run_terms(n3, a3[x], q3[x], e3, r)
            acc_n[x] = n + ((n0 + n1) + (n2 + n3))
            acc_a[x] += (ta0 + ta1) + (ta2 + ta3)
            acc_q[x] += (tq0 + tq1) + (tq2 + tq3)
            acc_r[x] = r
        k += 4


@njit(nogil=True, cache=True)
def _combine_var_taps(accs, hv, hs, nhist, y, run_dy, run_dx, ws):
    """``_combine_var`` for single-tap runs (row slot 0, as every run of a direct plan).

    A tap is its own shift, so its deviation sums are zero and only d = x - r is added
    (an infinite reference is caught in ``_finish``); the same terms, without the loads.
    """
    acc_n, acc_a, acc_q, acc_r = accs[1], accs[6], accs[3], accs[7]
    for x in range(ws):
        acc_n[x] = 0.0
        acc_a[x] = 0.0
        acc_q[x] = 0.0
        acc_r[x] = 0.0
    zv = hv[0, hv.shape[1] - 1, :ws]
    zs = hs[0, hs.shape[1] - 1, :ws]
    nruns = run_dx.shape[0]
    k = 0
    while k < nruns:
        v0, v1, v2, v3 = zv, zv, zv, zv
        s0, s1, s2, s3 = zs, zs, zs, zs
        for i in range(min(4, nruns - k)):
            row = (y + run_dy[k + i]) % nhist
            lo = run_dx[k + i]
            vi = hv[row, 0, lo:lo + ws]
            si = hs[row, 0, lo:lo + ws]
            if i == 0:
                v0, s0 = vi, si
            elif i == 1:
                v1, s1 = vi, si
            elif i == 2:
                v2, s2 = vi, si
            else:
                v3, s3 = vi, si
        for x in range(ws):
            n0, n1, n2, n3 = v0[x], v1[x], v2[x], v3[x]
            e0, e1, e2, e3 = s0[x], s1[x], s2[x], s3[x]
            n, r = acc_n[x], acc_r[x]
            first = e3
            first = e2 if n2 > 0.0 else first
            first = e1 if n1 > 0.0 else first
            first = e0 if n0 > 0.0 else first
            r = first if n == 0.0 else r
            d0 = e0 - r if n0 > 0.0 else 0.0
            d1 = e1 - r if n1 > 0.0 else 0.0
            d2 = e2 - r if n2 > 0.0 else 0.0
            d3 = e3 - r if n3 > 0.0 else 0.0
            acc_n[x] = n + ((n0 + n1) + (n2 + n3))
            acc_a[x] += (d0 + d1) + (d2 + d3)
            acc_q[x] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
            acc_r[x] = r
        k += 4
