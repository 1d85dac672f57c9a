"""Lengths with units, and cell sizes read from xarray coordinates.

Radii may be plain numbers (taken in the coordinates' own units) or strings with a unit
(``"500 m"``, ``"0.5km"``, ``"2 mi"``, ``"30 ft"``). A radius with a unit is converted to
the coordinates' units; coordinates without a ``units`` attribute are taken as metres,
and coordinates in degrees cannot take a metric radius.
"""

from __future__ import annotations

import math
import numbers
import re

import numpy as np

from .errors import FocalTypeError, FocalValueError

__all__ = ["parse_length", "cellsize", "radius_in_coord_units"]

#: Metres per unit, for every spelling we accept (lower case).
LENGTH_UNITS: dict[str, float] = {}
for _names, _metres in (
    (("m", "meter", "meters", "metre", "metres"), 1.0),
    (("km", "kilometer", "kilometers", "kilometre", "kilometres"), 1000.0),
    (("cm", "centimeter", "centimeters", "centimetre", "centimetres"), 0.01),
    (("mm", "millimeter", "millimeters", "millimetre", "millimetres"), 0.001),
    (("mi", "mile", "miles"), 1609.344),
    (("ft", "foot", "feet"), 0.3048),
    (("us_survey_foot", "us_survey_feet", "ftus"), 1200 / 3937),
    (("yd", "yard", "yards"), 0.9144),
    (("nmi", "nautical_mile", "nautical_miles"), 1852.0),
):
    for _name in _names:
        LENGTH_UNITS[_name] = _metres

_DEGREE_UNITS = {
    "degree", "degrees", "deg", "degrees_north", "degrees_east", "degree_north",
    "degree_east", "degrees_n", "degrees_e", "degreesn", "degreese", "degree_n", "degree_e",
}

_LENGTH_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z_ ]*?)\s*$")


def parse_length(
    value: object, name: str = "radius", *, allow_zero: bool = False
) -> tuple[float, str | None]:
    """Split a radius into (number, unit), the unit lower-cased or ``None`` for a plain number.

    The number must be positive and finite (or zero, with ``allow_zero``).

    Examples
    --------
    >>> parse_length("500 m")
    (500.0, 'm')
    >>> parse_length("0.5km")
    (0.5, 'km')
    >>> parse_length(3)
    (3.0, None)
    """
    if isinstance(value, str):
        match = _LENGTH_RE.match(value)
        if match is None:
            raise FocalValueError(
                f"cannot parse {name} {value!r}; use a number or a string like '500 m' or '2 km'"
            )
        number = float(match.group(1))
        unit = match.group(2).strip().lower().replace(" ", "_") or None
        if unit is not None and unit not in LENGTH_UNITS:
            raise FocalValueError(
                f"unknown unit {match.group(2).strip()!r} in {name} {value!r}; "
                f"known units: {', '.join(sorted(LENGTH_UNITS))}"
            )
    elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        number, unit = float(value), None
    else:
        raise FocalTypeError(
            f"{name} must be a number or a string like '500 m'; got {value!r}"
        )
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        what = "finite and >= 0" if allow_zero else "positive and finite"
        raise FocalValueError(f"{name} must be {what}; got {value!r}")
    return number, unit


def _coord_unit(coord) -> str | None:
    units = coord.attrs.get("units") if coord is not None else None
    return str(units).strip().lower().replace(" ", "_") if units else None


def radius_in_coord_units(
    value: object, coords: list, name: str = "radius", *, allow_zero: bool = False
) -> float:
    """Convert a radius to the units of the spatial coordinates ``coords`` (y and x).

    A plain number is returned unchanged. A radius with a unit is converted to the coords'
    length unit (metres when they have none) and refused for coordinates in degrees.
    """
    number, unit = parse_length(value, name, allow_zero=allow_zero)
    if unit is None:
        return number
    coord_units = {_coord_unit(c) for c in coords} - {None}
    degrees = coord_units & _DEGREE_UNITS
    if degrees:
        raise FocalValueError(
            f"{name} {value!r} has a length unit but the coordinates are in degrees "
            f"(units {sorted(degrees)}); reproject to a metric CRS or give {name} as a plain "
            "number in degrees"
        )
    target = 1.0
    if coord_units:
        if len(coord_units) > 1:
            raise FocalValueError(f"spatial coordinates have different units: {sorted(coord_units)}")
        (cu,) = coord_units
        if cu not in LENGTH_UNITS:
            raise FocalValueError(
                f"cannot convert {name} {value!r} to the coordinates' units {cu!r}; "
                "give the radius as a plain number in coordinate units"
            )
        target = LENGTH_UNITS[cu]
    return number * LENGTH_UNITS[unit] / target


def _spacing(coord, dim: str) -> float | None:
    values = np.asarray(coord.values)
    if values.ndim != 1 or values.size < 2 or values.dtype.kind not in "iuf":
        return None
    steps = np.diff(values.astype(np.float64))
    step = float(np.median(steps))
    if step == 0 or not np.allclose(steps, step, rtol=1e-6, atol=0):
        raise FocalValueError(
            f"coordinate {dim!r} is not regularly spaced (steps from {steps.min():g} to "
            f"{steps.max():g}); give the cell size through attrs['res'] or build the kernel "
            "with xarray_focal.circle_kernel"
        )
    return abs(step)


def cellsize(obj, dims: tuple[str, str]) -> tuple[float, float]:
    """Cell size ``(x, y)`` from the regular spacing of the spatial coords, else ``attrs['res']``.

    Examples
    --------
    >>> import xarray as xr
    >>> da = xr.DataArray(np.zeros((3, 4)), dims=("y", "x"),
    ...                   coords={"y": [20.0, 10.0, 0.0], "x": [0.0, 5.0, 10.0, 15.0]})
    >>> cellsize(da, ("y", "x"))
    (5.0, 10.0)
    """
    ydim, xdim = dims
    found = {}
    for dim in (xdim, ydim):
        found[dim] = _spacing(obj.coords[dim], dim) if dim in obj.coords else None
    if found[xdim] is None or found[ydim] is None:
        res = obj.attrs.get("res")
        if res is not None:
            try:
                res = np.atleast_1d(np.asarray(res, dtype=np.float64))
            except (TypeError, ValueError) as exc:
                raise FocalValueError(
                    f"attrs['res'] must be one or two nonzero numbers; got {res!r}"
                ) from exc
            if res.size == 1:
                res = np.repeat(res, 2)
            if res.size != 2 or not np.all(np.isfinite(res)) or np.any(res == 0):
                raise FocalValueError(f"attrs['res'] must be one or two nonzero numbers; got {res!r}")
            found[xdim] = found[xdim] or abs(float(res[0]))
            found[ydim] = found[ydim] or abs(float(res[1]))
    missing = [d for d in (ydim, xdim) if found[d] is None]
    if missing:
        raise FocalValueError(
            f"no cell size for dims {missing}: they need regularly spaced numeric coordinates "
            "(at least two values) or an attrs['res'] of (x, y) cell sizes"
        )
    return found[xdim], found[ydim]
