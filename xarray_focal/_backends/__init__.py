"""Backends: one module (for cupy, a package) per array library, each with the same functions.

``correlate(data, kernel, method, boundary, fill)``
    the whole array (last two axes spatial). ``kernel`` is the kernel's one description,
    :class:`~xarray_focal._algorithms.runs.KernelRuns`; each backend derives its own layout
    from it (the numpy backend a CPU plan for ``method``, the cupy backend its CUDA bands).
``correlate_tile(tile, kernel, method, fill, *, parallel)``
    one :class:`~xarray_focal._tiles.Tile`: a chunk, the halo strips of its neighbours and
    the index maps that say where each padded coordinate reads from. The dask backend
    calls this per chunk on whichever backend owns the chunk type, so dask+numpy and
    dask+cupy share one wrapper. ``reduce``/``reduce_tile`` do the same for the NaN-aware
    statistics (with a :class:`~xarray_focal._contract.Reduction` after ``fill``).

:func:`backend_for` picks the module from the array (chunk) type. Optional libraries are
imported only when an array of theirs shows up.
"""

from __future__ import annotations

import sys
from types import ModuleType

import numpy as np

from ..errors import FocalTypeError

__all__ = ["backend_for", "chunk_backend_for", "is_dask_array", "is_cupy_array"]


def is_dask_array(data: object) -> bool:
    """True for a dask array (without importing dask when nobody else has)."""
    mod = sys.modules.get("dask.array")
    return mod is not None and isinstance(data, mod.Array)


def is_cupy_array(data: object) -> bool:
    """True for a cupy ndarray (without importing cupy when nobody else has)."""
    mod = sys.modules.get("cupy")
    return mod is not None and isinstance(data, mod.ndarray)


def chunk_backend_for(chunk: object) -> ModuleType:
    """Backend module that computes on in-memory arrays of ``chunk``'s type."""
    if isinstance(chunk, np.ndarray) and not isinstance(chunk, np.ma.MaskedArray):
        from . import numpy_backend

        return numpy_backend
    if is_cupy_array(chunk):
        from . import cupy

        return cupy
    if isinstance(chunk, np.ma.MaskedArray):
        raise FocalTypeError(
            "masked arrays are not supported: fill masked cells with NaN first "
            "(data.filled(np.nan))"
        )
    raise FocalTypeError(
        f"unsupported array type {type(chunk).__module__}.{type(chunk).__name__}; "
        "xarray-focal works on numpy, dask and cupy arrays"
    )


def backend_for(data: object) -> ModuleType:
    """Backend module for ``data``: dask arrays go to the dask wrapper, others by type."""
    if is_dask_array(data):
        chunk_backend_for(data._meta)  # fail now, not at compute time, on bad chunk types
        from . import dask_backend

        return dask_backend
    return chunk_backend_for(data)
