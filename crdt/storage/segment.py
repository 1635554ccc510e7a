"""Log segment files: a fixed header, then records (SPEC.md 13.2 "Segments").

Header (40 bytes)::

    offset  size  field
    0       8     magic  b"\\x89ECSEG\\r\\n"
    8       2     format version (1), u16 little-endian
    10      2     flags (0)
    12      4     reserved (0)
    16      8     segment number, u64 (1, 2, 3, ... in the order created; never reused)
    24      8     epoch number this segment belongs to, u64
    32      8     xxh3-64 of bytes [0, 32)

Segments are named ``seg-<number as 16 hex digits>.log`` in the store's ``log`` directory.
A new segment is created complete with its header (and, for an epoch's first segment, the
epoch record) by write-temp / fsync / rename / fsync-dir, so a segment file never has a
partial header.
"""

from __future__ import annotations

import os
import re
import struct
from typing import NamedTuple

import xxhash

from .errors import BadMagicError, ChecksumError, TruncatedError, UnsupportedVersionError

SEG_MAGIC = b"\x89ECSEG\r\n"
SEG_VERSION = 1
_HDR = struct.Struct("<8sHHIQQ")
HEADER_LEN = _HDR.size + 8  # 40
_NAME = re.compile(r"^seg-([0-9a-f]{16})\.log$")


class SegmentHeader(NamedTuple):
    number: int
    epoch: int


def segment_name(number: int) -> str:
    return f"seg-{number:016x}.log"


def parse_segment_name(name: str) -> int | None:
    m = _NAME.match(name)
    return int(m.group(1), 16) if m else None


def encode_header(number: int, epoch: int) -> bytes:
    body = _HDR.pack(SEG_MAGIC, SEG_VERSION, 0, 0, number, epoch)
    return body + struct.pack("<Q", xxhash.xxh3_64_intdigest(body))


def decode_header(data: bytes, path: str) -> SegmentHeader:
    """Parse and check a segment header; raises a :class:`CorruptStoreError` subclass."""
    if len(data) < HEADER_LEN:
        raise TruncatedError(path, len(data), "segment shorter than its header")
    if data[:8] != SEG_MAGIC:
        raise BadMagicError(path, 0, "not a log segment (bad magic)")
    body = bytes(data[: _HDR.size])
    (want,) = struct.unpack_from("<Q", data, _HDR.size)
    if xxhash.xxh3_64_intdigest(body) != want:
        raise ChecksumError(path, 0, "segment header checksum mismatch")
    _, version, flags, _res, number, epoch = _HDR.unpack(body)
    if version != SEG_VERSION:
        raise UnsupportedVersionError(path, 8, f"segment format version {version}")
    if flags != 0:
        raise UnsupportedVersionError(path, 10, f"unknown segment flags {flags:#x}")
    name_num = parse_segment_name(os.path.basename(path))
    if name_num is not None and name_num != number:
        raise ChecksumError(path, 16, f"header says segment {number}, file name {name_num}")
    return SegmentHeader(number, epoch)


def read_header(path: str) -> SegmentHeader:
    with open(path, "rb") as f:
        return decode_header(f.read(HEADER_LEN), path)
