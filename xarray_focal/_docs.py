"""Shared docstring pieces and the helper that fills them in.

Parameter descriptions that several functions share are written once here, undented, and
:func:`fill_doc` puts each where a docstring names it, indented like that line, so the
generated pages read as if each docstring had been written out in full.
"""

from __future__ import annotations

import re
import textwrap

__all__ = ["ACCESSOR_PARAMS", "STAT_EXAMPLES", "docfilled", "fill_doc"]

#: Results of the statistics' docstring examples (``[[1, 3, nan, 8]]``, a 1x3 footprint,
#: ``boundary="nearest"``): the array functions and the accessors show the same numbers.
STAT_EXAMPLES = {
    "mean": "array([[1.66666667, 2.        , 5.5       , 8.        ]])",
    "sum": "array([[ 5.,  4., 11., 16.]])",
    "count": "array([[3., 2., 2., 2.]])",
    "min": "array([[1., 1., 3., 8.]])",
    "max": "array([[3., 3., 8., 8.]])",
    "range": "array([[2., 2., 5., 0.]])",
    "std": "array([[0.94280904, 1.        , 2.5       , 0.        ]])",
    "var": "array([[0.88888889, 1.        , 6.25      , 0.        ]])",
    "median": "array([[1. , 2. , 5.5, 8. ]])",
    "majority": "array([[1., 1., 3., 8.]])",
    "minority": "array([[3., 1., 3., 8.]])",
    "variety": "array([[2., 2., 2., 1.]])",
}

# A line holding only a placeholder such as "%(dims)s" (any indentation).
_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s[ \t]*$", re.MULTILINE)


def fill_doc(template: str, pieces: dict[str, str]) -> str:
    """``template`` with each line ``%(key)s`` replaced by ``pieces[key]``, indented alike.

    Only whole-line placeholders are replaced, so braces, percent signs and the like
    elsewhere in a docstring need no escaping. An unknown key raises ``KeyError``: a
    docstring must never ship with a placeholder left in it.

    Examples
    --------
    >>> print(fill_doc("Parameters\\n    %(x)s\\n", {"x": "x : int\\n    A number."}))
    Parameters
        x : int
            A number.
    <BLANKLINE>
    """

    def put(match: re.Match) -> str:
        indent, key = match.groups()
        return textwrap.indent(textwrap.dedent(pieces[key]).strip("\n"), indent)

    return _PLACEHOLDER.sub(put, template)


#: Parameter descriptions shared by the ``.focal`` accessor methods.
ACCESSOR_PARAMS = {
    "dims": """
        dims : pair of str, optional
            The (y, x) dims; default: detected from CF (``axis``, ``standard_name``,
            degree ``units``, names like y/x, lat/lon), else the only two dims; an
            ambiguous or non-spatial layout is an error asking for ``dims``.
        """,
    "dataset_dims": """
        dims : pair of str, optional
            The (y, x) dims; default: detected as for a DataArray over the Dataset's dims
            and coords (with no CF clue, its only two dims, held in one order by all
            variables).
        """,
    "name": """
        name : hashable, optional
            Name of the result; default the input's.
        """,
    "kernel_options": """
        kernel : array_like
            2-D, odd sides, finite, not all zero (see :func:`xarray_focal.custom_kernel`).
        boundary : str or dict
            One of ``"nan"`` (default), ``"nearest"``, ``"reflect"``, ``"mirror"``,
            ``"wrap"``, ``"constant"``; or one per spatial dim, ``{"lat": "nearest",
            "lon": "wrap"}`` (both dims named).
        cval : float
            Outside value for ``boundary="constant"``.
        nan_policy : {"propagate", "omit", "renormalize"}
            How NaN inside the footprint is treated (see :func:`xarray_focal.correlate`).
        min_count : int, optional
            Fewer valid footprint taps than this give NaN.
        method : {"auto", "direct", "runs", "columns", "separable", "box"}
            Algorithm (see :func:`xarray_focal.correlate`); all give the same contract.
        """,
    "footprint": """
        footprint : array_like, optional
            2-D, odd sides; nonzero cells form the neighbourhood. Give it or ``size``.
        size : int or (int, int), optional
            Instead of ``footprint``: a box of ``size`` x ``size`` (or ``(rows, cols)``)
            cells, odd sides, as ``scipy.ndimage``'s ``size=``.
        """,
    "stat_options": """
        boundary : str or dict
            As for :meth:`correlate` (one mode, or ``{dim: mode}`` for both spatial dims);
            with ``"nan"`` (default) outside cells are missing.
        nan_policy : {"omit", "propagate"}
            ``"omit"`` (default, unlike ``correlate``): the statistic of the valid cells, NaN
            where there are none; ``"propagate"``: NaN wherever the footprint holds a NaN.
        """,
    "stat_method": """
        method : {"auto", "direct", "runs", "columns", "box"}
            Algorithm, as for :meth:`correlate`.
        """,
}


def docfilled(pieces: dict[str, str]):
    """Decorator: the function's docstring filled by :func:`fill_doc` from ``pieces``."""

    def fill(func):
        func.__doc__ = fill_doc(func.__doc__, pieces)
        return func

    return fill
