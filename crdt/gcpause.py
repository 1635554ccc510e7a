"""Pausing the cyclic garbage collector around bulk work.

CPython's cyclic collector runs after every 700 new container objects, and every tenth
and hundredth run also rescans the older ones: everything a document holds.  Work that
makes many containers at once (applying a batch of changes, encoding a big change,
saving, loading a checkpoint) triggers runs that find nothing to free, since what it
makes is either kept or freed by reference counting, and each run rescans the whole
document: saving the automerge-paper document (259,779 changes) took 2.6 s with the
collector on, 1.4-1.8 s with it paused here, 1.2-1.4 s with it off throughout.  Such work
pauses it, and restores it after; the pause is process-wide, as ``gc.disable()`` is, and
lasts one call.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused(pause: bool = True) -> Iterator[None]:
    """Run the block with the cyclic collector off, if ``pause`` and it is on now; it is
    back on after the block, whatever happens.  Nested pauses leave it to the outermost.

    Example:
        >>> import gc
        >>> with gc_paused():
        ...     gc.isenabled()
        False
        >>> gc.isenabled()
        True
    """
    paused = pause and gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
