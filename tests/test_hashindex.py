"""HashIndex: number <-> hash in packed arrays, checked against a plain dict model."""

from __future__ import annotations

import hashlib
import pickle
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from crdt.hashindex import _TAIL, HashIndex


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


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["grow", "cut", "look"]), st.integers(0, 300)), max_size=30
    ),
    check_every=st.integers(1, 4),
)
def test_truncate_and_append_again(steps: list[tuple[str, int]], check_every: int) -> None:
    """Tombstones left by truncation never hide a live entry or resurrect a dead one, the
    table shrinks back after a big truncation, and hashes appended since the last lookup
    (not in the table yet) are found, truncated and copied like the others."""
    idx = HashIndex()
    model: list[bytes] = []
    fresh = iter(range(10**9))
    for n, (what, k) in enumerate(steps):
        if what == "grow":
            for _ in range(k):
                h = _h(next(fresh))
                assert idx.append(h) == len(model)
                model.append(h)
        elif what == "cut":
            cut = len(model) - min(k, len(model))
            idx.truncate(cut)
            gone, model = model[cut:], model[:cut]
            assert all(idx.get(h) is None for h in gone)
        elif model:
            # a lookup puts everything appended so far into the table, unless at most
            # _TAIL hashes wait: those it searches where they are
            before = idx.indexed
            assert idx.get(model[k % len(model)]) == k % len(model)
            waited = len(model) - before
            assert idx.indexed == (before if waited <= _TAIL else len(model))
        assert idx.all() == model
        assert len(idx.table) <= max(64, 16 * len(model))
        if n % check_every == 0:  # _check catches up too: leave some states lazy
            copy = idx.copy()
            copy._check()
            assert copy.all() == model


def test_shared_prefixes_never_confuse_lookups() -> None:
    """Hashes equal in all but their last bytes (as a forger could grind any prefix)."""
    idx = HashIndex()
    hs = [b"\xab" * 28 + i.to_bytes(4, "big") for i in range(10_000)]
    for h in hs:
        idx.append(h)
    idx._check()
    for i in (0, 1, 4999, 9999):
        assert idx.get(hs[i]) == i
    assert idx.get(b"\xab" * 28 + (10_001).to_bytes(4, "big")) is None
    assert idx.get(b"short") is None
    assert b"short" not in idx and hs[7] in idx and "x" not in idx


def test_pickle_rebuilds_the_table() -> None:
    idx = HashIndex()
    hs = [_h(k) for k in range(1000)]
    for h in hs:
        idx.append(h)
    back = pickle.loads(pickle.dumps(idx))
    back._check()
    assert back.all() == hs and back.get(hs[500]) == 500
    assert back.append(_h(5000)) == 1000


def test_waiting_hashes_are_found_only_where_a_hash_starts() -> None:
    """Up to ``_TAIL`` appended hashes wait outside the table and a lookup searches their
    bytes: a match across two of them (or inside one) is no hash of the index, and the
    table's hashes are still found while others wait."""
    idx = HashIndex()
    old = [_h(k) for k in range(100)]
    for h in old:
        idx.append(h)
    assert idx.get(old[3]) == 3 and idx.indexed == 100
    a, b = b"A" * 16 + b"B" * 16, b"C" * 16 + b"D" * 16
    idx.append(a)
    idx.append(b)
    across = b"B" * 16 + b"C" * 16  # the bytes of a's end and b's start
    inside = b"A" * 8 + b"B" * 16 + b"C" * 8
    assert idx.get(across) is None and idx.get(inside) is None
    assert idx.get(a) == 100 and idx.get(b) == 101 and idx.get(old[99]) == 99
    assert idx.indexed == 100  # (found in the waiting bytes: no catch-up)
    idx.append(across)  # now a hash of the index, after an unaligned copy of itself
    assert idx.get(across) == 102
    for k in range(_TAIL):
        idx.append(_h(1000 + k))
    assert idx.get(_h(1000)) == 103 and idx.indexed == 103 + _TAIL  # too many waited
    idx._check()
    assert idx.get(across) == 102 and idx.get(inside) is None
