"""Record framing of log segments (SPEC.md 13.3 "Record framing").

One record is::

    offset  size  field
    0       4     length  L of the payload, unsigned little-endian
    4       1     type    record type (see :mod:`crdt.storage.log`)
    5       L     payload
    5+L     8     checksum  xxh3-64 (seed 0) of bytes [0, 5+L): length, type and payload,
                  unsigned little-endian

A *valid frame* at offset ``o`` is one whose type is known, whose length is at most
:data:`MAX_PAYLOAD`, which ends inside the file and whose checksum matches.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from typing import NamedTuple

import xxhash

from .errors import OversizedRecordError

HEAD = struct.Struct("<IB")
SUM = struct.Struct("<Q")
HEAD_LEN = HEAD.size  # 5
SUM_LEN = SUM.size  # 8
OVERHEAD = HEAD_LEN + SUM_LEN  # 13 bytes per record
MAX_PAYLOAD = 1 << 27
"""128 MiB: larger length fields are refused (a single change is at most 64 MiB)."""

REC_CHANGES = 1
REC_EPOCH = 2
REC_REJECTED = 3
REC_CHANGES_Z = 4
RECORD_TYPES = frozenset({REC_CHANGES, REC_EPOCH, REC_REJECTED, REC_CHANGES_Z})
_TYPE_BYTE = re.compile(rb"[\x01-\x04]")

_xxh = xxhash.xxh3_64_intdigest
_head_from = HEAD.unpack_from
_sum_from = SUM.unpack_from


def encode_record(rtype: int, payload: bytes) -> bytes:
    """Frame ``payload`` as one record."""
    if len(payload) > MAX_PAYLOAD:
        raise OversizedRecordError("<write>", -1, f"payload of {len(payload)} bytes")
    body = HEAD.pack(len(payload), rtype) + payload
    return body + SUM.pack(_xxh(body))


class Frame(NamedTuple):
    offset: int  # of the record's first byte
    rtype: int
    start: int  # of the payload
    length: int  # of the payload

    @property
    def end(self) -> int:
        return self.start + self.length + SUM_LEN


class BadFrame(NamedTuple):
    offset: int
    reason: str  # "incomplete", "checksum", "type", "oversized"


def frame_at(buf: bytes | memoryview, off: int, end: int) -> Frame | BadFrame:
    """Parse the record at ``off`` (the region ends at ``end``)."""
    if off + OVERHEAD > end:
        return BadFrame(off, "incomplete")
    ln, rtype = _head_from(buf, off)
    if rtype not in RECORD_TYPES:
        return BadFrame(off, "type")
    if ln > MAX_PAYLOAD:
        return BadFrame(off, "oversized")
    stop = off + HEAD_LEN + ln
    if stop + SUM_LEN > end:
        return BadFrame(off, "incomplete")
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    if _xxh(mv[off:stop]) != _sum_from(buf, stop)[0]:
        return BadFrame(off, "checksum")
    return Frame(off, rtype, off + HEAD_LEN, ln)


def scan(buf: bytes | memoryview, off: int, end: int) -> tuple[list[Frame], BadFrame | None]:
    """Every valid frame from ``off`` on, until the first bad one (returned) or ``end``."""
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    frames: list[Frame] = []
    app = frames.append
    types = RECORD_TYPES
    while off < end:
        if off + OVERHEAD > end:
            return frames, BadFrame(off, "incomplete")
        ln, rtype = _head_from(mv, off)
        stop = off + HEAD_LEN + ln
        if rtype not in types or ln > MAX_PAYLOAD or stop + SUM_LEN > end:
            return frames, frame_at(mv, off, end)  # type: ignore[return-value]
        if _xxh(mv[off:stop]) != _sum_from(mv, stop)[0]:
            return frames, BadFrame(off, "checksum")
        app(Frame(off, rtype, off + HEAD_LEN, ln))
        off = stop + SUM_LEN
    return frames, None


def next_valid_frame(buf: bytes | memoryview, off: int, end: int) -> Frame | None:
    """The first valid frame starting at an offset in ``[off, end)``, or None.

    This is how "a bad record followed by valid ones" is detected: every byte offset after
    the bad record's first byte is tried as a frame start (only offsets whose type byte is
    a known type are parsed, and each candidate must pass the checksum).
    """
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    for m in _TYPE_BYTE.finditer(mv, off + HEAD_LEN - 1, end):
        cand = m.start() - (HEAD_LEN - 1)
        if cand < off:
            continue
        f = frame_at(mv, cand, end)
        if isinstance(f, Frame):
            return f
    return None


def iter_valid_frames(buf: bytes | memoryview, off: int, end: int) -> Iterator[Frame | BadFrame]:
    """Salvage scan: valid frames, and one :class:`BadFrame` per damaged region between them
    (its ``offset`` is where the damage starts; the next yielded frame is where it ends)."""
    while off < end:
        frames, bad = scan(buf, off, end)
        yield from frames
        if bad is None:
            return
        yield bad
        nxt = next_valid_frame(buf, bad.offset + 1, end)
        if nxt is None:
            return
        off = nxt.offset
