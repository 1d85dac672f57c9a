"""GPU: a geodesic mean against a planar disc of the same equatorial reach (issue 16).

A global 0.25° grid (720 × 1440, float32, 5 % NaN) on the device: ``focal.mean`` of a
100 km geodesic circle against ``focal.mean`` of the planar disc with the same reach in
cells at the equator (boundary nearest in latitude, wrap in longitude), both on cupy.
Timed with ``cupyx.profiler.benchmark`` after a warm-up (median GPU and host ms), and the
geodesic result checked against the CPU's (same NaN cells, within float32 rounding). Run on
the GPU machine::

    python benchmarks/gpu_geodesic.py [--step 0.25] [--radius-km 100] [--repeat 10]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv=None) -> int:
    import cupy as cp
    import xarray as xr
    from cupyx.profiler import benchmark

    import xarray_focal as xf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=float, default=0.25)
    parser.add_argument("--radius-km", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)

    lat = np.arange(-90 + args.step / 2, 90, args.step)
    lon = np.arange(-180 + args.step / 2, 180, args.step)
    rng = np.random.default_rng(0)
    host = rng.standard_normal((lat.size, lon.size)).astype(np.float32)
    host[rng.random(host.shape) < 0.05] = np.nan
    coords = {"lat": ("lat", lat, {"units": "degrees_north"}),
              "lon": ("lon", lon, {"units": "degrees_east"})}
    cpu = xr.DataArray(host, dims=("lat", "lon"), coords=coords)
    gpu = cpu.copy(data=cp.asarray(host))
    kernel = cpu.focal.circle_kernel(f"{args.radius_km} km")
    cells = args.radius_km * 1e3 / (np.radians(args.step) * 6_371_008.8)
    disc = xf.circle_kernel(1, 1, cells)
    planar = gpu.rename(lat="y", lon="x").drop_vars(["y", "x"])

    def geodesic():
        return gpu.focal.mean(kernel).data

    def flat():
        return planar.focal.mean(disc, boundary={"y": "nearest", "x": "wrap"}).data

    got = cp.asnumpy(geodesic())
    want = cpu.focal.mean(kernel).values
    same_nan = bool(np.array_equal(np.isnan(got), np.isnan(want)))
    err = float(np.nanmax(np.abs(got.astype(np.float64) - want) / np.maximum(np.abs(want), 1e-3)))
    rows = []
    for name, fn in (("geodesic", geodesic), ("planar disc", flat)):
        fn()
        r = benchmark(fn, n_repeat=args.repeat, n_warmup=2)
        rows.append((name, float(np.median(r.gpu_times) * 1e3), float(np.median(r.cpu_times) * 1e3)))
    print(f"{lat.size}x{lon.size} float32, {args.radius_km:g} km geodesic vs planar disc "
          f"{disc.shape[0]}x{disc.shape[1]} (r = {cells:.2f} cells); {kernel!r}")
    print("| case | GPU ms | host ms |\n|---|---:|---:|")
    for name, g, h in rows:
        print(f"| {name} | {g:.3f} | {h:.3f} |")
    print(f"geodesic / planar (GPU time): {rows[0][1] / rows[1][1]:.1f}; same NaN cells as the "
          f"CPU: {same_nan}; max relative difference from the CPU {err:.1e}")
    return 0 if same_nan else 1


if __name__ == "__main__":
    sys.exit(main())
