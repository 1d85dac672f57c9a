"""Jitted loops for the direct method: every footprint tap is one multiply-add.

Layout of the work: output rows are independent. For each output row and each kernel row
with taps, the source row is first gathered into a padded float64 buffer through the x
index map (so edges cost nothing special later), then every tap adds ``w * buffer[x + dx]``
into a float64 accumulator row. The inner loop runs over contiguous x with no branches, so
LLVM vectorises it.

Two drivers share the row loop: ``correlate_parallel`` (``prange`` over blocks of rows;
callers must hold the backend's lock, see ``backends.numpy_backend``) and
``correlate_serial`` (no threads; safe to call from many host threads at once, ``nogil``).
They are separate functions, not one function compiled twice, because numba's on-disk
cache is keyed by function, not by compile flags.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["correlate_parallel", "correlate_serial"]


@njit(nogil=True, cache=True)
def _gather_row(src, b, sy, xmap, xlo, xhi, xoff, fill, buf):
    """buf[j] = source value at padded x coordinate j of source row sy (fill if outside)."""
    n = buf.shape[0]
    if sy < 0:
        for j in range(n):
            buf[j] = fill
        return
    row = src[b, sy]
    for j in range(xlo):
        sx = xmap[j]
        buf[j] = row[sx] if sx >= 0 else fill
    for j in range(xlo, xhi):
        buf[j] = row[j + xoff]
    for j in range(xhi, n):
        sx = xmap[j]
        buf[j] = row[sx] if sx >= 0 else fill


@njit(nogil=True, cache=True)
def correlate_rows(src, ymap, xmap, xlo, xhi, xoff, row_dy, row_ptr, run_dx, run_w,
                   fill, out, r0, r1, buf, acc):
    """Compute flattened output rows ``r0:r1`` (row r is batch r // H, row r % H)."""
    ho = out.shape[1]
    wo = out.shape[2]
    for r in range(r0, r1):
        b = r // ho
        y = r - b * ho
        for x in range(wo):
            acc[x] = 0.0
        for i in range(row_dy.shape[0]):
            _gather_row(src, b, ymap[y + row_dy[i]], xmap, xlo, xhi, xoff, fill, buf)
            k = row_ptr[i]
            stop = row_ptr[i + 1]
            # Four taps per pass: the accumulator row is loaded and stored once per four
            # multiply-adds instead of once per tap (the loop is bound by that traffic).
            while k + 4 <= stop:
                d0, d1, d2, d3 = run_dx[k], run_dx[k + 1], run_dx[k + 2], run_dx[k + 3]
                w0, w1, w2, w3 = run_w[k], run_w[k + 1], run_w[k + 2], run_w[k + 3]
                for x in range(wo):
                    acc[x] += (w0 * buf[x + d0] + w1 * buf[x + d1]) + (
                        w2 * buf[x + d2] + w3 * buf[x + d3])
                k += 4
            while k < stop:
                dx = run_dx[k]
                w = run_w[k]
                for x in range(wo):
                    acc[x] += w * buf[x + dx]
                k += 1
        orow = out[b, y]
        for x in range(wo):
            orow[x] = acc[x]


@njit(parallel=True, nogil=True, cache=True)
def correlate_parallel(src, ymap, xmap, xlo, xhi, xoff, row_dy, row_ptr, run_dx, run_w,
                       fill, out, nblocks):
    """Rows split into ``nblocks`` blocks run on numba's thread pool (hold the lock!)."""
    nrows = out.shape[0] * out.shape[1]
    nblocks = max(1, min(nrows, nblocks))
    for blk in prange(nblocks):
        r0 = blk * nrows // nblocks
        r1 = (blk + 1) * nrows // nblocks
        buf = np.empty(xmap.shape[0], dtype=np.float64)
        acc = np.empty(out.shape[2], dtype=np.float64)
        correlate_rows(src, ymap, xmap, xlo, xhi, xoff, row_dy, row_ptr, run_dx, run_w,
                       fill, out, r0, r1, buf, acc)


@njit(nogil=True, cache=True)
def correlate_serial(src, ymap, xmap, xlo, xhi, xoff, row_dy, row_ptr, run_dx, run_w,
                     fill, out):
    buf = np.empty(xmap.shape[0], dtype=np.float64)
    acc = np.empty(out.shape[2], dtype=np.float64)
    correlate_rows(src, ymap, xmap, xlo, xhi, xoff, row_dy, row_ptr, run_dx, run_w,
                   fill, out, 0, out.shape[0] * out.shape[1], buf, acc)
