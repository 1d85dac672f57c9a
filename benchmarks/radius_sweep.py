#!/usr/bin/env python
"""Time against kernel radius: xarray-focal and its CPU peers on one raster, one process.

For each radius, a circle kernel (``circle_kernel(1, 1, r)``, side ``2r + 1``) is applied
to the same float64 standard-normal raster with the reflect boundary by every tool:

- ``xarray_focal`` -- ``xarray_focal.correlate(data, k, boundary="reflect")`` (``method="auto"``);
- ``xarray_focal direct`` -- the same with ``method="direct"`` (one multiply-add per tap);
- ``scipy.ndimage.correlate`` -- ``mode="reflect"``;
- ``cv2.filter2D`` -- ``borderType=cv2.BORDER_REFLECT`` (it switches to a DFT for
  kernels of 11 x 11 and more);
- ``xarray-spatial convolution_2d`` -- ``boundary="reflect"`` (needs Python >= 3.12).

Each tool runs once untimed per radius (compiling JITs) and its output is checked against
``scipy.ndimage.correlate``; then the tools are timed in interleaved rounds, round ``i``
starting with a different tool, so background load hits them alike. The median is kept.
A tool whose untimed call takes longer than ``--max-seconds`` is not timed at that radius
nor at any larger one (the file says so). A tool that is not importable is left out.

The result is a CSV file: ``#`` lines of metadata (date, machine, versions, command), then
one row per (radius, tool). The docs draw ``docs/performance-plot.md`` from it.

``--box-sizes 3,15,51,101`` sweeps box sizes instead (time against window size for large
windows): the focal mean of a ``size x size`` box (``focal_mean(size=...)``, NaN-aware,
boundary nearest) against ``cv2.blur`` and ``scipy.ndimage.uniform_filter`` (running sums,
no NaN handling), checked against ``uniform_filter``; rows then carry the box side in
``radius`` (and the same columns otherwise).

Usage (from the repository root; xarray-spatial needs Python >= 3.12)::

    PYTHONPATH=$PWD /tmp/peers312/bin/python benchmarks/radius_sweep.py
    PYTHONPATH=$PWD python benchmarks/radius_sweep.py --radii 1,7 --rounds 2 --out /tmp/s.csv
    PYTHONPATH=$PWD python benchmarks/radius_sweep.py --box-sizes 3,15,51,101,201 --out /tmp/b.csv
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import gc
import importlib
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

# The machine and commit description is the peers report's, so both files say the same.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import _cpu_model, _git_commit  # noqa: E402

RADII = (1, 2, 3, 5, 7, 10, 13, 16)
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "_static" / "radius_sweep.csv"
#: Outputs agree when every difference is within this fraction of sum(|w|) * max|x|.
AGREE_RTOL = 1e-9

TOOLS = (
    "xarray_focal",
    "xarray_focal direct",
    "scipy.ndimage.correlate",
    "cv2.filter2D",
    "xarray-spatial convolution_2d",
)
FIELDS = ("radius", "kernel", "taps", "tool", "version", "median_s", "min_s", "rounds",
          "status", "auto_method")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        module = importlib.import_module(dist.replace("-", "_"))
        return str(getattr(module, "__version__", "?"))


def make_tools(data: np.ndarray, kernel: np.ndarray) -> dict[str, tuple[str, Callable[[], Any]]]:
    """name -> (version, call) for every tool importable here."""
    import xarray_focal as xf

    tools: dict[str, tuple[str, Callable[[], Any]]] = {}
    ver = _version("xarray-focal")
    tools["xarray_focal"] = (ver, lambda: xf.correlate(data, kernel, boundary="reflect"))
    tools["xarray_focal direct"] = (
        ver, lambda: xf.correlate(data, kernel, boundary="reflect", method="direct"))
    import scipy.ndimage as ndi

    tools["scipy.ndimage.correlate"] = (
        _version("scipy"), lambda: ndi.correlate(data, kernel, mode="reflect"))
    try:
        import cv2
    except ImportError:
        pass
    else:
        tools["cv2.filter2D"] = (
            cv2.__version__,
            lambda: cv2.filter2D(data, -1, kernel, borderType=cv2.BORDER_REFLECT))
    try:
        import xarray as xr
        from xrspatial.convolution import convolution_2d
    except ImportError:
        pass
    else:
        arr = xr.DataArray(data, dims=("y", "x"))
        tools["xarray-spatial convolution_2d"] = (
            _version("xarray-spatial"),
            lambda: np.asarray(convolution_2d(arr, kernel, boundary="reflect").values))
    return tools


BOX_TOOLS = ("xarray_focal focal_mean", "cv2.blur", "scipy.ndimage.uniform_filter")


def make_box_tools(data: np.ndarray, size: int) -> dict[str, tuple[str, Callable[[], Any]]]:
    """name -> (version, call) of the box-mean tools importable here (boundary nearest)."""
    import scipy.ndimage as ndi

    import xarray_focal as xf

    tools: dict[str, tuple[str, Callable[[], Any]]] = {
        "xarray_focal focal_mean": (
            _version("xarray-focal"),
            lambda: xf.focal_mean(data, size=size, boundary="nearest")),
        "scipy.ndimage.uniform_filter": (
            _version("scipy"), lambda: ndi.uniform_filter(data, size, mode="nearest")),
    }
    try:
        import cv2
    except ImportError:
        pass
    else:
        tools["cv2.blur"] = (cv2.__version__, lambda: cv2.blur(
            data, (size, size), borderType=cv2.BORDER_REPLICATE))
    return {name: tools[name] for name in BOX_TOOLS if name in tools}


def box_sweep(n: int, sizes: list[int], rounds: int, *, log=print) -> list[dict]:
    """The rows of a box-size sweep (see the module docstring); ``radius`` is the side."""
    from xarray_focal._algorithms.plan import make_plan

    data = np.random.default_rng(0).standard_normal((n, n))
    scale = float(np.abs(data).max())
    rows: list[dict] = []
    for size in sizes:
        tools = make_box_tools(data, size)
        base = {"radius": size, "kernel": f"{size}x{size}", "taps": size * size,
                "auto_method": make_plan(np.ones((size, size)), separable_ok=False).method}
        outs = {name: np.asarray(call()) for name, (_, call) in tools.items()}
        reference = outs["scipy.ndimage.uniform_filter"]
        timed: dict[str, list[float]] = {name: [] for name in tools}
        names = list(tools)
        for i in range(rounds):
            for name in names[i % len(names):] + names[:i % len(names)]:
                gc.collect()
                t0 = time.perf_counter()
                tools[name][1]()
                timed[name].append(time.perf_counter() - t0)
        for name, (version, _) in tools.items():
            err = float(np.max(np.abs(outs[name] - reference))) / scale
            rows.append({**base, "tool": name, "version": version,
                         "median_s": f"{statistics.median(timed[name]):.6g}",
                         "min_s": f"{min(timed[name]):.6g}", "rounds": rounds,
                         "status": "ok" if err <= AGREE_RTOL else f"disagrees: {err:.1e}"})
        log(f"box {size}: " + ", ".join(
            f"{row['tool']} {float(row['median_s']) * 1e3:.1f} ms"
            for row in rows if row["radius"] == size))
    return rows


def metadata(argv: list[str], n: int, rounds: int, max_seconds: float) -> dict[str, str]:
    import numba

    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    versions = ", ".join(f"{d} {_version(d)}" for d in ("numpy", "numba", "scipy"))
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{_cpu_model()}, {cores} cores ({usable} usable)",
        "load_at_start": load,
        "python": f"{platform.python_version()}; {versions}; numba threads {numba.get_num_threads()}",
        "xarray_focal": f"{_version('xarray-focal')} at {_git_commit()}",
        "data": f"float64 standard normal, {n} x {n}, seed 0; circle_kernel(1, 1, r); reflect boundary",
        "timing": f"median of {rounds} interleaved rounds after one untimed, checked call; "
                  f"a tool slower than {max_seconds:g} s per call is not timed at that radius "
                  "or larger ones",
        "command": "python benchmarks/radius_sweep.py " + " ".join(argv),
    }


def sweep(n: int, radii: list[int], rounds: int, max_seconds: float, *, log=print) -> list[dict]:
    import xarray_focal as xf
    from xarray_focal._algorithms.plan import make_plan

    data = np.random.default_rng(0).standard_normal((n, n))
    too_slow: dict[str, int] = {}  # tool -> radius at which it was dropped
    rows: list[dict] = []
    for r in radii:
        kernel = xf.circle_kernel(1, 1, r)
        base = {"radius": r, "kernel": f"{kernel.shape[0]}x{kernel.shape[1]}",
                "taps": int(np.count_nonzero(kernel)),
                "auto_method": make_plan(kernel).method}
        tools = make_tools(data, kernel)
        scale = float(np.abs(kernel).sum() * np.abs(data).max())
        timed: dict[str, list[float]] = {}
        reference = None
        for name in TOOLS:
            if name not in tools:
                continue
            version, call = tools[name]
            if name in too_slow:
                rows.append({**base, "tool": name, "version": version,
                             "status": f"skipped: over {max_seconds:g} s per call at "
                                       f"r={too_slow[name]}"})
                continue
            t0 = time.perf_counter()
            out = np.asarray(call())
            first = time.perf_counter() - t0
            if name == "scipy.ndimage.correlate":
                reference = out
            if first > max_seconds and name not in ("xarray_focal", "xarray_focal direct"):
                too_slow[name] = r
                rows.append({**base, "tool": name, "version": version,
                             "median_s": f"{first:.6g}", "min_s": f"{first:.6g}", "rounds": 1,
                             "status": f"one call only: {first:.1f} s > {max_seconds:g} s"})
                continue
            timed[name] = []
            rows.append({**base, "tool": name, "version": version, "_out": out})
        for row in rows:
            out = row.pop("_out", None)
            if out is None or row["radius"] != r:
                continue
            if reference is None:
                row["status"] = "ok (not checked: no reference)"
            else:
                err = float(np.nanmax(np.abs(out - reference))) / scale
                row["status"] = "ok" if err <= AGREE_RTOL else f"disagrees: {err:.1e}"
        names = list(timed)
        for i in range(rounds):
            order = names[i % len(names):] + names[:i % len(names)]
            for name in order:
                call = tools[name][1]
                gc.collect()
                t0 = time.perf_counter()
                call()
                timed[name].append(time.perf_counter() - t0)
        for row in rows:
            if row["radius"] == r and row["tool"] in timed:
                ts = timed[row["tool"]]
                row.update(median_s=f"{statistics.median(ts):.6g}", min_s=f"{min(ts):.6g}",
                           rounds=len(ts))
        log(f"r={r:2d} ({base['kernel']}, auto: {base['auto_method']}): " + ", ".join(
            f"{row['tool']} {float(row['median_s']) * 1e3:.1f} ms"
            for row in rows if row["radius"] == r and row.get("median_s")))
    return rows


def write_csv(path: Path, meta: dict[str, str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        for key, value in meta.items():
            f.write(f"# {key}: {value}\n")
        writer = csv.DictWriter(f, fieldnames=FIELDS, restval="")
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> tuple[dict[str, str], list[dict]]:
    """(metadata, rows) of a file written by :func:`write_csv`."""
    meta, body = {}, []
    for line in path.read_text().splitlines():
        if line.startswith("# "):
            key, _, value = line[2:].partition(": ")
            meta[key] = value
        else:
            body.append(line)
    return meta, list(csv.DictReader(body))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="raster side (default 2000)")
    parser.add_argument("--radii", default=",".join(map(str, RADII)),
                        help="comma-separated circle radii in cells")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--max-seconds", type=float, default=5.0,
                        help="drop a peer once one call takes longer (default 5)")
    parser.add_argument("--box-sizes", default="",
                        help="comma-separated box sides: sweep box means instead of circles")
    parser.add_argument("--out", type=Path, default=None,
                        help="CSV file to write (default docs/_static/radius_sweep.csv, or "
                             "box_sweep.csv with --box-sizes)")
    args = parser.parse_args(argv)
    radii = [int(r) for r in args.radii.split(",")]
    meta = metadata(argv, args.n, args.rounds, args.max_seconds)
    started = time.perf_counter()
    if args.box_sizes:
        sizes = [int(v) for v in args.box_sizes.split(",")]
        meta["data"] = (f"float64 standard normal, {args.n} x {args.n}, seed 0; "
                        "size x size box mean; nearest boundary")
        rows = box_sweep(args.n, sizes, args.rounds)
        args.out = args.out or DEFAULT_OUT.with_name("box_sweep.csv")
    else:
        rows = sweep(args.n, radii, args.rounds, args.max_seconds)
        args.out = args.out or DEFAULT_OUT
    meta["elapsed"] = f"{time.perf_counter() - started:.0f} s"
    write_csv(args.out, meta, rows)
    print(f"wrote {args.out} ({meta['elapsed']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
