"""Exceptions raised by xarray-focal.

Every error derives from :class:`FocalError`, so ``except FocalError`` catches anything
this library raises on purpose. Each concrete class also derives from the built-in
exception a user would expect (``ValueError`` or ``TypeError``), so generic handlers keep
working.
"""

from __future__ import annotations

__all__ = ["FocalError", "FocalValueError", "FocalTypeError"]


class FocalError(Exception):
    """Root of all exceptions raised by xarray-focal."""


class FocalValueError(FocalError, ValueError):
    """An argument has the right type but an unusable value (even kernel, bad radius...)."""


class FocalTypeError(FocalError, TypeError):
    """An argument has an unsupported type (complex data, string cval...)."""
