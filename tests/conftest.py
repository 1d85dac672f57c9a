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


# --- hypothesis profiles -----------------------------------------------------------------
# "ci" (chosen when the CI environment variable is set, as CI services do): enough examples
# to matter, derandomised so a red build reproduces locally with the same profile, no
# per-example deadline (the first example pays numba's compile or cache load).
# "dev" (default elsewhere): fewer examples for a quick local loop.
# "thorough": for a deliberate hunt, `HYPOTHESIS_PROFILE=thorough python -m pytest ...`.
try:
    import os

    from hypothesis import HealthCheck, settings

    _common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
    settings.register_profile("ci", max_examples=200, derandomize=True, **_common)
    settings.register_profile("dev", max_examples=40, **_common)
    settings.register_profile("thorough", max_examples=1000, **_common)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
except ImportError:  # hypothesis is a test extra; test_properties.py skips without it
    pass


# --- backends ------------------------------------------------------------------------------
from .backends import backend_params, make_backend  # noqa: E402


@pytest.fixture(params=backend_params())
def backend(request):
    """The array backend of a behaviour test (``tests/backends.py``): numpy, dask, cupy or
    dask+cupy, each skipped on its own where it cannot run."""
    return make_backend(request.param)
