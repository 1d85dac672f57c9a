"""Box sweeps: sums, counts, extremes and variances over a rectangle at O(1) per cell.

A *box* footprint is a rectangle of ``h x w`` taps of one weight (any box or rank-1 kernel
of equal weights). Its window sums are built from *block prefix and suffix sums* -- the
Gil--Werman / van Herk scheme, with ``+`` as well as ``max``: cut an axis into blocks of
the window's length, aligned to the **global** array (so results do not depend on dask
chunks, thread counts or task bounds). A window that does not start a block covers the
end of one block and the beginning of the next, so its sum is

    suffix(start) + prefix(end)

of two partial sums, each built by adding one value at a time inside its block; a window
that starts a block is that block's suffix. Three operations per cell and axis whatever
the window's length, and -- unlike a running sum that adds the value entering and
subtracts the one leaving -- every partial sum holds only values *inside* the window. So:

- rounding is a recursive sum of the window's own terms (the accuracy bound of a direct
  sum, docs/contract.md), whatever came before: a 1e15 that left the window, or a
  sentinel -3.4e38 one cell away, cannot leave a residue in it;
- NaN and +/-inf stay in the windows that hold them: nothing is ever subtracted, so no
  ``inf - inf`` appears from a value that has left, and the NaN-aware channels (NaN read
  as 0 with a separate count of valid taps) need no special cases;
- maxima and minima use the same passes with ``max``/``min`` (exact).

The sweep runs **down the columns first**: each source row of a task is gathered and split
into channels in a ring of two blocks of rows (the block being filled and the one before
it, whose rows are turned into suffixes in place when its last row arrives), while a
running prefix of the current block is kept per channel. Output row ``y`` then reads the
suffix of its first row and the prefix up to its last row -- whole rows, vectorised --
and the horizontal pass runs on that one row per output (scalar scans, block by block in
an order whose iterations are independent, so the loads overlap).

The variance keeps ``(count, sum of deviations, sum of squared deviations, shift)`` per
partial sum, the shift being one of the partial's own valid values (a prefix: the first
valid value of its block from the start, a suffix: the nearest to the block's end); two
partials join as in :mod:`.masked.combine` (the second moved to the first's shift with
``d = s2 - s1``). Every shift is a value inside the window, so every term is bounded by
the window's range ``R`` and the error is a few ``(n + 2) eps R^2`` as for the other
methods (measured in ``tests/test_box.py``).

One driver, :func:`reduce`, serves plain correlation (``plain``: raw values, NaN
propagating by itself, times the weight) and every NaN policy and statistic (finished by
:func:`.masked.finish._finish` from the same accumulator rows as the other sweeps).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from .masked.combine import _run_terms
from .masked.finish import _finish
from .sweep import _gather, _task_bounds

__all__ = ["reduce", "box_geometry"]

_SUM, _MAX, _MIN = 0, 1, 2


def box_geometry(oy: int, ox: int, height: int, width: int, origin: tuple[int, int],
                 plain: bool) -> np.ndarray:
    """The driver's ``where`` argument: rectangle offset and size, global origin, plain flag."""
    return np.array([oy, ox, height, width, origin[0], origin[1], int(plain)], dtype=np.int64)


# --- row operations (vertical pass: whole rows, vectorised) ------------------------------


@njit(nogil=True, cache=True)
def _fold(dst, src, n, op):
    """dst = dst (+ | max | min) src over n cells."""
    if op == _SUM:
        for x in range(n):
            dst[x] += src[x]
    elif op == _MAX:
        for x in range(n):
            v = src[x]
            dst[x] = v if v > dst[x] else dst[x]
    else:
        for x in range(n):
            v = src[x]
            dst[x] = v if v < dst[x] else dst[x]


@njit(nogil=True, cache=True)
def _join(dst, a, b, n, op):
    """dst = a (+ | max | min) b over n cells (a alone for op -1)."""
    if op < 0:
        for x in range(n):
            dst[x] = a[x]
    elif op == _SUM:
        for x in range(n):
            dst[x] = a[x] + b[x]
    elif op == _MAX:
        for x in range(n):
            dst[x] = a[x] if a[x] > b[x] else b[x]
    else:
        for x in range(n):
            dst[x] = a[x] if a[x] < b[x] else b[x]


# --- horizontal pass: block prefix / suffix scans over a batch of rows ---------------------
# The horizontal pass runs on a *batch* of ``cap`` output rows at once, stored transposed
# (cell x of batch row r at ``x * cap + r``): a window along x is then a run of batch rows,
# and the scans run over whole batch rows -- cell x of every output row of the batch at
# once -- vectorised like the vertical pass. Blocks along x are aligned to the global
# array: they start where ``x % w == a``.


@njit(nogil=True, cache=True)
def _op(u, v, op):
    """u (+ | max | min) v."""
    if op == _SUM:
        return u + v
    if op == _MAX:
        return u if u > v else v
    return u if u < v else v


@njit(nogil=True, cache=True)
def _hbox(v, dst, pre, suf, nq, ws, w, a, cap, op):
    """dst[x] = v[x .. x + w - 1] folded for every batch row, x < ws (see above).

    Prefix of each block forward (from its start), suffix backward (from its end); a
    window that does not start a block joins the suffix at x with the prefix at x + w - 1
    (in the next block); one that starts a block is the block's suffix. The loops are
    written out over 2-D batches: a helper taking arrays costs reference counting per
    call, more than a batch row's arithmetic.
    """
    v2 = v[:nq * cap].reshape((nq, cap))
    p2 = pre[:nq * cap].reshape((nq, cap))
    s2 = suf[:nq * cap].reshape((nq, cap))
    d2 = dst[:ws * cap].reshape((ws, cap))
    i = 0
    for x in range(a, nq):
        if i == 0:
            for r in range(cap):
                p2[x, r] = v2[x, r]
        else:
            for r in range(cap):
                p2[x, r] = _op(p2[x - 1, r], v2[x, r], op)
        i = i + 1 if i < w - 1 else 0
    # The block holding ws - 1 ends at or before nq - 1.
    top = a + ((ws - 1 - a) // w + 1) * w - 1 if ws - 1 >= a else a - 1
    i = w - 1
    for x in range(top, -1, -1):
        if i == w - 1:
            for r in range(cap):
                s2[x, r] = v2[x, r]
        else:
            for r in range(cap):
                s2[x, r] = _op(v2[x, r], s2[x + 1, r], op)
        i = i - 1 if i > 0 else w - 1
    i = (w - a) % w  # position of x = 0 in its block
    for x in range(ws):
        if i == 0:
            for r in range(cap):
                d2[x, r] = s2[x, r]
        else:
            e = x + w - 1
            for r in range(cap):
                d2[x, r] = _op(s2[x, r], p2[e, r], op)
        i = i + 1 if i < w - 1 else 0


@njit(nogil=True, cache=True)
def _into_batch(dst, r, cap, a, b, nq, op):
    """Batch row r = rows a (+ | max | min) b (a alone for op -1), cells 0 .. nq - 1."""
    if op < 0:
        for x in range(nq):
            dst[x * cap + r] = a[x]
    elif op == _SUM:
        for x in range(nq):
            dst[x * cap + r] = a[x] + b[x]
    elif op == _MAX:
        for x in range(nq):
            dst[x * cap + r] = a[x] if a[x] > b[x] else b[x]
    else:
        for x in range(nq):
            dst[x * cap + r] = a[x] if a[x] < b[x] else b[x]


@njit(nogil=True, cache=True)
def _from_batch(src, r, cap, dst, ws):
    """dst[x] = cell x of batch row r, x < ws."""
    for x in range(ws):
        dst[x] = src[x * cap + r]


@njit(nogil=True, cache=True)
def _copy(dst, src, n):
    for x in range(n):
        dst[x] = src[x]


# --- the variance: partial sums about their own shifts --------------------------------------


@njit(nogil=True, cache=True)
def _merge(n1, a1, q1, s1, n2, a2, q2, s2):
    """Two partials (count, deviations, squares, shift) as one about the first's shift.

    The shift is the first's if it has a valid tap, else the second's: always a value of
    the joined span. An empty partial adds exact zeros.
    """
    r = s1 if n1 > 0.0 else s2
    ta, tq = _run_terms(n2, a2, q2, s2, r)
    return n1 + n2, a1 + ta, q1 + tq, r


@njit(nogil=True, cache=True)
def _hbox_var(vn, v1, v2, vs, dn, d1, d2, ds, tmp, nq, ws, w, a, cap):
    """:func:`_hbox` for variance partials (count, deviations, squares, shift).

    ``tmp`` holds eight scratch batches: prefix and suffix of each field. The loops are
    written out (no helper taking the fields as tuples: passing arrays costs reference
    counting per call, more than a batch row's arithmetic).
    """
    m = nq * cap
    fn, f1, f2, fs = (vn[:m].reshape((nq, cap)), v1[:m].reshape((nq, cap)),
                      v2[:m].reshape((nq, cap)), vs[:m].reshape((nq, cap)))
    pn, p1, p2, ps = (tmp[0, :m].reshape((nq, cap)), tmp[1, :m].reshape((nq, cap)),
                      tmp[2, :m].reshape((nq, cap)), tmp[3, :m].reshape((nq, cap)))
    sn, s1, s2, ss = (tmp[4, :m].reshape((nq, cap)), tmp[5, :m].reshape((nq, cap)),
                      tmp[6, :m].reshape((nq, cap)), tmp[7, :m].reshape((nq, cap)))
    m = ws * cap
    on, o1, o2, os_ = (dn[:m].reshape((ws, cap)), d1[:m].reshape((ws, cap)),
                       d2[:m].reshape((ws, cap)), ds[:m].reshape((ws, cap)))
    i = 0
    for x in range(a, nq):
        if i == 0:
            for r in range(cap):
                pn[x, r], p1[x, r], p2[x, r], ps[x, r] = fn[x, r], f1[x, r], f2[x, r], fs[x, r]
        else:
            for r in range(cap):
                pn[x, r], p1[x, r], p2[x, r], ps[x, r] = _merge(
                    pn[x - 1, r], p1[x - 1, r], p2[x - 1, r], ps[x - 1, r],
                    fn[x, r], f1[x, r], f2[x, r], fs[x, r])
        i = i + 1 if i < w - 1 else 0
    top = a + ((ws - 1 - a) // w + 1) * w - 1 if ws - 1 >= a else a - 1
    i = w - 1
    for x in range(top, -1, -1):
        if i == w - 1:
            for r in range(cap):
                sn[x, r], s1[x, r], s2[x, r], ss[x, r] = fn[x, r], f1[x, r], f2[x, r], fs[x, r]
        else:
            for r in range(cap):
                sn[x, r], s1[x, r], s2[x, r], ss[x, r] = _merge(
                    fn[x, r], f1[x, r], f2[x, r], fs[x, r],
                    sn[x + 1, r], s1[x + 1, r], s2[x + 1, r], ss[x + 1, r])
        i = i - 1 if i > 0 else w - 1
    i = (w - a) % w
    for x in range(ws):
        if i == 0:
            for r in range(cap):
                on[x, r], o1[x, r], o2[x, r], os_[x, r] = sn[x, r], s1[x, r], s2[x, r], ss[x, r]
        else:
            e = x + w - 1
            for r in range(cap):
                on[x, r], o1[x, r], o2[x, r], os_[x, r] = _merge(
                    sn[x, r], s1[x, r], s2[x, r], ss[x, r],
                    pn[e, r], p1[e, r], p2[e, r], ps[e, r])
        i = i + 1 if i < w - 1 else 0


@njit(nogil=True, cache=True)
def _vpush_var(cn, c1, c2, cs, pn, p1, p2, ps, first, n):
    """Add one ring row (count, raw value in ``cs``) to the running prefix of its block.

    The prefix's shift is its first valid value; the row's own partial is a single tap
    about itself (deviation 0), which is what ``c1``/``c2`` hold.
    """
    if first:
        for x in range(n):
            pn[x] = cn[x]
            p1[x] = 0.0
            p2[x] = 0.0
            ps[x] = cs[x]
        return
    for x in range(n):
        c = cn[x]
        v = cs[x]
        empty = pn[x] == 0.0
        s = v if empty else ps[x]
        t = v - s if c > 0.0 else 0.0
        p1[x] += t
        p2[x] += t * t
        ps[x] = s
        pn[x] += c


@njit(nogil=True, cache=True)
def _vsuffix_var(cn, c1, c2, cs, nxt_n, nxt_1, nxt_2, nxt_s, n):
    """Turn ring row r into the suffix r .. block end, given the suffix from r + 1.

    The suffix keeps the shift of the part after r where that has a valid tap (the valid
    value nearest the block's end), else row r's own value.
    """
    for x in range(n):
        c = cn[x]
        v = cs[x]
        m = nxt_n[x]
        s = nxt_s[x] if m > 0.0 else v
        t = v - s if c > 0.0 else 0.0
        c1[x] = nxt_1[x] + t
        c2[x] = nxt_2[x] + t * t
        cs[x] = s
        cn[x] = c + m


@njit(nogil=True, cache=True)
def _split(p, n, plain, need_sum, need_count, need_var, need_mx, need_mn,
           rx, rv, rmx, rmn, rs, r1, r2):
    """Write the gathered row p into one ring row of each needed channel."""
    if plain:
        for j in range(n):
            rx[j] = p[j]
        return
    if need_count:
        for j in range(n):
            v = p[j]
            rv[j] = 0.0 if v != v else 1.0
    if need_sum:
        for j in range(n):
            v = p[j]
            rx[j] = 0.0 if v != v else v
    if need_var:
        for j in range(n):
            v = p[j]
            rs[j] = 0.0 if v != v else v
            r1[j] = 0.0
            r2[j] = 0.0
    if need_mx:
        for j in range(n):
            v = p[j]
            rmx[j] = -np.inf if v != v else v
    if need_mn:
        for j in range(n):
            v = p[j]
            rmn[j] = np.inf if v != v else v


@njit(nogil=True, cache=True)
def _task(src, stats, where, w_box, out, b, y0, y1, x0, x1, bufs):
    srcs, ymap, xmaps, xb, fill = src.srcs, src.ymap, src.xmaps, src.xb, src.fill
    ring, pref, p = bufs.ring, bufs.pref, bufs.p
    oy, ox, hh, ww, gy, gx, plain = (where[0], where[1], where[2], where[3], where[4],
                                     where[5], where[6] != 0)
    need_sum = plain or stats.need_sum
    need_count = not plain
    need_var = stats.need_var and not plain
    need_mx = stats.need_mx and not plain
    need_mn = stats.need_mn and not plain
    # Channels (rows of ring, pref, batch): 0 values, 1 count, 2 max, 3 min, 4 shift,
    # 5 deviations, 6 squares.
    nring = ring.shape[1]
    ws = x1 - x0
    nq = ws + ww - 1
    a = (-(gx + x0 + ox)) % ww  # first block start along x (blocks aligned globally)
    cap = bufs.accs.shape[0]  # output rows a batch holds
    t_first = y0 + oy
    t_last = y1 + oy + hh - 1  # exclusive
    if need_count and not need_var:
        # Without a missing tap anywhere in the task's source, every window counts all
        # of its taps: skip the count channel (counts are exact either way).
        need_count = _any_missing(srcs, b, ymap, xmaps, xb, fill, x0 + ox, p, nq, t_first,
                                  t_last)
        if not need_count:
            full_count = float(hh * ww)
            for r in range(cap):
                acc = bufs.accs[r, 1]
                for x in range(ws):
                    acc[x] = full_count
    filled = 0
    for t in range(t_first, t_last):
        g = gy + t
        slot = g % nring
        pos = g % hh
        _gather(srcs, b, ymap[t], xmaps, xb, fill, x0 + ox, p, nq)
        _split(p, nq, plain, need_sum, need_count, need_var, need_mx, need_mn,
               ring[0, slot], ring[1, slot], ring[2, slot], ring[3, slot], ring[4, slot],
               ring[5, slot], ring[6, slot])
        first = pos == 0 or t == t_first
        if need_sum:
            _push(ring[0, slot], pref[0], first, nq, _SUM)
        if need_count and not need_var:
            _push(ring[1, slot], pref[1], first, nq, _SUM)
        if need_var:
            _vpush_var(ring[1, slot], ring[5, slot], ring[6, slot], ring[4, slot],
                       pref[1], pref[5], pref[6], pref[4], first, nq)
        if need_mx:
            _push(ring[2, slot], pref[2], first, nq, _MAX)
        if need_mn:
            _push(ring[3, slot], pref[3], first, nq, _MIN)
        if pos == hh - 1:
            # The block is complete: its rows become suffixes, last to first (in place;
            # the prefix already has what it needs of them).
            lo = max(t - hh + 1, t_first)
            for r in range(t - 1, lo - 1, -1):
                cur = (gy + r) % nring
                nxt = (gy + r + 1) % nring
                if need_sum:
                    _fold(ring[0, cur], ring[0, nxt], nq, _SUM)
                if need_var:
                    _vsuffix_var(ring[1, cur], ring[5, cur], ring[6, cur], ring[4, cur],
                                 ring[1, nxt], ring[5, nxt], ring[6, nxt], ring[4, nxt], nq)
                elif need_count:
                    _fold(ring[1, cur], ring[1, nxt], nq, _SUM)
                if need_mx:
                    _fold(ring[2, cur], ring[2, nxt], nq, _MAX)
                if need_mn:
                    _fold(ring[3, cur], ring[3, nxt], nq, _MIN)
        start = t - hh + 1
        if start < t_first:
            continue
        s0 = (gy + start) % nring
        full = (gy + start) % hh == 0
        _vertical_windows(bufs, s0, full, filled, cap, nq, need_sum, need_count, need_var,
                          need_mx, need_mn)
        filled += 1
        if filled == cap or t == t_last - 1:
            _emit_batch(stats, out, b, start - oy - filled + 1, filled, cap, x0, ws, nq, ww, a,
                        w_box, plain, need_sum, need_count, need_var, need_mx, need_mn, bufs)
            filled = 0


@njit(nogil=True, cache=True)
def _any_missing(srcs, b, ymap, xmaps, xb, fill, x0, p, n, t0, t1):
    """Whether any of the padded rows t0 .. t1 - 1 (cells x0 .. x0 + n - 1) reads NaN."""
    for t in range(t0, t1):
        _gather(srcs, b, ymap[t], xmaps, xb, fill, x0, p, n)
        bad = False
        for j in range(n):
            bad |= p[j] != p[j]
        if bad:
            return True
    return False


@njit(nogil=True, cache=True)
def _push(row, pre, first, n, op):
    if first:
        for x in range(n):
            pre[x] = row[x]
    else:
        _fold(pre, row, n, op)


@njit(nogil=True, cache=True)
def _vertical_windows(bufs, s0, full, r, cap, nq, need_sum, need_count, need_var, need_mx,
                      need_mn):
    """Row r of the batch of every channel: the vertical window of one output row (the
    suffix at ring row s0 joined with the running prefix; the suffix alone if ``full``)."""
    ring, pref, batch = bufs.ring, bufs.pref, bufs.batch
    if need_sum:
        _into_batch(batch[0], r, cap, ring[0, s0], pref[0], nq, -1 if full else _SUM)
    if need_var:
        sn, s1, s2, ss = ring[1, s0], ring[5, s0], ring[6, s0], ring[4, s0]
        pn, p1, p2, ps = pref[1], pref[5], pref[6], pref[4]
        bn, b1, b2, bs = batch[1], batch[5], batch[6], batch[4]
        for x in range(nq):
            j = x * cap + r
            if full:
                bn[j], b1[j], b2[j], bs[j] = sn[x], s1[x], s2[x], ss[x]
            else:
                bn[j], b1[j], b2[j], bs[j] = _merge(sn[x], s1[x], s2[x], ss[x],
                                                    pn[x], p1[x], p2[x], ps[x])
    elif need_count:
        _into_batch(batch[1], r, cap, ring[1, s0], pref[1], nq, -1 if full else _SUM)
    if need_mx:
        _into_batch(batch[2], r, cap, ring[2, s0], pref[2], nq, -1 if full else _MAX)
    if need_mn:
        _into_batch(batch[3], r, cap, ring[3, s0], pref[3], nq, -1 if full else _MIN)


@njit(nogil=True, cache=True)
def _emit_batch(stats, out, b, y_first, rows, cap, x0, ws, nq, ww, a, w_box, plain,
                need_sum, need_count, need_var, need_mx, need_mn, bufs):
    """Horizontal pass of a batch of output rows, then each row finished into ``out``."""
    batch, hout, tmp, accs = bufs.batch, bufs.hout, bufs.tmp, bufs.accs
    if need_sum:
        _hbox(batch[0], hout[0], tmp[0], tmp[1], nq, ws, ww, a, cap, _SUM)
    if need_var:
        _hbox_var(batch[1], batch[5], batch[6], batch[4], hout[1], hout[6], hout[3], hout[7],
                  tmp, nq, ws, ww, a, cap)
    elif need_count:
        _hbox(batch[1], hout[1], tmp[0], tmp[1], nq, ws, ww, a, cap, _SUM)
    if need_mx:
        _hbox(batch[2], hout[4], tmp[0], tmp[1], nq, ws, ww, a, cap, _MAX)
    if need_mn:
        _hbox(batch[3], hout[5], tmp[0], tmp[1], nq, ws, ww, a, cap, _MIN)
    for r in range(rows):
        y = y_first + r
        acc = accs[r]
        if need_sum:
            _from_batch(hout[0], r, cap, acc[0], ws)
        if plain:
            orow = out[0, b, y, x0:x0 + ws]
            a0 = acc[0]
            for x in range(ws):
                orow[x] = w_box * a0[x]
            continue
        if need_var:
            for c in (1, 3, 6, 7):
                _from_batch(hout[c], r, cap, acc[c], ws)
        elif need_count:
            _from_batch(hout[1], r, cap, acc[1], ws)
        if need_mx:
            _from_batch(hout[4], r, cap, acc[4], ws)
        if need_mn:
            _from_batch(hout[5], r, cap, acc[5], ws)
        if need_sum and w_box != 1.0:
            a0 = acc[0]
            for x in range(ws):
                a0[x] *= w_box
        if stats.need_wv:
            an, aw = acc[1], acc[2]
            for x in range(ws):
                aw[x] = w_box * an[x]
        _finish(stats.codes, out, b, y, x0, ws, acc, stats.threshold, stats.wtotal,
                stats.ntaps, stats.wcancel)


#: A thread's buffers: the ring of two blocks of rows per channel, the running prefix of
#: each channel, the gathered row, a batch of vertical windows per channel, their
#: horizontal results, scratch rows and the accumulator rows of each row of a batch.
Buffers = namedtuple("Buffers", "ring pref p batch hout tmp accs")

#: Output rows a batch holds: the horizontal pass vectorises over them.
BATCH = 16


@njit(nogil=True, cache=True)
def _buffers(plain, strip, hh, ww):
    width = strip + ww - 1
    nchan = 1 if plain else 7
    return Buffers(np.zeros((nchan, 2 * hh, width), dtype=np.float64),
                   np.zeros((nchan, width), dtype=np.float64),
                   np.zeros(width, dtype=np.float64),
                   np.zeros((nchan, BATCH * width), dtype=np.float64),
                   np.zeros((8, BATCH * width), dtype=np.float64),
                   np.zeros((8, BATCH * width), dtype=np.float64),
                   np.zeros((BATCH, 8, strip), dtype=np.float64))


@njit(nogil=True, cache=True)
def reduce(src, plan, stats, where, tasks, task0, task1):
    """Tasks ``task0 .. task1 - 1`` of a box plan in this thread.

    ``src`` a :data:`.sweep.Source`, ``plan`` a box plan's ``Plan.arrays()`` (its weight in
    ``run_w[0]``), ``stats`` a :data:`.masked.ReductionArgs`, ``where`` from
    :func:`box_geometry` and ``tasks`` a :data:`.sweep.Tasks` whose output is ``(statistics,
    slices, rows, cols)`` (one statistic, the correlation, when ``plain``).
    """
    out, band, strip = tasks.out, tasks.band, tasks.strip
    _, nb, ho, wo = out.shape
    nbands = (ho + band - 1) // band
    nstrips = (wo + strip - 1) // strip
    bufs = _buffers(where[6] != 0, strip, where[2], where[3])
    w_box = plan.run_w[0]
    for task in range(task0, task1):
        b, y0, y1, x0, x1 = _task_bounds(task, nbands, nstrips, band, strip, ho, wo)
        _task(src, stats, where, w_box, out, b, y0, y1, x0, x1, bufs)
