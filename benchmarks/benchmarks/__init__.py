"""asv benchmarks for xarray-focal, and the helpers every benchmark module shares.

Run from ``benchmarks/`` with ``asv run --python=same`` (see the README's development
section). ``tests/test_asv.py`` runs every benchmark once on its first parameter set with
:data:`SIZE_LIMIT` lowered, so the suite cannot rot between asv runs.

Conventions
-----------
- Parameters are listed smallest first: the smoke test only runs the first set.
- ``setup`` builds the input *and* runs the same call once on a small array of the same
  backend and dtype, so numba's compile (or disk-cache load) is never timed.
- A benchmark that cannot run here -- no cupy or no GPU, or a parameter set that does not
  apply (``method="separable"`` on a circle) -- raises ``NotImplementedError`` from
  ``setup``, which asv reports as skipped.
"""

from __future__ import annotations

import importlib
import math

import numpy as np

__all__ = [
    "BACKENDS",
    "SIZE_LIMIT",
    "as_backend",
    "finish",
    "random_raster",
    "require_module",
    "side",
]

#: The array libraries a benchmark can run on; cupy skips itself where there is no GPU.
BACKENDS = ("numpy", "dask", "cupy")

#: Largest raster side the benchmarks build; ``None`` for the sizes as written. The smoke
#: test lowers it so every benchmark runs in milliseconds.
SIZE_LIMIT: int | None = None


def side(n: int) -> int:
    """Raster side actually used for a nominal side ``n`` (capped by :data:`SIZE_LIMIT`)."""
    return n if SIZE_LIMIT is None else min(n, SIZE_LIMIT)


def require_module(name: str):
    """Import ``name`` or skip the benchmark (asv's skip is ``NotImplementedError``)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise NotImplementedError(f"{name} is not installed") from exc


def random_raster(n: int, dtype: str = "float64", *, nan_fraction: float = 0.0, seed: int = 0):
    """An ``n x n`` (capped by :func:`side`) standard-normal raster with optional NaN holes."""
    n = side(n)
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n, n))
    if nan_fraction:
        data[rng.random((n, n)) < nan_fraction] = np.nan
    return data.astype(dtype)


def _require_gpu():
    cupy = require_module("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise NotImplementedError("no CUDA device")
    except cupy.cuda.runtime.CUDARuntimeError as exc:
        raise NotImplementedError(f"no usable CUDA device: {exc}") from exc
    return cupy


def as_backend(data: np.ndarray, backend: str, *, chunks: int | None = None):
    """Move ``data`` to ``backend``; dask defaults to 2x2 chunks (4 chunks, one per quadrant).

    Raises ``NotImplementedError`` (asv: skip) when the backend's library or device is missing.
    """
    if backend == "numpy":
        return data
    if backend == "dask":
        da = require_module("dask.array")
        if chunks is None:
            chunks = max(1, math.ceil(data.shape[-1] / 2))
        return da.from_array(data, chunks=chunks)
    if backend == "cupy":
        return _require_gpu().asarray(data)
    raise ValueError(f"unknown backend {backend!r}")


def finish(result):
    """Make ``result`` concrete so its cost is inside the timing: compute dask, sync the GPU.

    Accepts arrays, DataArrays and Datasets.
    """
    data = getattr(result, "data", result)
    if hasattr(result, "compute") and type(data).__module__.startswith("dask"):
        result = result.compute()
        data = getattr(result, "data", result)
    if type(data).__module__.split(".")[0] == "cupy":
        import cupy

        cupy.cuda.get_current_stream().synchronize()
    return result


def warm_correlate(backend: str, dtype: str, kernel, **kwargs) -> None:
    """Run ``correlate`` once on a small array so compiling is not part of any timing.

    Also the place where a backend that cannot run here (cupy missing or unusable) turns
    into a skip.
    """
    import xarray_focal as xf

    small = as_backend(random_raster(64, dtype), backend, chunks=32)
    try:
        finish(xf.correlate(small, kernel, **kwargs))
    except (ImportError, xf.FocalTypeError) as exc:
        if backend == "numpy":
            raise
        raise NotImplementedError(f"xarray_focal cannot run on {backend} here: {exc}") from exc
