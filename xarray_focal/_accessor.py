"""The ``.focal`` accessors for :class:`xarray.DataArray` and :class:`xarray.Dataset`.

Thin and stateless: resolve the two spatial dims (:mod:`.dims`), read cell sizes, and hand
the arrays to the array API through :func:`xarray.apply_ufunc` (``dask="allowed"``: the
array API builds the dask graph itself). No array logic lives here. The options are
validated once per call by the array API (:func:`~xarray_focal.api.check_correlate`,
:func:`~xarray_focal.api.check_stats`) and the checked call is then applied to the
DataArray, or to each variable of a Dataset in turn, so each operation is written once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from . import api, kernels, _units as units
from ._docs import ACCESSOR_PARAMS, STAT_EXAMPLES, docfilled, fill_doc
from ._dims import resolve_dims
from .errors import FocalError, FocalTypeError
from ._labels import labels_doc, stat_attrs

__all__ = ["FocalDataArrayAccessor", "FocalDatasetAccessor"]


def _apply(da: xr.DataArray, call: api.FocalCall, dims: tuple) -> list[xr.DataArray]:
    """Run a checked call over the ``dims`` of ``da``: one DataArray per output."""

    def func(arr):
        out = api.apply(arr, call)
        return out if len(out) > 1 else out[0]

    result = xr.apply_ufunc(
        func,
        da,
        input_core_dims=[list(dims)],
        output_core_dims=[list(dims)] * len(call.outputs),
        dask="allowed",
        keep_attrs=True,
    )
    results = result if isinstance(result, tuple) else (result,)
    # Only the data goes back to the input's dim order: a 2-D coordinate (y, x) on data
    # laid out (x, ..., y) must keep its own order, or the coords would differ from da's.
    return [r.transpose(*da.dims, transpose_coords=False) for r in results]


def _stats(da: xr.DataArray, call: api.FocalCall, dims: tuple) -> list[xr.DataArray]:
    """The statistics of ``call`` over ``da``, each labelled for what it is (CF)."""
    results = _apply(da, call, dims)
    for stat, r in zip(call.outputs, results):
        r.attrs = stat_attrs(da.attrs, da.name, stat, dims, call.runs.ntaps)  # not da's dict
    return results


def _each_variable(ds: xr.Dataset, dims: tuple, func: Callable) -> dict:
    """``func(variable)`` for each data variable of ``ds`` that has both ``dims``.

    The options were checked before the loop, so an error here is about one variable's
    data (a string or datetime variable beside the numbers): it says which, and how to
    leave it out, rather than dropping it silently as a ``numeric_only`` reduction would.
    """
    spatial = [key for key, var in ds.data_vars.items() if all(d in var.dims for d in dims)]
    out = {}
    for key in spatial:
        try:
            out[key] = func(ds[key])
        except FocalError as exc:
            others = [k for k in spatial if k != key]
            hint = f"; to leave it out, select the others first: ds[{others!r}]" if others else ""
            raise type(exc)(f"data variable {key!r} of the Dataset: {exc}{hint}") from exc
    return out


def _filter_method(op: str, doc: str, *, dataset: bool) -> Callable:
    """The accessor method ``op`` ("correlate" or "convolve") for a DataArray or Dataset."""
    check = functools.partial(api.check_correlate, flip=op == "convolve")

    def on_dataarray(
        self,
        kernel: Any,
        *,
        boundary: str = "nan",
        cval: float = 0.0,
        nan_policy: str = "propagate",
        min_count: int | None = None,
        method: str = "auto",
        dims: Sequence[Hashable] | None = None,
        name: Hashable | None = None,
    ) -> xr.DataArray:
        dims = resolve_dims(self._obj, dims)
        call = check(kernel, boundary=boundary, cval=cval, nan_policy=nan_policy,
                     min_count=min_count, method=method)
        (result,) = _apply(self._obj, call, dims)
        return result.rename(name) if name is not None else result

    def on_dataset(
        self,
        kernel: Any,
        *,
        boundary: str = "nan",
        cval: float = 0.0,
        nan_policy: str = "propagate",
        min_count: int | None = None,
        method: str = "auto",
        dims: Sequence[Hashable] | None = None,
    ) -> xr.Dataset:
        dims = resolve_dims(self._obj, dims)
        call = check(kernel, boundary=boundary, cval=cval, nan_policy=nan_policy,
                     min_count=min_count, method=method)
        return self._obj.assign(_each_variable(self._obj, dims, lambda v: _apply(v, call, dims)[0]))

    method = on_dataset if dataset else on_dataarray
    method.__name__ = method.__qualname__ = op
    method.__doc__ = fill_doc(doc, ACCESSOR_PARAMS)
    return method


def _stat_method(stat: str) -> Callable:
    """The accessor method for one statistic, for both accessors (one docstring template)."""

    def method(
        self,
        footprint: Any = None,
        *,
        size: int | tuple[int, int] | None = None,
        boundary: str = "nan",
        nan_policy: str = "omit",
        min_count: int | None = None,
        method: str = "auto",
        dims: Sequence[Hashable] | None = None,
        name: Hashable | None = None,
    ):
        obj = self._obj
        dims = resolve_dims(obj, dims)
        if isinstance(obj, xr.Dataset) and name is not None:
            raise FocalTypeError("name= applies to a DataArray result, not to a Dataset")
        call = api.check_stats(
            footprint, (stat,), size=size, boundary=boundary, nan_policy=nan_policy,
            min_count=min_count, method=method,
        )
        if isinstance(obj, xr.Dataset):
            return obj.assign(_each_variable(obj, dims, lambda v: _stats(v, call, dims)[0]))
        (result,) = _stats(obj, call, dims)
        return result.rename(name) if name is not None else result

    method.__name__ = method.__qualname__ = stat
    method.__doc__ = fill_doc(f"""Focal {stat} over the nonzero cells of ``footprint`` (weights ignored).

        Parameters
        ----------
        %(footprint)s
        %(stat_options)s
        min_count : int, optional
            Fewer valid cells than this give NaN{" (not applied to count)" if stat == "count" else ""}.
        %(stat_method)s
        %(dims)s
        name : hashable, optional
            Name of the result (DataArray only); default the input's.

        Returns
        -------
        DataArray or Dataset
            Like the input: dims and coords kept; dask input stays lazy. The attributes
            say what the values are (CF conventions):
            %(labels)s

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> da = xr.DataArray([[1.0, 3.0, np.nan, 8.0]], dims=("y", "x"))
        >>> da.focal.{stat}(np.ones((1, 3)), boundary="nearest").values
        {STAT_EXAMPLES[stat]}
        >>> da.focal.{stat}(size=(1, 3), boundary="nearest").values  # the same box
        {STAT_EXAMPLES[stat]}
        """, {**ACCESSOR_PARAMS, "labels": labels_doc(stat)})
    return method


class _FocalAccessor:
    """What both accessors share: kernels sized from the object, and the statistics."""

    def __init__(self, obj: xr.DataArray | xr.Dataset) -> None:
        self._obj = obj

    def _cells_and_dims(self, dims):
        dims = resolve_dims(self._obj, dims)
        return units.cellsize(self._obj, dims), dims

    @docfilled(ACCESSOR_PARAMS)
    def circle_kernel(self, radius: float | str, *, dims: Sequence[Hashable] | None = None) -> np.ndarray:
        """A disc kernel of ``radius``, with cells sized from this object's coordinates.

        Parameters
        ----------
        radius : float or str
            A number in coordinate units, or a length with unit (``"500 m"``, ``"2 km"``,
            ``"1 mi"``, ``"30 ft"``). Metric radii need projected (non-degree) coordinates;
            coordinates without a ``units`` attribute are taken as metres.
        %(dims)s

        Returns
        -------
        numpy.ndarray
            See :func:`xarray_focal.circle_kernel`.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> dem = xr.DataArray(np.zeros((50, 50)), dims=("y", "x"),
        ...                    coords={"y": np.arange(50) * -30.0, "x": np.arange(50) * 30.0})
        >>> dem.focal.circle_kernel("60 m")
        array([[0., 0., 1., 0., 0.],
               [0., 1., 1., 1., 0.],
               [1., 1., 1., 1., 1.],
               [0., 1., 1., 1., 0.],
               [0., 0., 1., 0., 0.]])
        """
        (csx, csy), dims = self._cells_and_dims(dims)
        r = units.radius_in_coord_units(radius, self._obj, dims, "radius")
        return kernels.circle_kernel(csx, csy, r)


    @docfilled(ACCESSOR_PARAMS)
    def annulus_kernel(
        self,
        outer_radius: float | str,
        inner_radius: float | str,
        *,
        dims: Sequence[Hashable] | None = None,
    ) -> np.ndarray:
        """A ring kernel ``inner < d <= outer``, cells sized from this object's coordinates.

        Parameters
        ----------
        outer_radius, inner_radius : float or str
            As ``radius`` of :meth:`circle_kernel`; ``inner_radius`` may be ``0`` (only the
            centre cell is left out).
        %(dims)s

        Returns
        -------
        numpy.ndarray
            See :func:`xarray_focal.annulus_kernel`.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> da = xr.DataArray(np.zeros((9, 9)), dims=("y", "x"),
        ...                   coords={"y": np.arange(9.0), "x": np.arange(9.0)})
        >>> da.focal.annulus_kernel(1, 0)
        array([[0., 1., 0.],
               [1., 0., 1.],
               [0., 1., 0.]])
        """
        (csx, csy), dims = self._cells_and_dims(dims)
        outer = units.radius_in_coord_units(outer_radius, self._obj, dims, "outer_radius")
        # Zero is a valid inner radius with or without a unit ("0 m": only the centre out).
        inner = units.radius_in_coord_units(
            inner_radius, self._obj, dims, "inner_radius", allow_zero=True
        )
        return kernels.annulus_kernel(csx, csy, outer, inner)


    @docfilled(ACCESSOR_PARAMS)
    def box_kernel(
        self,
        width: float | str,
        height: float | str | None = None,
        *,
        dims: Sequence[Hashable] | None = None,
    ) -> np.ndarray:
        """A box kernel ``width`` across (``height`` tall), cells sized from this object.

        The cells whose centres lie within half the box of the centre cell's centre, along
        each axis: ``da.focal.box_kernel("1 km")`` on a 10 m grid is 101 x 101 cells.

        Parameters
        ----------
        width : float or str
            Side of the box along x, as ``radius`` of :meth:`circle_kernel` (a number in
            coordinate units, or a length with unit such as ``"300 m"``).
        height : float or str, optional
            Side along y; default ``width``.
        %(dims)s

        Returns
        -------
        numpy.ndarray
            See :func:`xarray_focal.box_kernel`.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> dem = xr.DataArray(np.zeros((50, 50)), dims=("y", "x"),
        ...                    coords={"y": np.arange(50) * -10.0, "x": np.arange(50) * 10.0})
        >>> dem.focal.box_kernel("1 km").shape
        (101, 101)
        >>> dem.focal.box_kernel("50 m", "30 m").shape
        (3, 5)
        """
        (csx, csy), dims = self._cells_and_dims(dims)
        w = units.radius_in_coord_units(width, self._obj, dims, "width")
        h = None if height is None else units.radius_in_coord_units(height, self._obj, dims,
                                                                       "height")
        return kernels.box_kernel(csx, csy, w, h)

    @docfilled(ACCESSOR_PARAMS)
    def gaussian_kernel(
        self,
        sigma: float | str,
        *,
        truncate: float = 4.0,
        dims: Sequence[Hashable] | None = None,
    ) -> np.ndarray:
        """A Gaussian kernel of standard deviation ``sigma``, cells sized from this object.

        Parameters
        ----------
        sigma : float or str
            Standard deviation, as ``radius`` of :meth:`circle_kernel` (``"200 m"``).
        truncate : float, optional
            Half-width in standard deviations (default 4, as scipy).
        %(dims)s

        Returns
        -------
        numpy.ndarray
            See :func:`xarray_focal.gaussian_kernel`: weights summing to 1.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> dem = xr.DataArray(np.zeros((50, 50)), dims=("y", "x"),
        ...                    coords={"y": np.arange(50) * -10.0, "x": np.arange(50) * 10.0})
        >>> k = dem.focal.gaussian_kernel("20 m")  # 2 cells; 4 sigma = 8 cells each side
        >>> k.shape, round(float(k.sum()), 12)
        ((17, 17), 1.0)
        """
        (csx, csy), dims = self._cells_and_dims(dims)
        s = units.radius_in_coord_units(sigma, self._obj, dims, "sigma")
        return kernels.gaussian_kernel(csx, csy, s, truncate=truncate)

    mean = _stat_method("mean")
    sum = _stat_method("sum")
    count = _stat_method("count")
    min = _stat_method("min")
    max = _stat_method("max")
    range = _stat_method("range")
    std = _stat_method("std")
    var = _stat_method("var")

    @docfilled(ACCESSOR_PARAMS)
    def stats(
        self,
        footprint: Any = None,
        stats: Sequence[str] = ("mean", "std"),
        *,
        size: int | tuple[int, int] | None = None,
        boundary: str = "nan",
        nan_policy: str = "omit",
        min_count: int | None = None,
        method: str = "auto",
        dims: Sequence[Hashable] | None = None,
    ) -> xr.Dataset:
        """Several focal statistics in one pass, as a Dataset with one variable per statistic.

        For a Dataset, variables are named ``"<variable>_<statistic>"``; variables without
        both spatial dims have no statistics and are not in the result.

        Parameters
        ----------
        %(footprint)s
        stats : sequence of str
            Any of ``"mean"``, ``"sum"``, ``"count"``, ``"min"``, ``"max"``, ``"range"``,
            ``"std"``, ``"var"``.
        %(stat_options)s
        min_count : int, optional
            Fewer valid cells than this give NaN (not applied to ``count``).
        %(stat_method)s
        %(dims)s

        Returns
        -------
        xarray.Dataset
            Each variable with the CF attributes of its statistic, as for :meth:`mean`,
            :meth:`count`, :meth:`var`...; the Dataset keeps the input's attrs.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> da = xr.DataArray([[1.0, 3.0, np.nan, 8.0]], dims=("y", "x"), name="z",
        ...                   attrs={"units": "m", "long_name": "elevation"})
        >>> ds = da.focal.stats(np.ones((1, 3)), ("mean", "max", "var", "count"),
        ...                     boundary="nearest")
        >>> sorted(ds.data_vars)
        ['count', 'max', 'mean', 'var']
        >>> ds["max"].values
        array([[3., 3., 8., 8.]])
        >>> ds["var"].attrs["units"], ds["count"].attrs["units"]
        ('m2', '1')
        >>> ds["mean"].attrs["long_name"], ds["mean"].attrs["cell_methods"]
        ('focal mean of elevation', 'y: x: mean (focal footprint of 3 cells)')
        """
        obj = self._obj
        dims = resolve_dims(obj, dims)
        call = api.check_stats(
            footprint, stats, size=size, boundary=boundary, nan_policy=nan_policy,
            min_count=min_count, method=method,
        )
        if isinstance(obj, xr.Dataset):
            per_var = _each_variable(obj, dims, lambda v: _stats(v, call, dims))
            out = {
                f"{key}_{stat}": res.rename(f"{key}_{stat}")
                for key, results in per_var.items()
                for stat, res in zip(call.outputs, results)
            }
        else:
            out = {stat: r.rename(stat) for stat, r in zip(call.outputs, _stats(obj, call, dims))}
        return xr.Dataset(out, attrs=obj.attrs)



_CORRELATE_DOC = """Correlate the two spatial dims with ``kernel`` (overlaid as given).

        Other dims broadcast. The result keeps dims (and their order), coords, attrs and
        name; dask-backed input gives a lazy result with the same chunks.

        Parameters
        ----------
        %(kernel_options)s
        %(dims)s
        %(name)s

        Returns
        -------
        xarray.DataArray

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> da = xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("y", "x"), name="z",
        ...                   attrs={"units": "m"})
        >>> out = da.focal.correlate([[0, 0, 0], [0, 0, 1], [0, 0, 0]], boundary="wrap")
        >>> out.values
        array([[ 1.,  2.,  3.,  0.],
               [ 5.,  6.,  7.,  4.],
               [ 9., 10., 11.,  8.]])
        >>> out.name, out.attrs
        ('z', {'units': 'm'})
        """

_CONVOLVE_DOC = """Convolve the two spatial dims with ``kernel`` (flipped on both axes).

        Result as for :meth:`correlate`; for symmetric kernels the two agree.

        Parameters
        ----------
        %(kernel_options)s
        %(dims)s
        %(name)s

        Returns
        -------
        xarray.DataArray

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> da = xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("y", "x"))
        >>> da.focal.convolve([[0, 0, 0], [0, 0, 1], [0, 0, 0]], boundary="wrap").values
        array([[ 3.,  0.,  1.,  2.],
               [ 7.,  4.,  5.,  6.],
               [11.,  8.,  9., 10.]])
        """

_DATASET_CORRELATE_DOC = """Correlate every data variable that has both ``dims``; others pass through.

        Parameters
        ----------
        %(kernel_options)s
        %(dataset_dims)s

        Returns
        -------
        xarray.Dataset

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> ds = xr.Dataset({"a": (("y", "x"), np.ones((3, 3))), "t": ("time", [1, 2])})
        >>> out = ds.focal.correlate(np.ones((3, 3)), boundary="nearest", dims=("y", "x"))
        >>> out["a"].values
        array([[9., 9., 9.],
               [9., 9., 9.],
               [9., 9., 9.]])
        >>> out["t"].identical(ds["t"])
        True
        """

_DATASET_CONVOLVE_DOC = """Convolve every data variable that has both ``dims``; others pass through.

        The kernel is flipped on both axes, as for :meth:`xarray.DataArray.focal.convolve`.

        Parameters
        ----------
        %(kernel_options)s
        %(dataset_dims)s

        Returns
        -------
        xarray.Dataset

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> ds = xr.Dataset({"a": (("y", "x"), np.eye(3))})
        >>> ds.focal.convolve([[0, 0, 0], [1, 0, 0], [0, 0, 0]], boundary="constant",
        ...                   dims=("y", "x"))["a"].values
        array([[0., 1., 0.],
               [0., 0., 1.],
               [0., 0., 0.]])
        """


@xr.register_dataarray_accessor("focal")
class FocalDataArrayAccessor(_FocalAccessor):
    """Focal (neighbourhood) operations on a DataArray: ``da.focal.convolve(kernel)``."""

    correlate = _filter_method("correlate", _CORRELATE_DOC, dataset=False)
    convolve = _filter_method("convolve", _CONVOLVE_DOC, dataset=False)


@xr.register_dataset_accessor("focal")
class FocalDatasetAccessor(_FocalAccessor):
    """Focal operations on every data variable of a Dataset that has the spatial dims."""

    correlate = _filter_method("correlate", _DATASET_CORRELATE_DOC, dataset=True)
    convolve = _filter_method("convolve", _DATASET_CONVOLVE_DOC, dataset=True)
