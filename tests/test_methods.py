"""Every algorithm (``method=``) against the reference and against each other."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xarray_focal as xf

from . import has_dask
from .conftest import awkward_data
from .kernels import KERNELS
from .reference import BOUNDARIES, assert_matches_contract

METHODS = ["direct", "runs", "columns", "auto"]


@st.composite
def run_kernels(draw):
    """Odd kernels whose rows are runs of a few repeated weights (zeros included)."""
    kh = draw(st.sampled_from([1, 3, 5, 7, 9]))
    kw = draw(st.sampled_from([1, 3, 5, 7, 11, 15]))
    palette = draw(st.lists(st.sampled_from([0.0, 1.0, -2.0, 0.5, 3.25, 1e-3]), min_size=1, max_size=3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    # Runs: pick a weight per row segment, so equal neighbours are common.
    kernel = np.zeros((kh, kw))
    for i in range(kh):
        cuts = np.sort(rng.choice(np.arange(1, kw), size=min(kw - 1, rng.integers(0, 3)), replace=False)) if kw > 1 else []
        edges = [0, *cuts, kw]
        for a, b in zip(edges[:-1], edges[1:]):
            kernel[i, a:b] = palette[rng.integers(len(palette))]
    if not kernel.any():
        kernel[kh // 2, kw // 2] = 1.0
    return kernel


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kernel=run_kernels(),
    shape=st.tuples(st.integers(1, 30), st.integers(1, 40)),
    boundary=st.sampled_from(BOUNDARIES),
    dtype=st.sampled_from([np.float64, np.float32, np.int32]),
    nan_fraction=st.sampled_from([0.0, 0.05, 0.3]),
    seed=st.integers(0, 1000),
)
def test_every_method_meets_the_contract(kernel, shape, boundary, dtype, nan_fraction, seed):
    data = awkward_data(shape, dtype, nan_fraction=nan_fraction if dtype != np.int32 else 0.0,
                        seed=seed)
    results = {}
    for method in METHODS:
        results[method] = xf.correlate(data, kernel, boundary=boundary, cval=-1.5, method=method)
        assert_matches_contract(results[method], data, kernel, boundary, -1.5)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("radius", [1, 4, 9])
def test_circles_on_nan_and_inf_data(method, radius):
    data = awkward_data((3, 45, 52), nan_fraction=0.02, seed=radius)
    data[0, 10, 10] = np.inf
    data[1, 20, 30] = -np.inf
    data[2, 5, 5] = np.inf
    data[2, 6, 7] = -np.inf  # both in some windows: NaN there, as in the direct sum
    kernel = xf.circle_kernel(1, 1, radius)
    result = xf.correlate(data, kernel, boundary="nearest", method=method)
    assert_matches_contract(result, data, kernel, "nearest")


@pytest.mark.parametrize("method,kname", [
    (m, k) for m in ("direct", "runs", "columns", "separable")
    for k in ("box3", "box5x9", "random25", "circle7")
    if m != "separable" or k.startswith("box")  # the others are not rank 1
])
def test_float32_is_summed_in_float64_and_rounded_once(method, kname):
    """float32 in, float32 out, but every method sums in float64: the result is the
    float64 result of the same float32 values rounded once (bit for bit), whatever the
    number of passes over the runs -- on numpy and per dask chunk."""
    kernel = KERNELS[kname]
    # Large offset, small spread: a float32 running sum would round at every pass.
    data = (np.random.default_rng(3).random((50, 60)) * 1000 + 1e4).astype(np.float32)
    expected = xf.correlate(data.astype(np.float64), kernel, method=method).astype(np.float32)
    result = xf.correlate(data, kernel, method=method)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, expected)
    if has_dask:
        import dask.array as da

        chunked = xf.correlate(da.from_array(data, chunks=25), kernel, method=method)
        np.testing.assert_array_equal(chunked.compute(), expected)


@pytest.mark.parametrize("method", ["direct", "runs", "columns"])
@pytest.mark.parametrize("axis", [0, 1])
def test_runs_accuracy_with_huge_values_outside_the_window(method, axis):
    # A prefix (or running) sum along the run would lose the small values next to the huge
    # ones; window sums only ever add values inside the window.
    data = np.ones((5, 200))
    data[:, :50] = 1e15
    kernel = np.ones((1, 21))
    if axis == 0:
        data, kernel = data.T.copy(), kernel.T.copy()
    result = xf.correlate(data, kernel, boundary="nearest", method=method)
    interior = result[:, 100:180] if axis == 1 else result[100:180, :]
    np.testing.assert_array_equal(interior, 21.0)


def test_auto_picks_a_run_method_for_circles_and_direct_for_irregular_kernels():
    from xarray_focal._algorithms.plan import make_plan

    assert make_plan(xf.circle_kernel(1, 1, 3)).method == "runs"
    assert make_plan(xf.circle_kernel(1, 1, 16)).method == "columns"
    assert make_plan(xf.circle_kernel(1, 1, 16), separable_ok=False).method == "columns"
    assert make_plan(np.random.default_rng(0).standard_normal((7, 7))).method == "direct"


@pytest.mark.parametrize("bad,exc", [("fft", ValueError), ("Separable", ValueError), (3, TypeError), (None, TypeError)])
def test_bad_method(bad, exc):
    with pytest.raises(exc, match="method"):
        xf.correlate(np.ones((5, 5)), np.ones((3, 3)), method=bad)


@st.composite
def rank_one_kernels(draw):
    kh = draw(st.sampled_from([1, 3, 5, 9]))
    kw = draw(st.sampled_from([1, 3, 7, 11]))
    values = st.sampled_from([0.0, 1.0, -0.5, 2.0, 0.1, 1 / 3])
    u = np.array(draw(st.lists(values, min_size=kh, max_size=kh)))
    v = np.array(draw(st.lists(values, min_size=kw, max_size=kw)))
    if not u.any():
        u[kh // 2] = 1.0
    if not v.any():
        v[kw // 2] = 1.0
    return np.outer(u, v)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kernel=rank_one_kernels(),
    shape=st.tuples(st.integers(1, 25), st.integers(1, 30)),
    boundary=st.sampled_from(BOUNDARIES),
    dtype=st.sampled_from([np.float64, np.float32]),
    nan_fraction=st.sampled_from([0.0, 0.1]),
    seed=st.integers(0, 1000),
)
def test_separable_meets_the_contract(kernel, shape, boundary, dtype, nan_fraction, seed):
    data = awkward_data(shape, dtype, nan_fraction=nan_fraction, seed=seed)
    result = xf.correlate(data, kernel, boundary=boundary, cval=0.75, method="separable")
    assert_matches_contract(result, data, kernel, boundary, 0.75)


def test_gaussian_is_planned_separable_and_matches_direct():
    from xarray_focal._algorithms.plan import make_plan

    g = np.exp(-np.arange(-8, 9) ** 2 / 18.0)
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    assert make_plan(kernel).method == "separable"
    data = awkward_data((60, 70), nan_fraction=0.01)
    assert_matches_contract(xf.correlate(data, kernel, boundary="reflect"), data, kernel, "reflect")


def test_separable_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="rank-1"):
        xf.correlate(np.ones((9, 9)), xf.circle_kernel(1, 1, 2), method="separable")
    with pytest.raises(ValueError, match="nan_policy"):
        xf.correlate(np.ones((9, 9)), np.ones((3, 3)), method="separable", nan_policy="omit")

    # auto never picks it for NaN-aware work, and the result is still right there
    data = awkward_data((12, 12), nan_fraction=0.2)
    r = xf.correlate(data, np.ones((3, 3)), nan_policy="omit", boundary="nearest")
    np.testing.assert_allclose(r, xf.correlate(data, np.ones((3, 3)), nan_policy="omit",
                                               boundary="nearest", method="direct"), rtol=1e-14)
