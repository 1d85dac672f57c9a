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

import numbers
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
from .kernels import custom_kernel

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
]

#: Accepted ``nan_policy=`` values of correlate/convolve (statistics take the first two).
NAN_POLICIES = ("propagate", "omit", "renormalize")
#: Statistics of :func:`focal_stats`, in the order they are documented.
STATISTICS = ("mean", "sum", "count", "min", "max", "range", "std", "var")


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
    boundary: str = "nan",
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
    boundary : {"nan", "nearest", "reflect", "mirror", "wrap", "constant"}
        Value read by taps outside the array (see :data:`xarray_focal.BOUNDARY_MODES`).
        ``"nan"`` (default) makes a result NaN wherever a tap falls outside.
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
    boundary: str = "nan",
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
    unknown = [s for s in stats if s not in STATISTICS]
    if unknown:
        raise FocalValueError(f"unknown statistic(s) {unknown}; choose from {STATISTICS}")
    if len(set(stats)) != len(stats):
        raise FocalValueError(f"stats lists a statistic twice: {list(stats)}")
    return tuple(stats)


def focal_stats(
    data: Any,
    footprint: Any = None,
    stats: Sequence[str] = ("mean", "std"),
    *,
    size: int | tuple[int, int] | None = None,
    boundary: str = "nan",
    nan_policy: str = "omit",
    min_count: int | None = None,
    method: str = "auto",
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
        ``"std"``, ``"var"`` (population: ``ddof=0``).
    size : int or (int, int), optional
        Instead of ``footprint``: a box of ``size`` x ``size`` (or ``(rows, cols)``) cells,
        odd sides, as ``scipy.ndimage``'s ``size=``. Its statistics cost the same whatever
        the box's size (``method="box"``).
    boundary : str
        As for :func:`correlate`; ``"nan"`` (default) makes outside cells missing.
    nan_policy : {"omit", "propagate"}
        ``"omit"`` (default, ArcGIS's "ignore NoData"): statistics of the valid cells,
        NaN where there are none. ``"propagate"``: NaN wherever the footprint holds a NaN.
        ``count`` always counts the valid cells.
    min_count : int, optional
        Fewer valid cells than this give NaN (except for ``count``).
    method : {"auto", "direct", "runs", "columns", "box"}
        As for :func:`correlate`.

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
    """
    data = _check_data(data)
    call = check_stats(
        footprint, stats, size=size, boundary=boundary, nan_policy=nan_policy,
        min_count=min_count, method=method,
    )
    return dict(zip(call.outputs, _apply_checked(data, call)))


def _single_stat(name: str):
    def stat(
        data: Any,
        footprint: Any = None,
        *,
        size: int | tuple[int, int] | None = None,
        boundary: str = "nan",
        nan_policy: str = "omit",
        min_count: int | None = None,
        method: str = "auto",
    ) -> Any:
        return focal_stats(
            data, footprint, (name,), size=size, boundary=boundary, nan_policy=nan_policy,
            min_count=min_count, method=method,
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
    """

    runs: KernelRuns
    method: str
    mode: str
    fill: float
    reduction: Reduction | None
    outputs: tuple[str, ...]


def check_correlate(
    kernel: Any,
    *,
    flip: bool = False,
    boundary: str = "nan",
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
    boundary: str = "nan",
    nan_policy: str = "omit",
    min_count: int | None = None,
    method: str = "auto",
) -> FocalCall:
    """Validate the options of :func:`focal_stats`, once, for :func:`apply`.

    Examples
    --------
    >>> call = check_stats(np.ones((3, 3)), ("mean", "count"))
    >>> call.outputs, call.runs.ntaps
    (('mean', 'count'), 9)
    """
    names = _check_stats(stats)
    weights = (custom_kernel(_size_footprint(footprint, size)) != 0).astype(np.float64)
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
    # Footprint weights are all 1, so their sum is the number of taps.
    reduction = Reduction(names, threshold, runs.ntaps, runs.ntaps)
    return FocalCall(runs, method, mode, fill, reduction, names)


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
    backend = backend_for(data)
    if 0 in data.shape:
        return tuple(_empty_result(data) for _ in call.outputs)
    if call.reduction is None:
        return (backend.correlate(data, call.runs, call.method, call.mode, call.fill),)
    stack = backend.reduce(data, call.runs, call.method, call.mode, call.fill, call.reduction)
    return tuple(stack[i] for i in range(len(call.outputs)))


def _empty_result(data: Any) -> Any:

    dtype = working_dtype(np.dtype(data.dtype))
    if is_dask_array(data) or is_cupy_array(data):
        return data.astype(dtype)
    return np.empty(data.shape, dtype=dtype)
