"""Lengths with units, cell sizes and CF spatial roles read from xarray coordinates.

Radii may be plain numbers (taken in the coordinates' own units) or strings with a unit
(``"500 m"``, ``"0.5km"``, ``"2 mi"``, ``"30 ft"``). A radius with a unit is converted to
the coordinates' units; coordinates without a ``units`` attribute are taken as metres. On
coordinates in degrees (a geographic lat/lon grid, recognised from the CF conventions) a
length radius is never converted: the accessor builds a geodesic footprint from it instead
(:mod:`xarray_focal._geodesic`).

Unit symbols are case-sensitive, as in SI (``"mm"`` is millimetres, ``"Mm"`` and ``"M"``
are refused); spelled-out names (``"Metres"``, ``"KILOMETERS"``, ``"miles"``) are not.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Hashable

import numpy as np

from .errors import FocalTypeError, FocalValueError

__all__ = [
    "parse_length",
    "metres_per_unit",
    "cellsize",
    "radius_in_coord_units",
    "geographic_reason",
    "spatial_role",
]

#: Metres per unit symbol, matched exactly: symbols are case-sensitive as in SI, so
#: "Mm" (megametre) and "M" are not read as millimetres or metres but refused.
LENGTH_SYMBOLS: dict[str, float] = {
    "m": 1.0,
    "km": 1000.0,
    "cm": 0.01,
    "mm": 0.001,
    "mi": 1609.344,
    "ft": 0.3048,
    "ftUS": 1200 / 3937,
    "yd": 0.9144,
    "nmi": 1852.0,
}

#: Metres per spelled-out unit name (lower case, "_" for spaces), matched case-insensitively.
LENGTH_WORDS: dict[str, float] = {}
for _names, _metres in (
    (("meter", "meters", "metre", "metres"), 1.0),
    (("kilometer", "kilometers", "kilometre", "kilometres"), 1000.0),
    (("centimeter", "centimeters", "centimetre", "centimetres"), 0.01),
    (("millimeter", "millimeters", "millimetre", "millimetres"), 0.001),
    (("mile", "miles"), 1609.344),
    (("foot", "feet"), 0.3048),
    (("us_survey_foot", "us_survey_feet"), 1200 / 3937),
    (("yard", "yards"), 0.9144),
    (("nautical_mile", "nautical_miles"), 1852.0),
):
    for _name in _names:
        LENGTH_WORDS[_name] = _metres

#: Every accepted spelling and its metres (symbols as written, names in lower case).
LENGTH_UNITS: dict[str, float] = {**LENGTH_SYMBOLS, **LENGTH_WORDS}

# Degree units of CF latitude/longitude coordinates (compared in lower case: none of them
# is an SI symbol that case could change).
_DEGREE_UNITS = {
    "degree", "degrees", "deg", "degrees_north", "degrees_east", "degree_north",
    "degree_east", "degrees_n", "degrees_e", "degreesn", "degreese", "degree_n", "degree_e",
    "degreen", "degreee", "°", "°n", "°e",
}

# CF standard_name values of geographic coordinates (grid_* for rotated poles).
_GEO_STANDARD_NAMES = {"latitude", "longitude", "grid_latitude", "grid_longitude"}

# Names of coordinates that are in degrees when they carry no units attribute.
_GEO_NAMES = {
    "lat", "lon", "latitude", "longitude", "rlat", "rlon", "nav_lat", "nav_lon",
}

# CF clues to the y and x roles of a dimension (names compared in lower case).
_ROLE_NAMES = {
    "y": {"y", "lat", "latitude", "rlat", "northing"},
    "x": {"x", "lon", "longitude", "rlon", "easting"},
}
_ROLE_STANDARD_NAMES = {
    "y": {"latitude", "grid_latitude", "projection_y_coordinate"},
    "x": {"longitude", "grid_longitude", "projection_x_coordinate"},
}
_ROLE_UNITS = {
    "y": {"degrees_north", "degree_north", "degrees_n", "degree_n", "degreesn", "degreen", "°n"},
    "x": {"degrees_east", "degree_east", "degrees_e", "degree_e", "degreese", "degreee", "°e"},
}

_LENGTH_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z_ ]*?)\s*$")


def _word(unit: str) -> str:
    return unit.strip().lower().replace(" ", "_")


def metres_per_unit(unit: str) -> float | None:
    """Metres in one ``unit``: a symbol matched exactly or a name in any case; else ``None``.

    Examples
    --------
    >>> metres_per_unit("km"), metres_per_unit("Metres"), metres_per_unit("Mm")
    (1000.0, 1.0, None)
    """
    unit = unit.strip()
    if unit in LENGTH_SYMBOLS:
        return LENGTH_SYMBOLS[unit]
    return LENGTH_WORDS.get(_word(unit))


def _unknown_unit_hint(unit: str) -> str:
    near = [s for s in LENGTH_SYMBOLS if s.lower() == unit.lower()]
    if near:
        return f" (unit symbols are case-sensitive: {near[0]!r} is {LENGTH_SYMBOLS[near[0]]:g} m)"
    return ""


def parse_length(
    value: object, name: str = "radius", *, allow_zero: bool = False
) -> tuple[float, str | None]:
    """Split a radius into (number, unit), the unit as accepted or ``None`` for a plain number.

    Unit symbols are case-sensitive (``"m"``, ``"km"``, ``"mm"``, ``"ft"``, ``"ftUS"``...);
    spelled-out names (``"metres"``, ``"Kilometers"``) are returned in lower case. The
    number must be positive and finite (or zero, with ``allow_zero``).

    Examples
    --------
    >>> parse_length("500 m")
    (500.0, 'm')
    >>> parse_length("0.5km")
    (0.5, 'km')
    >>> parse_length("2 Miles")
    (2.0, 'miles')
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
        raw = match.group(2).strip()
        unit = None
        if raw:
            # A symbol only as written: "Mm" must not fall back to "mm" as a name would.
            unit = raw if raw in LENGTH_SYMBOLS else _word(raw)
            if raw not in LENGTH_SYMBOLS and unit not in LENGTH_WORDS:
                raise FocalValueError(
                    f"unknown unit {raw!r} in {name} {value!r}{_unknown_unit_hint(raw)}; "
                    f"known units: {', '.join(LENGTH_SYMBOLS)} or the names "
                    f"{', '.join(sorted(LENGTH_WORDS))}"
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


def _dim_coord(obj, dim: Hashable):
    """The dimension coordinate of ``dim`` (the one named like it), or ``None``."""
    return obj.coords[dim] if dim in obj.coords and obj.coords[dim].dims == (dim,) else None


def _units_attr(coord) -> str | None:
    units = coord.attrs.get("units") if coord is not None else None
    if units is None:
        return None
    return str(units).strip() or None


def _is_degrees(units: str | None) -> bool:
    return units is not None and _word(units) in _DEGREE_UNITS


def geographic_reason(obj, dim: Hashable) -> str | None:
    """Why ``dim`` of ``obj`` is a latitude/longitude axis in degrees, or ``None`` if it is not.

    Recognised from the CF conventions on the dimension coordinate: ``units`` in degrees
    (``degrees_north``, ``degrees_east``, ``degree``...; this also covers an ``axis``
    attribute "X"/"Y" with degree units), ``standard_name`` latitude/longitude or
    grid_latitude/grid_longitude, and -- only where there is no ``units`` attribute -- the
    usual names lat, lon, latitude, longitude, rlat, rlon, nav_lat, nav_lon (any case).

    Examples
    --------
    >>> import xarray as xr
    >>> da = xr.DataArray(np.zeros((2, 3)), dims=("lat", "lon"))
    >>> geographic_reason(da, "lat")
    "dim 'lat' is named like a latitude/longitude and has no units"
    >>> print(geographic_reason(da.rename(lat="y"), "y"))
    None
    """
    coord = _dim_coord(obj, dim)
    units = _units_attr(coord)
    if _is_degrees(units):
        return f"coordinate {dim!r} has units {units!r}"
    standard_name = coord.attrs.get("standard_name") if coord is not None else None
    if standard_name in _GEO_STANDARD_NAMES:
        return f"coordinate {dim!r} has standard_name {standard_name!r}"
    if units is None and str(dim).lower() in _GEO_NAMES:
        return f"dim {dim!r} is named like a latitude/longitude and has no units"
    return None


def spatial_role(obj, dim: Hashable) -> set[str]:
    """The CF spatial roles (``{"y"}``, ``{"x"}``, empty, or both if clues conflict) of ``dim``.

    Clues, on the dim and its dimension coordinate: ``axis`` "Y"/"X"; ``standard_name``
    latitude, grid_latitude, projection_y_coordinate / longitude, grid_longitude,
    projection_x_coordinate; ``units`` degrees_north / degrees_east; the dim's name (any
    case) y, lat, latitude, rlat, northing / x, lon, longitude, rlon, easting.

    Examples
    --------
    >>> import xarray as xr
    >>> da = xr.DataArray(np.zeros((2, 3, 4)), dims=("Latitude", "lon", "time"))
    >>> [sorted(spatial_role(da, d)) for d in da.dims]
    [['y'], ['x'], []]
    """
    coord = _dim_coord(obj, dim)
    attrs = coord.attrs if coord is not None else {}
    units = _units_attr(coord)
    roles = set()
    for role in ("y", "x"):
        if (
            str(dim).lower() in _ROLE_NAMES[role]
            or str(attrs.get("axis", "")).strip().upper() == role.upper()
            or attrs.get("standard_name") in _ROLE_STANDARD_NAMES[role]
            or (units is not None and _word(units) in _ROLE_UNITS[role])
        ):
            roles.add(role)
    return roles


def _unit_key(obj, dim: Hashable) -> tuple | None:
    """What the coordinate's units mean, for comparing y with x: aliases compare equal."""
    units = _units_attr(_dim_coord(obj, dim))
    if units is None:
        return None
    if _is_degrees(units):
        return ("degrees",)
    metres = metres_per_unit(units)
    return ("length", metres) if metres is not None else ("other", units)


def radius_in_coord_units(
    value: object,
    obj,
    dims: tuple[Hashable, Hashable],
    name: str = "radius",
    *,
    allow_zero: bool = False,
) -> float:
    """Convert a radius to the units of the spatial coordinates of ``obj`` along ``dims``.

    A plain number is returned unchanged (it is in coordinate units, in degrees on a
    geographic grid). A radius with a unit is converted to the coordinates' length unit
    (metres when they have none) and refused on a geographic grid (see
    :func:`geographic_reason`). The y and x coordinates must have the same units, compared
    by meaning: ``"m"`` and ``"metre"`` are the same unit.

    Examples
    --------
    >>> import xarray as xr
    >>> da = xr.DataArray(np.zeros((2, 2)), dims=("y", "x"),
    ...                   coords={"y": ("y", [0.0, 1.0], {"units": "km"}),
    ...                           "x": ("x", [0.0, 1.0], {"units": "kilometres"})})
    >>> radius_in_coord_units("1500 m", da, ("y", "x"))
    1.5
    """
    number, unit = parse_length(value, name, allow_zero=allow_zero)
    if unit is not None:
        reasons = [r for r in (geographic_reason(obj, d) for d in dims) if r is not None]
        if reasons:
            # The accessor turns these into geodesic footprints before asking here; a
            # length is never applied to degrees as if they were metres.
            raise FocalValueError(
                f"{name} {value!r} has a length unit but the grid is geographic (lat/lon in "
                f"degrees: {'; '.join(reasons)}); a length cannot be converted to degrees: "
                "build a geodesic kernel with the accessor (da.focal.circle_kernel), or give "
                f"{name} as a plain number in degrees"
            )
    keys = {d: _unit_key(obj, d) for d in dims}
    known = {k for k in keys.values() if k is not None}
    if len(known) > 1:
        described = ", ".join(
            f"{d!r} in {_units_attr(_dim_coord(obj, d))!r}" for d in dims if keys[d] is not None
        )
        raise FocalValueError(
            f"the spatial coordinates have different units ({described}), so {name} "
            f"{value!r} has no single meaning; give both coordinates the same units"
        )
    if unit is None:
        return number
    target = 1.0
    if known:
        (key,) = known
        if key[0] != "length":
            units = _units_attr(_dim_coord(obj, dims[0])) or _units_attr(_dim_coord(obj, dims[1]))
            raise FocalValueError(
                f"cannot convert {name} {value!r} to the coordinates' units {units!r}; "
                "give the radius as a plain number in coordinate units"
            )
        target = key[1]
    return number * LENGTH_UNITS[unit] / target


def _shortest_decimal(value: float, within: float) -> float:
    """The decimal with the fewest significant digits within ``within`` of ``value``."""
    for digits in range(1, 18):
        candidate = float(f"{value:.{digits}g}")
        if abs(candidate - value) <= within:
            return candidate
    return value


def _step(values: np.ndarray) -> tuple[float | None, float, np.ndarray]:
    """(cell size or ``None`` if irregular, tolerance, steps) of 1-D coordinate values.

    A stored float coordinate is the exact grid value rounded when it was computed and
    again when it was stored (a float32 ``numpy.arange`` also carries its rounded step):
    allow each value an error of ``e = 2`` ulp of its dtype at the largest magnitude. A
    step is then within ``2e`` of the true step, the mean step (the span over the count)
    within ``2e / (n - 1)``, so a step differs from the mean by at most
    ``2e * n / (n - 1)`` -- the tolerance, which makes float32 coordinates at 0.005 degrees
    up to 180 regular. Float64 keeps at least today's relative 1e-6 of a step; integers
    must be exact. The cell size returned is the shortest decimal within the mean step's
    own uncertainty: a 0.01-degree grid stored as float32 gives 0.01, not 0.0100000055,
    so a radius of a whole number of cells keeps its rim.
    """
    steps = np.diff(values.astype(np.float64))
    n = values.size
    step = float(values[-1].astype(np.float64) - values[0]) / (n - 1)
    if values.dtype.kind == "f":
        error = 2 * float(np.spacing(np.max(np.abs(values))))
        tol = max(2 * error * n / (n - 1), 1e-6 * abs(step))
    else:
        error = tol = 0.0
    regular = step != 0 and bool(np.all(np.abs(steps - step) <= tol))
    if not regular:
        return None, tol, steps
    return abs(_shortest_decimal(step, 2 * error / (n - 1))), tol, steps


def _read_res(obj) -> tuple[float, float] | None:
    res = obj.attrs.get("res")
    if res is None:
        return None
    try:
        arr = np.atleast_1d(np.asarray(res, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise FocalValueError(f"attrs['res'] must be one or two nonzero numbers; got {res!r}") from exc
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2 or not np.all(np.isfinite(arr)) or np.any(arr == 0):
        raise FocalValueError(f"attrs['res'] must be one or two nonzero numbers; got {res!r}")
    return abs(float(arr[0])), abs(float(arr[1]))


def cellsize(obj, dims: tuple[Hashable, Hashable]) -> tuple[float, float]:
    """Cell size ``(x, y)`` of ``obj`` along ``dims`` (y, x), from coordinates or ``attrs['res']``.

    Per dim: regularly spaced numeric coordinates give ``abs(step)``; ``attrs['res']``
    (one number or an ``(x, y)`` pair, as rasterio-style readers set it) is used where there
    are no such coordinates, and wins over irregular ones. Where both are there they must
    agree to the coordinates' rounding, else the error names both. "Regular" allows the
    rounding of the coordinate's own dtype (see :func:`_step`).

    Examples
    --------
    >>> import xarray as xr
    >>> da = xr.DataArray(np.zeros((3, 4)), dims=("y", "x"),
    ...                   coords={"y": [20.0, 10.0, 0.0], "x": [0.0, 5.0, 10.0, 15.0]})
    >>> cellsize(da, ("y", "x"))
    (5.0, 10.0)
    """
    ydim, xdim = dims
    res = _read_res(obj)
    found = {}
    res_x, res_y = res if res is not None else (None, None)
    for dim, from_res in ((xdim, res_x), (ydim, res_y)):
        coord = _dim_coord(obj, dim)
        values = np.asarray(coord.values) if coord is not None else None
        if values is None or values.ndim != 1 or values.size < 2 or values.dtype.kind not in "iuf":
            found[dim] = from_res
            continue
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            step, tol, steps = None, 0.0, None
            what = "holds NaN or inf"
        else:
            step, tol, steps = _step(values)
            what = f"steps from {steps.min():g} to {steps.max():g}"
        if step is None:
            if from_res is None:
                raise FocalValueError(
                    f"coordinate {dim!r} is not regularly spaced ({what}); give the cell "
                    "size through attrs['res'] or build the kernel with "
                    "xarray_focal.circle_kernel"
                )
            found[dim] = from_res
        elif from_res is not None and abs(from_res - step) > tol:
            raise FocalValueError(
                f"attrs['res'] gives cell size {from_res!r} along {dim!r} but its coordinate "
                f"is regularly spaced at {step!r}; correct or drop attrs['res'] (it is (x, y))"
            )
        else:
            found[dim] = step
    missing = [d for d in (ydim, xdim) if found[d] is None]
    if missing:
        raise FocalValueError(
            f"no cell size for dims {missing}: they need regularly spaced numeric coordinates "
            "(at least two values) or an attrs['res'] of (x, y) cell sizes"
        )
    return found[xdim], found[ydim]
