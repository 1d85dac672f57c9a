"""Kernel constructors and validation.

A kernel is a 2-D float64 array with odd side lengths; its centre is ``(kh // 2, kw // 2)``.
Taps whose weight is exactly zero are *not part of the neighbourhood*: they are never read
(the footprint rule), so a NaN under a zero tap cannot poison a result.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import FocalTypeError, FocalValueError

__all__ = ["circle_kernel", "annulus_kernel", "box_kernel", "gaussian_kernel", "custom_kernel",
           "MAX_KERNEL_CELLS"]

#: Largest kernel (in cells) a constructor will build; beyond this a radius is almost
#: certainly a unit mistake (metres vs kilometres, degrees vs metres).
MAX_KERNEL_CELLS = 2**24


def custom_kernel(kernel: object) -> np.ndarray:
    """Validate a user kernel and return it as a new C-contiguous float64 array.

    Parameters
    ----------
    kernel : array_like
        2-D, odd side lengths, finite real (bool, integer or float) weights, not all zero.

    Returns
    -------
    numpy.ndarray
        A float64 copy; the input is never modified or aliased.

    Raises
    ------
    TypeError
        Non-numeric or complex weights.
    ValueError
        Not 2-D, empty, an even side, a NaN/inf weight, or all weights zero.

    Examples
    --------
    >>> custom_kernel([[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    array([[0., 1., 0.],
           [1., 1., 1.],
           [0., 1., 0.]])
    """
    if _is_gpu_array(kernel):
        kernel = kernel.get()
    if isinstance(kernel, np.ma.MaskedArray):
        # np.asarray would drop the mask and put the masked taps' hidden weights back in.
        raise FocalTypeError(
            "kernel is a masked array; masks are not read: set the masked taps to 0 "
            "(kernel.filled(0)), which leaves them out of the footprint"
        )
    try:
        arr = np.asarray(kernel)
    except Exception as exc:  # ragged lists and the like
        raise FocalTypeError(f"kernel must be a 2-D numeric array; got {type(kernel).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise FocalTypeError(
            f"kernel must hold real numbers (bool, int or float); got dtype {arr.dtype}"
        )
    if arr.ndim != 2:
        raise FocalValueError(f"kernel must be 2-D; got {arr.ndim}-D with shape {arr.shape}")
    if arr.size == 0:
        raise FocalValueError(f"kernel is empty (shape {arr.shape})")
    if arr.shape[0] % 2 == 0 or arr.shape[1] % 2 == 0:
        raise FocalValueError(
            f"kernel side lengths must be odd so it has a centre cell; got shape {arr.shape}"
        )
    out = np.array(arr, dtype=np.float64, order="C", copy=True)
    if not np.isfinite(out).all():
        raise FocalValueError("kernel weights must be finite; found NaN or inf")
    if not out.any():
        raise FocalValueError("kernel weights are all zero: the neighbourhood would be empty")
    return out


def _is_gpu_array(obj: object) -> bool:
    return type(obj).__module__.split(".")[0] == "cupy"


def _check_length(value: object, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise FocalTypeError(f"{name} must be a real number; got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise FocalValueError(f"{name} must be a positive finite number; got {value!r}")
    return value


def _half_sizes(cellsize_x: float, cellsize_y: float, radius: float, what: str) -> tuple[int, int]:
    # Sizes stay floats until checked: a radius of 1e300 cells overflows int -> float
    # conversions (and the message formatting) long before it reaches the limit test.
    half_x = _floor(radius / cellsize_x * (1 + 1e-12))
    half_y = _floor(radius / cellsize_y * (1 + 1e-12))
    cells = (2.0 * half_y + 1) * (2.0 * half_x + 1)
    if not cells <= MAX_KERNEL_CELLS:  # also catches inf
        raise FocalValueError(
            f"{what} {radius:g} with cell size ({cellsize_x:g}, {cellsize_y:g}) would need a "
            f"{_side(half_y)}x{_side(half_x)} kernel ({cells:.3g} cells, limit "
            f"{MAX_KERNEL_CELLS:.3g}); check the radius and its units"
        )
    return int(half_x), int(half_y)


def _floor(ratio: float) -> float:
    """floor() that leaves huge or infinite ratios as floats (math.floor(inf) raises)."""
    return float(math.floor(ratio)) if ratio < 1e15 else ratio


def _side(half: float) -> str:
    """Kernel side 2*half+1 as text: exact while it fits comfortably, else scientific."""
    return str(2 * int(half) + 1) if half < 1e15 else f"{2.0 * half + 1:.3g}"


def _distance_grid(cellsize_x: float, cellsize_y: float, nx: int, ny: int) -> np.ndarray:
    """Squared map distance of every cell centre from the kernel centre, shape (2ny+1, 2nx+1)."""
    dx = np.arange(-nx, nx + 1) * cellsize_x
    dy = np.arange(-ny, ny + 1) * cellsize_y
    return dy[:, None] ** 2 + dx[None, :] ** 2


def _within(d2: np.ndarray, radius: float) -> np.ndarray:
    # A relative tolerance keeps cells that sit exactly on the circle in (integer ratios
    # like radius=3 cells must give the same kernel as xarray-spatial) despite rounding.
    return d2 <= radius * radius * (1 + 1e-12)


def circle_kernel(cellsize_x: float, cellsize_y: float, radius: float) -> np.ndarray:
    """A disc of ones: every cell whose centre lies within ``radius`` of the centre cell's.

    Parameters
    ----------
    cellsize_x, cellsize_y : float
        Cell width and height in map units (positive).
    radius : float
        Radius in the same map units (positive).

    Returns
    -------
    numpy.ndarray
        float64 array of 0 and 1 with odd sides ``2 * floor(radius / cellsize) + 1``.

    Examples
    --------
    >>> circle_kernel(1, 1, 1)
    array([[0., 1., 0.],
           [1., 1., 1.],
           [0., 1., 0.]])
    >>> circle_kernel(10, 20, 20).shape
    (3, 5)
    """
    cellsize_x = _check_length(cellsize_x, "cellsize_x")
    cellsize_y = _check_length(cellsize_y, "cellsize_y")
    radius = _check_length(radius, "radius")
    nx, ny = _half_sizes(cellsize_x, cellsize_y, radius, "radius")
    return _within(_distance_grid(cellsize_x, cellsize_y, nx, ny), radius).astype(np.float64)


def annulus_kernel(
    cellsize_x: float, cellsize_y: float, outer_radius: float, inner_radius: float
) -> np.ndarray:
    """A ring of ones: cells whose centre distance ``d`` satisfies ``inner < d <= outer``.

    The centre cell is excluded, so (by the footprint rule) a NaN at the centre does not
    reach the result.

    Parameters
    ----------
    cellsize_x, cellsize_y : float
        Cell width and height in map units (positive).
    outer_radius, inner_radius : float
        Radii in map units, ``0 <= inner_radius < outer_radius``.

    Returns
    -------
    numpy.ndarray
        float64 array of 0 and 1.

    Examples
    --------
    >>> annulus_kernel(1, 1, 1, 0.5)
    array([[0., 1., 0.],
           [1., 0., 1.],
           [0., 1., 0.]])
    """
    cellsize_x = _check_length(cellsize_x, "cellsize_x")
    cellsize_y = _check_length(cellsize_y, "cellsize_y")
    outer_radius = _check_length(outer_radius, "outer_radius")
    if isinstance(inner_radius, (bool, np.bool_)) or not isinstance(inner_radius, numbers.Real):
        raise FocalTypeError(f"inner_radius must be a real number; got {inner_radius!r}")
    inner_radius = float(inner_radius)
    if not math.isfinite(inner_radius) or inner_radius < 0:
        raise FocalValueError(f"inner_radius must be finite and >= 0; got {inner_radius!r}")
    if inner_radius >= outer_radius:
        raise FocalValueError(
            f"inner_radius ({inner_radius:g}) must be smaller than outer_radius ({outer_radius:g})"
        )
    nx, ny = _half_sizes(cellsize_x, cellsize_y, outer_radius, "outer_radius")
    d2 = _distance_grid(cellsize_x, cellsize_y, nx, ny)
    ring = _within(d2, outer_radius) & ~_within(d2, inner_radius)
    if not ring.any():
        raise FocalValueError(
            f"annulus {inner_radius:g} < d <= {outer_radius:g} contains no cell centre "
            f"with cell size ({cellsize_x:g}, {cellsize_y:g})"
        )
    return ring.astype(np.float64)


def box_kernel(cellsize_x: float, cellsize_y: float, width: float,
               height: float | None = None) -> np.ndarray:
    """A rectangle of ones: every cell whose centre lies within half the box of the centre's.

    A cell is in the box when its centre's offsets from the centre cell's satisfy
    ``|dx| <= width / 2`` and ``|dy| <= height / 2``; cells exactly on the edge are in (to
    within rounding), so a ``width`` of ``n`` cells gives ``n`` columns for odd ``n``.
    Every statistic and correlation of a box runs in a time that does not grow with its
    size (``method="box"``).

    Parameters
    ----------
    cellsize_x, cellsize_y : float
        Cell width and height in map units (positive).
    width : float
        Side of the box along x in the same map units (positive).
    height : float, optional
        Side along y; default ``width`` (a square on the ground).

    Returns
    -------
    numpy.ndarray
        float64 array of ones with odd sides ``2 * floor(side / 2 / cellsize) + 1``.

    Examples
    --------
    >>> box_kernel(10, 10, 30)
    array([[1., 1., 1.],
           [1., 1., 1.],
           [1., 1., 1.]])
    >>> box_kernel(10, 20, 50).shape  # 5 columns of 10, 3 rows of 20 (50 / 2 = 25 >= 20)
    (3, 5)
    >>> box_kernel(1, 1, 4, 2).shape  # |dx| <= 2: 5 columns; |dy| <= 1: 3 rows
    (3, 5)
    """
    cellsize_x = _check_length(cellsize_x, "cellsize_x")
    cellsize_y = _check_length(cellsize_y, "cellsize_y")
    width = _check_length(width, "width")
    height = width if height is None else _check_length(height, "height")
    nx, _ = _half_sizes(cellsize_x, cellsize_x, width / 2.0, "width")
    _, ny = _half_sizes(cellsize_y, cellsize_y, height / 2.0, "height")
    cells = (2.0 * ny + 1) * (2.0 * nx + 1)
    if not cells <= MAX_KERNEL_CELLS:
        raise FocalValueError(
            f"box {width:g} x {height:g} with cell size ({cellsize_x:g}, {cellsize_y:g}) would "
            f"need a {2 * ny + 1}x{2 * nx + 1} kernel ({cells:.3g} cells, limit "
            f"{MAX_KERNEL_CELLS:.3g}); check the sizes and their units"
        )
    return np.ones((2 * ny + 1, 2 * nx + 1))


def gaussian_kernel(cellsize_x: float, cellsize_y: float, sigma: float, *,
                    truncate: float = 4.0) -> np.ndarray:
    """A Gaussian of standard deviation ``sigma`` (map units), normalised to sum 1.

    The weights are those of :func:`scipy.ndimage.gaussian_filter`: per axis
    ``exp(-d**2 / (2 sigma**2))`` of the cell-centre offset ``d``, cut at ``truncate``
    standard deviations (``floor(truncate * sigma / cellsize + 0.5)`` cells each side),
    normalised to sum 1 along the axis; the kernel is the outer product of the two axes.
    The cut is a rectangle, so the kernel is rank 1 and the separable method applies.

    Parameters
    ----------
    cellsize_x, cellsize_y : float
        Cell width and height in map units (positive).
    sigma : float
        Standard deviation in the same map units (positive).
    truncate : float, optional
        Half-width of the kernel in standard deviations (default 4, as scipy).

    Returns
    -------
    numpy.ndarray
        float64 array with odd sides, weights summing to 1.

    Examples
    --------
    >>> k = gaussian_kernel(1, 1, 1.0, truncate=2.0)
    >>> k.shape, round(float(k.sum()), 12)
    ((5, 5), 1.0)
    >>> print(np.round(k.sum(axis=0), 4))  # the weights along x
    [0.0545 0.2442 0.4026 0.2442 0.0545]
    """
    cellsize_x = _check_length(cellsize_x, "cellsize_x")
    cellsize_y = _check_length(cellsize_y, "cellsize_y")
    sigma = _check_length(sigma, "sigma")
    truncate = _check_length(truncate, "truncate")
    axes = []
    for cell in (cellsize_y, cellsize_x):
        s = sigma / cell
        half = _floor(truncate * s + 0.5)
        if not 2.0 * half + 1 <= MAX_KERNEL_CELLS ** 0.5:
            raise FocalValueError(
                f"gaussian sigma {sigma:g} (truncate {truncate:g}) with cell size "
                f"({cellsize_x:g}, {cellsize_y:g}) would need {_side(half)} cells a side "
                f"(limit {int(MAX_KERNEL_CELLS ** 0.5)}); check sigma and its units"
            )
        d = np.arange(-int(half), int(half) + 1, dtype=np.float64)
        g = np.exp(-0.5 * (d / s) ** 2)
        axes.append(g / g.sum())
    return np.outer(axes[0], axes[1])
