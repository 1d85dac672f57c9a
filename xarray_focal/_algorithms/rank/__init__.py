"""Rank, categorical and custom window statistics: numba loops over a tile's padded frame.

:mod:`.order` holds the order statistics (median, percentiles) with two engines -- a
sorting network across a strip of windows for small footprints, a bitset of ranks updated
as the window slides for large ones; :mod:`.classes` the counting tables of
majority/minority/variety; :mod:`.custom` the driver that hands each window's valid values
to a user's jitted function. All read the data through the tile's index maps, so every
boundary mode and every dask chunk share one code path, as the linear sweeps do.
"""
