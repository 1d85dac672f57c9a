"""The kernels and footprints the test modules share: one table, named subsets of it.

Each entry is built once here; a test module picks the names it runs over (the tuples
below) rather than keeping its own copy, so a kernel means the same thing in every file.
"""

from __future__ import annotations

import numpy as np

import xarray_focal as xf

_g1, _g2 = (np.exp(-(np.mgrid[-3:4, -3:4] ** 2).sum(axis=0) / (2 * s * s)) for s in (1.0, 2.0))

KERNELS = {
    # --- shapes -----------------------------------------------------------------------
    "circle2": xf.circle_kernel(1, 1, 2),
    "circle3": xf.circle_kernel(1, 1, 3),
    "circle7": xf.circle_kernel(1, 1, 7),
    "annulus": xf.annulus_kernel(1, 1, 2, 1),
    "asym": np.array([[0.0, 1.5, -2.0], [0.25, 0.0, 0.0], [3.0, 0.0, 0.5]]),
    "row": np.array([[1.0, -1.0, 2.0, 0.0, 0.5]]),
    "col": np.array([[1.0], [0.0], [2.0]]),
    "delta": np.array([[1.0]]),
    "weights": np.array([[0.5, 0.0, -1.0], [2.0, 1.0, 0.0], [0.0, 3.0, 0.25]]),
    "wide5x9": np.random.default_rng(3).standard_normal((5, 9)),
    # Runs of every length class for the GPU's K in (4, 8, 16): short, exactly K, longer.
    "runs": np.array([[2.0] * 3 + [0.0] + [1.5] * 8 + [-1.0] * 17 + [0.0] * 2 + [0.5] * 4
                      + [0.0] * 2]),
    "box3": np.ones((3, 3)),
    "box5x9": np.full((5, 9), 0.1),
    "random25": np.random.default_rng(1).random((25, 25)),
    # --- weight sums no order of summing gives exactly (renormalize's ratio is not 1) ---
    "random5x7": np.random.default_rng(17).random((5, 7)) - 0.3,
    "tenths": np.full((3, 3), 0.1),
    "normalised": xf.circle_kernel(1, 1, 3) / xf.circle_kernel(1, 1, 3).sum(),
    "mixed_signs": np.array([[0.3, -0.7, 0.1], [-0.2, 1.1, -0.6], [0.7, 0.35, -0.45]]),
    "disc_normalised": xf.circle_kernel(1, 1, 4) / xf.circle_kernel(1, 1, 4).sum(),
    # Sharpening: a delta plus a difference of Gaussians (mixed signs, sum 1 up to rounding).
    "sharpen": _g1 / _g1.sum() - _g2 / _g2.sum() + np.pad([[1.0]], _g1.shape[0] // 2),
    "centre_minus_ring": np.array([[0.1, 0.2, 0.1], [0.2, -1.0, 0.2], [0.1, 0.2, 0.1]]),
    # --- footprints (statistics ignore the weights) -------------------------------------
    "annulus_footprint": xf.annulus_kernel(1, 1, 2.5, 0.5) * 3.0,
    "rows_footprint": np.array([[1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1],
                                [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                                [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]],
                               dtype=float),
    # --- weights summing to zero (refused for renormalize) -------------------------------
    "laplacian": np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "laplacian_1d": np.array([[1.0, -2.0, 1.0]]),
    "laplace_3x3": np.array([[0.1, 0.2, 0.1], [0.2, -1.2, 0.2], [0.1, 0.2, 0.1]]),
    "inner_minus_outer_box": np.pad(np.full((3, 3), 1 / 9), 1, constant_values=-1 / 16),
    "zero_mean_random": (lambda k: k - k.mean())(np.random.default_rng(3).random((5, 5))),
    "sobel": np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]),
    "dog": _g1 / _g1.sum() - _g2 / _g2.sum(),
}

#: correlate/convolve against the shift-and-add reference.
CORRELATE = ("annulus", "asym", "circle3", "circle7", "col", "delta", "row", "runs", "wide5x9")
#: nan_policy tests: exactly summing weights, and weights whose sum rounds.
POLICY = ("annulus", "circle2", "weights")
INEXACT = ("mixed_signs", "normalised", "random5x7", "tenths")
#: The GPU-planned kernels the policies run over on every backend.
POLICY_BACKENDS = ("annulus", "circle7", "runs", "weights", "wide5x9")
#: renormalize with no tap missing must be the plain weighted sum.
RENORMALIZE = ("centre_minus_ring", "disc_normalised", "sharpen", "wide5x9")
#: Statistics footprints (weights ignored).
FOOTPRINTS = {"annulus": "annulus_footprint", "circle7": "circle7", "rows": "rows_footprint"}
#: Zero-sum kernels a scientist uses (sums zero, some only up to rounding).
ZERO_SUM = ("dog", "inner_minus_outer_box", "laplace_3x3", "laplacian", "laplacian_1d", "sobel",
            "zero_mean_random")

