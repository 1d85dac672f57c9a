import numpy as np
import pytest

import xarray_focal  # noqa: F401  (registers the accessor for doctests too)


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace["np"] = np


def awkward_data(shape, dtype=np.float64, *, nan_fraction=0.0, seed=0):
    """Random data of ``dtype`` with optional NaN holes (floats only)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = max(info.min, -1000), min(info.max, 1000)
        return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)
    data = (rng.standard_normal(shape) * 100 + 50).astype(dtype)
    if nan_fraction:
        data[rng.random(shape) < nan_fraction] = np.nan
    return data
