"""Log records: building and parsing the payload of each record type, and segment appends.

Record types (SPEC.md 13.4 "Record types"):

=====  ============  ==========================================================
type   name          payload
=====  ============  ==========================================================
1      CHANGES       msgpack ``[n0, a0, t0, bases, change, ...]`` (:mod:`.compact`)
2      EPOCH         msgpack map (:meth:`EpochInfo.record_obj`), first record of an
                     epoch's first segment
3      REJECTED      msgpack ``[raw change bytes, reason]``: kept, not applied
4      CHANGES_Z     zlib (RFC 1950) of a CHANGES payload
=====  ============  ==========================================================
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from typing import Any

import msgpack

from ..compact import Scope
from .framing import REC_CHANGES, REC_CHANGES_Z, REC_REJECTED, encode_record
from .fsutil import fdatasync

COMPRESS_MIN = 256
"""CHANGES payloads at least this long are deflated when that makes them smaller."""
MAX_INFLATED = 1 << 28


def changes_record(
    scope: Scope, changes: Sequence[tuple[bytes, bytes]], trusted: bool = True
) -> bytes:
    """Encode ``[(raw, hash), ...]`` against ``scope`` as one framed record (``trusted``:
    the raws are canonical change encodings, see :meth:`Scope.encode`)."""
    payload = bytes(msgpack.packb(scope.encode(changes, trusted)))
    if len(payload) >= COMPRESS_MIN:
        z = zlib.compress(payload, 6)
        if len(z) < len(payload):
            return encode_record(REC_CHANGES_Z, z)
    return encode_record(REC_CHANGES, payload)


def rejected_record(raw: bytes, reason: str) -> bytes:
    return encode_record(REC_REJECTED, bytes(msgpack.packb([raw, reason])))


def parse_payload(rtype: int, payload: bytes) -> Any:
    """msgpack-decode a record's payload (inflating CHANGES_Z); raises ValueError."""
    if rtype == REC_CHANGES_Z:
        d = zlib.decompressobj()
        payload = d.decompress(payload, MAX_INFLATED)
        if d.unconsumed_tail or d.unused_data or not d.eof:
            raise ValueError("compressed change record is truncated or too large")
    try:
        return msgpack.unpackb(payload, raw=False, strict_map_key=False, use_list=True)
    except Exception as exc:
        raise ValueError(f"record payload is not msgpack: {exc}") from exc


class SegmentWriter:
    """Appends bytes to one segment file (opened at its current, verified end)."""

    def __init__(self, path: str, number: int) -> None:
        self.path = path
        self.number = number
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self.size = os.fstat(self.fd).st_size

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.size += len(data)

    def sync(self) -> None:
        fdatasync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
