"""Which two dims of a DataArray or Dataset are the spatial (y, x) ones.

Given by the caller (``dims=``, checked here) or found from CF clues (see
:func:`~xarray_focal._units.spatial_role`); an ambiguous layout is refused with a message
asking for ``dims=``, never guessed.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import xarray as xr

from . import _units as units
from .errors import FocalTypeError, FocalValueError

__all__ = ["detect_dims", "resolve_dims"]


def _dims_in_order(obj: xr.DataArray | xr.Dataset) -> tuple:
    return tuple(obj.dims) if isinstance(obj, xr.DataArray) else tuple(obj.sizes)


def detect_dims(obj: xr.DataArray | xr.Dataset) -> tuple:
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


def resolve_dims(obj: xr.DataArray | xr.Dataset, dims: Sequence[Hashable] | None) -> tuple:
    """The (y, x) dims: ``dims`` checked, or detected from CF conventions when ``None``.

    Detection: one y-like and one x-like dim (CF ``axis`` "Y"/"X"; ``standard_name``
    latitude, grid_latitude, projection_y_coordinate / the x counterparts; ``units``
    degrees_north / degrees_east; names y, lat, latitude, rlat, northing / x, lon,
    longitude, rlon, easting in any case), wherever they are in the dim order. With no
    such clue, an object of exactly two dims uses them in order. Anything else is refused.
    """
    if dims is None:
        return detect_dims(obj)
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
