"""NaN-aware sweeps: NaN policies ``omit``/``renormalize`` and focal statistics.

The same band x strip tasks and ring of source rows as :mod:`.sweep`, but each source row
is split into *channels* before the window sums: the value with NaN read as 0, the valid
indicator, and the value with NaN read as -inf / +inf for maxima / minima. Window sums (and
window maxima / minima, built the same incremental way) of each channel are combined over
the plan's runs into accumulators -- sum of w*x, count of valid taps, sum of w over valid
taps, max, min -- and each requested statistic is finished from those.

Counts are sums of 0/1 in float64, hence exact integers. Everything else keeps the
direct-sum contract because sums only add values inside the window. ``min``/``max`` are
exact. ``sum``/``mean`` come from the unshifted value channel, so they are the same bits
whichever other statistics are asked for.

The variance is one pass of shifted sums with every shift *local*: each run (a row run of
the row plans, a vertical window of the column plans) sums ``x - s`` and ``(x - s)^2`` over
its valid taps about ``s``, the first valid value of the run; the window then moves every
run to its own reference ``r`` (the shift of its first run with a valid tap) with
``d = s - r``: ``A += S1 + n d``, ``Q += S2 + d (2 S1 + n d)``, and ``var = Q/n - (A/n)^2``.
Every term is bounded by the window's range ``R`` of valid values, so the error is a few
``(n + 2) eps R^2`` whatever the offset of the data or the values outside the window, and
the result does not depend on chunking.

Modules, one job each: :mod:`.channels` splits a source row into channels and builds
their window sums and extremes (row runs) or vertical windows (column runs);
:mod:`.combine` adds a window's runs into the accumulators; :mod:`.finish` turns the
accumulators into each statistic; :mod:`.drivers` holds the task loops and the drivers
:func:`reduce` (row runs, direct taps) and :func:`reduce_columns` (column runs), which
:mod:`xarray_focal._backends.numpy_backend` calls with the typed argument groups
``Source``, ``PlanArrays``, :data:`ReductionArgs` and ``Tasks``.
"""

from __future__ import annotations

from .drivers import ReductionArgs, reduce, reduce_columns, reduction_args

__all__ = ["ReductionArgs", "reduce", "reduce_columns", "reduction_args"]
