"""Device side of the cupy backend: CUDA sources, compiled kernels, device caches, one launcher.

* The CUDA C lives in ``correlate.cu``, ``reduce.cu`` and ``common.cuh`` beside this module
  (read with :mod:`importlib.resources`, so they ship in the wheel). :func:`source` pastes
  each ``#include "..."`` of a sibling file in place, with ``#line`` directives: NVRTC
  messages name the real file and line, and cupy's compile cache, keyed by the source
  text, sees every change of an included file.
* One :class:`Cache` (a small thread-safe LRU) holds the uploaded layouts (:data:`PLANS`),
  the device index maps (:data:`MAPS`) and the compiled kernels (:data:`KERNELS`).
  Layouts are keyed by the kernel's digest, maps by their bytes or parameters, kernels by
  file, entry point and compiler options; every key ends with the device.
* :func:`launch_kernel` is the one launcher: ``focal_correlate`` without a reduction,
  ``focal_reduce`` with one; both take the same leading and trailing arguments.

cupy is imported inside the functions that need it (it is an optional dependency).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np

from ..._algorithms.runs import KernelRuns
from ..._boundary import AxisMap, source_index
from ..._contract import Reduction, cuda_defines, working_dtype
from ...errors import FocalValueError
from ..._forking import fork_safe_lock
from . import layout, unrolled

__all__ = ["Cache", "DevicePlan", "DeviceMap", "launch_kernel", "source", "correlate_plan",
           "reduce_plan", "device_map", "whole_axis_map", "UPLOADS", "PLANS", "MAPS", "KERNELS",
           "UNROLLED"]

#: Whether ``focal_correlate`` may run as the kernel generated for the kernel's runs
#: (:mod:`.unrolled`) where it qualifies; tests and benchmarks turn it off to compare.
UNROLLED = True
#: The same for the statistics kernels (:func:`.unrolled.reduce_unrolled_layout`). Off by
#: default until measured: the GPU tests passed with it on, but no timing run has compared
#: it with ``reduce.cu`` yet, and each footprint and channel set compiles its own kernel
#: (about 1 s, 12 s for a 51 x 51 box's max). ``benchmarks/gpu_peers.py --stats-variants``
#: times both.
UNROLLED_STATS = False

#: Host-to-device uploads done by this backend, by kind (tests read it to prove caching).
UPLOADS = {"weights": 0, "index_maps": 0}

_CTYPE = {"f4": "float", "f8": "double"}
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$')


class Cache:
    """A small thread-safe least-recently-used cache of device objects.

    Examples
    --------
    >>> c = Cache(2)
    >>> [c.get(k, lambda k=k: k * 10) for k in (1, 2, 1, 3)], list(c.items)
    ([10, 20, 10, 30], [1, 3])
    """

    def __init__(self, size: int):
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self._lock = fork_safe_lock()

    def get(self, key, make):
        """The value for ``key``, made by ``make()`` (under the lock) when missing."""
        # make() runs under the lock: dask threads asking for one plan or kernel at once
        # would otherwise each upload or compile it.
        with self._lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            value = self.items[key] = make()
            while len(self.items) > self.size:
                self.items.popitem(last=False)
            return value


PLANS = Cache(64)
MAPS = Cache(256)
KERNELS = Cache(512)  # more than the variants there are: compiled kernels stay


def _expand(text: str, name: str) -> str:
    """``text`` (the file ``name``) with its sibling ``#include``\\ s pasted in."""
    out = [f'#line 1 "{name}"']
    for number, line in enumerate(text.splitlines(), start=1):
        match = _INCLUDE.match(line)
        if match:
            out += [source(match.group(1)), f'#line {number + 1} "{name}"']
        else:
            out.append(line)
    return "\n".join(out)


@cache
def source(name: str) -> str:
    """The CUDA source ``name`` of this package with its sibling ``#include``\\ s pasted in.

    Examples
    --------
    >>> lines = source("reduce.cu").splitlines()
    >>> lines[0], '#line 1 "common.cuh"' in lines, any(_INCLUDE.match(s) for s in lines)
    ('#line 1 "reduce.cu"', True, False)
    """
    return _expand(files(__package__).joinpath(name).read_text(encoding="utf-8"), name)


def _compiled(name: str, entry: str, defines: tuple[str, ...], device: int, text=None):
    """``entry`` of the CUDA file ``name`` compiled with ``defines`` for ``device`` (cached).

    ``text`` is the source of a generated kernel (``name`` then only names it and keys the
    cache with ``defines``); by default the package's file ``name``.
    """

    def make():
        import cupy as cp

        options = ("-std=c++17", *defines, *cuda_defines())
        code = source(name) if text is None else _expand(text(), name)
        kern = cp.RawKernel(code, entry, options=options)
        # Bands are sized to the budget, above the 48 KiB a block gets without asking. A
        # compiled kernel lives for the process, so it is allowed the device's maximum
        # rather than the budget in force now (a test that shrinks the budget must not
        # leave kernels that later launches with bigger tiles cannot use).
        optin = cp.cuda.Device(device).attributes.get("MaxSharedMemoryPerBlockOptin", 0)
        kern.max_dynamic_shared_size_bytes = max(int(optin), layout.SMEM_BUDGET)
        return kern

    return KERNELS.get((name, entry, defines, device), make)


@dataclass(frozen=True, eq=False)
class DevicePlan:
    """A :class:`~.layout.Layout` uploaded to one device."""

    layout: layout.Layout
    runs: Any  # cupy int32 (n, 4)
    weights: Any  # cupy, the layout's accumulation dtype (n,)
    bands: Any  # cupy int32 (nbands, 6)


def _upload(lay: layout.Layout) -> DevicePlan:
    import cupy as cp

    UPLOADS["weights"] += 1
    return DevicePlan(lay, cp.asarray(lay.runs), cp.asarray(lay.weights.astype(lay.acc)),
                      cp.asarray(lay.bands))


def correlate_plan(kernel: KernelRuns, dtype: np.dtype, device: int) -> DevicePlan:
    """The device layout of ``focal_correlate`` for ``kernel`` on ``dtype`` data (cached)."""
    return PLANS.get(("correlate", kernel.key, dtype.str, device),
                     lambda: _upload(layout.correlate_layout(kernel, dtype)))


def reduce_plan(kernel: KernelRuns, K: int, device: int) -> DevicePlan:
    """The device layout of ``focal_reduce`` for ``kernel`` with ``K`` outputs a thread (cached)."""
    return PLANS.get(("reduce", kernel.key, K, device),
                     lambda: _upload(layout.reduce_layout(kernel, K)))


@dataclass(frozen=True, eq=False)
class DeviceMap:
    """An axis map on the device (int32) with its plain shift ``index[j] == j + offset`` on
    ``lo:hi`` (:class:`~xarray_focal._boundary.AxisMap`): tiles inside it skip the lookups."""

    index: Any
    lo: int
    hi: int
    offset: int

    @property
    def size(self) -> int:
        return int(self.index.size)


def _to_device(amap: AxisMap, device: int) -> DeviceMap:
    import cupy as cp

    UPLOADS["index_maps"] += 1
    with cp.cuda.Device(device):
        return DeviceMap(cp.asarray(amap.index, dtype=cp.int32), amap.lo, amap.hi, amap.offset)


def device_map(amap: AxisMap, device: int) -> DeviceMap:
    """A tile's index map on the device (cached by its bytes)."""
    index = amap.index
    if index.size and int(index.max()) >= 2**31:
        raise FocalValueError(f"an axis of {index.max()} cells is too long for the GPU kernel")
    return MAPS.get((index.tobytes(), device), lambda: _to_device(amap, device))


def whole_axis_map(n: int, radius: int, mode: str, device: int) -> DeviceMap:
    """Device index map of a whole axis, cached by its parameters (no host work per call)."""

    def make():
        index = source_index(np.arange(-radius, n + radius), n, mode)
        return _to_device(AxisMap.from_index(index, radius), device)

    return MAPS.get((n, radius, mode, device), make)


def _correlate_variant(kernel: KernelRuns, dtype: np.dtype, device: int, fill: float):
    """Plan, compiled kernel and middle arguments of ``focal_correlate``."""
    plan = correlate_plan(kernel, dtype, device)
    lay = plan.layout
    defines = (f"-DFOCAL_T={_CTYPE[dtype.str[1:]]}", f"-DFOCAL_A={_CTYPE[lay.acc.str[1:]]}",
               f"-DFOCAL_K={lay.K}")
    kern = _compiled("correlate.cu", "focal_correlate", defines, device)
    return plan, kern, (lay.acc.type(fill),)


def _unrolled_variant(kernel: KernelRuns, dtype: np.dtype, device: int):
    """Layout and compiled kernel of the generated correlate, or None where it does not fit."""
    if not UNROLLED:
        return None
    lay = PLANS.get(("unrolled", kernel.key, dtype.str, tuple(unrolled.SHAPES.items())),
                    lambda: unrolled.unrolled_layout(kernel, dtype) or False)
    if not lay:
        return None
    defines = (f"-DFOCAL_T={_CTYPE[dtype.str[1:]]}",)
    shape = f"{lay.K}x{lay.M}x{lay.warps[0]}x{lay.warps[1]}x{lay.minb}"
    kern = _compiled(f"unrolled-{kernel.key.hex()}.cu", "focal_correlate_unrolled",
                     defines + (f"-DFOCAL_SHAPE={shape}",), device,
                     text=lambda: unrolled.source(lay))
    return lay, kern


def _reduce_unrolled_variant(kernel: KernelRuns, dtype: np.dtype, device: int, fill: float,
                             reduction: Reduction):
    """Layout and compiled kernel of the generated statistics, or None where they do not fit."""
    if not (UNROLLED and UNROLLED_STATS):
        return None
    channels = tuple(bool(c) for c in reduction.channels)
    fkey = np.float64(fill).tobytes()
    lay = PLANS.get(("reduce-unrolled", kernel.key, dtype.str, channels, fkey,
                     layout.SMEM_BUDGET),
                    lambda: unrolled.reduce_unrolled_layout(kernel, dtype, channels, fill) or False)
    if not lay:
        return None
    unit = bool(np.all(kernel.weight == 1.0))
    defines = (f"-DFOCAL_T={_CTYPE[dtype.str[1:]]}",
               *(f"-DNEED_{c}={int(f)}" for c, f in zip(("X", "WV", "Q", "MX", "MN"), channels)),
               f"-DUNIT_W={int(unit)}", f"-DFOCAL_SHAPE={lay.K}x{lay.M}")
    kern = _compiled(f"reduce-unrolled-{kernel.key.hex()}.cu", "focal_reduce_unrolled", defines,
                     device, text=lambda: unrolled.reduce_source(lay))
    return lay, kern


def _piece(piece: Any, dtype: np.dtype):
    """``piece`` as the generated kernel reads it: (array, row stride, batch stride)."""
    import cupy as cp

    if piece.dtype != dtype:
        piece = piece.astype(dtype)
    item = dtype.itemsize
    st = piece.strides
    lead_ok = all(st[i] == st[i + 1] * piece.shape[i + 1] for i in range(piece.ndim - 3))
    if piece.size and (st[-1] != item or min(st) < 0 or not lead_ok
                       or any(s % item for s in st)):
        piece = cp.ascontiguousarray(piece)
        st = piece.strides
    if not piece.size:
        return piece, np.int64(0), np.int64(0)
    return piece, np.int64(st[-2] // item), np.int64(st[-3] // item if piece.ndim > 2 else 0)


#: Recipes of whole-array generated launches by everything that decides them (kernel,
#: data dtype, shape and strides, boundary, fill, device): a repeated call only allocates
#: its output and launches. A plain dict read without the lock: a racing miss just builds
#: the same recipe twice.
RECIPES: dict = {}
_SRC = object()  # the source array's place in a recipe's arguments
_OUT = object()  # the output's


def whole_recipe_key(data: Any, kernel: KernelRuns, boundary: str, fill: float):
    """The key of :data:`RECIPES` for a whole-array correlate of ``data``."""
    return (kernel.key, data.dtype.str, data.shape, data.strides, boundary,
            np.float64(fill).tobytes(), data.device.id, UNROLLED,
            tuple(unrolled.SHAPES.items()), layout.SMEM_BUDGET)


def launch_recipe(recipe, data: Any) -> Any:
    """Run a whole-array recipe of :data:`RECIPES` on ``data``."""
    import cupy as cp

    kern, blocks, threads, smem, args, shape, dtype, device = recipe
    with cp.cuda.Device(device):
        out = cp.empty(shape, dtype=dtype)
        kern(blocks, threads, tuple(data if a is _SRC else out if a is _OUT else a for a in args),
             shared_mem=smem)
    return out


def launch_generated(grid, kernel: KernelRuns, ymap: DeviceMap, xmap: DeviceMap, fill: float,
                     recipe_key=None):
    """The generated correlate of a tile's 3 x 3 grid of pieces (read in place), or None
    where ``kernel`` has no generated kernel (:func:`.unrolled.unrolled_layout`).

    With ``recipe_key`` (a whole array: every piece a view of the core), the launch is kept
    in :data:`RECIPES` when the core is read in place.
    """
    import cupy as cp

    core = grid[1][1]
    dtype = working_dtype(np.dtype(core.dtype))
    device = core.device.id
    gen = _unrolled_variant(kernel, dtype, device)
    if gen is None:
        return None
    lay, kern = gen
    with cp.cuda.Device(device):
        ho = ymap.size - 2 * kernel.ry
        wo = xmap.size - 2 * kernel.rx
        out = cp.empty(core.shape[:-2] + (ho, wo), dtype=dtype)
        if out.size == 0:
            return out
        nbatch = out.size // (ho * wo)
        args = []
        in_place = True
        for row in grid:
            for piece in row:
                read = _piece(piece, dtype)
                in_place &= piece is not core or read[0] is core
                args += read
        hb, hc = grid[0][1].shape[-2], core.shape[-2]
        wb, wc = grid[1][0].shape[-1], core.shape[-1]
        ylo, yhi = max(ymap.lo, hb - ymap.offset), min(ymap.hi, hb + hc - ymap.offset)
        xlo, xhi = max(xmap.lo, wb - xmap.offset), min(xmap.hi, wb + wc - xmap.offset)
        ty, tx = lay.tile
        blocks = ((wo + tx - 1) // tx, (ho + ty - 1) // ty, min(nbatch, 65535))
        if blocks[1] > 65535:
            raise FocalValueError(f"{ho} rows are more than the GPU kernel's grid allows")
        args = tuple(args) + (np.int32(hb), np.int32(hc), np.int32(wb), np.int32(wc), out,
                              ymap.index, xmap.index, lay.acc.type(fill), np.int32(ho),
                              np.int32(wo), np.int32(ymap.size), np.int32(xmap.size),
                              np.int32(nbatch), np.int32(ylo), np.int32(yhi),
                              np.int32(ymap.offset - hb), np.int32(xlo), np.int32(xhi),
                              np.int32(xmap.offset - wb))
        kern(blocks, (lay.threads,), args, shared_mem=lay.smem)
    if recipe_key is not None and in_place:
        if len(RECIPES) > 256:
            RECIPES.clear()
        template = tuple(_SRC if i < 27 and i % 3 == 0 else _OUT if a is out else a
                         for i, a in enumerate(args))
        RECIPES[recipe_key] = (kern, blocks, (lay.threads,), lay.smem, template, out.shape,
                               dtype, device)
    return out


def _reduce_variant(kernel: KernelRuns, dtype: np.dtype, device: int, fill: float,
                    reduction: Reduction, codes: list[int], nout: int):
    """Plan, compiled kernel and middle arguments of ``focal_reduce``."""
    channels = reduction.channels
    plan = reduce_plan(kernel, layout.reduce_K(channels), device)
    lay = plan.layout
    flags = (int(bool(c)) for c in channels)
    defines = (
        f"-DFOCAL_T={_CTYPE[dtype.str[1:]]}", f"-DFOCAL_K={lay.K}",
        f"-DFOCAL_WX={lay.warps[0]}", f"-DFOCAL_WY={lay.warps[1]}",
        *(f"-DNEED_{c}={f}" for c, f in zip(("X", "WV", "Q", "MX", "MN"), flags)),
        f"-DUNIT_W={int(lay.unit)}",
    )
    kern = _compiled("reduce.cu", "focal_reduce", defines, device)
    packed = sum(c << (4 * i) for i, c in enumerate(codes))
    extra = (np.int64(packed), np.int32(len(codes)), np.int64(nout), np.float64(fill),
             np.float64(reduction.threshold), np.float64(reduction.wtotal),
             np.int32(kernel.ntaps), np.float64(reduction.wcancel))
    return plan, kern, extra


def launch_kernel(src: Any, kernel: KernelRuns, ymap: Any, xmap: Any, fill: float,
                  reduction: Reduction | None = None) -> Any:
    """One launch over every slice of ``src``; ``ymap``/``xmap`` are device int32 maps.

    Without ``reduction``: the correlation, of the padded frame's core shape. With one:
    every statistic of ``reduction`` in the same launch, stacked on a new first axis.
    """
    import cupy as cp

    dtype = working_dtype(np.dtype(src.dtype))
    device = src.device.id
    if reduction is not None:
        codes = [int(c) for c in reduction.codes]
        if not codes or max(codes) > 15 or len(codes) > 15:
            raise FocalValueError(f"cannot encode statistic codes {codes} for the GPU kernel")
    with cp.cuda.Device(device):
        src = cp.ascontiguousarray(src, dtype=dtype)
        ho = ymap.size - 2 * kernel.ry
        wo = xmap.size - 2 * kernel.rx
        lead = () if reduction is None else (len(codes),)
        out = cp.empty(lead + src.shape[:-2] + (ho, wo), dtype=dtype)
        if out.size == 0:
            return out
        nout = out.size // (lead[0] if lead else 1)  # outputs of one statistic
        nbatch = nout // (ho * wo)
        hs, ws = src.shape[-2:]
        gen = None if reduction is None else _reduce_unrolled_variant(kernel, dtype, device,
                                                                      fill, reduction)
        if gen is not None:
            lay, kern = gen
            ty, tx = lay.tile
            nbatch = nout // (ho * wo)
            blocks = ((wo + tx - 1) // tx, (ho + ty - 1) // ty, min(nbatch, 65535))
            if blocks[1] > 65535:
                raise FocalValueError(f"{ho} rows are more than the GPU kernel's grid allows")
            packed = sum(c << (4 * i) for i, c in enumerate(codes))
            hs, ws = src.shape[-2:]
            kern(blocks, (lay.threads,),
                 (src, out, ymap.index, xmap.index, np.int64(packed), np.int32(len(codes)),
                  np.int64(nout), np.float64(fill), np.float64(reduction.threshold),
                  np.float64(reduction.wtotal), np.int32(kernel.ntaps),
                  np.float64(reduction.wcancel), np.int32(hs), np.int32(ws), np.int32(ho),
                  np.int32(wo), np.int32(ymap.size), np.int32(xmap.size), np.int32(nbatch),
                  np.int32(ymap.lo), np.int32(ymap.hi), np.int32(ymap.offset),
                  np.int32(xmap.lo), np.int32(xmap.hi), np.int32(xmap.offset)),
                 shared_mem=lay.smem)
            return out
        if reduction is None:
            plan, kern, extra = _correlate_variant(kernel, dtype, device, fill)
        else:
            plan, kern, extra = _reduce_variant(kernel, dtype, device, fill, reduction, codes,
                                                nout)
        lay = plan.layout
        ty, tx = lay.tile
        grid = ((wo + tx - 1) // tx, (ho + ty - 1) // ty, min(nbatch, 65535))
        if grid[1] > 65535:
            raise FocalValueError(f"{ho} rows are more than the GPU kernel's grid allows")
        kern(
            grid, (lay.threads,),
            (src, out, ymap.index, xmap.index, plan.runs, plan.weights, plan.bands, np.int32(len(lay.bands)))
            + extra
            + (np.int32(hs), np.int32(ws), np.int32(ho), np.int32(wo), np.int32(ymap.size),
               np.int32(xmap.size), np.int32(nbatch), np.int32(lay.pitch)),
            shared_mem=lay.smem,
        )
    return out
