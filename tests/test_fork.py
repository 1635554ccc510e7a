"""Copy-on-write forks: a fork shares the sequences' chunks and id index with the original
until one side changes them (crdt/sequence.py, ``Sequence.copy`` and ``Sequence._own``).

The reference for every document is a replay of its own history on a fresh document, which
involves no fork at all, so sharing bugs (an edit leaking into a sibling, a stale index or
link after a chunk was copied) show up as a difference or as a failed ``_check``.
"""

from __future__ import annotations

import gc
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crdt.sequence
from crdt import Doc

ALPHABET = "abcdefgh\u00e9\U0001f600"


def _text_edit(data: Any, doc: Doc) -> None:
    t = doc.root["t"]
    n = len(t)
    pos = data.draw(st.integers(0, n), label="pos")
    dl = data.draw(st.integers(0, min(3, n - pos)), label="del")
    ins = data.draw(st.text(ALPHABET, max_size=4), label="ins")
    t.splice(pos, dl, ins)


def _list_edit(data: Any, doc: Doc) -> None:
    lst = doc.root["l"]
    n = len(lst)
    kind = data.draw(st.sampled_from(["insert", "delete", "set"]), label="list op")
    if kind == "insert" or n == 0:
        lst.insert(data.draw(st.integers(0, n)), data.draw(st.integers(0, 99)))
    elif kind == "delete":
        lst.delete(data.draw(st.integers(0, n - 1)))
    else:  # turns the element into a register: copies must not share its entries
        lst[data.draw(st.integers(0, n - 1))] = data.draw(st.integers(100, 199))


def _replayed(doc: Doc) -> Any:
    ref = Doc("ff")
    ref.apply_changes(doc.get_changes())
    return ref.to_py()


@settings(max_examples=120, deadline=None)
@given(data=st.data(), max_runs=st.sampled_from([2, 4, 64]))
def test_forks_edit_independently(data: Any, max_runs: int) -> None:
    """Random edits, forks and merges over a family of documents: each ends as its own
    history replayed from scratch, and every structural invariant holds throughout."""
    with mock.patch.object(crdt.sequence, "MAX_RUNS", max_runs):
        origin = Doc("01")
        with origin.transaction():
            origin.root.make_text("t", "start")
            origin.root["l"] = [1, 2, 3]
        docs = [origin]
        for step in range(data.draw(st.integers(1, 30), label="steps")):
            i = data.draw(st.integers(0, len(docs) - 1), label="doc")
            action = data.draw(st.sampled_from(["text", "list", "fork", "merge", "drop"]))
            if action == "text":
                for _ in range(data.draw(st.integers(1, 4))):
                    _text_edit(data, docs[i])
            elif action == "list":
                _list_edit(data, docs[i])
            elif action == "fork" and len(docs) < 6:
                docs.append(docs[i].fork(f"{len(docs) + 2:02x}{step:02x}"))
            elif action == "merge":
                j = data.draw(st.integers(0, len(docs) - 1), label="other")
                docs[i].merge(docs[j])
            elif action == "drop" and len(docs) > 1:
                docs.pop(i)  # its hold on shared chunks goes with it
                gc.collect()
            docs[i if i < len(docs) else 0]._check()
        for d in docs:
            d._check()
            assert d.to_py() == _replayed(d)


def _seq(doc: Doc, key: str) -> crdt.sequence.Sequence:
    seq: crdt.sequence.Sequence = doc._opset.objs[doc.root[key].id].data
    return seq


def test_fork_shares_runs_until_written() -> None:
    """A fork creates no runs; an edit copies only the chunk it touches, on its own side."""
    a = Doc("0a")
    t = a.root.make_text("t")
    for i in range(400):  # far apart: one run per insert, several chunks
        t.insert(i // 2, "x")
    b = a.fork("0b")
    sa, sb = _seq(a, "t"), _seq(b, "t")
    assert [id(r) for r in sa.runs()] == [id(r) for r in sb.runs()]
    b.root["t"].insert(0, "new")
    assert str(a.root["t"]) == "x" * 400
    assert str(b.root["t"]) == "new" + "x" * 400
    shared = {id(r) for r in sa.runs()} & {id(r) for r in sb.runs()}
    n_runs = sum(1 for _ in sa.runs())
    assert n_runs - crdt.sequence.MAX_RUNS - 1 <= len(shared) < n_runs
    a._check()
    b._check()


def test_dropped_fork_releases_its_chunks() -> None:
    """Once a fork is gone the original edits its chunks in place again."""
    a = Doc("0a")
    a.root.make_text("t", "hello")
    seq = _seq(a, "t")
    runs = seq.head.runs
    b = a.fork("0b")
    assert seq.head.refs == [2]
    assert _seq(b, "t").head.runs is runs  # shared, not copied
    del b
    gc.collect()
    assert seq.head.refs == [1]
    a.root["t"].insert(5, "!")
    assert seq.head.runs is runs  # changed in place, not copied
    a._check()


def test_fork_of_a_fork_and_remote_ops() -> None:
    """Chains of forks that receive each other's changes keep separate states."""
    a = Doc("0a")
    a.root.make_text("t", "abc")
    b = a.fork("0b")
    c = b.fork("0c")
    b.root["t"].insert(1, "B")
    c.root["t"].delete(0)
    a.merge(c)
    assert str(a.root["t"]) == "bc"
    assert str(b.root["t"]) == "aBbc"
    assert str(c.root["t"]) == "bc"
    b.merge(a)
    assert str(b.root["t"]) == "Bbc"
    for d in (a, b, c):
        d._check()


@pytest.mark.parametrize("edit", ["insert", "delete", "backspace"])
def test_a_fork_whose_original_is_gone_adopts_the_runs_it_edits(edit: str) -> None:
    """The original made the runs, which name its chunks; once it is gone, the fork holds
    the run lists alone and edits them in place, first making every run name the fork's
    own chunk (``Sequence._own``), on every edit path."""
    a = Doc("0a")
    t = a.root.make_text("t")
    for i in range(400):  # far apart: one run per insert, several chunks
        t.insert(i // 2, "x")
    b = a.fork("0b")
    del a, t
    gc.collect()
    seq = _seq(b, "t")
    assert seq.head.refs == [1]
    tb = b.root["t"]
    if edit == "insert":
        tb.insert(150, "new")
    elif edit == "delete":
        tb.delete(150, 3)
    else:
        tb.delete(3, 1)  # (the last element of a run: a delete that moves it)
    # every run of a list names one chunk (what _own's test relies on), and a chunk
    # edited names itself
    for c in _chunks(seq):
        assert len({id(r.chunk) for r in c.runs}) <= 1
    assert sum(c.runs[0].chunk is c for c in _chunks(seq) if c.runs) >= 1
    b._check()
    for k in range(20):  # and go on editing, locally and from a peer
        tb.insert(100 + k, "y")
        tb.delete(300, 1)
    peer = b.fork("0c")
    peer.root["t"].insert(200, "p")
    b.merge(peer)
    b._check()
    assert len(tb) == 400 + (3 if edit == "insert" else -3 if edit == "delete" else -1) + 1


def _chunks(seq: crdt.sequence.Sequence) -> list[Any]:
    out = []
    c = seq.head
    while c is not None:
        out.append(c)
        c = c.next
    return out
