"""The manifest: which epochs the store holds (SPEC.md 13.6 "Manifest").

File ``MANIFEST``::

    offset  size  field
    0       8     magic  b"\\x89ECMAN\\r\\n"
    8       2     format version (1), u16 little-endian
    10      2     flags (0)
    12      4     length L of the payload, u32
    16      L     payload: msgpack map {"v": 1, "epochs": [epoch, ...]}
    16+L    8     xxh3-64 of bytes [0, 16+L)

Each epoch is the map described in :class:`EpochInfo` (``to_obj``); the last one is the
current epoch.  The manifest is replaced only with write-temp / fsync / rename / fsync-dir,
and its rename is the commit point of :meth:`Store.create_epoch` and :meth:`Store.compact`.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from dataclasses import dataclass, field
from typing import Any

import msgpack
import xxhash

from .errors import (
    BadMagicError,
    ChecksumError,
    CorruptStoreError,
    TruncatedError,
    UnsupportedVersionError,
)
from .fsutil import FailPoints, atomic_write

MAN_MAGIC = b"\x89ECMAN\r\n"
MAN_VERSION = 1
_HDR = struct.Struct("<8sHHI")
ZERO_ID = bytes(32)


@dataclass
class EpochInfo:
    """One epoch: a cut of the history saved as a snapshot, and the log after it.

    Epoch 0 is the empty cut (no snapshot).  ``id`` is BLAKE2b-256 of the epoch record's
    payload (:meth:`record_payload`), ``ZERO_ID`` for epoch 0.
    """

    number: int
    prev: bytes  # id of the previous epoch
    root: bytes | None  # snapshot root (BLAKE2b-256 of the snapshot file)
    heads: list[bytes]  # the cut heads, sorted
    clock: dict[bytes, int]  # actor -> greatest seq in the cut
    first_segment: int  # number of the epoch's first segment
    migration: Any = None  # caller's description of a migration made at this epoch
    id: bytes = field(default=ZERO_ID)

    def record_obj(self) -> dict[str, Any]:
        """The epoch record's payload (also what ``id`` hashes)."""
        return {
            "n": self.number,
            "prev": self.prev,
            "root": self.root,
            "heads": list(self.heads),
            "clock": sorted([a, s] for a, s in self.clock.items()),
            "seg": self.first_segment,
            "mig": self.migration,
        }

    def record_payload(self) -> bytes:
        return bytes(msgpack.packb(self.record_obj()))

    def compute_id(self) -> bytes:
        if self.number == 0:
            return ZERO_ID
        return hashlib.blake2b(self.record_payload(), digest_size=32).digest()

    def to_obj(self) -> dict[str, Any]:
        d = self.record_obj()
        d["id"] = self.id
        return d

    @classmethod
    def from_obj(cls, d: Any, where: str, offset: int) -> EpochInfo:
        try:
            if type(d) is not dict:
                raise TypeError("not a map")
            clock = {bytes(a): int(s) for a, s in d["clock"]}
            info = cls(
                number=int(d["n"]),
                prev=bytes(d["prev"]),
                root=None if d["root"] is None else bytes(d["root"]),
                heads=[bytes(h) for h in d["heads"]],
                clock=clock,
                first_segment=int(d["seg"]),
                migration=d.get("mig"),
            )
            if "id" in d:
                info.id = bytes(d["id"])
            else:
                info.id = info.compute_id()
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptStoreError(where, offset, f"malformed epoch: {exc}") from exc
        if info.id != info.compute_id():
            raise CorruptStoreError(where, offset, f"epoch {info.number} id does not match")
        return info


def encode_manifest(epochs: list[EpochInfo]) -> bytes:
    payload = bytes(msgpack.packb({"v": MAN_VERSION, "epochs": [e.to_obj() for e in epochs]}))
    body = _HDR.pack(MAN_MAGIC, MAN_VERSION, 0, len(payload)) + payload
    return body + struct.pack("<Q", xxhash.xxh3_64_intdigest(body))


def decode_manifest(data: bytes, path: str) -> list[EpochInfo]:
    if len(data) < _HDR.size + 8:
        raise TruncatedError(path, len(data), "manifest shorter than its header")
    magic, version, flags, ln = _HDR.unpack_from(data, 0)
    if magic != MAN_MAGIC:
        raise BadMagicError(path, 0, "not a manifest (bad magic)")
    if len(data) != _HDR.size + ln + 8:
        raise TruncatedError(
            path, len(data), f"manifest length {len(data)} != {_HDR.size + ln + 8}"
        )
    (want,) = struct.unpack_from("<Q", data, _HDR.size + ln)
    if xxhash.xxh3_64_intdigest(data[: _HDR.size + ln]) != want:
        raise ChecksumError(path, _HDR.size + ln, "manifest checksum mismatch")
    if version != MAN_VERSION or flags != 0:
        raise UnsupportedVersionError(path, 8, f"manifest version {version} flags {flags}")
    try:
        top = msgpack.unpackb(data[_HDR.size : _HDR.size + ln], raw=False, strict_map_key=False)
    except Exception as exc:
        raise CorruptStoreError(path, _HDR.size, f"manifest payload: {exc}") from exc
    if type(top) is not dict or top.get("v") != MAN_VERSION or type(top.get("epochs")) is not list:
        raise CorruptStoreError(path, _HDR.size, "manifest payload has the wrong shape")
    epochs = [EpochInfo.from_obj(e, path, _HDR.size) for e in top["epochs"]]
    if not epochs:
        raise CorruptStoreError(path, _HDR.size, "manifest names no epoch")
    for a, b in itertools.pairwise(epochs):
        if b.number != a.number + 1 or b.prev != a.id or b.first_segment <= a.first_segment:
            raise CorruptStoreError(path, _HDR.size, "manifest epochs do not chain")
    return epochs


def read_manifest(path: str) -> list[EpochInfo]:
    with open(path, "rb") as f:
        return decode_manifest(f.read(), path)


def write_manifest(path: str, epochs: list[EpochInfo], fp: FailPoints) -> None:
    atomic_write(path, encode_manifest(epochs), fp, "manifest")
