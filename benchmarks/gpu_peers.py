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
outputs-per-thread besides the automatic choice.

``--stats`` adds the NaN-aware cases of issue 6 (disc r=7, boundary "nearest", NaN-free
data so that the cupyx peers mean the same thing): ``focal_mean``/``focal_std``/
``focal_max``, ``focal_stats(("mean", "std", "max"))`` in one pass and
``correlate(k / k.sum(), nan_policy="renormalize")``, next to our plain correlate and
cupyx equivalents: ``correlate`` with ``k / k.sum()`` (mean), two correlates
``sqrt(E[x^2] - E[x]^2)`` (std, not shifted), ``maximum_filter(footprint=)`` (max; must
agree exactly) and two correlates of the zero-filled data and the valid mask
(renormalize). ``--no-correlate`` skips the issue-5 table. Run on the GPU machine::

    python benchmarks/gpu_peers.py --out results.json [--k] [--size 8192] [--stats]
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
    from xarray_focal._algorithms.runs import describe
    from xarray_focal._backends import cupy as cupy_backend
    from xarray_focal._backends.cupy import launch, layout

    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--out", default=None)
    ap.add_argument("--k", action="store_true", help="also time each K variant")
    ap.add_argument("--no-xrspatial", action="store_true")
    ap.add_argument("--stats", action="store_true", help="add the issue-6 statistics cases")
    ap.add_argument("--stats-variants", action="store_true",
                    help="time each statistics case with the generated kernels on and off")
    ap.add_argument("--no-correlate", action="store_true", help="skip the issue-5 cases")
    ap.add_argument("--shapes", action="store_true",
                    help="also time the generated kernel's other thread/block shapes and the "
                         "generic kernel")
    ap.add_argument("--dask", action="store_true", help="add the dask+cupy cases (issue 18)")
    ap.add_argument("--dask-size", type=int, default=16384)
    args = ap.parse_args(argv)

    dev = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    card = dev["name"].decode() if isinstance(dev["name"], bytes) else str(dev["name"])
    n = args.size
    xrs_conv, xrs_error = (None, "skipped") if args.no_xrspatial else _xrspatial()
    rows, variants = [], []
    rng = cp.random.default_rng(0)
    for dtype in () if args.no_correlate else (np.float32, np.float64):
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
            # The backend alone (kernel described once): the launch without the API's host work.
            runs = describe(kernel)
            launch_ms = _median_ms(
                lambda: cupy_backend.correlate(data, runs, "auto", "nan", np.nan), args.repeat
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
            dplan = launch.correlate_plan(runs, np.dtype(dtype), cp.cuda.Device().id).layout
            gen = launch._unrolled_variant(runs, np.dtype(dtype), cp.cuda.Device().id)
            kind = "generated" if gen else "generic"
            if gen:
                dplan = gen[0]
            row = dict(
                dtype=np.dtype(dtype).name, radius=radius, ours_ms=ours_ms, launch_ms=launch_ms,
                cupyx_ms=cupyx_ms,
                xrspatial_ms=xrs_ms, copy_ms=copy_ms, speedup_vs_cupyx=cupyx_ms / ours_ms,
                times_copy=ours_ms / copy_ms, K=f"{kind} {dplan.K}", acc=dplan.acc.name,
                worst_rel_err_vs_cupyx=worst, tol=tol, nan_pattern_equal=nan_ok,
                first_call_s=first_call_s,
            )
            rows.append(row)
            if args.shapes:
                from xarray_focal._backends.cupy import unrolled

                launch.UNROLLED = False
                ms = _median_ms(lambda: xf.correlate(data, kernel), args.repeat)
                variants.append(dict(dtype=row["dtype"], radius=radius, K="generic", ms=ms))
                launch.UNROLLED = True
                saved = dict(unrolled.SHAPES)
                item = np.dtype(row["acc"]).itemsize
                for shape in ((8, 3, 8, 1, 3), (8, 3, 8, 1, 2), (8, 3, 8, 1, 1), (4, 3, 8, 1, 2),
                              (4, 3, 8, 1, 1), (8, 3, 4, 2, 2), (4, 5, 8, 1, 2)):
                    unrolled.SHAPES[item] = (shape,)
                    xf.correlate(data, kernel)
                    ms = _median_ms(lambda: xf.correlate(data, kernel), args.repeat)
                    variants.append(dict(dtype=row["dtype"], radius=radius, K=str(shape), ms=ms))
                unrolled.SHAPES.update(saved)
            if args.k:
                saved = layout.K_CHOICES
                for k in (4, 8, 16):
                    layout.K_CHOICES = (k,)
                    launch.PLANS.items.clear()
                    xf.correlate(data, kernel)
                    ms = _median_ms(lambda: xf.correlate(data, kernel), args.repeat)
                    variants.append(dict(dtype=row["dtype"], radius=radius, K=k, ms=ms))
                layout.K_CHOICES = saved
                launch.PLANS.items.clear()
        del data, dst
        cp.get_default_memory_pool().free_all_blocks()

    kernels = {}
    for (name, _, defines, _), kern in launch.KERNELS.items.items():
        attrs = kern.attributes
        variant = " ".join(d.removeprefix("-DFOCAL_") for d in defines if "FOCAL_" in d)
        kernels[f"{name} {variant}"] = {a: attrs.get(a) for a in ("num_regs", "local_size_bytes")}
    if args.stats_variants:
        args.stats = True
    stats = _stats_rows(n, args.repeat, args.k, args.stats_variants) if args.stats else []
    small = _small_rows(args.repeat) if args.dask else []
    boxes = _box_rows(n, args.repeat, args.stats_variants) if args.stats else []
    dask_rows = _dask_rows(args.dask_size, max(3, args.repeat // 2)) if args.dask else []
    result = dict(card=card, date=time.strftime("%Y-%m-%d"), size=n, rows=rows,
                  variants=variants, xrspatial_error=xrs_error, kernels=kernels,
                  stats=stats, dask=dask_rows, small=small, boxes=boxes, cupy=cp.__version__, numpy=np.__version__)
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
    if stats:
        print(f"\n{card}, {n}x{n}, disc r=7, boundary nearest, NaN-free data, median GPU ms")
        print("| dtype | case | ours | cupyx peer | peer | ours vs peer | ours vs plain correlate "
              "| first call s | check |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in stats:
            peer = f"{r['peer_ms']:.2f}" if r["peer_ms"] is not None else "-"
            vs = f"{r['peer_ms'] / r['ours_ms']:.1f}x" if r["peer_ms"] is not None else "-"
            print(f"| {r['dtype']} | {r['case']} | {r['ours_ms']:.3f} | {peer} | {r['peer']} | "
                  f"{vs} | {r['ours_ms'] / r['correlate_ms']:.2f} | {r['first_call_s']:.2f} | "
                  f"{r['check']} |")
    for r in boxes:
        print(f"{n}x{n} float32 {r['case']}: ours {r['ours_ms']:.3f} ms, {r['peer']} "
              f"{r['peer_ms']:.3f} ms: {r['peer_ms'] / r['ours_ms']:.2f}x ({r['check']})")
    for r in small:
        print(f"1024x1024 {r['dtype']} disc r=7: ours GPU {r['ours_gpu_ms']:.3f} ms "
              f"(host wall {r['ours_wall_ms']:.3f}), cupyx GPU {r['cupyx_gpu_ms']:.3f} ms "
              f"(host wall {r['cupyx_wall_ms']:.3f}): {r['cupyx_gpu_ms'] / r['ours_gpu_ms']:.1f}x "
              f"GPU, {r['cupyx_wall_ms'] / r['ours_wall_ms']:.1f}x wall")
    if dask_rows:
        whole = dask_rows[0]["ms"]
        print(f"\n{card}, dask+cupy {args.dask_size}x{args.dask_size} float32, disc r=7, "
              "boundary nan, median wall ms of .compute() (synchronised)")
        print("| case | chunks | scheduler | tasks | ms | / whole array |")
        print("|---|---|---|---|---|---|")
        for r in dask_rows:
            print(f"| {r['case']} | {r['chunks']} | {r['scheduler']} | {r['tasks']} | "
                  f"{r['ms']:.2f} | {r['ms'] / whole:.2f} |")
    if xrs_error:
        print("xarray-spatial:", xrs_error)
    return 0


def _wall_ms(fn, repeat):
    """Median host wall time of ``fn`` with the device synchronised after it (ms)."""
    import cupy as cp

    fn()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        cp.cuda.Device().synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def _box_rows(n, repeat, generated=False):
    """Issue 15 on the GPU: boxes against cupyx's box filters (float32, boundary nearest).

    With ``generated`` the statistics are also timed with the generated kernels on.
    """
    import cupy as cp
    import cupyx.scipy.ndimage as cndi

    import xarray_focal as xf
    from xarray_focal._backends.cupy import launch

    data = cp.random.default_rng(4).random((n, n), dtype=np.float32) * 100 - 50
    rows = []
    b15, b51 = np.ones((15, 15)), np.ones((51, 51))
    cases = [
        ("box 15 focal_mean", lambda: xf.focal_mean(data, b15, boundary="nearest"),
         lambda: cndi.uniform_filter(data, 15, mode="nearest"), "uniform_filter"),
        ("box 15 correlate(box/225)", lambda: xf.correlate(data, b15 / 225, boundary="nearest"),
         lambda: cndi.uniform_filter(data, 15, mode="nearest"), "uniform_filter"),
        ("box 51 focal_max", lambda: xf.focal_max(data, b51, boundary="nearest"),
         lambda: cndi.maximum_filter(data, 51, mode="nearest"), "maximum_filter"),
    ]
    for case, ours, peer, name in cases:
        got, ref = ours(), peer()
        if "max" in case:
            check = "exact" if bool(cp.array_equal(got, ref)) else "MISMATCH"
        else:
            scale = float(cp.max(cp.abs(data)))
            check = f"max err/max|x| {float(cp.max(cp.abs(got - ref))) / scale:.1e}"
        del got, ref
        rows.append(dict(case=case, ours_ms=_median_ms(ours, repeat), peer=name,
                         peer_ms=_median_ms(peer, max(3, repeat // 2)), check=check))
        if generated and "focal" in case:
            saved, launch.UNROLLED_STATS = launch.UNROLLED_STATS, True
            got, ref = ours(), peer()
            ok = bool(cp.array_equal(got, ref)) if "max" in case else True
            del got, ref
            rows.append(dict(case=case + " (generated)", ours_ms=_median_ms(ours, repeat),
                             peer=name, peer_ms=rows[-1]["peer_ms"],
                             check="exact" if ok else "MISMATCH"))
            launch.UNROLLED_STATS = saved
    return rows


def _small_rows(repeat):
    """1024 x 1024 float32, disc r=7, boundary nan: where host work per call shows."""
    import cupy as cp
    import cupyx.scipy.ndimage as cndi

    import xarray_focal as xf

    kernel = xf.circle_kernel(1, 1, 7)
    rows = []
    for dtype in (np.float32, np.float64):
        data = cp.random.default_rng(3).random((1024, 1024), dtype=dtype)
        kdev = cp.asarray(kernel, dtype=dtype)
        ours = lambda: xf.correlate(data, kernel)  # noqa: E731
        peer = lambda: cndi.correlate(data, kdev, mode="constant", cval=np.nan)  # noqa: E731
        rows.append(dict(dtype=np.dtype(dtype).name, ours_gpu_ms=_median_ms(ours, 50),
                         cupyx_gpu_ms=_median_ms(peer, 50), ours_wall_ms=_wall_ms(ours, 50),
                         cupyx_wall_ms=_wall_ms(peer, 50)))
    return rows


def _dask_rows(n, repeat):
    """Issue 18: dask+cupy against the whole cupy array, and against dask's own ``x + 1``.

    Host wall time (dask's scheduling is host work, so GPU events would hide it), the
    device synchronised after each call; the first row is the whole array through the
    public API, the reference of the ratios.
    """
    import cupy as cp
    import dask
    import dask.array as da

    import xarray_focal as xf

    kernel = xf.circle_kernel(1, 1, 7)
    data = cp.random.default_rng(2).random((n, n), dtype=np.float32) * 100 - 50
    whole = xf.correlate(data, kernel)
    rows = [dict(case="whole cupy array", chunks="-", scheduler="-", tasks=1,
                 ms=_wall_ms(lambda: xf.correlate(data, kernel), repeat))]
    for c in (4096, 2048):
        arr = da.from_array(data, chunks=(c, c), asarray=False)
        lazy = xf.correlate(arr, kernel)
        tasks = len(lazy.__dask_graph__())
        got = lazy.compute(scheduler="synchronous")
        if not bool(cp.array_equal(cp.isnan(got), cp.isnan(whole))):
            raise AssertionError(f"dask+cupy {c}: NaN pattern differs from the whole array")
        finite = cp.isfinite(whole)
        scale = float(cp.max(cp.abs(whole[finite]))) or 1.0
        err = float(cp.max(cp.abs(got[finite] - whole[finite]))) / scale
        del got
        for scheduler in ("threads", "synchronous"):
            with dask.config.set(scheduler=scheduler):
                ms = _wall_ms(lambda: xf.correlate(arr, kernel).compute(), repeat)
            rows.append(dict(case="correlate", chunks=f"{c}^2", scheduler=scheduler,
                             tasks=tasks, ms=ms, err_vs_whole=err))
        with dask.config.set(scheduler="threads"):
            ms = _wall_ms(lambda: (arr + 1).compute(), repeat)
        rows.append(dict(case="dask's x + 1", chunks=f"{c}^2", scheduler="threads",
                         tasks=len((arr + 1).__dask_graph__()), ms=ms))
    del data, whole
    cp.get_default_memory_pool().free_all_blocks()
    return rows


def _stats_rows(n, repeat, k_variants=False, generated=False):
    """Issue 6 on the GPU: NaN-aware statistics and renormalize vs plain correlate and cupyx.

    With ``k_variants`` each case is also timed with the reduce kernel forced to K = 4 and 8;
    with ``generated`` with the generated statistics kernels on and off.
    """
    import cupy as cp
    import cupyx.scipy.ndimage as cndi

    import xarray_focal as xf
    from xarray_focal._backends.cupy import layout

    rows = []
    fp = xf.circle_kernel(1, 1, 7)
    kmean = fp / fp.sum()
    rng = cp.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        data = rng.random((n, n), dtype=dtype) * 100 - 50
        kdev = cp.asarray(kmean, dtype=dtype)
        fdev = cp.asarray(fp, dtype=dtype)
        fbool = cp.asarray(fp != 0)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        correlate_ms = _median_ms(lambda: xf.correlate(data, kmean, boundary="nearest"), repeat)

        def peer_std():
            m = cndi.correlate(data, kdev, mode="nearest")
            q = cndi.correlate(data * data, kdev, mode="nearest")
            return cp.sqrt(cp.maximum(q - m * m, 0))

        def peer_renormalize():
            valid = ~cp.isnan(data)
            s = cndi.correlate(cp.where(valid, data, 0), kdev, mode="nearest")
            w = cndi.correlate(valid.astype(dtype), kdev, mode="nearest")
            return s / w

        cases = [
            ("mean", lambda: xf.focal_mean(data, fp, boundary="nearest"),
             lambda: cndi.correlate(data, kdev, mode="nearest"), "correlate(k/k.sum())"),
            ("std", lambda: xf.focal_std(data, fp, boundary="nearest"), peer_std,
             "2x correlate, E[x2]-E[x]2"),
            ("max", lambda: xf.focal_max(data, fp, boundary="nearest"),
             lambda: cndi.maximum_filter(data, footprint=fbool, mode="nearest"),
             "maximum_filter(footprint)"),
            ("stats mean+std+max", lambda: xf.focal_stats(data, fp, ("mean", "std", "max"),
                                                          boundary="nearest"), None, "-"),
            ("renormalize", lambda: xf.correlate(data, kmean, boundary="nearest",
                                                 nan_policy="renormalize"),
             peer_renormalize, "2x correlate, s/w"),
        ]
        for case, ours_fn, peer_fn, peer_name in cases:
            t0 = time.perf_counter()
            ours = ours_fn()
            cp.cuda.Device().synchronize()
            first_call_s = time.perf_counter() - t0
            ours_ms = _median_ms(ours_fn, repeat)
            peer_ms, check = None, "-"
            if peer_fn is not None:
                peer_ms = _median_ms(peer_fn, max(3, repeat // 4))
                ref = peer_fn()
                if case == "max":
                    check = "exact" if bool(cp.array_equal(ours, ref)) else "MISMATCH"
                else:
                    scale = cndi.correlate(cp.abs(data), cp.abs(kdev), mode="nearest")
                    if case == "std":  # the naive peer cancels: compare to the data's scale
                        scale = cp.sqrt(cndi.correlate(data * data, kdev, mode="nearest"))
                        tol_case = 1e-3 if dtype == np.float32 else 1e-9
                    else:
                        tol_case = tol
                    err = float(cp.max(cp.abs(ours - ref) / scale))
                    check = f"err/scale {err:.1e} ({'ok' if err <= tol_case else 'OVER'})"
                del ref
            del ours
            row = dict(dtype=np.dtype(dtype).name, case=case, ours_ms=ours_ms,
                       peer_ms=peer_ms, peer=peer_name, correlate_ms=correlate_ms,
                       first_call_s=first_call_s, check=check)
            if generated:
                from xarray_focal._backends.cupy import launch

                saved = launch.UNROLLED_STATS
                for on in (True, False):
                    launch.UNROLLED_STATS = on
                    ours_fn()
                    row[f"generated_{on}_ms"] = _median_ms(ours_fn, repeat)
                launch.UNROLLED_STATS = saved
                print(f"variant {row['dtype']} {case}: generated {row['generated_True_ms']:.3f} "
                      f"ms, reduce.cu {row['generated_False_ms']:.3f} ms")
            if k_variants:
                chooser = layout.reduce_K
                for k in (4, 8):
                    layout.reduce_K = lambda channels, k=k: k
                    ours_fn()
                    row[f"K{k}_ms"] = _median_ms(ours_fn, repeat)
                layout.reduce_K = chooser
                print(f"variant {row['dtype']} {case}: K=4 {row['K4_ms']:.3f} ms, "
                      f"K=8 {row['K8_ms']:.3f} ms")
            rows.append(row)
        del data
        cp.get_default_memory_pool().free_all_blocks()
    return rows


if __name__ == "__main__":
    sys.exit(main())
