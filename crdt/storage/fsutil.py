"""File-system steps with crash points: write-temp, fsync, rename, fsync the directory.

Every multi-step file operation of the store names its steps, and calls
:meth:`FailPoints.hit` before each one.  A test arms a step; reaching it raises
:class:`~crdt.storage.errors.CrashInjected` and the store object is abandoned, leaving the
directory exactly as a crash at that moment would (data already fsynced is on disk, the rest
is at least in the page cache, which a process crash does not lose).

``STORAGE_CRASH_AT=<step>`` in the environment arms a step for a whole process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from .errors import CrashInjected

TMP_SUFFIX = ".tmp"


class FailPoints:
    """Named crash points; ``armed`` steps raise :class:`CrashInjected` when reached.

    ``seen`` records every step reached, in order (tests enumerate the steps with it).
    """

    def __init__(self, armed: Iterable[str] = ()) -> None:
        self.armed: set[str] = set(armed)
        env = os.environ.get("STORAGE_CRASH_AT")
        if env:
            self.armed.update(s for s in env.split(",") if s)
        self.seen: list[str] = []

    def hit(self, step: str) -> None:
        self.seen.append(step)
        if step in self.armed:
            raise CrashInjected(step)


NO_FAILPOINTS = FailPoints()


def fsync_dir(path: str) -> None:
    """fsync a directory so that renames and creations in it are durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fdatasync(fd: int) -> None:
    fn = getattr(os, "fdatasync", None)
    if fn is not None:
        fn(fd)
    else:  # pragma: no cover - macOS / Windows
        os.fsync(fd)


def atomic_write(path: str, data: bytes, fp: FailPoints, step: str, *, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    Steps (each a crash point named ``<step>.<phase>``): ``write`` (the temp file),
    ``fsync`` (the temp file), ``rename`` (temp -> path), ``dirsync`` (the directory).
    A crash before ``rename`` leaves the old file (and a ``.tmp`` file that the store
    deletes when it opens); a crash after it leaves the new file.
    """
    tmp = path + TMP_SUFFIX
    fp.hit(step + ".write")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        fp.hit(step + ".fsync")
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    fp.hit(step + ".rename")
    os.replace(tmp, path)
    fp.hit(step + ".dirsync")
    if sync:
        fsync_dir(os.path.dirname(os.path.abspath(path)))


def remove_durably(paths: Iterable[str], directory: str, fp: FailPoints, step: str) -> int:
    """Delete ``paths`` (missing ones are fine) then fsync ``directory``; returns the count."""
    n = 0
    for p in paths:
        fp.hit(step + ".unlink")
        try:
            os.unlink(p)
            n += 1
        except FileNotFoundError:
            pass
    fp.hit(step + ".dirsync")
    fsync_dir(directory)
    return n
