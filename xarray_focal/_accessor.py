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
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from . import _geodesic, api, kernels, _units as units
from ._docs import ACCESSOR_PARAMS, STAT_EXAMPLES, docfilled, fill_doc
from ._dims import resolve_dims
from .errors import FocalError, FocalTypeError, FocalValueError
from ._labels import labels_doc, stat_attrs

__all__ = ["FocalDataArrayAccessor", "FocalDatasetAccessor"]


def _axis_boundary(obj: xr.DataArray | xr.Dataset, dims: tuple, boundary: Any) -> Any:
    """A ``{dim: mode}`` boundary as the array API's ``(y, x)`` pair; other forms unchanged.

    Both spatial dims must be named, and nothing else: a dim left out or a name that is no
    spatial dim is an error naming it, never a default filled in silently.
    """
    if not isinstance(boundary, dict):
        return boundary
    unknown = [d for d in boundary if d not in dims]
    if unknown:
        raise FocalValueError(
            f"boundary names {unknown}, which {'is' if len(unknown) == 1 else 'are'} not a "
            f"spatial dim; the spatial dims are {dims}"
        )
    missing = [d for d in dims if d not in boundary]
    if missing:
        raise FocalValueError(
            f"boundary gives no mode for spatial dim(s) {missing}; a boundary dict names "
            f"both spatial dims {dims}"
        )
    return (boundary[dims[0]], boundary[dims[1]])


def _apply(da: xr.DataArray, call: api.FocalCall, dims: tuple) -> list[xr.DataArray]:
    """Run a checked call over the ``dims`` of ``da``: one DataArray per output."""
    if isinstance(call, _geodesic.GeodesicCall):
        _geodesic.check_grid(call.kernel, da, dims)

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
    cells = getattr(call, "cells_label", None) or call.runs.ntaps
    for stat, r in zip(call.outputs, results):
        r.attrs = stat_attrs(da.attrs, da.name, stat, dims, cells)  # not da's dict
        appended = r.attrs.get("cell_methods") != da.attrs.get("cell_methods")  # not kept as is
        if (getattr(call, "area_weighted", False) and appended
                and r.attrs.get("cell_methods", "").endswith(")")):
            # Inside the CF comment of this method: "(focal footprint of ..., area-weighted)".
            r.attrs["cell_methods"] = r.attrs["cell_methods"][:-1] + ", area-weighted)"
            if stat == "sum":
                # The area integral: the data's units times m2.
                unit = str(da.attrs.get("units", "")).strip()
                r.attrs["units"] = f"{unit} m2" if unit and unit != "1" else "m2"
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


def _check_name(obj, name) -> None:
    """Refuse ``name=`` for a Dataset, before any work: it names a DataArray result."""
    if isinstance(obj, xr.Dataset) and name is not None:
        raise FocalTypeError("name= applies to a DataArray result, not to a Dataset")


def _on_each(obj, dims: tuple, one: Callable, name) -> xr.DataArray | xr.Dataset:
    """``one`` of the DataArray (renamed to ``name`` if given) or of each variable."""
    if isinstance(obj, xr.Dataset):
        return obj.assign(_each_variable(obj, dims, one))
    result = one(obj)
    return result.rename(name) if name is not None else result


def _filter_method(op: str, doc: str, *, dataset: bool) -> Callable:
    """The accessor method ``op`` ("correlate" or "convolve") for a DataArray or Dataset."""
    check = functools.partial(api.check_correlate, flip=op == "convolve")

    def on_dataarray(
        self,
        kernel: Any,
        *,
        boundary: str | Mapping[Hashable, str] = "nan",
        cval: float = 0.0,
        nan_policy: str = "propagate",
        min_count: int | None = None,
        method: str = "auto",
        dims: Sequence[Hashable] | None = None,
        name: Hashable | None = None,
    ) -> xr.DataArray:
        dims = resolve_dims(self._obj, dims)
        boundary = _axis_boundary(self._obj, dims, boundary)
        call = check(kernel, boundary=boundary, cval=cval, nan_policy=nan_policy,
                     min_count=min_count, method=method)
        (result,) = _apply(self._obj, call, dims)
        return result.rename(name) if name is not None else result

    def on_dataset(
        self,
        kernel: Any,
        *,
        boundary: str | Mapping[Hashable, str] = "nan",
        cval: float = 0.0,
        nan_policy: str = "propagate",
        min_count: int | None = None,
        method: str = "auto",
        dims: Sequence[Hashable] | None = None,
    ) -> xr.Dataset:
        dims = resolve_dims(self._obj, dims)
        boundary = _axis_boundary(self._obj, dims, boundary)
        call = check(kernel, boundary=boundary, cval=cval, nan_policy=nan_policy,
                     min_count=min_count, method=method)
        return self._obj.assign(_each_variable(self._obj, dims, lambda v: _apply(v, call, dims)[0]))

    method = on_dataset if dataset else on_dataarray
    method.__name__ = method.__qualname__ = op
    method.__doc__ = fill_doc(doc, ACCESSOR_PARAMS)
    return method


_AREA_DOC = """
        area_weighted : bool
            With a geodesic kernel (``circle_kernel("500 km")`` on lat/lon data): weight
            each cell by its area (proportional to the cosine of its latitude), for area
            means and spreads, and for ``sum`` the area integral (units times m2)."""


_NO_AREA_DOC = """
        area_weighted : bool
            Only ``False``: a cell's area does not change a count or an order statistic."""


def _stat_method(stat: str) -> Callable:
    """The accessor method for one statistic, for both accessors (one docstring template)."""

    def method(
        self,
        footprint: Any = None,
        *,
        size: int | tuple[int, int] | None = None,
        boundary: str | Mapping[Hashable, str] = "nan",
        nan_policy: str = "omit",
        min_count: int | None = None,
        method: str = "auto",
        dims: Sequence[Hashable] | None = None,
        name: Hashable | None = None,
        area_weighted: bool = False,
    ):
        obj = self._obj
        dims = resolve_dims(obj, dims)
        boundary = _axis_boundary(obj, dims, boundary)
        _check_name(obj, name)
        call = api.check_stats(
            footprint, (stat,), size=size, boundary=boundary, nan_policy=nan_policy,
            min_count=min_count, method=method, area_weighted=area_weighted,
        )
        return _on_each(obj, dims, lambda v: _stats(v, call, dims)[0], name)

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
            Name of the result (DataArray only); default the input's.{_AREA_DOC if stat in _geodesic.AREA_WEIGHTED_STATS else _NO_AREA_DOC}

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

    def _geodesic_metres(self, dims, *radii) -> tuple[float, ...] | None:
        """The radii in metres when they carry a length unit on a lat/lon grid, else None.

        Grids with 2-D (curvilinear) latitude/longitude and no cell size of their own are
        refused here, naming what is missing.
        """
        obj = self._obj
        parsed = [units.parse_length(r, name, allow_zero=zero) for r, name, zero in radii]
        if all(unit is None for _, unit in parsed):
            return None
        if not any(units.geographic_reason(obj, d) for d in dims):
            try:
                units.cellsize(obj, dims)
            except FocalError as exc:
                reason = _geodesic.curvilinear_reason(obj, dims)
                if reason:
                    raise FocalValueError(
                        f"a radius in metres on a curvilinear latitude/longitude grid ({reason}) "
                        "is not supported yet: geodesic footprints need 1-D latitude and "
                        "longitude coordinates; reproject, or give a radius in cells through "
                        "attrs['res']"
                    ) from exc
            return None
        missing = [name for (n, unit), (_, name, zero) in zip(parsed, radii) if unit is None and not (zero and n == 0)]
        if missing:
            raise FocalValueError(
                f"{missing[0]} has no length unit but another radius has one: give all radii "
                "in metres (like '500 km') on a latitude/longitude grid"
            )
        return tuple(0.0 if unit is None else n * units.LENGTH_UNITS[unit] for n, unit in parsed)

    @docfilled(ACCESSOR_PARAMS)
    def circle_kernel(self, radius: float | str, *, dims: Sequence[Hashable] | None = None,
                      earth_radius: float = _geodesic.EARTH_RADIUS):
        """A disc kernel of ``radius``, with cells sized from this object's coordinates.

        Parameters
        ----------
        radius : float or str
            A number in coordinate units, or a length with unit (``"500 m"``, ``"2 km"``,
            ``"1 mi"``, ``"30 ft"``); coordinates without a ``units`` attribute are taken as
            metres. On a latitude/longitude grid in degrees a length gives a geodesic
            footprint (a :class:`~xarray_focal.GeodesicKernel`: every cell within that
            great-circle distance, a different number of longitude cells on each row); a
            plain number there is a disc in degrees.
        %(dims)s
        earth_radius : float
            Radius in metres of the sphere of geodesic footprints (default 6 371 008.8, the
            IUGG mean radius).

        Returns
        -------
        numpy.ndarray or GeodesicKernel
            See :func:`xarray_focal.circle_kernel`; on lat/lon grids with a length radius,
            a :class:`~xarray_focal.GeodesicKernel` that every focal operation accepts.

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
        dims = resolve_dims(self._obj, dims)
        metres = self._geodesic_metres(dims, (radius, "radius", False))
        if metres is not None:
            return _geodesic.make_kernel("circle", self._obj, dims, radius=metres[0],
                                         earth_radius=earth_radius)
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
        earth_radius: float = _geodesic.EARTH_RADIUS,
    ):
        """A ring kernel ``inner < d <= outer``, cells sized from this object's coordinates.

        Parameters
        ----------
        outer_radius, inner_radius : float or str
            As ``radius`` of :meth:`circle_kernel`; ``inner_radius`` may be ``0`` (only the
            centre cell is left out). Lengths on a lat/lon grid give a geodesic ring.
        %(dims)s
        earth_radius : float
            As for :meth:`circle_kernel`.

        Returns
        -------
        numpy.ndarray or GeodesicKernel
            See :func:`xarray_focal.annulus_kernel` (and :meth:`circle_kernel` for lat/lon
            grids).

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
        dims = resolve_dims(self._obj, dims)
        metres = self._geodesic_metres(dims, (outer_radius, "outer_radius", False),
                                       (inner_radius, "inner_radius", True))
        if metres is not None:
            if metres[1] >= metres[0]:
                raise FocalValueError(
                    f"inner_radius ({inner_radius!r}) must be smaller than outer_radius "
                    f"({outer_radius!r})"
                )
            return _geodesic.make_kernel("annulus", self._obj, dims, radius=metres[0],
                                         inner=metres[1], earth_radius=earth_radius)
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
        earth_radius: float = _geodesic.EARTH_RADIUS,
    ):
        """A Gaussian kernel of standard deviation ``sigma``, cells sized from this object.

        On a projected grid, the weights of :func:`xarray_focal.gaussian_kernel` (summing
        to 1). On a latitude/longitude grid in degrees with a length ``sigma``, a geodesic
        Gaussian: weight ``exp(-d**2 / (2 sigma**2))`` of the great-circle distance ``d``
        between cell centres, cells beyond ``truncate * sigma`` left out, each row's
        footprint summing to 1 (so ``focal.correlate`` is the Gaussian-weighted mean).

        Parameters
        ----------
        sigma : float or str
            Standard deviation, as ``radius`` of :meth:`circle_kernel` (``"200 m"``,
            ``"300 km"``).
        truncate : float, optional
            Half-width in standard deviations (default 4, as scipy).
        %(dims)s
        earth_radius : float
            As for :meth:`circle_kernel` (geodesic kernels only).

        Returns
        -------
        numpy.ndarray or GeodesicKernel

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> dem = xr.DataArray(np.zeros((50, 50)), dims=("y", "x"),
        ...                    coords={"y": np.arange(50) * -10.0, "x": np.arange(50) * 10.0})
        >>> k = dem.focal.gaussian_kernel("20 m")  # 2 cells; 4 sigma = 8 cells each side
        >>> k.shape, round(float(k.sum()), 12)
        ((17, 17), 1.0)
        >>> da = xr.DataArray(np.ones((18, 36)), dims=("lat", "lon"),
        ...                   coords={"lat": np.arange(-85.0, 90, 10), "lon": np.arange(0.0, 360, 10)})
        >>> g = da.focal.gaussian_kernel("500 km", truncate=3)
        >>> np.round(g.footprint(lat=5.0), 3)  # 10-degree cells: about 1100 km apart
        array([[0.   , 0.063, 0.   ],
               [0.064, 0.746, 0.064],
               [0.   , 0.063, 0.   ]])
        """
        import numbers

        dims = resolve_dims(self._obj, dims)
        metres = self._geodesic_metres(dims, (sigma, "sigma", False))
        if metres is not None:
            if isinstance(truncate, (bool, np.bool_)) or not isinstance(truncate, numbers.Real) \
                    or not np.isfinite(truncate) or truncate <= 0:
                raise FocalValueError(
                    f"truncate must be a positive number of sigmas; got {truncate!r}")
            return _geodesic.make_kernel("gaussian", self._obj, dims, radius=0.0,
                                         sigma=metres[0], truncate=float(truncate),
                                         earth_radius=earth_radius)
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
    median = _stat_method("median")
    majority = _stat_method("majority")
    minority = _stat_method("minority")
    variety = _stat_method("variety")

    def _one_stat(self, call: api.FocalCall, dims, name, long_name: str):
        """Run a checked single-statistic call on the DataArray or each variable."""
        obj = self._obj
        dims = resolve_dims(obj, dims)
        _check_name(obj, name)

        def one(da):
            (result,) = _stats(da, call, dims)
            subject = da.attrs.get("long_name") or (str(da.name) if da.name is not None else None)
            result.attrs["long_name"] = f"focal {long_name}" + (f" of {subject}" if subject else "")
            return result

        return _on_each(obj, dims, one, name)

    @docfilled(ACCESSOR_PARAMS)
    def percentile(
        self,
        footprint: Any,
        q: float,
        *,
        boundary: str | Mapping[Hashable, str] = "nan",
        nan_policy: str = "omit",
        min_count: int | None = None,
        dims: Sequence[Hashable] | None = None,
        name: Hashable | None = None,
    ):
        """The ``q``-th percentile of the valid cells under the footprint (numpy's "linear").

        See :func:`xarray_focal.focal_percentile` for the definition.

        Parameters
        ----------
        %(footprint)s
        q : float
            The percentile, 0 to 100.
        %(stat_options)s
        min_count : int, optional
            Fewer valid cells than this give NaN.
        %(dims)s
        name : hashable, optional
            Name of the result (DataArray only); default the input's.

        Returns
        -------
        DataArray or Dataset
            Like the input; ``units``, ``standard_name`` and ``valid_*`` kept, ``long_name``
            ``"focal percentile q=<q> of <long_name or name>"``; the input's
            ``cell_methods`` kept as they are, nothing appended (CF has no method name for
            a percentile).

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> da = xr.DataArray([[1.0, 3.0, np.nan, 8.0]], dims=("y", "x"))
        >>> da.focal.percentile(np.ones((1, 3)), 25, boundary="nearest").values
        array([[1.  , 1.5 , 4.25, 8.  ]])
        """
        dims = resolve_dims(self._obj, dims)
        boundary = _axis_boundary(self._obj, dims, boundary)
        call = api.check_percentile(footprint, q, boundary=boundary, nan_policy=nan_policy,
                                    min_count=min_count)
        return self._one_stat(call, dims, name, f"percentile q={call.rank.q:g}")

    @docfilled(ACCESSOR_PARAMS)
    def apply(
        self,
        footprint: Any,
        func: Callable,
        *,
        boundary: str | Mapping[Hashable, str] = "nan",
        nan_policy: str = "omit",
        min_count: int | None = None,
        dims: Sequence[Hashable] | None = None,
        name: Hashable | None = None,
    ):
        """``func`` of each window's valid values (a numba-compiled statistic of one's own).

        See :func:`xarray_focal.focal_apply`: ``func`` gets the valid values under the
        footprint's nonzero cells as a 1-D float64 array and returns a real number.

        Parameters
        ----------
        %(footprint)s
        func : function
            A ``numba.njit`` function (plain functions are compiled with ``numba.njit``).
        %(stat_options)s
        min_count : int, optional
            Fewer valid cells than this give NaN (``func`` is not called there).
        %(dims)s
        name : hashable, optional
            Name of the result (DataArray only); default the input's.

        Returns
        -------
        DataArray or Dataset
            Like the input; no ``units`` or ``standard_name`` (the function's result is
            another quantity), the input's ``cell_methods`` kept as they are (nothing
            appended), ``long_name`` ``"focal <func name> of <long_name or name>"``.

        Examples
        --------
        >>> import numba, numpy as np, xarray as xr
        >>> import xarray_focal
        >>> @numba.njit
        ... def spread(v):
        ...     return v.max() - v.min()
        >>> da = xr.DataArray([[1.0, 3.0, np.nan, 8.0]], dims=("y", "x"))
        >>> da.focal.apply(np.ones((1, 3)), spread, boundary="nearest").values
        array([[2., 2., 5., 0.]])
        """
        dims = resolve_dims(self._obj, dims)
        boundary = _axis_boundary(self._obj, dims, boundary)
        call = api.check_apply(footprint, func, boundary=boundary, nan_policy=nan_policy,
                               min_count=min_count)
        return self._one_stat(call, dims, name, getattr(func, "__name__", "window function"))

    @docfilled(ACCESSOR_PARAMS)
    def hotspots(
        self,
        kernel: Any,
        *,
        boundary: str | Mapping[Hashable, str] = "nan",
        dims: Sequence[Hashable] | None = None,
        name: Hashable | None = None,
    ):
        """Getis-Ord Gi* hot and cold spots at 90/95/99 % confidence (int8 classes).

        See :func:`xarray_focal.hotspots` for the statistic and the classes (those of
        xarray-spatial's ``focal.hotspots``).

        Parameters
        ----------
        kernel : array_like or GeodesicKernel
            2-D, odd sides, weights not summing to 0 (overlaid as given); or a kernel in
            metres of this grid (``da.focal.circle_kernel("500 km")``).
        boundary : str
            As for :meth:`correlate` (default ``"nan"``).
        %(dims)s
        name : hashable, optional
            Name of the result (DataArray only); default the input's.

        Returns
        -------
        DataArray or Dataset
            int8 values -99, -95, -90, 0, 90, 95, 99, labelled as CF flags
            (``flag_values``, ``flag_meanings``); no ``units`` or ``standard_name``.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> data = np.zeros((5, 5))
        >>> data[1:4, 1:4] = 10.0
        >>> out = xr.DataArray(data, dims=("y", "x")).focal.hotspots(np.ones((3, 3)),
        ...                                                          boundary="nearest")
        >>> out.values[2]
        array([ 0, 95, 99, 95,  0], dtype=int8)
        >>> out.attrs["flag_meanings"].split()[-1]
        'hot_spot_99_percent_confidence'
        """
        obj = self._obj
        dims = resolve_dims(obj, dims)
        boundary = _axis_boundary(obj, dims, boundary)
        _check_name(obj, name)

        call = api.check_hotspots(kernel, boundary=boundary)  # once, not per variable

        def one(da):
            if call.geodesic:
                _geodesic.check_grid(call.kernel, da, dims)
            result = xr.apply_ufunc(
                lambda a: api.apply_hotspots(a, call), da,
                input_core_dims=[list(dims)], output_core_dims=[list(dims)], dask="allowed",
            ).transpose(*da.dims, transpose_coords=False)
            subject = da.attrs.get("long_name") or (str(da.name) if da.name is not None else None)
            keep = {k: v for k, v in da.attrs.items() if k in ("grid_mapping", "coordinates")}
            result.attrs = {
                **keep,
                "long_name": "Getis-Ord Gi* hot and cold spots"
                + (f" of {subject}" if subject else ""),
                "flag_values": np.array([-99, -95, -90, 0, 90, 95, 99], dtype=np.int8),
                "flag_meanings": " ".join(
                    [f"cold_spot_{c}_percent_confidence" for c in (99, 95, 90)]
                    + ["not_significant"]
                    + [f"hot_spot_{c}_percent_confidence" for c in (90, 95, 99)]
                ),
            }
            return result

        return _on_each(obj, dims, one, name)

    @docfilled(ACCESSOR_PARAMS)
    def stats(
        self,
        footprint: Any = None,
        stats: Sequence[str] = ("mean", "std"),
        *,
        size: int | tuple[int, int] | None = None,
        boundary: str | Mapping[Hashable, str] = "nan",
        nan_policy: str = "omit",
        min_count: int | None = None,
        method: str = "auto",
        dims: Sequence[Hashable] | None = None,
        area_weighted: bool = False,
        q: float | Sequence[float] | None = None,
    ) -> xr.Dataset:
        """Several focal statistics in one pass, as a Dataset with one variable per statistic.

        For a Dataset, variables are named ``"<variable>_<statistic>"``; variables without
        both spatial dims have no statistics and are not in the result.

        Parameters
        ----------
        %(footprint)s
        stats : sequence of str
            Any of ``"mean"``, ``"sum"``, ``"count"``, ``"min"``, ``"max"``, ``"range"``,
            ``"std"``, ``"var"``, ``"median"``, ``"majority"``, ``"minority"``,
            ``"variety"``, and ``"percentile"`` with ``q``.
        %(stat_options)s
        min_count : int, optional
            Fewer valid cells than this give NaN (not applied to ``count``).
        %(stat_method)s
        %(dims)s
        area_weighted : bool
            With a geodesic kernel: weight cells by their area (``mean``, ``sum``, ``std``,
            ``var`` only; see :meth:`mean`).
        q : float or sequence of float, optional
            The percentiles (0 to 100) of ``"percentile"`` in ``stats``, each a variable
            ``"percentile_<q>"`` (``"<variable>_percentile_<q>"`` for a Dataset), as
            :func:`xarray_focal.focal_stats` names them; required with ``"percentile"``.

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
        >>> p = da.focal.stats(np.ones((1, 3)), ("percentile",), q=(10, 90), boundary="nearest")
        >>> sorted(p.data_vars), p["percentile_90"].attrs["long_name"]
        (['percentile_10', 'percentile_90'], 'focal percentile q=90 of elevation')
        """
        obj = self._obj
        dims = resolve_dims(obj, dims)
        boundary = _axis_boundary(obj, dims, boundary)
        call = api.check_stats(
            footprint, stats, size=size, boundary=boundary, nan_policy=nan_policy,
            min_count=min_count, method=method, area_weighted=area_weighted, q=q,
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
