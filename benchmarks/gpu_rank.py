"""GPU rank statistics: xarray-focal's CUDA kernels vs ``cupyx.scipy.ndimage.median_filter``.

Cases (issue 17): 8192 x 8192 NaN-free random data, boxes of 3 x 3, 5 x 5 and 7 x 7,
float32 and float64, boundary "nearest" (cupyx: mode="nearest"); outputs must be identical
(exact order statistics). Then cases without a GPU peer: the 90th percentile (5 x 5),
the median with 1 % NaN (the per-window path for the windows with NaN), and the class
statistics on integer classes. Timed with ``cupyx.profiler.benchmark`` (CUDA events,
median GPU time; ours and the peer in two interleaved rounds) after warm-up. ``--tiles`` also times each order-statistic case with
every listed thread tile of the selection network. Run on the GPU machine::

    python benchmarks/gpu_rank.py [--size 8192] [--repeat 20] [--tiles 2x2,2x4,4x4]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _times(benchmark, fn, repeat):
    return list(benchmark(fn, n_repeat=repeat, n_warmup=3).gpu_times[0] * 1e3)


def _ms(benchmark, fn, repeat):
    return float(np.median(_times(benchmark, fn, repeat)))


def _with_tile(tile):
    from xarray_focal._backends import cupy_rank

    cupy_rank.TILE = tile
    cupy_rank.choose_tile.cache_clear()


def main(argv=None) -> int:
    import cupy as cp
    import cupyx.scipy.ndimage as cndi
    from cupyx.profiler import benchmark

    import xarray_focal as xf
    from xarray_focal._backends import cupy_rank

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--tiles", default="", help="thread tiles to compare, e.g. 2x2,2x4")
    args = parser.parse_args(argv)
    tiles = [tuple(int(v) for v in t.split("x")) for t in args.tiles.split(",") if t]
    n = args.size
    card = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    print(f"{card}, {n}x{n}, NaN-free, boundary nearest, median GPU ms of 2 x {args.repeat}")
    print("| window | dtype | xarray-focal | cupyx median_filter | cupyx / ours | identical "
          "| tile |")
    print("|---|---|---:|---:|---:|---|---|")
    rng = cp.random.default_rng(0)
    variants = []
    for dtype in (cp.float32, cp.float64):
        data = rng.standard_normal((n, n), dtype=cp.float64).astype(dtype)
        ctype = "float" if dtype == cp.float32 else "double"
        for size in (3, 5, 7):
            fp = np.ones((size, size))
            taps = tuple((y, x) for y in range(size) for x in range(size))
            tile = cupy_rank.choose_tile(taps, (size * size // 2,), ctype)
            ours = xf.focal_median(data, fp, boundary="nearest")
            peer = cndi.median_filter(data, size=size, mode="nearest")
            same = bool(cp.array_equal(ours, peer))
            del ours, peer
            # Two interleaved rounds, pooled: clocks drift between back-to-back timings.
            ours_t, peer_t = [], []
            for _ in range(2):
                ours_t += _times(benchmark, lambda: xf.focal_median(data, fp, boundary="nearest"),
                                 args.repeat)
                peer_t += _times(benchmark,
                                 lambda: cndi.median_filter(data, size=size, mode="nearest"),
                                 args.repeat)
            t_ours, t_peer = float(np.median(ours_t)), float(np.median(peer_t))
            print(f"| {size}x{size} | {np.dtype(dtype).name} | {t_ours:.2f} | {t_peer:.2f} | "
                  f"{t_peer / t_ours:.2f} | {same} | {tile[0]}x{tile[1]} |" if tile else
                  f"| {size}x{size} | {np.dtype(dtype).name} | {t_ours:.2f} | {t_peer:.2f} | "
                  f"{t_peer / t_ours:.2f} | {same} | none |", flush=True)
            for t in tiles:
                _with_tile(t)
                ok = bool(cp.array_equal(xf.focal_median(data, fp, boundary="nearest"),
                                         cndi.median_filter(data, size=size, mode="nearest")))
                ms = _ms(benchmark, lambda: xf.focal_median(data, fp, boundary="nearest"),
                         args.repeat)
                variants.append(f"| {size}x{size} | {np.dtype(dtype).name} | {t[0]}x{t[1]} | "
                                f"{ms:.2f} | {ok} |")
                _with_tile(None)
        del data
    if variants:
        print("\nthread tiles (median, GPU ms)\n| window | dtype | tile | ms | identical |")
        print("|---|---|---|---:|---|")
        print("\n".join(variants))
    print("\nwithout a GPU peer (GPU ms)\n| case | ms |\n|---|---:|")
    data = rng.standard_normal((n, n), dtype=cp.float32)
    fp = np.ones((5, 5))
    print(f"| percentile 90, 5x5 float32 | "
          f"{_ms(benchmark, lambda: xf.focal_percentile(data, fp, 90, boundary='nearest'), args.repeat):.2f} |")
    holes = data.copy()
    holes[rng.random((n, n)) < 0.01] = cp.nan
    print(f"| median 5x5 float32, 1 % NaN | "
          f"{_ms(benchmark, lambda: xf.focal_median(holes, fp, boundary='nearest'), args.repeat):.2f} |")
    del holes, data
    ids = rng.integers(0, 12, (n, n), dtype=cp.int32)
    for stat in ("majority", "variety"):
        fn = getattr(xf, f"focal_{stat}")
        print(f"| {stat} 5x5, int32 classes 0..11 | "
              f"{_ms(benchmark, lambda: fn(ids, fp, boundary='nearest'), args.repeat):.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
