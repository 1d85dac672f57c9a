"""CUDA internals of the cupy backend: device plans, uploads, banded tiles, accumulation.

These pin how the GPU path is built, not what it computes (the behaviour tests run on
every backend in the feature files). They reach into private names of the cupy backend,
so they live here, in one GPU-only module: without cupy or a CUDA device it is skipped.
"""

from __future__ import annotations

import numpy as np
import pytest

from . import cupy_with_a_device

cp = cupy_with_a_device()

import xarray_focal as xf  # noqa: E402
from xarray_focal._backends import cupy as cupy_backend  # noqa: E402
from xarray_focal._backends.cupy import launch as cupy_launch  # noqa: E402
from xarray_focal._backends.cupy import layout as cupy_layout  # noqa: E402

from . import requires_dask  # noqa: E402
from .conftest import awkward_data  # noqa: E402
from .reference import (  # noqa: E402
    assert_close_to_numpy_backend,
    assert_matches_contract,
    assert_policy_accuracy,
    reference_nan_policy,
)

pytestmark = pytest.mark.gpu

STATS = list(xf.STATISTICS)


def _host(result):
    assert isinstance(result, cp.ndarray), type(result)  # results stay on the device
    return cp.asnumpy(result)


def test_float32_huge_dense_kernel_switches_to_float64_accumulation():
    from xarray_focal._algorithms.runs import describe

    kernel = np.random.default_rng(5).standard_normal((81, 81))
    data = awkward_data((50, 70), np.float32)
    dplan = cupy_launch.correlate_plan(
        describe(kernel), np.dtype(np.float32), cp.cuda.Device().id
    ).layout
    assert dplan.acc == np.float64 and dplan.units > cupy_layout.F32_UNITS_ALLOWED
    result = xf.correlate(cp.asarray(data), kernel, boundary="wrap")
    assert result.dtype == np.float32
    assert_matches_contract(_host(result), data, kernel, "wrap", 0.0)


def test_banded_tiles_match_for_correlate(monkeypatch):
    # A shared-memory budget this small forces bands of kernel rows and of columns.
    monkeypatch.setattr(cupy_layout, "SMEM_BUDGET", 64 * 40 * 8)
    monkeypatch.setattr(cupy_launch, "PLANS", cupy_launch.Cache(8))
    data = awkward_data((2, 90, 70), nan_fraction=0.02)
    for kernel in (xf.circle_kernel(1, 1, 9), np.random.default_rng(2).standard_normal((7, 45))):
        result = xf.correlate(cp.asarray(data), kernel, boundary="mirror")
        assert_matches_contract(_host(result), data, kernel, "mirror", 0.0)


def test_banded_tiles_match_for_statistics_and_policies(monkeypatch):
    # A shared-memory budget this small forces bands of footprint rows and of columns.
    monkeypatch.setattr(cupy_layout, "SMEM_BUDGET", 64 * 40 * 8)
    monkeypatch.setattr(cupy_launch, "PLANS", cupy_launch.Cache(8))
    data = awkward_data((2, 90, 70), nan_fraction=0.05)
    for fp in (xf.circle_kernel(1, 1, 9), np.ones((7, 45))):
        out = xf.focal_stats(cp.asarray(data), fp, STATS, boundary="mirror")
        cpu = xf.focal_stats(data, fp, STATS, boundary="mirror")
        for stat in STATS:
            assert_close_to_numpy_backend(_host(out[stat]), cpu[stat], stat)
        policy = xf.correlate(cp.asarray(data), fp * 0.5, boundary="mirror",
                              nan_policy="renormalize")
        assert_policy_accuracy(_host(policy),
                               reference_nan_policy(data, fp * 0.5, "renormalize", "mirror"),
                               data, fp * 0.5, "renormalize", "mirror")


def test_repeated_calls_do_not_reupload_weights():
    data = cp.asarray(awkward_data((67, 83)))  # two axes (sizes no other test uses): two maps
    kernel = xf.circle_kernel(1, 1, 4) * 0.37  # weights no other test uses
    before = dict(cupy_backend.UPLOADS)
    for _ in range(3):
        xf.correlate(data, kernel, boundary="nearest")
    assert cupy_backend.UPLOADS["weights"] == before["weights"] + 1
    assert cupy_backend.UPLOADS["index_maps"] == before["index_maps"] + 2
    # The same weights on float32 data are a new device layout, uploaded once more.
    xf.correlate(data.astype(cp.float32), kernel, boundary="nearest")
    xf.correlate(data.astype(cp.float32), kernel, boundary="nearest")
    assert cupy_backend.UPLOADS["weights"] == before["weights"] + 2


@requires_dask
def test_dask_cupy_chunks_reuse_the_device_weights():
    import dask.array as da

    kernel = xf.circle_kernel(1, 1, 5) * 0.61
    arr = da.from_array(cp.asarray(awkward_data((120, 130))), chunks=(30, 40), asarray=False)
    before = cupy_backend.UPLOADS["weights"]
    xf.correlate(arr, kernel, boundary="reflect").compute()
    xf.correlate(arr, kernel, boundary="reflect").compute()
    assert cupy_backend.UPLOADS["weights"] == before + 1
