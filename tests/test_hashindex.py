"""HashIndex: number <-> hash in packed arrays, checked against a plain dict model."""

from __future__ import annotations

import hashlib
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from crdt.hashindex import HashIndex


def _h(k: int) -> bytes:
    return hashlib.blake2b(k.to_bytes(8, "big"), digest_size=32).digest()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(n=st.integers(0, 20_000), cut=st.integers(0, 20_000), seed=st.integers(0, 2**32))
def test_lookups_match_a_dict(n: int, cut: int, seed: int) -> None:
    idx = HashIndex()
    model: dict[bytes, int] = {}
    for k in range(n):
        h = _h(seed + k)
        assert idx.append(h) == k
        model[h] = k
    idx._check()
    rng = random.Random(seed)
    for h in rng.sample(list(model), min(200, n)):
        assert idx.get(h) == model[h]
        assert idx.hash_at(model[h]) == h
    assert idx.get(_h(seed + n + 1)) is None
    assert idx.all() == list(model)
    copy = idx.copy()
    idx.truncate(cut)
    idx._check()
    for h, i in model.items():
        assert idx.get(h) == (i if i < cut else None)
        assert copy.get(h) == i  # the copy is independent
    copy._check()


def test_equal_prefixes_never_confuse_lookups() -> None:
    """Hashes sharing the 4-byte prefix the sorted keys use (as a forger could grind)."""
    idx = HashIndex()
    hs = [b"\xab\xcd\xef\x01" + i.to_bytes(28, "big") for i in range(10_000)]
    for h in hs:
        idx.append(h)
    idx.merge()
    idx._check()
    for i in (0, 1, 4999, 9999):
        assert idx.get(hs[i]) == i
    assert idx.get(b"\xab\xcd\xef\x01" + (10_001).to_bytes(28, "big")) is None
    assert idx.get(b"short") is None
    assert b"short" not in idx and hs[7] in idx
