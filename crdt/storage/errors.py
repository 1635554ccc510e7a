"""Storage errors: every failure of the durable store is a :class:`StorageError`.

Bad input on disk (truncated files, wrong magic, unknown versions, checksum failures,
oversized records) raises a specific subclass; nothing is deleted or rewritten when one is
raised, so the caller can inspect the store or run :func:`crdt.storage.salvage`.
"""

from __future__ import annotations

from typing import Any

from ..errors import CrdtError
from ..errors import StaleChangeError as EngineStaleChangeError


class StorageError(CrdtError):
    """Root of every error of the storage layer."""


class CorruptStoreError(StorageError):
    """The store's files are damaged in a way that is not a torn write at the tail.

    ``file`` is the damaged file's path and ``offset`` the byte offset of the first bad
    byte (or of the bad record), or -1 when the whole file is at fault.
    """

    def __init__(self, file: str, offset: int, reason: str) -> None:
        super().__init__(f"{file} @ {offset}: {reason}")
        self.file = file
        self.offset = offset
        self.reason = reason


class BadMagicError(CorruptStoreError):
    """A file does not start with the magic bytes of its kind."""


class UnsupportedVersionError(CorruptStoreError):
    """A file has a format version this code does not read."""


class ChecksumError(CorruptStoreError):
    """A record, header or manifest whose checksum does not match."""


class TruncatedError(CorruptStoreError):
    """A file ends in the middle of a structure (outside the torn-write rule)."""


class OversizedRecordError(CorruptStoreError):
    """A record whose length field exceeds the format's limit."""


class SnapshotMismatchError(CorruptStoreError):
    """A snapshot file whose BLAKE2b-256 root is not the one the store names."""


class StoreClosedError(StorageError):
    """The store was closed, or a background flush failed and the store refuses writes."""


class StoreLockedError(StorageError):
    """Another open :class:`~crdt.storage.Store` in this process holds the directory."""


class StaleChangeError(StorageError, EngineStaleChangeError):
    """Changes that are neither in the current epoch's cut nor after it.

    They were stored as rejected-change records (see ``store.rejected``) and not applied.
    ``rejected`` lists them; ``applied`` lists the changes of the same call that were
    applied and persisted.
    """

    def __init__(self, rejected: list[Any], applied: list[Any]) -> None:
        hashes = ", ".join(r.hash.hex()[:12] for r in rejected)
        super().__init__(f"{len(rejected)} stale change(s) rejected: {hashes}")
        self.rejected = rejected
        self.applied = applied


class CrashInjected(BaseException):
    """Raised by a :class:`~crdt.storage.fsutil.FailPoints` at a named step (tests only).

    A BaseException so that no ``except Exception`` in the store swallows it: the store
    object must be abandoned as if the process had died there.
    """

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step
