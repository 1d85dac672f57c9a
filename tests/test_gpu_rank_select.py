"""The GPU's selection networks (:mod:`xarray_focal._backends.cupy_rank_select`) on the host.

Each network is run by :func:`~xarray_focal._backends.cupy_rank_select.evaluate` (numpy
min/max, as the kernel's straight-line code does) on random regions with many ties and
+-inf, and every window's wanted ranks must equal ``np.sort`` of its values. The kernels
built from these networks are checked against the CPU engine in
tests/test_cuda_rank_source.py and on the GPU in tests/test_gpu_rank.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import xarray_focal as xf
from xarray_focal._backends import cupy_rank
from xarray_focal._backends.cupy_rank_select import build, evaluate


def taps_of(footprint):
    return tuple(map(tuple, np.argwhere(np.asarray(footprint) != 0).tolist()))


RNG = np.random.default_rng(11)
FOOTPRINTS = {
    "box3": np.ones((3, 3)), "box5": np.ones((5, 5)), "box7": np.ones((7, 7)),
    "annulus": xf.annulus_kernel(1, 1, 2, 0), "row": np.ones((1, 7)), "col": np.ones((5, 1)),
    "random": (RNG.random((5, 7)) < 0.5) | (np.arange(35).reshape(5, 7) == 17),
}


@pytest.mark.parametrize("name", FOOTPRINTS)
@pytest.mark.parametrize("tile", [(1, 1), (2, 2), (1, 4), (3, 2), (4, 4)])
def test_selection_networks_pick_the_sorted_ranks(name, tile):
    taps = taps_of(FOOTPRINTS[name])
    n = len(taps)
    rng = np.random.default_rng(n * 10 + tile[0] * 3 + tile[1])
    for ranks in [(n // 2,), ((n - 1) // 2, n // 2), (0,), (n - 1,), (1 % n, n - 2 if n > 2 else 0)]:
        sel = build(taps, *tile, ranks)
        hr, wr = sel.region
        vals = rng.standard_normal((hr, wr, 300))
        vals[..., 150:] = rng.integers(0, 3, (hr, wr, 150))  # ties
        vals[rng.random(vals.shape) < 0.05] = np.inf
        vals[rng.random(vals.shape) < 0.05] = -np.inf
        got = evaluate(sel, vals)
        for r in range(tile[0]):
            for c in range(tile[1]):
                window = np.sort(np.stack([vals[r + dy, c + dx] for dy, dx in taps]), axis=0)
                np.testing.assert_array_equal(got[r * tile[1] + c], window[list(sel.ranks)])


def test_tiles_share_work_and_fit_the_register_budget():
    box5 = taps_of(np.ones((5, 5)))
    one = build(box5, 1, 1, (12,))
    tile = build(box5, 2, 2, (12,))
    assert tile.nops / 4 < 0.5 * one.nops  # the shared columns and merges pay
    assert cupy_rank.choose_tile(box5, (12,), "float") == (2, 2)
    assert cupy_rank.choose_tile(taps_of(np.ones((15, 15))), (112,), "float") is None


def test_compile_time_ranks_are_the_cpu_engines():
    from xarray_focal._algorithms.rank.order import _positions

    qs = np.concatenate(([np.nan, 0.0, 100.0, 50.0, 1e-300, 100 - 1e-13],
                         np.random.default_rng(0).random(40) * 100))
    for n in range(1, 130):
        for q in qs:
            i, j, w = cupy_rank.positions(n, float(q))
            ci, cj, cw = _positions(n, q)
            assert (i, j) == (ci, cj) and np.float64(w).tobytes() == np.float64(cw).tobytes()
