"""Saved documents (format 4): a checkpoint of the state plus a history decoded on demand.

The lazily loaded document is checked against one loaded with ``verify=True`` (the whole
history replayed and verified): fed the same operations, both must make the same changes,
reach the same heads and the same state, and accept or refuse the same remote changes.
"""

from __future__ import annotations

import json
import random
import zlib
from pathlib import Path
from typing import Any
from unittest.mock import patch

import msgpack
import pytest
import xxhash
from helpers import RandomPicker, assert_converged, edit_random, sync_until_quiescent
from hypothesis import given, settings
from hypothesis import strategies as st

import crdt.doc
from crdt import CrdtError, DecodeError, Doc, HashMismatchError, InvalidChangeError
from crdt.change import decode_change, encode_change
from crdt.doc import SAVE_MAGIC
from crdt.op import DEL
from crdt.snapshot import encode_snapshot, load_snapshot


def _clock() -> int:
    return 0


def _replicas(rng: random.Random, steps: int) -> list[Doc]:
    """Three replicas edited at random with occasional syncs (so histories branch)."""
    pick = RandomPicker(rng)
    docs = [Doc(bytes([k + 1]) * 8, clock=_clock, merge_interval=None) for k in range(3)]
    for _ in range(steps):
        d = rng.choice(docs)
        edit_random(d, pick)
        if rng.random() < 0.2:
            src, dst = rng.sample(docs, 2)
            dst.apply_changes(src.get_changes(dst.heads))
    return docs


def _fields(data: bytes) -> list[Any]:
    top: list[Any] = msgpack.unpackb(data[len(SAVE_MAGIC) :], raw=False)
    return top


def _same_document(x: bytes, y: bytes) -> None:
    """Two saved documents hold the same history and state (their bytes may differ: one
    kept the records it was loaded from)."""
    a, b = Doc.load(x, verify=True), Doc.load(y, verify=True)
    assert a.heads == b.heads
    assert a.to_py() == b.to_py()
    assert sorted(a.get_changes()) == sorted(b.get_changes())
    assert a.change_count() == b.change_count()
    assert encode_snapshot(a, tombstones=True) == encode_snapshot(b, tombstones=True)


def _typed(text: str) -> Doc:
    """A document whose text ``t`` was typed one change per character (1 + len changes)."""
    d = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    t = d.root.make_text("t")
    for k, ch in enumerate(text):
        t.insert(k, ch)
    return d


def _repack(top: list[Any]) -> bytes:
    """Re-frame edited fields with a correct checksum (a forger's file, not damage)."""
    top[6] = xxhash.xxh3_64_intdigest(msgpack.packb(top[1:6]))
    return SAVE_MAGIC + msgpack.packb(top)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32), steps=st.integers(5, 60), after=st.integers(0, 40))
def test_lazy_load_behaves_as_the_verified_load(seed: int, steps: int, after: int) -> None:
    rng = random.Random(seed)
    docs = _replicas(rng, steps)
    saved = docs[0].save()
    lazy = Doc.load(saved, b"\x0a" * 8, clock=_clock)
    eager = Doc.load(saved, b"\x0a" * 8, clock=_clock, verify=True)
    assert lazy._deferred is not None and eager._deferred is None
    for d in (lazy, eager):
        assert d.heads == docs[0].heads
        assert d.to_py() == docs[0].to_py()
        assert d.change_count() == docs[0].change_count()
        assert encode_snapshot(d) == encode_snapshot(docs[0])
        d._check()
    # the same deliveries on both, and the lazy one's own edits shipped to the verifying
    # one (which must accept them): identical results at every step
    pa = RandomPicker(random.Random(seed + 1))
    for k in range(after):
        if k % 3 == 0:
            edit_random(lazy, pa)
            eager.apply_changes(lazy.get_changes(eager.heads))
        else:
            src = docs[k % 3]
            edit_random(src, RandomPicker(random.Random(seed + k)))
            raws = src.get_changes()
            assert lazy.apply_changes(raws) is not None
            eager.apply_changes(raws)
        assert lazy.heads == eager.heads
        assert lazy.to_py() == eager.to_py()
    lazy_saved = lazy.save()  # (before get_changes: it may save the loaded record unread)
    assert lazy.get_changes() == eager.get_changes()
    _same_document(lazy_saved, eager.save())
    sync_until_quiescent([*docs, lazy])
    assert_converged([*docs, lazy], RandomPicker(random.Random(seed)))


def test_edits_after_a_lazy_load_need_no_history() -> None:
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    t = a.root.make_text("t")
    for k in range(50):
        t.insert(k, "x")
    lazy = Doc.load(a.save(), b"\x02" * 8, clock=_clock)
    lazy.root["t"].insert(0, ">")
    lazy["k"] = 1
    b = a.fork(b"\x03" * 8)
    b.apply_changes(lazy.get_changes(a.heads))  # a peer at the saved heads asks for more
    assert lazy._deferred is not None, "descendants of the checkpoint never decode history"
    b.root["t"].insert(3, "b")
    lazy.apply_changes(b.get_changes(lazy.heads))
    assert lazy._deferred is not None
    assert lazy.to_py() == b.to_py()
    # a change concurrent with the checkpoint (made before the save) decodes the history
    a.root["t"].insert(10, "old")
    lazy.apply_changes(a.get_changes())
    assert lazy._deferred is None
    b.merge(a)
    assert lazy.to_py() == b.to_py() and lazy.heads == b.heads


@pytest.mark.parametrize("order", ["in order", "child first", "with a known change"])
def test_a_change_on_one_from_before_the_checkpoint_decodes_the_history(order: str) -> None:
    """A peer's change made on a change from before the checkpoint that is not one of its
    heads (the peer never saw the later ones): the lazily loaded document decodes its
    history to know that dep, and applies the change, as a verified load does; so too when
    a change made on it comes first in the call, or a change the fast path takes."""
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    t = a.root.make_text("t")
    t.insert(0, "ab")
    b = a.fork(b"\x02" * 8)
    t.insert(2, "c")  # (after the fork: b never sees it)
    saved = a.save()
    seen = b.heads
    b.root["t"].insert(0, "X")
    b.root["t"].insert(1, "Y")
    x, y = b.get_changes(seen)  # X on a change before the checkpoint's head, Y on X
    batch = {"in order": [x, y], "child first": [y, x], "with a known change": [x]}[order]
    lazy = Doc.load(saved, b"\x03" * 8, clock=_clock)
    if order == "with a known change":
        a.root["t"].insert(3, "d")  # (on the checkpoint's head, then one on it: the fast path's)
        a.root["t"].insert(4, "e")
        batch = [*a.get_changes(Doc.load(saved).heads), x, y]
    eager = Doc.load(saved, b"\x03" * 8, clock=_clock, verify=True)
    lazy.apply_changes(batch)
    eager.apply_changes(batch)
    assert lazy._deferred is None, "the history was decoded"
    assert lazy.pending == eager.pending == 0
    assert lazy.heads == eager.heads and lazy.to_py() == eager.to_py()
    assert "XY" in str(lazy.root["t"])


def test_changes_on_the_checkpoint_need_no_history_in_any_order() -> None:
    """Changes that descend from the checkpoint never decode the history, whichever path
    takes them: one that comes before its dep in the call (the general path buffers it),
    and one whose dep an earlier call applied (here decoded already, which the fast path
    leaves to the general one)."""
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    a.root.make_text("t").insert(0, "ab")
    saved = a.save()
    lazy = Doc.load(saved, b"\x03" * 8, clock=_clock)
    for ch in "cde":
        a.root["t"].insert(0, ch)
    c, d, e = a.get_changes(lazy.heads)
    lazy.apply_changes([d, c])  # d on c: first in the call
    assert lazy._deferred is not None and lazy.pending == 0
    lazy.apply_changes([decode_change(e)])  # on d, applied by the call before
    assert lazy._deferred is not None and lazy.pending == 0
    assert lazy.heads == a.heads and lazy.to_py() == a.to_py()


def test_fork_of_a_lazy_document_is_independent() -> None:
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    a.root.make_list("l").extend([1, 2, 3])
    lazy = Doc.load(a.save(), b"\x02" * 8)
    f = lazy.fork(b"\x04" * 8)
    assert f.change_count() == lazy.change_count() == a.change_count()
    f.root["l"].append(4)
    assert lazy.to_py() == {"l": [1, 2, 3]} and f.to_py() == {"l": [1, 2, 3, 4]}
    assert f.get_changes()[: a.change_count()] == a.get_changes()
    assert lazy._deferred is not None  # the fork decoded its own copy only


def test_forged_history_fails_when_needed_and_loses_nothing() -> None:
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    a.root.make_text("t").insert(0, "hello")
    a["n"] = 1
    a["n"] = 2
    top = _fields(a.save())
    other = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    for v in (3, 4, 5):
        other["n"] = v  # a different history behind the same checkpoint
    top[3] = _fields(other.save())[3]
    top[5] = 3  # (its changes: the counts add up)
    forged = _repack(top)
    with pytest.raises(CrdtError):
        Doc.load(forged, verify=True)
    lazy = Doc.load(forged, merge_interval=None)
    assert lazy.to_py() == a.to_py()
    with pytest.raises(CrdtError):
        lazy.get_changes()
    assert lazy._deferred is not None and lazy.to_py() == a.to_py()
    lazy["m"] = 5  # still usable: local edits need no history
    assert lazy.to_py() == {**a.to_py(), "m": 5}
    # saved again, the loaded record is copied unread: the file it makes fails the same way
    # when its history is needed, and keeps the edit
    resaved = lazy.save()
    with pytest.raises(CrdtError):
        Doc.load(resaved, verify=True)
    again = Doc.load(resaved)
    assert again.to_py() == {**a.to_py(), "m": 5}
    with pytest.raises(CrdtError):
        again.get_changes()
    # a save whose new record takes the loaded record in decodes that record alone, and
    # checks nothing either: the file fails when its history is needed
    lazy["m"] = 6
    lazy["m"] = 7
    merged = lazy.save()
    assert _counts(merged) == [6] and lazy._deferred is not None
    with pytest.raises(CrdtError):
        Doc.load(merged, verify=True)
    assert Doc.load(merged).to_py() == {**a.to_py(), "m": 7}


def test_verify_catches_a_checkpoint_that_disagrees_with_the_history() -> None:
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    a.root.make_text("t").insert(0, "hello")
    top = _fields(a.save())
    snap = zlib.decompress(top[4])
    doctored = snap.replace(b"hello", b"jello")
    assert doctored != snap
    top[4] = zlib.compress(doctored)
    forged = _repack(top)
    assert Doc.load(forged).to_py() == {"t": "jello"}  # lazily: the checkpoint is trusted
    with pytest.raises(HashMismatchError):
        Doc.load(forged, verify=True)


@pytest.mark.parametrize("records", [1, 2])
def test_damage_anywhere_is_caught_at_load(records: int) -> None:
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    t = a.root.make_text("t")
    for ch in "hello world":
        t.insert(len(t), ch)  # (12 changes: one more is kept apart from them)
    data = a.save()
    if records == 2:  # saved again after a lazy load and an edit: a record more
        lazy = Doc.load(data, b"\x02" * 8, clock=_clock)
        lazy.root["t"].insert(0, ">")
        data = lazy.save()
        assert len(_fields(data)[3]) == 2
    rng = random.Random(7)
    for _ in range(300):
        raw = bytearray(data)
        raw[rng.randrange(len(SAVE_MAGIC), len(raw))] ^= 1 << rng.randrange(8)
        with pytest.raises(CrdtError):
            Doc.load(bytes(raw))


def _pred_change(doc: Doc, actor: bytes, pred: tuple[int, bytes]) -> bytes:
    """A change on ``doc``'s heads deleting key ``n`` with the given pred."""
    seq = doc._history.seq_of(actor) + 1
    raw, _ = encode_change(
        actor, seq, doc._max_op + 1, 0, None, tuple(doc.heads), [(DEL, None, "n", (pred,))]
    )
    return raw


def test_preds_from_before_the_checkpoint_are_checked_exactly() -> None:
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    a["n"] = 1  # op 1
    a.root.make_text("t").insert(0, "abc")  # ops 2..5
    a["n"] = 2  # op 6 (pred: op 1)
    saved = a.save()
    peer = b"\x09" * 8
    # op 1 is a real op but no longer live: accepted by both, after decoding the history
    dead = _pred_change(a, peer, (1, b"\x01" * 8))
    full, lazy = Doc.load(saved, verify=True), Doc.load(saved)
    full.apply_changes([dead])
    lazy.apply_changes([dead])
    assert lazy._deferred is None and lazy.heads == full.heads
    # counter 7 of actor 01 is no op at all: refused by both, the lazy one unchanged
    bogus = _pred_change(a, peer, (7, b"\x01" * 8))
    full, lazy = Doc.load(saved, verify=True), Doc.load(saved)
    before = lazy.to_py()
    for d in (full, lazy):
        with pytest.raises(InvalidChangeError):
            d.apply_changes([bogus])
    assert lazy.to_py() == before and lazy.heads == a.heads
    # a pred naming the live value needs no history
    live = _pred_change(a, peer, (6, b"\x01" * 8))
    lazy = Doc.load(saved)
    lazy.apply_changes([live])
    assert lazy._deferred is not None and "n" not in lazy.to_py()


def test_save_refuses_an_open_transaction() -> None:
    a = Doc(b"\x01" * 8, merge_interval=None)
    a.begin()
    a["k"] = 1
    with pytest.raises(CrdtError):
        a.save()
    a.commit()
    assert Doc.load(a.save()).to_py() == {"k": 1}


def test_a_wrong_change_count_fails_when_the_history_is_decoded() -> None:
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    a["k"] = 1
    a["k"] = 2
    for n in (1, 3):
        top = _fields(a.save())
        top[5] = n
        with pytest.raises(DecodeError, match="add up"):  # (the records say 2)
            Doc.load(_repack(top))
        top[3][0][0] = n  # (a forger's file: the record's count agrees)
        lazy = Doc.load(_repack(top))
        assert lazy.change_count() == n  # what the file claims, until it is decoded
        with pytest.raises(CrdtError):
            lazy.get_changes()
        assert lazy.to_py() == {"k": 2} and lazy._deferred is not None


# ------------------------------------------------------------ saving after a lazy load


def test_a_lazy_document_saves_its_loaded_records_and_one_more() -> None:
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    t = a.root.make_text("t")
    for k in range(20):
        t.insert(k, "ab"[k % 2])
    data = a.save()
    lazy = Doc.load(data, b"\x02" * 8, clock=_clock, merge_interval=None)
    assert lazy.save() == data  # nothing since the load: the same bytes
    lazy.root["t"].insert(0, ">")
    lazy["k"] = 1
    b = a.fork(b"\x03" * 8)
    b.root["t"].delete(5, 2)
    b.actor = a.actor  # (its author goes on from its 21 changes before the save)
    b.root["t"].insert(0, "<")
    lazy.apply_changes(b.get_changes(a.heads))  # a peer's changes on the saved heads
    saved = lazy.save()
    assert lazy._deferred is not None, "saving decoded no history"
    assert saved == lazy.save()  # twice: the same bytes
    top = _fields(saved)
    assert top[3][0] == _fields(data)[3][0]  # the loaded record, as it was
    assert len(top[3]) == 2 and top[5] == a.change_count() + 4
    assert [k for k, _ in top[3]] == [a.change_count(), 4]  # (21 > 2 * 4: not taken in)
    # the new record has a scope of its own: no change before it, no actor, each author's
    # seq before it from the checkpoint's clock; its deps on the loaded record's changes
    # are hashes
    n0, a0, _t0, bases, *items = msgpack.unpackb(zlib.decompress(top[3][1][1]), raw=False)
    assert (n0, a0, len(items)) == (0, 0, 4)
    assert dict(zip(bases[::2], bases[1::2], strict=True)) == {
        b"\x02" * 8: 0,
        b"\x03" * 8: 0,
        b"\x01" * 8: 21,  # (the text made, then 20 inserts)
    }
    assert all(len(it) < 6 or it[5] == 0 for it in items)  # so no seq needs a ds
    assert a.heads[0] in [d for it in items if len(it) > 2 and it[2] for d in it[2]]
    # what it holds: the history and state of a document that got the same changes
    b.apply_changes(lazy.get_changes())
    _same_document(saved, b.save())
    again = Doc.load(saved)
    assert again.to_py() == b.to_py()
    assert sorted(again.get_changes(a.heads)) == sorted(b.get_changes(a.heads))


def _counts(data: bytes) -> list[int]:
    """How many changes each record of a saved document holds."""
    return [k for k, _ in _fields(data)[3]]


def _check_merge(before: list[Any], data: bytes, new: int) -> None:
    """The records of a save, against those of the save (or file) before it: the same
    with nothing new; else the ones before, but a last few taken into a new record, the
    new record holding fewer than half the changes of the one before it."""
    after = _fields(data)[3]
    assert sum(k for k, _ in after) == _fields(data)[5]
    if not new:
        assert after == before
        return
    kept = after[:-1]
    assert kept == before[: len(kept)]
    assert after[-1][0] == new + sum(k for k, _ in before[len(kept) :])
    assert not kept or kept[-1][0] > 2 * after[-1][0]
    if len(kept) < len(before):  # (the first it took held at most twice what came after)
        taken = before[len(kept) :]
        assert taken[0][0] <= 2 * (new + sum(k for k, _ in taken[1:]))


@pytest.mark.parametrize("reload", [False, True], ids=["in-memory", "reloaded"])
def test_records_merge_as_a_binary_counter_carries(reload: bool) -> None:
    d = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    t = d.root.make_text("t")
    for k in range(9):
        t.insert(k, "a")
    data = d.save()
    counts = [_counts(data)]
    for k in range(5):  # a change, then a save, each time
        if reload:
            d = Doc.load(data, bytes([k + 2]) * 8, clock=_clock, merge_interval=None)
        d.root["t"].insert(0, "x")
        before = _fields(data)[3]
        data = d.save()
        _check_merge(before, data, 1)
        counts.append(_counts(data))
        if reload and k < 4:
            assert d._deferred is not None, "kept records: the history stays encoded"
    # each record more than twice the next: 10 | 1; 1 <= 2 * 1 taken in, 10 > 4 not |
    # 2 <= 2 taken in, 10 > 6 not | 3 > 2 not | 1, 3, then 10 <= 2 * 5 taken in
    assert counts == [[10], [10, 1], [10, 2], [10, 3], [10, 3, 1], [15]]
    full = Doc.load(data, verify=True)
    assert str(full.root["t"]) == "xxxxx" + "a" * 9 and full.change_count() == 15


@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32), cycles=st.integers(1, 7))
def test_load_edit_save_cycles_keep_every_change(seed: int, cycles: int) -> None:
    rng = random.Random(seed)
    docs = _replicas(rng, 20)
    ref = docs[0]  # gets every change the cycles make: the document each save must hold
    data = ref.save()
    pick = RandomPicker(random.Random(seed + 1))
    for c in range(cycles):
        lazy = Doc.load(data, bytes([0x20 + c]) * 8, clock=_clock, merge_interval=None)
        for _ in range(rng.randrange(4)):
            edit_random(lazy, pick)
        if rng.random() < 0.5:
            # a peer's changes: on the saved heads, or concurrent with them (which
            # decodes the history)
            peer = docs[rng.randrange(1, 3)]
            edit_random(peer, pick)
            lazy.apply_changes(peer.get_changes())
        dfr = lazy._deferred
        loaded = _fields(data)
        new = lazy.change_count() - loaded[5]  # changes since the load
        data = lazy.save()
        assert lazy.save() == data
        _check_merge(loaded[3], data, new)
        if dfr is not None and _fields(data)[3][: len(loaded[3])] == loaded[3]:
            assert lazy._deferred is dfr, "the loaded records kept: no history decoded"
        ref.apply_changes(lazy.get_changes())
        assert ref.heads == lazy.heads
        _same_document(data, ref.save())


@pytest.mark.parametrize(
    "records",
    [[], [5], [b"x", None], b"", 7, [[1]], [[1, b"x", 2]], [[2, b"x"], [-1, b"x"]], [["1", b"x"]]],
    ids=[
        "empty",
        "not-pairs",
        "not-a-pair",
        "bytes-in-format-4",
        "int",
        "no-bytes",
        "three",
        "negative-count-summing-right",
        "str-count",
    ],
)
def test_a_history_that_is_not_an_array_of_records_is_refused(records: Any) -> None:
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    a["k"] = 1
    top = _fields(a.save())
    top[3] = records
    with pytest.raises(DecodeError):
        Doc.load(_repack(top))


def test_a_history_after_a_snapshot_saves_after_a_lazy_load() -> None:
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    a.root.make_text("t").insert(0, "abc")
    s = load_snapshot(encode_snapshot(a), b"\x05" * 8, clock=_clock, merge_interval=None)
    for _ in range(3):
        s.root["t"].insert(0, "y")  # (3 changes: one more is kept apart from them)
    data = s.save()
    assert _fields(data)[2] is not None  # the history starts after the snapshot
    lazy = Doc.load(data, b"\x06" * 8, clock=_clock, merge_interval=None)
    lazy.root["t"].insert(0, "z")
    out = lazy.save()
    assert lazy._deferred is not None and _counts(out) == [3, 1]
    full = Doc.load(out, verify=True)
    assert str(full.root["t"]) == "zyyyabc"
    assert full.change_count() == 4  # the snapshot's history is not held
    s.apply_changes(Doc.load(out).get_changes(s.heads))
    assert s.heads == full.heads and s.to_py() == full.to_py()


def test_the_records_together_are_bounded_by_max_save_bytes() -> None:
    # (texts typed and deleted: the records hold them, the checkpoint only their ids)
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    t = a.root.make_text("t")
    t.insert(0, "x" * 500)
    t.delete(0, 500)
    lazy = Doc.load(a.save(), b"\x02" * 8, clock=_clock)
    with lazy.transaction():  # (one change: kept apart from the loaded three)
        lazy.root["t"].insert(0, "y" * 500)
        lazy.root["t"].delete(1, 499)
    data = lazy.save()
    top = _fields(data)
    sizes = [len(zlib.decompress(r)) for _, r in top[3]]
    assert len(sizes) == 2 and len(zlib.decompress(top[4])) < max(sizes)
    with patch.object(crdt.doc, "MAX_SAVE_BYTES", sum(sizes)):
        Doc.load(data, verify=True)  # both records within the bound
    # each record within it, not the two together
    assert max(sizes) <= sum(sizes) - 1
    with patch.object(crdt.doc, "MAX_SAVE_BYTES", sum(sizes) - 1):
        with pytest.raises(DecodeError, match="MAX_SAVE_BYTES"):
            Doc.load(data, verify=True)
        lazy = Doc.load(data)
        with pytest.raises(DecodeError, match="MAX_SAVE_BYTES"):
            lazy.get_changes()
        assert lazy._deferred is not None and lazy.to_py() == {"t": "y"}


def test_a_record_after_the_bound_is_reached_is_refused() -> None:
    # (zlib takes a bound of 0 as no bound at all: the record after a full one must fail)
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    t = a.root.make_text("t")
    t.insert(0, "x" * 300)
    t.delete(0, 300)  # (in the first record, not in the checkpoint)
    lazy = Doc.load(a.save(), b"\x02" * 8, clock=_clock)
    lazy["k"] = 2
    data = lazy.save()
    top = _fields(data)
    first = len(zlib.decompress(top[3][0][1]))
    assert len(zlib.decompress(top[4])) <= first
    with patch.object(crdt.doc, "MAX_SAVE_BYTES", first):
        with pytest.raises(DecodeError, match="saved history is larger than MAX_SAVE_BYTES"):
            Doc.load(data, verify=True)


def test_each_save_adds_a_record_of_the_changes_since_the_last() -> None:
    d = _typed("abcdefg")  # (8 changes with the text's making)
    t = d.root["t"]
    saves = [d.save()]
    t.insert(7, "h")
    saves.append(d.save())
    assert d.save() == saves[-1]  # nothing since: the same bytes
    peer = d.fork(b"\x02" * 8)
    peer.root["t"].delete(0, 1)
    d.root["k"] = 1
    d.merge(peer)
    saves.append(d.save())
    # 8 > 2 * 1: kept apart | 1 <= 2 * 2 taken in, 8 > 2 * 3 not
    assert [_counts(x) for x in saves] == [[8], [8, 1], [8, 3]]
    recs = [_fields(x)[3] for x in saves]
    assert recs[1][0] == recs[0][0] and recs[2][0] == recs[0][0]
    # a fork keeps the records too, and goes on from them with its own changes
    f = d.fork(b"\x03" * 8)
    f.root["t"].insert(0, ">")
    assert _fields(f.save())[3][:2] == recs[2]
    d.root["t"].insert(0, "<")
    saves.append(d.save())
    assert _counts(saves[-1]) == [8, 3, 1]
    for x, want in zip(saves, ["abcdefg", "abcdefgh", "bcdefgh", "<bcdefgh"], strict=True):
        full = Doc.load(x, verify=True)
        assert str(full.root["t"]) == want
    assert Doc.load(saves[-1], verify=True).heads == d.heads
    assert sorted(Doc.load(saves[-1]).get_changes()) == sorted(d.get_changes())


def test_a_failed_batch_after_a_save_leaves_the_next_save_whole() -> None:
    d = _typed("abc")  # (4 changes: one more is kept apart)
    d.save()
    peer = d.fork(b"\x02" * 8)
    peer.root["t"].insert(0, "x")
    good = peer.get_changes(d.heads)
    bad = _pred_change(peer, b"\x09" * 8, (99, b"\x01" * 8))  # a pred naming no op
    with pytest.raises(InvalidChangeError):
        d.apply_changes([*good, bad])  # (undone whole: the history is truncated)
    d.root["t"].insert(3, "!")
    data = d.save()
    assert _counts(data) == [4, 1]
    full = Doc.load(data, verify=True)
    assert str(full.root["t"]) == "abc!" and full.heads == d.heads


@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32), rounds=st.integers(1, 12))
def test_saves_of_a_document_in_use_each_hold_all_of_it(seed: int, rounds: int) -> None:
    rng = random.Random(seed)
    docs = _replicas(rng, 10)
    d = docs[0]
    pick = RandomPicker(random.Random(seed + 1))
    prev: list[Any] = []
    count = 0  # changes at the last save
    for _ in range(rounds):
        for _ in range(rng.randrange(3)):
            edit_random(d, pick)
        if rng.random() < 0.4:
            src = docs[rng.randrange(1, 3)]
            edit_random(src, pick)
            d.merge(src)
        data = d.save()
        if not prev:  # the first save: one record
            assert len(_fields(data)[3]) == 1
        else:
            _check_merge(prev, data, d.change_count() - count)
        prev, count = _fields(data)[3], d.change_count()
        full = Doc.load(data, verify=True)
        assert full.heads == d.heads and full.to_py() == d.to_py()
        assert sorted(full.get_changes()) == sorted(d.get_changes())
        assert full.change_count() == count


def test_records_that_are_not_the_history_s_first_changes_are_not_kept() -> None:
    # (a guard: save, fork and load keep _saved right; a wrong one must not slip through)
    d = _typed("abc")  # (4 changes: one more is kept apart)
    d.save()
    d.root["t"].insert(0, ">")
    sv = d._saved
    assert sv is not None and sv.n == 4
    forged = [
        crdt.doc._Saved(sv.records, sv.snap, sv.n, b"\x00" * 32, sv.base),  # another last
        crdt.doc._Saved(sv.records, sv.snap, sv.n + 5, sv.last, sv.base),  # too many
        crdt.doc._Saved(sv.records, sv.snap, sv.n, sv.last, Doc()._base or object()),  # type: ignore[arg-type]
    ]
    for bad in forged:
        d._saved = bad
        data = d.save()
        assert len(_fields(data)[3]) == 1  # the whole history, encoded again
        assert Doc.load(data, verify=True).heads == d.heads
    d._saved = sv
    assert len(_fields(d.save())[3]) == 2


def test_a_record_holding_another_number_of_changes_than_it_says_is_refused() -> None:
    d = _typed("abcd")
    d.save()
    d.root["t"].insert(0, ">")
    top = _fields(d.save())
    assert [k for k, _ in top[3]] == [5, 1]
    top[3][0][0], top[3][1][0] = 1, 5  # (swapped: the sum still says 6)
    lazy = Doc.load(_repack(top))  # (the counts are read, the records not yet)
    with pytest.raises(DecodeError, match="holds 5 changes, not 1"):
        lazy.get_changes()
    with pytest.raises(DecodeError, match="holds 5 changes, not 1"):
        Doc.load(_repack(top), verify=True)
    assert lazy.to_py() == d.to_py() and lazy._deferred is not None


def test_the_checkpoint_heads_delivered_again_are_known_not_buffered() -> None:
    # (found by the fuzzer: buffered, a head of the checkpoint waited for good for deps
    # in the history not decoded)
    a = _typed("abc")
    b = a.fork(b"\x02" * 8)
    a.root["t"].insert(0, "x")
    b.root["t"].insert(0, "y")
    a.merge(b)  # two heads
    lazy = Doc.load(a.save(), b"\x03" * 8, clock=_clock)
    heads = [a.get_change(h) for h in a.heads]
    assert lazy.apply_changes(heads) == []
    assert lazy.pending == 0 and lazy.missing_deps() == []
    assert lazy._deferred is not None  # (known without decoding the history)
    a.root["t"].insert(0, "z")
    assert len(lazy.apply_changes([*heads, *a.get_changes(lazy.heads)])) == 1
    assert lazy.pending == 0 and lazy.to_py() == a.to_py() and lazy._deferred is not None


@pytest.mark.parametrize("version", [2, 3])
def test_an_older_format_whose_history_is_not_bytes_is_refused(version: int) -> None:
    vectors = json.loads((Path(__file__).parent / "vectors" / "saved.json").read_text())
    top = _fields(bytes.fromhex(vectors[f"hex_v{version}"]))
    assert top[0] == version and type(top[3]) is bytes
    top[3] = [[1, top[3]]]  # (format 4's shape, in a file that says another version)
    data = _repack(top) if version == 3 else SAVE_MAGIC + msgpack.packb(top)
    with pytest.raises(DecodeError, match="not bytes"):
        Doc.load(data)
