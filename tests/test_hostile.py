"""Hostile and degenerate input: each gives a correct result or a clear error.

Correct means: equal to tests/reference.py (numpy.pad shift-and-add) within the accuracy
bounds of the result contract (docs/contract.md), with the dtype rule kept. Every test also checks that the input is left
as it was and that the output does not share memory with it.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xarray_focal as xf

from . import has_dask, requires_dask
from .conftest import awkward_data
from .reference import BOUNDARIES, assert_matches_contract, reference_correlate

ASYM = np.array([[0.0, 1.5, -2.0], [0.25, 0.0, 0.0], [3.0, 0.0, 0.5]])
CIRCLE = xf.circle_kernel(1, 1, 2)


def run_checked(data, kernel, boundary="nan", cval=0.0, *, backend="numpy", chunks=None, reference_data=None):
    """Correlate on ``backend`` and check contract, no input change and no aliasing."""
    before = np.array(data, copy=True)
    arr = data
    if backend == "dask":
        import dask.array as da

        arr = da.from_array(data, chunks=chunks or tuple(max(1, n // 2) for n in data.shape))
    result = xf.correlate(arr, kernel, boundary=boundary, cval=cval)
    if backend == "dask":
        assert result.chunks == arr.chunks
        result = result.compute()
    assert isinstance(result, np.ndarray)
    np.testing.assert_array_equal(data, before)
    assert not np.shares_memory(result, data)
    if reference_data is None:
        assert_matches_contract(result, data, kernel, boundary, cval)
    return result


BACKENDS = ["numpy", "dask"] if has_dask else ["numpy"]


# --- shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0), (2, 0, 3), (0, 4, 4)])
def test_empty_arrays_give_empty_results_of_the_right_dtype(shape, boundary, backend):
    for dtype, out_dtype in [(np.float32, np.float32), (np.int8, np.float64), (np.float64, np.float64)]:
        data = np.zeros(shape, dtype)
        arr = data
        if backend == "dask":
            import dask.array as da

            arr = da.from_array(data, chunks=2)
        result = xf.correlate(arr, CIRCLE, boundary=boundary, cval=1.0)
        assert result.shape == shape and result.dtype == out_dtype
        if backend == "dask":
            assert result.chunks == arr.chunks
            result = result.compute()
            assert result.shape == shape and result.dtype == out_dtype


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_one_by_one_array(boundary, backend):
    data = np.array([[2.5]])
    result = run_checked(data, ASYM, boundary, cval=-1.0, backend=backend)
    # Hand-worked: nearest/reflect/mirror/wrap all read the single cell under every tap.
    if boundary in ("nearest", "reflect", "mirror", "wrap"):
        assert result[0, 0] == 2.5 * ASYM.sum()
    elif boundary == "constant":
        assert result[0, 0] == 2.5 * ASYM[1, 1] + -1.0 * (ASYM.sum() - ASYM[1, 1])
    else:
        assert np.isnan(result[0, 0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (2, 2), (3, 5)])
def test_array_smaller_than_kernel(shape, boundary, backend):
    kernel = np.random.default_rng(2).standard_normal((7, 9))
    run_checked(awkward_data(shape), kernel, boundary, cval=0.5, backend=backend, chunks=1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("boundary", ["reflect", "mirror", "wrap", "nearest", "constant"])
def test_huge_kernel_on_tiny_array(boundary, backend):
    # 101x151 kernel on 3x4 data: reflecting modes repeat many periods, as numpy.pad does.
    kernel = np.random.default_rng(5).standard_normal((101, 151))
    data = awkward_data((3, 4))
    run_checked(data, kernel, boundary, cval=2.0, backend=backend, chunks=(2, 3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_kernel_with_nan_boundary_is_all_nan_on_tiny_array(backend):
    data = awkward_data((3, 4))
    result = run_checked(data, np.ones((101, 101)), "nan", backend=backend)
    assert np.isnan(result).all()


# --- values ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_all_nan_array_is_all_nan(boundary, backend):
    data = np.full((8, 9), np.nan, np.float32)
    result = run_checked(data, CIRCLE, boundary, cval=1.0, backend=backend)
    assert result.dtype == np.float32 and np.isnan(result).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_plus_and_minus_inf_are_values(backend):
    data = awkward_data((12, 14))
    data[2, 3] = np.inf
    data[9, 10] = -np.inf
    data[5, 5] = np.nan
    result = run_checked(data, CIRCLE, "reflect", backend=backend, chunks=(5, 6))
    assert np.isposinf(result[2, 3]) and np.isneginf(result[9, 10])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_denormal_values_are_not_flushed_to_zero(dtype, backend):
    tiny = np.finfo(dtype).smallest_subnormal
    data = np.full((6, 7), tiny, dtype)
    data[::2] *= 3
    kernel = np.ones((3, 3))
    result = run_checked(data, kernel, "nearest", backend=backend)
    # Sums of subnormals are exact (no rounding below the normal range): the result is
    # an exact multiple of the smallest subnormal, never zero.
    assert (result > 0).all()
    expected = reference_correlate(data.astype(np.float64) / tiny, kernel, "nearest")
    np.testing.assert_array_equal(result / tiny, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32])
def test_small_integer_extremes_are_exact(dtype, backend):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(7)
    data = rng.choice(np.array([info.min, info.max, 0, 1, info.max - 1], dtype=dtype), size=(9, 11))
    kernel = np.array([[1.0, 2.0, -1.0], [0.0, 1.0, 3.0], [-2.0, 1.0, 1.0]])
    # No wrap-around: values are widened before any arithmetic.
    result = run_checked(data, kernel, "reflect", backend=backend)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, reference_correlate(data.astype(np.float64), kernel, "reflect"))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_64_bit_integer_extremes_round_like_float64(dtype, backend):
    info = np.iinfo(dtype)
    data = np.array([[info.max, info.min, info.max], [1, info.max, 0], [info.max, 2, info.min]], dtype=dtype)
    # uint64/int64 extremes cannot be float64 exactly: the contract is the float64 result
    # on the float64-converted data.
    result = run_checked(data, np.ones((3, 3)), "wrap", backend=backend, reference_data=False)
    assert_matches_contract(result, data.astype(np.float64), np.ones((3, 3)), "wrap")


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_overflow_becomes_inf_like_float32_arithmetic(backend):
    data = np.full((4, 4), np.finfo(np.float32).max, np.float32)
    result = run_checked(data, np.ones((3, 3)), "nearest", backend=backend, reference_data=False)
    assert result.dtype == np.float32 and np.isposinf(result).all()


def test_bool_data_counts_true_cells():
    data = np.zeros((7, 7), bool)
    data[3, 3] = data[0, 0] = True
    result = run_checked(data, np.ones((3, 3)), "constant")
    assert result.dtype == np.float64 and result[3, 3] == 1 and result[1, 1] == 1 and result[2, 2] == 1


# --- memory layouts ----------------------------------------------------------------------


def _layouts():
    base = awkward_data((2, 30, 41), nan_fraction=0.05)
    return {
        "fortran": np.asfortranarray(base),
        "transposed": base.transpose(0, 2, 1),
        "strided": base[:, ::3, ::2],
        "negative-both": base[:, ::-1, ::-1],
        "negative-step2": base[::-1, ::-2, 1::3],
        "broadcast-zero-stride": np.broadcast_to(base[0, :1, :], (3, 30, 41)),
        "float32-fortran": np.asfortranarray(base[0].astype(np.float32)),
        "misaligned": np.frombuffer(b"\0" + base[0].tobytes(), dtype=np.float64, offset=1).reshape(30, 41),
    }


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layout", sorted(_layouts()))
def test_memory_layouts(layout, backend):
    data = _layouts()[layout]
    run_checked(data, ASYM, "mirror", backend=backend, chunks=None)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [">f8", ">f4", ">i4", ">u2", "<f4"])
def test_byte_order_keeps_the_dtype_rule(dtype, backend):
    data = awkward_data((15, 17)).astype(dtype)
    result = run_checked(data, CIRCLE, "nearest", backend=backend, reference_data=False)
    assert result.dtype.isnative
    assert result.dtype == (np.float32 if np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize == 4 else np.float64)
    assert_matches_contract(result, data.astype(np.dtype(dtype).newbyteorder("=")), CIRCLE, "nearest")


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_only_input(backend):
    data = awkward_data((20, 21), nan_fraction=0.1)
    data.flags.writeable = False
    result = run_checked(data, ASYM, "wrap", backend=backend)
    assert result.flags.writeable


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself warns
def test_matrix_subclass_is_read_as_a_plain_array():
    data = awkward_data((9, 12))
    result = xf.correlate(np.matrix(data), ASYM, boundary="reflect")
    assert type(result) is np.ndarray
    assert_matches_contract(result, data, ASYM, "reflect")


def test_memmap_input(tmp_path):
    data = awkward_data((16, 18))
    mm = np.memmap(tmp_path / "raster.f8", dtype=np.float64, mode="w+", shape=data.shape)
    mm[:] = data
    mm.flush()
    ro = np.memmap(tmp_path / "raster.f8", dtype=np.float64, mode="r", shape=data.shape)
    result = xf.correlate(ro, ASYM, boundary="nearest")
    assert_matches_contract(result, data, ASYM, "nearest")
    assert not np.shares_memory(result, ro)
    del mm, ro


def test_masked_array_is_refused_not_silently_unmasked():
    data = np.ma.masked_greater(awkward_data((6, 6)), 100)
    with pytest.raises(TypeError, match="masked"):
        xf.correlate(data, ASYM)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_output_never_aliases_input_even_for_delta_kernel(boundary):
    # A 1x1 identity kernel is the case most tempting to short-circuit with `return data`.
    for data in (awkward_data((5, 6)), awkward_data((5, 6), np.float32)):
        result = run_checked(data, [[1.0]], boundary)
        np.testing.assert_array_equal(result, data)
        result[0, 0] = -12345
        assert data[0, 0] != -12345


# --- xarray labels -----------------------------------------------------------------------


def test_non_dimension_coords_survive():
    da = xr.DataArray(
        awkward_data((2, 6, 7)),
        dims=("band", "y", "x"),
        coords={
            "band": ["red", "nir"],
            "wavelength": ("band", [650.0, 850.0]),
            "lat": (("y", "x"), np.linspace(40, 41, 42).reshape(6, 7)),
            "spatial_ref": 0,
        },
    )
    result = da.focal.correlate(ASYM, boundary="reflect")
    for key in da.coords:
        assert result.coords[key].identical(da.coords[key]), key
    assert_matches_contract(result.values, da.values, ASYM, "reflect")


def test_missing_coords_are_fine_for_convolve():
    da = xr.DataArray(awkward_data((6, 7)), dims=("y", "x"))
    result = da.focal.convolve(ASYM, boundary="wrap")
    assert not result.coords
    assert_matches_contract(result.values, da.values, ASYM, "wrap", convolve=True)


def test_multiindex_on_a_non_spatial_dim_is_kept():
    import pandas as pd

    index = pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=("site", "rep"))
    coords = xr.Coordinates.from_pandas_multiindex(index, "sample")
    da = xr.DataArray(awkward_data((4, 6, 7)), dims=("sample", "y", "x"), coords=coords)
    result = da.focal.correlate(ASYM, boundary="nearest")
    assert result.indexes["sample"].equals(index)
    assert_matches_contract(result.values, da.values, ASYM, "nearest")


def test_multiindex_as_spatial_dim_has_no_cell_size():
    import pandas as pd

    index = pd.MultiIndex.from_product([[0.0, 1.0], [0.0, 1.0, 2.0]], names=("a", "b"))
    coords = xr.Coordinates.from_pandas_multiindex(index, "x")
    da = xr.DataArray(awkward_data((5, 6)), dims=("y", "x"), coords=coords).assign_coords(y=np.arange(5.0))
    # Convolution does not need cell sizes, so it works on the raw grid...
    result = da.focal.correlate(ASYM, boundary="reflect")
    assert result.indexes["x"].equals(index)
    assert_matches_contract(result.values, da.values, ASYM, "reflect")
    # ...but a kernel in map units cannot be sized from a MultiIndex.
    with pytest.raises(ValueError, match="cell size.*x"):
        da.focal.circle_kernel(1)


@requires_dask
def test_dask_input_array_chunks_not_modified():
    import dask.array as da

    data = awkward_data((30, 30))
    arr = da.from_array(data, chunks=(7, 11))
    name, chunks = arr.name, arr.chunks
    xf.correlate(arr, np.ones((9, 9)), boundary="reflect").compute()
    assert arr.name == name and arr.chunks == chunks
    np.testing.assert_array_equal(arr.compute(), data)
