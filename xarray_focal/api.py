"""Array-level API: plain functions on numpy, dask and cupy arrays (no xarray needed).

This layer validates every argument, exactly once per call, normalises options, describes
the kernel once (:func:`~xarray_focal._algorithms.runs.describe`), and hands the work to the
backend chosen by the array (chunk) type, which derives its own layout from that
description. It never falls back silently: an unsupported array type or dtype raises.

Each public function is two steps, also open to the accessors (which validate the options
once for a whole Dataset and need the footprint's size for their labels):
:func:`check_correlate` / :func:`check_stats` validate everything but the data into a
:class:`FocalCall`, and :func:`apply` validates the data and runs that call on it.
"""

from __future__ import annotations

import dataclasses
import numbers
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._algorithms.plan import check_method, check_method_for
from ._algorithms.runs import KernelRuns, describe
from ._backends import backend_for, is_cupy_array, is_dask_array
from ._boundary import check_boundary
from ._docs import STAT_EXAMPLES
from ._contract import Reduction, working_dtype
from .errors import FocalTypeError, FocalValueError
from .kernels import MAX_KERNEL_CELLS, custom_kernel
from . import _geodesic
from ._geodesic import GeodesicKernel

__all__ = [
    "correlate",
    "convolve",
    "focal_stats",
    "focal_mean",
    "focal_sum",
    "focal_count",
    "focal_min",
    "focal_max",
    "focal_range",
    "focal_std",
    "focal_var",
    "NAN_POLICIES",
    "STATISTICS",
    "RANK_STATISTICS",
    "focal_median",
    "focal_percentile",
    "focal_majority",
    "focal_minority",
    "focal_variety",
    "focal_apply",
    "hotspots",
]

#: Accepted ``nan_policy=`` values of correlate/convolve (statistics take the first two).
NAN_POLICIES = ("propagate", "omit", "renormalize")
#: Statistics of :func:`focal_stats`, in the order they are documented.
STATISTICS = ("mean", "sum", "count", "min", "max", "range", "std", "var")
#: Rank and class statistics of :func:`focal_stats` (computed by the rank engines; the
#: percentiles have their own :func:`focal_percentile`).
RANK_STATISTICS = ("median", "majority", "minority", "variety")


def _check_data(data: Any) -> Any:
    if isinstance(data, (list, tuple)):
        data = np.asarray(data)
    if isinstance(data, np.ndarray) and not isinstance(data, np.ma.MaskedArray):
        # Subclasses (np.matrix, memmap) as plain views: np.matrix stays 2-D under the
        # backend's reshape to 3-D and reached numba as the wrong type. Masked arrays are
        # left alone so the backend refuses them rather than silently dropping the mask.
        data = np.asarray(data)
    if not hasattr(data, "dtype") or not hasattr(data, "shape"):
        raise FocalTypeError(
            f"data must be a numpy, dask or cupy array; got {type(data).__name__}"
        )
    kind = np.dtype(data.dtype).kind
    if kind not in "biuf":
        raise FocalTypeError(
            f"data must be real numbers (bool, int or float); got dtype {data.dtype}"
        )
    if kind == "f" and np.dtype(data.dtype).itemsize > 8:
        raise FocalTypeError(
            f"data of dtype {data.dtype} (extended precision) is not supported: the kernels "
            "compute in float64 and would silently drop its extra digits; convert with "
            "data.astype(np.float64) if that is acceptable"
        )
    if data.ndim < 2:
        raise FocalValueError(
            f"data must have at least 2 dimensions (the last two are spatial); got shape {data.shape}"
        )
    if is_dask_array(data) and any(np.isnan(c) for axis in data.chunks for c in axis):
        # Unknown sizes (after boolean indexing) would reach the index maps as NaN and fail
        # only at compute time, deep inside a task.
        raise FocalValueError(
            "data is a dask array with unknown chunk sizes (NaN in data.chunks, e.g. after "
            "boolean indexing); call data.compute_chunk_sizes() first"
        )
    if not np.dtype(data.dtype).isnative:
        # Byte-swapped input (">f4" read from a file) follows the dtype rules of its native
        # twin: big-endian float32 must give float32, not float64. The kernels need native
        # data anyway, so this is the copy they would make.
        data = data.astype(np.dtype(data.dtype).newbyteorder("="))
    return data


def correlate(
    data: Any,
    kernel: Any,
    *,
    boundary: str | tuple[str, str] = "nan",
    cval: float = 0.0,
    nan_policy: str = "propagate",
    min_count: int | None = None,
    method: str = "auto",
) -> Any:
    """Correlate the last two axes of ``data`` with ``kernel`` (kernel overlaid as given).

    ``out[y, x] = sum(kernel[i, j] * data[y + i - kh // 2, x + j - kw // 2])`` over the
    nonzero taps of the kernel: zero-weight taps are never read, so a NaN under one does not
    reach the result. Any leading axes are processed independently in the same call.

    Parameters
    ----------
    data : numpy.ndarray, dask.array.Array or cupy.ndarray
        At least 2-D, real numbers. Not modified.
    kernel : array_like
        2-D with odd sides, finite weights, not all zero.
    boundary : {"nan", "nearest", "reflect", "mirror", "wrap", "constant"} or pair of them
        Value read by taps outside the array (see :data:`xarray_focal.BOUNDARY_MODES`).
        ``"nan"`` (default) makes a result NaN wherever a tap falls outside. A ``(y, x)``
        pair sets each spatial axis on its own, like scipy.ndimage's mode sequence:
        ``("nearest", "wrap")`` for a global grid periodic in longitude.
    cval : float
        Outside value for ``boundary="constant"``; ignored otherwise.
    nan_policy : {"propagate", "omit", "renormalize"}
        ``"propagate"`` (default): NaN wherever a footprint tap reads NaN. ``"omit"``: the
        sum over the valid taps only (NaN where there are none). ``"renormalize"``: the
        sum over valid taps scaled by ``sum(all weights) / sum(valid weights)`` -- a
        weighted mean that fills holes (astropy's ``nan_treatment="interpolate"``); the
        plain weighted sum where no tap is missing; NaN where the valid weights sum to 0
        up to rounding. Kernels whose weights sum to 0 are refused for it. With
        ``boundary="nan"`` outside taps count as missing. ±inf are values, not missing.
    min_count : int, optional
        Fewer valid footprint taps than this give NaN.
    method : {"auto", "direct", "runs", "columns", "separable", "box"}
        Algorithm. ``"direct"`` does one multiply-add per footprint tap; ``"runs"`` splits
        each kernel row into runs of equal weight and costs one multiply-add per run (a
        circle: one per row) plus shared window sums; ``"columns"`` does the same down the
        kernel's columns (cache-friendlier for large kernels); ``"separable"`` applies a
        rank-1 kernel (box, Gaussian) as a row pass and a column pass and needs
        ``nan_policy="propagate"``; ``"box"`` takes a footprint that is a rectangle of one
        weight (a box, :func:`~xarray_focal.box_kernel`) by block prefix and suffix sums
        down the columns and along the rows: a few operations per cell whatever the box's
        size, every NaN policy, and only values inside each window are ever added (a
        method the kernel cannot use is refused, saying why). ``"auto"`` (default) picks
        the cheapest. All methods meet the same accuracy contract and NaN semantics. On cupy
        arrays the CUDA kernels lay out the kernel's runs their own way and ``method`` is
        only validated.

    Returns
    -------
    array of the same type and shape
        float32 for float32 input, float64 otherwise. Dask input gives a lazy dask array
        with the same chunks.

    See Also
    --------
    convolve : the same with the kernel flipped.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray_focal as xf
    >>> data = np.arange(9.0).reshape(3, 3)
    >>> xf.correlate(data, [[0, 0, 0], [0, 0, 1], [0, 0, 0]], boundary="nearest")
    array([[1., 2., 2.],
           [4., 5., 5.],
           [7., 8., 8.]])
    >>> xf.correlate(data, np.ones((3, 3)))  # boundary="nan": edges see outside taps
    array([[nan, nan, nan],
           [nan, 36., nan],
           [nan, nan, nan]])
    """
    data = _check_data(data)
    call = check_correlate(
        kernel, boundary=boundary, cval=cval, nan_policy=nan_policy, min_count=min_count,
        method=method,
    )
    return _apply_checked(data, call)[0]


def convolve(
    data: Any,
    kernel: Any,
    *,
    boundary: str | tuple[str, str] = "nan",
    cval: float = 0.0,
    nan_policy: str = "propagate",
    min_count: int | None = None,
    method: str = "auto",
) -> Any:
    """Convolve the last two axes of ``data`` with ``kernel``: correlate with it flipped.

    ``convolve(data, k)`` equals ``correlate(data, k[::-1, ::-1])``, as
    :func:`scipy.ndimage.convolve` relates to :func:`scipy.ndimage.correlate`. For the
    symmetric built-in kernels (circle, annulus) the two give the same result.

    Parameters
    ----------
    data, kernel, boundary, cval, nan_policy, min_count, method
        As for :func:`correlate`.

    Returns
    -------
    array of the same type and shape
        As for :func:`correlate`.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray_focal as xf
    >>> data = np.arange(9.0).reshape(3, 3)
    >>> xf.convolve(data, [[0, 0, 0], [0, 0, 1], [0, 0, 0]], boundary="nearest")
    array([[0., 0., 1.],
           [3., 3., 4.],
           [6., 6., 7.]])
    """
    data = _check_data(data)
    call = check_correlate(
        kernel, flip=True, boundary=boundary, cval=cval, nan_policy=nan_policy,
        min_count=min_count, method=method,
    )
    return _apply_checked(data, call)[0]


#: A kernel whose weights sum to at most this fraction of sum|w| counts as zero-sum.
ZERO_SUM_RTOL = 1e-9


def _check_renormalizable(weights: np.ndarray) -> None:
    """Refuse ``renormalize`` for kernels whose weights sum to (near) zero.

    renormalize rescales a window with missing taps by sum(w) / sum(w valid). For a
    zero-mean kernel (Laplacian, difference of Gaussians, edge filters) sum(w) is 0 up to
    rounding, so every such window would come out as 0 or as rounding noise magnified:
    there is no weighted mean to restore.
    """
    total = float(weights.sum())
    scale = float(np.abs(weights).sum())
    if abs(total) <= ZERO_SUM_RTOL * scale:
        raise FocalValueError(
            f"nan_policy='renormalize' rescales by the kernel's weight sum, but this kernel's "
            f"weights sum to {total:.3g} (sum of |w| {scale:.3g}): zero-sum kernels have no "
            "weighted mean to restore; use nan_policy='omit' (sum over the valid taps) or "
            "'propagate'"
        )


def _check_policy(nan_policy: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(nan_policy, str) or nan_policy not in allowed:
        raise FocalValueError(f"unknown nan_policy {nan_policy!r}; choose one of {allowed}")
    return nan_policy


def _check_min_count(min_count: object) -> int | None:
    if min_count is None:
        return None
    if isinstance(min_count, (bool, np.bool_)) or not isinstance(min_count, numbers.Integral):
        raise FocalTypeError(f"min_count must be an integer or None; got {min_count!r}")
    if min_count < 0:
        raise FocalValueError(f"min_count must be >= 0; got {min_count}")
    return int(min_count)


def _check_reachable(min_count: int | None, ntaps: int) -> None:
    """A min_count above the footprint's size would make every result NaN without a word."""
    if min_count is not None and min_count > ntaps:
        raise FocalValueError(
            f"min_count={min_count} is more than the footprint's {ntaps} cells: every result "
            "would be NaN"
        )


def _check_stats(stats: object) -> tuple[str, ...]:
    if isinstance(stats, str):
        stats = (stats,)
    if not isinstance(stats, Sequence) or not stats:
        raise FocalTypeError(f"stats must be a non-empty sequence of names from {STATISTICS}")
    known = STATISTICS + RANK_STATISTICS + ("percentile",)
    unknown = [s for s in stats if s not in known]
    if unknown:
        raise FocalValueError(f"unknown statistic(s) {unknown}; choose from {known}")
    if len(set(stats)) != len(stats):
        raise FocalValueError(f"stats lists a statistic twice: {list(stats)}")
    return tuple(stats)


def percentile_name(q: float) -> str:
    """The output name of percentile ``q`` in :func:`focal_stats`: ``"percentile_<q>"``.

    Integral ``q`` without a decimal point, others as Python writes the float (exact, so
    two different ``q`` never share a name).

    Examples
    --------
    >>> percentile_name(90), percentile_name(2.5), percentile_name(100 / 3)
    ('percentile_90', 'percentile_2.5', 'percentile_33.333333333333336')
    """
    q = float(q)
    return f"percentile_{int(q)}" if q.is_integer() else f"percentile_{q!r}"


def _expand_percentiles(names: tuple[str, ...], q: object) -> tuple[tuple[str, ...], tuple]:
    """``names`` with ``"percentile"`` replaced by one name per ``q``; the checked ``q``s."""
    if "percentile" not in names:
        if q is not None:
            raise FocalValueError(
                f"q={q!r} is given but stats has no \"percentile\"; add it, e.g. "
                "stats=(\"mean\", \"percentile\"), q=90"
            )
        return names, ()
    if q is None:
        raise FocalTypeError(
            'stats has "percentile": give its q= (a percentile 0 to 100, or a sequence of '
            "them, e.g. q=(10, 50, 90))"
        )
    if isinstance(q, (str, bytes)) or not isinstance(q, (Sequence, np.ndarray, numbers.Real)):
        raise FocalTypeError(f"q must be a percentile (0 to 100) or a sequence of them; got {q!r}")
    qs = tuple(_check_q(v) for v in np.ravel(np.asarray(q, dtype=object)).tolist())
    if not qs:
        raise FocalValueError("q is empty: give at least one percentile (0 to 100)")
    pnames = tuple(percentile_name(v) for v in qs)
    if len(set(pnames)) != len(pnames):
        raise FocalValueError(f"q lists a percentile twice: {list(qs)}")
    clash = [n for n in pnames if n in names]
    if clash:  # cannot happen with the names above, but a result must never be overwritten
        raise FocalValueError(f"q gives output names {clash} that stats already has")
    i = names.index("percentile")
    return names[:i] + pnames + names[i + 1:], qs


def focal_stats(
    data: Any,
    footprint: Any = None,
    stats: Sequence[str] = ("mean", "std"),
    *,
    size: int | tuple[int, int] | None = None,
    boundary: str | tuple[str, str] = "nan",
    nan_policy: str = "omit",
    min_count: int | None = None,
    method: str = "auto",
    area_weighted: bool = False,
    q: float | Sequence[float] | None = None,
) -> dict[str, Any]:
    """Several focal statistics over the footprint, computed in one pass over the data.

    Parameters
    ----------
    data : numpy.ndarray, dask.array.Array or cupy.ndarray
        At least 2-D, real numbers; the last two axes are spatial. Not modified.
    footprint : array_like, optional
        2-D, odd sides; nonzero cells form the neighbourhood (weights are ignored). Give
        either ``footprint`` or ``size``.
    stats : sequence of str
        Any of ``"mean"``, ``"sum"``, ``"count"``, ``"min"``, ``"max"``, ``"range"``,
        ``"std"``, ``"var"`` (population: ``ddof=0``), and the rank and class statistics
        ``"median"``, ``"majority"``, ``"minority"``, ``"variety"`` (see
        :func:`focal_median`, :func:`focal_majority`...) and ``"percentile"`` (with
        ``q``), which run in their own engine.
    size : int or (int, int), optional
        Instead of ``footprint``: a box of ``size`` x ``size`` (or ``(rows, cols)``) cells,
        odd sides, as ``scipy.ndimage``'s ``size=``. Its statistics cost the same whatever
        the box's size (``method="box"``).
    boundary : str or (str, str)
        As for :func:`correlate` (one mode or a ``(y, x)`` pair); ``"nan"`` (default)
        makes outside cells missing.
    nan_policy : {"omit", "propagate"}
        ``"omit"`` (default, ArcGIS's "ignore NoData"): statistics of the valid cells,
        NaN where there are none. ``"propagate"``: NaN wherever the footprint holds a NaN.
        ``count`` always counts the valid cells.
    min_count : int, optional
        Fewer valid cells than this give NaN (except for ``count``).
    method : {"auto", "direct", "runs", "columns", "box"}
        As for :func:`correlate`.
    area_weighted : bool
        With a geodesic kernel (:class:`~xarray_focal.GeodesicKernel`): weight each cell by
        its area, so ``mean``, ``std`` and ``var`` are area means and ``sum`` is the
        area integral (value times m^2). Refused with other kernels.
    q : float or sequence of float, optional
        The percentiles (0 to 100, numpy's "linear" method, as :func:`focal_percentile`)
        of ``"percentile"`` in ``stats``; required with it, refused without it. Each gives
        one output, ``"percentile_<q>"`` (``q=(10, 2.5)``: ``"percentile_10"``,
        ``"percentile_2.5"``: integral ``q`` without a decimal point, others as Python
        writes the float), in the place of ``"percentile"`` in ``stats``. All come from
        one sort of each window.

    Returns
    -------
    dict of str to array
        One array per statistic, each like ``data`` (float32 for float32, else float64).

    Examples
    --------
    >>> import numpy as np
    >>> import xarray_focal as xf
    >>> data = np.array([[1.0, 2.0, np.nan], [4.0, 5.0, 6.0]])
    >>> out = xf.focal_stats(data, np.ones((1, 3)), ("mean", "max", "count"), boundary="nan")
    >>> out["mean"]
    array([[1.5, 1.5, 2. ],
           [4.5, 5. , 5.5]])
    >>> out["count"]
    array([[2., 2., 1.],
           [2., 3., 2.]])
    >>> xf.focal_stats(data, stats=("max",), size=(1, 3), boundary="nan")["max"]
    array([[2., 2., 2.],
           [5., 6., 6.]])
    >>> p = xf.focal_stats(data, np.ones((1, 3)), ("median", "percentile"), q=(25, 90))
    >>> list(p), p["percentile_90"]
    (['median', 'percentile_25', 'percentile_90'], array([[1.9, 1.9, 2. ],
           [4.9, 5.8, 5.9]]))
    """
    data = _check_data(data)
    call = check_stats(
        footprint, stats, size=size, boundary=boundary, nan_policy=nan_policy,
        min_count=min_count, method=method, area_weighted=area_weighted, q=q,
    )
    return dict(zip(call.outputs, _apply_checked(data, call)))


def _single_stat(name: str):
    def stat(
        data: Any,
        footprint: Any = None,
        *,
        size: int | tuple[int, int] | None = None,
        boundary: str | tuple[str, str] = "nan",
        nan_policy: str = "omit",
        min_count: int | None = None,
        method: str = "auto",
        area_weighted: bool = False,
    ) -> Any:
        return focal_stats(
            data, footprint, (name,), size=size, boundary=boundary, nan_policy=nan_policy,
            min_count=min_count, method=method, area_weighted=area_weighted,
        )[name]

    stat.__name__ = stat.__qualname__ = f"focal_{name}"
    stat.__doc__ = f"""Focal {name} over the nonzero cells of ``footprint``.

    Shorthand for ``focal_stats(data, footprint, ("{name}",), ...)["{name}"]``; see
    :func:`focal_stats` for the parameters. ``size=15`` or ``size=(15, 31)`` instead of
    ``footprint`` is a box of that many cells, as in ``scipy.ndimage``.

    Returns
    -------
    array
        Like ``data`` (float32 for float32 input, else float64).

    Examples
    --------
    >>> import numpy as np
    >>> import xarray_focal as xf
    >>> xf.focal_{name}(np.array([[1.0, 3.0, np.nan, 8.0]]), np.ones((1, 3)), boundary="nearest")
    {STAT_EXAMPLES[name]}
    """
    return stat


focal_mean = _single_stat("mean")
focal_sum = _single_stat("sum")
focal_count = _single_stat("count")
focal_min = _single_stat("min")
focal_max = _single_stat("max")
focal_range = _single_stat("range")
focal_std = _single_stat("std")
focal_var = _single_stat("var")
focal_median = _single_stat("median")
focal_majority = _single_stat("majority")
focal_minority = _single_stat("minority")
focal_variety = _single_stat("variety")


def _check_q(q: object) -> float:
    if isinstance(q, (bool, np.bool_)) or not isinstance(q, numbers.Real):
        raise FocalTypeError(f"q must be a real number (a percentile, 0 to 100); got {q!r}")
    q = float(q)
    if not 0.0 <= q <= 100.0:  # NaN fails too
        raise FocalValueError(f"q must be a percentile between 0 and 100; got {q!r}")
    return q


def check_percentile(
    footprint: Any,
    q: float,
    *,
    boundary: str | tuple[str, str] = "nan",
    nan_policy: str = "omit",
    min_count: int | None = None,
) -> FocalCall:
    """Validate the options of :func:`focal_percentile`, once, for :func:`apply`.

    Examples
    --------
    >>> call = check_percentile(np.ones((3, 3)), 90)
    >>> call.outputs, call.rank.q
    (('percentile',), 90.0)
    """
    from ._backends.rank import RankReduction

    q = _check_q(q)
    call = check_stats(footprint, ("median",), boundary=boundary, nan_policy=nan_policy,
                       min_count=min_count)
    rank = RankReduction(("percentile",), call.rank.threshold, q=q)
    return _with_rank(call, rank)


def _with_rank(call, rank):
    """``call`` (made for a median) computing ``rank``'s one statistic instead."""
    if isinstance(call, _geodesic.GeodesicCall):
        return dataclasses.replace(call, names=rank.names, outputs=rank.names, rank=rank)
    return dataclasses.replace(call, outputs=rank.names, rank=rank)


def focal_percentile(
    data: Any,
    footprint: Any,
    q: float,
    *,
    boundary: str | tuple[str, str] = "nan",
    nan_policy: str = "omit",
    min_count: int | None = None,
) -> Any:
    """The ``q``-th percentile of the valid values under the footprint's nonzero cells.

    Exact: numpy's default ("linear") interpolation between the two order statistics
    around ``(n - 1) * q / 100`` of the window's ``n`` valid values, as
    :func:`numpy.nanpercentile` computes it (float32 data: computed in float64 from the
    exact float32 values, rounded once). Where the two order statistics are equal the
    result is that value, and between a finite and an infinite one it is the infinite one
    (numpy returns NaN there).

    Parameters
    ----------
    data : numpy.ndarray, dask.array.Array or cupy.ndarray
        At least 2-D, real numbers; the last two axes are spatial. Not modified.
    footprint : array_like
        2-D, odd sides; nonzero cells form the neighbourhood (weights are ignored).
    q : float
        The percentile, 0 to 100 (50 is the median up to the rounding of the midpoint).
    boundary, nan_policy, min_count
        As for :func:`focal_stats`.

    Returns
    -------
    array
        Like ``data`` (float32 for float32 input, else float64).

    Examples
    --------
    >>> import numpy as np
    >>> import xarray_focal as xf
    >>> xf.focal_percentile(np.array([[1.0, 3.0, np.nan, 8.0]]), np.ones((1, 3)), 25,
    ...                     boundary="nearest")
    array([[1.  , 1.5 , 4.25, 8.  ]])
    """
    data = _check_data(data)
    call = check_percentile(footprint, q, boundary=boundary, nan_policy=nan_policy,
                            min_count=min_count)
    return _apply_checked(data, call)[0]


#: The numba dispatchers of plain Python functions given to focal_apply, by function.
_JITTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _check_func(func: object):
    """``func`` as a numba CPU dispatcher compiled for a float64 array, or a clear error."""
    import numba
    from numba.core import errors as numba_errors
    from numba.core.registry import CPUDispatcher

    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
    if not isinstance(func, CPUDispatcher):
        if not callable(func) or isinstance(func, type):
            raise FocalTypeError(f"func must be a function of a 1-D array; got {func!r}")
        try:
            plain = func
            func = _JITTED.get(plain)
            if func is None:
                # Jitted once per function: the next call (and its dask token) reuses it.
                func = _JITTED.setdefault(plain, numba.njit(plain))
        except (TypeError, numba_errors.NumbaError) as exc:  # builtins, ufuncs, callables
            raise FocalTypeError(
                f"func {name!r} cannot be compiled by numba: it must be a plain Python "
                f"function or a numba.njit function of a 1-D array ({exc})"
            ) from exc
    try:
        func.compile((numba.types.float64[::1],))
    except numba_errors.NumbaError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FocalTypeError(
            f"func {name!r} cannot be compiled by numba in nopython mode for a 1-D float64 "
            f"array (the window's valid values): {first}"
        ) from exc
    sig = [s for s in func.nopython_signatures if s.args == (numba.types.float64[::1],)]
    ret = sig[-1].return_type if sig else None
    if not isinstance(ret, (numba.types.Float, numba.types.Integer, numba.types.Boolean)):
        raise FocalTypeError(
            f"func {name!r} must return a real number (a float); numba infers {ret}"
        )
    return func


def check_apply(
    footprint: Any,
    func: Any,
    *,
    boundary: str | tuple[str, str] = "nan",
    nan_policy: str = "omit",
    min_count: int | None = None,
) -> FocalCall:
    """Validate the options of :func:`focal_apply` (compiling ``func``), for :func:`apply`."""
    from ._backends.rank import RankReduction

    func = _check_func(func)
    call = check_stats(footprint, ("median",), boundary=boundary, nan_policy=nan_policy,
                       min_count=min_count)
    rank = RankReduction(("apply",), call.rank.threshold, func=func)
    return _with_rank(call, rank)


def focal_apply(
    data: Any,
    footprint: Any,
    func: Any,
    *,
    boundary: str | tuple[str, str] = "nan",
    nan_policy: str = "omit",
    min_count: int | None = None,
) -> Any:
    """``func`` of each window's valid values: a statistic of one's own.

    ``func`` receives the valid (non-NaN) values under the footprint's nonzero cells as a
    1-D float64 array, in footprint order (row by row, left to right), and returns a real
    number. It runs compiled by numba (nopython mode), without the GIL, on all cores for
    numpy data and in each dask task for dask data. Windows with fewer valid values than
    ``min_count`` (or none) give NaN without calling it. cupy arrays are refused.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array
        At least 2-D, real numbers; the last two axes are spatial. Not modified.
    footprint : array_like
        2-D, odd sides; nonzero cells form the neighbourhood (weights are ignored).
    func : function
        A ``numba.njit`` function (a plain Python function is compiled with
        ``numba.njit``); one numba cannot compile raises :class:`FocalTypeError` naming it.
    boundary, nan_policy, min_count
        As for :func:`focal_stats` (``nan_policy="propagate"``: NaN wherever the
        footprint holds a NaN, without calling ``func``).

    Returns
    -------
    array
        Like ``data`` (float32 for float32 input, else float64).

    Examples
    --------
    >>> import numba
    >>> import numpy as np
    >>> import xarray_focal as xf
    >>> @numba.njit
    ... def spread(v):
    ...     return v.max() - v.min()
    >>> xf.focal_apply(np.array([[1.0, 3.0, np.nan, 8.0]]), np.ones((1, 3)), spread,
    ...                boundary="nearest")
    array([[2., 2., 5., 0.]])
    """
    data = _check_data(data)
    call = check_apply(footprint, func, boundary=boundary, nan_policy=nan_policy,
                       min_count=min_count)
    return _apply_checked(data, call)[0]


#: |z| above these give the 90, 95 and 99 % confidence classes of :func:`hotspots`.
HOTSPOT_Z = (1.65, 1.96, 2.58)


def hotspots(data: Any, kernel: Any, *, boundary: str | tuple[str, str] = "nan") -> Any:
    """Getis-Ord Gi* hot and cold spots, classified at 90, 95 and 99 % confidence.

    For each cell ``i``, with kernel weights ``w_ij`` (the cell itself included: the
    "star" statistic) over its valid neighbours ``x_j``,

    ``z_i = (sum_j w_ij x_j - mean * W_i) / (std * sqrt((n W2_i - W_i**2) / (n - 1)))``

    where ``W_i = sum_j w_ij`` and ``W2_i = sum_j w_ij**2`` over the valid neighbours,
    ``mean`` and ``std`` (population) are taken over all ``n`` valid cells of the 2-D
    slice, and NaN cells count in neither. ``z`` is then classified as xarray-spatial's
    ``focal.hotspots`` does: ``99`` where ``z > 2.58``, ``95`` where ``1.96 < z <= 2.58``,
    ``90`` where ``1.65 < z <= 1.96``, the negatives for cold spots, ``0`` otherwise
    (also where ``z`` is not finite, e.g. a window with a single valid cell, or where a
    tap falls outside with ``boundary="nan"``). Computed in float64 (xarray-spatial
    computes in float32, so the two differ only where ``z`` lies within float32 rounding
    of a threshold).

    Parameters
    ----------
    data : numpy.ndarray, dask.array.Array or cupy.ndarray
        At least 2-D, real numbers; each 2-D slice of the last two axes is one raster.
    kernel : array_like or GeodesicKernel
        2-D, odd sides, finite weights whose sum is not 0; overlaid as given (as
        :func:`correlate`). Zero weights are not part of the neighbourhood. Or a geodesic
        kernel (``da.focal.circle_kernel("500 km")`` on a latitude/longitude grid): ``W_i``
        and ``W2_i`` are then the sums over each cell's own footprint, which widens towards
        the poles, while ``mean``, ``std`` and ``n`` stay those of the slice's cells.
    boundary : str
        As for :func:`correlate` (default ``"nan"``).

    Returns
    -------
    array of int8
        Like ``data`` in shape and array type; values -99, -95, -90, 0, 90, 95, 99.

    Raises
    ------
    FocalValueError
        A slice with fewer than 2 valid cells, or whose values have a standard deviation
        of 0 or not finite (for dask: at compute time).

    Examples
    --------
    >>> import numpy as np
    >>> import xarray_focal as xf
    >>> data = np.zeros((5, 5))
    >>> data[1:4, 1:4] = 10.0
    >>> xf.hotspots(data, np.ones((3, 3)), boundary="nearest")
    array([[-90,   0,   0,   0, -90],
           [  0,   0,  95,   0,   0],
           [  0,  95,  99,  95,   0],
           [  0,   0,  95,   0,   0],
           [-90,   0,   0,   0, -90]], dtype=int8)
    """
    data = _check_data(data)  # the data first, as every operation checks it
    return _hotspots(data, check_hotspots(kernel, boundary=boundary))


@dataclass(frozen=True, eq=False)
class HotspotsCall:
    """The validated options of :func:`hotspots`: the two weighted sums it runs.

    ``weights`` sums ``w_ij x_j`` (and, over the valid mask, ``W_i``); ``squares`` sums
    ``w_ij**2`` over the valid mask (``W2_i``). Both are a :class:`FocalCall`, or a
    :class:`~xarray_focal._geodesic.GeodesicCall` for a geodesic kernel (``kernel``).
    """

    weights: Any
    squares: Any
    kernel: Any

    @property
    def geodesic(self) -> bool:
        return isinstance(self.kernel, GeodesicKernel)


def check_hotspots(kernel: Any, *, boundary: str | tuple[str, str] = "nan") -> HotspotsCall:
    """Validate the kernel and boundary of :func:`hotspots`, once (the accessor reuses it).

    Examples
    --------
    >>> call = check_hotspots(np.array([[0, 1, 0], [1, 2, 1], [0, 1, 0]]))
    >>> call.squares.runs.kernel[1].tolist()
    [1.0, 4.0, 1.0]
    """
    if isinstance(kernel, GeodesicKernel):
        call = check_correlate(kernel, boundary=boundary)
        runs = call.runs
        if runs.unit_weights:  # w**2 == w: W2 is W (gistar_z sums it once)
            return HotspotsCall(call, call, kernel)
        return HotspotsCall(call, dataclasses.replace(call, runs=runs.squared()), kernel)
    weights = custom_kernel(kernel)
    if float(weights.sum()) == 0.0:
        raise FocalValueError(
            "hotspots needs a kernel whose weights do not sum to 0: the Gi* neighbourhood "
            "terms would be degenerate"
        )
    call = check_correlate(weights, boundary=boundary)
    squares = weights * weights
    if np.array_equal(squares, weights):  # weights of 0 and 1: W2 is W
        return HotspotsCall(call, call, weights)
    return HotspotsCall(call, check_correlate(squares, boundary=boundary), weights)


def apply_hotspots(data: Any, call: HotspotsCall) -> Any:
    """:func:`hotspots` of ``data`` with a call of :func:`check_hotspots` (validated once).

    Examples
    --------
    >>> call = check_hotspots(np.ones((3, 3)), boundary="nearest")
    >>> data = np.zeros((5, 5))
    >>> data[1:4, 1:4] = 10.0
    >>> [apply_hotspots(d, call)[2, 2] for d in (data, -data)]
    [np.int8(99), np.int8(-99)]
    """
    return _hotspots(_check_data(data), call)


def _hotspots(data: Any, call: HotspotsCall) -> Any:
    z = gistar_z(data, call)
    az = np.abs(z)
    lo, mid, hi = HOTSPOT_Z
    confidence = 90 * (az > lo) + 5 * (az > mid) + 4 * (az > hi)
    sign = (z > 0).astype(np.int8) - (z < 0).astype(np.int8)
    return (sign * confidence).astype(np.int8)


def gistar_z(data: Any, call: HotspotsCall) -> Any:
    """The Gi* z score of every cell (0 where not finite), as :func:`hotspots` classifies it."""
    x = data.astype(np.float64)
    valid = ~np.isnan(x)
    filled = np.where(valid, x, 0.0)
    axes = (-2, -1)
    n = valid.sum(axis=axes, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # no valid cell: refused below
        mean = filled.sum(axis=axes, keepdims=True) / n
        dev = np.where(valid, x - mean, 0.0)
        std = np.sqrt((dev * dev).sum(axis=axes, keepdims=True) / n)
    if is_dask_array(data):
        import dask.array as dask_array

        std = dask_array.map_blocks(_check_gistar, std, n, dtype=std.dtype, meta=std._meta)
    else:
        _check_gistar(std, n)
    ones = valid.astype(np.float64)
    (wsum,) = _apply_checked(filled, call.weights)
    (w1,) = _apply_checked(ones, call.weights)
    (w2,) = (w1,) if call.squares is call.weights else _apply_checked(ones, call.squares)
    variance = (n * w2 - w1 * w1) / (n - 1)
    variance = np.where(variance > 0, variance, np.nan)
    z = (wsum - mean * w1) / (std * np.sqrt(variance))
    return np.where(np.isfinite(z), z, 0.0)


def _check_gistar(std, n):
    """Refuse rasters whose Gi* is undefined; returns ``std`` (a dask block check)."""
    n_host = np.asarray(n.get() if hasattr(n, "get") else n)  # cupy: to the host
    if bool((n_host < 2).any()):
        raise FocalValueError("hotspots needs at least 2 valid (non-NaN) cells in each 2-D slice")
    s = np.asarray(std.get() if hasattr(std, "get") else std)
    if not bool(np.isfinite(s).all()):
        raise FocalValueError(
            "hotspots: the standard deviation of the values is not finite (inf values, or "
            "values too large to square); mask them with NaN or rescale"
        )
    if bool((s == 0).any()):
        raise FocalValueError(
            "hotspots: the values have a standard deviation of 0 (a constant raster)"
        )
    return std


@dataclass(frozen=True, eq=False)
class FocalCall:
    """The validated options of one focal operation: what :func:`apply` runs on data.

    Made by :func:`check_correlate` or :func:`check_stats` (never by hand), so every
    field has passed its checks and can be applied to any number of arrays.

    Attributes
    ----------
    runs : KernelRuns
        The kernel as overlaid on the data (flipped for ``convolve``); ``runs.ntaps`` is
        the number of cells in the footprint.
    method, mode : str
        The algorithm and the boundary mode.
    fill : float
        What outside taps read (see :func:`~xarray_focal._boundary.check_boundary`).
    reduction : Reduction or None
        The NaN-aware sweep to run; ``None`` for the plain weighted sum.
    outputs : tuple of str
        One name per result: ``("correlate",)`` or the statistic names.
    rank : RankReduction or None
        The rank, class or custom statistics among ``outputs``
        (:mod:`xarray_focal._backends.rank`); ``reduction`` then holds the others, if any.
    """

    runs: KernelRuns
    method: str
    mode: str
    fill: float
    reduction: Reduction | None
    outputs: tuple[str, ...]
    rank: Any = None


def check_correlate(
    kernel: Any,
    *,
    flip: bool = False,
    boundary: str | tuple[str, str] = "nan",
    cval: float = 0.0,
    nan_policy: str = "propagate",
    min_count: int | None = None,
    method: str = "auto",
) -> FocalCall:
    """Validate the options of :func:`correlate` (``flip=True``: of :func:`convolve`).

    Everything but the data is checked here, once; the result can be applied to many
    arrays with :func:`apply` (the Dataset accessor does, once per variable).

    Examples
    --------
    >>> call = check_correlate([[0, 0, 0], [0, 0, 1], [0, 0, 0]], flip=True)
    >>> call.runs.kernel[1].tolist(), call.runs.ntaps, call.reduction is None
    ([1.0, 0.0, 0.0], 1, True)
    """
    if isinstance(kernel, GeodesicKernel):
        check_method(method)
        return _geodesic.check_call(
            kernel, flip=flip, boundary=boundary, cval=cval,
            nan_policy=_check_policy(nan_policy, NAN_POLICIES), min_count=min_count,
            stats=None, area_weighted=False,
        )
    weights = custom_kernel(kernel)
    if flip:
        weights = weights[::-1, ::-1]
    mode, fill = check_boundary(boundary, cval)
    policy = _check_policy(nan_policy, NAN_POLICIES)
    min_count = _check_min_count(min_count)
    fast = policy == "propagate" and min_count is None
    runs = describe(weights)
    method = check_method(method)
    check_method_for(runs, method, separable_ok=fast)
    _check_reachable(min_count, runs.ntaps)
    if policy == "renormalize":
        _check_renormalizable(weights)
    if fast:
        reduction = None
    else:
        if policy == "propagate":
            threshold = max(runs.ntaps, min_count)
        else:
            threshold = max(1, min_count or 0)
        reduction = Reduction((policy,), threshold, float(weights.sum()), runs.ntaps,
                              float(np.abs(weights).sum()))
    return FocalCall(runs, method, mode, fill, reduction, ("correlate",))


def _size_footprint(footprint: Any, size: object) -> Any:
    """The footprint, or a box of ``size`` cells (scipy's ``size=``): exactly one given."""
    if size is None:
        if footprint is None:
            raise FocalTypeError(
                "give the neighbourhood: a footprint array, or size= (a box of cells, e.g. "
                "size=15 or size=(15, 31))"
            )
        return footprint
    if footprint is not None:
        raise FocalTypeError("give footprint or size=, not both")
    sides = (size, size) if isinstance(size, numbers.Integral) else size
    if (not isinstance(sides, Sequence) or isinstance(sides, str) or len(sides) != 2
            or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral)
                   for v in sides)):
        raise FocalTypeError(f"size must be an int or a pair of ints (rows, cols); got {size!r}")
    rows, cols = (int(v) for v in sides)
    if rows < 1 or cols < 1:
        raise FocalValueError(f"size must be positive; got {size!r}")
    if rows * cols > MAX_KERNEL_CELLS:
        # As the kernel constructors: a box of this many cells is a typo, not a window.
        raise FocalValueError(
            f"size={size!r} is a box of {rows * cols:.3g} cells, more than the "
            f"{MAX_KERNEL_CELLS:.3g} a kernel may have"
        )
    if rows % 2 == 0 or cols % 2 == 0:
        raise FocalValueError(
            f"size must be odd so the box has a centre cell; got {size!r} (use "
            f"{rows + 1 - rows % 2}x{cols + 1 - cols % 2}, or a footprint with a zero row "
            "or column for an even box)"
        )
    return np.ones((rows, cols))


def check_stats(
    footprint: Any = None,
    stats: Sequence[str] = ("mean", "std"),
    *,
    size: int | tuple[int, int] | None = None,
    boundary: str | tuple[str, str] = "nan",
    nan_policy: str = "omit",
    min_count: int | None = None,
    method: str = "auto",
    area_weighted: bool = False,
    q: float | Sequence[float] | None = None,
) -> FocalCall:
    """Validate the options of :func:`focal_stats`, once, for :func:`apply`.

    Examples
    --------
    >>> call = check_stats(np.ones((3, 3)), ("mean", "count"))
    >>> call.outputs, call.runs.ntaps
    (('mean', 'count'), 9)
    """
    names, qs = _expand_percentiles(_check_stats(stats), q)
    footprint = _size_footprint(footprint, size)
    if isinstance(footprint, GeodesicKernel):
        check_method(method)
        ranked = tuple(n for n in names if n not in STATISTICS)
        rank = None
        if ranked:
            from ._backends.rank import RankReduction

            # A template: each band of rows sharing a footprint gets its own threshold.
            rank = RankReduction(ranked, 0, q=qs or None)
        return _geodesic.check_call(
            footprint, flip=False, boundary=boundary, cval=0.0,
            nan_policy=_check_policy(nan_policy, NAN_POLICIES[:2]), min_count=min_count,
            stats=names, area_weighted=area_weighted, rank=rank,
        )
    if area_weighted is not False:
        raise FocalValueError(
            "area_weighted=True weights cells by their area on a latitude/longitude grid: it "
            "needs a geodesic kernel (da.focal.circle_kernel('500 km') on lat/lon data); on a "
            "projected grid every cell has the same area"
        )
    weights = (custom_kernel(footprint) != 0).astype(np.float64)
    mode, fill = check_boundary(boundary, 0.0)
    policy = _check_policy(nan_policy, NAN_POLICIES[:2])
    min_count = _check_min_count(min_count)
    runs = describe(weights)
    method = check_method(method)
    check_method_for(runs, method, separable_ok=False)
    _check_reachable(min_count, runs.ntaps)
    if policy == "propagate":
        threshold = max(runs.ntaps, min_count or 0)
    else:
        threshold = max(1, min_count or 0)
    linear = tuple(n for n in names if n in STATISTICS)
    ranked = tuple(n for n in names if n not in STATISTICS)
    # Footprint weights are all 1, so their sum is the number of taps.
    reduction = Reduction(linear, threshold, runs.ntaps, runs.ntaps) if linear else None
    rank = None
    if ranked:
        from ._backends.rank import RankReduction

        rank = RankReduction(ranked, threshold, q=qs or None)
    return FocalCall(runs, method, mode, fill, reduction, names, rank)


def apply(data: Any, call: FocalCall) -> tuple[Any, ...]:
    """Validate ``data`` and run ``call`` on it: one array per name in ``call.outputs``.

    Examples
    --------
    >>> (out,) = apply(np.arange(9.0).reshape(3, 3), check_correlate(np.ones((3, 3))))
    >>> out[1, 1]
    np.float64(36.0)
    """
    return _apply_checked(_check_data(data), call)


def _apply_checked(data: Any, call: FocalCall) -> tuple[Any, ...]:
    if 0 in data.shape:
        backend_for(data)
        return tuple(_empty_result(data) for _ in call.outputs)
    if isinstance(call, _geodesic.GeodesicCall):
        return _geodesic.apply(data, call)
    backend = backend_for(data)
    if call.rank is not None:
        return _apply_rank(data, backend, call)
    if call.reduction is None:
        return (backend.correlate(data, call.runs, call.method, call.mode, call.fill),)
    stack = backend.reduce(data, call.runs, call.method, call.mode, call.fill, call.reduction)
    return tuple(stack[i] for i in range(len(call.outputs)))


def _empty_result(data: Any) -> Any:

    dtype = working_dtype(np.dtype(data.dtype))
    if is_dask_array(data) or is_cupy_array(data):
        return data.astype(dtype)
    return np.empty(data.shape, dtype=dtype)


def _apply_rank(data: Any, backend, call: FocalCall) -> tuple[Any, ...]:
    """A call with rank statistics: those from the rank engines, the others from the sweep."""
    from ._backends import rank

    results = {}
    if call.reduction is not None:
        stack = backend.reduce(data, call.runs, call.method, call.mode, call.fill, call.reduction)
        results.update((name, stack[i]) for i, name in enumerate(call.reduction.names))
    results.update(zip(call.rank.names, rank.run(data, call.runs, call.mode, call.fill, call.rank)))
    return tuple(results[name] for name in call.outputs)
