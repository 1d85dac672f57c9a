"""Jitted sweeps for kernels whose footprint differs per output row (geodesic footprints).

On a latitude/longitude grid a disc of fixed radius in metres covers more longitude cells
the nearer it is to a pole, so every output row has its own table of runs (one run per
kernel row for a disc). The drivers here take that per-row table -- runs ``rptr[y] ..
rptr[y + 1]`` of the flat arrays ``rdy, rdx, rlen, rw`` for tile-local output row ``y``,
with ``rdy``/``rdx`` in the tile's padded coordinates (``0 .. 2 RY``, ``0 .. 2 RX``, the
largest reach of any row) -- and share everything else with :mod:`.sweep`: the gather of
a source row through the tile's index maps (every boundary mode, every dask chunk) and
the eight-runs-a-pass combine.

``channel_sums``
    Window sums for every run length that some output row needs from a source row
    (``lens[lptr[t] : lptr[t + 1]]`` for padded source row ``t``, over the columns
    ``plo[t] .. phi[t]`` that are read): short lengths grow from the next shorter one (a
    few adds), long ones the terms of the length's base-4 digits from a tree of sums of
    ``4**k`` cells built once per row -- a few vectorised passes for any length, in an
    order that depends on the length alone, not on the tile. Both only ever add
    values *inside* the window, so NaN and inf behave as in the direct sum and the
    rounding is that of a sum of at most ``L`` terms per run (no running-sum subtraction,
    so no cancellation after an outlier leaves the window). Channels: the raw values
    (weighted sums that propagate NaN), or NaN-aware ``a * x`` over valid cells, ``a``
    over valid cells and the valid count, with ``a`` a per-row area weight.
``direct_moments``
    One pass over every tap of each output cell: count, weight, shifted weighted first and
    second moments about the window's first valid value (a shift local to the window,
    as the result contract asks), minimum and maximum. Costs one step per tap.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .box import tree_levels, tree_terms
from .sweep import _combine, _gather

__all__ = ["channel_sums", "direct_moments", "MOMENTS"]

#: Outputs of :func:`direct_moments`, in order.
MOMENTS = ("count", "weight", "shift", "dsum", "d2sum", "min", "max", "taps")


@njit(nogil=True, cache=True)
def _grow(buf, s, prev, length, lo, m):
    """buf[s + 1][lo + x] = sum of buf[0][lo + x : lo + x + length] from buf[s] (length ``prev``).

    Up to four new columns a pass, as :func:`.sweep._window_sums` does; the views are
    pre-sliced so the loops index by the loop counter alone and vectorise.
    """
    p = buf[0]
    dst = buf[s + 1, lo:lo + m]
    base = buf[s, lo:lo + m]
    j = prev
    while j < length:
        step = min(4, length - j)
        pa = p[lo + j:lo + j + m]
        if step == 4:
            pb = p[lo + j + 1:lo + j + 1 + m]
            pc = p[lo + j + 2:lo + j + 2 + m]
            pd = p[lo + j + 3:lo + j + 3 + m]
            for x in range(m):
                dst[x] = base[x] + ((pa[x] + pb[x]) + (pc[x] + pd[x]))
        elif step == 3:
            pb = p[lo + j + 1:lo + j + 1 + m]
            pc = p[lo + j + 2:lo + j + 2 + m]
            for x in range(m):
                dst[x] = base[x] + ((pa[x] + pb[x]) + pc[x])
        elif step == 2:
            pb = p[lo + j + 1:lo + j + 1 + m]
            for x in range(m):
                dst[x] = base[x] + (pa[x] + pb[x])
        else:
            for x in range(m):
                dst[x] = base[x] + pa[x]
        base = dst
        j += step


#: Length increments up to this many cells grow from the shorter window (about a quarter
#: of a vectorised pass per cell each); longer ones are added from a tree of sums of 4**k
#: cells (:func:`.box.tree_levels`: a few vectorised passes whatever the length). Before the
#: tree they took van Herk's prefix and suffix sums, whose running sums cannot vectorise
#: (about the cost of 24 grown cells, measured on the 2-core dev machine).
GROW_MAX = 24


@njit(nogil=True, cache=True)
def _window_sums(buf, lens, l0, l1, lo, hi, lev):
    prev = 1
    built = -1  # levels of this row's tree made so far (-1: the row not copied yet)
    for s in range(l1 - l0):
        length = lens[l0 + s]
        m = hi - lo - length + 1
        if m > 0:
            if length - prev <= GROW_MAX:
                _grow(buf, s, prev, length, lo, m)
            else:
                if built < 0:
                    row = lev[0, :hi - lo]
                    src = buf[0, lo:hi]
                    for x in range(hi - lo):
                        row[x] = src[x]
                    built = 0
                # The terms of length's base-4 digits from the row's tree of sums of
                # 4**k cells (box.py's, its levels shared by the row's long lengths).
                built = tree_levels(lev, hi - lo, length, built)
                tree_terms(lev, buf[s + 1, lo:], m, length, 1.0)
        prev = length


@njit(nogil=True, cache=True)
def _channels(p, ring, slot, lo, hi, a, nch):
    """NaN-aware channels of gathered row ``p``: a*x and a over valid cells, valid count."""
    v = ring[0, slot, 0]
    w = ring[1, slot, 0]
    for x in range(lo, hi):
        val = p[x]
        if val == val:
            v[x] = a * val
            w[x] = a
        else:
            v[x] = 0.0
            w[x] = 0.0
    if nch == 3:
        c = ring[2, slot, 0]
        for x in range(lo, hi):
            c[x] = 1.0 if p[x] == p[x] else 0.0


@njit(nogil=True, cache=True)
def _finish_row(code, acc, nch, thr, ntaps, wtotal, wcancel, orow):
    """Output row ``orow`` from the channel sums ``acc`` of its cells (see :data:`FINISH`)."""
    value = acc[0]
    wvalid = acc[1] if nch > 1 else acc[0]
    count = acc[nch - 1]
    for x in range(orow.shape[0]):
        if nch == 1:
            orow[x] = value[x]
            continue
        c = count[x]
        if code == 3:
            orow[x] = c
        elif c < thr:
            orow[x] = np.nan
        elif code == 2:
            orow[x] = value[x] / wvalid[x]
        elif code == 4 and c != ntaps:
            w = wvalid[x]
            orow[x] = value[x] * (wtotal / w) if abs(w) > wcancel else np.nan
        else:
            orow[x] = value[x]


@njit(nogil=True, cache=True)
def channel_sums(src, rows, area, nch, fin, out, band, span, task0, task1):
    """Tasks ``task0 .. task1 - 1`` (bands of ``band`` output rows of each slice).

    ``src`` is a :data:`~.sweep.Source`; ``rows`` the per-row tables ``(rptr, rdy, rdx,
    rlen, rw, rslot, lptr, lens, plo, phi)``; ``area`` the weight of each padded source
    row; ``nch`` 1 (raw values) or 2/3 (NaN-aware, see the module docstring); ``fin`` the
    finishing: ``(codes, thr, ntaps, wtotal, wcancel)``, one code per output and the rest
    per output row (see :data:`FINISH`); ``out`` ``(outputs, slices, rows, cols)``;
    ``span`` = 2 RY. Each output row is finished as soon as its sums are complete, while
    they are in cache.
    """
    rptr, rdy, rdx, rlen, rw, rslot, lptr, lens, plo, phi = rows
    codes, thr, ntaps, wtotal, wcancel = fin
    srcs, ymap, xmaps, xb, fill = src.srcs, src.ymap, src.xmaps, src.xb, src.fill
    _, nb, ho, wo = out.shape
    width = xmaps.shape[1]
    nring = span + 1
    maxslots = 1
    for t in range(lptr.shape[0] - 1):
        maxslots = max(maxslots, lptr[t + 1] - lptr[t] + 1)
    # One zero slot after the last: _combine pads its eight-run passes with it (the others
    # are written before they are read; zeroing the whole ring cost a tenth of a call).
    ring = np.empty((nch, nring, maxslots + 1, width), dtype=np.float64)
    ring[:, :, maxslots, :] = 0.0
    p = np.empty(width, dtype=np.float64)
    nlev = 1
    while 4 ** nlev <= width:
        nlev += 1
    lev = np.empty((nlev + 1, width), dtype=np.float64)
    acc = np.empty((nch, wo), dtype=np.float64)
    ones = np.ones(rw.shape[0])  # the valid count (third channel) carries no kernel weights
    nbands = (ho + band - 1) // band
    for task in range(task0, task1):
        b = task // nbands
        y0 = (task - b * nbands) * band
        y1 = min(y0 + band, ho)
        for t in range(y0, y1 + span):
            slot = t % nring
            lo, hi = plo[t], phi[t]
            if hi > lo:
                if nch == 1:
                    _gather(srcs, b, ymap[t], xmaps, xb, fill, lo, ring[0, slot, 0, lo:], hi - lo)
                else:
                    _gather(srcs, b, ymap[t], xmaps, xb, fill, lo, p[lo:], hi - lo)
                    _channels(p, ring, slot, lo, hi, area[t], nch)
                for c in range(nch):
                    _window_sums(ring[c, slot], lens, lptr[t], lptr[t + 1], lo, hi, lev)
            y = t - span
            if y >= y0:
                r0, r1 = rptr[y], rptr[y + 1]
                for c in range(nch):
                    wts = rw[r0:r1] if c < 2 else ones[r0:r1]
                    _combine(acc[c], ring[c], nring, y, rdy[r0:r1], rdx[r0:r1],
                             rslot[r0:r1], wts, wo)
                for i in range(codes.shape[0]):
                    _finish_row(codes[i], acc, nch, thr[y], ntaps[y], wtotal[y], wcancel[y],
                                out[i, b, y])


@njit(nogil=True, cache=True)
def direct_moments(src, rows, area, out, band, span, task0, task1):
    """Moments of every output cell's taps (see :data:`MOMENTS`); ``out`` is
    ``(len(MOMENTS), slices, rows, cols)`` float64, the same tasks as :func:`channel_sums`."""
    rptr, rdy, rdx, rlen, rw, rslot, lptr, lens, plo, phi = rows
    srcs, ymap, xmaps, xb, fill = src.srcs, src.ymap, src.xmaps, src.xb, src.fill
    _, nb, ho, wo = out.shape
    width = xmaps.shape[1]
    nring = span + 1
    ring = np.empty((nring, width), dtype=np.float64)
    nbands = (ho + band - 1) // band
    for task in range(task0, task1):
        b = task // nbands
        y0 = (task - b * nbands) * band
        y1 = min(y0 + band, ho)
        for t in range(y0, y1 + span):
            lo, hi = plo[t], phi[t]
            if hi > lo:
                _gather(srcs, b, ymap[t], xmaps, xb, fill, lo, ring[t % nring, lo:], hi - lo)
            y = t - span
            if y < y0:
                continue
            r0, r1 = rptr[y], rptr[y + 1]
            for x in range(wo):
                count = 0.0
                weight = 0.0
                shift = 0.0
                dsum = 0.0
                d2sum = 0.0
                lo_v = np.inf
                hi_v = -np.inf
                taps = 0.0
                for k in range(r0, r1):
                    row = ring[(y + rdy[k]) % nring]
                    a = area[y + rdy[k]]
                    start = rdx[k] + x
                    # Per-run partial sums keep the rounding to a sum of one run's taps
                    # plus one term per run.
                    rs = 0.0
                    rs2 = 0.0
                    rw_ = 0.0
                    for j in range(start, start + rlen[k]):
                        v = row[j]
                        taps += 1.0
                        if v == v:
                            if count == 0.0:
                                shift = v
                            count += 1.0
                            d = v - shift
                            rw_ += a
                            rs += a * d
                            rs2 += a * d * d
                            lo_v = min(lo_v, v)
                            hi_v = max(hi_v, v)
                    weight += rw_
                    dsum += rs
                    d2sum += rs2
                out[0, b, y, x] = count
                out[1, b, y, x] = weight
                out[2, b, y, x] = shift
                out[3, b, y, x] = dsum
                out[4, b, y, x] = d2sum
                out[5, b, y, x] = lo_v
                out[6, b, y, x] = hi_v
                out[7, b, y, x] = taps



#: What :func:`channel_sums` finishes each output as: the weighted sum (``correlate``,
#: ``sum``; NaN below the row's threshold), ``mean`` (sum over valid weight), ``count``
#: (never NaN), ``renormalize`` (rescaled where taps are missing).
FINISH = {"correlate": 0, "sum": 1, "mean": 2, "count": 3, "renormalize": 4}
