"""Boundary modes: the one table of names, and per-axis index maps.

A boundary mode says which value a kernel tap reads when it falls outside the array. It is
handled as data rather than as branches in the loops: for each spatial axis we build an
integer *index map* from "padded coordinate" (output coordinate + kernel offset) to the
source index that supplies the value, with ``-1`` meaning "outside: use the fill value"
(NaN for ``"nan"``, ``cval`` for ``"constant"``). The jitted loops only ever read through
these maps, so every mode -- and every dask chunk, which is just a window onto the same
global map -- shares one code path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .errors import FocalTypeError, FocalValueError

__all__ = [
    "BOUNDARY_MODES", "AxisMap", "BoundaryMode", "axis_map", "axis_modes", "check_boundary",
    "source_index", "split_map",
]


@dataclass(frozen=True)
class BoundaryMode:
    """One row of the boundary table (rendered in the docs)."""

    name: str
    outside: str
    scipy: str
    numpy_pad: str
    dask: str


#: The single source of truth for boundary names and their equivalents elsewhere.
BOUNDARY_MODES: dict[str, BoundaryMode] = {
    m.name: m
    for m in (
        BoundaryMode("nan", "NaN: result NaN where a footprint tap falls outside",
                     "constant, cval=nan", "constant (nan)", "nan"),
        BoundaryMode("nearest", "edge value repeated", "nearest", "edge", "nearest"),
        BoundaryMode("reflect", "mirror including the edge (d c b a | a b c d)",
                     "reflect", "symmetric", "reflect"),
        BoundaryMode("mirror", "mirror excluding the edge (d c b | a b c d)",
                     "mirror", "reflect", "-"),
        BoundaryMode("wrap", "periodic", "wrap", "wrap", "periodic"),
        BoundaryMode("constant", "cval", "constant", "constant", "cval"),
    )
}


def _check_mode(mode: object, what: str = "boundary") -> str:
    if not isinstance(mode, str):
        raise FocalTypeError(
            f"{what} must be a string, one of {sorted(BOUNDARY_MODES)}, or a (y, x) pair of "
            f"them; got {mode!r}"
        )
    if mode not in BOUNDARY_MODES:
        raise FocalValueError(
            f"unknown {what} {mode!r}; choose one of {sorted(BOUNDARY_MODES)}"
        )
    return mode


def check_boundary(boundary: object, cval: object) -> tuple[str | tuple[str, str], float]:
    """Validate ``boundary`` and ``cval``; return the mode and the fill value for outside taps.

    ``boundary`` is one mode name for both spatial axes, or a ``(y, x)`` pair of names (as
    scipy.ndimage's mode sequence): ``("nearest", "wrap")`` repeats the first and last rows
    and is periodic along the rows. The mode comes back as one string when both axes agree
    (so the one-mode paths and caches stay as they are), else as the pair. The fill value
    is NaN for ``"nan"``, ``cval`` for ``"constant"`` and unused (NaN) otherwise. There is
    one fill value, so a pair cannot mix ``"nan"`` with ``"constant"``.

    Examples
    --------
    >>> check_boundary("reflect", 0.0)
    ('reflect', nan)
    >>> check_boundary(("nearest", "wrap"), 0.0)
    (('nearest', 'wrap'), nan)
    >>> check_boundary(["constant", "constant"], 2)
    ('constant', 2.0)
    """
    if isinstance(boundary, (tuple, list)):
        if len(boundary) != 2:
            raise FocalValueError(
                f"a boundary sequence names one mode per spatial axis, (y, x); got {boundary!r}"
            )
        modes = (_check_mode(boundary[0], "boundary[0] (y)"), _check_mode(boundary[1], "boundary[1] (x)"))
        if {"nan", "constant"} <= set(modes):
            raise FocalValueError(
                f"boundary {tuple(modes)!r} mixes 'nan' and 'constant', but outside taps read "
                "one fill value; use 'constant' on both axes with cval=nan, or one of them"
            )
        mode: str | tuple[str, str] = modes[0] if modes[0] == modes[1] else modes
    else:
        mode = _check_mode(boundary)
    if isinstance(cval, (bool, np.bool_)) or not isinstance(
        cval, (int, float, np.integer, np.floating)
    ):
        raise FocalTypeError(f"cval must be a real number; got {cval!r} ({type(cval).__name__})")
    if "constant" in axis_modes(mode):
        return mode, float(cval)
    return mode, float("nan")


def axis_modes(mode: str | tuple[str, str]) -> tuple[str, str]:
    """The ``(y, x)`` modes of a checked boundary (one name means both axes).

    Examples
    --------
    >>> axis_modes("wrap"), axis_modes(("nearest", "wrap"))
    (('wrap', 'wrap'), ('nearest', 'wrap'))
    """
    return (mode, mode) if isinstance(mode, str) else (mode[0], mode[1])


def source_index(q: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Map padded coordinates ``q`` on an axis of length ``n`` to source indices.

    Returns an int64 array; ``-1`` marks an outside tap (``"nan"`` and ``"constant"``).
    Reflecting modes repeat periodically, as :func:`numpy.pad` does, so kernels larger
    than the array are legal.

    Examples
    --------
    >>> source_index(np.arange(-3, 6), 3, "reflect")
    array([2, 1, 0, 0, 1, 2, 2, 1, 0])
    >>> source_index(np.arange(-3, 6), 3, "mirror")
    array([1, 2, 1, 0, 1, 2, 1, 0, 1])
    >>> source_index(np.arange(-2, 5), 3, "nan")
    array([-1, -1,  0,  1,  2, -1, -1])
    """
    q = np.asarray(q, dtype=np.int64)
    if mode in ("nan", "constant"):
        return np.where((q >= 0) & (q < n), q, -1)
    if mode == "nearest":
        return np.clip(q, 0, n - 1)
    if mode == "wrap":
        return np.mod(q, n)
    if mode == "reflect":
        m = np.mod(q, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)
    if mode == "mirror":
        if n == 1:
            return np.zeros_like(q)
        m = np.mod(q, 2 * n - 2)
        return np.where(m < n, m, 2 * n - 2 - m)
    raise FocalValueError(f"unknown boundary {mode!r}")


@dataclass(frozen=True, eq=False)
class AxisMap:
    """Index map for one spatial axis of one tile.

    ``index[j]`` is the position in the tile's source of padded coordinate ``j`` (output
    position ``j - r`` shifted by the kernel offset), or ``-1`` for outside. On ``lo:hi``
    the map is the plain shift ``index[j] == j + offset``: loops copy that stretch without
    looking the map up.
    """

    index: np.ndarray
    lo: int
    hi: int
    offset: int

    @classmethod
    def from_index(cls, index: np.ndarray, radius: int) -> AxisMap:
        """Wrap ``index``, finding the longest plain shift around the tile's first output."""
        index = np.asarray(index, dtype=np.int64)
        shift = index - np.arange(index.size)
        valid = index >= 0
        lo = hi = offset = 0
        if valid.any():
            mid = int(np.clip(radius, 0, index.size - 1))
            if not valid[mid]:
                mid = int(np.flatnonzero(valid)[0])
            offset = int(shift[mid])
            breaks = np.flatnonzero(~(valid & (shift == offset)))
            before = breaks[breaks < mid]
            after = breaks[breaks > mid]
            lo = int(before[-1]) + 1 if before.size else 0
            hi = int(after[0]) if after.size else index.size
        return cls(index=index, lo=lo, hi=hi, offset=offset)


def axis_map(
    n: int,
    radius: int,
    mode: str,
    core: tuple[int, int] | None = None,
    before: tuple[int, int] = (0, 0),
    after: tuple[int, int] = (0, 0),
) -> AxisMap:
    """Build the index map of one axis for output positions ``core`` (default: all of it).

    The tile's source along this axis is its *frame*: the ``before`` strip, then the core,
    then the ``after`` strip, each a range of global indices (a dask chunk's halo from its
    neighbours; with ``"wrap"`` the strip before the first chunk is the end of the axis).

    Parameters
    ----------
    n : int
        Length of the whole (global) axis.
    radius : int
        Reach of the kernel on this axis.
    mode : str
        Boundary mode.
    core : (start, stop), optional
        Global range of output positions this tile computes; also the frame's middle part.
    before, after : (start, stop), optional
        Global ranges of the halo strips on either side of the core (default: none).

    Examples
    --------
    Output cells 4..5 of an axis of 8 with a halo of two on each side:

    >>> axis_map(8, 2, "reflect", core=(4, 6), before=(2, 4), after=(6, 8)).index
    array([0, 1, 2, 3, 4, 5])
    """
    c0, c1 = (0, n) if core is None else core
    nbefore = before[1] - before[0]
    if nbefore == 0 and after[1] == after[0] and (c0, c1) == (0, n):
        cached = _whole_axis_map(n, radius, mode)
        # A copy of the index (a few kB): whoever holds the map may write to it.
        return AxisMap(cached.index.copy(), cached.lo, cached.hi, cached.offset)
    q = np.arange(c0 - radius, c1 + radius, dtype=np.int64)
    src = source_index(q, n, mode)
    index = np.full(q.shape, -1, dtype=np.int64)
    offset = 0
    for (start, stop) in (before, (c0, c1), after):
        if stop > start:
            inside = (src >= start) & (src < stop) & (index < 0)
            index[inside] = src[inside] - start + offset
        offset += stop - start
    if ((src >= 0) & (index < 0)).any():
        # The dask wrapper sizes halos to the reach, so this is a bug, not a user error.
        raise AssertionError(f"halo of {nbefore}/{after[1] - after[0]} too thin for radius {radius}")
    return AxisMap.from_index(index, radius)


@functools.lru_cache(maxsize=256)
def _whole_axis_map(n: int, radius: int, mode: str) -> AxisMap:
    """Map of a whole axis, whose frame is the array itself; cached, as every call on a
    whole array needs two (see ``axis_map``, which hands out copies)."""
    q = np.arange(-radius, n + radius, dtype=np.int64)
    return AxisMap.from_index(source_index(q, n, mode), radius)


def split_map(frame: AxisMap, nbefore: int, ncore: int, radius: int) -> AxisMap:
    """Re-encode a frame map for a core read in place and halos kept apart.

    Core positions become indices into the core (``>= 0``); halo positions ``k`` (the
    before strip then the after strip) become ``-2 - k``; ``-1`` (outside) stays. The
    numpy sweep reads a chunk this way without copying it into a padded block.

    Examples
    --------
    >>> frame = axis_map(8, 2, "reflect", core=(4, 6), before=(2, 4), after=(6, 8))
    >>> split_map(frame, 2, 2, 2).index
    array([-2, -3,  0,  1, -4, -5])
    """
    f = frame.index
    index = np.where(f < nbefore, -2 - f, f - nbefore)
    index = np.where(f >= nbefore + ncore, -2 - (f - ncore), index)
    index = np.where(f < 0, -1, index)
    return AxisMap.from_index(index, radius)
