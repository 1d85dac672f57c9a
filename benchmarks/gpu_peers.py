"""Side-by-side GPU timings: xarray-focal's cupy backend vs its peers, in one process.

Cases (issue 5): 8192 x 8192 random data, float32 and float64, disc kernels of radius 7
(15 x 15) and 16 (33 x 33), boundary "nan" (cupyx: mode="constant", cval=nan; that is
also xarray-spatial's default and its fastest path). Peers:

* ``cupyx.scipy.ndimage.correlate``
* xarray-spatial's GPU path (``xrspatial.convolution.convolve_2d`` on a cupy array; it
  needs the shim ``np.row_stack = np.vstack`` on numpy >= 2.4 for numba-cuda to compile)
* a plain device-to-device copy of the array: the memory-bandwidth floor.

Each is timed with ``cupyx.profiler.benchmark`` (CUDA events, median of the GPU times)
after warm-up, so compilation stays out. Our result is also checked against cupyx on the
same data (|ours - cupyx| <= tol * cupyx(|x|, |w|)). ``--k`` times each variant of
outputs-per-thread besides the automatic choice. Run on the GPU machine::

    python benchmarks/gpu_peers.py --out results.json [--k] [--size 8192]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def _median_ms(fn, repeat):
    from cupyx.profiler import benchmark

    res = benchmark(fn, n_repeat=repeat, n_warmup=3)
    return float(np.median(res.gpu_times[0]) * 1e3)


def _xrspatial():
    """xarray-spatial's array-level GPU convolution, or the reason it cannot run."""
    try:
        np.row_stack = np.vstack  # removed in numpy 2.4; numba-cuda 0.30 still calls it
        from xrspatial.convolution import convolve_2d

        return convolve_2d, None
    except Exception as exc:  # report, don't hide: the table says why it is missing
        return None, f"{type(exc).__name__}: {exc}"


def main(argv=None):
    import cupy as cp
    import cupyx.scipy.ndimage as cndi

    import xarray_focal as xf
    from xarray_focal.algorithms.plan import make_plan
    from xarray_focal.backends import cupy_backend

    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--out", default=None)
    ap.add_argument("--k", action="store_true", help="also time each K variant")
    ap.add_argument("--no-xrspatial", action="store_true")
    args = ap.parse_args(argv)

    dev = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    card = dev["name"].decode() if isinstance(dev["name"], bytes) else str(dev["name"])
    n = args.size
    xrs_conv, xrs_error = (None, "skipped") if args.no_xrspatial else _xrspatial()
    rows, variants = [], []
    rng = cp.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        data = rng.random((n, n), dtype=dtype) * 100 - 50
        dst = cp.empty_like(data)
        copy_ms = _median_ms(lambda: cp.copyto(dst, data), args.repeat)
        for radius in (7, 16):
            kernel = xf.circle_kernel(1, 1, radius)
            kdev = cp.asarray(kernel, dtype=dtype)
            t0 = time.perf_counter()
            ours = xf.correlate(data, kernel)
            cp.cuda.Device().synchronize()
            first_call_s = time.perf_counter() - t0
            ours_ms = _median_ms(lambda: xf.correlate(data, kernel), args.repeat)
            # The backend alone (plan built once): the launch without the API's host work.
            plan = make_plan(kernel)
            launch_ms = _median_ms(
                lambda: cupy_backend.correlate(data, plan, "nan", np.nan), args.repeat
            )
            cupyx_ms = _median_ms(
                lambda: cndi.correlate(data, kdev, mode="constant", cval=np.nan),
                max(3, args.repeat // 4),
            )
            # Accuracy against cupyx (same NaN-free interior; the NaN edge must agree too).
            ref = cndi.correlate(data, kdev, mode="constant", cval=np.nan)
            scale = cndi.correlate(cp.abs(data), cp.abs(kdev), mode="constant", cval=np.nan)
            tol = 1e-5 if dtype == np.float32 else 1e-12
            finite = cp.isfinite(ref)
            nan_ok = bool(cp.all(cp.isnan(ours) == cp.isnan(ref)))
            worst = float(cp.max(cp.abs(ours - ref)[finite] / scale[finite]))
            del ref, scale
            xrs_ms = None
            if xrs_conv is not None:
                try:
                    xrs_conv(data, kdev, boundary="nan")  # compile
                    xrs_ms = _median_ms(lambda: xrs_conv(data, kdev, boundary="nan"), 3)
                except Exception as exc:
                    xrs_error = f"{type(exc).__name__}: {exc}"
            dplan = cupy_backend._device_plan(
                plan, np.dtype(dtype), cp.cuda.Device().id
            )
            row = dict(
                dtype=np.dtype(dtype).name, radius=radius, ours_ms=ours_ms, launch_ms=launch_ms,
                cupyx_ms=cupyx_ms,
                xrspatial_ms=xrs_ms, copy_ms=copy_ms, speedup_vs_cupyx=cupyx_ms / ours_ms,
                times_copy=ours_ms / copy_ms, K=dplan.K, acc=dplan.acc.name,
                worst_rel_err_vs_cupyx=worst, tol=tol, nan_pattern_equal=nan_ok,
                first_call_s=first_call_s,
            )
            rows.append(row)
            if args.k:
                saved = cupy_backend.K_CHOICES
                for k in (4, 8, 16):
                    cupy_backend.K_CHOICES = (k,)
                    cupy_backend._PLANS.items.clear()
                    xf.correlate(data, kernel)
                    ms = _median_ms(lambda: xf.correlate(data, kernel), args.repeat)
                    variants.append(dict(dtype=row["dtype"], radius=radius, K=k, ms=ms))
                cupy_backend.K_CHOICES = saved
                cupy_backend._PLANS.items.clear()
        del data, dst
        cp.get_default_memory_pool().free_all_blocks()

    kernels = {}
    for (dt, acc, k, _), kern in cupy_backend._KERNELS.items():
        attrs = kern.attributes
        kernels[f"{dt}/{acc}/K{k}"] = {a: attrs.get(a) for a in ("num_regs", "local_size_bytes")}
    result = dict(card=card, date=time.strftime("%Y-%m-%d"), size=n, rows=rows,
                  variants=variants, xrspatial_error=xrs_error, kernels=kernels,
                  cupy=cp.__version__, numpy=np.__version__)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)

    print(f"\n{card}, {n}x{n}, boundary nan, median GPU ms ({result['date']})")
    print("| dtype | r | ours | ours, backend only | cupyx | xarray-spatial | copy | ours vs cupyx "
          "| ours / copy | K | acc | err/tol |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        xs = f"{r['xrspatial_ms']:.2f}" if r["xrspatial_ms"] else "-"
        print(f"| {r['dtype']} | {r['radius']} | {r['ours_ms']:.3f} | {r['launch_ms']:.3f} | {r['cupyx_ms']:.2f} | {xs} | "
              f"{r['copy_ms']:.3f} | {r['speedup_vs_cupyx']:.1f}x | {r['times_copy']:.2f} | "
              f"{r['K']} | {r['acc']} | {r['worst_rel_err_vs_cupyx'] / r['tol']:.3f} "
              f"{'' if r['nan_pattern_equal'] else 'NaN MISMATCH'}|")
    for v in variants:
        print(f"variant {v['dtype']} r={v['radius']} K={v['K']}: {v['ms']:.3f} ms")
    print("kernels:", kernels)
    if xrs_error:
        print("xarray-spatial:", xrs_error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
