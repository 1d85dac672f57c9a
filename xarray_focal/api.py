"""Array-level API: plain functions on numpy, dask and cupy arrays (no xarray needed).

This layer validates every argument, normalises options, builds the plan, and hands the
work to the backend chosen by the array (chunk) type. It never falls back silently: an
unsupported array type or dtype raises.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .algorithms.plan import make_plan
from .backends import backend_for, is_cupy_array, is_dask_array
from .boundary import check_boundary
from .errors import FocalTypeError, FocalValueError
from .kernels import custom_kernel

__all__ = ["correlate", "convolve"]


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
    if data.ndim < 2:
        raise FocalValueError(
            f"data must have at least 2 dimensions (the last two are spatial); got shape {data.shape}"
        )
    if not np.dtype(data.dtype).isnative:
        # Byte-swapped input (">f4" read from a file) follows the dtype rules of its native
        # twin: big-endian float32 must give float32, not float64. The kernels need native
        # data anyway, so this is the copy they would make.
        data = data.astype(np.dtype(data.dtype).newbyteorder("="))
    return data


def correlate(
    data: Any, kernel: Any, *, boundary: str = "nan", cval: float = 0.0
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
    weights = custom_kernel(kernel)
    mode, fill = check_boundary(boundary, cval)
    plan = make_plan(weights)
    backend = backend_for(data)
    if 0 in data.shape:
        return _empty_result(data)
    return backend.correlate(data, plan, mode, fill)


def convolve(
    data: Any, kernel: Any, *, boundary: str = "nan", cval: float = 0.0
) -> Any:
    """Convolve the last two axes of ``data`` with ``kernel``: correlate with it flipped.

    ``convolve(data, k)`` equals ``correlate(data, k[::-1, ::-1])``, as
    :func:`scipy.ndimage.convolve` relates to :func:`scipy.ndimage.correlate`. For the
    symmetric built-in kernels (circle, annulus) the two give the same result.

    Parameters
    ----------
    data, kernel, boundary, cval
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
    weights = custom_kernel(kernel)
    return correlate(data, weights[::-1, ::-1], boundary=boundary, cval=cval)


def _empty_result(data: Any) -> Any:
    from .backends.numpy_backend import working_dtype

    dtype = working_dtype(np.dtype(data.dtype))
    if is_dask_array(data) or is_cupy_array(data):
        return data.astype(dtype)
    return np.empty(data.shape, dtype=dtype)
