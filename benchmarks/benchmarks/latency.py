"""What a user waits for in a fresh process: the import, and the first call.

``timeraw_`` benchmarks run their code in a new interpreter each time. numba's on-disk
cache is warm after the first run of the suite (``cache=True``), so ``first_call`` measures
loading compiled code, not compiling it; the goal (fast-algorithm issue) is under 1 s.

:class:`ColdStart` measures the other first run -- a new venv, a CI job, a new dask
worker -- where the cache is empty and every kernel the call needs is compiled: a child
interpreter with a new, empty ``NUMBA_CACHE_DIR``. ``benchmarks/cold_start.py`` reports
the same next to xarray-spatial, with a breakdown of numba's compile time.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import side

#: Whether :class:`ColdStart` gives its child an empty numba cache. The smoke test
#: (tests/test_asv.py) turns it off: the child then uses the environment's cache, which
#: the test session has already filled, so the check of the benchmark's machinery does
#: not pay a full compile per run.
FRESH_NUMBA_CACHE = True

_COLD_CHILD = """
import time
import numpy as np
data = np.random.default_rng(0).standard_normal(({n}, {n}))
import xarray_focal as xf
kernel = xf.circle_kernel(1, 1, 7)
t0 = time.perf_counter()
{call}
print("FIRST-CALL-SECONDS", time.perf_counter() - t0)
"""

_CALLS = {
    "correlate": "xf.correlate(data, kernel, boundary='reflect')",
    "focal_stats": "xf.focal_stats(data, kernel, ('mean', 'std'))",
}


class FreshProcess:
    # Each sample is a new interpreter (about a second): few samples are enough.
    repeat = (1, 5, 30.0)

    def timeraw_import(self):
        return "import xarray_focal"

    def timeraw_first_call(self):
        # The setup string runs in the same process but is not timed: data creation only.
        return (
            "xf.correlate(data, kernel)",
            "import numpy as np, xarray_focal as xf\n"
            "data = np.random.default_rng(0).standard_normal((500, 500))\n"
            "kernel = xf.circle_kernel(1, 1, 7)",
        )


class ColdStart:
    """Seconds of the first call (1000², float64, circle r=7) with an empty numba cache."""

    params = list(_CALLS)
    param_names = ["call"]
    unit = "seconds"
    # A cold compile takes tens of seconds on a small loaded machine; asv's default is 60 s.
    timeout = 600

    def track_first_call_cold(self, call):
        root = Path(importlib.util.find_spec("xarray_focal").origin).resolve().parents[1]
        env = dict(os.environ)
        # The child imports the same xarray_focal as this process.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        scratch = tempfile.mkdtemp(prefix="xarray-focal-cold-")
        try:
            if FRESH_NUMBA_CACHE:
                env["NUMBA_CACHE_DIR"] = scratch
            code = _COLD_CHILD.format(n=side(1000), call=_CALLS[call])
            # cwd: an empty folder, so `-c` cannot pick up a package from the current folder.
            proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=scratch,
                                  capture_output=True, text=True, timeout=self.timeout)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if proc.returncode != 0:
            raise RuntimeError(f"the child failed: {proc.stderr[-2000:]}")
        for line in proc.stdout.splitlines():
            if line.startswith("FIRST-CALL-SECONDS "):
                return float(line.split()[1])
        raise RuntimeError(f"no timing in the child's output: {proc.stdout[-500:]!r}")
