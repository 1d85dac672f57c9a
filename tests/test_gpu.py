"""The cupy backend (and dask+cupy) against the independent reference and the numpy backend.

Every test here needs cupy and a CUDA device; without either the whole module is skipped.
Results are compared with ``tests/reference.py`` through the accuracy contract (the GPU
sums in another order, so bit-equality with the CPU is not expected), and NaN patterns
must match exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from . import cupy_with_a_device

cp = cupy_with_a_device()

import xarray_focal as xf  # noqa: E402
from xarray_focal.backends import cupy as cupy_backend  # noqa: E402
from xarray_focal.backends.cupy import launch as cupy_launch  # noqa: E402
from xarray_focal.backends.cupy import layout as cupy_layout  # noqa: E402

from . import has_dask, requires_dask  # noqa: E402
from .conftest import awkward_data  # noqa: E402
from .reference import BOUNDARIES, assert_matches_contract  # noqa: E402

pytestmark = pytest.mark.gpu

KERNELS = {
    "circle3": xf.circle_kernel(1, 1, 3),
    "circle7": xf.circle_kernel(1, 1, 7),
    "annulus": xf.annulus_kernel(1, 1, 2, 1),
    "asym": np.array([[0.0, 1.5, -2.0], [0.25, 0.0, 0.0], [3.0, 0.0, 0.5]]),
    "row": np.array([[1.0, -1.0, 2.0, 0.0, 0.5]]),
    "col": np.array([[1.0], [0.0], [2.0]]),
    "delta": np.array([[1.0]]),
    "wide5x9": np.random.default_rng(3).standard_normal((5, 9)),
    # Runs of every length class for K in (4, 8, 16): short, exactly K, longer than K.
    "runs": np.array([[2.0] * 3 + [0.0] + [1.5] * 8 + [-1.0] * 17 + [0.0] * 2 + [0.5] * 4 + [0.0] * 2]),
}
DTYPES = [np.float64, np.float32, np.int16, np.uint8, np.int64, np.bool_]


def _on_gpu(data):
    return cp.asarray(data)


def _check(result, data, kernel, boundary, cval, **kw):
    assert isinstance(result, cp.ndarray)
    assert_matches_contract(cp.asnumpy(result), data, kernel, boundary, cval, **kw)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kname", sorted(KERNELS))
def test_cupy_matches_reference(boundary, kname):
    data = awkward_data((37, 61), nan_fraction=0.03)
    result = xf.correlate(_on_gpu(data), KERNELS[kname], boundary=boundary, cval=-3.5)
    _check(result, data, KERNELS[kname], boundary, -3.5)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_cupy_dtypes(dtype, boundary):
    data = awkward_data((23, 131), dtype)
    kernel = KERNELS["circle7"]
    result = xf.correlate(_on_gpu(data), kernel, boundary=boundary, cval=2)
    _check(result, data, kernel, boundary, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("radius", [7, 16])
def test_cupy_big_circle_equals_numpy_backend_within_contract(dtype, radius):
    data = awkward_data((150, 230), dtype, nan_fraction=0.001, seed=radius)
    kernel = xf.circle_kernel(1, 1, radius)
    gpu = xf.correlate(_on_gpu(data), kernel, boundary="reflect")
    cpu = xf.correlate(data, kernel, boundary="reflect")
    assert gpu.dtype == cpu.dtype
    _check(gpu, data, kernel, "reflect", 0.0)
    np.testing.assert_array_equal(np.isnan(cp.asnumpy(gpu)), np.isnan(cpu))


def test_float32_adversarial_magnitudes_stay_within_contract():
    # Huge values just outside a window must not leave rounding residue inside it
    # (running sums would): every window sum adds only its own values.
    data = np.ones((40, 300), np.float32)
    data[:, ::37] = 3e30
    kernel = xf.circle_kernel(1, 1, 16)
    _check(xf.correlate(_on_gpu(data), kernel, boundary="nearest"), data, kernel, "nearest", 0.0)


def test_float32_huge_dense_kernel_switches_to_float64_accumulation():
    from xarray_focal.algorithms.runs import describe

    kernel = np.random.default_rng(5).standard_normal((81, 81))
    data = awkward_data((50, 70), np.float32)
    dplan = cupy_launch.correlate_plan(
        describe(kernel), np.dtype(np.float32), cp.cuda.Device().id
    ).layout
    assert dplan.acc == np.float64 and dplan.units > cupy_layout.F32_UNITS_ALLOWED
    result = xf.correlate(_on_gpu(data), kernel, boundary="wrap")
    assert result.dtype == np.float32
    _check(result, data, kernel, "wrap", 0.0)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_cupy_convolve_flips(boundary):
    data = awkward_data((20, 25))
    kernel = KERNELS["asym"]
    result = xf.convolve(_on_gpu(data), kernel, boundary=boundary, cval=0.5)
    _check(result, data, kernel, boundary, 0.5, convolve=True)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (4, 1), (1, 7), (3, 3)])
def test_cupy_kernel_larger_than_array(boundary, shape):
    data = awkward_data(shape)
    kernel = np.random.default_rng(1).standard_normal((9, 11))
    _check(xf.correlate(_on_gpu(data), kernel, boundary=boundary, cval=4.0), data, kernel,
           boundary, 4.0)


def test_cupy_banded_tiles_match(monkeypatch):
    # A shared-memory budget this small forces bands of kernel rows and of columns.
    monkeypatch.setattr(cupy_layout, "SMEM_BUDGET", 64 * 40 * 8)
    monkeypatch.setattr(cupy_launch, "PLANS", cupy_launch.Cache(8))
    data = awkward_data((2, 90, 70), nan_fraction=0.02)
    for kernel in (xf.circle_kernel(1, 1, 9), np.random.default_rng(2).standard_normal((7, 45))):
        result = xf.correlate(_on_gpu(data), kernel, boundary="mirror")
        _check(result, data, kernel, "mirror", 0.0)


def test_cupy_annulus_centre_nan_does_not_propagate():
    data = np.arange(49.0).reshape(7, 7)
    data[3, 3] = np.nan
    ring = xf.annulus_kernel(1, 1, 1, 0)
    result = cp.asnumpy(xf.correlate(_on_gpu(data), ring))
    assert result[3, 3] == data[2, 3] + data[4, 3] + data[3, 2] + data[3, 4]
    assert np.isnan(result[2, 3]) and np.isnan(result[3, 4])


def test_cupy_nan_under_zero_weight_in_a_long_run_row():
    # Row 0: a long run with a zero tap in the middle; the NaN sits under that zero.
    kernel = np.zeros((3, 41))
    kernel[1, :] = 1.0
    kernel[1, 20] = 0.0
    data = np.ones((5, 60))
    data[2, 30] = np.nan
    result = cp.asnumpy(xf.correlate(_on_gpu(data), kernel, boundary="nearest"))
    assert result[2, 30] == 40.0  # the NaN is exactly under the zero tap
    assert np.isnan(result[2, 31]) and np.isnan(result[2, 29])
    _check(xf.correlate(_on_gpu(data), kernel, boundary="nearest"), data, kernel, "nearest", 0)


def test_cupy_inf_is_a_value():
    data = np.ones((5, 40))
    data[3, 3] = np.inf
    result = cp.asnumpy(xf.correlate(_on_gpu(data), np.ones((3, 19)), boundary="nearest"))
    assert result[3, 0] == np.inf and result[4, 12] == np.inf
    assert result[0, 30] == 57.0
    assert np.isnan(result).sum() == 0


def test_cupy_nd_cube_is_one_launch_per_call():
    data = awkward_data((2, 3, 17, 19), nan_fraction=0.05)
    kernel = KERNELS["asym"]
    result = xf.correlate(_on_gpu(data), kernel, boundary="reflect")
    assert result.shape == data.shape
    _check(result, data, kernel, "reflect", 0.0)


def test_cupy_non_contiguous_input_and_no_aliasing():
    base = awkward_data((40, 50), nan_fraction=0.1)
    gbase = _on_gpu(base)
    before = gbase.copy()
    view = gbase[::-1, ::2]
    result = xf.correlate(view, KERNELS["asym"], boundary="wrap")
    _check(result, base[::-1, ::2], KERNELS["asym"], "wrap", 0.0)
    cp.testing.assert_array_equal(gbase, before)
    assert not cp.shares_memory(result, gbase)


def test_repeated_calls_do_not_reupload_weights():
    data = _on_gpu(awkward_data((67, 83)))  # two axes (sizes no other test uses): two maps
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


def test_accessor_keeps_labels_with_cupy_data():
    import xarray as xr

    data = awkward_data((3, 30, 40))
    da = xr.DataArray(
        _on_gpu(data), dims=("time", "y", "x"), name="dem", attrs={"units": "m"},
        coords={"time": [1, 2, 3], "y": np.arange(30) * -30.0, "x": np.arange(40) * 30.0},
    )
    kernel = da.focal.circle_kernel("60 m")
    result = da.focal.convolve(kernel, boundary="nearest")
    assert isinstance(result.data, cp.ndarray)
    assert result.dims == da.dims and result.name == "dem" and result.attrs == da.attrs
    xr.testing.assert_identical(result.coords.to_dataset(), da.coords.to_dataset())
    _check(result.data, data, kernel, "nearest", 0.0, convolve=True)


# --- dask + cupy ---------------------------------------------------------------------

dask_chunkings = [(7, 9), (2, 3), (40, 1), (13, 61), (37, 61)] if has_dask else []


@requires_dask
@pytest.mark.parametrize("chunks", dask_chunkings)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_dask_cupy_matches_reference(boundary, chunks):
    import dask.array as da

    data = awkward_data((37, 61), nan_fraction=0.02)
    kernel = KERNELS["wide5x9"]
    arr = da.from_array(_on_gpu(data), chunks=chunks, asarray=False)
    result = xf.correlate(arr, kernel, boundary=boundary, cval=7.0)
    assert isinstance(result, da.Array) and isinstance(result._meta, cp.ndarray)
    assert result.chunks == arr.chunks
    computed = result.compute()
    assert isinstance(computed, cp.ndarray)
    _check(computed, data, kernel, boundary, 7.0)


@requires_dask
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_], ids=lambda d: np.dtype(d).name)
def test_dask_cupy_dtypes_and_nd(dtype):
    import dask.array as da

    data = awkward_data((2, 30, 40), dtype)
    arr = da.from_array(_on_gpu(data), chunks=(1, 11, 13), asarray=False)
    kernel = KERNELS["circle3"]
    result = xf.correlate(arr, kernel, boundary="reflect")
    expected = np.float32 if dtype == np.float32 else np.float64
    assert result.dtype == expected and result._meta.dtype == expected
    _check(result.compute(), data, kernel, "reflect", 0.0)


@requires_dask
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_dask_cupy_kernel_larger_than_chunks_and_array(boundary):
    import dask.array as da

    data = awkward_data((6, 9))
    kernel = np.random.default_rng(4).standard_normal((15, 21))
    arr = da.from_array(_on_gpu(data), chunks=(2, 4), asarray=False)
    result = xf.correlate(arr, kernel, boundary=boundary, cval=1.0)
    assert result.chunks == arr.chunks
    _check(result.compute(), data, kernel, boundary, 1.0)


@requires_dask
def test_dask_cupy_is_lazy_and_chunks_stay_cupy():
    import dask.array as da

    from . import raise_if_dask_computes

    data = awkward_data((200, 300))
    arr = da.from_array(_on_gpu(data), chunks=(50, 60), asarray=False)
    with raise_if_dask_computes():
        result = xf.correlate(arr, KERNELS["circle7"], boundary="wrap")
    assert isinstance(result._meta, cp.ndarray)
    blocks = result.to_delayed().ravel()
    assert all(isinstance(b.compute(), cp.ndarray) for b in blocks[:3])
    _check(result.compute(), data, KERNELS["circle7"], "wrap", 0.0)


@requires_dask
def test_dask_cupy_accessor_keeps_labels_and_laziness():
    import dask.array as da
    import xarray as xr

    from . import raise_if_dask_computes

    data = awkward_data((2, 40, 50), np.float32)
    arr = da.from_array(_on_gpu(data), chunks=(1, 20, 25), asarray=False)
    obj = xr.DataArray(arr, dims=("t", "y", "x"), attrs={"a": 1}, name="v")
    with raise_if_dask_computes():
        result = obj.focal.correlate(KERNELS["annulus"], boundary="nan")
    assert isinstance(result.data, da.Array) and result.data.chunks == arr.chunks
    assert result.attrs == {"a": 1} and result.name == "v"
    _check(result.data.compute(), data, KERNELS["annulus"], "nan", 0.0)


@requires_dask
def test_dask_cupy_chunks_reuse_the_device_weights():
    import dask.array as da

    kernel = xf.circle_kernel(1, 1, 5) * 0.61
    arr = da.from_array(_on_gpu(awkward_data((120, 130))), chunks=(30, 40), asarray=False)
    before = cupy_backend.UPLOADS["weights"]
    xf.correlate(arr, kernel, boundary="reflect").compute()
    xf.correlate(arr, kernel, boundary="reflect").compute()
    assert cupy_backend.UPLOADS["weights"] == before + 1


def test_cupy_float16_is_read_exactly_and_returned_as_float32():
    data = (np.random.default_rng(0).standard_normal((40, 33)) * 100).astype(np.float16)
    result = xf.correlate(_on_gpu(data), KERNELS["circle3"], boundary="reflect")
    assert result.dtype == np.float32
    _check(result, data.astype(np.float32), KERNELS["circle3"], "reflect", 0.0)
    stats = xf.focal_stats(_on_gpu(data), KERNELS["circle3"], ("mean", "max"))
    assert {k: v.dtype for k, v in stats.items()} == {"mean": np.float32, "max": np.float32}
    np.testing.assert_array_equal(cp.asnumpy(stats["max"]),
                                  xf.focal_max(data, KERNELS["circle3"]))


def test_cupy_refusals_are_the_array_apis():
    # The call-time checks of the array API hold for cupy input too.
    with pytest.raises(xf.FocalValueError, match="min_count"):
        xf.focal_mean(_on_gpu(np.ones((9, 9))), KERNELS["circle3"], min_count=100)
    with pytest.raises(xf.FocalValueError, match="renormalize"):
        xf.correlate(_on_gpu(np.ones((9, 9))), np.array([[1.0, -2.0, 1.0]]), nan_policy="renormalize")
