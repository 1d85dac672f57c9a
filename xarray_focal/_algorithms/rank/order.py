"""Order statistics of each window's valid values: median and percentiles, exactly.

Two engines, both exact (they return order statistics of the window's values, or numpy's
linear interpolation between two of them):

``network``
    For small footprints. A strip of ``S`` adjacent windows is loaded as ``n`` rows of
    ``S`` values (one row per footprint cell, NaN read as +inf and counted out) and sorted
    column-wise by a sorting network (Batcher's odd-even merge sort, pruned to ``n``):
    every compare-exchange is a branch-free min/max over ``S`` contiguous values, which
    LLVM vectorises. Cost per window: about ``n log^2 n / 4`` min/max pairs spread over
    the SIMD lanes, no data-dependent branches.
``bitset``
    For large footprints. The values of a task's region (its band of output rows and
    strip of columns plus the halo) are rank-transformed once by a sort; a window is then
    a set of distinct ranks, kept as a bitset. Sliding the window one column removes the
    first cell of each footprint run and adds the cell after its end (two bit flips per
    run), and the k-th smallest valid value is found by moving a pivot word by popcounts
    and selecting the bit inside its word.
    For full boxes of up to 5 x 5 cells the median of NaN-free rows comes from the
    generated kernels of :mod:`.boxnet` instead, which share sorted columns between
    neighbouring windows.

Both take the statistics as ``qs``: one entry per output, a percentile in [0, 100], or
NaN for the median (numpy's median: the mean of the two middle values for an even count).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from ._boxnet_kernels import box_median_3x3, box_median_3x5, box_median_5x3, box_median_5x5

__all__ = ["BOX_CODES", "network_pairs", "network_schedule", "order_network", "bitset_gather",
           "bitset_band", "bitset_windows"]


#: ``box`` of :func:`order_network`: the full boxes ``(rows, columns)`` with a generated
#: median kernel (:mod:`.boxnet`).
BOX_CODES = {(3, 3): 1, (3, 5): 2, (5, 3): 3, (5, 5): 4}


@functools.lru_cache(maxsize=64)
def network_pairs(n: int) -> np.ndarray:
    """Compare-exchange pairs ``(a, b)``, ``a < b``, of a sorting network for ``n`` values.

    Batcher's odd-even merge sort on the next power of two, with every pair that touches a
    position ``>= n`` dropped: those positions would hold +inf, which no compare-exchange
    moves, so the pruned network sorts ``n`` values.

    Examples
    --------
    >>> network_pairs(3).tolist()
    [[0, 1], [0, 2], [1, 2]]
    """
    size = 1
    while size < n:
        size *= 2
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    a, b = i + j, i + j + k
                    if a // (2 * p) == b // (2 * p) and b < n:
                        pairs.append((a, b))
            k //= 2
        p *= 2
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


@functools.lru_cache(maxsize=64)
def network_schedule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The network of :func:`network_pairs` as moves between ``n + 2`` buffer rows.

    Each compare-exchange reads two rows and writes their min and max into the two rows
    the previous one freed: a loop that updates two rows in place is not vectorised by
    LLVM (the two might be the same row), one that writes other rows is. Returns
    ``(moves, final)``: ``moves[k] = (src_a, src_b, dst_min, dst_max)`` and ``final[i]``,
    the row holding the ``i``-th smallest value at the end.

    Examples
    --------
    >>> moves, final = network_schedule(3)
    >>> moves.tolist(), final.tolist()
    ([[0, 1, 3, 4], [3, 2, 0, 1], [4, 1, 3, 2]], [0, 3, 2])
    """
    loc = list(range(n))
    free = [n, n + 1]
    moves = []
    for a, b in network_pairs(n).tolist():
        pa, pb = loc[a], loc[b]
        moves.append((pa, pb, free[0], free[1]))
        loc[a], loc[b] = free
        free = [pa, pb]
    return np.array(moves, dtype=np.int64).reshape(-1, 4), np.array(loc, dtype=np.int64)


@njit(nogil=True, cache=True)
def _lerp(a, b, t):
    """numpy's linear interpolation (``numpy.lib._function_base_impl._lerp``), exact ends.

    Finite values give numpy's result bit for bit. Where the two order statistics are equal
    or ``t`` is 0 the statistic is that value (numpy computes ``inf - inf`` there and
    returns NaN); between a finite value and an infinite one the result is the infinite
    one, between -inf and +inf NaN.
    """
    if t == 0.0 or a == b:
        return a
    if np.isinf(a) or np.isinf(b):
        if np.isinf(a) and np.isinf(b):
            return np.nan
        return b if np.isinf(b) else a
    d = b - a
    if t >= 0.5:
        return b - d * (1.0 - t)
    return a + d * t


@njit(nogil=True, cache=True)
def _positions(nvalid, q):
    """(lower index, upper index, weight) of statistic ``q`` among ``nvalid`` sorted values.

    ``q`` NaN is the median: the middle value, or the two middle values with weight 0.5
    (finished as their mean, see :func:`_value`). Otherwise numpy's "linear" method:
    virtual index ``(n - 1) * q / 100``.
    """
    if np.isnan(q):
        hi = nvalid // 2
        if nvalid % 2 == 1:
            return hi, hi, 0.0
        return hi - 1, hi, 0.5
    vi = (nvalid - 1) * (q / 100.0)
    if vi >= nvalid - 1:
        return nvalid - 1, nvalid - 1, 0.0
    lo = int(np.floor(vi))
    return lo, lo + 1, vi - lo


@njit(nogil=True, cache=True)
def _value(a, b, t, q):
    """The statistic from its lower and upper order statistics ``a <= b``."""
    if np.isnan(q):
        if t == 0.0:
            return a
        m = (a + b) * 0.5
        if np.isinf(m) and np.isfinite(a) and np.isfinite(b):
            m = a * 0.5 + b * 0.5  # a + b overflowed; the halves cannot
        return m
    return _lerp(a, b, t)


@njit(nogil=True, cache=True)
def _region(frame, b, yidx, xidx, xb, fill, py0, ph, px0, pw, reg):
    """reg[i, j] = value at padded (py0 + i, px0 + j) of slice ``b``, read through the maps.

    ``xb = (lo, hi, offset)``: on ``lo:hi`` the x map is the shift ``j + offset`` (see
    :class:`~xarray_focal._boundary.AxisMap`), so a region inside it is a plain copy.
    """
    plain = px0 >= xb[0] and px0 + pw <= xb[1]
    for i in range(ph):
        sy = yidx[py0 + i]
        dst = reg[i, :pw]
        if sy < 0:
            for j in range(pw):
                dst[j] = fill
            continue
        row = frame[b, sy]
        if plain:
            dst[:] = row[px0 + xb[2]:px0 + xb[2] + pw]
            continue
        for j in range(pw):
            sx = xidx[px0 + j]
            dst[j] = row[sx] if sx >= 0 else fill


@njit(nogil=True, cache=True)
def order_network(frame, yidx, xidx, xb, fill, tdy, tdx, ry, rx, moves, final, qs, thr, out,
                  band, strip, box, t0, t1):
    """Order statistics by a sorting network over strips of windows (tasks ``t0:t1``).

    ``frame`` is ``(slices, rows, cols)``; ``yidx``/``xidx`` map padded coordinates to
    frame rows/columns (-1: ``fill``); ``tdy``/``tdx`` are the footprint's cells;
    ``out`` is ``(len(qs), slices, ho, wo)``; a task is one band of ``band`` output rows
    by one strip of ``strip`` output columns of one slice. ``box`` (see :data:`BOX_CODES`)
    names the generated median kernel of a full box, 0 for none: a row of NaN-free windows
    then goes to it (:mod:`.boxnet`).
    """
    nq, nb, ho, wo = out.shape
    n = tdy.shape[0]
    nbands = -(-ho // band)
    nstrips = -(-wo // strip)
    reg = np.empty((band + 2 * ry, strip + 2 * rx), dtype=frame.dtype)
    v = np.empty((n + 2, strip), dtype=frame.dtype)
    cnt = np.empty(strip, dtype=np.int64)
    inf = np.full(1, np.inf, dtype=frame.dtype)[0]  # +inf in the data's own float type
    rownan = np.empty(band + 2 * ry + 1, dtype=np.int64)
    cs = np.empty((2 * ry + 1, strip + 2 * rx), dtype=frame.dtype)
    pm = np.empty((4 * ry + 2, strip + 2 * rx), dtype=frame.dtype)
    for task in range(t0, t1):
        b = task // (nbands * nstrips)
        rest = task - b * nbands * nstrips
        y0 = (rest // nstrips) * band
        x0 = (rest % nstrips) * strip
        bh = min(band, ho - y0)
        sw = min(strip, wo - x0)
        ph, pw = bh + 2 * ry, sw + 2 * rx
        _region(frame, b, yidx, xidx, xb, fill, y0, ph, x0, pw, reg)
        # A row of windows without NaN (the usual case) needs no counting: every window
        # has n valid values, so each statistic reads the same sorted position in every
        # column. rownan[i]: the NaN in region rows < i (a row of windows reads 2 ry + 1).
        rownan[0] = 0
        for i in range(ph):
            row = reg[i, :pw]
            nans = 0
            for j in range(pw):
                nans += row[j] != row[j]
            rownan[i + 1] = rownan[i] + nans
        for yy in range(bh):
            # ... but only if every window has enough cells: a geodesic band's footprint
            # may hold fewer than min_count, and then the per-cell counts below give NaN.
            clean = rownan[yy + 2 * ry + 1] == rownan[yy] and n >= thr
            if clean and box != 0:
                dst = out[0, b, y0 + yy, x0:x0 + sw]
                if box == 1:
                    box_median_3x3(reg, yy, sw, cs, pm, dst)
                elif box == 2:
                    box_median_3x5(reg, yy, sw, cs, pm, dst)
                elif box == 3:
                    box_median_5x3(reg, yy, sw, cs, pm, dst)
                else:
                    box_median_5x5(reg, yy, sw, cs, pm, dst)
                for s in range(1, nq):
                    out[s, b, y0 + yy, x0:x0 + sw] = dst
                continue
            cv = cnt[:sw]
            if clean:
                for t in range(n):
                    v[t, :sw] = reg[yy + tdy[t], tdx[t]:tdx[t] + sw]
            else:
                cv[:] = 0
                for t in range(n):
                    src = reg[yy + tdy[t], tdx[t]:tdx[t] + sw]
                    dst = v[t, :sw]
                    for x in range(sw):
                        val = src[x]
                        ok = val == val
                        dst[x] = val if ok else inf
                        cv[x] += ok
            for p in range(moves.shape[0]):
                va = v[moves[p, 0], :sw]
                vb = v[moves[p, 1], :sw]
                vlo = v[moves[p, 2], :sw]
                vhi = v[moves[p, 3], :sw]
                for x in range(sw):
                    a = va[x]
                    c = vb[x]
                    vlo[x] = min(a, c)
                    vhi[x] = max(a, c)
            if clean:  # n >= thr
                for s in range(nq):
                    i, j, w = _positions(n, qs[s])
                    dst = out[s, b, y0 + yy, x0:x0 + sw]
                    lo = v[final[i], :sw]
                    if i == j:
                        for x in range(sw):
                            dst[x] = lo[x]
                    else:
                        hi = v[final[j], :sw]
                        for x in range(sw):
                            dst[x] = _value(np.float64(lo[x]), np.float64(hi[x]), w, qs[s])
                continue
            for x in range(sw):
                nv = cv[x]
                for s in range(nq):
                    if nv < thr or nv == 0:
                        out[s, b, y0 + yy, x0 + x] = np.nan
                        continue
                    i, j, w = _positions(nv, qs[s])
                    out[s, b, y0 + yy, x0 + x] = _value(
                        np.float64(v[final[i], x]), np.float64(v[final[j], x]), w, qs[s])


@njit(nogil=True, cache=True)
def _popcount(w):
    """Set bits of a uint64 (LLVM turns this into one ``popcnt``)."""
    w = w - ((w >> np.uint64(1)) & np.uint64(0x5555555555555555))
    w = (w & np.uint64(0x3333333333333333)) + ((w >> np.uint64(2)) & np.uint64(0x3333333333333333))
    w = (w + (w >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((w * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(nogil=True, cache=True)
def _select(w, t):
    """Position of the ``t``-th (from 0) set bit of ``w`` (it has more than ``t``)."""
    if t < 4:  # the usual case (a few window bits per word): clear the lower ones
        for _ in range(t):
            w &= w - np.uint64(1)
        return np.int64(trailing_zeros(w))
    pos = 0
    for half in (32, 16, 8):
        mask = (np.uint64(1) << np.uint64(half)) - np.uint64(1)
        c = _popcount(w & mask)
        if t >= c:
            t -= c
            w >>= np.uint64(half)
            pos += half
    for _ in range(t):
        w &= w - np.uint64(1)
    return pos + np.int64(trailing_zeros(w))


@njit(nogil=True, cache=True)
def _toggle(words, r):
    # Unsigned indices: numba then emits no wrap-around code for negative ones.
    u = np.uint64(r)
    words[u >> np.uint64(6)] ^= np.uint64(1) << (u & np.uint64(63))


@njit(nogil=True, cache=True)
def _ordered(bits):
    """float64 bits -> uint64 in the same order as the values (IEEE sign-magnitude flip)."""
    sign = bits >> np.uint64(63)
    return bits ^ ((np.uint64(0) - sign) | (np.uint64(1) << np.uint64(63)))


@njit(nogil=True, cache=True)
def bitset_gather(frame, b, yidx, xidx, fill, y0, ph, strip, rx, wo, vals, keys, ib):
    """The regions of one band's strips, one per row of ``vals``, and their sort keys.

    Strip ``s`` covers output columns ``s * strip`` on; its region is ``ph`` rows by
    ``sw + 2 rx`` padded columns, row-major in ``vals[s]`` (NaN past the end). ``keys[s]``
    packs each cell's value order (:func:`_ordered`, its low ``ib`` bits dropped) above
    the cell's position (``ib`` bits), so sorting the uint64 keys -- several times faster
    than an argsort -- orders the cells; NaN cells get the largest key and sort last.
    :func:`bitset_band` then puts cells whose dropped bits differ in exact order.
    """
    nstrips, size = vals.shape
    low = (np.uint64(1) << np.uint64(ib)) - np.uint64(1)
    top = ~low
    for s in range(nstrips):
        x0 = s * strip
        pw = min(strip, wo - x0) + 2 * rx
        row = vals[s]
        key = keys[s]
        bits = row.view(np.uint64)
        for i in range(ph):
            sy = yidx[y0 + i]
            for j in range(pw):
                sx = xidx[x0 + j]
                row[i * pw + j] = frame[b, sy, sx] if sy >= 0 and sx >= 0 else fill
        n = ph * pw
        for c in range(n):
            v = row[c]
            key[c] = ((_ordered(bits[c]) & top) | np.uint64(c)) if v == v else ~np.uint64(0)
        row[n:] = np.nan
        key[n:] = ~np.uint64(0)


@njit(nogil=True, cache=True)
def _exact_runs(key, bits, m, ib, idx):
    """``idx[r]``: the cell of sorted key ``r``, with runs of equal keys put in value order.

    Keys that agree above their ``ib`` position bits hold values that differ only in
    their last ``ib`` bits; such runs (rare, short in data that is not adversarial) are
    sorted by the exact order: insertion for short runs, numba's argsort for long ones.
    """
    low = (np.uint64(1) << np.uint64(ib)) - np.uint64(1)
    for r in range(m):
        idx[r] = np.int64(key[r] & low)
    r0 = 0
    while r0 < m:
        hi = key[r0] & ~low
        r1 = r0 + 1
        while r1 < m and (key[r1] & ~low) == hi:
            r1 += 1
        if r1 - r0 > 1:
            if r1 - r0 <= 32:
                for r in range(r0 + 1, r1):
                    c = idx[r]
                    kc = _ordered(bits[c])
                    t = r
                    while t > r0 and _ordered(bits[idx[t - 1]]) > kc:
                        idx[t] = idx[t - 1]
                        t -= 1
                    idx[t] = c
            else:
                run = idx[r0:r1].copy()
                full = np.empty(r1 - r0, dtype=np.uint64)
                for t in range(r1 - r0):
                    full[t] = _ordered(bits[run[t]])
                o = np.argsort(full)
                for t in range(r1 - r0):
                    idx[r0 + t] = run[o[t]]
        r0 = r1


@njit(nogil=True, cache=True)
def bitset_band(vals, keys, ib, ph, strip, rx, rdy, rdx, rlen, vcol, vrow, vlen, qs, thr, out,
                b, y0, bh):
    """Every statistic of one band from its strips' sorted keys (:func:`bitset_gather`).

    The rank of a region cell is its position in the sorted order ``+ 64`` (-1: NaN), and
    :func:`bitset_windows` runs each statistic.
    """
    nstrips, size = vals.shape
    nq, nb, ho, wo = out.shape
    srt = np.empty(size + 64, dtype=np.float64)
    rank = np.empty(size, dtype=np.int64)
    idx = np.empty(size, dtype=np.int64)
    for s in range(nstrips):
        x0 = s * strip
        sw = min(strip, wo - x0)
        pw = sw + 2 * rx
        row = vals[s]
        m = 0
        for r in range(ph * pw):
            m += row[r] == row[r]
        _exact_runs(keys[s], row.view(np.uint64), m, ib, idx)
        rank[:ph * pw] = -1
        for r in range(m):
            o = idx[r]
            srt[r + 64] = row[o]
            rank[o] = r + 64
        for k in range(nq):
            bitset_windows(srt, rank, m, pw, rdy, rdx, rlen, vcol, vrow, vlen, qs[k], thr, out[k],
                           b, y0, x0, bh, sw)


@njit(nogil=True, cache=True)
def bitset_windows(srt, rank, m, pw, rdy, rdx, rlen, vcol, vrow, vlen, q, thr, out, b, y0, x0,
                   bh, sw):
    """Statistic ``q`` of one task's windows from its region's ranks (:func:`bitset_band`).

    Rank ``r`` is bit ``r`` of ``words`` (ranks start at 64, so word 0 stays empty). A
    cell enters or leaves the window by flipping its bit: ranks are distinct, so a flip
    needs no test. The window snakes through the task: along a row by the footprint's
    runs (``rdy``, ``rdx``, ``rlen``: the first cell of each leaves, the one after its end
    enters), then down one row by its vertical runs (``vcol``, ``vrow``, ``vlen``), then
    back along the next row -- two flips per run and step, never a rebuild. The k-th
    smallest is found from a pivot word ``pj`` and the number ``cb`` of window ranks in
    the words below it: the window changes by a few cells per step, so the pivot moves
    by a word or two, counted with popcounts, and the bit is then selected inside its
    word. A task's region is small (see ``BITSET_STRIP``), so the window's bits are dense
    enough that no summary level is needed. One statistic per call keeps the pivot in
    registers.
    """
    nruns = rdy.shape[0]
    nvert = vcol.shape[0]
    nw = (m + 127) // 64 + 1
    words = np.zeros(nw, dtype=np.uint64)
    leave = np.empty(nruns, dtype=np.int64)
    enter = np.empty(nruns, dtype=np.int64)
    nv = 0
    for k in range(nruns):
        base = rdy[k] * pw
        for j in range(rdx[k], rdx[k] + rlen[k]):
            r = rank[base + j]
            if r >= 0:
                _toggle(words, r)
                nv += 1
    pj = 0
    cb = 0
    x = 0
    step = 1
    for yy in range(bh):
        if yy > 0:  # down one row at column x
            for k in range(nvert):
                col = x + vcol[k]
                r = rank[np.uint64((yy - 1 + vrow[k]) * pw + col)]
                if r >= 0:
                    _toggle(words, r)
                    nv -= 1
                    cb -= (r >> 6) < pj  # branch-free: unpredictable
                r = rank[np.uint64((yy - 1 + vrow[k] + vlen[k]) * pw + col)]
                if r >= 0:
                    _toggle(words, r)
                    nv += 1
                    cb += (r >> 6) < pj
        dst = out[b, y0 + yy, x0:x0 + sw]
        # Where each run's leaving and entering cells sit in ``rank`` at step 0 of the row:
        # the left end and the cell after the right end going right, swapped going left.
        for k in range(nruns):
            base = (yy + rdy[k]) * pw + rdx[k] + x
            if step > 0:
                leave[k], enter[k] = base, base + rlen[k]
            else:
                leave[k], enter[k] = base - 1 + rlen[k], base - 1
        for n in range(sw):
            if n > 0:
                x += step
                for k in range(nruns):
                    r = rank[np.uint64(leave[k])]
                    leave[k] += step
                    if r >= 0:
                        _toggle(words, r)
                        nv -= 1
                        cb -= (r >> 6) < pj
                    r = rank[np.uint64(enter[k])]
                    enter[k] += step
                    if r >= 0:
                        _toggle(words, r)
                        nv += 1
                        cb += (r >> 6) < pj
            if nv < thr or nv == 0:
                dst[x] = np.nan
                continue
            i, j, w = _positions(nv, q)
            while cb > i:
                pj -= 1
                cb -= _popcount(words[pj])
            c = _popcount(words[pj])
            while cb + c <= i:
                cb += c
                pj += 1
                c = _popcount(words[pj])
            a = srt[pj * 64 + _select(words[pj], i - cb)]
            if j == i:
                hi = a
            elif i + 1 - cb < c:
                hi = srt[pj * 64 + _select(words[pj], i + 1 - cb)]
            else:
                nxt = pj + 1
                while words[nxt] == 0:
                    nxt += 1
                hi = srt[nxt * 64 + np.int64(trailing_zeros(words[nxt]))]
            dst[x] = _value(a, hi, w, q)
        step = -step
