#!/usr/bin/env python
"""Side-by-side timings of xarray-focal and its peers on the same work, in one process.

Every case builds one float64 random raster, runs each tool once (compiling JITs and
checking that the outputs agree where the semantics match), then times the tools in
interleaved rounds -- round ``i`` starts with a different tool -- so background load hits
all of them alike. It prints one markdown table per case: the median time of each tool
and the ratio peer / ours (> 1 means we are faster).

Usage (from the repository root)::

    python benchmarks/peers.py                 # every case, 5 timed rounds
    python benchmarks/peers.py --quick         # fewer rounds, slowest peers skipped (< 2 min)
    python benchmarks/peers.py --cases P1,N1   # a subset
    python benchmarks/peers.py --update-doc docs/performance.md   # refresh the recorded table

xarray-spatial >= 0.6 needs Python >= 3.12. Run this file with such an interpreter and
``PYTHONPATH`` pointing at the checkout, e.g.::

    python3.12 -m venv /tmp/peers312
    /tmp/peers312/bin/pip install xarray-spatial==0.10.20 opencv-python-headless dask-image \
        astropy scipy dask distributed numba xarray
    PYTHONPATH=$PWD /tmp/peers312/bin/python benchmarks/peers.py --quick

A peer that is not importable gets a row saying so instead of a time; so does a feature of
xarray-focal that does not exist yet ("not implemented"), so re-running this file after a
feature lands simply fills the row in.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import importlib
import importlib.util
import inspect
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

#: Where --update-doc writes, between these two lines of the markdown page.
DOC_START = "<!-- peers-report:start -->"
DOC_END = "<!-- peers-report:end -->"

#: Outputs agree when every difference is within this fraction of sum(|w|) * max|x|
#: (loose enough for FFT-based peers, tight enough to catch a wrong boundary or flip).
AGREE_RTOL = 1e-9

ROUNDS_FULL = 5
ROUNDS_QUICK = 1


# --------------------------------------------------------------------------------------
# Tools and cases
# --------------------------------------------------------------------------------------


@dataclass
class Tool:
    """One way to do a case's work.

    ``run`` returns the result (already computed: dask computed, GPU synchronised); it is
    ``None`` when the tool cannot run here, and ``status`` says why.
    """

    name: str
    version: str = ""
    run: Callable[[], Any] | None = None
    status: str = "ok"
    #: "all": compare every cell with the reference; "interior": only cells whose
    #: footprint lies inside the raster (the tool pads differently); "classes": count the
    #: cells whose class differs; None: do not compare.
    compare: str | None = "all"
    note: str = ""
    ours: bool = False
    #: The reference for agreement checks when ours cannot run (an independent recipe).
    fallback_reference: bool = False
    gpu: bool = False
    #: Skipped under --quick (it would take most of the time budget).
    slow: bool = False
    times: list[float] = field(default_factory=list)
    agreement: str = ""


@dataclass
class Work:
    """A case's tools and the size of its numbers, for the agreement tolerance."""

    tools: list[Tool]
    #: sum(|w|) * max|x|: the scale of the accuracy contract (docs/contract.md).
    scale: float


def _scale(data: np.ndarray, kernel: np.ndarray) -> float:
    return float(np.abs(kernel).sum() * np.nanmax(np.abs(data)))


@dataclass
class Case:
    id: str
    title: str
    build: Callable[[], Work]
    #: Half-width of the footprint: "interior" comparisons drop this many edge cells.
    reach: int = 0


def _version(module_name: str) -> str:
    from importlib import metadata

    dist = {
        "xrspatial": "xarray-spatial",
        "cv2": "opencv-python-headless",
        "dask_image": "dask-image",
        "xarray_focal": "xarray-focal",
    }.get(module_name, module_name)
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        # A checkout on PYTHONPATH (not pip-installed) still knows its version.
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return "?"
        return str(getattr(module, "__version__", "?"))


def _missing(name: str, module_name: str, exc: BaseException) -> Tool:
    status = f"not installed ({type(exc).__name__}: {exc})"
    if module_name == "xrspatial" and sys.version_info < (3, 12):
        status = "not installed: xarray-spatial >= 0.6 needs Python >= 3.12 (see --help)"
    return Tool(name, run=None, status=status, compare=None)


def peer(name: str, module_name: str, make: Callable[[Any], Callable[[], Any]], **kw) -> Tool:
    """A peer's tool, or a row saying it is missing. ``make(module)`` returns the call."""
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or a broken install raising something else
        print(f"note: {name} is missing: {exc}", file=sys.stderr)
        return _missing(name, module_name, exc)
    top = module_name.split(".")[0]
    return Tool(name, version=_version(top), run=make(module), **kw)


def _gpu_ready() -> str | None:
    """None when cupy and a CUDA device are usable, else the reason."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device"
    except Exception as exc:
        return f"no GPU ({type(exc).__name__})"
    return None


def _sync(result):
    import cupy

    cupy.cuda.get_current_stream().synchronize()
    return result


def ours(name: str, call: Callable[[], Any], probe: Callable[[], Any], **kw) -> Tool:
    """Our tool; ``probe`` runs the same call on a tiny input to see if the feature exists.

    A ``TypeError`` naming an unknown keyword or an ``AttributeError`` for a missing
    accessor method means the feature has not been built yet: the row says
    "not implemented" rather than failing the report.
    """
    import xarray_focal as xf

    try:
        probe()
    except (TypeError, AttributeError, NotImplementedError, ImportError, xf.FocalTypeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Tool(name, version=_version("xarray_focal"), run=None, ours=True,
                    status=f"not implemented ({msg})", compare=None, **kw)
    return Tool(name, version=_version("xarray_focal"), run=call, ours=True, **kw)


def _raster(n: int, *, nan_fraction: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n, n))
    if nan_fraction:
        data[rng.random((n, n)) < nan_fraction] = np.nan
    return data


def _dataarray(data):
    import xarray as xr

    return xr.DataArray(data, dims=("y", "x"), name="z")


def _has_keyword(func, name: str) -> bool:
    return name in inspect.signature(func).parameters


# --- P cases: plain correlation, NaN-free data, boundary "reflect" everywhere ----------
# reflect is the one edge rule every CPU peer spells: scipy/dask-image "reflect",
# xarray-spatial "reflect", OpenCV BORDER_REFLECT (fedcba|abcdef). fftconvolve only pads
# with zeros, so it is compared on the interior.


def correlate_tools(n: int, radius: int, *, quick: bool, slow_peers: bool) -> Work:
    import xarray_focal as xf

    data = _raster(n)
    kernel = xf.circle_kernel(1, 1, radius)
    arr = _dataarray(data)
    tiny = _dataarray(_raster(8 * radius + 8))
    tools = [
        ours("xarray_focal", lambda: arr.focal.correlate(kernel, boundary="reflect"),
             lambda: tiny.focal.correlate(kernel, boundary="reflect"),
             note="`DataArray.focal.correlate`"),
    ]
    if _has_keyword(xf.correlate, "method"):
        # The planner's forced-direct path, to show what the planner buys.
        tools.append(ours("xarray_focal method='direct'",
                          lambda: xf.correlate(data, kernel, boundary="reflect", method="direct"),
                          lambda: xf.correlate(tiny.values, kernel, method="direct"),
                          note="array API"))
    slow = slow_peers and quick
    tools += [
        peer("xarray-spatial convolution_2d", "xrspatial.convolution",
             lambda m: lambda: m.convolution_2d(arr, kernel, boundary="reflect")),
        peer("scipy.ndimage.correlate", "scipy.ndimage",
             lambda m: lambda: m.correlate(data, kernel, mode="reflect"), slow=slow),
        peer("cv2.filter2D", "cv2",
             lambda m: lambda: m.filter2D(data, -1, kernel, borderType=m.BORDER_REFLECT),
             note="correlates; DFT for kernels >= 11x11"),
        peer("dask-image ndfilters.correlate", "dask_image.ndfilters",
             lambda m: _dask_image_call(m, data, kernel, chunks=n // 2),
             note="4 chunks, dask threads", slow=slow),
        peer("scipy.signal.fftconvolve", "scipy.signal",
             lambda m: lambda: m.fftconvolve(data, kernel, mode="same"),
             compare="interior", note="zero padding: interior compared"),
    ]
    gpu_problem = _gpu_ready()
    if gpu_problem is None:
        tools += _gpu_correlate_tools(data, kernel)
    else:
        tools.append(Tool("cupyx.scipy.ndimage.correlate", run=None, status=gpu_problem,
                          compare=None, gpu=True))
    return Work(tools, _scale(data, kernel))


def _dask_image_call(module, data, kernel, *, chunks):
    import dask.array as da

    darr = da.from_array(data, chunks=chunks)
    return lambda: module.correlate(darr, kernel, mode="reflect").compute()


def _gpu_correlate_tools(data, kernel) -> list[Tool]:
    import cupy
    import xarray_focal as xf

    gdata, gkernel = cupy.asarray(data), cupy.asarray(kernel)
    tiny = cupy.asarray(_raster(32))
    return [
        ours("xarray_focal (cupy)",
             lambda: _sync(xf.correlate(gdata, kernel, boundary="reflect")),
             lambda: xf.correlate(tiny, kernel, boundary="reflect"),
             gpu=True, note="data already on the GPU"),
        peer("cupyx.scipy.ndimage.correlate", "cupyx.scipy.ndimage",
             lambda m: lambda: _sync(m.correlate(gdata, gkernel, mode="reflect")),
             gpu=True, note="data already on the GPU"),
    ]


def dask_tools(n: int, radius: int, *, quick: bool) -> Work:
    import xarray_focal as xf

    da = importlib.import_module("dask.array")
    data = _raster(n)
    kernel = xf.circle_kernel(1, 1, radius)
    darr = da.from_array(data, chunks=n // 2)
    arr = _dataarray(darr)
    tiny = _dataarray(da.from_array(_raster(64), chunks=32))
    return Work([
        ours("xarray_focal (dask)",
             lambda: arr.focal.correlate(kernel, boundary="reflect").compute(),
             lambda: tiny.focal.correlate(kernel, boundary="reflect").compute(),
             note="dask threads"),
        peer("xarray-spatial convolution_2d (dask)", "xrspatial.convolution",
             lambda m: lambda: m.convolution_2d(arr, kernel, boundary="reflect").compute()),
        peer("dask-image ndfilters.correlate", "dask_image.ndfilters",
             lambda m: _dask_image_call(m, data, kernel, chunks=n // 2)),
    ], _scale(data, kernel))


# --- NaN-aware cases: 5% NaN, boundary "nan" (outside cells count as missing) ---------


def _masked_sums(ndi, data, weights):
    """(sum of w*x over valid taps, sum of w over valid taps), outside = missing."""
    valid = ~np.isnan(data)
    num = ndi.correlate(np.where(valid, data, 0.0), weights, mode="constant", cval=0.0)
    den = ndi.correlate(valid.astype(np.float64), weights, mode="constant", cval=0.0)
    return num, den


def _renormalized_by_hand(ndi, data, weights):
    num, den = _masked_sums(ndi, data, weights)
    # Integer-valued counts for 0/1 footprints; tiny den from rounding means "no valid tap".
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den * weights.sum()
    out[np.abs(den) < 1e-9] = np.nan
    return out


def _max_by_hand(ndi, data, footprint):
    filled = np.where(np.isnan(data), -np.inf, data)
    out = ndi.maximum_filter(filled, footprint=footprint != 0, mode="constant", cval=-np.inf)
    out[np.isneginf(out)] = np.nan
    return out


def renormalize_tools(n: int, radius: int, *, quick: bool) -> Work:
    import xarray_focal as xf

    data = _raster(n, nan_fraction=0.05)
    kernel = xf.circle_kernel(1, 1, radius)
    weights = kernel / kernel.sum()
    arr = _dataarray(data)
    tiny = _dataarray(_raster(32, nan_fraction=0.05))
    astropy_kw = dict(boundary="fill", fill_value=np.nan, nan_treatment="interpolate")
    return Work([
        ours("xarray_focal",
             lambda: arr.focal.correlate(weights, boundary="nan", nan_policy="renormalize"),
             lambda: tiny.focal.correlate(weights, boundary="nan", nan_policy="renormalize"),
             note='`correlate(k / k.sum(), nan_policy="renormalize")`'),
        peer("astropy convolve_fft", "astropy.convolution",
             lambda m: lambda: m.convolve_fft(data, weights, **astropy_kw),
             note='nan_treatment="interpolate", fill NaN'),
        peer("astropy convolve", "astropy.convolution",
             lambda m: lambda: m.convolve(data, weights, **astropy_kw),
             note='nan_treatment="interpolate", fill NaN', slow=quick),
        peer("scipy.ndimage.correlate x2 (by hand)", "scipy.ndimage",
             lambda m: lambda: _renormalized_by_hand(m, data, weights),
             fallback_reference=True, note="sum(w·x valid) / sum(w valid)"),
    ], _scale(data, weights))


def focal_mean_tools(n: int, radius: int, *, quick: bool) -> Work:
    import xarray_focal as xf

    data = _raster(n, nan_fraction=0.05)
    kernel = xf.circle_kernel(1, 1, radius)
    arr = _dataarray(data)
    tiny = _dataarray(_raster(32, nan_fraction=0.05))
    return Work([
        ours("xarray_focal", lambda: arr.focal.mean(kernel), lambda: tiny.focal.mean(kernel),
             note='`focal.mean` (nan_policy="omit")'),
        peer("xarray-spatial focal.apply", "xrspatial.focal",
             lambda m: lambda: m.apply(arr, kernel), note="mean of non-NaN cells"),
        peer("scipy.ndimage.correlate x2 (by hand)", "scipy.ndimage",
             lambda m: lambda: _renormalized_by_hand(m, data, kernel / kernel.sum()),
             fallback_reference=True, note="sum(x valid) / count(valid)"),
    ], _scale(data, kernel))


def focal_stats_tools(n: int, radius: int, *, quick: bool) -> Work:
    import xarray_focal as xf

    data = _raster(n, nan_fraction=0.05)
    kernel = xf.circle_kernel(1, 1, radius)
    arr = _dataarray(data)
    tiny = _dataarray(_raster(32, nan_fraction=0.05))
    stats = ("mean", "max")
    return Work([
        ours("xarray_focal", lambda: arr.focal.stats(kernel, stats),
             lambda: tiny.focal.stats(kernel, stats), note='`focal.stats(k, ("mean", "max"))`'),
        peer("xarray-spatial focal_stats", "xrspatial.focal",
             lambda m: lambda: m.focal_stats(arr, kernel, stats_funcs=list(stats))),
        peer("scipy.ndimage x3 (by hand)", "scipy.ndimage",
             lambda m: lambda: np.stack([_renormalized_by_hand(m, data, kernel / kernel.sum()),
                                         _max_by_hand(m, data, kernel)]),
             fallback_reference=True, note="correlate x2 + maximum_filter"),
    ], _scale(data, kernel))


def geodesic_mean_tools(step: float, radius_m: float, *, quick: bool) -> Work:
    """A geodesic disc on a global lat/lon grid against a planar disc of the same equatorial
    reach in cells: the cost of a footprint per row (it widens towards the poles)."""
    import xarray as xr
    import xarray_focal as xf

    def grid(step):
        lat = np.arange(-90 + step / 2, 90, step)
        lon = np.arange(-180 + step / 2, 180, step)
        rng = np.random.default_rng(0)
        data = rng.standard_normal((lat.size, lon.size))
        data[rng.random(data.shape) < 0.05] = np.nan
        return xr.DataArray(data, dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, name="z")

    arr, tiny = grid(step), grid(30.0)
    planar_arr = arr.rename(lat="y", lon="x").drop_vars(["y", "x"])

    def geodesic_kernel(da):
        try:
            return da.focal.circle_kernel(f"{radius_m} m")
        except xf.FocalValueError as exc:  # a version without geodesic footprints
            raise NotImplementedError(str(exc)) from exc

    cells = radius_m / (np.radians(step) * 6_371_008.8)
    disc = xf.circle_kernel(1, 1, cells)
    kernel = geodesic_kernel(arr) if _supports_geodesic(tiny) else None
    if kernel is not None:
        kernel.row_runs  # noqa: B018  (built once, like the planar kernel above)
    return Work([
        ours("xarray_focal geodesic", lambda: arr.focal.mean(kernel),
             lambda: tiny.focal.mean(geodesic_kernel(tiny)),
             note=f'`focal.mean(da.focal.circle_kernel("{radius_m / 1000:g} km"))`, footprints '
                  "of every width up to whole rows at the poles"),
        Tool("xarray_focal planar disc", version=_version("xarray_focal"),
             run=lambda: planar_arr.focal.mean(disc, boundary={"y": "nearest", "x": "wrap"}),
             compare=None,
             note=f"the same equatorial reach in cells ({disc.shape[0]}×{disc.shape[1]} disc, "
                  "r = {cells:.2f}) everywhere: the goal is geodesic ≤ 2× this".replace("{cells:.2f}", f"{cells:.2f}")),
    ], 1.0)


def _supports_geodesic(tiny) -> bool:
    try:
        tiny.focal.circle_kernel("1000 km")
    except Exception:
        return False
    return True


# --- R cases: rank, class and custom statistics; hotspots ------------------------------
# Median filters compare exactly (order statistics of NaN-free data). cv2.medianBlur
# always repeats the edge (BORDER_REPLICATE): boundary "nearest". xarray-spatial's variety
# and hotspots use boundary "nan" by default, as we do.


def median_tools(n: int, size: int, dtype, boundary: str, *, quick: bool) -> Work:
    import xarray_focal as xf

    data = _raster(n).astype(dtype)
    footprint = np.ones((size, size))
    tiny = _raster(32).astype(dtype)
    mode = {"nearest": "nearest", "reflect": "reflect"}[boundary]
    tools = [
        ours("xarray_focal", lambda: xf.focal_median(data, footprint, boundary=boundary),
             lambda: xf.focal_median(tiny, footprint, boundary=boundary),
             note=f"`focal_median`, boundary {boundary}"),
        peer("scipy.ndimage.median_filter", "scipy.ndimage",
             lambda m: lambda: m.median_filter(data, size=size, mode=mode), slow=quick),
    ]
    if size <= 5 or dtype == np.uint8:
        # cv2.medianBlur takes float32 only up to ksize 5.
        tools.append(peer("cv2.medianBlur", "cv2",
                          lambda m: lambda: m.medianBlur(data, size),
                          note="BORDER_REPLICATE; float32 only up to 5×5"))
    return Work(tools, 1.0)


def variety_tools(n: int, size: int, *, quick: bool) -> Work:
    import xarray_focal as xf

    classes = np.random.default_rng(0).integers(0, 12, (n, n))
    footprint = np.ones((size, size))
    arr = _dataarray(classes)
    tiny = _dataarray(classes[:32, :32])
    return Work([
        ours("xarray_focal", lambda: arr.focal.variety(footprint),
             lambda: tiny.focal.variety(footprint), note="`focal.variety`, 12 integer classes"),
        peer("xarray-spatial focal_stats variety", "xrspatial.focal",
             lambda m: lambda: m.focal_stats(arr, footprint, stats_funcs=["variety"])[0]),
    ], 1.0)


def hotspots_tools(n: int, radius: int, *, quick: bool) -> Work:
    import xarray_focal as xf

    data = np.cumsum(_raster(n), axis=1)  # clustered values: all seven classes occur
    kernel = xf.circle_kernel(1, 1, radius)
    arr = _dataarray(data)
    tiny = _dataarray(data[:32, :32])
    return Work([
        ours("xarray_focal", lambda: arr.focal.hotspots(kernel),
             lambda: tiny.focal.hotspots(kernel), note="`focal.hotspots`, float64"),
        peer("xarray-spatial focal.hotspots", "xrspatial.focal",
             lambda m: lambda: m.hotspots(arr, kernel), compare="classes",
             note="computes in float32: a cell whose z is within float32 rounding of "
                  "a threshold may fall in the next class"),
    ], 1.0)


def apply_tools(n: int, radius: int, *, quick: bool) -> Work:
    import numba
    import xarray_focal as xf

    data = _raster(n, nan_fraction=0.05)
    kernel = xf.circle_kernel(1, 1, radius)
    arr = _dataarray(data)
    tiny = _dataarray(_raster(32, nan_fraction=0.05))

    @numba.njit
    def spread(v):  # ours: the valid values, a 1-D array (the same loop as the peer's)
        lo, hi = np.inf, -np.inf
        for x in v:
            lo, hi = min(lo, x), max(hi, x)
        return hi - lo

    @numba.njit
    def spread_window(w):  # xarray-spatial: the window, NaN outside the footprint
        lo, hi, seen = np.inf, -np.inf, False
        for v in w.flat:
            if not np.isnan(v):
                lo, hi, seen = min(lo, v), max(hi, v), True
        return hi - lo if seen else np.nan

    return Work([
        ours("xarray_focal", lambda: arr.focal.apply(kernel, spread),
             lambda: tiny.focal.apply(kernel, spread), note="`focal.apply(k, spread)`"),
        peer("xarray-spatial focal.apply", "xrspatial.focal",
             lambda m: lambda: m.apply(arr, kernel, spread_window)),
    ], 1.0)


# --- W cases: large windows, 2000², NaN-free float64, boundary "nearest" ---------------
# Box filters that cost O(1) per cell (OpenCV, scipy's uniform_filter, van Herk maxima) are
# the peers here; OpenCV runs with its default threads (both cores here), as ours does.
# Rows "xarray_focal box 15" and "disc r=7" show how the time grows with the window: their
# ratio is small-window time / large-window time.


def window_tools(n: int, what: str, *, quick: bool) -> Work:
    import xarray_focal as xf

    data = _raster(n)
    arr = _dataarray(data)
    tiny = _dataarray(_raster(16))
    box = np.ones((101, 101))
    if what == "mean":
        tools = [
            ours("xarray_focal", lambda: arr.focal.mean(size=101, boundary="nearest"),
                 lambda: tiny.focal.mean(size=3, boundary="nearest"),
                 note='`focal.mean(size=101)` (NaN-aware, nan_policy="omit")'),
            ours("xarray_focal box 15", lambda: arr.focal.mean(size=15, boundary="nearest"),
                 lambda: tiny.focal.mean(size=3, boundary="nearest"), compare=None,
                 note="15×15: ratio = box 15 / box 101"),
            peer("cv2.blur", "cv2", lambda m: lambda: m.blur(data, (101, 101),
                                                              borderType=m.BORDER_REPLICATE),
                 note="running sums, no NaN handling"),
            peer("scipy.ndimage.uniform_filter", "scipy.ndimage",
                 lambda m: lambda: m.uniform_filter(data, 101, mode="nearest"),
                 note="running sums, no NaN handling"),
        ]
        return Work(tools, _scale(data, box / box.size))
    if what == "max":
        tools = [
            ours("xarray_focal", lambda: arr.focal.max(size=101, boundary="nearest"),
                 lambda: tiny.focal.max(size=3, boundary="nearest"), note="`focal.max(size=101)`"),
            peer("cv2.dilate", "cv2", lambda m: lambda: m.dilate(
                data, np.ones((101, 101), np.uint8), borderType=m.BORDER_REPLICATE)),
            peer("scipy.ndimage.maximum_filter", "scipy.ndimage",
                 lambda m: lambda: m.maximum_filter(data, 101, mode="nearest")),
        ]
        return Work(tools, float(np.abs(data).max()))
    if what == "std":
        tools = [
            ours("xarray_focal", lambda: arr.focal.std(size=101, boundary="nearest"),
                 lambda: tiny.focal.std(size=3, boundary="nearest"),
                 note="`focal.std(size=101)`, shift local to each window"),
            ours("xarray_focal mean", lambda: arr.focal.mean(size=101, boundary="nearest"),
                 lambda: tiny.focal.mean(size=3, boundary="nearest"), compare=None,
                 note="ratio = mean / std"),
            peer("scipy uniform_filter x2 (by hand)", "scipy.ndimage",
                 lambda m: lambda: np.sqrt(np.maximum(
                     m.uniform_filter(data * data, 101, mode="nearest")
                     - m.uniform_filter(data, 101, mode="nearest") ** 2, 0.0)),
                 note="E[x²] - E[x]²: cancels at large offsets"),
        ]
        return Work(tools, float(np.abs(data).max()) ** 2)
    disc = xf.circle_kernel(1, 1, 50)
    tools = [
        ours("xarray_focal", lambda: arr.focal.mean(disc, boundary="nearest"),
             lambda: tiny.focal.mean(disc, boundary="nearest"),
             note="`focal.mean(circle r=50)` (101 rows, 7845 cells)"),
        ours("xarray_focal disc r=7", lambda: arr.focal.mean(xf.circle_kernel(1, 1, 7),
                                                              boundary="nearest"),
             lambda: tiny.focal.mean(xf.circle_kernel(1, 1, 7), boundary="nearest"),
             compare=None, note="ratio = r=7 / r=50"),
        peer("cv2.filter2D", "cv2", lambda m: lambda: m.filter2D(
            data, -1, disc / disc.sum(), borderType=m.BORDER_REPLICATE),
            note="DFT for large kernels, no NaN handling"),
    ]
    return Work(tools, _scale(data, disc / disc.sum()))


def cases(quick: bool) -> list[Case]:
    return [
        Case("P1", "2000², circle r=7 (15×15, 149 taps), float64, boundary reflect",
             lambda: correlate_tools(2000, 7, quick=quick, slow_peers=False), reach=7),
        Case("P2", "4000², circle r=16 (33×33, 797 taps), float64, boundary reflect",
             lambda: correlate_tools(4000, 16, quick=quick, slow_peers=True), reach=16),
        Case("P3", "2000², 3×3 cross (r=1), float64, boundary reflect",
             lambda: correlate_tools(2000, 1, quick=quick, slow_peers=False), reach=1),
        Case("P5", "dask 2000² in 4 chunks (1000²), circle r=7, float64, boundary reflect",
             lambda: dask_tools(2000, 7, quick=quick), reach=7),
        Case("N1", "NaN-aware renormalized mean, 2000², circle r=7, 5% NaN, boundary nan",
             lambda: renormalize_tools(2000, 7, quick=quick), reach=7),
        Case("S1", "focal mean ignoring NaN, 2000², circle r=7, 5% NaN, boundary nan",
             lambda: focal_mean_tools(2000, 7, quick=quick), reach=7),
        Case("S2", 'focal stats ("mean", "max") ignoring NaN, 2000², circle r=7, 5% NaN',
             lambda: focal_stats_tools(2000, 7, quick=quick), reach=7),
        Case("G1", "geodesic 100 km focal mean on a global 0.25° grid (720×1440), 5% NaN",
             lambda: geodesic_mean_tools(0.25, 100e3, quick=quick), reach=0),
        Case("R1", "median 15×15, 2000², float64, NaN-free, boundary reflect",
             lambda: median_tools(2000, 15, np.float64, "reflect", quick=quick), reach=7),
        Case("R2", "median 5×5, 2000², float32, NaN-free, boundary nearest",
             lambda: median_tools(2000, 5, np.float32, "nearest", quick=quick), reach=2),
        Case("R3", "variety 5×5, 2000², integer classes, boundary nan",
             lambda: variety_tools(2000, 5, quick=quick), reach=2),
        Case("R4", "Getis-Ord Gi* hotspots, 2000², circle r=7, boundary nan",
             lambda: hotspots_tools(2000, 7, quick=quick), reach=7),
        Case("R5", "custom window function (max - min), 2000², circle r=3, 5% NaN",
             lambda: apply_tools(2000, 3, quick=quick), reach=3),
        Case("W1", "large window: focal mean, 2000², box 101×101, float64, boundary nearest",
             lambda: window_tools(2000, "mean", quick=quick), reach=50),
        Case("W2", "large window: focal max, 2000², box 101×101, float64, boundary nearest",
             lambda: window_tools(2000, "max", quick=quick), reach=50),
        Case("W3", "large window: focal std, 2000², box 101×101, float64, boundary nearest",
             lambda: window_tools(2000, "std", quick=quick), reach=50),
        Case("W4", "large window: focal mean, 2000², circle r=50, float64, boundary nearest",
             lambda: window_tools(2000, "disc", quick=quick), reach=50),
    ]


# --------------------------------------------------------------------------------------
# Checking and timing
# --------------------------------------------------------------------------------------


def to_numpy(result) -> np.ndarray:
    """A tool's result as a float64 numpy array (Datasets stacked by variable)."""
    import xarray as xr

    if isinstance(result, xr.Dataset):
        return np.stack([to_numpy(result[v]) for v in result.data_vars])
    data = getattr(result, "data", result)
    if type(data).__module__.split(".")[0] == "cupy":
        data = data.get()
    return np.asarray(data, dtype=np.float64)


def agreement(result: np.ndarray, reference: np.ndarray, mode: str, reach: int,
              scale: float) -> str:
    """'agree (max |Δ| ...)' or 'DISAGREE: ...' for one tool against the reference."""
    if result.shape != reference.shape:
        return f"DISAGREE: shape {result.shape} vs {reference.shape}"
    if mode == "classes":  # class labels: how many cells differ, not by how much
        differ = int(np.sum(result != reference))
        return ("identical" if differ == 0 else
                f"same class in all but {differ} of {result.size} cells")
    if mode == "interior" and reach:
        result = result[..., reach:-reach, reach:-reach]
        reference = reference[..., reach:-reach, reach:-reach]
    nan_r, nan_ref = np.isnan(result), np.isnan(reference)
    if not np.array_equal(nan_r, nan_ref):
        return f"DISAGREE: NaN at {int(np.sum(nan_r != nan_ref))} cells that differ"
    both = ~nan_r
    diff = float(np.max(np.abs(result[both] - reference[both]), initial=0.0))
    verdict = "agree" if diff <= AGREE_RTOL * scale else "DISAGREE"
    where = " (interior)" if mode == "interior" else ""
    return f"{verdict}{where}, max abs diff {diff:.1e}"


def check(tools: list[Tool], reach: int, scale: float) -> None:
    """Run every tool once (JIT warm-up included) and compare it with the reference."""
    results: dict[int, np.ndarray] = {}
    for i, tool in enumerate(tools):
        if tool.run is None:
            continue
        try:
            results[i] = to_numpy(tool.run())
        except Exception as exc:
            tool.run, tool.compare = None, None
            tool.status = f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            print(f"  {tool.name}: {tool.status}", file=sys.stderr)
    ref_i = next((i for i, t in enumerate(tools) if t.ours and not t.gpu and i in results), None)
    if ref_i is None:
        ref_i = next((i for i, t in enumerate(tools) if t.fallback_reference and i in results),
                     None)
    if ref_i is None:
        return
    tools[ref_i].agreement = "reference"
    for i, res in results.items():
        if i != ref_i:
            mode = tools[i].compare
            tools[i].agreement = agreement(res, results[ref_i], mode, reach, scale) if mode else "–"
    results.clear()
    gc.collect()


def time_rounds(tools: list[Tool], rounds: int) -> None:
    """``rounds`` interleaved rounds; round ``r`` starts at a different tool."""
    runnable = [t for t in tools if t.run is not None]
    for r in range(rounds):
        k = r % max(1, len(runnable))
        for tool in runnable[k:] + runnable[:k]:
            gc.collect()
            t0 = time.perf_counter()
            tool.run()
            tool.times.append(time.perf_counter() - t0)


# --------------------------------------------------------------------------------------
# Fresh-process latency: what a user waits for in a new session
# --------------------------------------------------------------------------------------

def _load_cold_start():
    """benchmarks/cold_start.py as a module: it runs the fresh-process children."""
    name = "xarray_focal_cold_start_report"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent /
                                                  "cold_start.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def latency_table(rounds: int) -> str:
    """Import and first call of ``correlate`` in fresh interpreters, cold and warm cache.

    Each sample is a new interpreter with a new, empty ``NUMBA_CACHE_DIR`` (what the first
    session in a new environment pays), then a second one with the cache the first filled
    (every later session). xarray-spatial does not cache its JIT: both its columns compile.
    ``benchmarks/cold_start.py`` measures more calls this way and breaks the compile down.
    """
    import xarray_focal

    cold_start = _load_cold_start()
    tree = cold_start.Tree(cold_start.OURS, Path(xarray_focal.__file__).resolve().parents[1])
    case = "correlate-f64"
    results = cold_start.collect([case], [tree], rounds)
    ours_s, peer_s = results.get((tree.label, case)), results.get((cold_start.PEER, case))
    lines = [
        f"### L1: fresh process: import, then the first call ({cold_start.N}², circle "
        f"r={cold_start.RADIUS}, float64, boundary reflect)",
        "",
        "| tool | import s | first call, empty numba cache s | first call, warm cache s "
        "| peer / ours, cold | peer / ours, warm |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, series in (("**xarray_focal** `correlate`", ours_s),
                          ("xarray-spatial `convolution_2d`", peer_s)):
        samples = series.cold + series.warm
        imp = (f"{statistics.median(s.import_s for s in samples):.2f}" if samples
               else f"not available ({series.error})")
        ratios = ["1.00", "1.00"] if series is ours_s else [
            cold_start._ratio(peer_s, ours_s, b) for b in ("cold", "warm")]
        if not samples:
            ratios = ["", ""]
        lines.append(f"| {label} | {imp} | {cold_start._cell(series, 'cold')} | "
                     f"{cold_start._cell(series, 'warm')} | {ratios[0]} | {ratios[1]} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def case_table(case: Case, tools: list[Tool]) -> str:
    """One markdown table: tool, version, median ms, ratio peer/ours, agreement, note."""
    def median(t: Tool) -> float | None:
        return statistics.median(t.times) if t.times else None

    base_cpu = next((median(t) for t in tools if t.ours and not t.gpu and t.times), None)
    base_gpu = next((median(t) for t in tools if t.ours and t.gpu and t.times), None)
    lines = [
        f"### {case.id}: {case.title}",
        "",
        "| tool | version | median ms | peer / ours | output check | note |",
        "|---|---|---:|---:|---|---|",
    ]
    for t in tools:
        m = median(t)
        if m is None:
            time_s, ratio = t.status, ""
        else:
            time_s = _fmt_ms(m)
            base = base_gpu if t.gpu and base_gpu is not None else base_cpu
            ratio = "" if base is None else f"{m / base:.2f}"
            if t.ours and not t.gpu and m == base:
                ratio = "1.00"
        name = f"**{t.name}**" if t.ours else t.name
        lines.append(f"| {name} | {t.version} | {time_s} | {ratio} | {t.agreement} | {t.note} |")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_lines(load: str | None = None) -> list[str]:
    """Markdown bullets for the date, machine, load and library versions of a report.

    ``load`` is the load average to print (default: now). ``benchmarks/cold_start.py``
    uses these lines too.
    """
    import numba

    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    if load is None:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    versions = ", ".join(f"{m} {_version(m)}" for m in ("numpy", "numba", "xarray", "dask", "scipy"))
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"- **date:** {now}",
        f"- **machine:** {_cpu_model()}, {cores} cores ({usable} usable){mem}; "
        f"load average at start {load}",
        f"- **python:** {platform.python_version()} ({platform.python_implementation()}); "
        f"{versions}; numba threads {numba.get_num_threads()}",
    ]


def machine_header(argv: list[str], rounds: int) -> str:
    return "\n".join(machine_lines() + [
        f"- **xarray-focal:** {_version('xarray_focal')} at `{_git_commit()}`",
        f"- **command:** `python benchmarks/peers.py {' '.join(argv)}`".rstrip() +
        f" — median of {rounds} interleaved round(s) after one untimed check run",
    ])


def update_doc(path: Path, report: str, *, start: str = DOC_START, end: str = DOC_END) -> None:
    """Replace the text between the ``start`` and ``end`` marker lines in ``path``.

    The markers (and the report) are appended when absent.
    """
    text = path.read_text() if path.exists() else ""
    block = f"{start}\n{report}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--quick", action="store_true",
                        help=f"{ROUNDS_QUICK} timed round(s), slowest peers skipped")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"timed rounds per case (default {ROUNDS_FULL}, {ROUNDS_QUICK} with --quick)")
    parser.add_argument("--cases", default="", help="comma-separated case ids (default: all)")
    parser.add_argument("--update-doc", type=Path, default=None,
                        help="write the report into this markdown file between its markers")
    parser.add_argument("--markers", default="peers-report",
                        help="name of the marker pair --update-doc writes between "
                             "(default peers-report; the R cases: peers-report-rank)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (ROUNDS_QUICK if args.quick else ROUNDS_FULL)

    try:
        import dask

        # One scheduler for every dask-based tool, whatever the environment configured.
        dask.config.set(scheduler="threads")
    except ImportError:
        print("note: dask is missing: the dask cases are reported as such", file=sys.stderr)
    selected = [c for c in cases(args.quick)
                if not args.cases or c.id in args.cases.upper().split(",")]
    header = machine_header(argv, rounds)
    print(header + "\n", flush=True)
    sections = [header, ""]
    started = time.perf_counter()
    for case in selected:
        print(f"{case.id}: {case.title}", file=sys.stderr, flush=True)
        try:
            work = case.build()
        except ImportError as exc:  # the case itself needs a library (dask for P5)
            sections += [f"### {case.id}: {case.title}\n\nnot run: {exc}", ""]
            print(sections[-2] + "\n", flush=True)
            continue
        tools = work.tools
        for t in tools:
            if t.slow and t.run is not None:
                t.run, t.status, t.compare = None, "skipped (--quick)", None
        check(tools, case.reach, work.scale)
        time_rounds(tools, rounds)
        table = case_table(case, tools)
        print(table + "\n", flush=True)
        sections += [table, ""]
        del tools, work
        gc.collect()
    if not args.cases or "L1" in args.cases.upper().split(","):
        print("L1: fresh-process latency", file=sys.stderr, flush=True)
        table = latency_table(max(1, min(rounds, 3)))
        print(table + "\n", flush=True)
        sections += [table, ""]
    elapsed = time.perf_counter() - started
    sections.append(f"_Total wall time {elapsed:.0f} s. peer / ours > 1: xarray-focal is "
                    "faster; GPU rows are relative to xarray-focal on cupy when it runs._")
    report = "\n".join(sections)
    print(sections[-1])
    if args.update_doc:
        update_doc(args.update_doc, report, start=DOC_START.replace("peers-report", args.markers),
                   end=DOC_END.replace("peers-report", args.markers))
        print(f"wrote {args.update_doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
