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
