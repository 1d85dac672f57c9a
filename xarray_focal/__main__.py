"""``python -m xarray_focal`` runs the demo (see :mod:`xarray_focal.demo`)."""

from .demo import main

main()
