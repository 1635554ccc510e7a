"""Saved documents (format 3): a checkpoint of the state plus a history decoded on demand.

The lazily loaded document is checked against one loaded with ``verify=True`` (the whole
history replayed and verified): fed the same operations, both must make the same changes,
reach the same heads and the same state, and accept or refuse the same remote changes.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

import msgpack
import pytest
import xxhash
from helpers import RandomPicker, assert_converged, edit_random, sync_until_quiescent
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import CrdtError, Doc, HashMismatchError, InvalidChangeError
from crdt.change import encode_change
from crdt.doc import SAVE_MAGIC
from crdt.op import DEL
from crdt.snapshot import encode_snapshot


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
    assert lazy.get_changes() == eager.get_changes()
    assert lazy.save() == eager.save()
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
    other["n"] = 3  # a different history behind the same checkpoint
    top[3] = _fields(other.save())[3]
    forged = _repack(top)
    with pytest.raises(CrdtError):
        Doc.load(forged, verify=True)
    lazy = Doc.load(forged)
    assert lazy.to_py() == a.to_py()
    with pytest.raises(CrdtError):
        lazy.get_changes()
    with pytest.raises(CrdtError):
        lazy.save()
    assert lazy._deferred is not None and lazy.to_py() == a.to_py()
    lazy["m"] = 5  # still usable: local edits need no history
    assert lazy.to_py() == {**a.to_py(), "m": 5}


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


def test_damage_anywhere_is_caught_at_load() -> None:
    a = Doc(b"\x01" * 8, clock=_clock, merge_interval=None)
    a.root.make_text("t").insert(0, "hello world")
    data = a.save()
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
        lazy = Doc.load(_repack(top))
        assert lazy.change_count() == n  # what the file claims, until it is decoded
        with pytest.raises(CrdtError):
            lazy.get_changes()
        assert lazy.to_py() == {"k": 2} and lazy._deferred is not None
