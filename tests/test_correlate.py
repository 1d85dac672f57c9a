"""Array-level correlate/convolve against the independent reference, on numpy and dask."""

from __future__ import annotations

import numpy as np
import pytest

import xarray_focal as xf

from . import has_dask, requires_dask, requires_scipy
from .conftest import awkward_data
from .reference import BOUNDARIES, assert_matches_contract

KERNELS = {
    "circle3": xf.circle_kernel(1, 1, 3),
    "annulus": xf.annulus_kernel(1, 1, 2, 1),
    "asym": np.array([[0.0, 1.5, -2.0], [0.25, 0.0, 0.0], [3.0, 0.0, 0.5]]),
    "row": np.array([[1.0, -1.0, 2.0, 0.0, 0.5]]),
    "col": np.array([[1.0], [0.0], [2.0]]),
    "delta": np.array([[1.0]]),
    "wide5x9": np.random.default_rng(3).standard_normal((5, 9)),
}
DTYPES = [np.float64, np.float32, np.int16, np.uint8, np.int64, np.bool_]

# (2, 4): chunks exactly as long as the reach of "wide5x9" (ry=2, rx=4), so "mirror" at an
# edge reads the neighbour's first row; (19, 31): two chunks per axis, so with "wrap" the
# chunk before and the chunk after are the same one.
dask_chunkings = [(7, 9), (2, 3), (40, 1), (13, 61), (2, 4), (19, 31)] if has_dask else []


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kname", sorted(KERNELS))
def test_numpy_matches_reference(boundary, kname):
    data = awkward_data((37, 61))
    result = xf.correlate(data, KERNELS[kname], boundary=boundary, cval=-3.5)
    assert_matches_contract(result, data, KERNELS[kname], boundary, -3.5)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_dtypes(dtype, boundary):
    data = awkward_data((23, 31), dtype)
    kernel = KERNELS["asym"]
    result = xf.correlate(data, kernel, boundary=boundary, cval=2)
    assert_matches_contract(result, data, kernel, boundary, 2)


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


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_convolve_is_correlate_with_flipped_kernel(boundary):
    data = awkward_data((20, 25))
    kernel = KERNELS["asym"]
    result = xf.convolve(data, kernel, boundary=boundary, cval=0.5)
    assert_matches_contract(result, data, kernel, boundary, 0.5, convolve=True)
    flipped = xf.correlate(data, kernel[::-1, ::-1], boundary=boundary, cval=0.5)
    np.testing.assert_array_equal(result, flipped)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (4, 1), (1, 7), (3, 3)])
def test_kernel_larger_than_array(boundary, shape):
    data = awkward_data(shape)
    kernel = np.random.default_rng(1).standard_normal((9, 11))
    result = xf.correlate(data, kernel, boundary=boundary, cval=4.0)
    assert_matches_contract(result, data, kernel, boundary, 4.0)


def test_annulus_centre_nan_does_not_propagate():
    data = np.arange(49.0).reshape(7, 7)
    data[3, 3] = np.nan
    ring = xf.annulus_kernel(1, 1, 1, 0)  # the 4 neighbours, centre excluded
    result = xf.correlate(data, ring)
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


def test_inf_is_a_value():
    data = np.ones((5, 5))
    data[3, 3] = np.inf
    data[0, 0] = -np.inf
    result = xf.correlate(data, np.ones((3, 3)), boundary="nearest")
    assert result[3, 3] == np.inf and result[4, 4] == np.inf  # windows that see +inf only
    assert result[0, 1] == -np.inf and result[1, 1] == -np.inf  # windows that see -inf only
    assert result[2, 0] == 9.0  # sees neither
    assert np.isnan(result).sum() == 0
    # +inf and -inf in one window: inf - inf is NaN, as in plain arithmetic.
    data[2, 2] = -np.inf
    assert np.isnan(xf.correlate(data, np.ones((3, 3)), boundary="nearest")[3, 3])


def test_nd_cube_broadcasts_over_leading_axes():
    data = awkward_data((2, 3, 17, 19), nan_fraction=0.05)
    kernel = KERNELS["asym"]
    result = xf.correlate(data, kernel, boundary="reflect")
    assert_matches_contract(result, data, kernel, "reflect")
    for t in range(2):
        for b in range(3):
            np.testing.assert_array_equal(
                result[t, b], xf.correlate(data[t, b], kernel, boundary="reflect")
            )


@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided", "negative"])
def test_non_contiguous_input(layout):
    base = awkward_data((40, 50))
    data = {
        "fortran": np.asfortranarray(base),
        "transposed": base.T,
        "strided": base[::2, ::3],
        "negative": base[::-1, ::-2],
    }[layout]
    kernel = KERNELS["asym"]
    assert_matches_contract(xf.correlate(data, kernel, boundary="wrap"), data, kernel, "wrap")


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


# --- dask ----------------------------------------------------------------------------


@requires_dask
@pytest.mark.parametrize("chunks", dask_chunkings)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_dask_equals_numpy(boundary, chunks):
    import dask.array as da

    data = awkward_data((37, 61), nan_fraction=0.02)
    kernel = KERNELS["wide5x9"]
    arr = da.from_array(data, chunks=chunks)
    result = xf.correlate(arr, kernel, boundary=boundary, cval=7.0)
    assert isinstance(result, da.Array)
    assert result.chunks == arr.chunks
    assert result.dtype == np.float64
    np.testing.assert_array_equal(
        result.compute(), xf.correlate(data, kernel, boundary=boundary, cval=7.0)
    )


@requires_dask
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_], ids=lambda d: np.dtype(d).name)
def test_dask_dtypes(dtype):
    import dask.array as da

    data = awkward_data((2, 30, 40), dtype)
    arr = da.from_array(data, chunks=(1, 11, 13))
    result = xf.correlate(arr, KERNELS["circle3"], boundary="reflect")
    assert result.dtype == result.compute().dtype == (np.float32 if dtype == np.float32 else np.float64)
    assert_matches_contract(result.compute(), data, KERNELS["circle3"], "reflect")


@requires_dask
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_dask_kernel_larger_than_array_and_chunks(boundary):
    import dask.array as da

    data = awkward_data((6, 9))
    kernel = np.random.default_rng(4).standard_normal((15, 21))
    arr = da.from_array(data, chunks=(2, 4))
    result = xf.correlate(arr, kernel, boundary=boundary, cval=1.0)
    assert result.chunks == arr.chunks
    assert_matches_contract(result.compute(), data, kernel, boundary, 1.0)


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

    from . import raise_if_dask_computes

    arr = da.random.random((200, 300), chunks=(50, 60))
    with raise_if_dask_computes():
        result = xf.correlate(arr, KERNELS["circle3"], boundary="reflect")
    assert result.name.startswith("focal-")
    # The same call twice gives the same graph key (deterministic tokens)...
    assert xf.correlate(arr, KERNELS["circle3"], boundary="reflect").name == result.name
    # ...and other options give other keys.
    assert xf.correlate(arr, KERNELS["circle3"], boundary="wrap").name != result.name
    assert xf.convolve(arr, KERNELS["asym"]).name != xf.correlate(arr, KERNELS["asym"]).name
