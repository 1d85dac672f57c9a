"""Geodesic kernels on the GPU: one launch of ``geodesic.cu`` per tile, per-row run tables.

A geodesic kernel (:class:`~xarray_focal._geodesic.RowRuns`) has a footprint per output
row, stored once per distinct footprint (a class). Its tables go to each device once and
stay there (:data:`TABLES`, keyed by the kernel's digest and the device): the classes'
runs and weights, their tap and weight sums, the class of every grid row and, for
``area_weighted=True``, the cell area of every padded grid row. A tile (a whole array or
a dask chunk) adds only its index maps (cached by their bytes, as for planar kernels) and
its work list (cached by the tile's rows and width): warps over (row, columns), the
heaviest first, in the layout :data:`SHARED_RUNS` chooses (see ``geodesic.cu``). The
module settings below are read at each call (the benchmark and the tests change them).

The NaN policies, statistics and their finishing formulas are those of ``stats.cuh``
(the planar kernels'), so the GPU follows :mod:`xarray_focal._algorithms.masked` as the
CPU does; the thresholds are per row (:func:`xarray_focal._geodesic._threshold`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._contract import Stat, channels, working_dtype
from ...errors import FocalValueError
from . import launch

__all__ = ["geodesic_tile", "work_items", "TABLES", "ITEM_COLUMNS", "HEAVY_TAPS",
           "HEAVY_PARTS", "SHARED_RUNS"]

#: Device tables of geodesic kernels and the work lists of tiles (by kernel digest, device).
TABLES = launch.Cache(64)
#: Outputs a lane of an ordinary work item computes (``geodesic.cu``'s ``FOCAL_K``): one
#: warp covers 32 x this many columns of one row.
ITEM_COLUMNS = 4
#: Rows whose footprints have more taps than this take work items of one output per lane
#: (32 columns a warp), so that their long sums spread over more warps.
HEAVY_TAPS = 512
#: Lanes own consecutive outputs, whose windows share each run's core (``geodesic.cu``'s
#: ``item_shared``); False: outputs 32 columns apart, each summing its runs alone (the
#: faster of the two in the timing run of docs/performance-gpu.md).
SHARED_RUNS = False
#: Independent partial sums per output of a run in those items (``geodesic.cu``'s
#: ``FOCAL_NP``), so that one lane's sum of thousands of taps is not one chain of
#: additions; more than 1 was slower in the timing run (registers), so it is an option.
HEAVY_PARTS = 1
_CTYPE = {"f4": "float", "f8": "double"}


def _kernel_tables(runs, device: int):
    """The classes' tables and the row classes of the whole grid, on ``device`` (cached).

    ``runs`` is the call's :class:`~xarray_focal._geodesic.RowRuns` (the whole grid's:
    ``runs.start == 0``); a dask chunk reads its rows from ``runs.start`` of its own.
    """

    def make():
        import cupy as cp

        launch.UPLOADS["weights"] += 1
        counts = np.array([d.size for d in runs.dy], dtype=np.int64)
        ptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
        table = np.zeros((int(counts.sum()), 4), dtype=np.int32)
        if table.size:
            table[:, 0] = np.concatenate(runs.dy)
            table[:, 1] = np.concatenate(runs.dx)
            table[:, 2] = np.concatenate(runs.length)
        wts = np.concatenate(runs.weight) if counts.sum() else np.zeros(1)
        with cp.cuda.Device(device):
            return (cp.asarray(runs.row_class.astype(np.int32)), cp.asarray(ptr),
                    cp.asarray(table), cp.asarray(wts.astype(np.float64)),
                    cp.asarray(np.ascontiguousarray(runs._class_sums)))

    return TABLES.get(("tables", runs.key, device), make)


def _area_table(call, device: int):
    """Cell areas of the padded grid rows ``-ry .. rows + ry - 1`` on ``device`` (cached)."""
    from ..._geodesic import cell_areas

    runs, kernel = call.runs, call.kernel

    def make():
        import cupy as cp

        area = cell_areas(kernel._grid, -runs.ry, runs.nrows + 2 * runs.ry, kernel.earth_radius)
        with cp.cuda.Device(device):
            return cp.asarray(area.astype(np.float64))

    # By the grid's geometry, not only the footprints: those can be the same on grids of
    # other latitudes or steps, whose cell areas differ.
    return TABLES.get(("area", runs.key, kernel.geometry, device), make)


def work_items(taps: np.ndarray, wo: int, shared: bool = False) -> np.ndarray:
    """The warps' work of a tile: ``(row, first column, outputs per lane, layout)``, heaviest
    first (``geodesic.cu`` says what the layouts are).

    ``taps`` are the footprint sizes of the tile's output rows (the taps a lane sums
    itself: whole-row runs are shared by the warp). Rows of more than
    :data:`HEAVY_TAPS` taps take one output a lane, or with ``shared`` (consecutive outputs
    sharing run cores, rows of at least :data:`ITEM_COLUMNS` columns) the layout with
    several parts per core.

    Examples
    --------
    >>> work_items(np.array([40, 2000]), 200).tolist()[:3]
    [[1, 0, 1, 0], [1, 32, 1, 0], [1, 64, 1, 0]]
    >>> work_items(np.array([40]), 200).tolist()
    [[0, 0, 4, 0], [0, 128, 4, 0]]
    >>> work_items(np.array([40, 2000]), 200, shared=True).tolist()
    [[1, 0, 4, 2], [1, 128, 4, 2], [0, 0, 4, 1], [0, 128, 4, 1]]
    """
    heavy = taps > HEAVY_TAPS
    shared = shared and wo >= ITEM_COLUMNS
    per_lane = np.full(taps.size, ITEM_COLUMNS) if shared else np.where(heavy, 1, ITEM_COLUMNS)
    layout = np.where(heavy, 2, 1) if shared else np.zeros(taps.size, dtype=np.int64)
    span = 32 * per_lane
    nseg = -(-wo // span)
    rows = np.repeat(np.arange(taps.size), nseg)
    first = (np.arange(rows.size) - np.repeat(np.cumsum(nseg) - nseg, nseg)) * span[rows]
    cost = taps[rows] * (1 if shared else per_lane[rows])
    order = np.argsort(-cost, kind="stable")
    items = np.zeros((rows.size, 4), dtype=np.int32)
    items[:, 0], items[:, 1], items[:, 2] = rows[order], first[order], per_lane[rows][order]
    items[:, 3] = layout[rows][order]
    return items


def _whole_row(call) -> int:
    """The length of a run that is a whole row (a global grid's longitudes), else 0."""
    return call.kernel._grid.n360 if call.kernel.periodic else 0


def _work_taps(runs, nfull: int) -> np.ndarray:
    """Taps each output row's lanes sum themselves: a whole-row run costs a lane a 32nd."""
    taps = runs.ntaps_per_row()
    if not nfull:
        return taps
    whole = np.array([int(np.sum(n[n == nfull])) for n in runs.length], dtype=np.int64)
    return taps - whole[runs.row_class] + whole[runs.row_class] // 32


def _items(runs, ho: int, wo: int, device: int, nfull: int):
    def make():
        import cupy as cp

        with cp.cuda.Device(device):
            return cp.asarray(work_items(_work_taps(runs, nfull)[:ho], wo, SHARED_RUNS))

    return TABLES.get(("items", runs.key, runs.start, ho, wo, HEAVY_TAPS, ITEM_COLUMNS,
                       SHARED_RUNS, nfull, device), make)


def _codes(call) -> list[int]:
    if call.names == ("correlate",):
        return [int(Stat.of(call.policy))]
    return [int(Stat.of(n)) for n in call.names]


def geodesic_tile(tile, runs, call) -> Any:
    """All linear outputs of ``call`` for one cupy tile: ``(len(call.names),) + core shape``.

    ``runs`` are the tile's rows of ``call.runs`` (:meth:`~xarray_focal._geodesic.RowRuns.rows`
    for a dask chunk). One launch computes every output of every slice of the leading axes.
    """
    import cupy as cp

    from . import _frame, _tile_maps

    codes = _codes(call)
    if len(codes) > 15:
        raise FocalValueError(
            f"cannot encode {len(codes)} statistics for the GPU kernel in one launch (15 at most)"
        )
    src = _frame(tile)
    device = src.device.id
    dtype = working_dtype(np.dtype(src.dtype))
    ymap, xmap = _tile_maps(src, tile)
    ho = ymap.size - 2 * runs.ry
    wo = xmap.size - 2 * runs.rx
    correlate = call.names == ("correlate",)
    area = bool(call.area_weighted)
    unit = (not correlate and not area) or (correlate and call.runs.unit_weights)
    need = list(channels(codes))
    if area and any(c in (Stat.MEAN, Stat.VAR, Stat.STD) for c in codes):
        need[1] = True  # the valid area divides the mean and the variance
    wmode = 2 if area else (1 if correlate and not unit else 0)
    shared = SHARED_RUNS and wo >= ITEM_COLUMNS  # as work_items decides
    defines = (f"-DFOCAL_T={_CTYPE[dtype.str[1:]]}", f"-DFOCAL_K={ITEM_COLUMNS}",
               f"-DFOCAL_NP={HEAVY_PARTS}", f"-DFOCAL_SHARED={int(shared)}",
               *(f"-DNEED_{c}={int(f)}" for c, f in zip(("X", "WV", "Q", "MX", "MN"), need)),
               f"-DUNIT_W={int(unit)}", f"-DAREA_W={int(area)}", f"-DFOCAL_WMODE={wmode}")
    kern = launch._compiled("geodesic.cu", "focal_geodesic", defines, device)
    with cp.cuda.Device(device):
        src = cp.ascontiguousarray(src, dtype=dtype)
        out = cp.empty((len(codes),) + src.shape[:-2] + (ho, wo), dtype=dtype)
        if out.size == 0:
            return out
        row_class, cls_ptr, table, wts, info = _kernel_tables(call.runs, device)
        areas = _area_table(call, device) if area else wts  # unread unless area-weighted
        items = _items(runs, ho, wo, device, _whole_row(call))
        nout = out.size // len(codes)
        nbatch = nout // (ho * wo)
        hs, ws = src.shape[-2:]
        blocks = (-(-items.shape[0] // 4), min(nbatch, 65535))
        packed = sum(c << (4 * i) for i, c in enumerate(codes))
        min_count = float(call.min_count or 0)
        kern(blocks, (128,),
             (src, out, ymap.index, xmap.index, row_class, cls_ptr, table, wts, info, areas,
              items, np.int32(items.shape[0]), np.int64(packed), np.int32(len(codes)),
              np.int64(nout), np.float64(call.fill), np.int32(call.policy == "propagate"),
              np.float64(min_count), np.int32(runs.start), np.int32(hs), np.int32(ws),
              np.int32(ho), np.int32(wo), np.int32(nbatch), np.int32(xmap.lo),
              np.int32(xmap.hi), np.int32(xmap.offset), np.int32(_whole_row(call))))
    return out
