"""The one description of a kernel that every backend derives its own layout from.

A kernel is a table of *runs*: ``length`` adjacent taps of one weight along a kernel row,
at row ``dy`` and first column ``dx`` of the footprint's bounding box (``0 .. 2 ry`` by
``0 .. 2 rx``, the centre at ``(ry, rx)``). Zero taps are in no run, so no backend can
read one (the footprint rule of the result contract). The CPU plans
(:mod:`.plan`: direct taps, row runs, column runs, separable passes) and the CUDA band
layout are all built from this table; none of them looks at the kernel's taps again.

The table is built with whole-array numpy operations, so a kernel of a million taps costs
no Python loop over taps.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .._forking import fork_safe_lock

__all__ = ["KernelRuns", "describe", "kernel_runs"]

#: Recently described kernels by digest: every call and every dask chunk asks again.
_CACHE: OrderedDict = OrderedDict()
_CACHE_MAX = 64
_CACHE_LOCK = fork_safe_lock()


@dataclass(frozen=True, eq=False)
class KernelRuns:
    """A kernel (correlation orientation) as runs of equal nonzero weight along its rows.

    Attributes
    ----------
    kernel : ndarray
        The validated float64 kernel as overlaid on the data (already flipped for
        ``convolve``), odd sides.
    ry, rx : int
        Reach of the footprint from the centre: the halo a tile needs. All-zero border rows
        or columns do not count.
    dy, dx, length : ndarray of int64
        Row, first column and length of each run in the footprint's bounding box
        ``(2 ry + 1) x (2 rx + 1)``; runs are ordered by row, then column.
    weight : ndarray of float64
        Weight of each run's taps.
    key : bytes
        A digest of the kernel: what caches of layouts derived from it are keyed by.

    Examples
    --------
    >>> r = kernel_runs(np.array([[0., 1., 1.], [2., 0., 2.], [0., 0., 0.]]))
    >>> r.ry, r.rx, r.dy.tolist(), r.dx.tolist(), r.length.tolist(), r.weight.tolist()
    (1, 1, [0, 1, 1], [1, 0, 2], [2, 1, 1], [1.0, 2.0, 2.0])
    >>> r.ntaps, r.box().shape
    (4, (3, 3))
    """

    kernel: np.ndarray
    ry: int
    rx: int
    dy: np.ndarray
    dx: np.ndarray
    length: np.ndarray
    weight: np.ndarray
    key: bytes = b""

    @property
    def ntaps(self) -> int:
        """Number of cells in the footprint (nonzero taps)."""
        return int(self.length.sum())

    @property
    def nruns(self) -> int:
        return int(self.length.size)

    def box(self) -> np.ndarray:
        """The kernel cropped to the footprint's bounding box ``(2 ry + 1, 2 rx + 1)``."""
        kh, kw = self.kernel.shape
        cy, cx = kh // 2, kw // 2
        return self.kernel[cy - self.ry: cy + self.ry + 1, cx - self.rx: cx + self.rx + 1]

    def taps(self) -> KernelRuns:
        """The same footprint with every tap a run of its own (length 1)."""
        if np.all(self.length == 1):
            return self
        idx = np.repeat(np.arange(self.nruns), self.length)
        offset = np.arange(idx.size) - np.repeat(np.cumsum(self.length) - self.length, self.length)
        return KernelRuns(self.kernel, self.ry, self.rx, self.dy[idx], self.dx[idx] + offset,
                          np.ones(idx.size, dtype=np.int64), self.weight[idx], self.key)

    def transposed(self) -> KernelRuns:
        """Runs of the transposed kernel: the runs down this kernel's columns."""
        return kernel_runs(np.ascontiguousarray(self.kernel.T), key=self.key + b"T")

    def __dask_tokenize__(self):
        return (type(self).__name__, self.kernel.shape, self.key)


def describe(kernel: np.ndarray) -> KernelRuns:
    """:func:`kernel_runs` of a validated kernel, cached by a digest of its weights."""
    kernel = np.ascontiguousarray(kernel, dtype=np.float64)
    # A digest, not the bytes: a cache of large kernels must not hold them twice.
    key = hashlib.blake2b(kernel.tobytes() + repr(kernel.shape).encode(), digest_size=20).digest()
    with _CACHE_LOCK:
        runs = _CACHE.get(key)
        if runs is not None:
            _CACHE.move_to_end(key)
            return runs
    runs = kernel_runs(kernel, key=key)
    with _CACHE_LOCK:
        _CACHE[key] = runs
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return runs


def kernel_runs(kernel: np.ndarray, *, key: bytes = b"") -> KernelRuns:
    """Describe a validated float64 kernel (odd sides, not all zero) as :class:`KernelRuns`."""
    kernel = np.asarray(kernel, dtype=np.float64)
    kh, kw = kernel.shape
    rows, cols = np.nonzero(kernel)
    ry = int(np.abs(rows - kh // 2).max())
    rx = int(np.abs(cols - kw // 2).max())
    w = kernel[rows, cols]
    # A tap starts a new run unless its left neighbour in the same row is a tap of the
    # same weight (np.nonzero lists taps row by row, left to right).
    same = (rows[1:] == rows[:-1]) & (cols[1:] == cols[:-1] + 1) & (w[1:] == w[:-1])
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    length = np.diff(np.append(starts, rows.size))
    return KernelRuns(
        kernel=kernel,
        ry=ry,
        rx=rx,
        dy=(rows[starts] - kh // 2 + ry).astype(np.int64),
        dx=(cols[starts] - kw // 2 + rx).astype(np.int64),
        length=length.astype(np.int64),
        weight=w[starts].astype(np.float64),
        key=key,
    )
