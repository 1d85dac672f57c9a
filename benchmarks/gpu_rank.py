"""GPU median: xarray-focal's CUDA order-statistic kernel vs ``cupyx.scipy.ndimage.median_filter``.

Cases (issue 17): 8192 x 8192 NaN-free random data, boxes of 3 x 3, 5 x 5 and 7 x 7,
float32 and float64, boundary "nearest" (cupyx: mode="nearest"). Outputs must be
identical (exact order statistics). Timed with ``cupyx.profiler.benchmark`` (CUDA events,
median GPU time) after warm-up. Run on the GPU machine::

    python benchmarks/gpu_rank.py [--size 8192] [--repeat 20]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv=None) -> int:
    import cupy as cp
    import cupyx.scipy.ndimage as cndi
    from cupyx.profiler import benchmark

    import xarray_focal as xf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    n = args.size
    card = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    print(f"{card}, {n}x{n}, NaN-free, boundary nearest, median GPU ms")
    print("| window | dtype | xarray-focal | cupyx median_filter | cupyx / ours | identical |")
    print("|---|---|---:|---:|---:|---|")
    rng = cp.random.default_rng(0)
    for dtype in (cp.float32, cp.float64):
        data = rng.standard_normal((n, n), dtype=cp.float64).astype(dtype)
        for size in (3, 5, 7):
            fp = np.ones((size, size))
            ours = xf.focal_median(data, fp, boundary="nearest")
            peer = cndi.median_filter(data, size=size, mode="nearest")
            same = bool(cp.array_equal(ours, peer))
            t_ours = float(np.median(benchmark(
                lambda: xf.focal_median(data, fp, boundary="nearest"),
                n_repeat=args.repeat, n_warmup=3).gpu_times[0])) * 1e3
            t_peer = float(np.median(benchmark(
                lambda: cndi.median_filter(data, size=size, mode="nearest"),
                n_repeat=args.repeat, n_warmup=3).gpu_times[0])) * 1e3
            print(f"| {size}x{size} | {np.dtype(dtype).name} | {t_ours:.2f} | {t_peer:.2f} | "
                  f"{t_peer / t_ours:.2f} | {same} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
