"""NaN-aware sweeps: NaN policies ``omit``/``renormalize`` and focal statistics.

The same band x strip tasks and ring of source rows as :mod:`.sweep`, but each source row
is split into *channels* before the window sums: the value with NaN read as 0 (shifted
by a constant for the variance), the valid indicator, the squared shifted value, and the
value with NaN read as -inf / +inf for maxima / minima. Window sums (and window maxima /
minima, built the same incremental way) of each channel are combined over the plan's runs
into accumulators -- sum of w*x, count of valid taps, sum of w over valid taps, sum of
squares, max, min -- and each requested statistic is finished from those.

Counts are sums of 0/1 in float64, hence exact integers. Everything else keeps the
direct-sum contract because sums only add values inside the window. ``min``/``max`` are
exact. The variance is computed about a shift (the tile's mean) so that data with a large
offset (a DEM at 1000 m) does not cancel catastrophically.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .sweep import _combine, _gather, _task_bounds, _vertical_windows, _window_sums, buffers

__all__ = ["STAT_CODES", "reduce_parallel", "reduce_serial", "needs"]

#: Output codes understood by the finishing step.
STAT_CODES = {
    "propagate": 0,  # weighted sum, NaN if fewer valid taps than the threshold
    "omit": 1,
    "renormalize": 2,
    "sum": 3,
    "mean": 4,
    "count": 5,
    "var": 6,
    "std": 7,
    "max": 8,
    "min": 9,
    "range": 10,
}


def needs(codes) -> tuple[bool, bool, bool, bool, bool]:
    """Which channels the codes need: (x, weighted valid, squares, max, min)."""
    c = set(codes)
    need_x = bool(c & {0, 1, 2, 3, 4, 6, 7})
    need_wv = 2 in c
    need_q = bool(c & {6, 7})
    need_mx = bool(c & {8, 10})
    need_mn = bool(c & {9, 10})
    return need_x, need_wv, need_q, need_mx, need_mn


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
def _split_channels(p, slot, hx, hv, hq, hmx, hmn, shift, n, need_x, need_q, need_mx, need_mn):
    """Write row ``p`` into slot ``slot`` (length index 0) of each needed channel."""
    v_row = hv[slot, 0]
    for j in range(n):
        v = p[j]
        v_row[j] = 0.0 if v != v else 1.0
    if need_x:
        x_row = hx[slot, 0]
        for j in range(n):
            v = p[j]
            x_row[j] = 0.0 if v != v else v - shift
    if need_q:
        q_row = hq[slot, 0]
        for j in range(n):
            v = p[j]
            d = 0.0 if v != v else v - shift
            q_row[j] = d * d
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


@njit(nogil=True, cache=True)
def _finish(codes, out, b, y, x0, ws, acc_a, acc_n, acc_w, acc_q, acc_mx, acc_mn,
            threshold, wtotal, shift):
    nan = np.nan
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
                wv = acc_w[x]
                orow[x] = nan if wv == 0.0 else acc_a[x] * (wtotal / wv)
            elif code == 3:
                orow[x] = acc_a[x] + shift * n
            elif code == 4:
                orow[x] = acc_a[x] / n + shift
            elif code == 6 or code == 7:
                m = acc_a[x] / n
                q = acc_q[x] / n
                var = q - m * m
                # One-pass variance about the tile's shift: its rounding error is at most
                # about 2 (n + 2) eps q (q >= m^2). A value within that noise -- a flat
                # window far from the tile mean -- is 0, as a two-pass variance gives.
                # NaN (inf - inf: an infinity in the window) stays NaN, as numpy's nanvar.
                if var == var and var <= 2.0 * (n + 2.0) * 2.220446049250313e-16 * q:
                    var = 0.0
                orow[x] = var if code == 6 else np.sqrt(var)
            elif code == 8:
                orow[x] = acc_mx[x]
            elif code == 9:
                orow[x] = acc_mn[x]
            else:
                orow[x] = acc_mx[x] - acc_mn[x]


@njit(nogil=True, cache=True)
def _task(srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w, ones, lengths,
          fill, shift, codes, threshold, wtotal, need_x, need_wv, need_q, need_mx, need_mn,
          out, b, y0, y1, x0, x1, p, hx, hv, hq, hmx, hmn, accs):
    nhist = hv.shape[0]
    span = nhist - 1
    ws = x1 - x0
    wp = ws + (xmaps.shape[1] - out.shape[3])
    for t in range(y0, y1 + span):
        slot = t % nhist
        _gather(srcs, b, ymap[t], xmaps, xb, fill, x0, p, wp)
        _split_channels(p, slot, hx, hv, hq, hmx, hmn, shift, wp, need_x, need_q, need_mx, need_mn)
        _window_sums(hv[slot], lengths, wp)
        if need_x:
            _window_sums(hx[slot], lengths, wp)
        if need_q:
            _window_sums(hq[slot], lengths, wp)
        if need_mx:
            _window_extremes(hmx[slot], lengths, wp, True)
        if need_mn:
            _window_extremes(hmn[slot], lengths, wp, False)
        y = t - span
        if y < y0:
            continue
        _combine(accs[1], hv, nhist, y, run_dy, run_dx, run_slot, ones, ws)
        if need_x:
            _combine(accs[0], hx, nhist, y, run_dy, run_dx, run_slot, run_w, ws)
        if need_wv:
            _combine(accs[2], hv, nhist, y, run_dy, run_dx, run_slot, run_w, ws)
        if need_q:
            _combine(accs[3], hq, nhist, y, run_dy, run_dx, run_slot, ones, ws)
        if need_mx:
            _combine_extreme(accs[4], hmx, nhist, y, run_dy, run_dx, run_slot, ws, True)
        if need_mn:
            _combine_extreme(accs[5], hmn, nhist, y, run_dy, run_dx, run_slot, ws, False)
        _finish(codes, out, b, y, x0, ws, accs[0], accs[1], accs[2], accs[3], accs[4],
                accs[5], threshold, wtotal, shift)


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
def _task_columns(srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w, ones,
                  win_base, win_ptr, win_rows, fill, shift, codes, threshold, wtotal,
                  need_x, need_wv, need_q, need_mx, need_mn, out, b, y0, y1, x0, x1,
                  p, hx, hv, hq, hmx, hmn, vx, vv, vq, vmx, vmn, accs):
    """Column-run version of ``_task``: per output row, vertical windows of each channel."""
    nhist = hv.shape[0]
    span = nhist - 1
    ws = x1 - x0
    wp = ws + (xmaps.shape[1] - out.shape[3])
    for t in range(y0, y1 + span):
        _gather(srcs, b, ymap[t], xmaps, xb, fill, x0, p, wp)
        _split_channels(p, t % nhist, hx, hv, hq, hmx, hmn, shift, wp, need_x, need_q,
                        need_mx, need_mn)
        y = t - span
        if y < y0:
            continue
        _vertical_windows(hv, nhist, y, win_base, win_ptr, win_rows, vv, wp)
        _combine(accs[1], vv, 1, 0, run_dy, run_dx, run_slot, ones, ws)
        if need_wv:
            _combine(accs[2], vv, 1, 0, run_dy, run_dx, run_slot, run_w, ws)
        if need_x:
            _vertical_windows(hx, nhist, y, win_base, win_ptr, win_rows, vx, wp)
            _combine(accs[0], vx, 1, 0, run_dy, run_dx, run_slot, run_w, ws)
        if need_q:
            _vertical_windows(hq, nhist, y, win_base, win_ptr, win_rows, vq, wp)
            _combine(accs[3], vq, 1, 0, run_dy, run_dx, run_slot, ones, ws)
        if need_mx:
            _vertical_extremes(hmx, nhist, y, win_base, win_ptr, win_rows, vmx, wp, True)
            _combine_extreme(accs[4], vmx, 1, 0, run_dy, run_dx, run_slot, ws, True)
        if need_mn:
            _vertical_extremes(hmn, nhist, y, win_base, win_ptr, win_rows, vmn, wp, False)
            _combine_extreme(accs[5], vmn, 1, 0, run_dy, run_dx, run_slot, ws, False)
        _finish(codes, out, b, y, x0, ws, accs[0], accs[1], accs[2], accs[3], accs[4],
                accs[5], threshold, wtotal, shift)


@njit(nogil=True, cache=True)
def _alloc(nhist, nlen, width, strip, need_x, need_q, need_mx, need_mn):
    def channel(needed):
        if needed:
            return buffers(nhist, nlen, width)
        return np.empty((1, 1, 1), dtype=np.float64)

    return (np.empty(width, dtype=np.float64), channel(need_x), channel(True),
            channel(need_q), channel(need_mx), channel(need_mn),
            np.empty((6, strip), dtype=np.float64))


@njit(nogil=True, cache=True)
def _run_task(columns, srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w,
              ones, lengths, win_base, win_ptr, win_rows, fill, shift, codes, threshold,
              wtotal, need_x, need_wv, need_q, need_mx, need_mn, out, b, y0, y1, x0, x1,
              bufs, wins):
    p, hx, hv, hq, hmx, hmn, accs = bufs
    if columns:
        vx, vv, vq, vmx, vmn = wins
        _task_columns(srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w, ones,
                      win_base, win_ptr, win_rows, fill, shift, codes, threshold, wtotal,
                      need_x, need_wv, need_q, need_mx, need_mn, out, b, y0, y1, x0, x1,
                      p, hx, hv, hq, hmx, hmn, vx, vv, vq, vmx, vmn, accs)
    else:
        _task(srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w, ones, lengths,
              fill, shift, codes, threshold, wtotal, need_x, need_wv, need_q, need_mx,
              need_mn, out, b, y0, y1, x0, x1, p, hx, hv, hq, hmx, hmn, accs)


@njit(nogil=True, cache=True)
def _alloc_all(columns, span, lengths, win_base, strip, pad, need_x, need_q, need_mx, need_mn):
    # Column plans keep one slot per ring row (the channel value) plus per-output-row
    # window buffers; row plans keep every window length per ring row.
    nlen = 1 if columns else lengths.shape[0] + 1
    bufs = _alloc(span + 1, nlen, strip + pad, strip, need_x, need_q, need_mx, need_mn)
    nwin = win_base.shape[0] if columns else 0
    wins = _alloc_windows(nwin, strip + pad, need_x, need_q, need_mx, need_mn)
    return bufs, wins


@njit(nogil=True, cache=True)
def _alloc_windows(nwin, width, need_x, need_q, need_mx, need_mn):
    def channel(needed):
        if needed and nwin:
            return buffers(1, nwin, width)
        return np.empty((1, 1, 1), dtype=np.float64)

    return (channel(need_x), channel(True), channel(need_q), channel(need_mx), channel(need_mn))


@njit(parallel=True, nogil=True, cache=True)
def reduce_parallel(columns, srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w,
                    lengths, win_base, win_ptr, win_rows, fill, shift, codes, threshold, wtotal,
                    need_x, need_wv, need_q, need_mx, need_mn, out, band, strip, span, pad):
    """All tasks on numba's thread pool (hold the backend's lock while calling)."""
    _, nb, ho, wo = out.shape
    nbands = (ho + band - 1) // band
    nstrips = (wo + strip - 1) // strip
    ones = np.ones(run_w.shape[0], dtype=np.float64)
    for task in prange(nb * nbands * nstrips):
        b, y0, y1, x0, x1 = _task_bounds(task, nbands, nstrips, band, strip, ho, wo)
        bufs, wins = _alloc_all(columns, span, lengths, win_base, strip, pad, need_x, need_q,
                                need_mx, need_mn)
        _run_task(columns, srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w,
                  ones, lengths, win_base, win_ptr, win_rows, fill, shift, codes, threshold,
                  wtotal, need_x, need_wv, need_q, need_mx, need_mn, out, b, y0, y1, x0, x1,
                  bufs, wins)


@njit(nogil=True, cache=True)
def reduce_serial(columns, srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w,
                  lengths, win_base, win_ptr, win_rows, fill, shift, codes, threshold, wtotal,
                  need_x, need_wv, need_q, need_mx, need_mn, out, band, strip, span, pad):
    """All tasks in this thread; no numba threads, so no lock needed."""
    _, nb, ho, wo = out.shape
    nbands = (ho + band - 1) // band
    nstrips = (wo + strip - 1) // strip
    ones = np.ones(run_w.shape[0], dtype=np.float64)
    bufs, wins = _alloc_all(columns, span, lengths, win_base, strip, pad, need_x, need_q,
                            need_mx, need_mn)
    for task in range(nb * nbands * nstrips):
        b, y0, y1, x0, x1 = _task_bounds(task, nbands, nstrips, band, strip, ho, wo)
        _run_task(columns, srcs, ymap, xmaps, xb, run_dy, run_dx, run_slot, run_w,
                  ones, lengths, win_base, win_ptr, win_rows, fill, shift, codes, threshold,
                  wtotal, need_x, need_wv, need_q, need_mx, need_mn, out, b, y0, y1, x0, x1,
                  bufs, wins)

class Reduction:
    """What a NaN-aware sweep computes: statistic names, their codes and the thresholds.

    Parameters
    ----------
    names : tuple of str
        Keys of :data:`STAT_CODES`, one output each, in order.
    threshold : int
        Fewest valid footprint taps that give a value (fewer give NaN).
    wtotal : float
        Sum of all footprint weights (for ``renormalize``).
    """

    __slots__ = ("names", "codes", "threshold", "wtotal", "channels")

    def __init__(self, names: tuple[str, ...], threshold: int, wtotal: float):
        self.names = tuple(names)
        self.codes = np.array([STAT_CODES[n] for n in self.names], dtype=np.int64)
        self.threshold = float(threshold)
        self.wtotal = float(wtotal)
        self.channels = needs(self.codes.tolist())

    def __repr__(self) -> str:
        return f"Reduction({self.names}, threshold={self.threshold:g}, wtotal={self.wtotal:g})"

    def __dask_tokenize__(self):
        return (type(self).__name__, self.names, self.threshold, self.wtotal)
