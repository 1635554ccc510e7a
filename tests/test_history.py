"""History keeps change bytes without the author and deps, and gives them back exactly."""

from __future__ import annotations

import hashlib
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import Doc
from crdt.history import _uint_len
from crdt.snapshot import encode_snapshot, load_snapshot


def _check_bytes(doc: Doc) -> None:
    h = doc._history
    for i in range(len(h)):
        raw = h.raw_at(i)
        assert hashlib.blake2b(raw, digest_size=32).digest() == h.hashes[i]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32), actor_len=st.integers(1, 64), msg_len=st.integers(0, 300))
def test_raw_bytes_round_trip(seed: int, actor_len: int, msg_len: int) -> None:
    rng = random.Random(seed)
    a = Doc(bytes([1]) * actor_len)
    b = a.fork(bytes([2]) * actor_len)
    t = a.root.make_text("t")
    for k in range(30):
        d = rng.choice([a, b])
        with d.transaction(message="m" * rng.randint(0, msg_len), time=rng.choice([0, 2**40])):
            if "t" in d:
                text = d.root["t"]
                text.insert(rng.randint(0, len(text)), "xy"[k % 2] * rng.randint(1, 3))
            d.root[f"k{k % 4}"] = k
        if rng.random() < 0.3:
            a.merge(b)
            b.merge(a)
    a.merge(b)
    _check_bytes(a)
    _check_bytes(b)
    assert str(t) == str(a.root["t"])


def test_many_deps_and_snapshot_base_keep_exact_bytes() -> None:
    docs = [Doc(bytes([i + 1]) * 16) for i in range(20)]
    for i, d in enumerate(docs):
        d[f"k{i}"] = i
    hub = Doc(b"\xff" * 16)
    for d in docs:
        hub.merge(d)
    hub["all"] = True  # one change with 20 deps (msgpack array16 header)
    _check_bytes(hub)
    snap = load_snapshot(encode_snapshot(hub), b"\xee" * 16)
    snap["after"] = 1  # deps are the cut's heads: not changes of this history
    _check_bytes(snap)
    assert Doc.load(snap.save()).to_py() == snap.to_py()


def test_uint_len_matches_msgpack() -> None:
    import msgpack

    for v in [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1]:
        assert _uint_len(v) == len(msgpack.packb(v))
