"""numpy backend: the numba row sweep of :mod:`xarray_focal._algorithms.sweep` on host memory.

A whole-array call splits its tasks into one contiguous range per thread and runs the
``nogil`` loops on Python threads (:mod:`.threads`): fork-safe and safe from many host
threads at once, unlike numba's own threading layers. A dask task (``parallel=False``)
runs all of its chunk's tasks in its own thread.
"""

from __future__ import annotations

import numpy as np

from .._algorithms import box, masked, sweep
from .._algorithms.plan import Plan, make_plan
from .._algorithms.runs import KernelRuns
from .._contract import Reduction, working_dtype
from .._tiles import Tile
from . import threads

__all__ = ["correlate", "correlate_tile", "reduce", "reduce_tile"]

def correlate(data: np.ndarray, kernel: KernelRuns, method: str, boundary: str,
              fill: float) -> np.ndarray:
    """Correlate the last two axes of ``data`` with ``kernel``, using all cores."""
    tile = Tile.whole(data, kernel.ry, kernel.rx, boundary)
    return correlate_tile(tile, kernel, method, fill, parallel=True)


def sweep_source(tile: Tile, fill: float):
    """The tile as the sweep's drivers read it: ``(source, dtype, lead, nb)``.

    ``source`` is the drivers' :data:`~.sweep.Source` (the ``(core, side, cap)`` triple as
    native floats with the ``nb`` leading slices flattened, the y map, the x maps of core
    and cap rows with their (lo, hi, offset) bounds, ``fill``); ``dtype`` the working dtype,
    ``lead`` the leading shape. The geodesic sweeps read tiles the same way.
    """
    core, side, cap, ymap, xmap = tile.pieces()
    dtype = working_dtype(core.dtype)
    srcs = []
    nb = int(np.prod(core.shape[:-2], dtype=np.int64))  # not -1: a strip may have no cells
    for a in (core, side, cap):
        if a.dtype != dtype or not a.dtype.isnative:
            # ints, bools and byte-swapped floats: numba reads native floats only.
            a = a.astype(dtype)
        srcs.append(a.reshape((nb,) + a.shape[-2:]))
    frame = tile.xmap
    xmaps = np.stack((xmap.index, frame.index))
    xb = np.array([[xmap.lo, xmap.hi, xmap.offset], [frame.lo, frame.hi, frame.offset]], dtype=np.int64)
    source = sweep.Source(tuple(srcs), ymap.index, xmaps, xb, float(fill))
    return source, dtype, core.shape[:-2], nb


def _prepare(tile: Tile, plan: Plan, fill: float):
    """:func:`sweep_source` and the output rows and columns of ``plan``:
    ``(source, dtype, lead, ho, wo)``."""
    source, dtype, lead, _ = sweep_source(tile, fill)
    ho = source.ymap.size - 2 * plan.ry
    wo = source.xmaps.shape[1] - 2 * plan.rx
    return source, dtype, lead, ho, wo


def correlate_tile(tile: Tile, kernel: KernelRuns, method: str, fill: float, *,
                   parallel: bool) -> np.ndarray:
    """Correlate one tile; the output has the tile's core shape."""
    plan = make_plan(kernel, method, separable_ok=True)
    source, dtype, lead, ho, wo = _prepare(tile, plan, fill)
    out = np.empty(lead + (ho, wo), dtype=dtype)
    if out.size == 0:
        return out
    if plan.method == "box":
        _run_box(tile, plan, source, None, out.reshape((1, -1, ho, wo)), parallel)
        return out
    driver = sweep.columns if plan.method == "columns" else sweep.sweep
    _run(driver, source, plan, (), out.reshape((-1, ho, wo)), parallel, channels=1)
    return out


def _run_box(tile: Tile, plan: Plan, source, reduction: Reduction | None, out: np.ndarray,
             parallel: bool) -> None:
    """The box sweep (:mod:`.box`): plain correlation when ``reduction`` is None."""
    plain = reduction is None
    if plain:
        # The driver's statistics flags are ignored for a plain correlation.
        reduction = Reduction(("propagate",), 0, 1.0, 1)
        channels = 1
    else:
        need_sum, _, need_var, need_mx, need_mn = reduction.channels
        channels = 1 + need_sum + 3 * need_var + need_mx + need_mn
    height, width = (int(v) for v in plan.lengths)
    where = box.box_geometry(int(plan.run_dy[0]), int(plan.run_dx[0]), height, width,
                             tile.origin, plain)
    _run(box.reduce, source, plan, (masked.reduction_args(reduction), where), out, parallel,
         channels=channels)


def _run(driver, source, plan: Plan, extra: tuple, out: np.ndarray, parallel: bool,
         channels: int) -> None:
    """Call ``driver(source, plan.arrays(), *extra, tasks, task0, task1)`` over all tasks.

    The one place the drivers' argument groups are put together; ``out`` is
    ``(slices, rows, cols)``, or ``(statistics, slices, rows, cols)``.
    """
    shape = out.shape[-3:]
    band, strip = _tiling(shape, plan, parallel, channels=channels)
    tasks = sweep.Tasks(out, band, strip, 2 * plan.ry, 2 * plan.rx)
    threads.run_ranges(driver, (source, plan.arrays(), *extra, tasks),
                       sweep.task_count(*shape, band, strip), parallel=parallel)


def reduce(data: np.ndarray, kernel: KernelRuns, method: str, boundary: str, fill: float,
           reduction: Reduction) -> list[np.ndarray]:
    """NaN-aware statistics of the whole array: one array per statistic."""
    tile = Tile.whole(data, kernel.ry, kernel.rx, boundary)
    return list(reduce_tile(tile, kernel, method, fill, reduction, parallel=True))


def reduce_tile(
    tile: Tile, kernel: KernelRuns, method: str, fill: float, reduction: Reduction, *,
    parallel: bool,
) -> np.ndarray:
    """NaN-aware statistics of one tile: shape ``(len(reduction.names),) + core shape``."""
    plan = make_plan(kernel, method, separable_ok=False)
    source, dtype, lead, ho, wo = _prepare(tile, plan, fill)
    nstats = len(reduction.names)
    out = np.empty((nstats,) + lead + (ho, wo), dtype=dtype)
    if out.size == 0:
        return out
    need_sum, _, need_var, need_mx, need_mn = reduction.channels
    # Full-width buffers per ring row: the variance keeps deviations and squares (and a
    # shift row) for row runs, the raw row plus three window buffers for column runs.
    var_rows = 3 if plan.method == "columns" else 2
    channels = 1 + need_sum + var_rows * need_var + need_mx + need_mn
    if plan.method == "box":
        _run_box(tile, plan, source, reduction, out.reshape((nstats, -1, ho, wo)), parallel)
        return out
    driver = masked.reduce_columns if plan.method == "columns" else masked.reduce
    _run(driver, source, plan, (masked.reduction_args(reduction),),
         out.reshape((nstats, -1, ho, wo)), parallel, channels=channels)
    return out


#: Bytes of the per-task ring of source rows and window sums: sized to stay in L2.
RING_BYTES = 1 << 20
#: Bytes of the box sweep's ring (two blocks of rows per channel), and the narrowest strip
#: in windows: a strip re-reads width - 1 halo columns.
BOX_RING_BYTES = 8 << 20
BOX_MIN_WINDOWS = 8
#: Strip width bounds: narrower strips waste the 2rx halo, wider ones gain nothing.
MIN_STRIP, MAX_STRIP = 64, 2048


def _tiling(
    shape: tuple[int, int, int], plan: Plan, parallel: bool, channels: int
) -> tuple[int, int]:
    """Band height and strip width of a task.

    A band re-reads 2*ry halo rows, so bands are as tall as the load balance allows.
    """
    nb, ho, wo = shape
    if plan.method == "box":
        # A strip re-reads width - 1 halo columns: strips several windows wide, and as
        # wide as keeps the ring (two blocks of rows per channel) within a few MiB (a
        # strip across a 2000-wide raster for a 101-row box mean).
        height, width = (int(v) for v in plan.lengths)
        strip = BOX_RING_BYTES // (16 * height * channels) - 2 * width
        strip = min(wo, MAX_STRIP, max(MIN_STRIP, BOX_MIN_WINDOWS * width, strip))
    else:
        if plan.method == "columns":
            # The ring holds raw rows only; the window buffers are per output row.
            per_column = 8 * channels * (2 * plan.ry + 1 + plan.win_base.size)
        else:
            slots = 2 if plan.sep_w.size else plan.lengths.size + 1
            per_column = 8 * channels * (2 * plan.ry + 1) * slots
        strip = RING_BYTES // per_column - 2 * plan.rx
        strip = min(wo, max(MIN_STRIP, min(MAX_STRIP, strip)))
    if not parallel:
        # One band: the 2ry halo rows above a band are gathered (and summed) only once.
        return ho, strip
    # Threads: about four tasks per thread balance the load; fewer, taller bands re-read
    # fewer halo rows (64-row bands re-read 22 % more rows for a 15x15 kernel).
    tasks_wanted = 4 * threads.num_threads()
    if plan.method == "box":
        # A box band re-reads height - 1 halo rows, and the threads take contiguous
        # ranges of tasks: one band per thread.
        tasks_wanted = threads.num_threads()
    tasks_per_band_row = nb * -(-wo // strip)
    band = max(4 * plan.ry + 1, 8, -(-ho * tasks_per_band_row // tasks_wanted))
    return min(band, ho), strip
