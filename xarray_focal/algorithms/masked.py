"""NaN-aware sweeps: NaN policies ``omit``/``renormalize`` and focal statistics.

The same band x strip tasks and ring of source rows as :mod:`.sweep`, but each source row
is split into *channels* before the window sums: the value with NaN read as 0, the valid
indicator, and the value with NaN read as -inf / +inf for maxima / minima. Window sums (and
window maxima / minima, built the same incremental way) of each channel are combined over
the plan's runs into accumulators -- sum of w*x, count of valid taps, sum of w over valid
taps, max, min -- and each requested statistic is finished from those.

Counts are sums of 0/1 in float64, hence exact integers. Everything else keeps the
direct-sum contract because sums only add values inside the window. ``min``/``max`` are
exact. ``sum``/``mean`` come from the unshifted value channel, so they are the same bits
whichever other statistics are asked for.

The variance is one pass of shifted sums with every shift *local*: each run (a row run of
the row plans, a vertical window of the column plans) sums ``x - s`` and ``(x - s)^2`` over
its valid taps about ``s``, the first valid value of the run; the window then moves every
run to its own reference ``r`` (the shift of its first run with a valid tap) with
``d = s - r``: ``A += S1 + n d``, ``Q += S2 + d (2 S1 + n d)``, and ``var = Q/n - (A/n)^2``.
Every term is bounded by the window's range ``R`` of valid values, so the error is a few
``(n + 2) eps R^2`` whatever the offset of the data or the values outside the window, and
the result does not depend on chunking.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..contract import FLOAT64_EPS
from .sweep import _combine, _gather, _task_bounds, _vertical_windows, _window_sums, buffers

__all__ = ["reduce"]

@njit(nogil=True, cache=True)
def _fold_extreme(dst, src, n, want_max):
    """dst[x] = max(dst[x], src[x]) (or min) for x < n; the one loop every extreme uses."""
    if want_max:
        for x in range(n):
            v = src[x]
            dst[x] = v if v > dst[x] else dst[x]
    else:
        for x in range(n):
            v = src[x]
            dst[x] = v if v < dst[x] else dst[x]


@njit(nogil=True, cache=True)
def _window_extremes(bufs, lengths, n, want_max):
    """Like ``_window_sums`` with max (or min) instead of +: bufs[k + 1] = window extreme."""
    p = bufs[0]
    prev = 1
    for k in range(lengths.shape[0]):
        length = lengths[k]
        m = n - length + 1
        last = bufs[k, :m]
        dst = bufs[k + 1, :m]
        for x in range(m):
            dst[x] = last[x]
        for j in range(prev, length):
            _fold_extreme(dst, p[j:j + m], m, want_max)
        prev = length


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
def _deviation(v, s):
    """v - s for a valid (non-NaN) tap, 0 for a missing one; inf - inf stays NaN."""
    return v - s if v == v else 0.0


@njit(nogil=True, cache=True)
def _first_valid(p, s0, n):
    """s0[x] = the first non-NaN value of p[x:n] (0 where there is none).

    It is the shift of every run that starts at x: a run with a valid tap holds it, so
    each run's deviations are taken about one of its own values. A run with no valid tap
    never uses its shift (its count is 0).
    """
    last = 0.0
    for j in range(n - 1, -1, -1):
        v = p[j]
        if v == v:
            last = v
        s0[j] = last


@njit(nogil=True, cache=True)
def _shifted_sums(p, s0, h1, h2, lengths, n):
    """h1[k + 1][x] = sum of p[x + j] - s0[x] over the valid taps of p[x : x + lengths[k]];
    h2 the same for the squares. Slot 0 (length 1) must hold zeros: a tap is its own shift.

    The shift belongs to the run's start, so the terms cannot come from one shifted row:
    each window sum subtracts its own ``s0[x]`` tap by tap (vectorised along x like
    ``sweep._window_sums``, up to four new taps a pass).
    """
    prev = 1
    for k in range(lengths.shape[0]):
        length = lengths[k]
        m = n - length + 1
        s = s0[:m]
        d1 = h1[k + 1, :m]
        d2 = h2[k + 1, :m]
        j = prev
        first = True
        while j < length:
            step = min(4, length - j)
            b1 = h1[k, :m] if first else d1
            b2 = h2[k, :m] if first else d2
            pa = p[j:j + m]
            if step == 4:
                pb = p[j + 1:j + 1 + m]
                pc = p[j + 2:j + 2 + m]
                pd = p[j + 3:j + 3 + m]
                for x in range(m):
                    ta = _deviation(pa[x], s[x])
                    tb = _deviation(pb[x], s[x])
                    tc = _deviation(pc[x], s[x])
                    td = _deviation(pd[x], s[x])
                    d1[x] = b1[x] + ((ta + tb) + (tc + td))
                    d2[x] = b2[x] + ((ta * ta + tb * tb) + (tc * tc + td * td))
            elif step >= 2:
                pb = p[j + 1:j + 1 + m]
                step = 2
                for x in range(m):
                    ta = _deviation(pa[x], s[x])
                    tb = _deviation(pb[x], s[x])
                    d1[x] = b1[x] + (ta + tb)
                    d2[x] = b2[x] + (ta * ta + tb * tb)
            else:
                for x in range(m):
                    ta = _deviation(pa[x], s[x])
                    d1[x] = b1[x] + ta
                    d2[x] = b2[x] + ta * ta
            j += step
            first = False
        prev = length


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


@njit(nogil=True, cache=True)
def _split_channels(p, slot, hx, hv, h1, h2, hs, hmx, hmn, n, need_sum, need_var, columns,
                    need_mx, need_mn):
    """Write row ``p`` into slot ``slot`` (length index 0) of each needed channel.

    The variance channels differ by method: row runs keep the shift row (hs; their
    one-tap deviations, slot 0 of h1 and h2, are zeros from allocation); column runs keep
    the raw row (hs), shifted per vertical window later.
    """
    v_row = hv[slot, 0]
    for j in range(n):
        v = p[j]
        v_row[j] = 0.0 if v != v else 1.0
    if need_sum:
        x_row = hx[slot, 0]
        for j in range(n):
            v = p[j]
            x_row[j] = 0.0 if v != v else v
    if need_var:
        s_row = hs[slot, 0]
        if columns:
            for j in range(n):
                s_row[j] = p[j]
        else:
            _first_valid(p, s_row, n)
    if need_mx:
        m_row = hmx[slot, 0]
        for j in range(n):
            v = p[j]
            m_row[j] = -np.inf if v != v else v
    if need_mn:
        m_row = hmn[slot, 0]
        for j in range(n):
            v = p[j]
            m_row[j] = np.inf if v != v else v


#: float64 unit roundoff doubled (numpy's eps): the variance's noise floor is in its units.
_EPS = FLOAT64_EPS


@njit(nogil=True, cache=True)
def _finish(codes, out, b, y, x0, ws, accs, threshold, wtotal, ntaps):
    nan = np.nan
    acc_a, acc_n, acc_w, acc_q, acc_mx, acc_mn, acc_d, acc_r = (
        accs[0], accs[1], accs[2], accs[3], accs[4], accs[5], accs[6], accs[7])
    for s in range(codes.shape[0]):
        code = codes[s]
        orow = out[s, b, y, x0:x0 + ws]
        for x in range(ws):
            n = acc_n[x]
            if code == 5:
                orow[x] = n
                continue
            if n < threshold or n == 0.0:
                orow[x] = nan
                continue
            if code == 0 or code == 1:
                orow[x] = acc_a[x]
            elif code == 2:
                # No tap missing: the weighted sum itself. The factor wtotal / wv would be
                # a ratio of two differently rounded sums of the same weights, not 1.
                wv = acc_w[x]
                if n == ntaps:
                    orow[x] = acc_a[x]
                else:
                    orow[x] = nan if wv == 0.0 else acc_a[x] * (wtotal / wv)
            elif code == 3:
                orow[x] = acc_a[x]
            elif code == 4:
                orow[x] = acc_a[x] / n
            elif code == 6 or code == 7:
                m = acc_d[x] / n
                q = acc_q[x] / n
                var = q - m * m
                if np.abs(acc_r[x]) == np.inf:
                    # The window's first valid value is infinite (a lone one-tap run
                    # has zero deviation sums): NaN, as numpy's nanvar.
                    var = nan
                elif var == var:
                    # Deviations are about a value of the window, so q <= R^2 (R its
                    # range) and the rounding error is a few (n + 2) eps q. A result
                    # within that noise (negative by rounding) is 0, as a two-pass
                    # variance gives; a nonzero variance is at least R^2 / (2n), far above.
                    if var <= 2.0 * (n + 2.0) * _EPS * q:
                        var = 0.0
                elif acc_q[x] == np.inf and np.abs(acc_d[x]) < np.inf:
                    # Finite deviations whose squares overflow: the variance overflows too
                    # (numpy's nanvar gives inf), not inf - inf.
                    var = np.inf
                # Otherwise NaN: an infinity in the window, as numpy's nanvar.
                orow[x] = var if code == 6 else np.sqrt(var)
            elif code == 8:
                orow[x] = acc_mx[x]
            elif code == 9:
                orow[x] = acc_mn[x]
            else:
                orow[x] = acc_mx[x] - acc_mn[x]


@njit(nogil=True, cache=True)
def _task(srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w, ones, zeros, lengths,
          fill, codes, threshold, wtotal, ntaps, need_sum, need_wv, need_var, need_mx, need_mn,
          out, b, y0, y1, x0, x1, p, hx, hv, h1, h2, hs, hmx, hmn, accs):
    nhist = hv.shape[0]
    span = nhist - 1
    ws = x1 - x0
    wp = ws + (xmaps.shape[1] - out.shape[3])
    for t in range(y0, y1 + span):
        slot = t % nhist
        _gather(srcs, b, ymap[t], xmaps, xb, fill, x0, p, wp)
        _split_channels(p, slot, hx, hv, h1, h2, hs, hmx, hmn, wp, need_sum, need_var, False,
                        need_mx, need_mn)
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
        else:
            _combine(accs[1], hv, nhist, y, run_dy, run_dx, run_slot, ones, ws)
        if need_sum:
            _combine(accs[0], hx, nhist, y, run_dy, run_dx, run_slot, run_w, ws)
        if need_wv:
            _combine(accs[2], hv, nhist, y, run_dy, run_dx, run_slot, run_w, ws)
        if need_mx:
            _combine_extreme(accs[4], hmx, nhist, y, run_dy, run_dx, run_slot, ws, True)
        if need_mn:
            _combine_extreme(accs[5], hmn, nhist, y, run_dy, run_dx, run_slot, ws, False)
        _finish(codes, out, b, y, x0, ws, accs, threshold, wtotal, ntaps)


@njit(nogil=True, cache=True)
def _vertical_extremes(ring, nring, y, win_base, win_ptr, win_rows, vwin, wp, want_max):
    """Like ``sweep._vertical_windows`` with max (or min) instead of +."""
    for j in range(win_base.shape[0]):
        dst = vwin[0, j, :wp]
        k = win_ptr[j]
        if win_base[j] >= 0:
            first = vwin[0, win_base[j], :wp]
        else:
            first = ring[(y + win_rows[k]) % nring, 0, :wp]
            k += 1
        for x in range(wp):
            dst[x] = first[x]
        for kk in range(k, win_ptr[j + 1]):
            _fold_extreme(dst, ring[(y + win_rows[kk]) % nring, 0, :wp], wp, want_max)


@njit(nogil=True, cache=True)
def _added_deviations(dst, base, s, ring, nring, y, rows, square, wp):
    """dst = base + sum over ``rows`` of the ring of the deviations from s (or squares).

    Up to four rows a pass, left to right. One written row per loop keeps LLVM's runtime
    alias checks few enough for it to vectorise.
    """
    k = 0
    src = base
    while True:
        step = min(4, rows.shape[0] - k)
        r0 = ring[(y + rows[min(k, rows.shape[0] - 1)]) % nring, 0, :wp] if step > 0 else s
        r1 = ring[(y + rows[k + 1]) % nring, 0, :wp] if step > 1 else r0
        r2 = ring[(y + rows[k + 2]) % nring, 0, :wp] if step > 2 else r0
        r3 = ring[(y + rows[k + 3]) % nring, 0, :wp] if step > 3 else r0
        if step == 4:
            for x in range(wp):
                sx = s[x]
                t0, t1 = _deviation(r0[x], sx), _deviation(r1[x], sx)
                t2, t3 = _deviation(r2[x], sx), _deviation(r3[x], sx)
                if square:
                    dst[x] = src[x] + ((t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3))
                else:
                    dst[x] = src[x] + ((t0 + t1) + (t2 + t3))
        elif step == 3:
            for x in range(wp):
                sx = s[x]
                t0, t1, t2 = _deviation(r0[x], sx), _deviation(r1[x], sx), _deviation(r2[x], sx)
                if square:
                    dst[x] = src[x] + ((t0 * t0 + t1 * t1) + t2 * t2)
                else:
                    dst[x] = src[x] + ((t0 + t1) + t2)
        elif step == 2:
            for x in range(wp):
                sx = s[x]
                t0, t1 = _deviation(r0[x], sx), _deviation(r1[x], sx)
                if square:
                    dst[x] = src[x] + (t0 * t0 + t1 * t1)
                else:
                    dst[x] = src[x] + (t0 + t1)
        elif step == 1:
            for x in range(wp):
                t0 = _deviation(r0[x], s[x])
                dst[x] = src[x] + (t0 * t0 if square else t0)
        elif k == 0:
            for x in range(wp):
                dst[x] = src[x]
        if step <= 0:
            return
        k += step
        src = dst
        if k >= rows.shape[0]:
            return


@njit(nogil=True, cache=True)
def _vertical_shifted(ring, nring, y, win_base, win_ptr, win_rows, vv, v1, v2, vs, wp):
    """Per vertical window j: deviations (v1) and squares (v2) about its shift (vs).

    A window's shift is its base window's when that has a valid tap, else the first valid
    value among its added rows (0 where none): always one of the window's own values, and
    the same as the base's whenever the base's sums are not empty, so the base's sums are
    reused as they are. ``vv`` holds the windows' counts. Separate passes for the shift,
    the deviations and the squares, each writing one row (see ``_added_deviations``).
    """
    zero = vv.shape[1] - 1
    for j in range(win_base.shape[0]):
        s = vs[0, j, :wp]
        base = win_base[j]
        src = base if base >= 0 else zero
        bs, bc = vs[0, src, :wp], vv[0, src, :wp]
        rows = win_rows[win_ptr[j]:win_ptr[j + 1]]
        for x in range(wp):
            s[x] = bs[x] if bc[x] > 0.0 else 0.0
        # Added rows last to first, so the first valid one wins (where the base is empty).
        for i in range(rows.shape[0] - 1, -1, -1):
            row = ring[(y + rows[i]) % nring, 0, :wp]
            for x in range(wp):
                v = row[x]
                c = bc[x]
                sx = s[x]
                s[x] = v if v == v and c == 0.0 else sx
        _added_deviations(v1[0, j, :wp], v1[0, src, :wp], s, ring, nring, y, rows, False, wp)
        _added_deviations(v2[0, j, :wp], v2[0, src, :wp], s, ring, nring, y, rows, True, wp)


@njit(nogil=True, cache=True)
def _task_columns(srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w, ones,
                  win_base, win_ptr, win_rows, fill, codes, threshold, wtotal, ntaps,
                  need_sum, need_wv, need_var, need_mx, need_mn, out, b, y0, y1, x0, x1,
                  p, hx, hv, h1, h2, hs, hmx, hmn, vx, vv, v1, v2, vs, vmx, vmn, accs):
    """Column-run version of ``_task``: per output row, vertical windows of each channel."""
    nhist = hv.shape[0]
    span = nhist - 1
    ws = x1 - x0
    wp = ws + (xmaps.shape[1] - out.shape[3])
    for t in range(y0, y1 + span):
        _gather(srcs, b, ymap[t], xmaps, xb, fill, x0, p, wp)
        _split_channels(p, t % nhist, hx, hv, h1, h2, hs, hmx, hmn, wp, need_sum, need_var,
                        True, need_mx, need_mn)
        y = t - span
        if y < y0:
            continue
        _vertical_windows(hv, nhist, y, win_base, win_ptr, win_rows, vv, wp)
        if need_var:
            _vertical_shifted(hs, nhist, y, win_base, win_ptr, win_rows, vv, v1, v2, vs, wp)
            _combine_var(accs, vv, v1, v2, vs, 1, 0, run_dy, run_dx, run_slot, run_slot, ws)
        else:
            _combine(accs[1], vv, 1, 0, run_dy, run_dx, run_slot, ones, ws)
        if need_wv:
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
        _finish(codes, out, b, y, x0, ws, accs, threshold, wtotal, ntaps)


@njit(nogil=True, cache=True)
def _channel(needed, rows, slots, width):
    if needed:
        return buffers(rows, slots, width)
    return np.empty((1, 1, 1), dtype=np.float64)


@njit(nogil=True, cache=True)
def _alloc_all(columns, span, lengths, win_base, strip, pad, need_sum, need_var, need_mx,
               need_mn):
    """Ring buffers of every channel, per-output-row window buffers and accumulators."""
    nhist = span + 1
    width = strip + pad
    # Column plans keep one slot per ring row (the channel value) plus per-output-row
    # window buffers; row plans keep every window length per ring row.
    nlen = 1 if columns else lengths.shape[0] + 1
    # The gathered row plus, for column plans, a scratch row of the same width.
    p = np.empty(2 * width, dtype=np.float64)
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
    nwin = win_base.shape[0] if columns else 0
    wins = (_channel(need_sum and nwin > 0, 1, nwin, width),
            _channel(nwin > 0, 1, nwin, width),
            _channel(need_var and nwin > 0, 1, nwin, width),
            _channel(need_var and nwin > 0, 1, nwin, width),
            _channel(need_var and nwin > 0, 1, nwin, width),
            _channel(need_mx and nwin > 0, 1, nwin, width),
            _channel(need_mn and nwin > 0, 1, nwin, width))
    return (p, hx, hv, h1, h2, hs, hmx, hmn, accs), wins


@njit(nogil=True, cache=True)
def _run_task(columns, srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w,
              ones, zeros, lengths, win_base, win_ptr, win_rows, fill, codes, threshold,
              wtotal, ntaps, need_sum, need_wv, need_var, need_mx, need_mn, out, b, y0, y1,
              x0, x1, bufs, wins):
    p, hx, hv, h1, h2, hs, hmx, hmn, accs = bufs
    if columns:
        vx, vv, v1, v2, vs, vmx, vmn = wins
        _task_columns(srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w, ones,
                      win_base, win_ptr, win_rows, fill, codes, threshold, wtotal, ntaps,
                      need_sum, need_wv, need_var, need_mx, need_mn, out, b, y0, y1, x0, x1,
                      p, hx, hv, h1, h2, hs, hmx, hmn, vx, vv, v1, v2, vs, vmx, vmn, accs)
    else:
        _task(srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w, ones, zeros, lengths,
              fill, codes, threshold, wtotal, ntaps, need_sum, need_wv, need_var, need_mx,
              need_mn, out, b, y0, y1, x0, x1, p, hx, hv, h1, h2, hs, hmx, hmn, accs)


@njit(nogil=True, cache=True)
def reduce(columns, srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w,
           lengths, win_base, win_ptr, win_rows, fill, codes, threshold, wtotal,
           ntaps, need_sum, need_wv, need_var, need_mx, need_mn, out, band, strip,
           span, pad, task0, task1):
    """Tasks ``task0 .. task1 - 1`` in this thread (``nogil``; see :mod:`.sweep`)."""
    _, nb, ho, wo = out.shape
    nbands = (ho + band - 1) // band
    nstrips = (wo + strip - 1) // strip
    ones = np.ones(run_w.shape[0], dtype=np.float64)
    zeros = np.zeros(run_w.shape[0], dtype=np.int64)
    bufs, wins = _alloc_all(columns, span, lengths, win_base, strip, pad, need_sum, need_var,
                            need_mx, need_mn)
    for task in range(task0, task1):
        b, y0, y1, x0, x1 = _task_bounds(task, nbands, nstrips, band, strip, ho, wo)
        _run_task(columns, srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w,
                  ones, zeros, lengths, win_base, win_ptr, win_rows, fill, codes, threshold,
                  wtotal, ntaps, need_sum, need_wv, need_var, need_mx, need_mn, out, b, y0,
                  y1, x0, x1, bufs, wins)
