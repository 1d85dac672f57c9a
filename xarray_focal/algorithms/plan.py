"""Turn a validated kernel into the flat arrays the loops consume.

The kernel is described as a list of *runs* grouped by kernel row: a run is ``length``
adjacent taps of one weight. The direct method makes every nonzero tap a run of length 1;
zero taps never appear, which is how the footprint rule (zero-weight taps are never read)
is enforced by construction rather than by a check in the hot loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Plan", "make_plan"]


@dataclass(frozen=True, eq=False)
class Plan:
    """Work description for one kernel (correlation orientation).

    Attributes
    ----------
    kernel : ndarray
        The float64 kernel, as overlaid on the data (already flipped for ``convolve``).
    ry, rx : int
        Reach of the footprint from the centre: the halo a tile needs. Zero border rows or
        columns of the kernel do not count, so they cost neither time nor halo.
    row_dy : ndarray of int64
        For each kernel row with taps, its offset in padded coordinates (0 .. 2*ry).
    row_ptr : ndarray of int64
        Runs of row ``i`` are ``row_ptr[i]:row_ptr[i + 1]``.
    run_dx, run_len, run_w : ndarray
        Run start in padded x coordinates (0 .. 2*rx), length in cells, weight.
    """

    kernel: np.ndarray
    ry: int
    rx: int
    row_dy: np.ndarray
    row_ptr: np.ndarray
    run_dx: np.ndarray
    run_len: np.ndarray
    run_w: np.ndarray
    method: str

    @property
    def ntaps(self) -> int:
        """Number of cells in the footprint."""
        return int(self.run_len.sum())


def make_plan(kernel: np.ndarray, method: str = "direct") -> Plan:
    """Describe ``kernel`` (validated, float64, odd sides) as runs for ``method``.

    Examples
    --------
    >>> p = make_plan(np.array([[0., 0., 0.], [0., 2., 3.], [0., 0., 0.]]))
    >>> p.ry, p.rx, p.row_dy.tolist(), p.run_dx.tolist(), p.run_w.tolist()
    (0, 1, [0], [1, 2], [2.0, 3.0])
    """
    kh, kw = kernel.shape
    cy, cx = kh // 2, kw // 2
    rows, cols = np.nonzero(kernel)
    ry = int(np.abs(rows - cy).max())
    rx = int(np.abs(cols - cx).max())
    row_dy, row_ptr, run_dx, run_len, run_w = [], [0], [], [], []
    for ky in range(kh):
        taps = np.flatnonzero(kernel[ky])
        if taps.size == 0:
            continue
        row_dy.append(ky - cy + ry)
        for kx in taps:
            run_dx.append(kx - cx + rx)
            run_len.append(1)
            run_w.append(kernel[ky, kx])
        row_ptr.append(len(run_dx))
    return Plan(
        kernel=kernel,
        ry=ry,
        rx=rx,
        row_dy=np.asarray(row_dy, dtype=np.int64),
        row_ptr=np.asarray(row_ptr, dtype=np.int64),
        run_dx=np.asarray(run_dx, dtype=np.int64),
        run_len=np.asarray(run_len, dtype=np.int64),
        run_w=np.asarray(run_w, dtype=np.float64),
        method=method,
    )
