"""Finishing formulas of the NaN-aware sweep: each statistic from the window accumulators.

``sum`` and the weighted sums are the accumulated sum of w*x; ``mean`` divides it by the
count; ``renormalize`` rescales by the total weight over the weight of the valid taps
(unless no tap is missing; NaN where the valid weights cancel to rounding); the variance is ``Q/n - (A/n)^2`` of the deviations about the
window's reference, set to 0 within its rounding noise and to NaN / inf as numpy's
``nanvar``; ``std`` its square root; the extremes and the range are the folded max / min.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..._contract import FLOAT64_EPS, Stat

# The codes as plain ints: numba freezes module globals into the compiled code.
_PROPAGATE, _OMIT, _RENORMALIZE = int(Stat.PROPAGATE), int(Stat.OMIT), int(Stat.RENORMALIZE)
_SUM, _MEAN, _COUNT, _VAR, _STD = (int(Stat.SUM), int(Stat.MEAN), int(Stat.COUNT),
                                   int(Stat.VAR), int(Stat.STD))
_MAX, _MIN = int(Stat.MAX), int(Stat.MIN)


@njit(nogil=True, cache=True)
def _variance(n, d, q2, r):
    """The variance of n valid values from their deviations d and squares q2 about r."""
    m = d / n
    q = q2 / n
    var = q - m * m
    if np.abs(r) == np.inf:
        # The window's first valid value is infinite (a lone one-tap run has zero
        # deviation sums): NaN, as numpy's nanvar.
        return np.nan
    if np.abs(d) < np.inf and not np.abs(q2) < np.inf:
        # Finite values (their deviations sum to a finite number) whose squares overflow
        # -- to inf, or to inf - inf where runs were joined: the variance overflows too
        # (numpy's nanvar gives inf). Tested first: the noise test below would call
        # inf <= inf noise and return 0.
        return np.inf
    if var == var:
        # Deviations are about a value of the window, so q <= R^2 (R its range) and the
        # rounding error is a few (n + 2) eps q. A result within that noise (negative by
        # rounding) is 0, as a two-pass variance gives; a nonzero variance is at least
        # R^2 / (2n), far above.
        return 0.0 if var <= 2.0 * (n + 2.0) * FLOAT64_EPS * q else var
    # Otherwise NaN: an infinity in the window, as numpy's nanvar.
    return var


@njit(nogil=True, cache=True)
def _finish(codes, out, b, y, x0, ws, accs, threshold, wtotal, ntaps, wcancel):
    """Write output row ``y`` (columns x0 .. x0 + ws of slice b) of every statistic.

    Statistic ``s`` is finished by the formula of its code ``codes[s]``
    (:class:`~xarray_focal._contract.Stat`) from the accumulator rows (see :mod:`.combine`).
    Fewer valid taps than ``threshold`` (or none) give NaN, except for the count itself.
    The fields of the drivers' ``ReductionArgs`` one by one: this runs once per output row.
    """
    nan = np.nan
    acc_a, acc_n, acc_w, acc_q, acc_mx, acc_mn, acc_d, acc_r = (
        accs[0], accs[1], accs[2], accs[3], accs[4], accs[5], accs[6], accs[7])
    for s in range(codes.shape[0]):
        code = codes[s]
        orow = out[s, b, y, x0:x0 + ws]
        # The commonest statistics as loops of their own: branch-free bodies vectorise
        # (``&``, not ``and``: a short-circuit is a branch, and a scalar division per cell
        # costs as much as the whole box sum).
        if code == _MEAN:
            for x in range(ws):
                n = acc_n[x]
                ok = (n >= threshold) & (n != 0.0)
                orow[x] = acc_a[x] / n if ok else nan
            continue
        if code == _SUM or code == _PROPAGATE or code == _OMIT:
            for x in range(ws):
                n = acc_n[x]
                orow[x] = acc_a[x] if (n >= threshold) & (n != 0.0) else nan
            continue
        if code == _COUNT:
            for x in range(ws):
                orow[x] = acc_n[x]
            continue
        if code == _VAR or code == _STD:
            for x in range(ws):
                n = acc_n[x]
                var = _variance(n, acc_d[x], acc_q[x], acc_r[x]) if (
                    n >= threshold and n != 0.0) else nan
                orow[x] = var if code == _VAR else np.sqrt(var)
            continue
        if code == _MAX or code == _MIN:
            src = acc_mx if code == _MAX else acc_mn
            for x in range(ws):
                n = acc_n[x]
                orow[x] = src[x] if (n >= threshold) & (n != 0.0) else nan
            continue
        for x in range(ws):
            n = acc_n[x]
            if code == _COUNT:
                orow[x] = n
                continue
            if n < threshold or n == 0.0:
                orow[x] = nan
                continue
            if code == _PROPAGATE or code == _OMIT:
                orow[x] = acc_a[x]
            elif code == _RENORMALIZE:
                # No tap missing: the weighted sum itself. The factor wtotal / wv would be
                # a ratio of two differently rounded sums of the same weights, not 1.
                wv = acc_w[x]
                if n == ntaps:
                    orow[x] = acc_a[x]
                else:
                    # Valid weights that cancel to within their sum's rounding leave no
                    # weight to rescale by: the factor would be rounding noise magnified.
                    orow[x] = nan if np.abs(wv) <= wcancel else acc_a[x] * (wtotal / wv)
            elif code == _SUM:
                orow[x] = acc_a[x]
            elif code == _MEAN:
                orow[x] = acc_a[x] / n
            elif code == _VAR or code == _STD:
                var = _variance(n, acc_d[x], acc_q[x], acc_r[x])
                orow[x] = var if code == _VAR else np.sqrt(var)
            elif code == _MAX:
                orow[x] = acc_mx[x]
            elif code == _MIN:
                orow[x] = acc_mn[x]
            else:  # range
                orow[x] = acc_mx[x] - acc_mn[x]
