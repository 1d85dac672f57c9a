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
and the horizontal pass runs on that one row per output. For sums and counts it is a
*tree of power-of-four window sums* (:func:`_hsum`: whole-row vectorised passes, each term
a sum of the window's own cells, so the properties below hold for it too); for extremes
and the variance's partials, the block scans along the row (scalar, four blocks side by
side so that their chains overlap). Counts of valid taps are kept only from the first row
of a task that reads NaN: until then every window counts all of its taps, which is exact,
and the source is read once. When only sums are needed (correlate, ``sum``, ``mean``,
``count``), :func:`_task_sums` gathers each core row straight into its ring row and its
block's prefix in one pass.

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

from .masked.channels import _fold_extreme, _reads_nan
from .masked.combine import _run_terms
from .._contract import Stat
from .masked.finish import _finish
from .sweep import _gather, _task_bounds

__all__ = ["reduce", "box_geometry"]

_SUM, _MAX, _MIN = 0, 1, 2
_MEAN_CODE = int(Stat.MEAN)  # a plain int: numba freezes module globals


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
    else:
        _fold_extreme(dst, src, n, op == _MAX)  # the extremes' one loop (masked/channels)


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


# --- horizontal pass: block prefix / suffix scans of one row -------------------------------
# Blocks along x are aligned to the global array: they start where ``x % w == a``. A prefix
# or suffix is a chain of dependent operations, so four blocks are scanned side by side:
# four independent chains keep the adds (or comparisons) in flight.


@njit(nogil=True, cache=True)
def _op(u, v, op):
    """u (+ | max | min) v."""
    if op == _SUM:
        return u + v
    if op == _MAX:
        return u if u > v else v
    return u if u < v else v


@njit(nogil=True, cache=True)
def _prefixes(v, pre, nq, w, a, op):
    """pre[j] = v[block start .. j] folded, for every j >= a (blocks of w from a)."""
    nfull = (nq - a) // w
    k = 0
    while k + 4 <= nfull:
        b0 = a + k * w
        b1, b2, b3 = b0 + w, b0 + 2 * w, b0 + 3 * w
        c0, c1, c2, c3 = v[b0], v[b1], v[b2], v[b3]
        pre[b0], pre[b1], pre[b2], pre[b3] = c0, c1, c2, c3
        for i in range(1, w):
            c0 = _op(c0, v[b0 + i], op)
            c1 = _op(c1, v[b1 + i], op)
            c2 = _op(c2, v[b2 + i], op)
            c3 = _op(c3, v[b3 + i], op)
            pre[b0 + i], pre[b1 + i], pre[b2 + i], pre[b3 + i] = c0, c1, c2, c3
        k += 4
    start = a + k * w
    while start < nq:
        c = v[start]
        pre[start] = c
        for j in range(start + 1, min(start + w, nq)):
            c = _op(c, v[j], op)
            pre[j] = c
        start += w


@njit(nogil=True, cache=True)
def _windows_from(v, pre, dst, ws, w, a, op):
    """dst[x] = v[x .. x + w - 1] folded, x < ws: each block's suffix (scanned from its
    end) joined with the prefix at x + w - 1 (in the next block); a window that starts a
    block is that block's suffix. ``pre`` from :func:`_prefixes`."""
    # The block before a (it starts before 0): its suffixes from a - 1 down to 0.
    if a > 0:
        c = v[a - 1]
        if a - 1 < ws:
            dst[a - 1] = _op(c, pre[a - 1 + w - 1], op)
        for x in range(a - 2, -1, -1):
            c = _op(v[x], c, op)
            if x < ws:
                dst[x] = _op(c, pre[x + w - 1], op)
    # Whole blocks: four side by side while all their cells are outputs (x < ws).
    k = 0
    nout = (ws - a) // w if ws > a else 0  # blocks wholly inside 0 .. ws - 1
    while k + 4 <= nout:
        b0 = a + k * w
        b1, b2, b3 = b0 + w, b0 + 2 * w, b0 + 3 * w
        e = w - 1
        c0, c1, c2, c3 = v[b0 + e], v[b1 + e], v[b2 + e], v[b3 + e]
        for i in range(w - 1, 0, -1):
            if i < w - 1:
                c0 = _op(v[b0 + i], c0, op)
                c1 = _op(v[b1 + i], c1, op)
                c2 = _op(v[b2 + i], c2, op)
                c3 = _op(v[b3 + i], c3, op)
            t = i + w - 1
            dst[b0 + i] = _op(c0, pre[b0 + t], op)
            dst[b1 + i] = _op(c1, pre[b1 + t], op)
            dst[b2 + i] = _op(c2, pre[b2 + t], op)
            dst[b3 + i] = _op(c3, pre[b3 + t], op)
        if w > 1:
            c0 = _op(v[b0], c0, op)
            c1 = _op(v[b1], c1, op)
            c2 = _op(v[b2], c2, op)
            c3 = _op(v[b3], c3, op)
        dst[b0], dst[b1], dst[b2], dst[b3] = c0, c1, c2, c3
        k += 4
    start = a + k * w
    while start < ws:
        end = start + w - 1  # <= nq - 1: the block holding ws - 1 ends inside the row
        c = v[end]
        for x in range(end, start, -1):
            if x < end:
                c = _op(v[x], c, op)
            if x < ws:
                dst[x] = _op(c, pre[x + w - 1], op)
        if w > 1:
            c = _op(v[start], c, op)
        dst[start] = c
        start += w


@njit(nogil=True, cache=True)
def _hbox(v, dst, pre, nq, ws, w, a, op):
    """dst[x] = v[x .. x + w - 1] folded, x < ws, from block prefixes and suffixes."""
    _prefixes(v, pre, nq, w, a, op)
    _windows_from(v, pre, dst, ws, w, a, op)


# --- horizontal sums: a tree of power-of-four window sums (vectorised) -----------------
# The prefix / suffix scans above are chains of dependent scalar operations; a sum has a
# second way made only of whole-row, vectorised passes. Level k holds the sums of 4**k
# adjacent cells, ``L_k[x] = L_{k-1}[x] + L_{k-1}[x + d] + L_{k-1}[x + 2d] + L_{k-1}[x + 3d]``
# (d = 4**(k - 1)), and a window of w cells is the sum of the terms of w's base-4 digits
# laid end to end: ``c_k`` sums of level k for digit ``c_k``. Every term is a sum of cells
# of the window itself (as with the block scans, nothing is subtracted, so nothing from
# outside the window can leave a residue), and the tree's shape depends only on w, not on
# where a strip or a dask chunk starts. A window costs log4(w) level passes of four loads
# plus one pass over its few terms.


@njit(nogil=True, cache=True)
def _levels(ww):
    """Number of levels above the row itself: the k >= 1 with 4**k <= ww."""
    k, d = 0, 4
    while d <= ww:
        k += 1
        d *= 4
    return k


@njit(nogil=True, cache=True)
def _add_terms(dst, lev, ws, n, k0, o0, k1, o1, k2, o2, k3, o3, first, scale):
    """dst[x] (= | +=) the sum of n <= 4 terms lev[k_i, x + o_i], times ``scale``."""
    t0 = lev[k0, o0:o0 + ws]
    t1 = lev[k1, o1:o1 + ws]
    t2 = lev[k2, o2:o2 + ws]
    t3 = lev[k3, o3:o3 + ws]
    if n == 1:
        if first:
            for x in range(ws):
                dst[x] = t0[x] * scale
        else:
            for x in range(ws):
                dst[x] = (dst[x] + t0[x]) * scale
    elif n == 2:
        if first:
            for x in range(ws):
                dst[x] = (t0[x] + t1[x]) * scale
        else:
            for x in range(ws):
                dst[x] = (dst[x] + (t0[x] + t1[x])) * scale
    elif n == 3:
        if first:
            for x in range(ws):
                dst[x] = ((t0[x] + t1[x]) + t2[x]) * scale
        else:
            for x in range(ws):
                dst[x] = (dst[x] + ((t0[x] + t1[x]) + t2[x])) * scale
    else:
        if first:
            for x in range(ws):
                dst[x] = ((t0[x] + t1[x]) + (t2[x] + t3[x])) * scale
        else:
            for x in range(ws):
                dst[x] = (dst[x] + ((t0[x] + t1[x]) + (t2[x] + t3[x]))) * scale


@njit(nogil=True, cache=True)
def _hsum(lev, dst, ws, w, scale):
    """dst[x] = scale * (lev[0, x] + ... + lev[0, x + w - 1]), x < ws.

    ``lev[0]`` holds the row (at least ``ws + w - 1`` cells); the levels of the tree are
    built in ``lev[1:]`` (:func:`_levels` rows), then :func:`tree_terms` adds them.
    """
    tree_levels(lev, ws + w - 1, w, 0)
    tree_terms(lev, dst, ws, w, scale)


@njit(nogil=True, cache=True)
def tree_levels(lev, n, w, built):
    """Levels ``built + 1 ..`` of the tree of a row of ``n`` cells in ``lev[0]``, up to the
    largest ``4**k <= w``: ``lev[k][x]`` is the sum of the ``4**k`` cells from ``x``, for
    ``x <= n - 4**k``. Returns the levels built; the levels of a row serve every window
    length of it (the geodesic sweeps ask for several).
    """
    d = 4 ** built
    k = built
    while 4 * d <= w:
        m = n - 4 * d + 1
        src = lev[k]
        nxt = lev[k + 1, :m]
        a0 = src[:m]
        a1 = src[d:d + m]
        a2 = src[2 * d:2 * d + m]
        a3 = src[3 * d:3 * d + m]
        for x in range(m):
            nxt[x] = (a0[x] + a1[x]) + (a2[x] + a3[x])
        k += 1
        d *= 4
    return k


@njit(nogil=True, cache=True)
def tree_terms(lev, dst, ws, w, scale):
    """dst[x] = scale * (the window of ``w`` cells from x), x < ws, from the levels of
    :func:`tree_levels`: the terms of ``w``'s base-4 digits, in groups of up to four per
    pass, lowest level first; ``scale`` multiplies the finished sum only (the passes before
    the last one carry 1.0, an exact product).
    """
    # How many terms in all (to know which group is the last, the one that scales).
    total = 0
    rest = w
    while rest:
        total += rest % 4
        rest //= 4
    n = 0
    done = 0
    first = True
    k0 = o0 = k1 = o1 = k2 = o2 = k3 = o3 = 0
    off = 0
    d = 1
    k = 0
    rest = w
    while rest:
        for _ in range(rest % 4):
            if n == 0:
                k0, o0 = k, off
            elif n == 1:
                k1, o1 = k, off
            elif n == 2:
                k2, o2 = k, off
            else:
                k3, o3 = k, off
            n += 1
            off += d
            if n == 4 or done + n == total:
                done += n
                _add_terms(dst, lev, ws, n, k0, o0, k1, o1, k2, o2, k3, o3, first,
                           scale if done == total else 1.0)
                first = False
                n = 0
        rest //= 4
        d *= 4
        k += 1


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
def _hbox_var(vn, v1, v2, vs, dn, d1, d2, ds, tmp, nq, ws, w, a):
    """:func:`_hbox` for variance partials (count, deviations, squares, shift) of one row.

    ``tmp`` holds the four prefix rows. Whole blocks go four side by side (independent
    chains of joins), the others one by one.
    """
    pn, p1, p2, ps = tmp[0], tmp[1], tmp[2], tmp[3]
    nfull = (nq - a) // w
    k = 0
    while k + 4 <= nfull:
        j0 = a + k * w
        j1, j2, j3 = j0 + w, j0 + 2 * w, j0 + 3 * w
        an, a1, a2, as_ = vn[j0], v1[j0], v2[j0], vs[j0]
        bn, b1, b2, bs = vn[j1], v1[j1], v2[j1], vs[j1]
        cn, c1, c2, cs = vn[j2], v1[j2], v2[j2], vs[j2]
        en, e1, e2, es = vn[j3], v1[j3], v2[j3], vs[j3]
        for i in range(w):
            if i > 0:
                an, a1, a2, as_ = _merge(an, a1, a2, as_, vn[j0], v1[j0], v2[j0], vs[j0])
                bn, b1, b2, bs = _merge(bn, b1, b2, bs, vn[j1], v1[j1], v2[j1], vs[j1])
                cn, c1, c2, cs = _merge(cn, c1, c2, cs, vn[j2], v1[j2], v2[j2], vs[j2])
                en, e1, e2, es = _merge(en, e1, e2, es, vn[j3], v1[j3], v2[j3], vs[j3])
            pn[j0], p1[j0], p2[j0], ps[j0] = an, a1, a2, as_
            pn[j1], p1[j1], p2[j1], ps[j1] = bn, b1, b2, bs
            pn[j2], p1[j2], p2[j2], ps[j2] = cn, c1, c2, cs
            pn[j3], p1[j3], p2[j3], ps[j3] = en, e1, e2, es
            j0, j1, j2, j3 = j0 + 1, j1 + 1, j2 + 1, j3 + 1
        k += 4
    start = a + k * w
    while start < nq:
        cn, c1, c2, cs = vn[start], v1[start], v2[start], vs[start]
        pn[start], p1[start], p2[start], ps[start] = cn, c1, c2, cs
        for j in range(start + 1, min(start + w, nq)):
            cn, c1, c2, cs = _merge(cn, c1, c2, cs, vn[j], v1[j], v2[j], vs[j])
            pn[j], p1[j], p2[j], ps[j] = cn, c1, c2, cs
        start += w
    # Suffixes from each block's end, joined with the prefix at x + w - 1.
    if a > 0:
        _suffix_windows_var(vn, v1, v2, vs, pn, p1, p2, ps, dn, d1, d2, ds, a - w, ws, w)
    nout = (ws - a) // w if ws > a else 0  # whole blocks of outputs
    k = 0
    while k + 4 <= nout:
        j0 = a + k * w + w - 1
        j1, j2, j3 = j0 + w, j0 + 2 * w, j0 + 3 * w
        an, a1, a2, as_ = vn[j0], v1[j0], v2[j0], vs[j0]
        bn, b1, b2, bs = vn[j1], v1[j1], v2[j1], vs[j1]
        cn, c1, c2, cs = vn[j2], v1[j2], v2[j2], vs[j2]
        en, e1, e2, es = vn[j3], v1[j3], v2[j3], vs[j3]
        for i in range(w - 1, -1, -1):
            if i < w - 1:
                an, a1, a2, as_ = _merge(vn[j0], v1[j0], v2[j0], vs[j0], an, a1, a2, as_)
                bn, b1, b2, bs = _merge(vn[j1], v1[j1], v2[j1], vs[j1], bn, b1, b2, bs)
                cn, c1, c2, cs = _merge(vn[j2], v1[j2], v2[j2], vs[j2], cn, c1, c2, cs)
                en, e1, e2, es = _merge(vn[j3], v1[j3], v2[j3], vs[j3], en, e1, e2, es)
            if i == 0:
                dn[j0], d1[j0], d2[j0], ds[j0] = an, a1, a2, as_
                dn[j1], d1[j1], d2[j1], ds[j1] = bn, b1, b2, bs
                dn[j2], d1[j2], d2[j2], ds[j2] = cn, c1, c2, cs
                dn[j3], d1[j3], d2[j3], ds[j3] = en, e1, e2, es
            else:
                q0, q1, q2, q3 = j0 + w - 1, j1 + w - 1, j2 + w - 1, j3 + w - 1
                dn[j0], d1[j0], d2[j0], ds[j0] = _merge(an, a1, a2, as_,
                                                        pn[q0], p1[q0], p2[q0], ps[q0])
                dn[j1], d1[j1], d2[j1], ds[j1] = _merge(bn, b1, b2, bs,
                                                        pn[q1], p1[q1], p2[q1], ps[q1])
                dn[j2], d1[j2], d2[j2], ds[j2] = _merge(cn, c1, c2, cs,
                                                        pn[q2], p1[q2], p2[q2], ps[q2])
                dn[j3], d1[j3], d2[j3], ds[j3] = _merge(en, e1, e2, es,
                                                        pn[q3], p1[q3], p2[q3], ps[q3])
            j0, j1, j2, j3 = j0 - 1, j1 - 1, j2 - 1, j3 - 1
        k += 4
    start = a + k * w
    while start < ws:
        _suffix_windows_var(vn, v1, v2, vs, pn, p1, p2, ps, dn, d1, d2, ds, start, ws, w)
        start += w


@njit(nogil=True, cache=True)
def _suffix_windows_var(vn, v1, v2, vs, pn, p1, p2, ps, dn, d1, d2, ds, start, ws, w):
    """The windows of one block starting at ``start`` (maybe before 0): its suffixes from
    its end, joined with the prefixes at x + w - 1; outputs x in 0 .. ws - 1 only."""
    end = start + w - 1
    cn, c1, c2, cs = vn[end], v1[end], v2[end], vs[end]
    for x in range(end, max(start, 0) - 1, -1):
        if x < end:
            cn, c1, c2, cs = _merge(vn[x], v1[x], v2[x], vs[x], cn, c1, c2, cs)
        if x < ws:
            if x == start:
                dn[x], d1[x], d2[x], ds[x] = cn, c1, c2, cs
            else:
                e = x + w - 1
                dn[x], d1[x], d2[x], ds[x] = _merge(cn, c1, c2, cs, pn[e], p1[e], p2[e], ps[e])


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
    # Channels (rows of ring, pref, vrow): 0 values, 1 count, 2 max, 3 min, 4 shift,
    # 5 deviations, 6 squares.
    nring = ring.shape[1]
    ws = x1 - x0
    nq = ws + ww - 1
    a = (-(gx + x0 + ox)) % ww  # first block start along x (blocks aligned globally)
    t_first = y0 + oy
    t_last = y1 + oy + hh - 1  # exclusive
    # Counts are kept only from the first row that reads NaN: until then every window
    # counts all of its taps (exact either way), and the source is read once.
    late_count = need_count and not need_var
    if late_count:
        need_count = False
        acc = bufs.accs[1]
        for x in range(ws):
            acc[x] = float(hh * ww)
    for t in range(t_first, t_last):
        g = gy + t
        slot = g % nring
        pos = g % hh
        _gather(srcs, b, ymap[t], xmaps, xb, fill, x0 + ox, p, nq)
        if late_count and not need_count and _reads_nan(p, nq):
            need_count = True
            _start_counts(ring, pref, t, t_first, gy, hh, nq)
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
        _emit_row(stats, out, b, start - oy, x0, ws, nq, ww, a, w_box, plain, need_sum,
                  need_count, need_var, need_mx, need_mn, full, s0, bufs)


@njit(nogil=True, cache=True)
def _clean_counts(row, crow, n):
    """crow[x] = 1 where row[x] is not NaN, else 0; and NaN in row read as 0, in place."""
    for x in range(n):
        v = row[x]
        ok = v == v
        crow[x] = 1.0 if ok else 0.0
        row[x] = v if ok else 0.0


@njit(nogil=True, cache=True)
def _gather_push(srcs, b, sy, xmaps, xb, fill, x0, row, pre, first, n):
    """:func:`.sweep._gather` into ``row`` and its running prefix ``pre`` (``=`` on a
    block's first row, else ``+=``) in the same pass over a core row; returns whether
    the row read NaN or inf (``pre`` then holds them too: the caller rebuilds it)."""
    if sy < 0:
        # Outside or a cap row (the ends of a band): the plain way.
        _gather(srcs, b, sy, xmaps, xb, fill, x0, row, n)
        bad = _reads_nan(row, n)
        _push(row, pre, first, n, _SUM)
        return bad
    core, side = srcs[0], srcs[1]
    src = core[b, sy]
    srow = side[b, sy]
    xmap = xmaps[0]
    lo = min(max(xb[0, 0] - x0, 0), n)
    hi = max(min(xb[0, 1] - x0, n), lo)
    for j in range(lo):
        sx = xmap[x0 + j]
        row[j] = src[sx] if sx >= 0 else (fill if sx == -1 else srow[-2 - sx])
    for j in range(hi, n):
        sx = xmap[x0 + j]
        row[j] = src[sx] if sx >= 0 else (fill if sx == -1 else srow[-2 - sx])
    off = x0 + xb[0, 2]
    seg = src[lo + off:hi + off]
    dst = row[lo:hi]
    pr = pre[lo:hi]
    bad = 0
    if first:
        for j in range(hi - lo):
            v = seg[j]
            dst[j] = v
            pr[j] = v
            bad += 0 if v - v == 0.0 else 1
        for j in range(lo):
            pre[j] = row[j]
        for j in range(hi, n):
            pre[j] = row[j]
    else:
        for j in range(hi - lo):
            v = seg[j]
            dst[j] = v
            pr[j] += v
            bad += 0 if v - v == 0.0 else 1
        for j in range(lo):
            pre[j] += row[j]
        for j in range(hi, n):
            pre[j] += row[j]
    if bad == 0 and (lo > 0 or hi < n):
        return _reads_nan(row[:lo], lo) or _reads_nan(row[hi:], n - hi)
    return bad != 0


@njit(nogil=True, cache=True)
def _rebuild_prefix(ring, pre, lo, t, gy, n):
    """pre = the sum of ring rows lo .. t (their block's prefix, rebuilt after row t's
    NaN reached it)."""
    nring = ring.shape[1]
    first = ring[0, (gy + lo) % nring]
    for x in range(n):
        pre[x] = first[x]
    for r in range(lo + 1, t + 1):
        _fold(pre, ring[0, (gy + r) % nring], n, _SUM)


@njit(nogil=True, cache=True)
def _task_sums(src, stats, where, w_box, out, b, y0, y1, x0, x1, bufs):
    """:func:`_task` when only sums are needed (correlate, sum, mean, count): each source
    row is gathered straight into its ring row, and its NaN (read as 0) and count row are
    made there, only once the task has read a NaN or an inf."""
    srcs, ymap, xmaps, xb, fill = src.srcs, src.ymap, src.xmaps, src.xb, src.fill
    ring, pref = bufs.ring, bufs.pref
    oy, ox, hh, ww, gy, gx, plain = (where[0], where[1], where[2], where[3], where[4],
                                     where[5], where[6] != 0)
    nring = ring.shape[1]
    ws = x1 - x0
    nq = ws + ww - 1
    a = (-(gx + x0 + ox)) % ww
    t_first = y0 + oy
    t_last = y1 + oy + hh - 1  # exclusive
    count_on = False
    if not plain:
        acc = bufs.accs[1]
        for x in range(ws):
            acc[x] = float(hh * ww)
    for t in range(t_first, t_last):
        g = gy + t
        slot = g % nring
        pos = g % hh
        row = ring[0, slot]
        first = pos == 0 or t == t_first
        if plain:
            _gather(srcs, b, ymap[t], xmaps, xb, fill, x0 + ox, row, nq)
            _push(row, pref[0], first, nq, _SUM)
        elif count_on:
            _gather(srcs, b, ymap[t], xmaps, xb, fill, x0 + ox, row, nq)
            _clean_counts(row, ring[1, slot], nq)
            _push(row, pref[0], first, nq, _SUM)
            _push(ring[1, slot], pref[1], first, nq, _SUM)
        elif _gather_push(srcs, b, ymap[t], xmaps, xb, fill, x0 + ox, row, pref[0], first,
                          nq):
            # The task's first NaN (or inf): counts from here on, and this block's value
            # prefix again without the NaN.
            count_on = True
            _start_counts(ring, pref, t, t_first, gy, hh, nq)
            _clean_counts(row, ring[1, slot], nq)
            _rebuild_prefix(ring, pref[0], t if first else max(t - pos, t_first), t, gy, nq)
            _push(ring[1, slot], pref[1], first, nq, _SUM)
        if pos == hh - 1:
            lo = max(t - hh + 1, t_first)
            for r in range(t - 1, lo - 1, -1):
                cur = (gy + r) % nring
                nxt = (gy + r + 1) % nring
                _fold(ring[0, cur], ring[0, nxt], nq, _SUM)
                if count_on:
                    _fold(ring[1, cur], ring[1, nxt], nq, _SUM)
        start = t - hh + 1
        if start < t_first:
            continue
        s0 = (gy + start) % nring
        full = (gy + start) % hh == 0
        _emit_row(stats, out, b, start - oy, x0, ws, nq, ww, a, w_box, plain, True,
                  count_on, False, False, False, full, s0, bufs)


@njit(nogil=True, cache=True)
def _start_counts(ring, pref, t, t_first, gy, hh, n):
    """Count channel rows as they would be had it been kept before row t (no NaN before).

    Rows of t's block so far count 1 each (raw) and make its prefix; rows of the block
    before are suffixes already: the rows from there to that block's end.
    """
    nring = ring.shape[1]
    g = gy + t
    bstart = t - g % hh
    for r in range(max(t_first, bstart - hh), t):
        row = ring[1, (gy + r) % nring]
        c = 1.0 if r >= bstart else float(bstart - r)
        for x in range(n):
            row[x] = c
    rows = float(t - max(bstart, t_first))
    pre = pref[1]
    for x in range(n):
        pre[x] = rows


@njit(nogil=True, cache=True)
def _push(row, pre, first, n, op):
    if first:
        for x in range(n):
            pre[x] = row[x]
    else:
        _fold(pre, row, n, op)


@njit(nogil=True, cache=True)
def _vertical(ring, c, s0, pref, vrow, full, n, op):
    """vrow[c] = the vertical window of channel c: the suffix at ring row s0 joined with
    the running prefix (the suffix alone where the window starts a block)."""
    _join(vrow[c], ring[c, s0], pref[c], n, -1 if full else op)


@njit(nogil=True, cache=True)
def _emit_row(stats, out, b, y, x0, ws, nq, ww, a, w_box, plain, need_sum, need_count,
              need_var, need_mx, need_mn, full, s0, bufs):
    """Output row y: vertical windows of each channel, their horizontal windows, finished."""
    ring, pref, vrow, tmp, accs = bufs.ring, bufs.pref, bufs.vrow, bufs.tmp, bufs.accs
    lev = bufs.lev
    if need_sum:
        _join(lev[0], ring[0, s0], pref[0], nq, -1 if full else _SUM)
        mean_only = (not need_count and not need_var and not need_mx and not need_mn
                     and stats.codes.shape[0] == 1 and stats.codes[0] == _MEAN_CODE)
        if plain or mean_only:
            # Every window is full: the sum (times the box's weight) or the mean (the sum
            # times 1 / ntaps, as _finish_box makes it) straight into the output row. Only
            # a float64 row: _hsum keeps partial sums in the row it writes, and float32
            # partials would round differently from the float64 sums of the tasks that
            # have read a NaN (found in review: a NaN elsewhere, or the chunking, changed
            # the last bit).
            scale = w_box if plain else 1.0 / stats.ntaps
            row = out[0, b, y, x0:x0 + ws]
            if out.itemsize == 8:
                _hsum(lev, row, ws, ww, scale)
            else:
                _hsum(lev, accs[0], ws, ww, scale)
                for x in range(ws):
                    row[x] = accs[0][x]
            return
        _hsum(lev, accs[0], ws, ww, 1.0)
    if need_var:
        sn, s1, s2, ss = ring[1, s0], ring[5, s0], ring[6, s0], ring[4, s0]
        pn, p1, p2, ps = pref[1], pref[5], pref[6], pref[4]
        vn, v1, v2, vs = vrow[1], vrow[5], vrow[6], vrow[4]
        if full:
            for x in range(nq):
                vn[x], v1[x], v2[x], vs[x] = sn[x], s1[x], s2[x], ss[x]
        else:
            for x in range(nq):
                vn[x], v1[x], v2[x], vs[x] = _merge(sn[x], s1[x], s2[x], ss[x],
                                                    pn[x], p1[x], p2[x], ps[x])
        _hbox_var(vn, v1, v2, vs, accs[1], accs[6], accs[3], accs[7], tmp, nq, ws, ww, a)
    elif need_count:
        _join(lev[0], ring[1, s0], pref[1], nq, -1 if full else _SUM)
        _hsum(lev, accs[1], ws, ww, 1.0)
    if need_mx:
        _vertical(ring, 2, s0, pref, vrow, full, nq, _MAX)
        _hbox(vrow[2], accs[4], tmp[0], nq, ws, ww, a, _MAX)
    if need_mn:
        _vertical(ring, 3, s0, pref, vrow, full, nq, _MIN)
        _hbox(vrow[3], accs[5], tmp[0], nq, ws, ww, a, _MIN)
    if need_sum and w_box != 1.0:
        a0 = accs[0]
        for x in range(ws):
            a0[x] *= w_box
    if stats.need_wv:
        an, aw = accs[1], accs[2]
        for x in range(ws):
            aw[x] = w_box * an[x]
    _finish_box(stats, out, b, y, x0, ws, accs, need_count or need_var)


@njit(nogil=True, cache=True)
def _finish_box(stats, out, b, y, x0, ws, accs, counted):
    """:func:`.masked.finish._finish`, but the mean of a full window is its sum times
    ``1 / ntaps``: a vectorised division costs as much as the whole box sum.

    Where counts are not kept (no NaN read yet) every window is full; where they are,
    full windows take the same product, so a cell's bits do not depend on whether its
    task has read a NaN elsewhere (dask chunks equal numpy to the bit).
    """
    codes = stats.codes
    ntaps = stats.ntaps
    inv = 1.0 / ntaps
    for s in range(codes.shape[0]):
        if codes[s] != _MEAN_CODE:
            _finish(codes[s:s + 1], out[s:s + 1], b, y, x0, ws, accs, stats.threshold,
                    stats.wtotal, ntaps, stats.wcancel)
            continue
        orow = out[s, b, y, x0:x0 + ws]
        a0 = accs[0]
        if not counted:
            for x in range(ws):
                orow[x] = a0[x] * inv
            continue
        an = accs[1]
        threshold = stats.threshold
        for x in range(ws):
            n = an[x]
            part = a0[x] / n if (n >= threshold) & (n != 0.0) else np.nan
            orow[x] = a0[x] * inv if n == ntaps else part


#: A thread's buffers: the ring of two blocks of rows per channel, the running prefix of
#: each channel, the gathered row, the vertical windows of one output row per channel,
#: scratch rows (the horizontal prefixes) and the accumulator rows of an output row.
Buffers = namedtuple("Buffers", "ring pref p vrow tmp accs lev")


@njit(nogil=True, cache=True)
def _buffers(plain, sums_only, strip, hh, ww):
    width = strip + ww - 1
    # Channels: the values (plain), and the counts (sums only), or all seven; the ring of
    # each is two blocks of rows, allocated per call.
    nchan = 1 if plain else (2 if sums_only else 7)
    return Buffers(np.zeros((nchan, 2 * hh, width), dtype=np.float64),
                   np.zeros((nchan, width), dtype=np.float64),
                   np.zeros(width, dtype=np.float64),
                   np.zeros((nchan, width), dtype=np.float64),
                   np.zeros((4, width), dtype=np.float64),
                   np.zeros((8, strip), dtype=np.float64),
                   np.zeros((1 + _levels(ww), width), dtype=np.float64))


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
    w_box = plan.run_w[0]
    sums_only = where[6] != 0 or not (stats.need_var or stats.need_mx or stats.need_mn)
    bufs = _buffers(where[6] != 0, sums_only, strip, where[2], where[3])
    for task in range(task0, task1):
        b, y0, y1, x0, x1 = _task_bounds(task, nbands, nstrips, band, strip, ho, wo)
        if sums_only:
            _task_sums(src, stats, where, w_box, out, b, y0, y1, x0, x1, bufs)
        else:
            _task(src, stats, where, w_box, out, b, y0, y1, x0, x1, bufs)
