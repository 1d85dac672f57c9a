"""Selection networks for the GPU's NaN-free order statistics: a tile of windows per thread.

One CUDA thread computes a ``rows x cols`` tile of neighbouring outputs. Their windows
overlap, so the work is shared (the separable scheme of Adams, "Fast median filters using
separable sorting networks", ACM TOG 2021, built here from its description):

* each region column's cells that every window of the tile takes from that column are
  sorted once by a sorting network, and each window's column piece is that sorted core
  merged with its own few extra cells;
* the tile's windows are split in halves recursively (divide and conquer over the
  outputs): the cells common to all windows of a half are merged once into the sorted
  list the half inherits, so a merge serves every window that contains its cells;
* every sorted list is *pruned*: an element whose rank in every window of the half is
  certainly below (above) the wanted order statistics is dropped (the wanted ranks move
  down by one for each dropped below). Only the wanted ranks' elements are ever needed,
  so the network shrinks to a selection network.

The network is built symbolically on value ids (min and max of two ids, hash-consed:
identical operations are one; compare-exchanges with a padding +inf vanish) and reduced
to the operations the wanted ranks depend on. :func:`build` returns it as a
:class:`Selection`, which :mod:`.cupy_rank` emits as straight-line CUDA (``fminf``/
``fmaxf`` on registers). It is exact for any values without NaN (+-inf included): a
network of min/max returns order statistics of its inputs.

Examples
--------
The median of a 3 x 3 box, two windows side by side:

>>> taps = tuple((y, x) for y in range(3) for x in range(3))
>>> sel = build(taps, 1, 2, (4,))
>>> sel.region, len(sel.leaves), sel.nops  # 23 min/max per window (one alone: 34)
((3, 4), 12, 46)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .._algorithms.rank.order import network_pairs

__all__ = ["Selection", "build", "evaluate"]

#: The padding value (+inf, above every value): min(x, PAD) is x, max(x, PAD) is PAD.
PAD = -1


class _Net:
    """Hash-consed min/max operations on value ids (leaves first, then operations)."""

    def __init__(self, nleaves: int):
        self.nleaves = nleaves
        self.ops: list[tuple[int, int, int]] = []  # (kind: 0 min / 1 max, a, b)
        self.memo: dict[tuple[int, int, int], int] = {}

    def op(self, kind: int, a: int, b: int) -> int:
        if a == b:
            return a
        if a > b:
            a, b = b, a
        if a == PAD:
            return b if kind == 0 else PAD
        key = (kind, a, b)
        r = self.memo.get(key)
        if r is None:
            r = self.memo[key] = self.nleaves + len(self.ops)
            self.ops.append(key)
        return r

    def ce(self, a: int, b: int) -> tuple[int, int]:
        return self.op(0, a, b), self.op(1, a, b)

    def sort(self, ids: list[int]) -> list[int]:
        v = list(ids)
        for a, b in network_pairs(len(v)).tolist():
            v[a], v[b] = self.ce(v[a], v[b])
        return v

    def merge(self, a: list[int], b: list[int]) -> list[int]:
        """Batcher's odd-even merge of two sorted lists (padded to a power of two)."""
        if not a or not b:
            return list(a or b)
        n = len(a) + len(b)
        p = 1
        while p < max(len(a), len(b)):
            p *= 2
        v = self._oem(list(a) + [PAD] * (p - len(a)) + list(b) + [PAD] * (p - len(b)))
        assert PAD not in v[:n]
        return v[:n]

    def _oem(self, v: list[int]) -> list[int]:
        if len(v) == 2:
            return list(self.ce(v[0], v[1]))
        even, odd = self._oem(v[0::2]), self._oem(v[1::2])
        out = [even[0]]
        for i in range(len(v) // 2 - 1):
            out += self.ce(odd[i], even[i + 1])
        out.append(odd[-1])
        return out


@dataclass(frozen=True)
class _List:
    """A pruned sorted list: ``elems`` of the cells ``cells``, ``below`` dropped under them."""

    elems: tuple[int, ...]
    cells: frozenset
    below: int


@dataclass(frozen=True)
class Selection:
    """A selection network for one tile of windows.

    Attributes
    ----------
    region : (int, int)
        Rows and columns of the region the tile's windows cover.
    leaves : tuple of (int, int)
        The region cells read, as (row, column); value id ``i`` is ``leaves[i]``.
    ops : tuple of (int, int, int)
        ``(kind, a, b)``: value id ``len(leaves) + k`` is min (kind 0) or max (kind 1) of
        ids ``a`` and ``b``; only the operations the outputs need, in dependency order.
    outputs : tuple of tuple of int
        ``outputs[r * cols + c][j]``: the id of wanted rank ``ranks[j]`` of window (r, c).
    """

    rows: int
    cols: int
    ranks: tuple[int, ...]
    region: tuple[int, int]
    leaves: tuple[tuple[int, int], ...]
    ops: tuple[tuple[int, int, int], ...]
    outputs: tuple[tuple[int, ...], ...]

    @property
    def nops(self) -> int:
        return len(self.ops)


@functools.lru_cache(maxsize=64)
def build(taps: tuple[tuple[int, int], ...], rows: int, cols: int,
          ranks: tuple[int, ...]) -> Selection:
    """The selection network of ranks ``ranks`` for ``rows x cols`` windows of ``taps``.

    ``taps`` are the footprint's cells as (row, column) in its box; window (r, c) takes
    region cells ``(r + dy, c + dx)``. ``ranks`` are 0-based ranks among the window's
    ``len(taps)`` values.
    """
    taps = tuple(sorted(set(map(tuple, taps))))
    n = len(taps)
    ranks = tuple(sorted(set(int(k) for k in ranks)))
    assert ranks and 0 <= ranks[0] and ranks[-1] < n
    hr = max(t[0] for t in taps) + rows
    wr = max(t[1] for t in taps) + cols
    wins = {(r, c): frozenset((r + dy) * wr + (c + dx) for dy, dx in taps)
            for r in range(rows) for c in range(cols)}
    net = _Net(hr * wr)
    # Per region column, the cells every window that reads the column takes from it: sorted
    # once, the core of each window's own piece of the column.
    col_sets: dict[int, list[frozenset]] = {}
    for w in wins.values():
        for x in range(wr):
            s = frozenset(i for i in w if i % wr == x)
            if s:
                col_sets.setdefault(x, []).append(s)
    core = {x: frozenset.intersection(*sets) for x, sets in col_sets.items()}

    def trim(lst: _List) -> _List:
        e = n - lst.below - len(lst.elems)  # values of a window outside the list
        k = [q - lst.below for q in ranks]
        lo = max(0, k[0] - e)
        hi = min(len(lst.elems) - 1, k[-1])
        return _List(lst.elems[lo:hi + 1], lst.cells, lst.below + lo)

    def join(a: _List | None, b: _List) -> _List:
        if a is None:
            return b
        return trim(_List(tuple(net.merge(list(a.elems), list(b.elems))), a.cells | b.cells,
                          a.below + b.below))

    @functools.lru_cache(maxsize=None)
    def piece(cells: frozenset) -> tuple[int, ...]:
        """The sorted values of one column's cells (its core sorted once, then merged)."""
        x = next(iter(cells)) % wr
        c = core.get(x, frozenset())
        if c and c < cells:
            return tuple(net.merge(list(piece(c)), list(piece(cells - c))))
        return tuple(net.sort(sorted(cells)))

    def sorted_set(cells: frozenset) -> _List:
        by_col: dict[int, set] = {}
        for i in cells:
            by_col.setdefault(i % wr, set()).add(i)
        lists = [trim(_List(piece(frozenset(s)), frozenset(s), 0))
                 for _, s in sorted(by_col.items())]
        while len(lists) > 1:  # a balanced tree of merges, columns in order
            lists = [join(lists[i], lists[i + 1]) if i + 1 < len(lists) else lists[i]
                     for i in range(0, len(lists), 2)]
        return lists[0]

    outputs: dict[tuple[int, int], tuple[int, ...]] = {}

    def solve(outs: list[tuple[int, int]], lst: _List | None) -> None:
        have = lst.cells if lst is not None else frozenset()
        if len(outs) == 1:
            rest = wins[outs[0]] - have
            if rest:
                lst = join(lst, sorted_set(rest))
            assert lst.cells == wins[outs[0]]
            outputs[outs[0]] = tuple(lst.elems[q - lst.below] for q in ranks)
            return
        common = frozenset.intersection(*(wins[o] for o in outs)) - have
        if common:
            lst = join(lst, sorted_set(common))
        ys = sorted({o[0] for o in outs})
        xs = sorted({o[1] for o in outs})
        if len(xs) >= len(ys):
            cut = xs[len(xs) // 2]
            halves = [[o for o in outs if o[1] < cut], [o for o in outs if o[1] >= cut]]
        else:
            cut = ys[len(ys) // 2]
            halves = [[o for o in outs if o[0] < cut], [o for o in outs if o[0] >= cut]]
        for h in halves:
            solve(h, lst)

    solve(sorted(wins), None)
    return _finish(net, rows, cols, ranks, (hr, wr), outputs)


def _finish(net: _Net, rows, cols, ranks, region, outputs) -> Selection:
    """Keep the operations the outputs need; renumber leaves and operations densely."""
    nl = net.nleaves
    need = np.zeros(nl + len(net.ops), dtype=bool)
    stack = [i for o in outputs.values() for i in o]
    while stack:
        i = stack.pop()
        if need[i]:
            continue
        need[i] = True
        if i >= nl:
            _, a, b = net.ops[i - nl]
            stack += [a, b]
    leaves = [i for i in range(nl) if need[i]]
    new = {old: k for k, old in enumerate(leaves)}
    ops = []
    for k, (kind, a, b) in enumerate(net.ops):
        if need[nl + k]:
            new[nl + k] = len(leaves) + len(ops)
            ops.append((kind, new[a], new[b]))
    wr = region[1]
    return Selection(rows, cols, ranks, region, tuple(divmod(i, wr) for i in leaves),
                     tuple(ops),
                     tuple(tuple(new[i] for i in outputs[(r, c)])
                           for r in range(rows) for c in range(cols)))


def evaluate(sel: Selection, values: np.ndarray) -> np.ndarray:
    """Run ``sel`` on ``values`` (region rows x columns x trials): ``(rows * cols, ranks,
    trials)`` (a host model of the kernel, for tests and for choosing tiles).

    Examples
    --------
    >>> sel = build(((0, 0), (0, 1), (0, 2)), 1, 2, (1,))
    >>> evaluate(sel, np.array([[[3.0], [1.0], [2.0], [0.0]]]))[:, 0, 0].tolist()
    [2.0, 1.0]
    """
    v = [values[r, c] for r, c in sel.leaves]
    for kind, a, b in sel.ops:
        v.append(np.minimum(v[a], v[b]) if kind == 0 else np.maximum(v[a], v[b]))
    return np.array([[v[i] for i in out] for out in sel.outputs])
