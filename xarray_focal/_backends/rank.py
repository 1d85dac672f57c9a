"""Rank, categorical and custom statistics on numpy and dask arrays.

One :class:`RankReduction` says what to compute -- order statistics (median, percentiles),
class statistics (majority, minority, variety) or a user's window function -- and runs on
a :class:`~xarray_focal._tiles.Tile`: the whole array for numpy (its tasks spread over
host threads as the linear sweeps are, :mod:`.threads`), or one chunk with its
neighbours' halo strips for dask, through the same graph builder as every other focal
statistic (:func:`xarray_focal._backends.dask_backend.reduce`, which hands a tile to
:meth:`RankReduction.run_tile`). The loops read the tile's frame through its index maps,
so boundaries and chunk edges are handled exactly as for the linear statistics. cupy
tiles (whole arrays or dask+cupy chunks) go to :mod:`.cupy_rank` (order and class
statistics); ``apply`` is refused on the GPU up front.
"""

from __future__ import annotations

import itertools

import numpy as np

from .._algorithms.rank import classes as class_loops
from .._algorithms.rank import custom as custom_loops
from .._algorithms.rank import order as order_loops
from .._algorithms.runs import KernelRuns
from .._contract import working_dtype
from .._tiles import Tile
from ..errors import FocalTypeError, FocalValueError
from . import is_cupy_array, is_dask_array, threads

__all__ = ["ORDER_STATS", "CLASS_STATS", "RankReduction", "class_ids", "is_percentile", "run"]

#: Order statistics and class statistics by name (``percentile`` carries its q).
ORDER_STATS = ("median", "percentile")
CLASS_STATS = {"majority": class_loops.MAJORITY, "minority": class_loops.MINORITY,
               "variety": class_loops.VARIETY}

#: Footprints of at most this many cells use the sorting network, larger ones the bitset
#: of ranks (the crossover measured on the 2-core box is in docs/performance.md).
NETWORK_MAX_CELLS = 40
#: Output columns per network strip: ``n`` rows of this many values stay in L1/L2.
NETWORK_STRIP = 256
#: Output rows and columns of a bitset task: the region rank-transformed at once. A small
#: region keeps each window's bits dense, so the pivot moves by few words (measured on
#: the 2-core box: docs/performance.md).
BITSET_BAND, BITSET_STRIP = 64, 64


def is_percentile(name: str) -> bool:
    """Whether output ``name`` is a percentile: ``"percentile"`` or ``"percentile_<q>"``."""
    return name == "percentile" or name.startswith("percentile_")


class RankReduction:
    """What the rank engines compute for one call: one output per name.

    Parameters
    ----------
    names : tuple of str
        Output names: ``"median"``, ``"percentile"``, ``"percentile_<q>"`` (several
        percentiles, :func:`~xarray_focal.api.percentile_name`), ``"majority"``,
        ``"minority"``, ``"variety"`` or ``"apply"``.
    threshold : int
        Fewest valid footprint cells that give a value (fewer give NaN).
    q : float or tuple of float, optional
        The percentile (0..100) of each percentile name, in the order of ``names``: one
        float for a lone ``"percentile"``.
    func : numba dispatcher, optional
        The window function of ``"apply"``.
    engine : {"auto", "network", "bitset"}
        Order-statistic engine (tests pin each; both are exact).
    """

    __slots__ = ("names", "threshold", "q", "func", "engine", "quantiles")

    def __init__(self, names, threshold, *, q=None, func=None, engine="auto"):
        self.names = tuple(names)
        self.threshold = int(threshold)
        self.q = None if q is None else (tuple(float(v) for v in q) if isinstance(q, tuple)
                                         else float(q))
        self.func = func
        self.engine = engine
        pct = [n for n in self.names if is_percentile(n)]
        qs = () if q is None else (self.q if isinstance(self.q, tuple) else (self.q,))
        if len(qs) != len(pct):
            raise ValueError(f"{len(qs)} q for the percentiles {pct}")  # internal misuse
        #: The percentile of each percentile name.
        self.quantiles = dict(zip(pct, qs))

    def is_order(self, name: str) -> bool:
        """Whether output ``name`` is an order statistic (median or a percentile)."""
        return name == "median" or name in self.quantiles

    def order_qs(self, names) -> np.ndarray:
        """The ``qs`` of the order engines for ``names``: NaN for the median."""
        return np.array([np.nan if n == "median" else self.quantiles[n] for n in names],
                        dtype=np.float64)

    def __repr__(self) -> str:
        return f"RankReduction({self.names}, threshold={self.threshold}, q={self.q})"

    def __dask_tokenize__(self):
        func = None if self.func is None else (
            getattr(self.func, "__module__", None), getattr(self.func, "__qualname__", None),
            id(self.func))
        return (type(self).__name__, self.names, self.threshold, self.q, func, self.engine)


    def run_tile(self, tile: Tile, kernel: KernelRuns, fill: float, *,
                 parallel: bool) -> np.ndarray:
        """The statistics of one tile: ``(len(names),) + lead + (rows, columns)``.

        The rows and columns are those the tile's maps cover (the core's, unless the maps
        were cut down to a band of rows), in the working dtype.
        """
        core = tile.core
        if is_cupy_array(core):
            from . import cupy_rank

            self.check_gpu()
            order = [i for i, n in enumerate(self.names) if self.is_order(n)]
            cls = [i for i, n in enumerate(self.names) if n in CLASS_STATS]
            parts = []
            if order:
                # One launch for the median and every percentile (the kernel's qs).
                qs = self.order_qs([self.names[i] for i in order])
                parts.append((order, cupy_rank.order_tile(tile, kernel, fill, qs, self.threshold)))
            if cls:
                codes = np.array([CLASS_STATS[self.names[i]] for i in cls], dtype=np.int32)
                parts.append((cls, cupy_rank.class_tile(tile, kernel, fill, codes, self.threshold)))
            if len(parts) == 1 and parts[0][0] == list(range(len(self.names))):
                return parts[0][1]
            import cupy as cp

            res = parts[0][1]
            out = cp.empty((len(self.names),) + res.shape[1:], dtype=res.dtype)
            for idx, part in parts:
                out[idx] = part
            return out
        frame = np.asarray(tile.frame())
        lead = core.shape[:-2]
        # From the maps, not the core: a band of a geodesic tile computes some rows only.
        ho = tile.ymap.index.size - 2 * kernel.ry
        wo = tile.xmap.index.size - 2 * kernel.rx
        dtype = working_dtype(core.dtype)
        out = np.empty((len(self.names),) + lead + (ho, wo), dtype=dtype)
        if out.size == 0:
            return out
        nb = int(np.prod(lead, dtype=np.int64))
        frame = frame.reshape((nb,) + frame.shape[-2:])
        flat = out.reshape((len(self.names), nb, ho, wo))
        yidx, xidx = tile.ymap.index, tile.xmap.index
        xb = np.array([tile.xmap.lo, tile.xmap.hi, tile.xmap.offset], dtype=np.int64)
        maps = (frame, dtype, yidx, xidx, xb, fill, kernel)
        order = [i for i, n in enumerate(self.names) if self.is_order(n)]
        cls = [i for i, n in enumerate(self.names) if n in CLASS_STATS]
        if order:
            qs = self.order_qs([self.names[i] for i in order])
            if len(order) == len(self.names):  # straight into the result: no 2nd copy
                self._order(*maps, qs, (nb, ho, wo), parallel, out=flat)
            else:
                flat[order] = self._order(*maps, qs, (nb, ho, wo), parallel)
        if cls:
            codes = np.array([CLASS_STATS[self.names[i]] for i in cls], dtype=np.int64)
            if len(cls) == len(self.names):  # straight into the result: no 2nd copy
                self._classes(*maps, codes, (nb, ho, wo), parallel, out=flat)
            else:
                flat[cls] = self._classes(*maps, codes, (nb, ho, wo), parallel)
        if "apply" in self.names:
            flat[self.names.index("apply")] = self._apply(*maps, (nb, ho, wo), parallel)[0]
        return out

    def check_gpu(self) -> None:
        """Refuse, before any work, what the GPU does not compute: ``apply``."""
        if "apply" in self.names:
            raise FocalTypeError(
                "focal apply is not implemented on cupy arrays (a numba-jitted function runs "
                "on the host; the GPU computes median, percentile, majority, minority and "
                "variety); move the data to the host first (data.get(), or "
                "data.map_blocks(cupy.asnumpy) for dask)"
            )

    def _order(self, frame, dtype, yidx, xidx, xb, fill, kernel, qs, shape, parallel, out=None):
        frame = np.ascontiguousarray(frame, dtype=dtype)
        nb, ho, wo = shape
        if out is None:
            out = np.empty((qs.size, nb, ho, wo), dtype=dtype)
        engine = self.engine
        if engine == "auto":
            engine = "network" if kernel.ntaps <= NETWORK_MAX_CELLS else "bitset"
        if engine == "network":
            taps = kernel.taps()
            moves, final = order_loops.network_schedule(kernel.ntaps)
            strip = min(wo, NETWORK_STRIP)
            band = _band(nb, ho, -(-wo // strip), parallel, default=ho)
            args = (frame, yidx, xidx, xb, float(fill), taps.dy, taps.dx, kernel.ry, kernel.rx,
                    moves, final, qs, self.threshold, out, band, strip, _box_code(kernel, qs))
            ntasks = nb * -(-ho // band) * -(-wo // strip)
            _run_tasks(order_loops.order_network, args, ntasks, parallel=parallel)
        else:
            strip = min(wo, BITSET_STRIP)
            band = min(_band(nb, ho, 1, parallel, default=ho), BITSET_BAND)
            args = (frame, yidx, xidx, xb, float(fill), kernel, qs, self.threshold, out, band,
                    strip)
            ntasks = nb * -(-ho // band)
            _run_tasks(_bitset_tasks, args, ntasks, parallel=parallel)
        return out

    def _classes(self, frame, dtype, yidx, xidx, xb, fill, kernel, codes, shape, parallel,
                 out=None):
        nb, ho, wo = shape
        ids, fill_id, values = class_ids(frame, fill)
        if out is None:
            out = np.empty((codes.size, nb, ho, wo), dtype=dtype)
        band = _band(nb, ho, 1, parallel, default=ho)
        ntasks = nb * -(-ho // band)
        counting = codes
        if values.size <= 64 and class_loops.VARIETY in codes:
            # Few classes: variety as bitsets, the rest (if any) by counting.
            slot = int(np.flatnonzero(codes == class_loops.VARIETY)[0])
            lengths, run_len_slot = np.unique(kernel.length, return_inverse=True)
            vband = min(band, 256)
            args = (ids, yidx, xidx, xb, fill_id, kernel.dy, kernel.dx, kernel.length,
                    lengths.astype(np.int64), run_len_slot.astype(np.int64).reshape(-1),
                    kernel.ry, kernel.rx, self.threshold, out, slot, vband)
            _run_tasks(class_loops.variety_bits, args, nb * -(-ho // vband),
                               parallel=parallel)
            counting = codes[codes != class_loops.VARIETY]
        if counting.size:
            rest = [i for i, c in enumerate(codes) if c in counting]
            sub = np.empty((counting.size, nb, ho, wo), dtype=dtype)
            args = (ids, yidx, xidx, xb, fill_id, kernel.dy, kernel.dx, kernel.length, kernel.ry,
                    kernel.rx, values.size, values, counting, self.threshold, sub, band)
            _run_tasks(class_loops.class_windows, args, ntasks, parallel=parallel)
            out[rest] = sub
        return out

    def _apply(self, frame, dtype, yidx, xidx, xb, fill, kernel, shape, parallel):
        frame = np.ascontiguousarray(frame, dtype=dtype)
        nb, ho, wo = shape
        out = np.empty((1, nb, ho, wo), dtype=dtype)
        band = _band(nb, ho, 1, parallel, default=ho)
        args = (frame, yidx, xidx, xb, float(fill), kernel.dy, kernel.dx, kernel.length, kernel.ry,
                kernel.rx, self.func, self.threshold, out, band)
        _run_tasks(custom_loops.apply_windows, args, nb * -(-ho // band), parallel=parallel)
        return out


def _box_code(kernel: KernelRuns, qs: np.ndarray) -> int:
    """The generated median kernel of a full box footprint, 0 for none (see order_network)."""
    shape = (2 * kernel.ry + 1, 2 * kernel.rx + 1)
    if kernel.ntaps != shape[0] * shape[1] or not np.all(np.isnan(qs)):
        return 0
    return order_loops.BOX_CODES.get(shape, 0)


def _bitset_tasks(frame, yidx, xidx, xb, fill, kernel, qs, thr, out, band, strip, t0, t1):
    """Tasks ``t0:t1`` (bands of output rows) of the bitset engine: gather, sort, sweep.

    One task is a band of rows across the whole width: its strips' regions are gathered
    as the rows of one array of uint64 keys (value order above cell position) and ranked
    by one call of numpy's sort along them (SIMD-accelerated, it releases the GIL; about 4
    times faster than an argsort of the values, measured), so the Python work per task
    does not grow with the number of strips.
    """
    nq, nb, ho, wo = out.shape
    nbands, nstrips = -(-ho // band), -(-wo // strip)
    ry, rx = kernel.ry, kernel.rx
    vert = kernel.transposed()  # runs down the footprint's columns: the window's steps down
    size = (band + 2 * ry) * (min(strip, wo) + 2 * rx)
    vals = np.empty((nstrips, size), dtype=np.float64)
    keys = np.empty((nstrips, size), dtype=np.uint64)
    ib = max(1, (size - 1).bit_length())  # bits of a cell's position in its key
    for task in range(t0, t1):
        b, bi = divmod(task, nbands)
        y0 = bi * band
        bh = min(band, ho - y0)
        ph = bh + 2 * ry
        order_loops.bitset_gather(frame, b, yidx, xidx, fill, y0, ph, strip, rx, wo, vals, keys,
                                  ib)
        keys.sort(axis=1)
        order_loops.bitset_band(vals, keys, ib, ph, strip, rx, kernel.dy, kernel.dx,
                                kernel.length, vert.dy, vert.dx, vert.length, qs, thr, out, b, y0,
                                bh)


#: Tasks per thread of a whole-array call. Threads take them one at a time
#: (:func:`_run_tasks`), so a core slowed by other work does fewer of them; with a fixed
#: range per thread the call would wait for the slowest range.
TASKS_PER_THREAD = 16


def _run_tasks(kernel, args: tuple, ntasks: int, *, parallel: bool) -> None:
    """``kernel(*args, t, t + 1)`` for every task, each thread taking the next free one.

    Uses the shared pool of :func:`.threads.run_ranges` (one range per thread, each
    running this loop); a dask task (``parallel=False``) runs them all in its thread.
    """
    nthreads = min(threads.num_threads(), ntasks) if parallel else 1
    if nthreads <= 1:
        kernel(*args, 0, ntasks)
        return
    counter = itertools.count()  # next() on it is atomic under the GIL

    def worker(w0, w1):
        while (task := next(counter)) < ntasks:
            kernel(*args, task, task + 1)

    threads.run_ranges(worker, (), nthreads, parallel=True)


def _band(nb: int, ho: int, per_band_row: int, parallel: bool, *, default: int) -> int:
    """Band height: the whole tile in a dask task, :data:`TASKS_PER_THREAD` per thread
    otherwise."""
    if not parallel:
        return max(1, default)
    wanted = TASKS_PER_THREAD * threads.num_threads()
    return max(1, min(ho, -(-ho * nb * per_band_row // wanted)))


#: Integers up to this magnitude are exact in float64 (2**53).
FLOAT64_EXACT_INT = 2 ** 53
#: Integer classes spanning at most this many values are numbered by offset (no sort).
DIRECT_CLASS_RANGE = 1 << 16


def class_ids(frame: np.ndarray, fill: float) -> tuple[np.ndarray, int, np.ndarray]:
    """Dense class ids of ``frame`` (-1 for NaN), the id of ``fill`` and the class values.

    Ids follow ascending class value, so the smallest id of a tie is the smallest class.
    Integer classes of a narrow range are numbered by their offset from the smallest (some
    ids then have no cell, which changes no statistic); others by :func:`numpy.unique`.

    Examples
    --------
    >>> ids, fill_id, values = class_ids(np.array([[3.0, np.nan, 1.0]]), np.nan)
    >>> ids.tolist(), fill_id, values.tolist()
    ([[2, -1, 0]], -1, [1.0, 2.0, 3.0])
    """
    kind = frame.dtype.kind
    extra = [] if np.isnan(fill) else [fill]
    if kind in "biu":
        valid = None
        lo, hi = (int(frame.min()), int(frame.max())) if frame.size else (0, 0)
        if max(abs(lo), abs(hi)) > FLOAT64_EXACT_INT:
            raise FocalValueError(
                f"integer classes up to {max(abs(lo), abs(hi))} are beyond 2**53: the float64 "
                "results (majority, minority) and the class table cannot tell neighbouring "
                "values apart; renumber the classes first (np.unique(data, return_inverse=True))"
            )
        lo, hi = float(lo), float(hi)
    else:
        valid = ~np.isnan(frame)
        vals = frame[valid]
        lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 0.0)
    if extra:
        lo, hi = min(lo, extra[0]), max(hi, extra[0])
    integral = (kind in "biu" or (np.isfinite(lo) and np.isfinite(hi)
                                  and bool(np.all(vals == np.floor(vals)))))
    integral = integral and all(float(e).is_integer() for e in extra)
    # Float classes beyond 2**53 are distinct floats, not integers int64 offsets can number.
    integral = integral and max(abs(lo), abs(hi)) <= FLOAT64_EXACT_INT
    if integral and hi - lo < DIRECT_CLASS_RANGE:
        # Offsets from the smallest class, then renumbered densely by a table of the
        # classes present (np.bincount: no sort).
        base = int(lo)
        offsets = (frame if valid is None else vals).astype(np.int64, copy=False)
        if base != 0:  # int64 classes from 0 (the usual labels) are their own offsets
            offsets = offsets - base
        if hi - lo < 64:  # already few enough for the variety bitsets: no table needed
            values = np.arange(base, int(hi) + 1, dtype=np.float64)
            fill_id = int(extra[0]) - base if extra else -1
            if valid is None:
                return np.ascontiguousarray(offsets), fill_id, values
            ids = np.full(frame.shape, -1, dtype=np.int64)
            ids[valid] = offsets
            return ids, fill_id, values
        present = np.bincount(offsets.ravel(), minlength=int(hi) - base + 1) > 0
        if extra:
            present[int(extra[0]) - base] = True
        table = np.cumsum(present) - 1
        values = (np.flatnonzero(present) + base).astype(np.float64)
        if valid is None:
            ids = table[offsets]
        else:
            ids = np.full(frame.shape, -1, dtype=np.int64)
            ids[valid] = table[offsets]
        fill_id = int(table[int(extra[0]) - base]) if extra else -1
        return np.ascontiguousarray(ids), fill_id, values
    flat = frame.ravel() if valid is None else vals
    values, inverse = np.unique(np.concatenate((flat.astype(np.float64), extra)),
                                return_inverse=True)
    inverse = inverse.reshape(-1)
    ids = np.full(frame.shape, -1, dtype=np.int64)
    if valid is None:
        ids[...] = inverse[:flat.size].reshape(frame.shape)
    else:
        ids[valid] = inverse[:flat.size]
    fill_id = int(inverse[-1]) if extra else -1
    return ids, fill_id, values


def run(data, kernel: KernelRuns, boundary: str, fill: float, reduction: RankReduction) -> list:
    """The statistics of ``reduction`` over ``data`` (numpy or dask): one array per name."""
    if is_cupy_array(data._meta if is_dask_array(data) else data):
        reduction.check_gpu()  # now, not at compute time
    if is_dask_array(data):
        from . import dask_backend

        return dask_backend.reduce(data, kernel, "auto", boundary, fill, reduction)
    tile = Tile.whole(data, kernel.ry, kernel.rx, boundary)
    return list(reduction.run_tile(tile, kernel, fill, parallel=True))
