"""Durable storage for documents: append-only logs, snapshots, epochs (SPEC.md section 13).

>>> from crdt.storage import Store  # doctest: +SKIP
>>> store = Store.open("mydoc", fsync="always")  # doctest: +SKIP
>>> pd = store.open_doc()  # doctest: +SKIP
"""

from .errors import (
    BadMagicError,
    ChecksumError,
    CorruptStoreError,
    CrashInjected,
    OversizedRecordError,
    SnapshotMismatchError,
    StaleChangeError,
    StorageError,
    StoreClosedError,
    StoreLockedError,
    TruncatedError,
    UnsupportedVersionError,
)
from .fsutil import FailPoints
from .manifest import EpochInfo
from .recovery import SalvageReport
from .store import CompactReport, PersistentDoc, RejectedChange, Store

__all__ = [
    "BadMagicError",
    "ChecksumError",
    "CompactReport",
    "CorruptStoreError",
    "CrashInjected",
    "EpochInfo",
    "FailPoints",
    "OversizedRecordError",
    "PersistentDoc",
    "RejectedChange",
    "SalvageReport",
    "SnapshotMismatchError",
    "StaleChangeError",
    "StorageError",
    "Store",
    "StoreClosedError",
    "StoreLockedError",
    "TruncatedError",
    "UnsupportedVersionError",
]
