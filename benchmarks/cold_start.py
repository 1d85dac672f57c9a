#!/usr/bin/env python
"""Cold start: import time and first call in a fresh process with an empty numba cache.

Every measurement is a new interpreter whose ``NUMBA_CACHE_DIR`` is a new empty folder,
so each first call pays every numba compile it needs (as in a new venv, a CI job or a new
dask worker). A second interpreter then repeats the call with the cache the first one
filled: the warm-cache first call a user sees in every later session. xarray-spatial runs
the same way in the same run; it does not cache its JIT, so its warm row is a cold one.

Each child also listens to numba's ``numba:compile`` events and reports, per jitted
function, the compile time spent in that function itself (callees compiled while typing
it are charged to them) and in total, so the top of the list says what to make cheaper.

Usage (from the repository root)::

    python benchmarks/cold_start.py --quick           # one round (a few minutes)
    python benchmarks/cold_start.py --rounds 3        # medians of 3 interleaved rounds
    python benchmarks/cold_start.py --cases correlate-f64,stats
    python benchmarks/cold_start.py --update-doc docs/performance.md

    # before / after in one run (each tree is a folder holding the xarray_focal package):
    PYTHONPATH=$PWD /tmp/peers312/bin/python benchmarks/cold_start.py \\
        --tree "before (12e8b83)=/tmp/old" --tree "after=$PWD"

xarray-spatial >= 0.6 needs Python >= 3.12: run this file with the interpreter of the
venv described in ``benchmarks/peers.py``. A peer or a feature that is missing gets a row
saying so. Without ``--tree`` the measured xarray_focal is the one this process imports.

Each tree's package is copied (without ``__pycache__``) into a temporary folder and
byte-compiled there first, so Python's ``.pyc`` files are warm as after ``pip install``,
stale in-tree numba caches cannot be picked up, and nothing is written into the trees.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Where --update-doc writes, between these two lines of the markdown page.
DOC_START = "<!-- cold-start:start -->"
DOC_END = "<!-- cold-start:end -->"

ROUNDS_FULL = 3
ROUNDS_QUICK = 1
#: Functions listed per measurement in the compile-time breakdown.
TOP_FUNCTIONS = 8
#: A child slower than this is reported as timed out (a cold compile takes under a minute).
CHILD_TIMEOUT = 900
N = 1000
RADIUS = 7
PEER = "xarray-spatial"
OURS = "xarray_focal"


def _load_peers():
    """benchmarks/peers.py as a module (its machine and version helpers)."""
    path = Path(__file__).resolve().parent / "peers.py"
    spec = importlib.util.spec_from_file_location("xarray_focal_peers_report", path)
    module = importlib.util.module_from_spec(spec)
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


peers = _load_peers()


# --------------------------------------------------------------------------------------
# What runs in a child
# --------------------------------------------------------------------------------------

#: Runs first in every child: the compile listener and the data (not timed).
_PRELUDE = r'''
import json, sys, threading, time
import numpy as np
rng = np.random.default_rng(0)
data = rng.standard_normal(({n}, {n}))
holes = data.copy()
holes[rng.random(holes.shape) < 0.05] = np.nan
'''

_TIMED = r'''
t0 = time.perf_counter()
from numba.core import event as _event

class _Compiles(_event.Listener):
    """Self and total compile seconds per jitted function, from numba's events."""

    def __init__(self):
        self.local = threading.local()
        self.by_function = {{}}
        self.total = 0.0

    def _stack(self):
        if not hasattr(self.local, "stack"):
            self.local.stack = []
        return self.local.stack

    def on_start(self, event):
        func = event.data["dispatcher"].py_func
        name = f"{{func.__module__}}.{{func.__qualname__}}"
        self._stack().append([name, time.perf_counter(), 0.0])

    def on_end(self, event):
        stack = self._stack()
        name, start, in_callees = stack.pop()
        spent = time.perf_counter() - start
        if stack:
            stack[-1][2] += spent
        else:
            self.total += spent
        row = self.by_function.setdefault(name, [0.0, 0.0, 0])
        row[0] += spent - in_callees
        row[1] += spent
        row[2] += 1

_compiles = _Compiles()
# Registered before the library's import, so compiles at import time are counted too.
_event.register("numba:compile", _compiles)
{imports}
t1 = time.perf_counter()
_at_import = _compiles.total
{setup}
t2 = time.perf_counter()
result = {call}
t3 = time.perf_counter()
print("COLD-START-RESULT " + json.dumps({{
    "import_s": t1 - t0,
    "call_s": t3 - t2,
    "compile_s": _compiles.total - _at_import,
    "compile_import_s": _at_import,
    "functions": _compiles.by_function,
    "module": getattr(sys.modules.get({module!r}), "__file__", None),
}}))
'''


@dataclass
class Measurement:
    """One first call: the code a child times, and the row and tool it belongs to."""

    row: str
    tool: str  # OURS or PEER
    imports: str
    call: str
    setup: str = ""
    prelude_imports: str = ""
    module: str = "xarray_focal"


_OURS_IMPORT = "import xarray_focal as xf"
_DASK_PRE = "import dask, dask.array as dsa\ndask.config.set(scheduler='threads')"
_PEER_IMPORT = ("import xarray as xr\nfrom xrspatial.convolution import convolution_2d, "
                "circle_kernel\nfrom xrspatial.focal import focal_stats")
_DASK_CHUNKS = N // 2  # 2 x 2 = 4 chunks


def _ours(row, call, *, dask=False, setup=""):
    return Measurement(row, OURS, _OURS_IMPORT, call, prelude_imports=_DASK_PRE if dask else "",
                       setup="kernel = xf.circle_kernel(1, 1, %d)\n%s" % (RADIUS, setup))


def _peer(row, call, *, dask=False, source="data", dtype="float64"):
    wrap = f"dsa.from_array({source}, chunks={_DASK_CHUNKS})" if dask else source
    setup = (f"kernel = circle_kernel(1, 1, {RADIUS})\n"
             f"agg = xr.DataArray({wrap}.astype('{dtype}'), dims=('y', 'x'))")
    return Measurement(row, PEER, _PEER_IMPORT, call, setup=setup,
                       prelude_imports=_DASK_PRE if dask else "", module="xrspatial")


_TO_DASK = f"dsa.from_array({{}}, chunks={_DASK_CHUNKS})"
_STATS = '("mean", "std")'
_PEER_STATS = "focal_stats(agg, kernel, stats_funcs=['mean', 'std'])"

#: Row id -> (row label, [measurements]). Peers share the NaN-free / 5 %-NaN rasters.
CASES: dict[str, tuple[str, list[Measurement]]] = {
    "correlate-f64": ("`correlate` float64, reflect / `convolution_2d`", [
        _ours("correlate-f64", "xf.correlate(data, kernel, boundary='reflect')"),
        _peer("correlate-f64", "convolution_2d(agg, kernel, boundary='reflect')"),
    ]),
    "correlate-f32": ("`correlate` float32, reflect / `convolution_2d` float32", [
        _ours("correlate-f32", "xf.correlate(data32, kernel, boundary='reflect')",
              setup="data32 = data.astype(np.float32)"),
        _peer("correlate-f32", "convolution_2d(agg, kernel, boundary='reflect')",
              dtype="float32"),
    ]),
    "stats": ('`focal_stats(("mean", "std"))`, 5 % NaN / `focal_stats(mean, std)`', [
        _ours("stats", f"xf.focal_stats(holes, kernel, {_STATS})"),
        _peer("stats", _PEER_STATS, source="holes"),
    ]),
    "max": ("`focal_max`, 5 % NaN / `focal_stats(max)`", [
        _ours("max", "xf.focal_max(holes, kernel)"),
        _peer("max", "focal_stats(agg, kernel, stats_funcs=['max'])", source="holes"),
    ]),
    "dask-correlate": ("dask (4 chunks) `correlate` float64 / `convolution_2d`", [
        _ours("dask-correlate", "xf.correlate(ddata, kernel, boundary='reflect').compute()",
              dask=True, setup="ddata = " + _TO_DASK.format("data")),
        _peer("dask-correlate", "convolution_2d(agg, kernel, boundary='reflect').compute()",
              dask=True),
    ]),
    "dask-stats": ('dask `focal_stats(("mean", "std"))` / `focal_stats(mean, std)`', [
        _ours("dask-stats", f"dask.compute(xf.focal_stats(dholes, kernel, {_STATS}))",
              dask=True, setup="dholes = " + _TO_DASK.format("holes")),
        _peer("dask-stats", _PEER_STATS + ".compute()", dask=True, source="holes"),
    ]),
    "dask-max": ("dask `focal_max` / `focal_stats(max)`", [
        _ours("dask-max", "xf.focal_max(dholes, kernel).compute()", dask=True,
              setup="dholes = " + _TO_DASK.format("holes")),
        _peer("dask-max", "focal_stats(agg, kernel, stats_funcs=['max']).compute()",
              dask=True, source="holes"),
    ]),
}


def child_code(m: Measurement) -> str:
    """The whole script one child runs for measurement ``m``."""
    prelude = _PRELUDE.replace("{n}", str(N))
    if m.prelude_imports:
        prelude += m.prelude_imports + "\n"
    return prelude + _TIMED.format(imports=m.imports, setup=m.setup, call=m.call,
                                   module=m.module)


# --------------------------------------------------------------------------------------
# Running children
# --------------------------------------------------------------------------------------


@dataclass
class Sample:
    import_s: float
    call_s: float
    #: numba compile seconds during the call, and during the import.
    compile_s: float
    compile_import_s: float
    functions: dict[str, list[float]]
    module: str | None


@dataclass
class Series:
    """Cold and warm samples of one measurement on one tree (or the peer)."""

    label: str  # tree label, or PEER
    measurement: Measurement
    cold: list[Sample] = field(default_factory=list)
    warm: list[Sample] = field(default_factory=list)
    error: str = ""


def _parse(proc: subprocess.CompletedProcess) -> Sample | str:
    for line in proc.stdout.splitlines():
        if line.startswith("COLD-START-RESULT "):
            d = json.loads(line.split(" ", 1)[1])
            return Sample(d["import_s"], d["call_s"], d["compile_s"], d["compile_import_s"],
                          d["functions"], d["module"])
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()] or ["no output"]
    return lines[-1].strip()[:160]


def run_child(code: str, pythonpath: str | None, cache_dir: str) -> Sample | str:
    """Run ``code`` in a new interpreter with ``NUMBA_CACHE_DIR=cache_dir``.

    Returns the parsed sample, or the child's last error line.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    env["NUMBA_CACHE_DIR"] = cache_dir
    try:
        # cwd: an empty folder, so `python -c` cannot import a package from where we stand.
        proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=cache_dir,
                              capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"timed out after {CHILD_TIMEOUT} s"
    return _parse(proc)


def measure(series: Series, pythonpath: str | None, scratch: Path) -> None:
    """One cold and one warm sample of ``series`` (a fresh cache, then the filled one)."""
    if series.error:
        return
    cache = tempfile.mkdtemp(prefix="numba-cache-", dir=scratch)
    try:
        code = child_code(series.measurement)
        for bucket in (series.cold, series.warm):
            got = run_child(code, pythonpath, cache)
            if isinstance(got, str):
                series.error = got
                return
            bucket.append(got)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


@dataclass
class Tree:
    label: str
    source: Path  # the folder that holds xarray_focal/
    copy: Path | None = None
    describe: str = ""


def describe_tree(path: Path) -> str:
    """``git describe`` of the checkout at ``path``, or a note that it is not one."""
    out = subprocess.run(["git", "-C", str(path), "describe", "--always", "--dirty"],
                         capture_output=True, text=True, timeout=10)
    if out.returncode == 0 and (path / ".git").exists():
        return out.stdout.strip()
    return "not a git checkout"


def snapshot(tree: Tree, scratch: Path, index: int) -> None:
    """Copy the tree's package (no caches) into ``scratch`` and byte-compile it there."""
    dest = scratch / "trees" / str(index)
    shutil.copytree(tree.source / "xarray_focal", dest / "xarray_focal",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc", "*.pyc"))
    compileall.compile_dir(str(dest), quiet=1)
    tree.copy = dest


def _default_tree() -> Tree:
    spec = importlib.util.find_spec("xarray_focal")
    if spec is None or spec.origin is None:
        raise SystemExit("xarray_focal is not importable: set PYTHONPATH or use --tree")
    return Tree(OURS, Path(spec.origin).resolve().parents[1])


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _median(samples: list[Sample], attr: str) -> float | None:
    return statistics.median(getattr(s, attr) for s in samples) if samples else None


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"


def _cell(series: Series | None, bucket: str, attr: str = "call_s") -> str:
    if series is None:
        return ""
    samples = getattr(series, bucket)
    if not samples:
        return f"not available ({series.error})" if series.error else ""
    values = sorted(getattr(s, attr) for s in samples)
    text = _fmt_s(statistics.median(values))
    if len(values) > 1:
        text += f" ({_fmt_s(values[0])}–{_fmt_s(values[-1])})"
    return text


def _ratio(peer: Series | None, ours: Series | None, bucket: str) -> str:
    p = _median(getattr(peer, bucket), "call_s") if peer else None
    o = _median(getattr(ours, bucket), "call_s") if ours else None
    return f"{p / o:.2f}" if p and o else ""


def tables(cases: list[str], trees: list[Tree], results: dict[tuple[str, str], Series]) -> str:
    """Markdown tables of the cold and warm first calls and the import times."""
    labels = [t.label for t in trees]
    peer = any(who == PEER for who, _ in results)
    last = labels[-1]
    out = []
    for bucket, title in (("cold", "first call, empty numba cache (s)"),
                          ("warm", "first call, cache filled by the previous process (s)")):
        head = "| " + title + " | " + " | ".join(f"{OURS} {lb}" if lb != OURS else OURS
                                                  for lb in labels)
        head += f" | {PEER} | {PEER} / {OURS if last == OURS else last} |" if peer else " |"
        out += [f"### {bucket}: {title}", "", head,
                "|---|" + "---:|" * (len(labels) + 2 * peer)]
        for case in cases:
            row = [CASES[case][0]] + [_cell(results.get((lb, case)), bucket) for lb in labels]
            if peer:
                row += [_cell(results.get((PEER, case)), bucket),
                        _ratio(results.get((PEER, case)), results.get((last, case)), bucket)]
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    out += ["### import time in a fresh process (numba included), median over all children (s)",
            "", "| tool | import s |", "|---|---:|"]
    for lb in labels + [PEER] * peer:
        samples = [s for (who, _), ser in results.items() if who == lb
                   for s in ser.cold + ser.warm]
        name = f"{OURS} {lb}" if lb not in (OURS, PEER) else lb
        out.append(f"| {name} | {_fmt_s(_median(samples, 'import_s')) or 'not available'} |")
    out.append("")
    return "\n".join(out)


def _median_sample(samples: list[Sample]) -> Sample:
    ordered = sorted(samples, key=lambda s: s.call_s)
    return ordered[(len(ordered) - 1) // 2]


def compile_breakdown(cases: list[str], trees: list[Tree],
                      results: dict[tuple[str, str], Series]) -> str:
    """Top functions by own compile time, from the median cold sample of each measurement."""
    out = [f"### what numba compiles in a cold process (top {TOP_FUNCTIONS} by own time)",
           "",
           "_own_: compile time of the function itself; _total_: including the callees "
           "compiled while typing it; _sigs_: signatures compiled; import and first call "
           "together. From the cold sample with the median first call.", ""]
    for lb in [t.label for t in trees] + [PEER]:
        for case in cases:
            series = results.get((lb, case))
            if series is None or not series.cold:
                continue
            s = _median_sample(series.cold)
            name = f"{OURS} {lb}" if lb not in (OURS, PEER) else lb
            at_import = (f"; {_fmt_s(s.compile_import_s)} s more during the import"
                         if s.compile_import_s >= 0.005 else "")
            out += [f"**{name}, {case}**: first call {_fmt_s(s.call_s)} s, of which numba "
                    f"compiling {_fmt_s(s.compile_s)} s{at_import}; "
                    f"{len(s.functions)} functions, "
                    f"{sum(int(v[2]) for v in s.functions.values())} signatures", "",
                    "| function | own s | total s | sigs |", "|---|---:|---:|---:|"]
            top = sorted(s.functions.items(), key=lambda kv: -kv[1][0])[:TOP_FUNCTIONS]
            for func, (own, total, sigs) in top:
                out.append(f"| `{func}` | {own:.2f} | {total:.2f} | {int(sigs)} |")
            out.append("")
    return "\n".join(out)


def warm_compiles(trees: list[Tree], results: dict[tuple[str, str], Series]) -> str:
    """Functions that compiled again although the cache was warm (should be none)."""
    lines = []
    for (lb, case), series in results.items():
        if lb == PEER:
            continue
        names = sorted({f for s in series.warm for f in s.functions})
        if names:
            lines.append(f"- {lb}, {case}: {', '.join(f'`{n}`' for n in names[:6])}"
                         + (" …" if len(names) > 6 else ""))
    if not lines:
        return "_Warm-cache children compiled nothing (every kernel came from the cache)._"
    return "Compiled again with a warm cache (not cached, or cache missed):\n" + "\n".join(lines)


def header(argv: list[str], trees: list[Tree], rounds: int, load_start: str,
           peer: bool = True) -> str:
    lines = peers.machine_lines(load_start)
    for t in trees:
        lines.append(f"- **{OURS} {t.label}:** `{t.source}` at `{t.describe}`, "
                     f"version {_tree_version(t)}")
    lines.append(f"- **peer:** {PEER} {peers._version('xrspatial')}" if peer
                 else "- **peer:** not measured (--no-peer)")
    lines.append(
        f"- **command:** `python benchmarks/cold_start.py {' '.join(argv)}`".rstrip()
        + f" — median (min–max) of {rounds} interleaved round(s); each sample a new "
        f"interpreter, {N}², circle r={RADIUS} ({2 * RADIUS + 1}×{2 * RADIUS + 1}), "
        "dask 4 chunks on the threaded scheduler")
    return "\n".join(lines)


def _tree_version(tree: Tree) -> str:
    init = (tree.source / "xarray_focal" / "__init__.py").read_text()
    for line in init.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return "?"


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def collect(cases: list[str], trees: list[Tree], rounds: int, *,
            peer: bool = True) -> dict[tuple[str, str], Series]:
    """Measure ``cases`` on every tree (and the peer) in ``rounds`` interleaved rounds.

    Returns the series keyed by ``(tree label or PEER, case id)``. Progress goes to stderr.
    """
    scratch = Path(tempfile.mkdtemp(prefix="xarray-focal-cold-start-"))
    try:
        for i, t in enumerate(trees):
            t.describe = t.describe or describe_tree(t.source)
            snapshot(t, scratch, i)
        jobs: list[tuple[Series, str | None]] = []
        results: dict[tuple[str, str], Series] = {}
        for case in cases:
            for m in CASES[case][1]:
                if m.tool == OURS:
                    for t in trees:
                        results[(t.label, case)] = s = Series(t.label, m)
                        jobs.append((s, str(t.copy)))
                elif peer:
                    results[(PEER, case)] = s = Series(PEER, m)
                    jobs.append((s, None))
        for r in range(rounds):
            # Round r starts at a different job, so background load hits all of them alike.
            k = (r * max(1, len(jobs) // rounds)) % max(1, len(jobs))
            for series, path in jobs[k:] + jobs[:k]:
                print(f"round {r + 1}/{rounds}: {series.label} {series.measurement.row} "
                      f"(load {_load()})", file=sys.stderr, flush=True)
                measure(series, path, scratch)
                last = series.cold[-1] if series.cold else None
                if last is not None:
                    print(f"  cold {last.call_s:.2f} s (compiling {last.compile_s:.2f} s), "
                          f"warm {series.warm[-1].call_s:.2f} s, from {last.module}",
                          file=sys.stderr, flush=True)
                else:
                    print(f"  not available: {series.error}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--quick", action="store_true", help=f"{ROUNDS_QUICK} round")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"rounds (default {ROUNDS_FULL}, {ROUNDS_QUICK} with --quick)")
    parser.add_argument("--cases", default="",
                        help="comma-separated rows (default all): " + ",".join(CASES))
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=PATH",
                        help="measure the xarray_focal package in PATH under LABEL "
                             "(repeatable: before/after in one run)")
    parser.add_argument("--no-peer", action="store_true", help=f"do not measure {PEER}")
    parser.add_argument("--update-doc", type=Path, default=None,
                        help="write the report into this markdown file between its markers")
    args = parser.parse_args(argv)
    rounds = args.rounds or (ROUNDS_QUICK if args.quick else ROUNDS_FULL)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()] or list(CASES)
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    trees = []
    for spec in args.tree:
        label, _, path = spec.rpartition("=")
        if not label or not (Path(path) / "xarray_focal" / "__init__.py").exists():
            parser.error(f"--tree {spec!r}: want LABEL=PATH, PATH holding xarray_focal/")
        trees.append(Tree(label, Path(path).resolve()))
    trees = trees or [_default_tree()]

    started = time.perf_counter()
    for t in trees:
        t.describe = describe_tree(t.source)
    head = header(argv, trees, rounds, _load(), peer=not args.no_peer)
    print(head + "\n", file=sys.stderr, flush=True)
    results = collect(cases, trees, rounds, peer=not args.no_peer)
    elapsed = time.perf_counter() - started
    report = "\n".join([
        head, "",
        tables(cases, trees, results),
        f"{PEER} / {OURS} ≥ 1: our first call is no slower than the peer's (the issue's goal). "
        f"{PEER} does not cache its JIT, so its warm row pays the compile again.", "",
        warm_compiles(trees, results), "",
        compile_breakdown(cases, trees, results),
        f"_Total wall time {elapsed:.0f} s; load average at the end {_load()}._",
    ])
    print(report)
    if args.update_doc:
        peers.update_doc(args.update_doc, report, start=DOC_START, end=DOC_END)
        print(f"wrote {args.update_doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
