"""numpy backend: the numba loops of :mod:`xarray_focal.algorithms.direct` on host memory.

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

from ..algorithms import direct
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
    args = (
        src3, ymap.index, xmap.index, xmap.lo, xmap.hi, xmap.offset,
        plan.row_dy, plan.row_ptr, plan.run_dx, plan.run_w, fill, out3,
    )
    if parallel:
        # A few blocks per thread balance uneven rows (edges, NaN fills). The thread count
        # is read here: numba.get_num_threads() inside the jit would defeat its disk cache.
        nblocks = 4 * numba.get_num_threads()
        with _PARALLEL_LOCK:
            direct.correlate_parallel(*args, nblocks)
    else:
        direct.correlate_serial(*args)
    return out
