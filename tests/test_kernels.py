"""Kernel constructors against references written out by hand or as plain loops.

The library builds discs from squared map distances with a relative tolerance; the
references here count cells with exact integer or :class:`fractions.Fraction` arithmetic,
so "a cell centre exactly on the circle is inside" is checked without rounding.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import xarray_focal as xf


def disc_by_counting(cellsize_x, cellsize_y, radius, inner=None):
    """Cells whose centre distance d satisfies inner < d <= radius, by exact arithmetic.

    Arguments are decimal strings or ints, read as exact fractions (so "0.1" is one tenth,
    not the nearest double). The grid is cropped to the bounding box of the footprint.
    """
    csx, csy, r = Fraction(cellsize_x), Fraction(cellsize_y), Fraction(radius)
    rin = None if inner is None else Fraction(inner)
    reach_x = int(r / csx) + 1
    reach_y = int(r / csy) + 1
    rows = []
    for j in range(-reach_y, reach_y + 1):
        row = []
        for i in range(-reach_x, reach_x + 1):
            d2 = (i * csx) ** 2 + (j * csy) ** 2
            inside = d2 <= r * r and (rin is None or d2 > rin * rin)
            row.append(1.0 if inside else 0.0)
        rows.append(row)
    grid = np.array(rows)
    # Crop to the disc's bounding box: for a disc that is +-floor(r / cellsize) per axis.
    ny, nx = int(r / csy), int(r / csx)
    cy, cx = reach_y, reach_x
    return grid[cy - ny:cy + ny + 1, cx - nx:cx + nx + 1]


def xarray_spatial_style_ellipse(half_w, half_h):
    """xarray-spatial's circle for integer half sizes: x**2/hw**2 + y**2/hh**2 <= 1 (in cells)."""
    y, x = np.mgrid[-half_h:half_h + 1, -half_w:half_w + 1]
    return ((x * half_h) ** 2 + (y * half_w) ** 2 <= (half_w * half_h) ** 2).astype(float)


def test_unit_circle_hand_worked():
    expected = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=float)
    np.testing.assert_array_equal(xf.circle_kernel(1, 1, 1), expected)


def test_radius_two_hand_worked():
    # (1, 1) is at distance sqrt(2) <= 2: in; (2, 1) at sqrt(5) > 2: out.
    expected = np.array(
        [
            [0, 0, 1, 0, 0],
            [0, 1, 1, 1, 0],
            [1, 1, 1, 1, 1],
            [0, 1, 1, 1, 0],
            [0, 0, 1, 0, 0],
        ],
        dtype=float,
    )
    np.testing.assert_array_equal(xf.circle_kernel(1, 1, 2), expected)


@pytest.mark.parametrize("r", [1, 2, 3, 4, 5, 8, 16])
@pytest.mark.parametrize("cell", [1, 10, 30])
def test_circle_integer_ratio_matches_integer_grid_and_xarray_spatial(r, cell):
    kernel = xf.circle_kernel(cell, cell, r * cell)
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    expected = (x**2 + y**2 <= r**2).astype(float)
    np.testing.assert_array_equal(kernel, expected)
    np.testing.assert_array_equal(kernel, xarray_spatial_style_ellipse(r, r))
    assert kernel.dtype == np.float64


@pytest.mark.parametrize("csx,csy,radius", [(10, 20, 40), (20, 10, 40), (3, 1, 6), (1, 2, 8)])
def test_anisotropic_integer_ratio_matches_xarray_spatial_ellipse(csx, csy, radius):
    kernel = xf.circle_kernel(csx, csy, radius)
    assert kernel.shape == (2 * (radius // csy) + 1, 2 * (radius // csx) + 1)
    np.testing.assert_array_equal(
        kernel, xarray_spatial_style_ellipse(radius // csx, radius // csy)
    )


@pytest.mark.parametrize(
    "csx,csy,radius",
    [
        ("0.1", "0.1", "0.3"),   # 0.3 / 0.1 is 2.9999999999999996 in doubles
        ("0.1", "0.1", "0.7"),
        ("30", "30", "500"),     # 16.67 cells
        ("30", "45", "500"),
        ("2.5", "1", "7.3"),
        ("1", "1", "2.9"),
        ("0.0002777", "0.0002777", "0.0013885"),  # 5 one-arc-second cells
    ],
)
def test_circle_cell_centre_within_radius_in_map_units(csx, csy, radius):
    kernel = xf.circle_kernel(float(csx), float(csy), float(radius))
    np.testing.assert_array_equal(kernel, disc_by_counting(csx, csy, radius))


def test_circle_smaller_than_a_cell_is_the_centre_only():
    np.testing.assert_array_equal(xf.circle_kernel(10, 10, 3), [[1.0]])


def test_circle_is_symmetric_so_convolve_equals_correlate():
    kernel = xf.circle_kernel(1, 1.7, 6.2)
    np.testing.assert_array_equal(kernel, kernel[::-1, ::-1])
    data = np.random.default_rng(0).standard_normal((20, 30))
    np.testing.assert_array_equal(
        xf.convolve(data, kernel, boundary="reflect"),
        xf.correlate(data, kernel, boundary="reflect"),
    )


@pytest.mark.parametrize(
    "csx,csy,outer,inner",
    [("1", "1", "3", "1"), ("1", "1", "1", "0"), ("10", "20", "60", "25"), ("0.1", "0.1", "0.5", "0.2")],
)
def test_annulus_is_outer_disc_minus_inner_disc(csx, csy, outer, inner):
    kernel = xf.annulus_kernel(float(csx), float(csy), float(outer), float(inner))
    np.testing.assert_array_equal(kernel, disc_by_counting(csx, csy, outer, inner))


def test_annulus_excludes_centre_and_the_inner_circle_boundary():
    kernel = xf.annulus_kernel(1, 1, 2, 1)
    # d == 1 (the four neighbours) is *not* in: the ring is inner < d <= outer.
    expected = np.array(
        [
            [0, 0, 1, 0, 0],
            [0, 1, 0, 1, 0],
            [1, 0, 0, 0, 1],
            [0, 1, 0, 1, 0],
            [0, 0, 1, 0, 0],
        ],
        dtype=float,
    )
    np.testing.assert_array_equal(kernel, expected)
    assert kernel[2, 2] == 0


def test_annulus_with_zero_inner_radius_is_circle_without_centre():
    circle = xf.circle_kernel(1, 1, 3)
    circle[3, 3] = 0
    np.testing.assert_array_equal(xf.annulus_kernel(1, 1, 3, 0), circle)


def test_custom_kernel_returns_float64_copy_and_never_aliases():
    src = np.array([[1, 2, 3]], dtype=np.int32)
    out = xf.custom_kernel(src)
    assert out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, [[1.0, 2.0, 3.0]])
    f = np.ones((3, 3))
    out = xf.custom_kernel(f)
    assert not np.shares_memory(out, f)
    out[0, 0] = 5
    assert f[0, 0] == 1


def test_custom_kernel_accepts_lists_bools_and_views():
    np.testing.assert_array_equal(xf.custom_kernel([[True, False, True]]), [[1.0, 0.0, 1.0]])
    base = np.arange(25.0).reshape(5, 5)
    view = base[::2, ::-2]  # 3x3, non-contiguous, negative stride
    np.testing.assert_array_equal(xf.custom_kernel(view), np.ascontiguousarray(view))
