"""What a user waits for in a fresh process: the import, and the first call.

``timeraw_`` benchmarks run their code in a new interpreter each time. numba's on-disk
cache is warm after the first run of the suite (``cache=True``), so ``first_call`` measures
loading compiled code, not compiling it; the goal (fast-algorithm issue) is under 1 s.
"""

from __future__ import annotations


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
