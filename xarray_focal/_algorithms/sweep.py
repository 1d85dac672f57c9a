"""The row sweep: jitted loops that apply a :class:`~xarray_focal._algorithms.plan.Plan`.

Work is split into *tasks*: a band of output rows ``y0:y1`` times a strip of output
columns ``x0:x1`` of one 2-D slice ``b``. A task sweeps the padded source rows
``t = y0 .. y1 + 2ry - 1`` once, in order:

1. gather source row ``t`` (through the y and x index maps, so every boundary mode and
   every dask chunk is the same code) into a float64 buffer ``p``;
2. build the window sums ``S_L`` for each distinct run length from ``p`` (for a separable
   kernel instead: the row pass ``H = p (x) v``); ``p`` and these go into slot
   ``t % (2ry + 1)`` of a ring (``hist``) of recent source rows;
3. output row ``y = t - 2ry`` now has every source row it needs in the ring: sum
   ``w * S_L[x + dx]`` over all runs, up to eight runs per pass, straight into the output.

Each source row is gathered and summed once per task (not once per kernel row), and the
strip width is chosen so the ring stays in the core's L2 cache. All inner loops run over
contiguous x with no branches, so LLVM vectorises them.

The drivers (``sweep``, ``columns``) take three typed groups -- the :data:`Source`, the
plan's ``Plan.arrays()`` and the :data:`Tasks` -- and run a contiguous range of tasks in
the calling thread with the GIL released; :mod:`xarray_focal._backends.threads` spreads
the ranges of one call over host threads. There is no ``parallel=True`` variant: numba's
threading layers are either not fork-safe (GNU OpenMP) or not safe from several host
threads (workqueue), and a second compiled variant of every driver doubled the first-call
compile. The task loops unpack the groups once, by field name; the per-row helpers take
plain arrays (unpacking a tuple of arrays in every call costs reference counting).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

__all__ = ["Source", "Tasks", "columns", "sweep", "task_count"]

#: What the drivers read: ``srcs = (core, side, cap)`` (see ``tiles.Tile.pieces``, leading
#: axes flattened, native floats), the y map of the padded rows (a core row, a cap row
#: or outside, see ``_gather``), the x maps of core and cap rows with their (lo, hi,
#: offset) bounds (``xmaps``, ``xb``), and the value of cells outside the data (``fill``).
Source = namedtuple("Source", "srcs ymap xmaps xb fill")

#: Where the drivers write and how they cut the work: the output ``(slices, rows, cols)``
#: (``(stats, slices, rows, cols)`` for the NaN-aware drivers), the band height and strip
#: width of a task, and the halo the kernel needs: ``span = 2 ry`` rows, ``pad = 2 rx``
#: columns.
Tasks = namedtuple("Tasks", "out band strip span pad")


@njit(nogil=True, cache=True)
def _gather(srcs, b, sy, xmaps, xb, fill, x0, p, n):
    """p[j] = value at padded x coordinate x0 + j of source row ``sy``, j < n.

    The arguments are the fields of a :data:`Source`, passed one by one: this runs once per
    source row, and unpacking a named tuple in every call costs reference counting that the
    task loops pay once. ``sy >= 0`` is a core row, read in place, whose halo columns
    ``-2 - k`` come from ``side``; ``sy <= -2`` is halo row ``-2 - sy`` of ``cap``, read
    through the frame's x map; ``-1`` is outside (``fill``). ``xmaps``/``xb`` hold the x map
    and its (lo, hi, offset) for each kind.
    """
    if sy == -1:
        for j in range(n):
            p[j] = fill
        return
    core, side, cap = srcs
    if sy >= 0:
        row = core[b, sy]
        srow = side[b, sy]
        m = 0
    else:
        row = cap[b, -2 - sy]
        srow = side[b, 0]  # never read: the frame's x map has no strip codes
        m = 1
    xmap = xmaps[m]
    lo = min(max(xb[m, 0] - x0, 0), n)
    hi = max(min(xb[m, 1] - x0, n), lo)
    for j in range(lo):
        sx = xmap[x0 + j]
        p[j] = row[sx] if sx >= 0 else (fill if sx == -1 else srow[-2 - sx])
    off = x0 + xb[m, 2]
    seg = row[lo + off:hi + off]
    dst = p[lo:hi]
    for j in range(hi - lo):
        dst[j] = seg[j]
    for j in range(hi, n):
        sx = xmap[x0 + j]
        p[j] = row[sx] if sx >= 0 else (fill if sx == -1 else srow[-2 - sx])


@njit(nogil=True, cache=True)
def _window_sums(bufs, lengths, n):
    """bufs[k + 1][x] = sum of p[x : x + lengths[k]], built from the previous length.

    Inner loops index pre-sliced views by the loop counter alone: an offset index like
    ``p[x + j]`` could be negative as far as numba knows, and its wrap-around check stops
    LLVM from vectorising the loop.
    """
    p = bufs[0]
    prev = 1
    for k in range(lengths.shape[0]):
        length = lengths[k]
        m = n - length + 1
        dst = bufs[k + 1, :m]
        # Up to four new elements per pass: each pass is one load of each input row view
        # and one store, and the window is still summed left to right within its cells.
        j = prev
        first = True
        while j < length:
            step = min(4, length - j)
            base = bufs[k, :m] if first else dst
            pa = p[j:j + m]
            if step == 4:
                pb = p[j + 1:j + 1 + m]
                pc = p[j + 2:j + 2 + m]
                pd = p[j + 3:j + 3 + m]
                for x in range(m):
                    dst[x] = base[x] + ((pa[x] + pb[x]) + (pc[x] + pd[x]))
            elif step == 3:
                pb = p[j + 1:j + 1 + m]
                pc = p[j + 2:j + 2 + m]
                for x in range(m):
                    dst[x] = base[x] + ((pa[x] + pb[x]) + pc[x])
            elif step == 2:
                pb = p[j + 1:j + 1 + m]
                for x in range(m):
                    dst[x] = base[x] + (pa[x] + pb[x])
            else:
                for x in range(m):
                    dst[x] = base[x] + pa[x]
            j += step
            first = False
        prev = length


@njit(nogil=True, cache=True)
def _row_filter(bufs, sep_dx, sep_w, ws):
    """bufs[1][x] = sum of w_j * p[x + dx_j]: the row pass of a separable kernel (4 taps a pass)."""
    p = bufs[0]
    dst = bufs[1, :ws]
    for x in range(ws):
        dst[x] = 0.0
    ntaps = sep_dx.shape[0]
    k = 0
    while k + 4 <= ntaps:
        p0 = p[sep_dx[k]:sep_dx[k] + ws]
        p1 = p[sep_dx[k + 1]:sep_dx[k + 1] + ws]
        p2 = p[sep_dx[k + 2]:sep_dx[k + 2] + ws]
        p3 = p[sep_dx[k + 3]:sep_dx[k + 3] + ws]
        w0, w1, w2, w3 = sep_w[k], sep_w[k + 1], sep_w[k + 2], sep_w[k + 3]
        for x in range(ws):
            dst[x] += (w0 * p0[x] + w1 * p1[x]) + (w2 * p2[x] + w3 * p3[x])
        k += 4
    while k < ntaps:
        p0 = p[sep_dx[k]:sep_dx[k] + ws]
        w0 = sep_w[k]
        for x in range(ws):
            dst[x] += w0 * p0[x]
        k += 1


@njit(nogil=True, cache=True)
def buffers(rows, slots, width):
    """Row buffers for ``_combine``: ``slots`` slots plus a last one of zeros (its padding)."""
    buf = np.empty((rows, slots + 1, width), dtype=np.float64)
    buf[:, slots, :] = 0.0
    return buf


@njit(nogil=True, cache=True)
def _view(hist, nhist, y, run_dy, run_dx, run_slot, k, ws):
    return hist[(y + run_dy[k]) % nhist, run_slot[k], run_dx[k]:run_dx[k] + ws]


@njit(nogil=True, cache=True)
def _combine(acc, hist, nhist, y, run_dy, run_dx, run_slot, run_w, ws):
    """acc[x] = sum over runs k of w_k * S_k[x + dx_k], S_k from source row y + dy_k.

    Up to eight runs per pass; the first pass stores, later passes add, so ``acc`` needs
    no zeroing and can be the output row itself. The last slot of ``hist`` must be zeros
    (see ``buffers``): short passes are padded with it. Each source view is pre-sliced so the
    inner loop indexes by the loop counter alone (an offset index might be negative as far
    as numba knows, and its wrap-around check blocks vectorising).
    """
    nruns = run_dx.shape[0]
    if nruns == 0:
        for x in range(ws):
            acc[x] = 0.0
        return
    k = 0
    while k < nruns:
        m = nruns - k
        b0 = _view(hist, nhist, y, run_dy, run_dx, run_slot, k, ws)
        w0 = run_w[k]
        if m >= 5:
            # Five to seven runs left: one eight-wide pass padded with zero rows (weight 0,
            # value 0, so exact) beats passes of four, two and one.
            z = hist[y % nhist, hist.shape[1] - 1, :ws]
            b1 = _view(hist, nhist, y, run_dy, run_dx, run_slot, k + 1, ws)
            b2 = _view(hist, nhist, y, run_dy, run_dx, run_slot, k + 2, ws)
            b3 = _view(hist, nhist, y, run_dy, run_dx, run_slot, k + 3, ws)
            b4 = _view(hist, nhist, y, run_dy, run_dx, run_slot, k + 4, ws)
            w1, w2, w3, w4 = run_w[k + 1], run_w[k + 2], run_w[k + 3], run_w[k + 4]
            b5, b6, b7 = z, z, z
            w5 = w6 = w7 = 0.0
            if m > 5:
                b5, w5 = _view(hist, nhist, y, run_dy, run_dx, run_slot, k + 5, ws), run_w[k + 5]
            if m > 6:
                b6, w6 = _view(hist, nhist, y, run_dy, run_dx, run_slot, k + 6, ws), run_w[k + 6]
            if m > 7:
                b7, w7 = _view(hist, nhist, y, run_dy, run_dx, run_slot, k + 7, ws), run_w[k + 7]
            m = min(m, 8)
            if k == 0:
                for x in range(ws):
                    acc[x] = ((w0 * b0[x] + w1 * b1[x]) + (w2 * b2[x] + w3 * b3[x])) + (
                        (w4 * b4[x] + w5 * b5[x]) + (w6 * b6[x] + w7 * b7[x]))
            else:
                for x in range(ws):
                    acc[x] += ((w0 * b0[x] + w1 * b1[x]) + (w2 * b2[x] + w3 * b3[x])) + (
                        (w4 * b4[x] + w5 * b5[x]) + (w6 * b6[x] + w7 * b7[x]))
        elif m >= 4:
            m = 4
            b1 = _view(hist, nhist, y, run_dy, run_dx, run_slot, k + 1, ws)
            b2 = _view(hist, nhist, y, run_dy, run_dx, run_slot, k + 2, ws)
            b3 = _view(hist, nhist, y, run_dy, run_dx, run_slot, k + 3, ws)
            w1, w2, w3 = run_w[k + 1], run_w[k + 2], run_w[k + 3]
            if k == 0:
                for x in range(ws):
                    acc[x] = (w0 * b0[x] + w1 * b1[x]) + (w2 * b2[x] + w3 * b3[x])
            else:
                for x in range(ws):
                    acc[x] += (w0 * b0[x] + w1 * b1[x]) + (w2 * b2[x] + w3 * b3[x])
        elif m >= 2:
            m = 2
            b1 = _view(hist, nhist, y, run_dy, run_dx, run_slot, k + 1, ws)
            w1 = run_w[k + 1]
            if k == 0:
                for x in range(ws):
                    acc[x] = w0 * b0[x] + w1 * b1[x]
            else:
                for x in range(ws):
                    acc[x] += w0 * b0[x] + w1 * b1[x]
        elif k == 0:
            for x in range(ws):
                acc[x] = w0 * b0[x]
        else:
            for x in range(ws):
                acc[x] += w0 * b0[x]
        k += m


@njit(nogil=True, cache=True)
def _emit(out, b, y, x0, x1, acc, hist, nhist, yh, run_dy, run_dx, run_slot, run_w):
    """Output row ``y`` from the runs: summed in place into float64 output; float32
    output is summed in the float64 row ``acc`` and rounded once, at the end."""
    orow = out[b, y, x0:x1]
    if out.itemsize == 8:
        _combine(orow, hist, nhist, yh, run_dy, run_dx, run_slot, run_w, x1 - x0)
    else:
        _combine(acc, hist, nhist, yh, run_dy, run_dx, run_slot, run_w, x1 - x0)
        for x in range(x1 - x0):
            orow[x] = acc[x]


@njit(nogil=True, cache=True)
def _task(src, plan, out, pad, b, y0, y1, x0, x1, hist, acc):
    srcs, ymap, xmaps, xb, fill = src.srcs, src.ymap, src.xmaps, src.xb, src.fill
    run_dy, run_dx, run_slot, run_w = plan.run_dy, plan.run_dx, plan.run_slot, plan.run_w
    lengths, sep_dx, sep_w = plan.lengths, plan.sep_dx, plan.sep_w
    nhist = hist.shape[0]
    span = nhist - 1
    ws = x1 - x0
    wp = ws + pad  # strip plus the 2rx halo
    for t in range(y0, y1 + span):
        h = hist[t % nhist]
        _gather(srcs, b, ymap[t], xmaps, xb, fill, x0, h[0], wp)
        if sep_dx.shape[0]:
            _row_filter(h, sep_dx, sep_w, ws)
        else:
            _window_sums(h, lengths, wp)
        y = t - span
        if y >= y0:
            _emit(out, b, y, x0, x1, acc, hist, nhist, y, run_dy, run_dx, run_slot, run_w)


@njit(nogil=True, cache=True)
def _slots(lengths, sep_dx):
    """Buffers per source row: the row itself plus its window sums or its row-filtered copy."""
    return 2 if sep_dx.shape[0] else lengths.shape[0] + 1


def task_count(nb: int, ho: int, wo: int, band: int, strip: int) -> int:
    """Number of tasks of ``nb`` slices of ``ho x wo`` outputs in ``band x strip`` pieces."""
    return nb * -(-ho // band) * -(-wo // strip)


@njit(nogil=True, cache=True)
def _task_bounds(task, nbands, nstrips, band, strip, ho, wo):
    b = task // (nbands * nstrips)
    rest = task - b * nbands * nstrips
    yb = rest // nstrips
    xs = rest - yb * nstrips
    y0 = yb * band
    x0 = xs * strip
    return b, y0, min(y0 + band, ho), x0, min(x0 + strip, wo)


@njit(nogil=True, cache=True)
def sweep(src, plan, tasks, task0, task1):
    """Tasks ``task0 .. task1 - 1`` of a row-run, direct or separable plan, in this thread.

    ``src`` is a :data:`Source`, ``plan`` the plan's ``Plan.arrays()``, ``tasks`` a
    :data:`Tasks`. ``nogil``: host threads run ranges of one call at once.
    """
    out, band, strip = tasks.out, tasks.band, tasks.strip
    nb, ho, wo = out.shape
    nbands = (ho + band - 1) // band
    nstrips = (wo + strip - 1) // strip
    hist = buffers(tasks.span + 1, _slots(plan.lengths, plan.sep_dx), strip + tasks.pad)
    acc = np.empty(strip, dtype=np.float64)
    for task in range(task0, task1):
        b, y0, y1, x0, x1 = _task_bounds(task, nbands, nstrips, band, strip, ho, wo)
        _task(src, plan, out, tasks.pad, b, y0, y1, x0, x1, hist, acc)


# --- column runs ---------------------------------------------------------------------
# The same tasks, with the runs laid down the kernel's columns instead of along its rows.
# The ring then holds only the gathered source rows; for each output row, every distinct
# vertical window (start row, height) is summed from the ring into a small buffer -- a
# circle's nested windows each from the next smaller one, two rows at a time -- and the
# runs read those buffers at their column offsets. Everything a combine reads was just
# written, so it stays in L1 however long the kernel is; row runs instead keep every
# length's window sums for every source row of the ring, which outgrows L1/L2 for large
# kernels.


@njit(nogil=True, cache=True)
def _vertical_windows(ring, nring, y, win_base, win_ptr, win_rows, vwin, wp):
    """vwin[0, j] = sum over rows of window j of the ring (rows relative to ``y``).

    ``ring`` has shape (rows, 1, width) like a one-slot ``hist``, so the NaN-aware sweep
    can hand its channel rings in unchanged.
    """
    for j in range(win_base.shape[0]):
        dst = vwin[0, j, :wp]
        base = win_base[j]
        k = win_ptr[j]
        stop = win_ptr[j + 1]
        first = True
        while first or k < stop:
            step = min(4, stop - k)
            if first and base >= 0:
                src0 = vwin[0, base, :wp]
            elif first:
                # No smaller window inside: start from the first new row itself.
                src0 = ring[(y + win_rows[k]) % nring, 0, :wp]
                k += 1
                step = min(4, stop - k)
            else:
                src0 = dst
            if step >= 4:
                r0 = ring[(y + win_rows[k]) % nring, 0, :wp]
                r1 = ring[(y + win_rows[k + 1]) % nring, 0, :wp]
                r2 = ring[(y + win_rows[k + 2]) % nring, 0, :wp]
                r3 = ring[(y + win_rows[k + 3]) % nring, 0, :wp]
                for x in range(wp):
                    dst[x] = src0[x] + ((r0[x] + r1[x]) + (r2[x] + r3[x]))
                step = 4
            elif step == 3:
                r0 = ring[(y + win_rows[k]) % nring, 0, :wp]
                r1 = ring[(y + win_rows[k + 1]) % nring, 0, :wp]
                r2 = ring[(y + win_rows[k + 2]) % nring, 0, :wp]
                for x in range(wp):
                    dst[x] = src0[x] + ((r0[x] + r1[x]) + r2[x])
            elif step == 2:
                r0 = ring[(y + win_rows[k]) % nring, 0, :wp]
                r1 = ring[(y + win_rows[k + 1]) % nring, 0, :wp]
                for x in range(wp):
                    dst[x] = src0[x] + (r0[x] + r1[x])
            elif step == 1:
                r0 = ring[(y + win_rows[k]) % nring, 0, :wp]
                for x in range(wp):
                    dst[x] = src0[x] + r0[x]
            else:
                for x in range(wp):
                    dst[x] = src0[x]
            k += step
            first = False


@njit(nogil=True, cache=True)
def _task_columns(src, plan, out, pad, b, y0, y1, x0, x1, ring, vwin, acc):
    srcs, ymap, xmaps, xb, fill = src.srcs, src.ymap, src.xmaps, src.xb, src.fill
    run_dy, run_dx, run_slot, run_w = plan.run_dy, plan.run_dx, plan.run_slot, plan.run_w
    win_base, win_ptr, win_rows = plan.win_base, plan.win_ptr, plan.win_rows
    nring = ring.shape[0]
    span = nring - 1
    ws = x1 - x0
    wp = ws + pad
    for t in range(y0, y1 + span):
        _gather(srcs, b, ymap[t], xmaps, xb, fill, x0, ring[t % nring, 0], wp)
        y = t - span
        if y < y0:
            continue
        _vertical_windows(ring, nring, y, win_base, win_ptr, win_rows, vwin, wp)
        _emit(out, b, y, x0, x1, acc, vwin, 1, 0, run_dy, run_dx, run_slot, run_w)


@njit(nogil=True, cache=True)
def columns(src, plan, tasks, task0, task1):
    """Column-run tasks ``task0 .. task1 - 1`` in this thread, like :func:`sweep`."""
    out, band, strip = tasks.out, tasks.band, tasks.strip
    nb, ho, wo = out.shape
    nbands = (ho + band - 1) // band
    nstrips = (wo + strip - 1) // strip
    ring = np.empty((tasks.span + 1, 1, strip + tasks.pad), dtype=np.float64)
    vwin = buffers(1, plan.win_base.shape[0], strip + tasks.pad)
    acc = np.empty(strip, dtype=np.float64)
    for task in range(task0, task1):
        b, y0, y1, x0, x1 = _task_bounds(task, nbands, nstrips, band, strip, ho, wo)
        _task_columns(src, plan, out, tasks.pad, b, y0, y1, x0, x1, ring, vwin, acc)
