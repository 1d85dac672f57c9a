"""numpy backend: the numba row sweep of :mod:`xarray_focal.algorithms.sweep` on host memory.

The whole-array entry point runs the ``parallel=True`` loop under ``_PARALLEL_LOCK``:
numba's default ``workqueue`` threading layer aborts the process when two host threads
enter parallel regions at once, and even the safe layers (omp, tbb) would oversubscribe
the cores. One call holds the lock uncontended and still uses every core; concurrent
callers take turns, each using every core.
"""

from __future__ import annotations

import threading

import numba
import numpy as np

from ..algorithms import sweep
from ..algorithms.plan import Plan
from ..boundary import AxisMap, axis_map

__all__ = ["correlate", "correlate_tile"]

#: Serialises entry into numba parallel regions (see the module docstring).
_PARALLEL_LOCK = threading.Lock()


def working_dtype(dtype: np.dtype) -> np.dtype:
    """float32 stays float32, float64 stays float64, bool/int become float64."""
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


def correlate(data: np.ndarray, plan: Plan, boundary: str, fill: float) -> np.ndarray:
    """Correlate the last two axes of ``data`` with the plan's kernel, using all cores."""
    ymap = axis_map(data.shape[-2], plan.ry, boundary)
    xmap = axis_map(data.shape[-1], plan.rx, boundary)
    return correlate_tile(data, plan, ymap, xmap, fill, parallel=True)


def correlate_tile(
    src: np.ndarray, plan: Plan, ymap: AxisMap, xmap: AxisMap, fill: float, *, parallel: bool
) -> np.ndarray:
    """Correlate one tile; output shape is ``src.shape[:-2] + (len(ymap) - 2ry, len(xmap) - 2rx)``."""
    dtype = working_dtype(src.dtype)
    if src.dtype != dtype or not src.dtype.isnative:
        # ints, bools and byte-swapped floats: numba reads native floats only.
        src = src.astype(dtype)
    lead = src.shape[:-2]
    ho = ymap.index.size - 2 * plan.ry
    wo = xmap.index.size - 2 * plan.rx
    out = np.empty(lead + (ho, wo), dtype=dtype)
    if out.size == 0:
        return out
    src3 = src.reshape((-1,) + src.shape[-2:])
    out3 = out.reshape((-1, ho, wo))
    band, strip = _tiling(out3.shape, plan, parallel)
    args = (
        src3, ymap.index, xmap.index, xmap.lo, xmap.hi, xmap.offset,
        plan.run_dy, plan.run_dx, plan.run_slot, plan.run_w, plan.lengths,
        fill, out3, band, strip, 2 * plan.ry, 2 * plan.rx,
    )
    if parallel:
        with _PARALLEL_LOCK:
            sweep.sweep_parallel(*args)
    else:
        sweep.sweep_serial(*args)
    return out


#: Bytes of the per-task ring of source rows and window sums: sized to stay in L2.
RING_BYTES = 1 << 20
#: Strip width bounds: narrower strips waste the 2rx halo, wider ones gain nothing.
MIN_STRIP, MAX_STRIP = 64, 2048


def _tiling(shape: tuple[int, int, int], plan: Plan, parallel: bool) -> tuple[int, int]:
    """Band height and strip width of a task.

    A band re-reads 2*ry halo rows, so bands are kept several times taller than the halo;
    with threads, there should also be a few tasks per thread to balance the load.
    """
    nb, ho, wo = shape
    per_column = 8 * (2 * plan.ry + 1) * (plan.lengths.size + 1)
    strip = RING_BYTES // per_column - 2 * plan.rx
    strip = min(wo, max(MIN_STRIP, min(MAX_STRIP, strip)))
    band = max(64, 8 * plan.ry)
    if parallel:
        threads = numba.get_num_threads()
        tasks_wanted = 4 * threads
        tasks_per_band_row = nb * -(-wo // strip)
        if tasks_per_band_row * -(-ho // band) < tasks_wanted:
            band = max(4 * plan.ry + 1, -(-ho * tasks_per_band_row // tasks_wanted), 8)
    return min(band, ho), strip
