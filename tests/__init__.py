"""Shared helpers for the test suite."""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager

import pytest


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


has_dask = _has("dask")
has_distributed = _has("distributed")
has_scipy = _has("scipy")
requires_dask = pytest.mark.skipif(not has_dask, reason="needs dask")
requires_distributed = pytest.mark.skipif(not has_distributed, reason="needs distributed")
requires_scipy = pytest.mark.skipif(not has_scipy, reason="needs scipy")


def cupy_with_a_device():
    """Import cupy for a GPU test module, or skip the whole module cleanly.

    Skips where cupy is not installed and where it is but no CUDA device (or driver) is
    there, as on CI.
    """
    cp = pytest.importorskip("cupy")
    try:
        ndev = cp.cuda.runtime.getDeviceCount()
    except Exception:  # no driver, or a driver with no device
        ndev = 0
    if ndev == 0:
        pytest.skip("needs a CUDA device", allow_module_level=True)
    return cp


class CountingScheduler:
    """A dask scheduler that counts how often it is asked to compute."""

    def __init__(self, max_computes: int = 0):
        self.count = 0
        self.max_computes = max_computes

    def __call__(self, dsk, keys, **kwargs):
        import dask

        self.count += 1
        if self.count > self.max_computes:
            raise RuntimeError(
                f"Too many computes. Total: {self.count} > max: {self.max_computes}."
            )
        return dask.get(dsk, keys, **kwargs)


@contextmanager
def raise_if_dask_computes(max_computes: int = 0):
    """Fail if dask computes anything (more than ``max_computes`` times) in the block."""
    import dask

    scheduler = CountingScheduler(max_computes)
    with dask.config.set(scheduler=scheduler):
        yield scheduler
