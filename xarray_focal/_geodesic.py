"""Geodesic footprints: kernels in metres on latitude/longitude grids.

On a regular latitude/longitude grid a disc of fixed radius on the ground covers the same
rows everywhere but more longitude cells the nearer it is to a pole, so there is no one
kernel array: each output *row* has its own footprint. A :class:`GeodesicKernel` holds
them as a table of runs per output row (:class:`RowRuns`): rows whose footprints are the
same share one run table (:class:`~xarray_focal._algorithms.runs.KernelRuns`), and a per-row
index says which. The sweeps of :mod:`xarray_focal._algorithms.geodesic` read that table.

A cell belongs to the footprint of an output cell when the great-circle distance between
the two cell centres (haversine formula, on a sphere of radius ``earth_radius``) is at
most the radius. Rows beyond a pole are not cells and are never in a footprint; near a
pole a footprint widens up to whole rows (every longitude once). On a global grid
(longitude spanning 360 degrees) the longitude axis is periodic.

Backends: numpy arrays (and dask chunks of them) take the per-row sweep of
:mod:`xarray_focal._algorithms.geodesic` (:func:`tile_stack`); cupy arrays (and dask chunks
of them) the per-row CUDA kernel of :mod:`xarray_focal._backends.cupy.geodesic`, one launch
per tile with the run tables on the device once. :func:`band_stack` -- each band of rows
sharing a footprint as an ordinary tile through a backend's own tile functions -- serves
the numpy backend's unweighted order statistics and spreads, and :func:`rank_stack` the
rank statistics on every backend.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._algorithms.runs import KernelRuns, kernel_runs
from ._boundary import axis_modes, check_boundary
from ._contract import FLOAT64_EPS, working_dtype
from ._forking import fork_safe_lock
from .errors import FocalTypeError, FocalValueError

__all__ = ["EARTH_RADIUS", "GeodesicKernel", "RowRuns", "GeodesicCall"]

#: IUGG mean Earth radius in metres (the sphere of the great-circle distances).
EARTH_RADIUS = 6_371_008.8

#: Relative tolerance on distance ties: a cell centre at the radius up to rounding is in.
_TIE = 1e-12


@dataclass(frozen=True, eq=False)
class RowRuns:
    """A footprint that differs per output row: row ``i`` has footprint ``row_class[i]``.

    The one interface every consumer (the sweeps here, rank statistics) reads a per-row
    kernel through: for each output row, a :class:`~xarray_focal._algorithms.runs.KernelRuns`
    (:meth:`for_row`), stored once per distinct footprint (a *class*). The runs of class
    ``c`` are ``dy[c], dx[c], length[c], weight[c]`` in the padded coordinates of the
    largest reach ``(0 .. 2 ry, 0 .. 2 rx)``, the centre at ``(ry, rx)``; :meth:`table`
    gives them flat, per output row, as the sweeps read them.

    Attributes
    ----------
    row_class : ndarray of int64
        Class of each output row.
    dy, dx, length, weight : tuple of ndarray
        Run tables of each class.
    ry, rx : int
        Largest reach of any row's footprint (the halo a tile needs).
    key : bytes
        A digest of the classes and the row classes of the whole grid (for dask tokens).
    start : int
        Grid row of ``row_class[0]``: :meth:`rows` cuts out a dask chunk's rows.
    per_row : bool
        Always True: what the dask wrapper tells a per-row kernel by.

    Examples
    --------
    >>> import xarray as xr
    >>> da = xr.DataArray(np.zeros((18, 36)), dims=("lat", "lon"),
    ...                   coords={"lat": np.arange(-85.0, 90, 10), "lon": np.arange(0.0, 360, 10)})
    >>> runs = da.focal.circle_kernel("1500 km").row_runs
    >>> runs.ntaps_per_row()[[0, 9]].tolist(), runs.ry, runs.rx
    ([49, 5], 1, 18)
    >>> equator = runs.for_row(9)  # a KernelRuns: one run per kernel row
    >>> equator.length.tolist(), equator.ry, equator.rx
    ([1, 3, 1], 1, 1)
    """

    row_class: np.ndarray
    dy: tuple
    dx: tuple
    length: tuple
    weight: tuple
    ry: int
    rx: int
    key: bytes = b""
    start: int = 0
    per_row: bool = field(default=True, init=False)

    @property
    def nrows(self) -> int:
        return int(self.row_class.size)

    @functools.cached_property
    def _class_sums(self) -> np.ndarray:
        # Per class: taps, weight sum, absolute weight sum (asked by every call and chunk).
        return np.array([(np.sum(n), np.sum(w * n), np.sum(np.abs(w) * n))
                         for w, n in zip(self.weight, self.length)], dtype=np.float64).reshape(-1, 3)

    @functools.cached_property
    def unit_weights(self) -> bool:
        """Every run of every class weighs 1 (circles and annuli; asked by every GPU call)."""
        return all(bool(np.all(w == 1.0)) for w in self.weight)

    def ntaps_per_row(self) -> np.ndarray:
        """Number of footprint cells of each output row."""
        return self._class_sums[self.row_class, 0].astype(np.int64)

    def wsum_per_row(self, absolute: bool = False) -> np.ndarray:
        """Sum of the weights (``absolute``: of their magnitudes) of each row's footprint."""
        return self._class_sums[self.row_class, 2 if absolute else 1]

    @property
    def ntaps(self) -> int:
        """The largest footprint of any row (the bound ``min_count`` is checked against)."""
        return int(self.ntaps_per_row().max(initial=0))

    def rows(self, start: int, stop: int) -> RowRuns:
        """The output rows ``start .. stop - 1`` (a dask chunk's), with the same reach."""
        sub = RowRuns(self.row_class[start:stop], self.dy, self.dx, self.length, self.weight,
                      self.ry, self.rx, self.key, self.start + start)
        sub.__dict__["_class_sums"] = self._class_sums  # the classes are the same
        return sub

    def squared(self) -> RowRuns:
        """The same footprints with every weight squared (the Gi* statistic's ``W2``)."""
        return RowRuns(self.row_class, self.dy, self.dx, self.length,
                       tuple(w * w for w in self.weight), self.ry, self.rx,
                       self.key + b"^2", self.start)

    def for_row(self, i: int) -> KernelRuns:
        """Output row ``i``'s footprint as a :class:`KernelRuns` (bounding box ``2ry+1 x 2rx+1``)."""
        c = int(self.row_class[i])
        box = np.zeros((2 * self.ry + 1, 2 * self.rx + 1))
        for y, x, n, w in zip(self.dy[c], self.dx[c], self.length[c], self.weight[c]):
            box[y, x:x + n] = w
        return kernel_runs(box, key=self.key + str(c).encode())

    def table(self):
        """Flat per-row tables of these rows: ``(rptr, rdy, rdx, rlen, rw)``."""
        counts = np.array([d.size for d in self.dy], dtype=np.int64)[self.row_class]
        rptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        pick = lambda arrs: (np.concatenate([arrs[c] for c in self.row_class])  # noqa: E731
                             if self.row_class.size else np.zeros(0))
        return (rptr, pick(self.dy).astype(np.int64), pick(self.dx).astype(np.int64),
                pick(self.length).astype(np.int64), pick(self.weight).astype(np.float64))

    def __dask_tokenize__(self):
        return (type(self).__name__, self.key, self.start, self.row_class.size)


# --- grids -----------------------------------------------------------------------------


def _regular(values: np.ndarray, dim: Hashable, what: str) -> float:
    """Signed step of regular 1-D coordinate ``values`` (degrees), else a FocalValueError."""
    from ._units import _step

    if values.size < 2:
        raise FocalValueError(f"coordinate {dim!r} needs at least two values for a {what}")
    step, _, steps = _step(np.asarray(values))
    if step is None:
        raise FocalValueError(
            f"a radius in metres needs a regular latitude/longitude grid, but coordinate {dim!r} "
            f"is not regularly spaced (steps from {steps.min():g} to {steps.max():g} degrees); "
            "irregular and Gaussian-latitude grids are not supported yet"
        )
    # The step from the end points in float64: float32 coordinates' own steps are off by
    # their rounding, which summed over a row would spoil the test for a full circle.
    ends = np.asarray(values[[0, -1]], dtype=np.float64)
    return float(ends[1] - ends[0]) / (values.size - 1)


@dataclass(frozen=True, eq=False)
class _Grid:
    lat: np.ndarray  # degrees, one per row
    dlat: float  # signed step, degrees
    dlon: float  # degrees, > 0
    nx: int
    periodic: bool  # longitude spans 360 degrees

    @property
    def n360(self) -> int:
        """Longitude cells in a full circle: a footprint never holds more of one row."""
        return int(round(360.0 / self.dlon))


def grid_of(obj, dims: tuple) -> _Grid:
    """The regular lat/lon grid of ``obj`` along ``dims`` = (lat dim, lon dim), checked."""
    ydim, xdim = dims
    coords = {}
    for dim in dims:
        # Not coords.get: a dim without coordinates would give its integer positions.
        c = obj.coords[dim] if dim in obj.coords else None
        if c is None or c.dims != (dim,):
            raise FocalValueError(
                f"a radius in metres on a latitude/longitude grid needs 1-D coordinate values "
                f"along {dim!r}; there are none"
            )
        coords[dim] = np.asarray(c.values)
    _check_roles(obj, ydim, xdim)
    # Regularity in the coordinates' own dtype (float32 coordinates are regular within
    # float32 rounding, as the contract says), the geometry in float64.
    dlat = _regular(coords[ydim], ydim, "latitude")
    # A regional grid across the dateline in -180..180 form (..., 175, -175, ...) is regular
    # once unwrapped; so is 0..360 written as -180..180 halves.
    dlon = abs(_regular(np.unwrap(coords[xdim], period=360.0), xdim, "longitude"))
    lat, lon = (np.asarray(coords[d], dtype=np.float64) for d in (ydim, xdim))
    if np.any(np.abs(lat) > 90 + 1e-9):
        raise FocalValueError(
            f"latitude coordinate {ydim!r} has values outside [-90, 90] degrees "
            f"({lat.min():g} .. {lat.max():g})"
        )
    nx = lon.size
    periodic = abs(nx * dlon - 360.0) <= 1e-6 * 360.0
    if nx * dlon > 360.0 * (1 + 1e-6):
        hint = ""
        if abs((nx - 1) * dlon - 360.0) <= 1e-6 * 360.0:
            hint = (": its last column repeats the first (a cyclic point, as in 0 .. 360 "
                    f"inclusive); drop it, e.g. data.isel({xdim}=slice(None, -1))")
        raise FocalValueError(
            f"longitude coordinate {xdim!r} spans {nx * dlon:g} degrees, more than a full "
            f"circle{hint}"
        )
    return _Grid(lat, dlat, dlon, nx, periodic)


def _check_roles(obj, ydim, xdim) -> None:
    """The y dim must be the latitude and the x dim the longitude (not the other way)."""
    from ._units import _ROLE_STANDARD_NAMES, _ROLE_UNITS, _units_attr, _word

    for dim, other in ((ydim, "x"), (xdim, "y")):
        c = obj.coords[dim]
        units = _word(_units_attr(c) or "")
        if units in _ROLE_UNITS[other] or c.attrs.get("standard_name") in _ROLE_STANDARD_NAMES[other]:
            raise FocalValueError(
                f"dims {(ydim, xdim)!r} are taken as (latitude, longitude), but {dim!r} is "
                f"marked as a {'longitude' if other == 'x' else 'latitude'}; pass "
                "dims=(latitude dim, longitude dim)"
            )


def curvilinear_reason(obj, dims: tuple) -> str | None:
    """Why ``obj`` looks like a curvilinear lat/lon grid (2-D lat/lon coords), or None."""
    from ._units import _GEO_NAMES, _GEO_STANDARD_NAMES, _is_degrees, _units_attr

    for name, c in obj.coords.items():
        if c.ndim == 2 and set(c.dims) == set(dims) and (
            str(name).lower() in _GEO_NAMES or c.attrs.get("standard_name") in _GEO_STANDARD_NAMES
            or _is_degrees(_units_attr(c))
        ):
            return f"coordinate {name!r} is 2-D over {c.dims}"
    return None


# --- footprints --------------------------------------------------------------------------


def _hav(x):
    return np.sin(x / 2.0) ** 2


def _row_footprint(grid: _Grid, i: int, reach: float, inner: float, sigma: float | None,
                   radius: float, kmax: int):
    """Runs of output row ``i``: (k offsets, j starts, lengths, weights) and tap distances."""
    phi0 = math.radians(grid.lat[i])
    dlat, dlon = math.radians(grid.dlat), math.radians(grid.dlon)
    hr = _hav(min(reach / radius, math.pi)) * (1 + _TIE)
    n360 = grid.n360
    out_k, out_j, out_n, out_w = [], [], [], []
    for k in range(-kmax, kmax + 1):
        phi1d = grid.lat[i] + k * grid.dlat
        if abs(phi1d) > 90 + 1e-9 * abs(grid.dlat):
            continue  # beyond a pole: not a cell
        phi1 = math.radians(phi1d)
        hd = _hav(k * dlat)
        if hd > hr:
            continue
        c = math.cos(phi0) * max(math.cos(phi1), 0.0)
        if c <= 1e-300:
            jmax = n360
        else:
            s = (hr - hd) / c
            jmax = n360 if s >= 1 else int(2 * math.asin(math.sqrt(s)) / dlon) + 1
        if 2 * jmax + 1 >= n360:
            j = np.arange(-((n360 - 1) // 2), n360 // 2 + 1)
        else:
            j = np.arange(-jmax, jmax + 1)
        h = np.minimum(hd + c * _hav(j * dlon), 1.0)
        d = 2 * radius * np.arcsin(np.sqrt(h))
        keep = d <= reach * (1 + _TIE)
        if inner is not None:
            keep &= d > inner * (1 + _TIE)
        if not keep.any():
            continue
        jj, dd = j[keep], d[keep]
        w = np.ones(jj.size) if sigma is None else np.exp(-(dd * dd) / (2 * sigma * sigma))
        same = (jj[1:] == jj[:-1] + 1) & (w[1:] == w[:-1])
        starts = np.flatnonzero(np.concatenate(([True], ~same)))
        lengths = np.diff(np.append(starts, jj.size))
        out_k.append(np.full(starts.size, k))
        out_j.append(jj[starts])
        out_n.append(lengths)
        out_w.append(w[starts])
    if not out_k:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, np.zeros(0)
    n, w = np.concatenate(out_n), np.concatenate(out_w)
    if sigma is not None:
        # Each row's weights sum to 1, as xarray_focal.gaussian_kernel's (and scipy's)
        # do: correlate is then the Gaussian-weighted mean.
        w = w / float(np.sum(w * n))
    return np.concatenate(out_k), np.concatenate(out_j), n, w


def build_row_runs(grid: _Grid, reach: float, inner: float | None, sigma: float | None,
                   radius: float) -> RowRuns:
    kmax = int(math.floor(min(reach / radius, math.pi) / math.radians(abs(grid.dlat)) * (1 + _TIE)))
    kmax = min(kmax, 2 * grid.lat.size)
    rows = [_row_footprint(grid, i, reach, inner, sigma, radius, kmax) for i in range(grid.lat.size)]
    ry = max([int(np.abs(r[0]).max()) for r in rows if r[0].size] or [0])
    rx = max([int(max(np.abs(r[1]).max(), np.abs(r[1] + r[2] - 1).max())) for r in rows if r[0].size] or [0])
    index: dict[bytes, int] = {}
    dys, dxs, ns, ws = [], [], [], []
    row_class = np.empty(len(rows), dtype=np.int64)
    digest = hashlib.blake2b(digest_size=20)
    for i, (k, j, n, w) in enumerate(rows):
        dy, dx = (k + ry).astype(np.int64), (j + rx).astype(np.int64)
        key = dy.tobytes() + b"|" + dx.tobytes() + b"|" + n.astype(np.int64).tobytes() + b"|" + w.tobytes()
        c = index.get(key)
        if c is None:
            c = index[key] = len(dys)
            dys.append(dy)
            dxs.append(dx)
            ns.append(n.astype(np.int64))
            ws.append(w.astype(np.float64))
            digest.update(key)
        row_class[i] = c
        digest.update(c.to_bytes(8, "little"))
    return RowRuns(row_class, tuple(dys), tuple(dxs), tuple(ns), tuple(ws), ry, rx,
                   digest.digest())


def cell_areas(grid: _Grid, first: int, count: int, radius: float) -> np.ndarray:
    """Areas (m^2) of cells of rows ``first .. first + count - 1`` (rows outside the grid
    extrapolated; bounded by the midpoints between centres, clipped at the poles)."""
    lat = grid.lat[0] + (first + np.arange(count)) * grid.dlat
    half = abs(grid.dlat) / 2
    north = np.radians(np.clip(lat + half, -90, 90))
    south = np.radians(np.clip(lat - half, -90, 90))
    return radius * radius * math.radians(grid.dlon) * np.abs(np.sin(north) - np.sin(south))


# --- the public kernel -------------------------------------------------------------------


class GeodesicKernel:
    """A kernel in metres on a latitude/longitude grid: one footprint per output row.

    Made by ``da.focal.circle_kernel("500 km")``, ``da.focal.annulus_kernel(...)`` or
    ``da.focal.gaussian_kernel("300 km")`` on a DataArray whose spatial coordinates are a
    regular latitude/longitude grid in degrees; every focal operation of arrays on that
    grid accepts it (the array functions too, on arrays of its shape). A cell is in the
    footprint of an output cell when the great-circle distance between their centres is at
    most the radius, on a sphere of radius ``earth_radius``.

    Attributes
    ----------
    kind : {"circle", "annulus", "gaussian"}
    radius : float
        Footprint radius in metres (the outer radius; for a Gaussian ``truncate * sigma``).
    inner_radius, sigma : float or None
    earth_radius : float
    dims : tuple
        The (latitude, longitude) dims it was built for.
    shape : (int, int)
        The grid's (rows, columns).
    periodic : bool
        The longitude spans 360 degrees: footprints wrap around it.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> import xarray_focal
    >>> da = xr.DataArray(np.zeros((18, 36)), dims=("lat", "lon"),
    ...                   coords={"lat": np.arange(-85.0, 90, 10), "lon": np.arange(0.0, 360, 10)})
    >>> k = da.focal.circle_kernel("1500 km")
    >>> k
    GeodesicKernel(circle, radius=1500 km, grid 18 x 36 of 10 x 10 degrees, global in longitude, footprints of 5 to 49 cells)
    >>> k.footprint(lat=5.0).astype(int)
    array([[0, 1, 0],
           [1, 1, 1],
           [0, 1, 0]])
    """

    def __init__(self, kind: str, grid: _Grid, dims: tuple, *, radius: float,
                 inner_radius: float | None = None, sigma: float | None = None,
                 truncate: float | None = None, earth_radius: float = EARTH_RADIUS):
        self.kind = kind
        self._grid = grid
        self.dims = tuple(dims)
        self.radius = float(radius)
        self.inner_radius = inner_radius
        self.sigma = sigma
        self.truncate = truncate
        self.earth_radius = float(earth_radius)
        self._runs: RowRuns | None = None
        self._grids_ok: set = set()  # grids check_grid accepted (by _grid_key)

    @property
    def shape(self) -> tuple[int, int]:
        return (self._grid.lat.size, self._grid.nx)

    @property
    def periodic(self) -> bool:
        return self._grid.periodic

    @property
    def latitudes(self) -> np.ndarray:
        return self._grid.lat.copy()

    @functools.cached_property
    def geometry(self) -> str:
        """A digest of what the cell areas depend on beyond the footprints: the grid's
        latitudes and steps and the sphere's radius. Footprints in cells (``row_runs.key``)
        can be the same on grids of other latitudes or steps, whose areas differ."""
        g = self._grid
        h = hashlib.blake2b(digest_size=16)
        h.update(np.ascontiguousarray(g.lat, dtype=np.float64).tobytes())
        h.update(np.array([g.dlat, g.dlon, g.nx, g.periodic, self.earth_radius],
                          dtype=np.float64).tobytes())
        return h.hexdigest()

    @property
    def row_runs(self) -> RowRuns:
        """The footprint of every output row (built once, on first use)."""
        if self._runs is None:
            with _RUNS_LOCK:  # threads asking at once build it once
                if self._runs is None:
                    self._runs = build_row_runs(self._grid, self.radius, self.inner_radius,
                                                self.sigma, self.earth_radius)
        return self._runs

    def footprint(self, *, lat: float | None = None, row: int | None = None) -> np.ndarray:
        """The weights of one output row's footprint, cropped to its bounding box.

        Give the row by index or by latitude (the nearest row). Columns are longitude
        offsets from the centre cell, rows latitude offsets in the grid's own order.
        """
        if (lat is None) == (row is None):
            raise FocalTypeError("give exactly one of lat= or row=")
        if row is None:
            row = int(np.argmin(np.abs(self._grid.lat - lat)))
        if not 0 <= row < self.shape[0]:
            raise FocalValueError(f"row {row} is outside the grid's {self.shape[0]} rows")
        box = self.row_runs.for_row(row).kernel
        rows, cols = np.nonzero(box)
        return box[rows.min():rows.max() + 1, cols.min():cols.max() + 1]

    def _size(self, metres: float) -> str:
        return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"

    def __repr__(self) -> str:
        g = self._grid
        if self.kind == "circle":
            what = f"radius={self._size(self.radius)}"
        elif self.kind == "annulus":
            what = f"outer={self._size(self.radius)}, inner={self._size(self.inner_radius)}"
        else:
            what = f"sigma={self._size(self.sigma)}, truncate={self.truncate:g}"
        if self.earth_radius != EARTH_RADIUS:
            what += f", earth_radius={self.earth_radius:g} m"
        taps = self.row_runs.ntaps_per_row()
        return (f"GeodesicKernel({self.kind}, {what}, grid {g.lat.size} x {g.nx} of "
                f"{abs(g.dlat):g} x {g.dlon:g} degrees, "
                f"{'global' if g.periodic else 'regional'} in longitude, footprints of "
                f"{taps.min()} to {taps.max()} cells)")


def _check_radius(metres: float, earth_radius: float, name: str) -> None:
    half = math.pi * earth_radius
    if metres > half:
        raise FocalValueError(
            f"{name} of {metres / 1000:g} km is more than half the Earth's circumference "
            f"({half / 1000:.0f} km on a sphere of radius {earth_radius:g} m): no two points "
            "are further apart"
        )


def check_earth_radius(earth_radius: object) -> float:
    if isinstance(earth_radius, (bool, np.bool_)) or not isinstance(earth_radius, (int, float, np.integer, np.floating)):
        raise FocalTypeError(f"earth_radius must be a number of metres; got {earth_radius!r}")
    value = float(earth_radius)
    if not math.isfinite(value) or value <= 0:
        raise FocalValueError(f"earth_radius must be positive and finite (metres); got {earth_radius!r}")
    return value


def make_kernel(kind: str, obj, dims: tuple, *, radius: float, inner: float | None = None,
                sigma: float | None = None, truncate: float | None = None,
                earth_radius: object = EARTH_RADIUS) -> GeodesicKernel:
    """A :class:`GeodesicKernel` for ``obj``'s grid (radii already in metres)."""
    earth = check_earth_radius(earth_radius)
    grid = grid_of(obj, dims)
    if kind == "gaussian":
        reach = min(sigma * truncate, math.pi * earth)
    else:
        _check_radius(radius, earth, "radius" if kind == "circle" else "outer_radius")
        reach = radius
    k = GeodesicKernel(kind, grid, dims, radius=reach, inner_radius=inner, sigma=sigma,
                       truncate=truncate, earth_radius=earth)
    empty = np.flatnonzero(k.row_runs.ntaps_per_row() == 0)
    if empty.size:
        where = ", ".join(f"{grid.lat[i]:g}" for i in empty[:4]) + (", ..." if empty.size > 4 else "")
        raise FocalValueError(
            f"the {kind} footprint holds no cell centre at latitude(s) {where} of this grid "
            f"({empty.size} of {grid.lat.size} rows): choose radii the grid's spacing resolves"
        )
    return k


def _grid_key(obj, dims: tuple):
    """What :func:`check_grid` decides from: the two coordinates' values and role attrs."""
    variables = obj.coords.variables  # Variables: no DataArray built per coordinate
    digest = hashlib.blake2b(repr(tuple(dims)).encode(), digest_size=16)
    for dim in dims:
        v = variables.get(dim)
        if v is None or v.dims != (dim,):
            return None
        values = np.asarray(v.values)
        digest.update(values.dtype.str.encode() + values.tobytes())
        digest.update(repr([v.attrs.get(a) for a in ("units", "standard_name", "axis")]).encode())
    return digest.digest()


def check_grid(kernel: GeodesicKernel, obj, dims: tuple) -> None:
    """``obj``'s latitudes along ``dims`` must be those the kernel was built for.

    A grid once accepted is remembered by its coordinates (:func:`_grid_key`): repeated
    calls on the same grid, as every GPU call of a loop makes, skip the checks.
    """
    key = _grid_key(obj, dims)
    if key is not None and key in kernel._grids_ok:
        return
    _check_grid(kernel, obj, dims)
    if key is not None:
        with _RUNS_LOCK:
            if len(kernel._grids_ok) >= 16:
                kernel._grids_ok.clear()
            kernel._grids_ok.add(key)


def _check_grid(kernel: GeodesicKernel, obj, dims: tuple) -> None:
    coord = obj.coords[dims[0]] if dims[0] in obj.coords else None
    lat = None if coord is None or coord.dims != (dims[0],) else np.asarray(coord.values, dtype=np.float64)
    same = (lat is not None and lat.shape == kernel.latitudes.shape
            and np.allclose(lat, kernel.latitudes, rtol=0, atol=1e-9))
    if same:
        # Footprints depend on the latitudes, the longitude step, the row length and
        # whether longitude wraps (not on where longitude starts).
        try:
            grid = grid_of(obj, dims)
        except FocalValueError:
            same = False
        else:
            mine = kernel._grid
            same = (grid.nx == mine.nx and grid.periodic == mine.periodic
                    and abs(grid.dlon - mine.dlon) <= 1e-9 * mine.dlon)
    if not same:
        raise FocalValueError(
            f"this geodesic kernel was built for another grid (latitudes along {kernel.dims[0]!r}, "
            f"{kernel.shape[0]} x {kernel.shape[1]}); build it from this data: "
            "data.focal.circle_kernel(...)"
        )


# --- calls -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GeodesicCall:
    """The validated options of one focal operation with a :class:`GeodesicKernel`."""

    runs: RowRuns
    kernel: GeodesicKernel
    mode: Any
    fill: float
    policy: str
    min_count: int | None
    names: tuple  # every output: "correlate", or statistic names (rank ones included)
    area_weighted: bool
    outputs: tuple
    rank: Any = None  # a RankReduction template for rank, class and custom statistics

    @property
    def cells_label(self) -> str:
        taps = self.runs.ntaps_per_row()
        return f"{taps.min()} to {taps.max()}" if taps.min() != taps.max() else f"{taps.max()}"

    def __dask_tokenize__(self):
        rank = None if self.rank is None else self.rank.__dask_tokenize__()
        # The geometry too: area weights differ between grids of the same footprints.
        return (type(self).__name__, self.runs.key, self.kernel.geometry, self.mode, self.fill,
                self.policy, self.min_count, self.names, self.area_weighted, rank)


def _geo_boundary(kernel: GeodesicKernel, boundary: object, cval: object):
    """Check the boundary for a geodesic kernel: on a global grid longitude must wrap.

    One mode name is the latitude's mode there (longitude is periodic, whatever the name);
    a pair or dict that asks for anything but ``"wrap"`` in longitude is an error, since
    the cells across the dateline are real neighbours.
    """
    if kernel.periodic and isinstance(boundary, str):
        ymode, _ = axis_modes(check_boundary(boundary, cval)[0])
        boundary = (ymode, "wrap")
    mode, fill = check_boundary(boundary, cval)
    if kernel.periodic and axis_modes(mode)[1] != "wrap":
        raise FocalValueError(
            f"boundary {boundary!r} asks for {axis_modes(mode)[1]!r} in longitude, but this grid "
            "spans 360 degrees of longitude, where a geodesic footprint continues across the "
            "dateline: give 'wrap' for the longitude (or one mode name, which then applies to "
            "latitude only)"
        )
    return mode, fill


def check_call(kernel: GeodesicKernel, *, flip: bool, boundary, cval, nan_policy, min_count,
               stats: tuple | None, area_weighted: bool, rank: Any = None) -> GeodesicCall:
    from .api import _check_min_count

    mode, fill = _geo_boundary(kernel, boundary, cval)
    min_count = _check_min_count(min_count)
    # Weights are a function of the distance, which is symmetric (d(a, b) = d(b, a)): the
    # convolution sum_b k(b, a) x_b is the correlation sum_b k(a, b) x_b, so ``flip``
    # changes nothing. (Flipping each row's table would be wrong near a pole, whose rows
    # are not symmetric about the output row.)
    runs = kernel.row_runs
    if min_count is not None and min_count > runs.ntaps:
        raise FocalValueError(
            f"min_count={min_count} is more than the largest footprint's {runs.ntaps} cells: "
            "every result would be NaN"
        )
    if not isinstance(area_weighted, (bool, np.bool_)):
        raise FocalTypeError(f"area_weighted must be True or False; got {area_weighted!r}")
    if stats is None:
        if nan_policy == "renormalize":
            w = runs.wsum_per_row()
            if np.any(np.abs(w) <= 1e-9 * runs.wsum_per_row(absolute=True)):
                raise FocalValueError("nan_policy='renormalize' needs kernels whose weights do not sum to 0")
        return GeodesicCall(runs, kernel, mode, fill, nan_policy, min_count, ("correlate",),
                            False, ("correlate",))
    if area_weighted:
        bad = [s for s in stats if s not in AREA_WEIGHTED_STATS]
        if bad:
            raise FocalValueError(
                f"area_weighted=True applies to {AREA_WEIGHTED_STATS}; not to {bad}"
            )
    return GeodesicCall(runs, kernel, mode, fill, nan_policy, min_count, tuple(stats),
                        bool(area_weighted), tuple(stats), rank)


#: Statistics that ``area_weighted=True`` changes (the others count or order cells).
AREA_WEIGHTED_STATS = ("mean", "sum", "std", "var")


# --- running a call ----------------------------------------------------------------------


def apply(data: Any, call: GeodesicCall) -> tuple:
    """Run ``call`` on validated ``data`` (numpy or dask; last two axes the kernel's grid)."""
    from ._backends import is_dask_array

    if tuple(data.shape[-2:]) != call.kernel.shape:
        raise FocalValueError(
            f"this geodesic kernel was built for a {call.kernel.shape[0]} x "
            f"{call.kernel.shape[1]} grid; the data's last two axes are {tuple(data.shape[-2:])}"
        )
    if is_dask_array(data):
        from ._backends import dask_backend

        return tuple(dask_backend.reduce(data, call.runs, "geodesic", call.mode, call.fill, call))
    from ._backends import chunk_backend_for
    from ._tiles import Tile

    chunk_backend_for(data)  # refuses masked and foreign arrays
    tile = Tile.whole(data, call.runs.ry, call.runs.rx, call.mode)
    return tuple(chunk_stack(tile, call.runs, call, parallel=True))


def chunk_stack(tile, runs: RowRuns, call: GeodesicCall, *, parallel: bool):
    """All outputs of ``call`` for one tile (a whole array or a dask chunk), stacked.

    The linear statistics by the per-row sweep on numpy and by bands on other array types;
    rank, class and custom statistics by bands through their own engines.
    """
    if call.rank is None:
        return _linear_stack(tile, runs, call, parallel=parallel)
    ranked = call.rank.names
    linear = tuple(n for n in call.names if n not in ranked)
    parts = dict(zip(ranked, rank_stack(tile, runs, call, parallel=parallel)))
    if linear:
        sub = dataclasses.replace(call, names=linear, outputs=linear, rank=None)
        parts.update(zip(linear, _linear_stack(tile, runs, sub, parallel=parallel)))
    xp = _array_module(tile.core)
    return xp.stack([parts[n] for n in call.names])


def _array_module(core):
    return np if isinstance(core, np.ndarray) else __import__(type(core).__module__.split(".")[0])


def _linear_stack(tile, runs: RowRuns, call: GeodesicCall, *, parallel: bool):
    from ._backends import chunk_backend_for

    if isinstance(tile.core, np.ndarray):
        return tile_stack(tile, runs, call, parallel=parallel)
    backend = chunk_backend_for(tile.core)
    # The cupy backend's per-row kernel (one launch per tile); bands for any other.
    per_row = getattr(backend, "geodesic_tile", None)
    if per_row is not None:
        return per_row(tile, runs, call)
    return band_stack(tile, runs, call, backend, parallel=parallel)


def rank_stack(tile, runs: RowRuns, call: GeodesicCall, *, parallel: bool):
    """Rank, class and custom statistics of ``call`` for one tile, band by band.

    Each band of :func:`footprint_bands` is one planar call of the rank engines
    (:meth:`~xarray_focal._backends.rank.RankReduction.run_tile`) with that band's
    footprint, and its own threshold (``propagate`` needs every cell of *its* footprint).
    The tile is put together once, so the bands do not each copy the halo strips.
    """
    from ._backends.rank import RankReduction
    from ._tiles import Tile

    template = call.rank
    core = tile.core
    if any(tile.strips):
        tile = dataclasses.replace(tile, grid=Tile.whole(tile.frame(), 0, 0, "nan").grid)
    ho = tile.ymap.index.size - 2 * runs.ry
    wo = tile.xmap.index.size - 2 * runs.rx
    xp = _array_module(core)
    out = xp.empty((len(template.names),) + core.shape[:-2] + (ho, wo),
                   dtype=working_dtype(core.dtype))
    for y0, y1, band, kernel in footprint_bands(tile, runs, footprint=True):
        if call.policy == "propagate":
            threshold = max(kernel.ntaps, call.min_count or 0)
        else:
            threshold = max(1, call.min_count or 0)
        reduction = RankReduction(template.names, threshold, q=template.q, func=template.func,
                                  engine=template.engine)
        out[:, ..., y0:y1, :] = reduction.run_tile(band, kernel, call.fill, parallel=parallel)
    return out


def _source(tile, fill: float):
    """The tile as :mod:`.sweep`'s drivers read it (the numpy backend's ``sweep_source``)."""
    from ._backends.numpy_backend import sweep_source

    return sweep_source(tile, fill)


#: Recent per-row tables by (kernel digest, first row, rows, columns): every call and every
#: dask chunk of the same rows asks again.
_TABLES: OrderedDict = OrderedDict()
_TABLES_LOCK = fork_safe_lock()
#: Guards the first build of a kernel's row runs (seconds for fine grids).
_RUNS_LOCK = fork_safe_lock()


def _tables(runs: RowRuns, ho: int, wo: int):
    """The drivers' per-row tables for ``ho`` output rows of width ``wo`` (cached)."""
    key = (runs.key, runs.start, runs.nrows, ho, wo)
    with _TABLES_LOCK:
        found = _TABLES.get(key)
        if found is not None:
            _TABLES.move_to_end(key)
            return found
    tables = _build_tables(runs, ho, wo)
    with _TABLES_LOCK:
        _TABLES[key] = tables
        while len(_TABLES) > 64:
            _TABLES.popitem(last=False)
    return tables


def _build_tables(runs: RowRuns, ho: int, wo: int):
    """The drivers' per-row tables for ``ho`` output rows of width ``wo`` (see the drivers)."""
    rptr, rdy, rdx, rlen, rw = runs.table()
    nrows = ho + 2 * runs.ry
    y = np.repeat(np.arange(ho, dtype=np.int64), np.diff(rptr))
    t = y + rdy
    long = rlen > 1
    pairs = np.unique(t[long] * (int(rlen.max(initial=1)) + 1) + rlen[long])
    pt, pl = pairs // (int(rlen.max(initial=1)) + 1), pairs % (int(rlen.max(initial=1)) + 1)
    lptr = np.searchsorted(pt, np.arange(nrows + 1)).astype(np.int64)
    rslot = np.zeros(rdy.size, dtype=np.int64)
    if long.any():
        pos = np.searchsorted(pairs, t[long] * (int(rlen.max()) + 1) + rlen[long])
        rslot[long] = pos - lptr[t[long]] + 1
    plo = np.full(nrows, np.iinfo(np.int64).max, dtype=np.int64)
    phi = np.zeros(nrows, dtype=np.int64)
    np.minimum.at(plo, t, rdx)
    np.maximum.at(phi, t, rdx + rlen - 1 + wo)
    plo[plo > phi] = 0
    phi[phi == 0] = 0
    return (rptr, rdy, rdx, rlen, rw, rslot, lptr, pl.astype(np.int64), plo, phi)


def tile_stack(tile, runs: RowRuns, call: GeodesicCall, *, parallel: bool) -> np.ndarray:
    """All outputs of ``call`` for one numpy tile: shape ``(len(call.names),) + core shape``."""
    from ._algorithms import geodesic as drivers
    from ._backends import threads

    src, dtype, lead, nb = _source(tile, call.fill)
    ho = tile.ymap.index.size - 2 * runs.ry
    wo = tile.xmap.index.size - 2 * runs.rx
    out = np.empty((len(call.names),) + tuple(lead) + (ho, wo), dtype=dtype)
    if out.size == 0:
        return out
    flat = out.reshape((len(call.names), nb, ho, wo))
    rptr, rdy, rdx, rlen, rw, rslot, lptr, lens, plo, phi = _tables(runs, ho, wo)
    grid = call.kernel._grid
    first = runs.start - runs.ry
    if call.area_weighted:
        area = cell_areas(grid, first, ho + 2 * runs.ry, call.kernel.earth_radius)
    else:
        area = np.ones(ho + 2 * runs.ry)
    ntaps = runs.ntaps_per_row()[:, None]
    band = max(1, -(-ho // (4 * threads.num_threads()))) if parallel else ho
    ntasks = nb * -(-ho // band)
    span = 2 * runs.ry
    names = call.names
    rows = (rptr, rdy, rdx, rlen, rw, rslot, lptr, lens, plo, phi)
    unit = (rptr, rdy, rdx, rlen, np.ones_like(rw), rslot, lptr, lens, plo, phi)
    nt = ntaps[:, 0].astype(np.float64)
    thr = _threshold(call, nt).astype(np.float64)
    wtotal = runs.wsum_per_row()
    wcancel = nt * FLOAT64_EPS * runs.wsum_per_row(absolute=True)
    direct = [i for i, n in enumerate(names) if n in ("min", "max", "range", "std", "var")]
    sums = [i for i, n in enumerate(names) if i not in direct]
    if names == ("correlate",) and call.policy == "propagate" and call.min_count is None:
        fin = (np.zeros(1, dtype=np.int64), thr, nt, wtotal, wcancel)
        threads.run_ranges(drivers.channel_sums, (src, rows, area, 1, fin, flat, band, span),
                           ntasks, parallel=parallel)
        return out
    if sums:
        codes = np.array([drivers.FINISH["renormalize" if names[i] == "correlate"
                                          and call.policy == "renormalize" else names[i]]
                          for i in sums], dtype=np.int64)
        # Kernel weights other than 1: the valid count needs its own (third) channel.
        weighted = names == ("correlate",) and not all(np.all(w == 1) for w in runs.weight)
        nch = 3 if (call.area_weighted or weighted) else 2
        target = flat if len(sums) == len(names) else np.empty((len(sums),) + flat.shape[1:], dtype=flat.dtype)
        fin = (codes, thr, nt, wtotal, wcancel)
        threads.run_ranges(drivers.channel_sums, (src, rows if names == ("correlate",) else unit,
                                                  area, nch, fin, target, band, span),
                           ntasks, parallel=parallel)
        if target is not flat:
            for j, i in enumerate(sums):
                flat[i] = target[j]
    if direct and not call.area_weighted:
        # Unweighted order statistics and spreads: the planar NaN-aware sweeps per band
        # of rows cost a run per kernel row, the direct moments a step per tap (at 0.25
        # degrees and 500 km, 1.0 s against 3.7 s for std on the 2-core dev machine).
        from ._backends import numpy_backend

        sub = dataclasses.replace(call, names=tuple(names[i] for i in direct))
        res = band_stack(tile, runs, sub, numpy_backend, parallel=parallel)
        for j, i in enumerate(direct):
            out[i] = res[j]
    elif direct:
        mom = np.empty((len(drivers.MOMENTS), nb, ho, wo))
        threads.run_ranges(drivers.direct_moments, (src, unit, area, mom, band, span),
                           ntasks, parallel=parallel)
        with np.errstate(invalid="ignore", divide="ignore"):
            results = _finish_moments(call, [names[i] for i in direct], mom, ntaps)
        for i in direct:
            flat[i] = results[names[i]]
    return out



def _threshold(call: GeodesicCall, ntaps: np.ndarray) -> np.ndarray:
    if call.policy == "propagate":
        return np.maximum(ntaps, call.min_count or 0)
    return np.maximum(1, call.min_count or 0) + 0 * ntaps


def _finish_moments(call, names, mom, ntaps):
    count, weight, shift, dsum, d2sum, lo, hi, _ = mom
    ok = count >= _threshold(call, ntaps)
    out = {}
    for name in names:
        if name in ("var", "std"):
            var = np.maximum((d2sum - dsum * dsum / weight) / weight, 0.0)
            out[name] = np.where(ok, var if name == "var" else np.sqrt(var), np.nan)
        elif name == "min":
            out[name] = np.where(ok, lo, np.nan)
        elif name == "max":
            out[name] = np.where(ok, hi, np.nan)
        elif name == "range":
            out[name] = np.where(ok, hi - lo, np.nan)
    return out


# --- other backends: one band of rows per footprint -------------------------------------


def _bands(row_class: np.ndarray) -> list[tuple[int, int, int]]:
    """Maximal runs ``(start, stop, class)`` of output rows that share one footprint."""
    if row_class.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(row_class)) + 1
    starts = np.concatenate(([0], cuts))
    stops = np.concatenate((cuts, [row_class.size]))
    return [(int(a), int(b), int(row_class[a])) for a, b in zip(starts, stops)]


def footprint_bands(tile, runs: RowRuns, *, footprint: bool = False):
    """Yield ``(y0, y1, band, kernel)`` for each band of output rows sharing a footprint.

    ``band`` is a :class:`~xarray_focal._tiles.Tile` of output rows ``y0 .. y1 - 1`` of
    ``tile``: the same source, its index maps cut down to those rows and to the footprint's
    own reach; ``kernel`` the footprint as an ordinary
    :class:`~xarray_focal._algorithms.runs.KernelRuns` (``footprint=True``: its cells with
    weight 1, for statistics). Any tile function of any backend can then compute the band
    -- the way per-row kernels reach code written for one kernel (the CUDA kernels, rank
    statistics).
    """
    from ._algorithms.runs import describe
    from ._boundary import AxisMap
    from ._tiles import Tile

    RY, RX = runs.ry, runs.rx
    wo = tile.xmap.index.size - 2 * RX
    for y0, y1, _ in _bands(runs.row_class):
        box = runs.for_row(y0).kernel
        kernel = describe((box != 0).astype(np.float64) if footprint else box)
        ry, rx = kernel.ry, kernel.rx
        ymap = AxisMap.from_index(tile.ymap.index[y0 + RY - ry:y1 + RY + ry], ry)
        xmap = AxisMap.from_index(tile.xmap.index[RX - rx:RX + rx + wo], rx)
        yield y0, y1, Tile(tile.grid, ymap, xmap, ry, rx, (tile.origin[0] + y0, tile.origin[1])), kernel


def band_stack(tile, runs: RowRuns, call: GeodesicCall, backend, *, parallel: bool):
    """All outputs of ``call`` for one tile through ``backend``'s own tile functions.

    Each band of :func:`footprint_bands` is one call of the backend's ``correlate_tile``
    or ``reduce_tile``: the numpy backend's unweighted order statistics and spreads, and
    a second implementation of the sums that the tests compare the per-row sweeps with. It has no area weights:
    its callers send area-weighted statistics to the per-row sweeps.
    """
    from ._contract import Reduction

    if call.area_weighted:
        raise AssertionError("band_stack has no area weights: use the per-row sweeps")
    ho = tile.ymap.index.size - 2 * runs.ry
    wo = tile.xmap.index.size - 2 * runs.rx
    core = tile.core
    dtype = working_dtype(core.dtype)
    xp = np if isinstance(core, np.ndarray) else __import__(type(core).__module__.split(".")[0])
    out = xp.empty((len(call.names),) + core.shape[:-2] + (ho, wo), dtype=dtype)
    stats = call.names != ("correlate",)
    for y0, y1, band, kernel in footprint_bands(tile, runs, footprint=stats):
        ntaps = kernel.ntaps
        if not stats and call.policy == "propagate" and call.min_count is None:
            out[0, ..., y0:y1, :] = backend.correlate_tile(band, kernel, "auto", call.fill,
                                                           parallel=parallel)
            continue
        if call.policy == "propagate":
            threshold = max(ntaps, call.min_count or 0)
        else:
            threshold = max(1, call.min_count or 0)
        if stats:
            reduction = Reduction(call.names, threshold, ntaps, ntaps)
        else:
            w = kernel.weight * kernel.length
            reduction = Reduction((call.policy,), threshold, float(w.sum()), ntaps,
                                  float(np.abs(w).sum()))
        out[:, ..., y0:y1, :] = backend.reduce_tile(band, kernel, "auto", call.fill, reduction,
                                                    parallel=parallel)
    return out
