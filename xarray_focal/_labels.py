"""CF labels of focal statistics: the attributes a result carries and the text that says so.

A statistic is a new quantity (a variance has squared units, a count has none) with its own
``long_name`` and ``cell_methods``; :func:`stat_attrs` writes them from the input's
attributes and :func:`labels_doc` describes the same rules in each statistic's docstring,
so the two are read from one table.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Hashable

__all__ = ["stat_attrs", "labels_doc"]

# CF cell_methods method names (CF conventions, appendix E). count, variety, minority,
# percentile and a user's function have none, so no focal entry is appended for them; the
# majority is CF's "mode".
_CF_METHODS = {
    "mean": "mean", "sum": "sum", "min": "minimum", "max": "maximum", "range": "range",
    "std": "standard_deviation", "var": "variance", "median": "median", "majority": "mode",
}
# Statistics that count cells: units "1".
_COUNTS = {"count", "variety"}
# Statistics whose values are classes of the data: its flag_* attributes still apply.
_CLASS_VALUED = {"majority", "minority"}
_LONG_NAMES = {
    "mean": "mean", "sum": "sum", "count": "count of valid cells", "min": "minimum",
    "max": "maximum", "range": "range", "std": "standard deviation", "var": "variance",
    "median": "median", "percentile": "percentile", "majority": "majority (most frequent value)",
    "minority": "minority (least frequent value)", "variety": "variety (number of distinct values)",
    "apply": "window function",
}
# Statistics that are the same physical quantity as the data (standard_name and valid
# range still apply); the others are sums, spreads or counts of it.
_SAME_QUANTITY = {"mean", "min", "max", "median", "percentile", "majority", "minority"}
_FLAG_ATTRS = {"flag_values", "flag_masks", "flag_meanings"}
# Attributes about the input's packing, fill value, flags or actual values: they do not
# describe any statistic (float results, NaN for missing).
_INPUT_ONLY_ATTRS = {
    "scale_factor", "add_offset", "_FillValue", "missing_value", "_Unsigned", "actual_range",
    "flag_values", "flag_masks", "flag_meanings",
}
_VALID_RANGE_ATTRS = {"valid_range", "valid_min", "valid_max"}
# Statistics without a CF method that keep the input's cell_methods as they are: how the
# input was made (say "time: mean") is still true of the data they were computed from.
# count (owned by the linear statistics) still drops them.
_KEEP_INPUT_METHODS = {"percentile", "minority", "variety", "apply"}
_UNIT_POWER = re.compile(r"([A-Za-z_]+)(-?\d+)?")


def _squared_units(unit: str) -> str:
    """``unit`` squared in UDUNITS syntax: "m" -> "m2", "s-1" -> "s-2", "kg m-2" -> "(kg m-2)2"."""
    if unit == "1":
        return "1"
    match = _UNIT_POWER.fullmatch(unit)
    if match is not None:
        return f"{match.group(1)}{2 * int(match.group(2) or 1)}"
    return f"({unit})2"


def stat_attrs(attrs: dict, name: Hashable | None, stat: str, dims: tuple, cells: int) -> dict:
    """CF attributes of focal ``stat`` of data with ``attrs`` (as :func:`labels_doc` says).

    ``cells`` is the footprint's size, written into ``cell_methods``; ``dims`` the (y, x)
    dims the statistic ran over. Returns a new dict; ``attrs`` is not modified.

    Examples
    --------
    >>> stat_attrs({"units": "m", "long_name": "elevation"}, "z", "var", ("y", "x"), 9)
    {'units': 'm2', 'long_name': 'focal variance of elevation', 'cell_methods': 'y: x: variance (focal footprint of 9 cells)'}

    A percentile of :func:`~xarray_focal.focal_stats` is named ``"percentile_<q>"``:

    >>> stat_attrs({"cell_methods": "time: mean"}, "t", "percentile_90", ("y", "x"), 9)
    {'cell_methods': 'time: mean', 'long_name': 'focal percentile q=90 of t'}
    """
    what = None
    if stat.startswith("percentile_"):
        stat, what = "percentile", f"percentile q={stat[len('percentile_'):]}"
    out = {
        key: value for key, value in attrs.items()
        if (key not in _INPUT_ONLY_ATTRS or (stat in _CLASS_VALUED and key in _FLAG_ATTRS))
        and (stat in _SAME_QUANTITY or key not in _VALID_RANGE_ATTRS)
    }
    if stat not in _SAME_QUANTITY:
        out.pop("standard_name", None)
    subject = attrs.get("long_name") or (str(name) if name is not None else None)
    out["long_name"] = f"focal {what or _LONG_NAMES[stat]}" + (f" of {subject}" if subject else "")
    unit = str(attrs.get("units", "")).strip()
    if stat in _COUNTS:
        out["units"] = "1"
        out.pop("units_metadata", None)
    elif stat == "apply":  # a user's function: what it returns is not known
        out.pop("units", None)
        out.pop("units_metadata", None)
    elif stat == "var":
        if unit:
            out["units"] = _squared_units(unit)
        else:
            out.pop("units", None)
    if stat in ("std", "var", "range") and str(out.get("units_metadata", "")).startswith("temperature"):
        out["units_metadata"] = "temperature: difference"  # a spread, not a point on the scale
    if stat in _KEEP_INPUT_METHODS:
        pass  # the input's, if any, as they are
    elif stat not in _CF_METHODS:
        out.pop("cell_methods", None)
    else:
        method = f"{dims[0]}: {dims[1]}: {_CF_METHODS[stat]} (focal footprint of {cells} cells)"
        before = str(attrs.get("cell_methods", "")).strip()
        out["cell_methods"] = f"{before} {method}" if before else method
    return out


def labels_doc(stat: str) -> str:
    """The attributes paragraph of the docstring of statistic ``stat`` (wrapped, undented)."""
    units = {
        "count": '``units`` "1" (a number of cells)',
        "variety": '``units`` "1" (a number of distinct values)',
        "apply": "no ``units`` (the function's result is another quantity)",
        "var": '``units`` squared ("m" -> "m2", "kg m-2" -> "(kg m-2)2"; none without units)',
    }.get(stat, "the data's ``units``")
    standard_name = (
        "``standard_name`` and ``valid_*`` kept (the same quantity)" if stat in _SAME_QUANTITY
        else "no ``standard_name`` or ``valid_*`` (another quantity)"
    )
    if stat in _KEEP_INPUT_METHODS:
        methods = ("the input's ``cell_methods`` kept as they are, nothing appended (CF has "
                   "no method name for it)")
    elif stat not in _CF_METHODS:
        methods = "no ``cell_methods`` (CF has no method name for it)"
    else:
        methods = (
            f'``cell_methods`` appended with ``"<y>: <x>: {_CF_METHODS[stat]} (focal footprint '
            'of <n> cells)"``'
        )
    text = (
        f"{units}; {standard_name}; ``long_name`` "
        f'``"focal {_LONG_NAMES[stat]} of <long_name or name>"``; {methods}. Packing and '
        "fill attributes (``scale_factor``, ``add_offset``, ``_FillValue``, "
        + ("``missing_value``) and ``actual_range`` are dropped; ``flag_*`` are kept (the "
           "values are the data's classes)" if stat in _CLASS_VALUED else
           "``missing_value``), ``actual_range`` and ``flag_*`` are dropped")
        + "; the others (such as ``grid_mapping``) are kept."
    )
    # Wrapped for the docstring, where it sits indented under "Returns".
    return textwrap.fill(text, width=80, break_long_words=False, break_on_hyphens=False)
