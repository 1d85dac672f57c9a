"""correlate/convolve against the independent reference, on every backend.

Each test runs on numpy, dask, cupy and dask+cupy (the ``backend`` fixture, skipping where
one is missing) unless it names the backends its behaviour belongs to. Results meet the
accuracy contract of ``tests/reference.py`` with NaN patterns exact; where a backend sums
in numpy's order (``backend.same_bits_as_numpy``) the tests also ask for numpy's bits.
"""

from __future__ import annotations

import numpy as np
import pytest

import xarray_focal as xf

from . import has_dask, raise_if_dask_computes, requires_dask, requires_scipy
from .backends import backend_params
from .conftest import awkward_data
from .kernels import CORRELATE, KERNELS
from .reference import BOUNDARIES, assert_matches_contract

DTYPES = [np.float64, np.float32, np.int16, np.uint8, np.int64, np.bool_]
EAGER = backend_params("numpy", "cupy")
LAZY = backend_params("dask", "dask+cupy")

# (2, 4): chunks exactly as long as the reach of "wide5x9" (ry=2, rx=4), so "mirror" at an
# edge reads the neighbour's first row; (19, 31): two chunks per axis, so with "wrap" the
# chunk before and the chunk after are the same one; (37, 61): one chunk.
dask_chunkings = ([(7, 9), (2, 3), (40, 1), (13, 61), (2, 4), (19, 31), (37, 61)]
                  if has_dask else [])


def _contract(backend, result, data, kernel, boundary="nan", cval=0.0, **kw):
    assert_matches_contract(backend.to_numpy(result), data, kernel, boundary, cval, **kw)


@pytest.mark.parametrize("nan_fraction", [0.0, 0.03])
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kname", CORRELATE)
def test_matches_reference(backend, boundary, kname, nan_fraction):
    data = awkward_data((37, 61), nan_fraction=nan_fraction)
    result = xf.correlate(backend.to_backend(data), KERNELS[kname], boundary=boundary, cval=-3.5)
    _contract(backend, result, data, KERNELS[kname], boundary, -3.5)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kname,shape", [("asym", (23, 31)), ("circle7", (23, 131))])
def test_dtypes(backend, dtype, boundary, kname, shape):
    data = awkward_data(shape, dtype)
    kernel = KERNELS[kname]
    result = xf.correlate(backend.to_backend(data), kernel, boundary=boundary, cval=2)
    _contract(backend, result, data, kernel, boundary, 2)


@requires_scipy
@pytest.mark.parametrize(
    "boundary,scipy_mode",
    [("nearest", "nearest"), ("reflect", "reflect"), ("mirror", "mirror"),
     ("wrap", "wrap"), ("constant", "constant")],
)
@pytest.mark.parametrize("kname", ["circle3", "asym", "wide5x9"])
def test_matches_scipy_on_nan_free_data(boundary, scipy_mode, kname):
    from scipy import ndimage

    data = awkward_data((2, 29, 41))
    kernel = KERNELS[kname]
    result = xf.correlate(data, kernel, boundary=boundary, cval=1.25)
    for b in range(2):
        expected = ndimage.correlate(data[b], kernel, mode=scipy_mode, cval=1.25)
        scale = ndimage.correlate(np.abs(data[b]), np.abs(kernel), mode=scipy_mode, cval=1.25)
        assert np.all(np.abs(result[b] - expected) <= 1e-12 * scale)
        expected_conv = ndimage.convolve(data[b], kernel, mode=scipy_mode, cval=1.25)
        conv = xf.convolve(data[b], kernel, boundary=boundary, cval=1.25)
        assert np.all(np.abs(conv - expected_conv) <= 1e-12 * scale[::-1, ::-1].max())


@requires_scipy
def test_nan_boundary_equals_scipy_constant_nan_for_full_kernels():
    from scipy import ndimage

    data = awkward_data((30, 30))
    kernel = np.full((5, 3), 0.5)
    expected = ndimage.correlate(data, kernel, mode="constant", cval=np.nan)
    np.testing.assert_allclose(xf.correlate(data, kernel), expected, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("radius", [7, 16])
def test_big_circle_meets_the_contract_with_numpys_nan_pattern(backend, dtype, radius):
    data = awkward_data((150, 230), dtype, nan_fraction=0.001, seed=radius)
    kernel = xf.circle_kernel(1, 1, radius)
    result = backend.to_numpy(xf.correlate(backend.to_backend(data), kernel, boundary="reflect"))
    cpu = xf.correlate(data, kernel, boundary="reflect")
    assert result.dtype == cpu.dtype
    assert_matches_contract(result, data, kernel, "reflect", 0.0)
    np.testing.assert_array_equal(np.isnan(result), np.isnan(cpu))


def test_float32_adversarial_magnitudes_stay_within_contract(backend):
    # Huge values just outside a window must not leave rounding residue inside it
    # (running sums would): every window sum adds only its own values.
    data = np.ones((40, 300), np.float32)
    data[:, ::37] = 3e30
    kernel = xf.circle_kernel(1, 1, 16)
    result = xf.correlate(backend.to_backend(data), kernel, boundary="nearest")
    _contract(backend, result, data, kernel, "nearest", 0.0)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_convolve_is_correlate_with_flipped_kernel(backend, boundary):
    data = awkward_data((20, 25))
    kernel = KERNELS["asym"]
    result = backend.to_numpy(xf.convolve(backend.to_backend(data), kernel, boundary=boundary,
                                          cval=0.5))
    assert_matches_contract(result, data, kernel, boundary, 0.5, convolve=True)
    flipped = xf.correlate(backend.to_backend(data), kernel[::-1, ::-1], boundary=boundary,
                           cval=0.5)
    np.testing.assert_array_equal(result, backend.to_numpy(flipped))


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (4, 1), (1, 7), (3, 3)])
def test_kernel_larger_than_array(backend, boundary, shape):
    data = awkward_data(shape)
    kernel = np.random.default_rng(1).standard_normal((9, 11))
    result = xf.correlate(backend.to_backend(data), kernel, boundary=boundary, cval=4.0)
    _contract(backend, result, data, kernel, boundary, 4.0)


def test_annulus_centre_nan_does_not_propagate(backend):
    data = np.arange(49.0).reshape(7, 7)
    data[3, 3] = np.nan
    ring = xf.annulus_kernel(1, 1, 1, 0)  # the 4 neighbours, centre excluded
    result = backend.to_numpy(xf.correlate(backend.to_backend(data), ring))
    assert result[3, 3] == data[2, 3] + data[4, 3] + data[3, 2] + data[3, 4]
    # ...but the cells that have the NaN *in* their ring are NaN.
    assert np.isnan(result[2, 3]) and np.isnan(result[3, 4])
    assert np.isnan(result[2, 2]) is np.False_


def test_zero_border_of_kernel_reads_nothing_outside():
    # The footprint is only the centre tap: with boundary="nan" no edge cell becomes NaN.
    kernel = np.zeros((5, 5))
    kernel[2, 2] = 2.0
    data = awkward_data((6, 8))
    np.testing.assert_array_equal(xf.correlate(data, kernel), 2.0 * data)


def test_nan_propagates_to_exactly_the_footprint():
    data = np.ones((9, 9))
    data[4, 4] = np.nan
    kernel = xf.circle_kernel(1, 1, 2)
    result = xf.correlate(data, kernel, boundary="nearest")
    expected_nan = np.zeros((9, 9), bool)
    expected_nan[2:7, 2:7] = kernel[::-1, ::-1] > 0
    np.testing.assert_array_equal(np.isnan(result), expected_nan)


def test_nan_under_zero_weight_in_a_long_run_row(backend):
    # Row 1: a long run with a zero tap in the middle; the NaN sits under that zero.
    kernel = np.zeros((3, 41))
    kernel[1, :] = 1.0
    kernel[1, 20] = 0.0
    data = np.ones((5, 60))
    data[2, 30] = np.nan
    result = backend.to_numpy(xf.correlate(backend.to_backend(data), kernel, boundary="nearest"))
    assert result[2, 30] == 40.0  # the NaN is exactly under the zero tap
    assert np.isnan(result[2, 31]) and np.isnan(result[2, 29])
    assert_matches_contract(result, data, kernel, "nearest", 0)


def test_inf_is_a_value(backend):
    def run(data, kernel):
        return backend.to_numpy(xf.correlate(backend.to_backend(data), kernel,
                                             boundary="nearest"))

    data = np.ones((5, 5))
    data[3, 3] = np.inf
    data[0, 0] = -np.inf
    result = run(data, np.ones((3, 3)))
    assert result[3, 3] == np.inf and result[4, 4] == np.inf  # windows that see +inf only
    assert result[0, 1] == -np.inf and result[1, 1] == -np.inf  # windows that see -inf only
    assert result[2, 0] == 9.0  # sees neither
    assert np.isnan(result).sum() == 0
    # +inf and -inf in one window: inf - inf is NaN, as in plain arithmetic.
    data[2, 2] = -np.inf
    assert np.isnan(run(data, np.ones((3, 3)))[3, 3])
    # Long rows (runs longer than any GPU run length).
    data = np.ones((5, 40))
    data[3, 3] = np.inf
    result = run(data, np.ones((3, 19)))
    assert result[3, 0] == np.inf and result[4, 12] == np.inf
    assert result[0, 30] == 57.0
    assert np.isnan(result).sum() == 0


def test_nd_cube_broadcasts_over_leading_axes(backend):
    data = awkward_data((2, 3, 17, 19), nan_fraction=0.05)
    kernel = KERNELS["asym"]
    arr = backend.to_backend(data)
    result = backend.to_numpy(xf.correlate(arr, kernel, boundary="reflect"))
    assert result.shape == data.shape
    assert_matches_contract(result, data, kernel, "reflect")
    for t in range(2):
        for b in range(3):
            np.testing.assert_array_equal(
                result[t, b], backend.to_numpy(xf.correlate(arr[t, b], kernel, boundary="reflect"))
            )


@pytest.mark.parametrize("backend", EAGER, indirect=True)
@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided", "negative",
                                    "flipped_rows"])
def test_non_contiguous_input_and_no_aliasing(backend, layout):
    xp = backend.xp
    base = awkward_data((40, 50), nan_fraction=0.1)
    views = {
        "fortran": lambda a, lib: lib.asfortranarray(a),
        "transposed": lambda a, lib: a.T,
        "strided": lambda a, lib: a[::2, ::3],
        "negative": lambda a, lib: a[::-1, ::-2],
        "flipped_rows": lambda a, lib: a[::-1, ::2],
    }
    on_device = backend.to_backend(base)
    before = on_device.copy()
    view = views[layout](on_device, xp)
    kernel = KERNELS["asym"]
    result = xf.correlate(view, kernel, boundary="wrap")
    assert_matches_contract(backend.to_numpy(result), views[layout](base, np), kernel, "wrap")
    xp.testing.assert_array_equal(on_device, before)
    assert not xp.shares_memory(result, on_device)


def test_big_endian_and_readonly_input():
    data = awkward_data((20, 20)).astype(">f8")
    data.flags.writeable = False
    result = xf.correlate(data, KERNELS["circle3"], boundary="nearest")
    assert result.dtype == np.float64 and result.dtype.isnative
    assert_matches_contract(result, data.astype("<f8"), KERNELS["circle3"], "nearest")


def test_inputs_are_not_modified_and_output_does_not_alias():
    data = awkward_data((15, 15), nan_fraction=0.1)
    kernel = KERNELS["asym"].copy()
    data_before, kernel_before = data.copy(), kernel.copy()
    result = xf.convolve(data, kernel, boundary="nan")
    np.testing.assert_array_equal(data, data_before)
    np.testing.assert_array_equal(kernel, kernel_before)
    assert not np.shares_memory(result, data)


def test_empty_arrays():
    for shape in [(0, 5), (5, 0), (3, 0, 4)]:
        result = xf.correlate(np.zeros(shape, np.float32), np.ones((3, 3)))
        assert result.shape == shape and result.dtype == np.float32


def test_accessor_keeps_labels(backend):
    import xarray as xr

    data = awkward_data((3, 30, 40))
    da = xr.DataArray(
        backend.to_backend(data, chunks=(1, 11, 13)), dims=("time", "y", "x"), name="dem",
        attrs={"units": "m"},
        coords={"time": [1, 2, 3], "y": np.arange(30) * -30.0, "x": np.arange(40) * 30.0},
    )
    kernel = da.focal.circle_kernel("60 m")
    result = da.focal.convolve(kernel, boundary="nearest")
    assert result.dims == da.dims and result.name == "dem" and result.attrs == da.attrs
    xr.testing.assert_identical(result.coords.to_dataset(), da.coords.to_dataset())
    _contract(backend, result.data, data, kernel, "nearest", 0.0, convolve=True)


# --- chunked (dask, dask+cupy) -------------------------------------------------------------


@pytest.mark.parametrize("backend", LAZY, indirect=True)
@pytest.mark.parametrize("chunks", dask_chunkings)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_chunked_matches_reference(backend, boundary, chunks):
    data = awkward_data((37, 61), nan_fraction=0.02)
    kernel = KERNELS["wide5x9"]
    arr = backend.to_backend(data, chunks=chunks)
    result = xf.correlate(arr, kernel, boundary=boundary, cval=7.0)
    assert result.chunks == arr.chunks
    assert result.dtype == np.float64
    computed = backend.to_numpy(result)
    assert_matches_contract(computed, data, kernel, boundary, 7.0)
    if backend.same_bits_as_numpy:
        np.testing.assert_array_equal(
            computed, xf.correlate(data, kernel, boundary=boundary, cval=7.0))


@pytest.mark.parametrize("backend", LAZY, indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_], ids=lambda d: np.dtype(d).name)
def test_dask_dtypes_and_nd(backend, dtype):
    data = awkward_data((2, 30, 40), dtype)
    arr = backend.to_backend(data, chunks=(1, 11, 13))
    result = xf.correlate(arr, KERNELS["circle3"], boundary="reflect")
    expected = np.float32 if dtype == np.float32 else np.float64
    assert result.dtype == expected and result._meta.dtype == expected
    computed = backend.to_numpy(result)
    assert computed.dtype == expected
    assert_matches_contract(computed, data, KERNELS["circle3"], "reflect")


@pytest.mark.parametrize("backend", LAZY, indirect=True)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_dask_kernel_larger_than_array_and_chunks(backend, boundary):
    data = awkward_data((6, 9))
    kernel = np.random.default_rng(4).standard_normal((15, 21))
    arr = backend.to_backend(data, chunks=(2, 4))
    result = xf.correlate(arr, kernel, boundary=boundary, cval=1.0)
    assert result.chunks == arr.chunks
    _contract(backend, result, data, kernel, boundary, 1.0)


@requires_dask
def test_dask_small_chunks_rechunk_only_the_axis_that_needs_it():
    import dask.array as da

    arr = da.zeros((100, 100), chunks=(3, 50))
    result = xf.correlate(arr, np.ones((9, 1)))  # ry=4 > 3, rx=0
    # Nothing in the graph rechunks the x axis, and the final chunks are the input's.
    assert result.chunks == arr.chunks
    merged = [k for k in result.dask.layers if k.startswith("rechunk-merge")]
    assert merged, "small y chunks should have been merged"


@requires_dask
def test_dask_task_names_and_laziness():
    import dask.array as da

    arr = da.random.random((200, 300), chunks=(50, 60))
    with raise_if_dask_computes():
        result = xf.correlate(arr, KERNELS["circle3"], boundary="reflect")
    assert result.name.startswith("focal-")
    # The same call twice gives the same graph key (deterministic tokens)...
    assert xf.correlate(arr, KERNELS["circle3"], boundary="reflect").name == result.name
    # ...and other options give other keys.
    assert xf.correlate(arr, KERNELS["circle3"], boundary="wrap").name != result.name
    assert xf.convolve(arr, KERNELS["asym"]).name != xf.correlate(arr, KERNELS["asym"]).name


@pytest.mark.parametrize("backend", LAZY, indirect=True)
def test_dask_is_lazy_and_chunks_stay_on_the_device(backend):
    data = awkward_data((200, 300))
    arr = backend.to_backend(data, chunks=(50, 60))
    with raise_if_dask_computes():
        result = xf.correlate(arr, KERNELS["circle7"], boundary="wrap")
    backend.check_type(result)
    blocks = result.to_delayed().ravel()
    assert all(isinstance(b.compute(), backend.xp.ndarray) for b in blocks[:3])
    _contract(backend, result, data, KERNELS["circle7"], "wrap", 0.0)


@pytest.mark.parametrize("backend", LAZY, indirect=True)
def test_dask_accessor_keeps_labels_and_laziness(backend):
    import dask.array as da
    import xarray as xr

    data = awkward_data((2, 40, 50), np.float32)
    arr = backend.to_backend(data, chunks=(1, 20, 25))
    obj = xr.DataArray(arr, dims=("t", "y", "x"), attrs={"a": 1}, name="v")
    with raise_if_dask_computes():
        result = obj.focal.correlate(KERNELS["annulus"], boundary="nan")
    assert isinstance(result.data, da.Array) and result.data.chunks == arr.chunks
    assert result.attrs == {"a": 1} and result.name == "v"
    _contract(backend, result.data, data, KERNELS["annulus"], "nan", 0.0)
