"""Categorical window statistics: majority, minority and variety, by counting tables.

The data's classes are numbered once per tile (dense ids in ascending class order, -1 for
NaN; see :func:`xarray_focal._backends.rank.class_ids`), so "the smallest class" of a tie
is the smallest id. A task keeps one count per class for the current window: sliding the
window one column subtracts the first cell of each footprint run and adds the cell after
its end, and the number of classes present (variety) changes exactly when a count leaves
or reaches zero. Majority and minority read the counts of the window's cells.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .order import _region

__all__ = ["MAJORITY", "MINORITY", "VARIETY", "class_windows", "variety_bits"]

#: Statistic codes of :func:`class_windows`.
MAJORITY, MINORITY, VARIETY = 0, 1, 2


@njit(nogil=True, cache=True)
def class_windows(ids, yidx, xidx, xb, fill_id, rdy, rdx, rlen, ry, rx, nclasses, classes,
                  codes, thr, out, band, t0, t1):
    """Categorical statistics of tasks ``t0:t1`` (a band of ``band`` output rows each).

    ``ids`` is ``(slices, rows, cols)`` of class ids (-1: NaN), read through the maps
    (``fill_id`` outside); ``classes[i]`` is the value of class ``i``; ``out`` is
    ``(len(codes), slices, ho, wo)``.
    """
    nq, nb, ho, wo = out.shape
    nruns = rdy.shape[0]
    nbands = -(-ho // band)
    reg = np.empty((band + 2 * ry, wo + 2 * rx), dtype=ids.dtype)
    counts = np.zeros(max(nclasses, 1), dtype=np.int64)
    for task in range(t0, t1):
        b = task // nbands
        y0 = (task % nbands) * band
        bh = min(band, ho - y0)
        _region(ids, b, yidx, xidx, xb, fill_id, y0, bh + 2 * ry, 0, wo + 2 * rx, reg)
        for yy in range(bh):
            nv = 0
            variety = 0
            for k in range(nruns):
                row = yy + rdy[k]  # an index, not a view: views cost refcounting
                for j in range(rdx[k], rdx[k] + rlen[k]):
                    c = reg[row, j]
                    if c >= 0:
                        nv += 1
                        counts[c] += 1
                        variety += counts[c] == 1
            for x in range(wo):
                if x > 0:
                    for k in range(nruns):
                        row = yy + rdy[k]  # an index, not a view: views cost refcounting
                        c = reg[row, x - 1 + rdx[k]]
                        if c >= 0:
                            nv -= 1
                            counts[c] -= 1
                            variety -= counts[c] == 0
                        c = reg[row, x - 1 + rdx[k] + rlen[k]]
                        if c >= 0:
                            nv += 1
                            counts[c] += 1
                            variety += counts[c] == 1
                for s in range(nq):
                    code = codes[s]
                    if nv < thr or nv == 0:
                        out[s, b, y0 + yy, x] = np.nan
                    elif code == 2:
                        out[s, b, y0 + yy, x] = variety
                    else:
                        best = -1
                        bc = 0
                        for k in range(nruns):
                            row = yy + rdy[k]  # an index, not a view: views cost refcounting
                            for j in range(x + rdx[k], x + rdx[k] + rlen[k]):
                                c = reg[row, j]
                                if c < 0:
                                    continue
                                n = counts[c]
                                if best < 0:
                                    better = True
                                elif code == 0:
                                    better = n > bc or (n == bc and c < best)
                                else:
                                    better = n < bc or (n == bc and c < best)
                                if better:
                                    best = c
                                    bc = n
                        out[s, b, y0 + yy, x] = classes[best]
            for k in range(nruns):
                row = yy + rdy[k]  # an index, not a view: views cost refcounting
                for j in range(wo - 1 + rdx[k], wo - 1 + rdx[k] + rlen[k]):
                    c = reg[row, j]
                    if c >= 0:
                        counts[c] -= 1


@njit(nogil=True, cache=True)
def _popcount(w):
    w = w - ((w >> np.uint64(1)) & np.uint64(0x5555555555555555))
    w = (w & np.uint64(0x3333333333333333)) + ((w >> np.uint64(2)) & np.uint64(0x3333333333333333))
    w = (w + (w >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (w * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(nogil=True, cache=True)
def variety_bits(ids, yidx, xidx, xb, fill_id, rdy, rdx, rlen, lengths, run_len_slot, ry, rx,
                 thr, out, slot, band, t0, t1):
    """Variety for at most 64 classes: the popcount of the OR of the window's class bits.

    Each region row gets, for each distinct run length ``L``, the OR of every ``L``
    consecutive cells (two overlapping power-of-two spans: OR is idempotent); an output is
    then one OR per footprint run and a popcount, with no data-dependent branch. Valid
    cells are counted from per-row prefix sums. Writes ``out[slot]``.
    """
    nq, nb, ho, wo = out.shape
    nruns = rdy.shape[0]
    nlen = lengths.shape[0]
    nbands = -(-ho // band)
    ph_max, pw = band + 2 * ry, wo + 2 * rx
    reg = np.empty((ph_max, pw), dtype=ids.dtype)
    span = np.empty((2, pw), dtype=np.uint64)
    orl = np.zeros((ph_max, nlen, pw), dtype=np.uint64)
    pre = np.zeros((ph_max, pw + 1), dtype=np.int64)
    acc = np.empty(wo, dtype=np.uint64)
    cnt = np.empty(wo, dtype=np.int64)
    for task in range(t0, t1):
        b = task // nbands
        y0 = (task % nbands) * band
        bh = min(band, ho - y0)
        ph = bh + 2 * ry
        _region(ids, b, yidx, xidx, xb, fill_id, y0, ph, 0, pw, reg)
        for i in range(ph):
            row = reg[i]
            bits = span[0]
            p = pre[i]
            for j in range(pw):
                c = row[j]
                ok = c >= 0
                bits[j] = (np.uint64(1) << np.uint64(c if ok else 0)) * np.uint64(ok)
                p[j + 1] = p[j] + ok
            width = 1
            cur = 0
            for k in range(nlen):
                length = lengths[k]
                while 2 * width <= length:
                    src = span[cur]
                    dst = span[1 - cur]
                    for j in range(pw - width):
                        dst[j] = src[j] | src[j + width]
                    cur = 1 - cur
                    width *= 2
                src = span[cur]
                dst = orl[i, k]
                shift = length - width
                for j in range(pw - length + 1):
                    dst[j] = src[j] | src[j + shift]
        for yy in range(bh):
            acc[:] = 0
            cnt[:] = 0
            for k in range(nruns):
                src = orl[yy + rdy[k], run_len_slot[k], rdx[k]:rdx[k] + wo]
                p = pre[yy + rdy[k]]
                lo = p[rdx[k]:rdx[k] + wo]
                hi = p[rdx[k] + rlen[k]:rdx[k] + rlen[k] + wo]
                for x in range(wo):
                    acc[x] |= src[x]
                    cnt[x] += hi[x] - lo[x]
            dst = out[slot, b, y0 + yy]
            for x in range(wo):
                n = cnt[x]
                dst[x] = np.nan if (n < thr or n == 0) else np.float64(_popcount(acc[x]))
