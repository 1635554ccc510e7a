"""Snapshots (SPEC.md section 12): deterministic bytes, the same document after later
changes, stale changes refused, bad bytes refused."""

from __future__ import annotations

import random

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import CrdtError, Doc, StaleChangeError
from crdt.errors import DecodeError
from crdt.snapshot import encode_snapshot, load_snapshot, snapshot_root
from crdt.values import Counter, ObjType


def _edit(doc: Doc, rng: random.Random, n: int) -> None:
    """Random edits of every kind on the objects ``t`` (text), ``l`` (list), ``m`` (map)."""
    for _ in range(n):
        k = rng.randrange(9)
        t = doc.root["t"]
        lst = doc.root["l"]
        m = doc.root["m"]
        if k == 0:
            t.insert(rng.randint(0, len(t)), rng.choice(["a", "bc", "d\u00e9", "\U0001f600"]))
        elif k == 1 and len(t):
            p = rng.randrange(len(t))
            t.delete(p, rng.randint(1, min(3, len(t) - p)))
        elif k == 2:
            lst.insert(rng.randint(0, len(lst)), rng.choice([1, 2.5, "s", None, True, b"x"]))
        elif k == 3 and len(lst):
            lst[rng.randrange(len(lst))] = rng.randrange(100)  # a register element
        elif k == 4 and len(lst):
            del lst[rng.randrange(len(lst))]
        elif k == 5:
            m[rng.choice("xyz")] = rng.randrange(5)
        elif k == 6 and len(m):
            del m[rng.choice(sorted(m))]
        elif k == 7:
            m["c"] = Counter(1) if "c" not in m else Counter(0)
        elif k == 8 and "c" in m and isinstance(m["c"], Counter):
            m.increment("c", rng.randint(-3, 3))


def _pair(seed: int) -> tuple[Doc, Doc]:
    rng = random.Random(seed)
    a = Doc(b"\xaa" * 16)
    a.root.make_text("t")
    a.root.make_list("l")
    a.root.make_map("m")
    b = a.fork(b"\xbb" * 16)
    for _ in range(4):
        _edit(a, rng, rng.randint(1, 12))
        _edit(b, rng, rng.randint(1, 12))
        if rng.random() < 0.6:
            a.merge(b)
        if rng.random() < 0.6:
            b.merge(a)
    a.merge(b)
    b.merge(a)
    return a, b


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32))
def test_same_heads_same_bytes(seed: int) -> None:
    """Peers that reached the same heads by different routes write identical snapshots."""
    a, b = _pair(seed)
    assert a.heads == b.heads
    sa, sb = encode_snapshot(a), encode_snapshot(b)
    assert sa == sb and snapshot_root(sa) == snapshot_root(sb)
    # a replica that applied every change in another order, from scratch
    c = Doc(b"\xcc" * 16)
    changes = a.get_changes()
    random.Random(seed).shuffle(changes)
    c.apply_changes(changes)
    assert encode_snapshot(c) == sa


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32))
def test_snapshot_plus_later_changes_equals_full_history(seed: int) -> None:
    """load(snapshot at H) + apply(changes after H) == the document that never took one."""
    rng = random.Random(seed)
    a, b = _pair(seed)
    cut = a.heads
    snap = encode_snapshot(a)
    loaded = load_snapshot(snap, b"\xdd" * 16)
    assert loaded.to_py() == a.to_py() and loaded.heads == cut
    for _ in range(3):  # concurrent work on both sides after the cut
        _edit(a, rng, rng.randint(1, 10))
        _edit(b, rng, rng.randint(1, 10))
        a.merge(b)
    loaded.apply_changes(a.get_changes(cut))
    assert loaded.to_py() == a.to_py() and loaded.heads == a.heads
    loaded._check()
    # and the other way: edits on the loaded replica reach a full-history one
    _edit(loaded, rng, 5)
    a.apply_changes(loaded.get_changes(a.heads))
    assert a.to_py() == loaded.to_py()
    assert Doc.load(loaded.save()).to_py() == loaded.to_py()


def test_tombstones_before_the_cut_are_dropped() -> None:
    d = Doc(b"\x01")
    t = d.root.make_text("t")
    t.insert(0, "x" * 1000)
    t.delete(0, 999)
    small = encode_snapshot(d)
    assert len(small) < 200  # the 999 deleted elements are not in it
    assert load_snapshot(small).to_py() == {"t": "x"}


def test_stale_change_is_refused_and_state_kept() -> None:
    a = Doc(b"\x01")
    a["k"] = 1
    b = a.fork(b"\x02")
    a["k"] = 2
    c = a.fork(b"\x03")  # knows a's head only
    b["j"] = 2
    a.merge(b)  # the cut has two heads: a's and b's
    assert len(a.heads) == 2
    loaded = load_snapshot(encode_snapshot(a), b"\x04")
    c["late"] = 3  # deps: a's head only, so not the whole cut in its past
    before = (loaded.to_py(), loaded.heads)
    with pytest.raises(StaleChangeError):
        loaded.apply_changes(c.get_changes()[-1:])
    assert (loaded.to_py(), loaded.heads) == before
    # a change whose deps lie before the cut is unknown here: it waits, it is not applied
    old = Doc(b"\x05")
    old.apply_changes(a.get_changes()[:1])
    old["x"] = 1
    loaded.apply_changes(old.get_changes()[-1:])
    assert loaded.pending == 1 and (loaded.to_py(), loaded.heads) == before


def test_snapshot_with_open_transaction_is_refused() -> None:
    d = Doc()
    d.begin()
    with pytest.raises(CrdtError):
        encode_snapshot(d)


def _sample(tombstones: bool) -> bytes:
    a, _ = _pair(7)
    return encode_snapshot(a, tombstones=tombstones)


@pytest.mark.parametrize("tombstones", [False, True], ids=["snapshot", "checkpoint"])
@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=st.data())
def test_bad_bytes_raise_decode_error(tombstones: bool, data: st.DataObject) -> None:
    raw = bytearray(_sample(tombstones))
    how = data.draw(st.sampled_from(["truncate", "flip", "random"]))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
    else:
        raw = bytearray(data.draw(st.binary(max_size=300)))
    try:
        doc = load_snapshot(bytes(raw))
    except DecodeError:
        return
    # a flip that still decodes must give a structurally valid document
    doc._check()
    doc.to_py()


# ---------------------------------------------------------------- checkpoints (tombstones)


def _ids(d: Doc) -> list[list[tuple[int, bytes, bool]]]:
    """Every element id of every sequence, tombstones included, with its deleted flag."""
    out = []
    for oid in sorted(o for o in d._opset.objs if o is not None):
        st_ = d._opset.objs[oid]
        if st_.type != ObjType.MAP:
            out.append(
                [(r.ctr + k, r.actor, r.deleted) for r in st_.data.runs() for k in range(r.n)]
            )
    return out


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32))
def test_checkpoint_keeps_every_element_and_the_same_heads_give_the_same_bytes(
    seed: int,
) -> None:
    a, b = _pair(seed)
    ca, cb = encode_snapshot(a, tombstones=True), encode_snapshot(b, tombstones=True)
    assert ca == cb  # same heads, differently built replicas: same bytes
    loaded = load_snapshot(ca)
    loaded._check()
    assert _ids(loaded) == _ids(a)
    assert loaded.to_py() == a.to_py()
    assert encode_snapshot(loaded, tombstones=True) == ca
    assert encode_snapshot(loaded) == encode_snapshot(a)


def test_a_snapshot_never_has_the_tombstone_column_and_a_checkpoint_does() -> None:
    d = Doc(b"\x01")
    t = d.root.make_text("t")
    t.insert(0, "abcdef")
    t.delete(1, 3)
    for tomb, cols in ((False, 5), (True, 6)):
        top = msgpack.unpackb(encode_snapshot(d, tombstones=tomb)[8:], raw=False)
        text = top[4][1][4]
        assert len(text) == cols
        assert text[3] == "aef"  # deleted values are never written
    top[4][1][4][5] = []  # an empty tombstone column is not canonical
    with pytest.raises(DecodeError):
        load_snapshot(b"\x85ECHOSNP" + msgpack.packb(top))


def test_the_cut_heads_delivered_again_are_known_not_buffered() -> None:
    # (a peer syncing its history sends the cut's heads again: they are this document's;
    # buffered, they waited for good for deps from before the cut)
    a = Doc(b"\x01" * 8, merge_interval=None)
    a["k"] = 1
    b = a.fork(b"\x02" * 8)
    a["k"] = 2
    b["j"] = 3
    a.merge(b)  # two heads
    assert len(a.heads) == 2
    s = load_snapshot(encode_snapshot(a))
    heads = [a.get_change(h) for h in a.heads]
    assert s.apply_changes(heads) == []
    assert s.pending == 0 and s.missing_deps() == []
    a["k"] = 4  # a change after the cut, delivered with the heads again
    assert len(s.apply_changes([*heads, *a.get_changes(s.heads)])) == 1
    assert s.pending == 0 and s.to_py() == a.to_py() and s.heads == a.heads
