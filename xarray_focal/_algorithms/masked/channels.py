"""Channels of the NaN-aware sweep: a source row split by what it feeds, and their windows.

A gathered row ``p`` becomes the valid indicator (hv), the value with NaN read as 0 (hx),
the value with NaN read as -inf / +inf (hmx / hmn) and, for the variance, a shift row
(hs). Row-run plans then build every run length's window sums (:func:`.sweep._window_sums`
for hv and hx, :func:`_shifted_sums` for the variance's deviations about each run's own
shift) and window extremes of each ring row; column-run plans build, per output row, the
vertical windows of each channel from the ring of raw channel rows (:func:`_vertical_extremes`,
:func:`_vertical_shifted`; the plain sums are :func:`.sweep._vertical_windows`). Every
inner loop runs over contiguous x on pre-sliced views, so LLVM vectorises it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# --- row runs: one ring row's window sums and extremes, every run length ----------------


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
def _split_channels(p, slot, hx, hv, hs, hmx, hmn, n, need_count, need_sum, need_var,
                    need_mx, need_mn, columns):
    """Write row ``p`` into slot ``slot`` (length index 0) of each needed channel ring.

    The rings and flags one by one, not as the drivers' named tuples: this runs once per
    source row, and unpacking a tuple of arrays in every call costs reference counting.
    The variance channels differ by method: row runs keep the shift row (hs; their
    one-tap deviations, slot 0 of h1 and h2, are zeros from allocation); column runs keep
    the raw row (hs), shifted per vertical window later.
    """
    if need_count:
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



# --- counts from the first row that reads NaN ----------------------------------------------


@njit(nogil=True, cache=True)
def _reads_nan(p, n):
    """Whether row p reads NaN (or inf: then the counts are kept too, as for NaN).

    x - x is NaN for both. An integer count vectorises, where an early exit would not, nor
    a float sum (its additions may not be reordered: a scalar chain, ten times slower).
    """
    bad = 0
    for j in range(n):
        v = p[j]
        bad += 0 if v - v == 0.0 else 1
    return bad != 0


@njit(nogil=True, cache=True)
def _fill_counts(hv, skip, lengths, n):
    """Count rings as they would be had they been kept: every ring row but ``skip`` all
    valid (slot 0 ones, slot k + 1 the window length ``lengths[k]``).

    A task keeps the valid-tap counts only from its first row that reads NaN: until then
    every window counts all of its taps, which is exact, so the count channel costs
    nothing on data without NaN.
    """
    for r in range(hv.shape[0]):
        if r == skip:
            continue
        for k in range(hv.shape[1] - 1):
            c = 1.0 if k == 0 else float(lengths[k - 1])
            row = hv[r, k]
            for x in range(n):
                row[x] = c


# --- column runs: vertical windows of the channel rings, per output row -------------------


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
