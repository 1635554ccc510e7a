"""The project's error hierarchy: every failure a caller can see is a :class:`CrdtError`.

Each layer has its own branch, so callers can catch as narrowly as they like:
decoding (:class:`DecodeError`), verification of remote changes
(:class:`InvalidChangeError`), local API misuse (:class:`UsageError`), and later
storage and replication errors that subclass :class:`CrdtError` in their packages.
"""

from __future__ import annotations


class CrdtError(Exception):
    """Root of every error this project raises on purpose."""


class DecodeError(CrdtError):
    """Bytes that are not a well-formed, canonical encoding of the expected structure."""


class InvalidChangeError(CrdtError):
    """A change that decodes but breaks a rule of SPEC.md section "Validity of a change"."""


class HashMismatchError(InvalidChangeError):
    """A change, head or saved document whose hash is not the one it claims."""


class DuplicateSeqError(InvalidChangeError):
    """Two different changes claim the same (actor, seq)."""


class StaleChangeError(InvalidChangeError):
    """A change concurrent with the cut of the snapshot this document was loaded from: its
    causal past does not include every head of the cut, so it may name elements the
    snapshot dropped.  Epoch rules decide what happens to it (kept as rejected)."""


class MissingDependencyError(CrdtError):
    """Changes whose dependencies never arrived (raised when the pending buffer overflows)."""


class UsageError(CrdtError):
    """The local API was called in a way that cannot succeed (bad index, wrong type, ...)."""


class ObjectNotFoundError(UsageError):
    """A path or object id names no object of the expected type."""


class TransactionError(UsageError):
    """A transaction was used outside its lifetime (committed, rolled back, nested wrongly)."""
