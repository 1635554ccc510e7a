"""Framing, headers, manifest and the compact change encoding round-trip exactly."""

from __future__ import annotations

import random

import msgpack
import pytest

from crdt import Doc
from crdt.compact import Scope
from crdt.storage.errors import (
    BadMagicError,
    ChecksumError,
    TruncatedError,
    UnsupportedVersionError,
)
from crdt.storage.framing import (
    MAX_PAYLOAD,
    REC_CHANGES,
    BadFrame,
    Frame,
    encode_record,
    frame_at,
    next_valid_frame,
    scan,
)
from crdt.storage.manifest import ZERO_ID, EpochInfo, decode_manifest, encode_manifest
from crdt.storage.segment import HEADER_LEN, decode_header, encode_header

from .util import RandomPicker, edit_random


def test_record_roundtrip_and_checksum() -> None:
    recs = [encode_record(REC_CHANGES, bytes([i]) * i) for i in range(50)]
    buf = b"".join(recs)
    frames, bad = scan(buf, 0, len(buf))
    assert bad is None and len(frames) == 50
    assert [buf[f.start : f.start + f.length] for f in frames] == [
        bytes([i]) * i for i in range(50)
    ]
    flipped = bytearray(buf)
    flipped[frames[10].start] ^= 1
    frames2, bad2 = scan(bytes(flipped), 0, len(buf))
    assert len(frames2) == 10 and bad2 == BadFrame(frames[10].offset, "checksum")
    nxt = next_valid_frame(bytes(flipped), frames[10].offset + 1, len(buf))
    assert nxt is not None and nxt.offset == frames[11].offset


def test_frame_errors() -> None:
    rec = encode_record(REC_CHANGES, b"abc")
    assert frame_at(rec[:-1], 0, len(rec) - 1) == BadFrame(0, "incomplete")
    assert frame_at(b"\x00" * 20, 0, 20) == BadFrame(0, "type")
    big = (MAX_PAYLOAD + 1).to_bytes(4, "little") + b"\x01" + b"\x00" * 20
    assert frame_at(big, 0, len(big)) == BadFrame(0, "oversized")
    assert isinstance(frame_at(rec, 0, len(rec)), Frame)


def test_segment_header() -> None:
    h = encode_header(7, 3)
    assert len(h) == HEADER_LEN
    assert decode_header(h, "x") == (7, 3)
    with pytest.raises(TruncatedError):
        decode_header(h[:-1], "x")
    with pytest.raises(BadMagicError):
        decode_header(b"X" + h[1:], "x")
    bad = bytearray(h)
    bad[20] ^= 4
    with pytest.raises(ChecksumError):
        decode_header(bytes(bad), "x")
    import struct

    import xxhash

    body = bytearray(h[:32])
    body[8] = 9  # version 9
    v9 = bytes(body) + struct.pack("<Q", xxhash.xxh3_64_intdigest(bytes(body)))
    with pytest.raises(UnsupportedVersionError):
        decode_header(v9, "x")


def test_manifest_roundtrip() -> None:
    e0 = EpochInfo(0, ZERO_ID, None, [], {}, 1)
    e1 = EpochInfo(1, ZERO_ID, b"r" * 32, [b"h" * 32], {b"a": 3}, 2, {"m": 1})
    e1.id = e1.compute_id()
    data = encode_manifest([e0, e1])
    out = decode_manifest(data, "M")
    assert [e.to_obj() for e in out] == [e0.to_obj(), e1.to_obj()]
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x10
        with pytest.raises(ChecksumError.__mro__[1]):  # CorruptStoreError
            decode_manifest(bytes(bad), "M")


def _random_history(seed: int, n: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    docs = [Doc(actor=bytes([i + 1]) * (i + 1)) for i in range(3)]
    pick = RandomPicker(rng)
    for _ in range(n):
        d = rng.choice(docs)
        with d.transaction(rng.choice([None, "msg", "ü"]), time=rng.randint(0, 2**40)):
            for _ in range(rng.randint(1, 3)):
                edit_random(d, pick)
        if rng.random() < 0.3:
            a, b = rng.sample(docs, 2)
            b.merge(a)
    for d in docs[1:]:
        docs[0].merge(d)
    h = docs[0]._history
    return list(zip(h.raws(), h.hashes(), strict=True))


@pytest.mark.parametrize("seed", range(6))
def test_compact_roundtrip(seed: int) -> None:
    changes = _random_history(seed, 80)
    rng = random.Random(seed)
    w = Scope({b"\x01": 0})
    r = Scope({b"\x01": 0})
    i = 0
    out = []
    while i < len(changes):
        k = rng.randint(1, 9)
        payload = msgpack.packb(w.encode(changes[i : i + k]))
        out.extend(r.decode(msgpack.unpackb(payload)))
        i += k
    assert [(o[0], o[1]) for o in out if o] == changes
