"""The array backends a behaviour test runs on: numpy, dask, cupy and dask+cupy.

A test asks for the ``backend`` fixture (``tests/conftest.py``) and runs once per backend;
one that holds only for some asks for them by name::

    @pytest.mark.parametrize("backend", backend_params("dask", "dask+cupy"), indirect=True)

The cupy parameters carry the ``gpu`` marker and skip, one by one, where cupy or a CUDA
device is missing; the dask ones skip without dask. Nothing here imports cupy or dask
before a test of theirs runs, so collection works everywhere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest

from . import has_dask

ALL = ("numpy", "dask", "cupy", "dask+cupy")
#: Backends whose results are numpy's to the bit: the same numba loops sum in the same order,
#: per dask chunk as on the whole array. The GPU sums in another order: contract bounds there.
SAME_BITS_AS_NUMPY = ("numpy", "dask")


@functools.lru_cache(maxsize=None)
def cupy_or_none():
    """cupy where it is installed and sees a CUDA device, else None (asked once)."""
    try:
        import cupy
    except ImportError:
        return None
    try:
        ndev = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no driver, or a driver with no device
        return None
    return cupy if ndev else None


def backend_params(*names):
    """``pytest.param`` entries for the named backends (all four by default), with marks."""
    params = []
    for name in names or ALL:
        if name not in ALL:
            raise ValueError(f"unknown backend {name!r}")
        marks = [pytest.mark.gpu] if "cupy" in name else []
        params.append(pytest.param(name, id=name, marks=marks))
    return params


#: Chunks far smaller than a reach cost seconds per call on CPU dask (hundreds of tasks);
#: the CPU's own dask tests pin those chunkings to numpy's bits instead.
CPU_DASK_SMALL = ((2, 3), (40, 1))


def lazy_chunk_params(chunkings):
    """``(backend, chunks)`` params: dask+cupy with every chunking, dask without the tiny ones
    of :data:`CPU_DASK_SMALL` (use with ``indirect=["backend"]``)."""
    params = []
    for b in backend_params("dask", "dask+cupy"):
        for c in chunkings:
            if b.id == "dask" and tuple(c) in CPU_DASK_SMALL:
                continue
            params.append(pytest.param(b.values[0], c, marks=b.marks,
                                       id=f"{b.id}-{'x'.join(map(str, c))}"))
    return params


def _default_chunks(shape):
    """Chunks that split the last two axes in about three (leading axes one by one)."""
    lead = (1,) * (len(shape) - 2)
    return lead + tuple(max(1, -(-n // 3)) for n in shape[-2:])


@dataclass(frozen=True)
class Backend:
    """One array backend: how to put test data on it and bring a result back.

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"dask"``, ``"cupy"`` or ``"dask+cupy"``.
    lazy : bool
        Results are dask arrays.
    gpu : bool
        Data lives on the CUDA device (cupy arrays or chunks).
    """

    name: str

    @property
    def lazy(self) -> bool:
        return self.name.startswith("dask")

    @property
    def gpu(self) -> bool:
        return "cupy" in self.name

    @property
    def same_bits_as_numpy(self) -> bool:
        return self.name in SAME_BITS_AS_NUMPY

    @property
    def xp(self):
        """The module of the chunks: numpy or cupy."""
        return cupy_or_none() if self.gpu else np

    @property
    def eager(self) -> Backend:
        """The same device without dask (numpy for dask, cupy for dask+cupy)."""
        return Backend("cupy" if self.gpu else "numpy")

    def to_backend(self, array, chunks=None):
        """``array`` (numpy) on this backend; ``chunks`` for the dask ones (default: a few)."""
        array = np.asarray(array)
        if self.gpu:
            array = self.xp.asarray(array)
        if not self.lazy:
            return array
        import dask.array as da

        chunks = _default_chunks(array.shape) if chunks is None else chunks
        return da.from_array(array, chunks=chunks, asarray=False)

    def check_type(self, result):
        """Assert ``result`` is what this backend returns: a numpy, cupy or lazy dask array
        (whose chunks are cupy arrays for dask+cupy), never computed behind the caller."""
        xp = self.xp
        if self.lazy:
            import dask.array as da

            assert isinstance(result, da.Array), type(result)
            assert isinstance(result._meta, xp.ndarray), type(result._meta)
        else:
            assert isinstance(result, xp.ndarray), type(result)
            if self.gpu:  # a cupy result stays on the device
                assert not isinstance(result, np.ndarray)
        return result

    def to_numpy(self, result):
        """``result`` (checked by :meth:`check_type`) computed and copied to the host."""
        self.check_type(result)
        if self.lazy:
            result = result.compute()
            assert isinstance(result, self.xp.ndarray), type(result)
        if self.gpu:
            result = result.get()
        assert isinstance(result, np.ndarray)
        return result

    def to_numpy_all(self, results):
        """A dict of results (as :meth:`to_numpy`), the lazy ones computed together."""
        for result in results.values():
            self.check_type(result)
        if self.lazy:
            import dask

            (results,) = dask.compute(dict(results))
        return {k: self.eager.to_numpy(v) for k, v in results.items()}


def make_backend(name):
    """The :class:`Backend` called ``name``, or a skip where it cannot run here."""
    if name.startswith("dask") and not has_dask:
        pytest.skip("needs dask")
    if "cupy" in name and cupy_or_none() is None:
        pytest.skip("needs cupy and a CUDA device")
    return Backend(name)
