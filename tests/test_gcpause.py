"""The cyclic collector is paused around bulk work (crdt.gcpause), and always restored."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest

import crdt.change as change_mod
import crdt.doc as doc_mod
import crdt.snapshot as snapshot_mod
from crdt import DecodeError, Doc, InvalidChangeError
from crdt.change import change_hash, encode_change
from crdt.gcpause import gc_paused
from crdt.op import INS


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:  # pragma: no cover - pytest runs with it on
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
    d = Doc(b"\x01" * 16, clock=lambda: 0)
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
    k = Doc(b"\x02" * 16, clock=lambda: 0)
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
