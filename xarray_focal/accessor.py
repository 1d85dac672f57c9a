"""The ``.focal`` accessors for :class:`xarray.DataArray` and :class:`xarray.Dataset`.

Thin and stateless: resolve the two spatial dims, read cell sizes, and hand the arrays to
the array API through :func:`xarray.apply_ufunc` (``dask="allowed"``: the array API builds
the dask graph itself). No array logic lives here.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from . import api, kernels, units
from .errors import FocalTypeError, FocalValueError

__all__ = ["FocalDataArrayAccessor", "FocalDatasetAccessor"]


def _dims_in_order(obj: xr.DataArray | xr.Dataset) -> tuple:
    return tuple(obj.dims) if isinstance(obj, xr.DataArray) else tuple(obj.sizes)


def _detect_dims(obj: xr.DataArray | xr.Dataset) -> tuple:
    """The (y, x) dims from CF clues (see :func:`units.spatial_role`), else the only two dims."""
    what = "DataArray" if isinstance(obj, xr.DataArray) else "Dataset"
    seen = _dims_in_order(obj)
    if len(seen) < 2:
        label = f" {obj.name!r}" if isinstance(obj, xr.DataArray) else ""
        raise FocalValueError(
            f"a focal operation needs at least 2 dims; the {what}{label} has dims {seen}"
        )
    roles = {d: units.spatial_role(obj, d) for d in seen}
    ys = [d for d in seen if "y" in roles[d]]
    xs = [d for d in seen if "x" in roles[d]]
    if len(ys) == 1 and len(xs) == 1 and ys != xs:
        return ys[0], xs[0]
    if not ys and not xs and len(seen) == 2:
        if isinstance(obj, xr.DataArray):
            return seen
        # A Dataset's dim order is only that of first appearance: take the order its
        # variables hold the two dims in, when they all agree.
        orders = {v.dims for v in obj.data_vars.values() if v.ndim == 2}
        if len(orders) <= 1:
            return orders.pop() if orders else seen
        found = f"its variables hold them in both orders {sorted(orders, key=str)}"
    elif not ys and not xs:
        found = "none of them is named or marked (CF axis, standard_name, units) as y or x"
    else:
        found = f"y-like: {ys or 'none'}, x-like: {xs or 'none'}"
    raise FocalValueError(
        f"cannot tell the spatial dims of this {what} with dims {seen}: {found}; "
        "pass dims=('y', 'x') naming them"
    )


def _resolve_dims(obj: xr.DataArray | xr.Dataset, dims: Sequence[Hashable] | None) -> tuple:
    """The (y, x) dims: ``dims`` checked, or detected from CF conventions when ``None``.

    Detection: one y-like and one x-like dim (CF ``axis`` "Y"/"X"; ``standard_name``
    latitude, grid_latitude, projection_y_coordinate / the x counterparts; ``units``
    degrees_north / degrees_east; names y, lat, latitude, rlat, northing / x, lon,
    longitude, rlon, easting in any case), wherever they are in the dim order. With no
    such clue, an object of exactly two dims uses them in order. Anything else is refused.
    """
    if dims is None:
        return _detect_dims(obj)
    if isinstance(dims, (str, bytes)) or not isinstance(dims, Sequence):
        raise FocalTypeError(f"dims must be a sequence of two dimension names; got {dims!r}")
    dims = tuple(dims)
    if len(dims) != 2:
        raise FocalValueError(f"dims must name exactly two (y, x) dimensions; got {dims!r}")
    if dims[0] == dims[1]:
        raise FocalValueError(f"dims must be two different dimensions; got {dims!r}")
    missing = [d for d in dims if d not in obj.dims]
    if missing:
        raise FocalValueError(f"dims {missing} not found; available dims are {_dims_in_order(obj)}")
    return dims


def _correlate_da(da: xr.DataArray, func, kernel, dims, name, **kwargs) -> xr.DataArray:
    result = xr.apply_ufunc(
        func,
        da,
        kwargs={"kernel": kernel, **kwargs},
        input_core_dims=[list(dims)],
        output_core_dims=[list(dims)],
        dask="allowed",
        keep_attrs=True,
    )
    # Only the data goes back to the input's dim order: a 2-D coordinate (y, x) on data
    # laid out (x, ..., y) must keep its own order, or the coords would differ from da's.
    result = result.transpose(*da.dims, transpose_coords=False)
    return result.rename(name) if name is not None else result


# CF cell_methods method names; count has none (it is not a statistic of the values).
_CF_METHODS = {
    "mean": "mean", "sum": "sum", "min": "minimum", "max": "maximum", "range": "range",
    "std": "standard_deviation", "var": "variance",
}
_LONG_NAMES = {
    "mean": "mean", "sum": "sum", "count": "count of valid cells", "min": "minimum",
    "max": "maximum", "range": "range", "std": "standard deviation", "var": "variance",
}
# Statistics that are the same physical quantity as the data (standard_name and valid
# range still apply); the others are sums, spreads or counts of it.
_SAME_QUANTITY = {"mean", "min", "max"}
# Attributes about the input's packing, fill value, flags or actual values: they do not
# describe any statistic (float results, NaN for missing).
_INPUT_ONLY_ATTRS = {
    "scale_factor", "add_offset", "_FillValue", "missing_value", "_Unsigned", "actual_range",
    "flag_values", "flag_masks", "flag_meanings",
}
_VALID_RANGE_ATTRS = {"valid_range", "valid_min", "valid_max"}
_UNIT_POWER = re.compile(r"([A-Za-z_]+)(-?\d+)?")


def _squared_units(unit: str) -> str:
    """``unit`` squared in UDUNITS syntax: "m" -> "m2", "s-1" -> "s-2", "kg m-2" -> "(kg m-2)2"."""
    if unit == "1":
        return "1"
    match = _UNIT_POWER.fullmatch(unit)
    if match is not None:
        return f"{match.group(1)}{2 * int(match.group(2) or 1)}"
    return f"({unit})2"


def _stat_attrs(attrs: dict, name: Hashable | None, stat: str, dims: tuple, cells: int) -> dict:
    """CF attributes of focal ``stat`` of data with ``attrs``: see the statistics' docstrings."""
    out = {
        key: value for key, value in attrs.items()
        if key not in _INPUT_ONLY_ATTRS
        and (stat in _SAME_QUANTITY or key not in _VALID_RANGE_ATTRS)
    }
    if stat not in _SAME_QUANTITY:
        out.pop("standard_name", None)
    subject = attrs.get("long_name") or (str(name) if name is not None else None)
    out["long_name"] = f"focal {_LONG_NAMES[stat]}" + (f" of {subject}" if subject else "")
    unit = str(attrs.get("units", "")).strip()
    if stat == "count":
        out["units"] = "1"
        out.pop("units_metadata", None)
    elif stat == "var":
        if unit:
            out["units"] = _squared_units(unit)
        else:
            out.pop("units", None)
    if stat in ("std", "var", "range") and str(out.get("units_metadata", "")).startswith("temperature"):
        out["units_metadata"] = "temperature: difference"  # a spread, not a point on the scale
    if stat == "count":
        out.pop("cell_methods", None)
    else:
        method = f"{dims[0]}: {dims[1]}: {_CF_METHODS[stat]} (focal footprint of {cells} cells)"
        before = str(attrs.get("cell_methods", "")).strip()
        out["cell_methods"] = f"{before} {method}" if before else method
    return out


def _stats_da(
    da: xr.DataArray, footprint: Any, names: tuple[str, ...], dims: tuple, **kwargs
) -> list[xr.DataArray]:
    footprint = kernels.custom_kernel(footprint)
    cells = int(np.count_nonzero(footprint))

    def func(arr):
        out = api.focal_stats(arr, footprint, names, **kwargs)
        return tuple(out[n] for n in names) if len(names) > 1 else out[names[0]]

    result = xr.apply_ufunc(
        func,
        da,
        input_core_dims=[list(dims)],
        output_core_dims=[list(dims)] * len(names),
        dask="allowed",
        keep_attrs=True,
    )
    results = result if isinstance(result, tuple) else (result,)
    labelled = []
    for stat, r in zip(names, results):
        r = r.transpose(*da.dims, transpose_coords=False)
        r.attrs = _stat_attrs(da.attrs, da.name, stat, dims, cells)  # a new dict, not da's
        labelled.append(r)
    return labelled


def _labels_doc(stat: str) -> str:
    """The attributes paragraph of the docstring of statistic ``stat``."""
    units = {
        "count": '``units`` "1" (a number of cells)',
        "var": '``units`` squared ("m" -> "m2", "kg m-2" -> "(kg m-2)2"; none without units)',
    }.get(stat, "the data's ``units``")
    standard_name = (
        "``standard_name`` and ``valid_*`` kept (the same quantity)" if stat in _SAME_QUANTITY
        else "no ``standard_name`` or ``valid_*`` (another quantity)"
    )
    if stat == "count":
        methods = "no ``cell_methods`` (CF has no method for a count)"
    else:
        methods = (
            f'``cell_methods`` appended with ``"<y>: <x>: {_CF_METHODS[stat]} (focal footprint '
            'of <n> cells)"``'
        )
    text = (
        f"{units}; {standard_name}; ``long_name`` "
        f'``"focal {_LONG_NAMES[stat]} of <long_name or name>"``; {methods}. Packing and '
        "fill attributes (``scale_factor``, ``add_offset``, ``_FillValue``, "
        "``missing_value``), ``actual_range`` and ``flag_*`` are dropped; the others (such as "
        "``grid_mapping``) are kept."
    )
    # Wrapped to sit under "Returns" in the generated docstring.
    indent = " " * 12
    return textwrap.fill(text, width=92, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False).lstrip()


def _stat_method(stat: str):
    """Build the accessor method for one statistic (one docstring template for all)."""

    def method(
        self,
        footprint: Any,
        *,
        boundary: str = "nan",
        nan_policy: str = "omit",
        min_count: int | None = None,
        method: str = "auto",
        dims: Sequence[Hashable] | None = None,
        name: Hashable | None = None,
    ):
        obj = self._obj
        dims = _resolve_dims(obj, dims)
        opts = dict(boundary=boundary, nan_policy=nan_policy, min_count=min_count, method=method)
        if isinstance(obj, xr.Dataset):
            if name is not None:
                raise FocalTypeError("name= applies to a DataArray result, not to a Dataset")
            api._check_stats((stat,))
            return obj.assign(
                {
                    key: _stats_da(var, footprint, (stat,), dims, **opts)[0]
                    for key, var in obj.data_vars.items()
                    if all(d in var.dims for d in dims)
                }
            )
        (result,) = _stats_da(obj, footprint, (stat,), dims, **opts)
        return result.rename(name) if name is not None else result

    method.__name__ = method.__qualname__ = stat
    method.__doc__ = f"""Focal {stat} over the nonzero cells of ``footprint`` (weights ignored).

        Parameters
        ----------
        footprint : array_like
            2-D, odd sides; nonzero cells form the neighbourhood.
        boundary : str
            As for :meth:`correlate`; with ``"nan"`` (default) outside cells are missing.
        nan_policy : {{"omit", "propagate"}}
            ``"omit"`` (default, unlike ``correlate``): the statistic of the valid cells, NaN
            where there are none; ``"propagate"``: NaN wherever the footprint holds a NaN.
        min_count : int, optional
            Fewer valid cells than this give NaN{" (not applied to count)" if stat == "count" else ""}.
        method : {{"auto", "direct", "runs", "columns"}}
            Algorithm, as for :meth:`correlate`.
        dims : pair of str, optional
            The (y, x) dims; default: detected from CF (``axis``, ``standard_name``,
            degree ``units``, names like y/x, lat/lon), else the only two dims; an
            ambiguous or non-spatial layout is an error asking for ``dims``.
        name : hashable, optional
            Name of the result (DataArray only); default the input's.

        Returns
        -------
        DataArray or Dataset
            Like the input: dims and coords kept; dask input stays lazy. The attributes
            say what the values are (CF conventions):
            {_labels_doc(stat)}

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> import xarray_focal
        >>> da = xr.DataArray([[1.0, 3.0, np.nan, 8.0]], dims=("y", "x"))
        >>> da.focal.{stat}(np.ones((1, 3)), boundary="nearest").values
        {api._EXAMPLES[stat]}
        """
    return method


class _FocalKernels:
    """Kernel constructors sized from the object's own cell size (shared by both accessors)."""

    _obj: xr.DataArray | xr.Dataset

    def _cells_and_dims(self, dims):
        dims = _resolve_dims(self._obj, dims)
        return units.cellsize(self._obj, dims), dims

    def circle_kernel(self, radius: float | str, *, dims: Sequence[Hashable] | None = None) -> np.ndarray:
        """A disc kernel of ``radius``, with cells sized from this object's coordinates.

        Parameters
        ----------
        radius : float or str
            A number in coordinate units, or a length with unit (``"500 m"``, ``"2 km"``,
            ``"1 mi"``, ``"30 ft"``). Metric radii need projected (non-degree) coordinates;
            coordinates without a ``units`` attribute are taken as metres.
        dims : pair of str, optional
            The (y, x) dims; default: detected from CF (``axis``, ``standard_name``,
            degree ``units``, names like y/x, lat/lon), else the only two dims; an
            ambiguous or non-spatial layout is an error asking for ``dims``.

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
        dims : pair of str, optional
            The (y, x) dims; default: detected from CF (``axis``, ``standard_name``,
            degree ``units``, names like y/x, lat/lon), else the only two dims; an
            ambiguous or non-spatial layout is an error asking for ``dims``.

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


class _FocalStatistics:
    """Focal statistics shared by both accessors (a Dataset maps them over its variables)."""

    _obj: xr.DataArray | xr.Dataset

    mean = _stat_method("mean")
    sum = _stat_method("sum")
    count = _stat_method("count")
    min = _stat_method("min")
    max = _stat_method("max")
    range = _stat_method("range")
    std = _stat_method("std")
    var = _stat_method("var")

    def stats(
        self,
        footprint: Any,
        stats: Sequence[str] = ("mean", "std"),
        *,
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
        footprint : array_like
            2-D, odd sides; nonzero cells form the neighbourhood.
        stats : sequence of str
            Any of ``"mean"``, ``"sum"``, ``"count"``, ``"min"``, ``"max"``, ``"range"``,
            ``"std"``, ``"var"``.
        boundary, nan_policy, min_count, method, dims
            As for :meth:`mean`.

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
        dims = _resolve_dims(obj, dims)
        names = api._check_stats(stats)
        opts = dict(boundary=boundary, nan_policy=nan_policy, min_count=min_count, method=method)
        if isinstance(obj, xr.Dataset):
            out = {}
            for key, var in obj.data_vars.items():
                if all(d in var.dims for d in dims):
                    for stat, res in zip(names, _stats_da(var, footprint, names, dims, **opts)):
                        out[f"{key}_{stat}"] = res.rename(f"{key}_{stat}")
            return xr.Dataset(out, attrs=obj.attrs)
        results = _stats_da(obj, footprint, names, dims, **opts)
        return xr.Dataset({stat: r.rename(stat) for stat, r in zip(names, results)},
                          attrs=obj.attrs)


@xr.register_dataarray_accessor("focal")
class FocalDataArrayAccessor(_FocalKernels, _FocalStatistics):
    """Focal (neighbourhood) operations on a DataArray: ``da.focal.convolve(kernel)``."""

    def __init__(self, obj: xr.DataArray) -> None:
        self._obj = obj

    def correlate(
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
        """Correlate the two spatial dims with ``kernel`` (overlaid as given).

        Other dims broadcast. The result keeps dims (and their order), coords, attrs and
        name; dask-backed input gives a lazy result with the same chunks.

        Parameters
        ----------
        kernel : array_like
            2-D, odd sides, finite, not all zero (see :func:`xarray_focal.custom_kernel`).
        boundary : str
            One of ``"nan"`` (default), ``"nearest"``, ``"reflect"``, ``"mirror"``,
            ``"wrap"``, ``"constant"``.
        cval : float
            Outside value for ``boundary="constant"``.
        nan_policy : {"propagate", "omit", "renormalize"}
            How NaN inside the footprint is treated (see :func:`xarray_focal.correlate`).
        min_count : int, optional
            Fewer valid footprint taps than this give NaN.
        method : {"auto", "direct", "runs", "columns", "separable"}
            Algorithm (see :func:`xarray_focal.correlate`); all give the same contract.
        dims : pair of str, optional
            The (y, x) dims; default: detected from CF (``axis``, ``standard_name``,
            degree ``units``, names like y/x, lat/lon), else the only two dims; an
            ambiguous or non-spatial layout is an error asking for ``dims``.
        name : hashable, optional
            Name of the result; default the input's.

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
        dims = _resolve_dims(self._obj, dims)
        return _correlate_da(
            self._obj, api.correlate, kernel, dims, name, boundary=boundary, cval=cval,
            nan_policy=nan_policy, min_count=min_count, method=method,
        )

    def convolve(
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
        """Convolve the two spatial dims with ``kernel`` (flipped on both axes).

        Parameters and result as for :meth:`correlate`; for symmetric kernels the two agree.

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
        dims = _resolve_dims(self._obj, dims)
        return _correlate_da(
            self._obj, api.convolve, kernel, dims, name, boundary=boundary, cval=cval,
            nan_policy=nan_policy, min_count=min_count, method=method,
        )


@xr.register_dataset_accessor("focal")
class FocalDatasetAccessor(_FocalKernels, _FocalStatistics):
    """Focal operations on every data variable of a Dataset that has the spatial dims."""

    def __init__(self, obj: xr.Dataset) -> None:
        self._obj = obj

    def _map(self, op: str, kernel: Any, dims, **kwargs) -> xr.Dataset:
        dims = _resolve_dims(self._obj, dims)
        kernel = kernels.custom_kernel(kernel)  # validate once, not once per variable
        out = {}
        for key, var in self._obj.data_vars.items():
            if all(d in var.dims for d in dims):
                out[key] = getattr(var.focal, op)(kernel, dims=dims, **kwargs)
            else:
                out[key] = var
        return self._obj.assign(out)

    def correlate(
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
        """Correlate every data variable that has both ``dims``; others pass through.

        Parameters
        ----------
        kernel, boundary, cval, nan_policy, min_count, method
            As for :meth:`FocalDataArrayAccessor.correlate`.
        dims : pair of str, optional
            The (y, x) dims; default: detected as for a DataArray over the Dataset's dims
            and coords (with no CF clue, its only two dims, held in one order by all
            variables).

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
        return self._map(
            "correlate", kernel, dims, boundary=boundary, cval=cval, nan_policy=nan_policy,
            min_count=min_count, method=method,
        )

    def convolve(
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
        """Convolve every data variable that has both ``dims``; others pass through.

        Parameters and result as for :meth:`correlate`.

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
        return self._map(
            "convolve", kernel, dims, boundary=boundary, cval=cval, nan_policy=nan_policy,
            min_count=min_count, method=method,
        )
