"""A user's window function: each window's valid values, as a 1-D float64 array, to ``func``.

The driver is compiled for each function (numba specialises on the function's type), so it
is not cached on disk: a jitted function passed as an argument cannot be.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .order import _region

__all__ = ["apply_windows"]


@njit(nogil=True)
def apply_windows(frame, yidx, xidx, xb, fill, rdy, rdx, rlen, ry, rx, func, thr, out,
                  band, t0, t1):
    """``out[0, b, y, x] = func(valid values of the window)`` for tasks ``t0:t1``.

    Values are passed in footprint order (row by row, left to right), NaN left out; fewer
    than ``thr`` valid values (or none) give NaN without calling ``func``.
    """
    nq, nb, ho, wo = out.shape
    nruns = rdy.shape[0]
    nbands = -(-ho // band)
    reg = np.empty((band + 2 * ry, wo + 2 * rx), dtype=frame.dtype)
    ntaps = 0
    for k in range(nruns):
        ntaps += rlen[k]
    buf = np.empty(ntaps, dtype=np.float64)
    for task in range(t0, t1):
        b = task // nbands
        y0 = (task % nbands) * band
        bh = min(band, ho - y0)
        _region(frame, b, yidx, xidx, xb, fill, y0, bh + 2 * ry, 0, wo + 2 * rx, reg)
        for yy in range(bh):
            for x in range(wo):
                m = 0
                for k in range(nruns):
                    row = yy + rdy[k]  # an index, not a view: views cost refcounting
                    for j in range(x + rdx[k], x + rdx[k] + rlen[k]):
                        val = reg[row, j]
                        if val == val:
                            buf[m] = val
                            m += 1
                if m < thr or m == 0:
                    out[0, b, y0 + yy, x] = np.nan
                else:
                    out[0, b, y0 + yy, x] = func(buf[:m])
