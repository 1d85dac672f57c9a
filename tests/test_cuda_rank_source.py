"""The GPU median kernel's CUDA source, run on the CPU, against the CPU engine.

GPU time is scarce and CI has no GPU, so the exact source the launcher generates
(:func:`xarray_focal._backends.cupy_rank.kernel_source`) is compiled as C++ with a few
lines standing in for the CUDA built-ins and run over every (block, thread) of the launch
grid. It must give the CPU engine's statistics to the bit: same sorting network, same
double-precision finish (no FMA contraction on either side). Skips without a C++ compiler.
The real GPU runs are in tests/test_rank.py (the cupy backends).
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

import xarray_focal as xf
from xarray_focal._algorithms.runs import describe
from xarray_focal._backends.cupy_rank import BLOCK, kernel_source
from xarray_focal._backends.rank import RankReduction
from xarray_focal._tiles import Tile

CXX = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
pytestmark = pytest.mark.skipif(CXX is None, reason="needs a C++ compiler")

HARNESS = r"""
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>
using std::floor; using std::isfinite; using std::isinf; using std::isnan;
struct dim3_ { unsigned x, y, z; };
static dim3_ blockIdx, threadIdx, blockDim;
#define __global__
#define __device__
#define __restrict__
static inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
"""

MAIN = r"""
int main(int argc, char** argv) {
    long long fh = %(fh)d, fw = %(fw)d, nb = %(nb)d, ho = %(ho)d, wo = %(wo)d;
    int nq = %(nq)d;
    std::vector<T> frame(nb * fh * fw), out(nq * nb * ho * wo);
    std::vector<long long> yidx(%(ny)d), xidx(%(nx)d);
    std::vector<double> qs(nq);
    FILE* f = fopen(argv[1], "rb");
    fread(frame.data(), sizeof(T), frame.size(), f);
    fread(yidx.data(), 8, yidx.size(), f);
    fread(xidx.data(), 8, xidx.size(), f);
    fread(qs.data(), 8, qs.size(), f);
    fclose(f);
    blockDim = {%(bx)d, %(by)d, 1};
    for (unsigned z = 0; z < nb; ++z)
    for (unsigned gy = 0; gy < %(gy)d; ++gy)
    for (unsigned gx = 0; gx < %(gx)d; ++gx)
    for (unsigned ty = 0; ty < %(by)d; ++ty)
    for (unsigned tx = 0; tx < %(bx)d; ++tx) {
        blockIdx = {gx, gy, z};
        threadIdx = {tx, ty, 0};
        order_stat(frame.data(), fh, fw, yidx.data(), xidx.data(), (T)%(fill)s, nb, ho, wo,
                   qs.data(), nq, %(thr)d, out.data());
    }
    f = fopen(argv[2], "wb");
    fwrite(out.data(), sizeof(T), out.size(), f);
    fclose(f);
    return 0;
}
"""


def run_source_on_cpu(tmp_path, data, footprint, boundary, fill, qs, threshold):
    k = describe((np.asarray(footprint) != 0).astype(np.float64))
    tile = Tile.whole(data, k.ry, k.rx, boundary)
    taps = k.taps()
    ctype = "float" if data.dtype == np.float32 else "double"
    source = kernel_source(ctype, tuple(taps.dy.tolist()), tuple(taps.dx.tolist()))
    nb = int(np.prod(data.shape[:-2]))
    ho, wo = data.shape[-2:]
    main = MAIN % dict(fh=ho, fw=wo, nb=nb, ho=ho, wo=wo, nq=len(qs), ny=tile.ymap.index.size,
                       nx=tile.xmap.index.size, bx=BLOCK[0], by=BLOCK[1],
                       gx=-(-wo // BLOCK[0]), gy=-(-ho // BLOCK[1]),
                       fill="NAN" if np.isnan(fill) else repr(float(fill)), thr=threshold)
    (tmp_path / "k.cpp").write_text(HARNESS + source.replace('#line 1 "cupy_rank.cu"', "") + main)
    exe = tmp_path / "k"
    subprocess.run([CXX, "-O1", "-ffp-contract=off", "-o", str(exe), str(tmp_path / "k.cpp")],
                   check=True, capture_output=True)
    with open(tmp_path / "in.bin", "wb") as f:
        for a in (data, tile.ymap.index.astype(np.int64), tile.xmap.index.astype(np.int64),
                  np.asarray(qs, dtype=np.float64)):
            np.ascontiguousarray(a).tofile(f)
    subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], check=True)
    out = np.fromfile(tmp_path / "out.bin", dtype=data.dtype)
    return out.reshape((len(qs),) + data.shape), tile, k


@pytest.mark.parametrize("dtype, footprint, boundary, qs, threshold", [
    (np.float32, np.ones((5, 5)), "reflect", [np.nan, 90.0, 0.0], 1),       # network
    (np.float64, np.ones((9, 9)), "nan", [np.nan, 37.5], 5),                 # insertion
    (np.float32, xf.annulus_kernel(1, 1, 2, 0), "constant", [100.0, np.nan], 1),
])
def test_cuda_source_equals_the_cpu_engine(tmp_path, dtype, footprint, boundary, qs, threshold):
    rng = np.random.default_rng(3)
    data = (rng.standard_normal((2, 19, 37)) * 100 + 5).astype(dtype)
    data[rng.random(data.shape) < 0.15] = np.nan
    fill = 2.5 if boundary == "constant" else np.nan
    got, tile, k = run_source_on_cpu(tmp_path, data, footprint, boundary, fill, qs, threshold)
    for i, q in enumerate(qs):
        rr = RankReduction(("median",) if np.isnan(q) else ("percentile",), threshold,
                           q=None if np.isnan(q) else q)
        expected = rr.run_tile(tile, k, fill, parallel=False)[0]
        np.testing.assert_array_equal(got[i], expected)
