"""Make a process that uses the library safe to fork, even while other threads are busy.

A child created by ``fork`` has only the thread that forked; any lock another thread held
at that moment stays held in the child forever. So every module-level lock of the library
comes from :func:`fork_safe_lock` (re-initialised in the child), and a fork waits until no
thread is inside numba's compiler (a first call compiling or loading its cache holds
numba's global compiler lock, which the child's own first call would wait on).
"""

from __future__ import annotations

import os
import threading
import weakref

from numba.core.compiler_lock import global_compiler_lock

__all__ = ["fork_safe_lock", "after_fork_in_child"]

_LOCKS: weakref.WeakSet = weakref.WeakSet()
_CHILD_HOOKS: list = []


class _Lock:
    """A ``threading.Lock`` that a forked child gets back unlocked."""

    __slots__ = ("_lock", "__weakref__")

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self):
        self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()

    def _reset(self) -> None:
        self._lock = threading.Lock()


def fork_safe_lock() -> _Lock:
    """A lock (context manager) that is unlocked again in a forked child."""
    lock = _Lock()
    _LOCKS.add(lock)
    return lock


def after_fork_in_child(hook) -> None:
    """Call ``hook()`` in every child forked from now on (after the locks are reset)."""
    _CHILD_HOOKS.append(hook)


def _before() -> None:
    global_compiler_lock.acquire()


def _in_parent() -> None:
    global_compiler_lock.release()


def _in_child() -> None:
    global_compiler_lock.release()
    for lock in list(_LOCKS):
        lock._reset()
    for hook in _CHILD_HOOKS:
        hook()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before, after_in_parent=_in_parent, after_in_child=_in_child)
