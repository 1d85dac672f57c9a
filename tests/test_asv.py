"""Run every asv benchmark once, on its first parameter set, so the suite never rots.

asv itself is not needed: the benchmark package is loaded from its folder, the raster
sizes are capped through its ``SIZE_LIMIT`` knob, and each benchmark's ``setup``, timed
method and ``teardown`` run once. A ``NotImplementedError`` from ``setup`` is asv's skip
(no GPU, or a feature the library does not have yet) and becomes a pytest skip here.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import itertools
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import xarray_focal

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "benchmarks"
#: Under our own name: the folder is a package called ``benchmarks`` for asv, a name
#: too common to claim in the test process.
PACKAGE = "xarray_focal_asv_benchmarks"
PREFIXES = ("time_", "timeraw_", "peakmem_", "mem_", "track_")


def _load_package():
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    spec = importlib.util.spec_from_file_location(
        PACKAGE, BENCH_DIR / "__init__.py", submodule_search_locations=[str(BENCH_DIR)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)
    return package


def _benchmark_classes():
    package = _load_package()
    found = []
    for info in sorted(pkgutil.iter_modules([str(BENCH_DIR)]), key=lambda i: i.name):
        module = importlib.import_module(f"{PACKAGE}.{info.name}")
        for name, cls in sorted(vars(module).items()):
            if inspect.isclass(cls) and cls.__module__ == module.__name__:
                methods = sorted(m for m in dir(cls) if m.startswith(PREFIXES))
                if methods:
                    found.append((info.name, name, cls, methods))
    return package, found


PACKAGE_MODULE, CLASSES = _benchmark_classes()
CASES = [
    pytest.param(cls, method, id=f"{module}.{name}.{method}")
    for module, name, cls, methods in CLASSES
    for method in methods
]


def _first_params(cls) -> tuple:
    params = getattr(cls, "params", ())
    if not params:
        return ()
    if not isinstance(params[0], (list, tuple)):
        # asv allows a single flat list of values for a one-parameter benchmark.
        return (params[0],)
    return tuple(p[0] for p in params)


@pytest.fixture(autouse=True)
def _small_rasters(monkeypatch):
    monkeypatch.setattr(PACKAGE_MODULE, "SIZE_LIMIT", 96)
    # The cold-start track would compile every kernel of its call from nothing (tens of
    # seconds on a small machine, each run): here its child uses the session's numba
    # cache instead. test_cold_start_track_uses_an_empty_cache checks the real setting.
    monkeypatch.setattr(sys.modules[f"{PACKAGE}.latency"], "FRESH_NUMBA_CACHE", False)


def _run_raw(code) -> None:
    stmt, setup = code if isinstance(code, tuple) else (code, "")
    env = dict(os.environ)
    # The child must import this checkout's package, as the test process does.
    root = str(Path(xarray_focal.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    subprocess.run([sys.executable, "-c", f"{setup}\n{stmt}"], env=env, check=True, timeout=300)


@pytest.mark.parametrize(("cls", "method"), CASES)
def test_benchmark_runs_once(cls, method):
    args = _first_params(cls)
    bench = cls()
    try:
        if hasattr(bench, "setup"):
            bench.setup(*args)
    except NotImplementedError as exc:
        pytest.skip(f"asv would skip this: {exc}")
    try:
        result = getattr(bench, method)(*args)
        if method.startswith("timeraw_"):
            _run_raw(result)
        elif method.startswith("track_"):
            assert isinstance(result, (int, float)), "track_ benchmarks must return a number"
    finally:
        if hasattr(bench, "teardown"):
            bench.teardown(*args)


def test_cold_start_track_uses_an_empty_cache(monkeypatch):
    """Unpatched, the track's child gets a new empty NUMBA_CACHE_DIR and an empty cwd."""
    latency = sys.modules[f"{PACKAGE}.latency"]
    monkeypatch.setattr(latency, "FRESH_NUMBA_CACHE", True)
    seen = {}

    def fake_run(cmd, *, env, cwd, **kwargs):
        seen.update(cache=env.get("NUMBA_CACHE_DIR"), cwd=cwd, contents=os.listdir(cwd),
                    code=cmd[-1])
        return subprocess.CompletedProcess(cmd, 0, "noise\nFIRST-CALL-SECONDS 12.5\n", "")

    monkeypatch.setattr(latency.subprocess, "run", fake_run)
    assert latency.ColdStart().track_first_call_cold("correlate") == 12.5
    assert seen["cache"] == seen["cwd"] and seen["contents"] == []
    assert not os.path.exists(seen["cache"]), "the scratch cache is removed afterwards"
    assert "xf.correlate(" in seen["code"] and "(96, 96)" in seen["code"]


def test_every_benchmark_module_has_benchmarks():
    """A module whose classes lost their prefixes would silently time nothing."""
    with_benchmarks = {module for module, *_ in CLASSES}
    modules = {i.name for i in pkgutil.iter_modules([str(BENCH_DIR)])}
    assert modules and modules == with_benchmarks


def test_parameter_grids_are_well_formed():
    """asv needs one name per parameter axis, and no axis may be empty."""
    for _module, name, cls, _methods in CLASSES:
        params = getattr(cls, "params", ())
        if params and isinstance(params[0], (list, tuple)):
            names = getattr(cls, "param_names", ())
            assert len(names) == len(params), name
            assert all(len(p) > 0 for p in params), name
            # Every combination has a distinct label, or asv would merge results.
            combos = list(itertools.product(*(map(repr, p) for p in params)))
            assert len(combos) == len(set(combos)), name


def test_size_limit_shrinks_rasters():
    """The knob the smoke test relies on really caps the raster side."""
    assert PACKAGE_MODULE.random_raster(4000).shape == (96, 96)


# --- benchmarks/peers.py: the parts that decide what the report says --------------------


def _load_peers():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"
    spec = importlib.util.spec_from_file_location("xarray_focal_peers_report", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


peers = _load_peers()


def test_peers_agreement_catches_a_wrong_boundary():
    """reflect vs mirror differ only at the edges: the check must still see it."""
    scipy_ndimage = pytest.importorskip("scipy.ndimage")
    import numpy as np

    data = np.random.default_rng(1).standard_normal((40, 50))
    kernel = xarray_focal.circle_kernel(1, 1, 3)
    ours = xarray_focal.correlate(data, kernel, boundary="reflect")
    scale = peers._scale(data, kernel)
    same = scipy_ndimage.correlate(data, kernel, mode="reflect")
    other = scipy_ndimage.correlate(data, kernel, mode="mirror")
    assert peers.agreement(same, ours, "all", 3, scale).startswith("agree")
    assert peers.agreement(other, ours, "all", 3, scale).startswith("DISAGREE")
    # Interior-only comparison ignores exactly the edge cells that padding changes.
    assert peers.agreement(other, ours, "interior", 3, scale).startswith("agree (interior)")


def test_peers_agreement_requires_nan_in_the_same_cells():
    import numpy as np

    ref = np.ones((5, 5))
    res = ref.copy()
    res[2, 2] = np.nan
    assert peers.agreement(res, ref, "all", 1, 1.0) == "DISAGREE: NaN at 1 cells that differ"


def test_peers_unbuilt_feature_is_reported_not_raised():
    """A keyword the library lacks yet gives a 'not implemented' row, not a crash."""
    def lacks_keyword():
        xarray_focal.correlate([[1.0]], [[1.0]], no_such_option=True)

    tool = peers.ours("xarray_focal", lacks_keyword, lacks_keyword)
    assert tool.run is None and tool.status.startswith("not implemented")
    assert peers.ours("xarray_focal", int, int).run is int


def test_peers_missing_peer_gets_a_row():
    tool = peers.peer("nothing", "no_such_module_for_xarray_focal", lambda m: m)
    assert tool.run is None and tool.status.startswith("not installed")


def test_peers_update_doc_rewrites_only_the_marked_block(tmp_path):
    page = tmp_path / "performance.md"
    page.write_text(f"# Title\n\nintro\n\n{peers.DOC_START}\nold\n{peers.DOC_END}\n\nafter\n")
    peers.update_doc(page, "new table")
    assert page.read_text() == (
        f"# Title\n\nintro\n\n{peers.DOC_START}\nnew table\n{peers.DOC_END}\n\nafter\n"
    )
    peers.update_doc(page, "newer")
    assert page.read_text().count(peers.DOC_START) == 1 and "newer" in page.read_text()


def test_peers_table_reports_ratio_peer_over_ours():
    case = peers.Case("X", "test", lambda: None)
    tools = [
        peers.Tool("ours", ours=True, times=[0.1, 0.3, 0.2]),
        peers.Tool("peer", times=[0.6]),
        peers.Tool("absent", run=None, status="not installed"),
    ]
    table = peers.case_table(case, tools).splitlines()
    assert "| **ours** |  | 200 | 1.00 |" in table[4]
    assert "| peer |  | 600 | 3.00 |" in table[5]
    assert "| absent |  | not installed |  |" in table[6]


# --- benchmarks/cold_start.py: the child script, its compile accounting, missing tools ---


def _load_cold_start():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "cold_start.py"
    spec = importlib.util.spec_from_file_location("xarray_focal_cold_start_report", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cold_start = _load_cold_start()


def test_cold_start_child_scripts_are_valid_python():
    for _label, measurements in cold_start.CASES.values():
        for m in measurements:
            compile(cold_start.child_code(m), f"<{m.row} {m.tool}>", "exec")


def test_cold_start_charges_callee_compiles_to_the_callee(tmp_path):
    """own = total - callees' compile time; the top-level total is the call's compile time."""
    m = cold_start.Measurement(
        "nested", cold_start.OURS, "import numba", "outer(1.0)", module="numba",
        setup="@numba.njit\ndef inner(x):\n    return x + 1\n"
              "@numba.njit\ndef outer(x):\n    return inner(x) * 2\n")
    got = cold_start.run_child(cold_start.child_code(m), None, str(tmp_path))
    assert not isinstance(got, str), got
    inner, outer = got.functions["__main__.inner"], got.functions["__main__.outer"]
    assert inner[2] == outer[2] == 1
    assert inner[0] == pytest.approx(inner[1])  # inner calls nothing jitted
    assert outer[1] > inner[1] > 0
    assert outer[0] == pytest.approx(outer[1] - inner[1], abs=1e-6)
    assert got.compile_s == pytest.approx(outer[1], abs=1e-6)
    assert got.call_s >= got.compile_s and got.compile_import_s == 0.0


def test_cold_start_missing_tool_gets_a_row(tmp_path):
    m = cold_start.Measurement("correlate-f64", cold_start.PEER,
                               "import no_such_module_for_xarray_focal", "None")
    series = cold_start.Series(cold_start.PEER, m)
    cold_start.measure(series, None, tmp_path)
    assert not series.cold and "ModuleNotFoundError" in series.error
    tree = cold_start.Tree("after", Path("."))
    results = {(cold_start.PEER, "correlate-f64"): series}
    text = cold_start.tables(["correlate-f64"], [tree], results)
    row = next(line for line in text.splitlines() if line.startswith("| `correlate` float64"))
    assert "not available (ModuleNotFoundError" in row


def test_cold_start_ratio_is_peer_over_the_last_tree():
    def series(label, seconds):
        s = cold_start.Series(label, cold_start.CASES["stats"][1][0])
        s.cold = [cold_start.Sample(0.1, t, 0.0, 0.0, {}, None) for t in seconds]
        return s

    trees = [cold_start.Tree("before", Path(".")), cold_start.Tree("after", Path("."))]
    results = {("before", "stats"): series("before", [40.0]),
               ("after", "stats"): series("after", [3.0, 1.0, 2.0]),
               (cold_start.PEER, "stats"): series(cold_start.PEER, [4.0])}
    row = next(line for line in cold_start.tables(["stats"], trees, results).splitlines()
               if line.startswith("| `focal_stats"))
    assert row.endswith("| 40.0 | 2.00 (1.00–3.00) | 4.00 | 2.00 |")
