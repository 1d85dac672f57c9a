"""The GPU rank kernels' CUDA source, run on the CPU, against the CPU engines.

GPU time is scarce and CI has no GPU, so the exact source the launcher generates
(:func:`xarray_focal._backends.cupy_rank.kernel_source`) is compiled as C++ with a few
lines standing in for the CUDA built-ins and run over every (block, thread) of the launch
grid (the kernels share no memory between threads, so any order of threads is a valid
schedule). It must give the CPU engine's statistics to the bit: the selection network of
NaN-free tiles, the sorting network of the other windows, the same double-precision finish
(no FMA contraction on either side), the class statistics' runs. Skips without a C++
compiler. The real GPU runs are in tests/test_gpu_rank.py and tests/test_rank.py.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

import xarray_focal as xf
from xarray_focal._algorithms.runs import describe
from xarray_focal._backends.cupy_rank import kernel_source, launch_grid
from xarray_focal._backends.rank import RankReduction
from xarray_focal._tiles import Tile

CXX = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
pytestmark = pytest.mark.skipif(CXX is None, reason="needs a C++ compiler")

HARNESS = r"""
#include <cmath>
#include <math.h>
#include <cstdio>
#include <cstring>
#include <vector>
using std::floor; using std::isfinite; using std::isinf; using std::isnan;
struct dim3_ { unsigned x, y, z; };
static dim3_ blockIdx, threadIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
static inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
"""

MAIN = r"""
int main(int argc, char** argv) {
    long long fh = %(fh)d, fw = %(fw)d, nb = %(nb)d, ho = %(ho)d, wo = %(wo)d;
    int nq = %(nq)d;
    std::vector<T> frame(nb * fh * fw), out(nq * nb * ho * wo);
    std::vector<int> yidx(%(ny)d), xidx(%(nx)d);
    std::vector<%(qtype)s> qs(nq);
    FILE* f = fopen(argv[1], "rb");
    fread(frame.data(), sizeof(T), frame.size(), f);
    fread(yidx.data(), 4, yidx.size(), f);
    fread(xidx.data(), 4, xidx.size(), f);
    fread(qs.data(), sizeof(%(qtype)s), qs.size(), f);
    fclose(f);
    blockDim = {%(bx)d, %(by)d, 1};
    gridDim = {%(gx)d, %(gy)d, %(gz)d};
    for (unsigned z = 0; z < %(gz)d; ++z)
    for (unsigned gy = 0; gy < %(gy)d; ++gy)
    for (unsigned gx = 0; gx < %(gx)d; ++gx)
    for (unsigned ty = 0; ty < %(by)d; ++ty)
    for (unsigned tx = 0; tx < %(bx)d; ++tx) {
        blockIdx = {gx, gy, z};
        threadIdx = {tx, ty, 0};
        %(entry)s(frame.data(), fh, fw, yidx.data(), xidx.data(), (T)%(fill)s, nb, ho, wo,
                   qs.data(), nq, %(thr)d, out.data());
    }
    f = fopen(argv[2], "wb");
    fwrite(out.data(), sizeof(T), out.size(), f);
    fclose(f);
    return 0;
}
"""


def run_source_on_cpu(tmp_path, data, footprint, boundary, fill, qs, threshold, tile=None,
                      entry="order_stat"):
    """Run kernel ``entry`` on the CPU; ``qs`` are its statistics (class codes for
    ``class_stat``); ``tile`` the selection network's (rows, columns), None for none."""
    k = describe((np.asarray(footprint) != 0).astype(np.float64))
    t = Tile.whole(data, k.ry, k.rx, boundary)
    taps = k.taps()
    ctype = "float" if data.dtype == np.float32 else "double"
    qkey = tuple(None if np.isnan(q) else float(q) for q in qs) if entry == "order_stat" else ()
    source = kernel_source(ctype, tuple(taps.dy.tolist()), tuple(taps.dx.tolist()), qkey, tile)
    nb = int(np.prod(data.shape[:-2]))
    ho, wo = data.shape[-2:]
    (gx, gy, gz), (bx, by) = launch_grid(ho, wo, nb, tile)
    main = MAIN % dict(fh=ho, fw=wo, nb=nb, ho=ho, wo=wo, nq=len(qs), ny=t.ymap.index.size,
                       nx=t.xmap.index.size, bx=bx, by=by, gx=gx, gy=gy, gz=gz, entry=entry,
                       qtype="double" if entry == "order_stat" else "int",
                       fill="NAN" if np.isnan(fill) else repr(float(fill)), thr=threshold)
    (tmp_path / "k.cpp").write_text(HARNESS + source.replace('#line 1 "cupy_rank.cu"', "") + main)
    exe = tmp_path / "k"
    subprocess.run([CXX, "-O1", "-ffp-contract=off", "-o", str(exe), str(tmp_path / "k.cpp")],
                   check=True, capture_output=True)
    qarr = np.asarray(qs, dtype=np.float64 if entry == "order_stat" else np.int32)
    with open(tmp_path / "in.bin", "wb") as f:
        for a in (data, t.ymap.index.astype(np.int32), t.xmap.index.astype(np.int32), qarr):
            np.ascontiguousarray(a).tofile(f)
    subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], check=True)
    out = np.fromfile(tmp_path / "out.bin", dtype=data.dtype)
    return out.reshape((len(qs),) + data.shape), t, k


@pytest.mark.parametrize("dtype, footprint, boundary, qs, threshold, tile", [
    (np.float32, np.ones((5, 5)), "reflect", [np.nan, 90.0, 0.0], 1, None),  # network
    (np.float64, np.ones((9, 9)), "nan", [np.nan, 37.5], 5, None),            # insertion
    (np.float32, xf.annulus_kernel(1, 1, 2, 0), "constant", [100.0, np.nan], 1, None),
    # the selection network on NaN-free tiles, the per-window path elsewhere
    (np.float32, np.ones((5, 5)), "reflect", [np.nan], 1, (2, 4)),
    (np.float32, np.ones((3, 3)), "nearest", [np.nan, 12.5, 100.0], 1, (2, 2)),
    (np.float64, np.ones((7, 7)), "wrap", [np.nan, 0.0], 49, (2, 2)),          # propagate
    (np.float64, np.ones((4, 4)), "nan", [np.nan, 61.0], 1, (1, 4)),          # even count
    (np.float32, xf.annulus_kernel(1, 1, 2, 0), "constant", [np.nan, 33.0], 1, (4, 2)),
])
def test_cuda_source_equals_the_cpu_engine(tmp_path, dtype, footprint, boundary, qs, threshold,
                                           tile):
    rng = np.random.default_rng(3)
    data = (rng.standard_normal((2, 19, 37)) * 100 + 5).astype(dtype)
    if tile is None:
        data[rng.random(data.shape) < 0.15] = np.nan
    else:  # NaN in a few places only, so most tiles take the selection network
        data[0, 3, 5] = data[1, 11, 30] = np.nan
        data[0, 12:, 20:] = np.round(data[0, 12:, 20:] / 100)  # ties
        data[1, 4, 7], data[1, 15, 2], data[0, 8, 8] = np.inf, -np.inf, np.inf
    fill = 2.5 if boundary == "constant" else np.nan
    got, t, k = run_source_on_cpu(tmp_path, data, footprint, boundary, fill, qs, threshold, tile)
    for i, q in enumerate(qs):
        rr = RankReduction(("median",) if np.isnan(q) else ("percentile",), threshold,
                           q=None if np.isnan(q) else q)
        expected = rr.run_tile(t, k, fill, parallel=False)[0]
        np.testing.assert_array_equal(got[i], expected)


@pytest.mark.parametrize("dtype, footprint, boundary, threshold", [
    (np.float64, np.ones((3, 3)), "nan", 1),
    (np.float32, xf.annulus_kernel(1, 1, 2, 0), "constant", 4),
    (np.float64, np.ones((9, 9)), "reflect", 1),  # insertion sort
])
def test_cuda_class_source_equals_the_cpu_engine(tmp_path, dtype, footprint, boundary,
                                                 threshold):
    rng = np.random.default_rng(4)
    data = rng.integers(-2, 4, (2, 17, 23)).astype(dtype) * 1.5
    data[rng.random(data.shape) < 0.2] = np.nan
    data[0, 5, :] = np.nan
    data[1, 3, 3] = np.inf
    fill = 1.5 if boundary == "constant" else np.nan
    names = ("majority", "minority", "variety")
    got, t, k = run_source_on_cpu(tmp_path, data, footprint, boundary, fill, [0, 1, 2],
                                  threshold, entry="class_stat")
    expected = RankReduction(names, threshold).run_tile(t, k, fill, parallel=False)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("entry, tile", [("order_stat", None), ("order_stat", (2, 2)),
                                         ("class_stat", None)])
def test_slices_beyond_the_grid_z_limit_are_looped_over(tmp_path, monkeypatch, entry, tile):
    # Found in review: more slices than a grid holds in z (65535) failed to launch. The
    # kernels loop over slices by gridDim.z; with the limit at 1 both slices of these
    # data go through that loop.
    from xarray_focal._backends import cupy_rank

    monkeypatch.setattr(cupy_rank, "MAX_GRID_Z", 1)
    rng = np.random.default_rng(6)
    data = rng.integers(0, 5, (2, 11, 13)).astype(np.float64)
    data[1, 4, 4] = np.nan
    qs = [np.nan, 25.0] if entry == "order_stat" else [0, 1, 2]
    got, t, k = run_source_on_cpu(tmp_path, data, np.ones((3, 3)), "nearest", np.nan, qs, 1,
                                  tile, entry=entry)
    if entry == "order_stat":
        expected = np.stack([RankReduction(("median",), 1).run_tile(t, k, np.nan, parallel=False)[0],
                             RankReduction(("percentile",), 1, q=25.0).run_tile(t, k, np.nan, parallel=False)[0]])
    else:
        expected = RankReduction(("majority", "minority", "variety"), 1).run_tile(t, k, np.nan, parallel=False)
    np.testing.assert_array_equal(got, expected)
