"""GPU: a geodesic mean against a planar disc of the same equatorial reach (issue 16).

A global 0.25° grid (720 × 1440, float32, 5 % NaN) on the device: ``focal.mean`` of a
100 km geodesic circle against ``focal.mean`` of the planar disc with the same reach in
cells at the equator (boundary nearest in latitude, wrap in longitude), both on cupy.
Beside them, in the same run: the geodesic ``std`` and area-weighted ``mean`` (the per-row
kernel too), the mean in dask+cupy chunks of 180 × 1440 (geodesic and planar), and with
``--before`` the mean through the earlier path (one planar launch per band of rows sharing
a footprint) for comparison. Timed with
``cupyx.profiler.benchmark`` after a warm-up (median GPU and host ms), and every geodesic
result checked against the CPU's (same NaN cells, within float32 rounding). Run on the GPU
machine::

    python benchmarks/gpu_geodesic.py [--step 0.25] [--radius-km 100] [--repeat 10] [--before]
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
    parser.add_argument("--before", action="store_true",
                        help="also time the earlier path (a planar launch per band of rows)")
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

    def std():
        return gpu.focal.std(kernel).data

    def area():
        return gpu.focal.mean(kernel, area_weighted=True).data

    lazy = lazy_planar = None
    try:
        import dask
        import dask.array as da
    except ImportError:
        dask = None
    if dask is not None:
        chunked = gpu.copy(data=da.from_array(gpu.data, chunks=(180, 1440), asarray=False))
        chunked_planar = planar.copy(data=da.from_array(planar.data, chunks=(180, 1440),
                                                        asarray=False))

        def lazy_geodesic():
            with dask.config.set(scheduler="threads"):
                return chunked.focal.mean(kernel).data.compute()

        def lazy_disc():
            with dask.config.set(scheduler="threads"):
                out = chunked_planar.focal.mean(disc, boundary={"y": "nearest", "x": "wrap"})
                return out.data.compute()

        lazy, lazy_planar = lazy_geodesic, lazy_disc

    def variant(**settings):
        """The array-API geodesic mean with module settings of the GPU kernel changed."""
        from xarray_focal._backends.cupy import geodesic as gpu_geodesic

        def run():
            keep = {name: getattr(gpu_geodesic, name) for name in settings}
            for name, value in settings.items():
                setattr(gpu_geodesic, name, value)
            try:
                return xf.focal_mean(gpu.data, kernel)
            finally:
                for name, value in keep.items():
                    setattr(gpu_geodesic, name, value)

        return run

    def bands():
        from xarray_focal._backends import cupy as backend

        keep = backend.geodesic_tile
        backend.geodesic_tile = None  # _geodesic._linear_stack then runs the bands
        try:
            return geodesic()
        finally:
            backend.geodesic_tile = keep

    checks = []
    for name, fn, want in (("mean", geodesic, lambda: cpu.focal.mean(kernel)),
                           ("std", std, lambda: cpu.focal.std(kernel)),
                           ("mean area_weighted", area,
                            lambda: cpu.focal.mean(kernel, area_weighted=True)),
                           ("mean dask+cupy", lazy, lambda: cpu.focal.mean(kernel)),
                           ("mean, SHARED_RUNS=True", variant(SHARED_RUNS=True),
                            lambda: cpu.focal.mean(kernel))):
        if fn is None:
            continue
        got = cp.asnumpy(fn()).astype(np.float64)
        ref = want().values.astype(np.float64)
        same_nan = bool(np.array_equal(np.isnan(got), np.isnan(ref)))
        err = float(np.nanmax(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-3)))
        checks.append((name, same_nan, err))
    rows = []
    for name, fn, repeat in (("geodesic mean", geodesic, args.repeat),
                             ("planar disc mean", flat, args.repeat),
                             ("geodesic mean, array API", lambda: xf.focal_mean(gpu.data, kernel),
                              args.repeat),
                             ("planar disc mean, array API",
                              lambda: xf.focal_mean(planar.data, disc,
                                                    boundary=("nearest", "wrap")),
                              args.repeat),
                             ("geodesic std", std, args.repeat),
                             ("geodesic mean area_weighted", area, args.repeat),
                             ("geodesic mean, array API, SHARED_RUNS=True",
                              variant(SHARED_RUNS=True), args.repeat),
                             ("geodesic mean, array API, HEAVY_PARTS=4",
                              variant(HEAVY_PARTS=4), args.repeat),
                             ("geodesic mean, array API, SHARED_RUNS=True, HEAVY_PARTS=4",
                              variant(SHARED_RUNS=True, HEAVY_PARTS=4), args.repeat),
                             ("geodesic mean, array API, HEAVY_TAPS=2048",
                              variant(HEAVY_TAPS=2048), args.repeat),
                             ("geodesic mean dask+cupy 180x1440", lazy, args.repeat),
                             ("planar disc mean dask+cupy 180x1440", lazy_planar, args.repeat),
                             ("geodesic mean, planar launch per band (before)",
                              bands if args.before else None, 3)):
        if fn is None:
            continue
        fn()
        r = benchmark(fn, n_repeat=repeat, n_warmup=1)
        rows.append((name, float(np.median(r.gpu_times) * 1e3),
                     float(np.median(r.cpu_times) * 1e3)))
    print(f"{cp.cuda.runtime.getDeviceProperties(0)['name'].decode()}; {lat.size}x{lon.size} "
          f"float32, {args.radius_km:g} km geodesic vs planar disc {disc.shape[0]}x{disc.shape[1]} "
          f"(r = {cells:.2f} cells); {kernel!r}")
    print("| case | GPU ms | host ms |\n|---|---:|---:|")
    for name, g, h in rows:
        print(f"| {name} | {g:.3f} | {h:.3f} |")
    print(f"geodesic / planar mean (GPU time): {rows[0][1] / rows[1][1]:.2f}")
    for name, same_nan, err in checks:
        print(f"{name}: same NaN cells as the CPU: {same_nan}; max relative difference {err:.1e}")
    return 0 if all(c[1] and c[2] < 1e-5 for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
