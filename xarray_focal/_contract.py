"""Rules every layer shares, written once: working dtypes, statistic codes, reductions.

The result contract itself (what a result promises) is the documentation's "Result
contract" page (``docs/contract.md``); this module holds the pieces of it that code in
several layers needs -- the array API, the dask wrapper, the numba kernels and the CUDA
kernels (which get the codes and the epsilon as ``#define`` lines from
:func:`cuda_defines`, so the two sides cannot drift apart).
"""

from __future__ import annotations

import enum

import numpy as np

__all__ = ["Stat", "FLOAT64_EPS", "Reduction", "channels", "cuda_defines", "working_dtype"]

#: float64 machine epsilon (2**-52): the unit of the statistics' rounding bounds.
FLOAT64_EPS = float(np.finfo(np.float64).eps)


class Stat(enum.IntEnum):
    """What a NaN-aware sweep finishes each output as (one code per output)."""

    PROPAGATE = 0  # weighted sum, NaN if fewer valid taps than the threshold
    OMIT = 1
    RENORMALIZE = 2
    SUM = 3
    MEAN = 4
    COUNT = 5
    VAR = 6
    STD = 7
    MAX = 8
    MIN = 9
    RANGE = 10

    @classmethod
    def of(cls, name: str) -> Stat:
        """The code of a statistic or NaN-policy name (``"mean"``, ``"renormalize"``)."""
        return cls[name.upper()]


_SUMS = {Stat.PROPAGATE, Stat.OMIT, Stat.RENORMALIZE, Stat.SUM, Stat.MEAN}


def channels(codes) -> tuple[bool, bool, bool, bool, bool]:
    """What the sweeps accumulate for ``codes``: (sum, weighted valid, variance, max, min).

    The sum channel (unshifted values) serves the weighted sums, ``sum`` and ``mean``
    only; the variance has its own sums about a shift local to each window. The count
    of valid taps is always kept.
    """
    c = {Stat(int(code)) for code in codes}
    return (bool(c & _SUMS), Stat.RENORMALIZE in c, bool(c & {Stat.VAR, Stat.STD}),
            bool(c & {Stat.MAX, Stat.RANGE}), bool(c & {Stat.MIN, Stat.RANGE}))


def cuda_defines() -> list[str]:
    """NVRTC options that define every :class:`Stat` code and the float64 epsilon."""
    defs = [f"-DFOCAL_STAT_{s.name}={int(s)}" for s in Stat]
    return defs + [f"-DFOCAL_EPS64={FLOAT64_EPS!r}"]


def working_dtype(dtype: np.dtype) -> np.dtype:
    """float16 and float32 give float32, float64 stays float64, bool/int become float64.

    float16 has no arithmetic of its own in numba or CUDA here: it is read as float32 (exact)
    and the result is float32, as numpy promotes float16 with float32. longdouble is refused
    by the array API before this (computing it in float64 would silently drop precision).
    """
    dtype = np.dtype(dtype)
    # kind/itemsize, not ==: a big-endian float32 is float32 data too.
    small = dtype.kind == "f" and dtype.itemsize <= 4
    return np.dtype(np.float32) if small else np.dtype(np.float64)


class Reduction:
    """What a NaN-aware sweep computes: statistic names, their codes and the thresholds.

    Parameters
    ----------
    names : tuple of str
        Statistic or NaN-policy names (:class:`Stat` members, lower case), one output each.
    threshold : int
        Fewest valid footprint taps that give a value (fewer give NaN).
    wtotal : float
        Sum of all footprint weights (for ``renormalize``).
    ntaps : int
        Number of footprint taps (nonzero weights): ``renormalize`` returns the plain
        weighted sum where all of them are valid.
    wabs : float, optional
        Sum of the footprint's absolute weights (default ``ntaps``, unit weights). Where
        the valid weights of a window sum to at most ``wcancel = ntaps * eps * wabs`` in
        magnitude -- zero up to the rounding of that sum -- ``renormalize`` gives NaN: the
        rescaling would divide by rounding noise.

    Examples
    --------
    >>> r = Reduction(("mean", "std"), threshold=1, wtotal=9.0, ntaps=9)
    >>> r.codes.tolist(), r.channels
    ([4, 7], (True, False, True, False, False))
    >>> r.wcancel == 9 * FLOAT64_EPS * 9
    True
    """

    __slots__ = ("names", "codes", "threshold", "wtotal", "ntaps", "wcancel", "channels")

    def __init__(self, names: tuple[str, ...], threshold: int, wtotal: float, ntaps: int,
                 wabs: float | None = None):
        self.names = tuple(names)
        self.codes = np.array([Stat.of(n) for n in self.names], dtype=np.int64)
        self.threshold = float(threshold)
        self.wtotal = float(wtotal)
        self.ntaps = int(ntaps)
        self.wcancel = self.ntaps * FLOAT64_EPS * float(self.ntaps if wabs is None else wabs)
        self.channels = channels(self.codes.tolist())

    def __repr__(self) -> str:
        return (f"Reduction({self.names}, threshold={self.threshold:g}, "
                f"wtotal={self.wtotal:g}, ntaps={self.ntaps}, wcancel={self.wcancel:.3g})")

    def __dask_tokenize__(self):
        return (type(self).__name__, self.names, self.threshold, self.wtotal, self.ntaps,
                self.wcancel)
