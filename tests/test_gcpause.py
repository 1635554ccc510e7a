"""The cyclic collector is paused around bulk work (crdt.gcpause), and always restored."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest

import crdt.change as change_mod
import crdt.doc as doc_mod
import crdt.snapshot as snapshot_mod
from crdt import DecodeError, Doc, InvalidChangeError, gcpause
from crdt.change import change_hash, encode_change
from crdt.gcpause import gc_paused
from crdt.op import INS


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:  # (a test here may turn it off: later tests get it back as it was)
        gc.enable()
    else:  # pragma: no cover - pytest runs with it on
        gc.disable()


def test_the_pause_nests_and_restores() -> None:
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # (the outer pause still holds)
    assert gc.isenabled()
    with gc_paused(False):
        assert gc.isenabled()
    with pytest.raises(KeyError), gc_paused():
        raise KeyError("x")
    assert gc.isenabled()


class _Node:
    """A container the collector tracks, that can sit in a cycle."""

    def __init__(self) -> None:
        self.other: object = None


def _young(x: object) -> bool:
    return any(o is x for o in gc.get_objects(generation=0)) or any(
        o is x for o in gc.get_objects(generation=1)
    )


def _oldest(x: object) -> bool:
    return any(o is x for o in gc.get_objects(generation=2))


def test_what_a_pause_made_ends_in_the_oldest_generation() -> None:
    with gc_paused():
        kept = _Node()
    assert _oldest(kept) and not _young(kept)
    assert gc.get_count()[0] < 50  # (no young run is owed: the count started again)
    fresh = _Node()
    assert _young(fresh)  # (after the pause, young again)


def test_young_garbage_from_before_a_pause_is_collected_not_moved() -> None:
    freed: list[bool] = []
    gc.collect()  # (the young count starts again: no run comes before the pause's own)
    gc.disable()
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # (a cycle: reference counting alone never frees it)
    weakref.finalize(a, freed.append, True)
    del a, b
    gc.enable()
    assert not freed
    with gc_paused():
        assert freed == [True]


def test_a_block_that_raises_leaves_what_it_made_young() -> None:
    made: list[_Node] = []
    with pytest.raises(KeyError), gc_paused():
        made.append(_Node())
        raise KeyError("x")
    assert gc.isenabled()
    assert _young(made[0]) and not _oldest(made[0])


def test_the_applications_frozen_objects_stay_frozen() -> None:
    assert gc.get_freeze_count() == 0
    frozen = _Node()
    gc.freeze()
    try:
        n = gc.get_freeze_count()
        with gc_paused():
            kept = _Node()
        assert gc.get_freeze_count() == n  # (not thawed by the pause)
        assert not _young(frozen) and not _oldest(frozen)
        assert _young(kept)  # (no move: it waits for the young run, as it did)
    finally:
        gc.unfreeze()


def test_an_applied_batch_ends_in_the_oldest_generation() -> None:
    k = Doc(b"\x02" * 16, clock=lambda: 0, merge_interval=None)
    t = k.root.make_text("t")
    for _ in range(doc_mod.GC_PAUSE_BATCH):
        t.insert(0, "k")  # (a change each: a big batch, paused)
    d = Doc()
    applied = d.apply_changes(k.get_changes())
    assert len(applied) == doc_mod.GC_PAUSE_BATCH + 1
    assert _oldest(applied) and _oldest(applied[-1])
    assert str(d.root["t"]) == "k" * doc_mod.GC_PAUSE_BATCH


def test_a_collector_the_caller_turned_off_stays_off() -> None:
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()
    Doc().save()
    assert not gc.isenabled()


def _spy(monkeypatch: pytest.MonkeyPatch, mod: Any, name: str) -> list[bool]:
    """Record, per call of ``mod.name``, whether the collector was on."""
    seen: list[bool] = []
    real = getattr(mod, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(mod, name, spy)
    return seen


def _typed(n: int) -> Doc:
    d = Doc(b"\x01" * 16, clock=lambda: 0, merge_interval=None)
    t = d.root.make_text("t")
    with d.transaction():
        for i in range(n):
            t.insert(0, "ab"[i % 2])  # (at the head: an op each)
    return d


def test_bulk_work_runs_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Saving (the compact history and the checkpoint), loading a checkpoint, decoding a
    lazily loaded history and encoding a change of many ops run with the collector off;
    a change of a few ops does not pause it."""
    encodes = _spy(monkeypatch, snapshot_mod, "_encode_snapshot")
    decodes = _spy(monkeypatch, snapshot_mod, "_decode")
    scopes = _spy(monkeypatch, doc_mod, "Scope")
    items = _spy(monkeypatch, doc_mod, "_history_items")
    tables = _spy(monkeypatch, change_mod, "_encode_ops_and_table")
    d = _typed(change_mod.GC_PAUSE_OPS + 1)
    d.heads  # noqa: B018  (seals its one change)
    small = _typed(20)
    small.heads  # noqa: B018
    # (each document's MAKE of its text, then its inserts: the big one's paused)
    assert tables == [True, False, True, True]
    data = d.save()
    assert encodes == [False] and scopes == [False]
    loaded = Doc.load(data)
    assert decodes == [False]
    loaded.get_changes()  # (decodes the saved history)
    assert items == [False]
    Doc.load(data, verify=True)
    assert items == [False, False]
    assert gc.isenabled()


def test_the_collector_is_back_on_after_an_error() -> None:
    data = _typed(50).save()
    with pytest.raises(DecodeError):
        Doc.load(data[:-1])
    assert gc.isenabled()
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    with pytest.raises(DecodeError):
        Doc.load(bytes(damaged))
    assert gc.isenabled()
    d = _typed(10)
    with pytest.raises(DecodeError):  # (a big batch: paused)
        d.apply_changes([b"\x00" * (doc_mod.GC_PAUSE_BYTES + 1)])
    assert gc.isenabled()
    k = Doc(b"\x02" * 16, clock=lambda: 0, merge_interval=None)
    t = k.root.make_text("t")
    for _ in range(doc_mod.GC_PAUSE_BATCH):
        t.insert(0, "k")  # (a change each: a big batch, paused)
    changes = k.get_changes()
    maker = msgpack.unpackb(changes[0])
    ops = [(INS, (1, maker[1]), (10**6, maker[1]), "x")]  # (after an element it lacks)
    bad = encode_change(b"\x03" * 16, 1, 2, 0, None, (change_hash(changes[0]),), ops)[0]
    with pytest.raises(InvalidChangeError):
        Doc().apply_changes([*changes, bad])
    assert gc.isenabled()


# ------------------------------------------------- full collections of what pauses moved


def test_the_pauses_count_what_they_move_and_a_full_collection_resets_it() -> None:
    gc.collect()
    assert gcpause._moved == 0
    with gc_paused():
        kept = [_Node() for _ in range(1000)]
    assert 1000 <= gcpause._moved < 1100  # (the nodes and their list, a few more)
    with pytest.raises(KeyError), gc_paused():
        more = [_Node() for _ in range(1000)]
        raise KeyError("x")
    assert gcpause._moved < 1100  # (a block that raises moves nothing)
    gc.collect()  # (the application's own: any full collection)
    assert gcpause._moved == 0
    assert len(kept) == len(more) == 1000


@pytest.mark.parametrize("floor", [5000, 60_000])
def test_cycles_a_pause_moved_are_collected_in_time(
    monkeypatch: pytest.MonkeyPatch, floor: int
) -> None:
    # Garbage in cycles, made in pauses: moved into the oldest generation, where only a
    # full collection frees it.  One comes once the pauses moved FULL_AFTER objects and a
    # quarter of what the last full collection kept, with no collection by the caller.
    # (Under pytest a quarter of what is kept is 10K-25K objects: above the first floor,
    # below the second.)
    monkeypatch.setattr(gcpause, "FULL_AFTER", floor)
    gc.collect()
    freed: list[int] = []
    for k in range(2000):
        with gc_paused():
            nodes = [_Node() for _ in range(500)]
            for a, b in zip(nodes[::2], nodes[1::2], strict=True):
                a.other, b.other = b, a
            weakref.finalize(nodes[0], freed.append, k)
            del nodes, a, b
        if freed:
            break
    # the collection came as pause k began: every pause's cycles before it freed at once
    assert sorted(freed) == list(range(k))
    kept = len(gc.get_objects())  # (about what the collection kept: the cycles are gone)
    # it came at the first pause that owed one: the pauses before it had moved FULL_AFTER
    # objects and a quarter of what was kept; the one before had not
    assert k * 510 >= floor  # (~505 objects a pause: the nodes, their list, a finalizer)
    assert 4 * k * 510 > kept - 1000
    assert (k - 1) * 500 <= max(floor, kept // 4 + 1000)


def test_without_the_count_the_cycles_would_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # (what the count is for: with it out of reach, no full collection comes)
    monkeypatch.setattr(gcpause, "FULL_AFTER", 10**12)
    gc.collect()
    freed: list[int] = []
    for k in range(200):
        with gc_paused():
            a, b = _Node(), _Node()
            a.other, b.other = b, a
            weakref.finalize(a, freed.append, k)
            del a, b
    assert not freed
    gc.collect()
    assert sorted(freed) == list(range(200))
