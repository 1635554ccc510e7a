"""The remote fast path (crdt.fastpath) decides exactly what the general path decides.

Every history is applied twice: as usual, and with the fast path switched off (it then
takes no change, and the general path takes them all).  Both must give the same
documents, the same applied changes, and for damaged histories the same error, raised
from the same change, with the document left as it was.  The damage is aimed at every
field the fast path checks, re-encoded canonically so that only that one rule breaks.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crdt.doc as doc_mod
from crdt import Counter, CrdtError, Doc, StaleChangeError
from crdt.change import decode_change
from crdt.history import SHOWN_WITHIN
from crdt.snapshot import encode_snapshot, load_snapshot

try:
    from tests.helpers import history_state, replay_patches, sequence_elements
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from helpers import (  # type: ignore[no-redef]
        history_state,
        replay_patches,
        sequence_elements,
    )

OTHER = b"\x02" * 16


MODES = ("maker", "self", "two", "concurrent")


def _history(
    seed: int, n: int, mode: str, maps: float = 0.1, whole: str | None = None
) -> list[bytes]:
    """A per-keystroke history: typing, deleting, inserts at the head, a list edit now and
    then, and map edits (a share ``maps`` of the changes).  ``mode``: one actor types into
    a text another made ("maker") or that it made itself ("self"), two actors take turns
    and see each other's changes at once ("two"), or only now and then ("concurrent":
    changes made on one head of several, as in the concurrent editing traces).  ``whole``:
    the first edit types a text whole, in one change (:func:`_typed_whole`): the empty
    text "t" ("typed"), or a text it makes first ("made"), in new maps ("nested")."""
    rng = random.Random(seed)
    maker = Doc(
        b"\x01" * 16 if mode == "self" else b"\x00" * 16, clock=lambda: 5, merge_interval=None
    )
    maker.root.make_text("t")  # op 1
    maker.root.make_list("l")  # op 2
    maker.root.make_map("m")  # op 3
    docs = [maker if mode == "self" else maker.fork(b"\x01" * 16)]
    if mode in ("two", "concurrent"):
        docs.append(maker.fork(OTHER))
    for k in range(n):
        d = docs[k % len(docs)] if rng.random() < 0.8 else rng.choice(docs)
        t = d.root["t"]
        r = rng.random()
        if whole and k == 0:
            _typed_whole(d, rng, None if whole == "typed" else whole)
        elif r < maps:
            _edit_a_map(d, rng, k)
        elif r < 0.6 or len(t) == 0:
            t.insert(rng.choice([len(t), rng.randint(0, len(t))]), rng.choice("ab\u00e9\U0001f600"))
        elif r < 0.8:
            pos = rng.randrange(len(t))
            t.delete(pos, min(rng.choice([1, 1, 2]), len(t) - pos))
        elif r < 0.87:
            t.insert(0, "^")
        elif r < 0.95:
            _several_text_ops(d, rng)
        else:
            d.root["l"].append(k)
        if mode == "two" or (mode == "concurrent" and rng.random() < 0.15):
            for o in docs:
                if o is not d:
                    o.merge(d)
    last = docs[0]
    for o in docs[1:]:
        last.merge(o)
    return last.get_changes()


SETUP = 3  # the changes that make the text, the list and the map


def _several_text_ops(d: Doc, rng: random.Random) -> None:
    """One change of several INS and REM ops on the text: a selection typed over, a
    character typed at two places, a bracket pair, deletes at two places, characters
    typed at the head one before the other (each its own op)."""
    t = d.root["t"]
    with d.transaction():
        r = rng.random()
        if r < 0.4 and len(t) >= 2:  # (over the selection: a REM, then an INS)
            pos = rng.randrange(len(t) - 1)
            t.delete(pos, rng.randint(1, 2))
            t.insert(pos, rng.choice(["x", "yz"]))
        elif r < 0.6 and len(t) >= 2:
            for pos in sorted(rng.sample(range(len(t)), 2), reverse=True):
                t.insert(pos, "+")
        elif r < 0.7:
            pos = rng.randint(0, len(t))
            t.insert(pos, "(")
            t.insert(pos + 1, ")")  # (its ref: the op before it, in the same change)
        elif r < 0.8:
            for ch in "wxyz"[: rng.randint(2, 4)]:
                t.insert(0, ch)
        elif len(t) >= 3:
            t.delete(len(t) - 1, 1)
            t.delete(0, 1)
        else:
            t.insert(len(t), "ab")
            t.insert(0, "c")


def _typed_whole(d: Doc, rng: random.Random, make: str | None = None) -> None:
    """One change typing the empty text: 4 to 60 inserts and deletes anywhere in it, the
    first an insert at the head (the shape the fast path fills at once); ``make``: the
    change makes the text first, at the root key "w" ("made"), or at the key "w" of a map
    it makes at the root key "n" or in a map that map holds ("nested")."""
    with d.transaction():
        if make == "nested":
            m = d.root.make_map("n")
            if rng.random() < 0.5:
                m = m.make_map("o")
            t = m.make_text("w")
        else:
            t = d.root.make_text("w") if make else d.root["t"]
        t.insert(0, rng.choice(["a", "bc", "\u00e9\U0001f600"]))
        for _ in range(rng.randint(3, 59)):
            if len(t) and rng.random() < 0.35:
                pos = rng.randrange(len(t))
                t.delete(pos, min(rng.choice([1, 1, 2, 5]), len(t) - pos))
            else:
                t.insert(rng.randint(0, len(t)), rng.choice(["x", "yz", "\u00e9"]))


SCALARS: tuple[Any, ...] = (0, -1, 2**63 - 1, -(2**63), 1.5, "s", "", b"\x00", True, None)


def _edit_a_map(d: Doc, rng: random.Random, k: int) -> None:
    """Mostly a SET of a scalar at a few keys of the root or of the map "m" (each one
    change: the shape the fast path takes); now and then a delete, a counter or a new
    object, which it leaves to the general path."""
    m = d.root["m"] if rng.random() < 0.7 else d.root
    key = rng.choice(("k", "k", "j", "\u00e9"))
    r = rng.random()
    if r < 0.8:
        m[key] = k if rng.random() < 0.5 else rng.choice(SCALARS)
    elif r < 0.9 and key in m and m is not d.root:
        del m[key]
    elif r < 0.95:
        m["c"] = Counter(k)
    else:
        m.make_map("o" if m is d.root else key)


def _typing(raw: bytes) -> bool:
    """Whether a change has the fast path's text shape: one INS (with a ref) or REM."""
    ops = msgpack.unpackb(raw)[8]
    return len(ops) == 1 and ops[0][0] in (3, 5) and ops[0][2] is not None


def _text_ops(raw: bytes) -> bool:
    """Whether a change has the fast path's other text shape: INS and REM ops, 2 or more."""
    ops = msgpack.unpackb(raw)[8]
    return 2 <= len(ops) and all(op[0] in (3, 5) and op[2] is not None for op in ops)


def _filling(raw: bytes) -> bool:
    """Whether a change types a text whole: INS and REM ops on one text, 4 or more (a
    fill's least), the first an INS at the head (after the MAKE of the text, if it makes
    it, and the maps that hold it)."""
    ops = msgpack.unpackb(raw)[8]
    while ops and ops[0][0] == 2:
        ops = ops[1:]
    return (
        len(ops) >= 4
        and ops[0][0] == 3
        and ops[0][2] is None
        and all(len(op) == 4 and op[0] in (3, 5) and op[1] == ops[0][1] for op in ops)
    )


def _setting(raw: bytes) -> bool:
    """Whether a change has the fast path's map shape: one SET of a scalar at a key."""
    ops = msgpack.unpackb(raw)[8]
    return len(ops) == 1 and len(ops[0]) == 5 and ops[0][0] == 0 and type(ops[0][2]) is str


def _apply(
    changes: list[Any],
    fast: bool,
    monkeypatch: pytest.MonkeyPatch,
    setup: int = SETUP,
    observed: bool = False,
) -> Any:
    """(document, hashes applied, error or None) after applying ``changes[:setup]``, then
    the others in one apply_changes call; ``observed``: with an observer on the document
    for that call (its patches go with the hashes applied, and must replay to the
    document)."""
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(doc_mod, "apply_fast", lambda doc, changes, k, applied: k)
        d = Doc(b"\x7f" * 16)
        d.apply_changes(changes[:setup])
        told = _observe(d) if observed else None
        before = (d.to_py(), d.heads)
        err: tuple[type, str] | None = None
        applied: list[Any] = []
        try:
            applied = [
                (c.hash, c.deps, c.actor, c.seq, c.start_op, c.n_ops, c.time, c.message)
                for c in d.apply_changes(changes[setup:])
            ]
        except CrdtError as exc:
            err = (type(exc), str(exc))
            assert (d.to_py(), d.heads) == before  # nothing of the call stays
        d._check()
        # (both must record the same, and take the same next counter: a local op's)
        applied.append((d.heads, history_state(d._history), d._max_op))
        if told is not None:
            applied.append(_told(d, before[0], told, err))
        return d, applied, err


def _observe(d: Doc) -> list[Any]:
    """The list each call of an observer of ``d`` appends its patches to."""
    told: list[Any] = []
    d.observe(told.append)
    return told


def _told(d: Doc, before: Any, told: list[Any], err: Any) -> list[Any]:
    """The patches an observer was told in one apply_changes call, checked: none if the
    call raised, else at most one callback, whose patches turn the view ``before`` into
    the document's."""
    if err is not None or not told:
        assert told == []
        return []
    (patches,) = told
    assert replay_patches(before, patches) == d.to_py()
    return patches


def _record_taken(monkeypatch: pytest.MonkeyPatch) -> list[range]:
    """Wrap apply_fast to record, per call, the changes it took (a range of indexes)."""
    calls: list[range] = []
    real = doc_mod.apply_fast

    def counting(doc: Doc, changes: list[Any], k: int, applied: list[Any]) -> int:
        end = real(doc, changes, k, applied)
        calls.append(range(k, end))
        return end

    monkeypatch.setattr(doc_mod, "apply_fast", counting)
    return calls


def _both_ways(
    changes: list[Any], setup: int, monkeypatch: pytest.MonkeyPatch, observed: bool = False
) -> tuple[Any, Any, list[range]]:
    """Apply ``changes`` with the fast path on (recording what it takes) and off: both must
    give the same documents, elements and applied changes (and patches, ``observed``).
    Returns the first document, its error and the ranges the fast path took."""
    taken = _record_taken(monkeypatch)
    d1, a1, e1 = _apply(changes, True, monkeypatch, setup, observed)
    monkeypatch.undo()
    d2, a2, e2 = _apply(changes, False, monkeypatch, setup, observed)
    assert e1 == e2 and a1 == a2 and d1.to_py() == d2.to_py()
    assert sequence_elements(d1) == sequence_elements(d2)
    return d1, e1, taken


def _same(
    changes: list[Any], monkeypatch: pytest.MonkeyPatch, observed: bool = False
) -> tuple[Any, ...] | None:
    d1, a1, e1 = _apply(changes, True, monkeypatch, observed=observed)
    d2, a2, e2 = _apply(changes, False, monkeypatch, observed=observed)
    assert e1 == e2
    assert a1 == a2
    assert d1.to_py() == d2.to_py() and d1.heads == d2.heads
    assert sequence_elements(d1) == sequence_elements(d2)  # (the ids too)
    assert d1.get_changes() == d2.get_changes()
    return e1


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(1, 120),
    mode=st.sampled_from(MODES),
    maps=st.sampled_from((0.1, 0.7)),
    whole=st.sampled_from((None, "typed", "made", "nested")),
    observed=st.booleans(),
)
def test_valid_histories_apply_the_same(
    seed: int, n: int, mode: str, maps: float, whole: str | None, observed: bool
) -> None:
    """``observed``: the document has an observer, which must be told the same patches
    both ways."""
    mp = pytest.MonkeyPatch()
    try:
        changes = _history(seed, n, mode, maps, whole)
        assert _same(changes, mp, observed) is None
    finally:
        mp.undo()


def test_the_fast_path_takes_the_typing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a vacuous comparison: the fast path does apply most of a typing history."""
    taken = _record_taken(monkeypatch)
    changes = _history(7, 300, "maker")
    Doc().apply_changes(changes)
    assert sum(map(len, taken)) > 0.7 * len(changes)
    several = [i for i, raw in enumerate(changes) if _text_ops(raw)]  # (2 to 15 ops)
    assert len(several) > 10
    assert len(set().union(*taken).intersection(several)) > 0.9 * len(several)
    taken.clear()
    # two typists in a text a third made: their ids name two others (the maker, and the
    # other typist whose element they type after)
    changes = _history(7, 300, "two")
    Doc().apply_changes(changes)
    assert sum(map(len, taken)) > 0.75 * len(changes)
    two_others = [i for i, raw in enumerate(changes) if len(msgpack.unpackb(raw)[7]) == 2]
    assert len(two_others) > 30
    assert len(set().union(*taken).intersection(two_others)) > 0.9 * len(two_others)
    taken.clear()
    changes = _history(7, 300, "concurrent")  # on one head of several, too
    d = Doc()
    d.apply_changes(changes)
    assert sum(map(len, taken)) > 0.8 * len(changes)
    several = [i for i, raw in enumerate(changes) if _text_ops(raw)]
    assert len(set().union(*taken).intersection(several)) > 0.9 * len(several)
    # every change not made on all the heads is checked without a clock, when everything
    # but its last SHOWN_WITHIN predecessors is in its past, or keeps its clock: so clock
    # walks stay short
    h = d._history
    assert sum(h.covered[i] <= i for i in range(len(h))) > 50
    assert all(
        h.covered[i] > i  # (made on everything before it: no check)
        or i - max([h.covered[j] for j in h.deps(i)], default=0) <= SHOWN_WITHIN
        or i in h._clocks
        for i in range(len(h))
    )


@pytest.mark.parametrize("mode", MODES)
def test_an_observed_document_takes_the_fast_path(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an observer, as an application showing the document has, changes arriving a
    few at a time (a live sync) go the fast way as they do without one, and the observer
    is told, call by call, the same patches as by the general path."""
    changes = _history(7, 300, mode, maps=0.3)
    rng = random.Random(3)
    cuts = sorted(rng.sample(range(SETUP + 1, len(changes)), 40))
    batches = [changes[a:b] for a, b in zip([SETUP, *cuts], [*cuts, len(changes)], strict=True)]
    told: dict[bool, list[Any]] = {}
    for fast in (True, False):
        with monkeypatch.context() as m:
            taken = _record_taken(m)
            if not fast:
                m.setattr(doc_mod, "apply_fast", lambda doc, changes, k, applied: k)
            d = Doc(b"\x7f" * 16)
            d.apply_changes(changes[:SETUP])
            calls = _observe(d)
            for batch in batches:
                before = d.to_py()
                n = len(calls)
                d.apply_changes(batch)
                assert replay_patches(before, [p for c in calls[n:] for p in c]) == d.to_py()
            d._check()
            told[fast] = calls
            if fast:
                assert sum(map(len, taken)) > 0.7 * (len(changes) - SETUP)
    assert told[True] == told[False]
    assert sum(map(len, told[True])) > len(changes) - SETUP


@pytest.mark.parametrize("mode", MODES)
def test_the_fast_path_takes_the_map_writes(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SETs of scalars at map keys, at the root and in a map, with and without preds
    (the value the key holds, or older ones after concurrent writes), go the fast way."""
    calls = _record_taken(monkeypatch)
    changes = _history(5, 300, mode, maps=0.7)
    Doc().apply_changes(changes)
    taken = set().union(*calls)
    sets = [  # (a Counter, an ext type, is left to the general path)
        i
        for i, raw in enumerate(changes)
        if _setting(raw) and type(msgpack.unpackb(raw)[8][0][3]) is not msgpack.ExtType
    ]
    assert len(sets) > 120
    assert len(taken.intersection(sets)) > 0.9 * len(sets)
    shapes = {
        (top[8][0][1] is None, len(top[8][0][4]), len(top[7]))
        for top in (msgpack.unpackb(changes[i]) for i in taken.intersection(sets))
    }  # (at the root, preds, actors in the table)
    t = 0 if mode == "self" else 1  # (the map's maker in the table)
    assert {(True, 0, 0), (True, 1, 0), (False, 0, t), (False, 1, t)} <= shapes, shapes
    if mode in ("two", "concurrent"):  # (the maker, and the other writer a pred names)
        assert any(n == 2 for _, _, n in shapes), shapes
    if mode == "concurrent":  # (a write on two concurrent values: two preds)
        assert any(n == 2 for _, n, _ in shapes), shapes


# ------------------------------------------------------------------ after a snapshot cut


def _apply_after_cut(
    changes: list[bytes],
    cut: int,
    fast: bool,
    monkeypatch: pytest.MonkeyPatch,
    load: str = "snapshot",
    observed: bool = False,
) -> Any:
    """(document, applied, error) for a document loaded from a snapshot of ``changes[:cut]``
    (or, ``load="saved"``, from its saved file, lazily) that then applies
    ``changes[cut:]`` in one call, with the fast path on or off (and an observer,
    ``observed``, as :func:`_apply` has)."""
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(doc_mod, "apply_fast", lambda doc, changes, k, applied: k)
        src = Doc(b"\x7e" * 16)
        src.apply_changes(changes[:cut])
        if load == "saved":
            d = Doc.load(src.save(), b"\x7f" * 16)
        else:
            d = load_snapshot(encode_snapshot(src), b"\x7f" * 16)
        told = _observe(d) if observed else None
        before = (d.to_py(), d.heads)
        err: tuple[type, str] | None = None
        applied: list[Any] = []
        try:
            applied = [
                (c.hash, c.deps, c.actor, c.seq, c.start_op, c.n_ops)
                for c in d.apply_changes(changes[cut:])
            ]
        except CrdtError as exc:
            err = (type(exc), str(exc))
            assert (d.to_py(), d.heads) == before
        d._check()
        applied.append((d.heads, history_state(d._history), d._max_op))
        if told is not None:
            applied.append(_told(d, before[0], told, err))
        return d, applied, err


def _same_after_cut(
    kept: list[bytes], cut: int, load: str, observed: bool = False
) -> tuple[Any, Any]:
    """:func:`_apply_after_cut` with the fast path on and off: both must give the same
    documents (elements included), applied changes and error (and patches,
    ``observed``).  Returns the first document and its error."""
    mp = pytest.MonkeyPatch()
    try:
        d1, a1, e1 = _apply_after_cut(kept, cut, True, mp, load, observed)
        d2, a2, e2 = _apply_after_cut(kept, cut, False, mp, load, observed)
    finally:
        mp.undo()
    assert e1 == e2 and a1 == a2
    assert d1.to_py() == d2.to_py() and d1.heads == d2.heads
    assert sequence_elements(d1) == sequence_elements(d2)
    return d1, e1


def _pasts(changes: list[bytes]) -> list[set[int]]:
    """Per change, the indexes of the changes in its causal past (``changes`` in causal
    order)."""
    decoded = [decode_change(raw) for raw in changes]
    index = {u.hash: i for i, u in enumerate(decoded)}
    past: list[set[int]] = []
    for u in decoded:
        p: set[int] = set()
        for d in u.deps:
            j = index[d]
            p.add(j)
            p |= past[j]
        past.append(p)
    return past


def _descendants_of_cut(
    changes: list[bytes], cut: int, past: list[set[int]] | None = None
) -> list[bytes]:
    """The changes after ``cut`` that have every change before it in their past (what a
    document loaded from a snapshot at the cut accepts), and whose past after the cut is
    kept too, in order."""
    past = _pasts(changes) if past is None else past
    before = set(range(cut))
    kept: set[int] = set()
    for i in range(cut, len(changes)):
        # (and every change of its past after the cut kept: none waits for a dep left out)
        if before <= past[i] and all(j < cut or j in kept for j in past[i]):
            kept.add(i)
    return [changes[i] for i in sorted(kept)]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(4, 120),
    mode=st.sampled_from(MODES),
    maps=st.sampled_from((0.1, 0.7)),
    whole=st.sampled_from((None, "typed", "made")),
    at=st.floats(0, 1),
    only_later=st.booleans(),
    load=st.sampled_from(("snapshot", "saved")),
    observed=st.booleans(),
)
def test_histories_after_a_snapshot_apply_the_same(
    seed: int,
    n: int,
    mode: str,
    maps: float,
    whole: str | None,
    at: float,
    only_later: bool,
    load: str,
    observed: bool,
) -> None:
    """A document loaded from a snapshot, or lazily from a saved file, takes the fast path
    too: the rest of a history applies the same both ways, the changes that do not descend
    from the cut included (from a snapshot, both raise StaleChangeError on the first of
    them; a saved document decodes its history and takes them), or (``only_later``) left
    out."""
    changes = _history(seed, n, mode, maps, whole)
    cut = SETUP + int(at * (len(changes) - SETUP))
    rest = _descendants_of_cut(changes, cut) if only_later else changes[cut:]
    _, e1 = _same_after_cut(changes[:cut] + rest, cut, load, observed)
    if only_later or load == "saved":  # (a saved document decodes its history for them)
        assert e1 is None


@pytest.mark.parametrize("load", ["snapshot", "saved"])
@pytest.mark.parametrize("mode", MODES)
def test_the_fast_path_takes_the_changes_after_a_snapshot(
    mode: str, load: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a vacuous comparison: after a snapshot cut the fast path takes the changes that
    follow as it does in a document that has the whole history, but those made on the
    cut's heads (the general path's), and the two documents end the same."""
    changes = _history(7, 300, mode)
    past = _pasts(changes)
    # the latest cut with 100 changes after it that descend from it (in the concurrent
    # mode a cut late in the history leaves the other peer's branch out)
    cut = next(
        c
        for c in range(len(changes) - 100, SETUP - 1, -1)
        if len(_descendants_of_cut(changes, c, past)) >= 100
    )
    rest = _descendants_of_cut(changes, cut, past)
    whole = Doc()
    whole.apply_changes(changes[:cut])
    whole_heads = whole.heads
    loaded = Doc.load(whole.save()) if load == "saved" else load_snapshot(encode_snapshot(whole))
    taken = _record_taken(monkeypatch)
    whole.apply_changes(rest)
    from_whole = set().union(*taken)
    taken.clear()
    loaded.apply_changes(rest)
    from_cut = set().union(*taken)
    assert len(from_whole) > 0.6 * len(rest)
    if load == "saved" and loaded._deferred is None:
        # a change named one from before the checkpoint besides its heads (two peers'
        # branches): the saved history was decoded first, and the fast path then takes
        # what it takes in the whole document
        assert mode == "concurrent"
        assert from_cut == from_whole
    else:
        # all but the changes on the cut's heads (which the history does not number)
        cut_heads = set(whole_heads)
        missed = from_whole - from_cut
        assert from_cut <= from_whole
        assert missed and all(cut_heads & set(decode_change(rest[i]).deps) for i in missed)
    assert loaded.to_py() == whole.to_py() and loaded.heads == whole.heads

    # (the snapshot kept no tombstones from before the cut: the visible elements' ids)
    def live(d: Doc) -> dict[Any, list[Any]]:
        return {o: [e for e in es if not e[2]] for o, es in sequence_elements(d).items()}

    assert live(loaded) == live(whole)


@pytest.mark.parametrize("fast", [True, False])
def test_a_first_change_is_stale_after_a_snapshot(
    fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change on nothing (another document's first, a text made and typed whole) does
    not descend from a snapshot's cut: a document loaded from it refuses it, whichever
    path looks first (the fast one takes such a change only on a document with no change
    and no cut)."""
    src = Doc(b"\x01" * 16)
    src.root["t"] = "x"
    other = Doc(b"\x02" * 16, clock=lambda: 0, merge_interval=None)
    with other.transaction():
        t = other.root.make_text("z")
        for ch in "olleh":
            t.insert(0, ch)  # (an op each: a text made and typed whole)
    (first,) = other.get_changes()
    assert not decode_change(first).deps
    if not fast:
        monkeypatch.setattr(doc_mod, "apply_fast", lambda doc, changes, k, applied: k)
    taken = _record_taken(monkeypatch) if fast else []
    d = load_snapshot(encode_snapshot(src))
    with pytest.raises(StaleChangeError):
        d.apply_changes([first])
    assert d.to_py() == {"t": "x"}
    assert not any(map(len, taken))
    # (on an empty document the fast path does take it)
    e = Doc()
    e.apply_changes([first])
    assert e.to_py() == {"z": "hello"}
    assert not fast or any(map(len, taken))


# ------------------------------------------------------------------ damaged histories


def _set(i: int, value: Any) -> Callable[[list[Any]], None]:
    def f(top: list[Any]) -> None:
        top[i] = value

    return f


def _op(path: tuple[int, ...], value: Any) -> Callable[[list[Any]], None]:
    def f(top: list[Any]) -> None:
        x = top[8][0]
        for p in path[:-1]:
            x = x[p]
        if type(x) is list and len(x) > path[-1]:  # (an insert at the head has no ref)
            x[path[-1]] = value

    return f


def _add(delta: int, *path: int) -> Callable[[list[Any]], None]:
    def f(top: list[Any]) -> None:
        x = top
        for p in path[:-1]:
            x = x[p]
        x[path[-1]] += delta

    return f


HEADER_MUTATIONS: dict[str, Callable[[list[Any]], None]] = {
    "version": _set(0, 2),
    "version bool": _set(0, True),
    "actor str": _set(1, "a"),
    "actor empty": _set(1, b""),
    "actor long": _set(1, b"\x01" * 65),
    "seq +1": _add(1, 2),
    "seq -1": _add(-1, 2),
    "seq float": _set(2, 1.5),
    "start_op +1": _add(1, 3),
    "start_op -1": _add(-1, 3),
    "time negative": _set(4, -1),
    "message int": _set(5, 3),
    "message str": _set(5, "fine"),
    "deps none": _set(6, []),
    "deps two": lambda top: top[6].append(b"\xff" * 32),
    "deps reversed": lambda top: top[6].reverse(),
    "deps twice": lambda top: top.__setitem__(6, [top[6][0], top[6][0]]),
    "deps three": lambda top: top[6].extend([b"\xfe" * 32, b"\xff" * 32]),
    "dep str": lambda top: top[6].__setitem__(-1, "x" * 32),
    "dep unknown": _set(6, [b"\x00" * 32]),
    "dep short": lambda top: top.__setitem__(6, [top[6][0][:31]]),
    "table author": lambda top: top.__setitem__(7, [top[1]]),
    "table unused": _set(7, [b"\x05" * 16]),
    "table two": lambda top: top[7].append(b"\xfe" * 16),
    "table str": _set(7, ["x"]),
    "ops none": _set(8, []),
    "ops two": lambda top: top[8].append(top[8][0]),
    "op short": lambda top: top[8][0].pop(),
}
TEXT_MUTATIONS: dict[str, Callable[[list[Any]], None]] = {
    "action 4": _op((0,), 4),
    "action 1.0": _op((0,), 3.0),
    "obj counter +big": _op((1, 0), 10**6),
    "obj counter 0": _op((1, 0), 0),
    "obj index 2": _op((1, 1), 2),
    "obj none": _op((1,), None),
    "obj list": _op((1, 0), 2),
    "obj map": _op((1, 0), 3),
    "obj float": _op((1, 0), 1.0),
    "obj bool": _op((1, 1), True),
    "obj short": _op((1,), [1]),
    "ref counter +big": _op((2, 0), 10**6),
    "ref counter 0": _op((2, 0), 0),
    "ref index 1": _op((2, 1), 1),
    "ref index -1": _op((2, 1), -1),
    "ref bool": _op((2, 1), False),
    "ref none": _op((2,), None),
    "ref float": lambda top: _op((2, 0), float((top[8][0][2] or [1])[0]))(top),
    "content int": _op((3,), 7),
    "content empty": _op((3,), ""),
    "content list": _op((3,), ["x"]),
    "content big": _op((3,), 10**6),
    "content float": _op((3,), 1.0),
}
SET_MUTATIONS: dict[str, Callable[[list[Any]], None]] = {
    "set action 0.0": _op((0,), 0.0),
    "set action make": _op((0,), 2),
    "set action inc": _op((0,), 6),
    "set obj root": _op((1,), None),
    "set obj text": _op((1,), [1, 0]),  # (ops 1-3 make the text, the list, the map)
    "set obj list": _op((1,), [2, 0]),
    "set obj map": _op((1,), [3, 0]),
    "set obj counter +big": _op((1, 0), 10**6),
    "set obj counter 0": _op((1, 0), 0),
    "set obj index +1": lambda top: _op((1, 1), (top[8][0][1] or [0, 0])[1] + 1)(top),
    "set obj index -1": _op((1, 1), -1),
    "set obj float": _op((1, 0), 3.0),
    "set obj bool": _op((1, 1), False),
    "set obj short": _op((1,), [3]),
    "set key int": _op((2,), 7),
    "set key elem": _op((2,), [1, 0]),
    "set key bytes": _op((2,), b"k"),
    "set key other": _op((2,), "other"),
    "set value int64 max": _op((3,), 2**63 - 1),
    "set value uint64": _op((3,), 2**63),
    "set value int64 min": _op((3,), -(2**63)),
    "set value list": _op((3,), [1]),
    "set value map": _op((3,), {"a": 1}),
    "set value counter": _op((3,), msgpack.ExtType(1, b"\x05")),
    "set value bad counter": _op((3,), msgpack.ExtType(1, b"\xc1")),
    "set value ext 2": _op((3,), msgpack.ExtType(2, b"\x05")),
    "set pred none": _op((4,), []),
    "set pred int": _op((4,), 5),
    "set pred short": lambda top: top[8][0][4].append([1]),
    "set pred twice": lambda top: top[8][0][4].extend(top[8][0][4][:1]),
    "set pred op 1": lambda top: top[8][0][4].append([1, 0]),
    "set pred counter 0": lambda top: top[8][0][4].append([0, 0]),
    "set pred counter -1": lambda top: _pred(top, -1, 0),
    "set pred counter +1": lambda top: _pred(top, 1, 0),
    "set pred this op": lambda top: top[8][0][4].append([top[3], 0]),
    "set pred index +1": lambda top: _pred(top, 0, 1),
    "set pred index -1": lambda top: top[8][0][4].append([1, -1]),
    "set pred float": lambda top: top[8][0][4].append([1.0, 0]),
    "set pred bool": lambda top: top[8][0][4].append([1, False]),
    "set table sorted": lambda top: top[7].reverse(),
    "set table first": lambda top: top[7].insert(0, b"\x00" * 15),
}


def _on_op(k: int, f: Callable[[list[Any]], None]) -> Callable[[list[Any]], None]:
    """A mutation of the first op, aimed at op ``k`` (the last one if there are fewer)."""

    def g(top: list[Any]) -> None:
        view = list(top)
        view[8] = [top[8][min(k, len(top[8]) - 1)]]  # (the op itself: changed in place)
        f(view)

    return g


MAKE_MUTATIONS: dict[str, Callable[[list[Any]], None]] = {
    "make action 2.0": _op((0,), 2.0),
    "make action set": lambda top: top[8].__setitem__(0, [0, None, "w", 1, []]),
    "make obj text": _op((1,), [1, 0]),  # (ops 1-3 made the text, the list, the map)
    "make obj map": _op((1,), [3, 0]),  # (valid: a map)
    "make obj unknown": _op((1,), [10**6, 0]),
    "make obj float": _op((1,), [3.0, 0]),
    "make obj index 1": _op((1,), [3, 1]),
    "make obj index 2": _op((1,), [3, 2]),
    "make obj bool": _op((1,), [3, False]),
    "make obj short": _op((1,), [3]),
    "make key int": _op((2,), 7),
    "make key bytes": _op((2,), b"w"),
    "make key t": _op((2,), "t"),  # (valid: a conflict with the text there)
    "make kind list": _op((3,), 1),
    "make kind map": _op((3,), 0),
    "make kind 2.0": _op((3,), 2.0),
    "make kind 3": _op((3,), 3),
    "make pred": _op((4,), [[1, 0]]),
    "make pred bool": _op((4,), [[1, False]]),
    "make pred int": _op((4,), 1),
    "make text other": lambda top: _op((1,), [top[3] + 1, 0])(_later(top)),
}


def _later(top: list[Any]) -> list[Any]:
    """A view of ``top`` whose first op is its second (changed in place)."""
    view = list(top)
    view[8] = top[8][1:2]
    return view


def _after_makes(j: int, f: Callable[[list[Any]], None]) -> Callable[[list[Any]], None]:
    """A mutation of the first op, aimed at op ``j`` after the change's leading MAKEs
    (``j`` = -1: the last MAKE, the text's)."""

    def g(top: list[Any]) -> None:
        k = next(k for k, op in enumerate(top[8]) if op[0] != 2) + j
        view = list(top)
        view[8] = top[8][k:]
        f(view)
        top[8][k:] = view[8]  # (an op replaced in the view, too)

    return g


LATER_OP_MUTATIONS = {f"{how} (op 2)": _on_op(1, f) for how, f in TEXT_MUTATIONS.items()}
TEXT_MAKE_MUTATIONS = {f"{how} (text's)": _after_makes(-1, f) for how, f in MAKE_MUTATIONS.items()}
NESTED_TEXT_MUTATIONS = {
    **{f"{how} (first text op)": _after_makes(0, f) for how, f in TEXT_MUTATIONS.items()},
    **{f"{how} (second text op)": _after_makes(1, f) for how, f in TEXT_MUTATIONS.items()},
}
LAST_OP_MUTATIONS = {f"{how} (last op)": _on_op(10**6, f) for how, f in TEXT_MUTATIONS.items()}
MUTATIONS = {
    **HEADER_MUTATIONS,
    **TEXT_MUTATIONS,
    **SET_MUTATIONS,
    **LATER_OP_MUTATIONS,
    **LAST_OP_MUTATIONS,
    **MAKE_MUTATIONS,
    **TEXT_MAKE_MUTATIONS,
    **NESTED_TEXT_MUTATIONS,
}


def _pred(top: list[Any], dc: int, di: int) -> None:
    """Bend the counter or actor index of a SET's first pred (or of a new one naming its
    object, if it has none)."""
    preds = top[8][0][4]
    if not preds:
        preds.append(list(top[8][0][1] or [1, 0]))
    preds[0] = [preds[0][0] + dc, preds[0][1] + di]


def _damage(raw: bytes, how: str) -> bytes:
    top = msgpack.unpackb(raw)
    MUTATIONS[how](top)
    try:
        return msgpack.packb(top)
    except (OverflowError, ValueError):  # pragma: no cover - every mutation packs
        return raw


RAW_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda r: r[:-1],
    "extra byte": lambda r: r + b"\x00",
    "not msgpack": lambda r: b"\xc1" + r[1:],
    "bytearray": lambda r: bytearray(r),  # type: ignore[arg-type,return-value]
    # the same value, wider than canonical: seq as uint32 instead of its shortest form
    "non-canonical seq": lambda r: _widen_seq(r),
    "non-canonical ref": lambda r: _widen_ref(r),  # (in the ops: no grammar tests them)
    "non-canonical ops array": lambda r: _widen_ops(r),
}


def _widen_ops(raw: bytes) -> bytes:
    """The ops array's length one width wider than its shortest form."""
    top = msgpack.unpackb(raw)
    n = len(top[8])
    wide = b"\xdc" + n.to_bytes(2, "big") if n < 16 else b"\xdd" + n.to_bytes(4, "big")
    return b"\x99" + msgpack.packb(top[:8])[1:] + wide + msgpack.packb(top[8])[1 if n < 16 else 3 :]


def _widen_ref(raw: bytes) -> bytes:
    """The ref counter of the first op that has one as a uint 16 instead of its shortest
    form."""
    top = msgpack.unpackb(raw)
    ops = top[8]
    k = next((k for k, op in enumerate(ops) if len(op) == 4 and type(op[2]) is list), None)
    if k is None:
        return raw  # pragma: no cover - every change of the text shapes has one
    op = ops[k]
    pk = msgpack.packb
    ref = b"\x92\xcd" + op[2][0].to_bytes(2, "big") + pk(op[2][1])
    widened = b"\x94" + pk(op[0]) + pk(op[1]) + ref + pk(op[3])
    head = bytes([0x90 + len(ops)]) if len(ops) < 16 else b"\xdc" + len(ops).to_bytes(2, "big")
    body = b"".join(widened if i == k else pk(o) for i, o in enumerate(ops))
    return b"\x99" + pk(top[:8])[1:] + head + body


def _widen_seq(raw: bytes) -> bytes:
    top = msgpack.unpackb(raw)
    seq = top[2]
    head = msgpack.packb(top[:2])[1:]  # fields 0-1, without the array header
    tail = b"".join(msgpack.packb(x) for x in top[3:])
    return b"\x99" + head + b"\xce" + seq.to_bytes(4, "big") + tail


DAMAGES: dict[str, tuple[Callable[[bytes], bool], float, str | None, list[str]]] = {
    # kind -> (the shape of the change damaged, the share of map edits, whether the first
    # edit types a text whole, the damages)
    "text": (
        _typing,
        0.1,
        None,
        sorted(HEADER_MUTATIONS) + sorted(TEXT_MUTATIONS) + sorted(RAW_DAMAGE),
    ),
    "text ops": (
        _text_ops,
        0.1,
        None,
        sorted(HEADER_MUTATIONS)
        + sorted(TEXT_MUTATIONS)
        + sorted(LATER_OP_MUTATIONS)
        + sorted(RAW_DAMAGE),
    ),
    "typed whole": (
        _filling,
        0.1,
        "typed",
        sorted(HEADER_MUTATIONS)
        + sorted(TEXT_MUTATIONS)
        + sorted(LATER_OP_MUTATIONS)
        + sorted(LAST_OP_MUTATIONS)
        + sorted(RAW_DAMAGE),
    ),
    "made whole": (
        _filling,
        0.1,
        "made",
        sorted(HEADER_MUTATIONS)
        + sorted(MAKE_MUTATIONS)
        + sorted(LATER_OP_MUTATIONS)
        + sorted(LAST_OP_MUTATIONS)
        + sorted(RAW_DAMAGE),
    ),
    "made nested": (
        _filling,
        0.1,
        "nested",
        sorted(HEADER_MUTATIONS)
        + sorted(MAKE_MUTATIONS)  # (of the first map it makes)
        + sorted(TEXT_MAKE_MUTATIONS)
        + sorted(NESTED_TEXT_MUTATIONS)
        + sorted(LAST_OP_MUTATIONS)
        + sorted(RAW_DAMAGE),
    ),
    "map write": (
        _setting,
        0.7,
        None,
        sorted(HEADER_MUTATIONS) + sorted(SET_MUTATIONS) + sorted(RAW_DAMAGE),
    ),
}


@pytest.mark.parametrize("kind", sorted(DAMAGES))
@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(2, 40),
    mode=st.sampled_from(MODES),
    at=st.floats(0, 1),
    data=st.data(),
)
def test_damaged_changes_fail_the_same(
    kind: str, seed: int, n: int, mode: str, at: float, data: st.DataObject
) -> None:
    """One change of a shape the fast path takes (one INS or REM of text, several text ops,
    a text typed whole, or one SET of a scalar at a map key), damaged in one field."""
    shape, maps, whole, hows = DAMAGES[kind]
    how = data.draw(st.sampled_from(hows), label="how")
    observed = data.draw(st.booleans(), label="observed")
    _damaged_one(_history(seed, n, mode, maps, whole), shape, at, how, observed)


@pytest.mark.parametrize(
    ("kind", "how"), [(kind, how) for kind, (_, _, _, hows) in DAMAGES.items() for how in hows]
)
def test_every_damage_once(kind: str, how: str) -> None:
    """Each damage of each kind at least once (the property test above draws them at
    random): on the first change of the shape in a fixed history, with an observer on the
    document and without."""
    shape, maps, whole, _ = DAMAGES[kind]
    changes = _history(5, 30, "maker", maps, whole)
    assert any(shape(raw) for raw in changes[SETUP:])
    for observed in (False, True):
        _damaged_one(changes, shape, 0.0, how, observed)


def _damaged_one(
    changes: list[bytes],
    shape: Callable[[bytes], bool],
    at: float,
    how: str,
    observed: bool = False,
) -> None:
    typing = [i for i in range(SETUP, len(changes)) if shape(changes[i])]
    if not typing:
        return
    i = typing[int(at * (len(typing) - 1))]
    raw = changes[i]
    bad = RAW_DAMAGE[how](raw) if how in RAW_DAMAGE else _damage(raw, how)
    mp = pytest.MonkeyPatch()
    try:
        _same([*changes[:i], bad, *changes[i + 1 :]], mp, observed)
    finally:
        mp.undo()


@pytest.mark.parametrize("kind", sorted(DAMAGES))
@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(6, 40),
    mode=st.sampled_from(MODES),
    at=st.floats(0, 1),
    data=st.data(),
)
def test_damaged_changes_after_a_snapshot_fail_the_same(
    kind: str, seed: int, n: int, mode: str, at: float, data: st.DataObject
) -> None:
    """As above, in a document loaded from a snapshot or lazily from a saved file: one
    change after the cut, of a shape the fast path takes, damaged in one field."""
    load = data.draw(st.sampled_from(("snapshot", "saved")), label="load")
    shape, maps, whole, hows = DAMAGES[kind]
    how = data.draw(st.sampled_from(hows), label="how")
    changes = _history(seed, n, mode, maps, whole)
    past = _pasts(changes)
    cut = data.draw(st.integers(SETUP, len(changes) - 1), label="cut")
    rest = _descendants_of_cut(changes, cut, past)
    hit = [k for k, raw in enumerate(rest) if shape(raw)]
    if not hit:
        return
    k = hit[int(at * (len(hit) - 1))]
    raw = rest[k]
    rest[k] = RAW_DAMAGE[how](raw) if how in RAW_DAMAGE else _damage(raw, how)
    observed = data.draw(st.booleans(), label="observed")
    _same_after_cut(changes[:cut] + rest, cut, load, observed)


A = b"\x0a" * 16
B = b"\x0b" * 16
C = b"\x0c" * 16


def _one_op_change(table: list[bytes], op: list[Any], author: bytes = A) -> list[bytes]:
    """A history whose last change is hand-made: ``author`` (A made the text "ab", op 1
    to 3, and a map, op 4) makes ``op`` as op 5 under actor ``table``, re-encoded
    canonically."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    t = a.root.make_text("t")  # op 1
    t.insert(0, "ab")  # ops 2, 3
    a.root.make_map("m")  # op 4
    good = a.fork(A)
    good.root["t"].insert(2, "c")  # op 5, ref (3, A)
    raw = good.get_changes(a.heads)[0]
    top = msgpack.unpackb(raw)
    top[1] = author
    if author != A:
        top[2] = 1  # its first change
    top[7] = table
    top[8] = [op]
    return [*a.get_changes(), msgpack.packb(top)]


@pytest.mark.parametrize(
    "table, op, author, ok",
    [
        ([], [3, [1, 0], [3, 0], "c"], A, True),
        ([], [3, [1, 0], [3, 0], "c" * 2000], A, True),  # too long for the fast path
        ([A], [3, [1, 1], [3, 1], "c"], A, False),  # the author in its own table
        ([A], [3, [1, 0], [3, 1], "c"], A, False),
        ([b"\x0b" * 16], [3, [1, 0], [3, 0], "c"], A, False),  # naming no op's actor
        ([b"\x0b" * 16, b"\x0c" * 16], [3, [1, 0], [3, 0], "c"], A, False),
        ([A, C], [3, [1, 1], [3, 1], "c"], B, False),  # C named by no id
        ([], [3, [1, 1], [3, 0], "c"], A, False),  # actor 1 with no table
        ([], [3, [1, 0], [3, 1], "c"], A, False),
        ([], [5, [1, 0], [2, 0], 2], A, True),  # REM of "ab"
        ([], [5, [1, 0], [2, 0], 3], A, False),  # an element that is not a text's
        ([], [5, [1, 0], [3, 0], 2**63], A, False),
        ([], [3, [1, 0], [5, 0], "c"], A, False),  # ref to the element this op makes
        ([], [3, [1, 0], [3, 0], ""], A, False),
        ([], [3, [1.0, 0], [3, 0], "c"], A, False),
        ([], [3, [1, 0], [3.0, 0], "c"], A, False),
        ([], [5, [1, 0], [2, 0], 2.0], A, False),
        ([], [3, [1, 0], [3, False], "c"], A, False),
        ([], [3, [4, 0], [3, 0], "c"], A, False),  # into the map
        ([], [5, [4, 0], [3, 0], 1], A, False),
        ([A], [3, [1, 1], [3, 1], "c"], b"\x0b" * 16, True),  # a new author
        ([A], [3, [1, 2], [3, 1], "c"], b"\x0b" * 16, False),  # no actor 2
        ([A], [3, [1, 1], [3, 2], "c"], b"\x0b" * 16, False),
        ([A], [3, [1, 1], [3, 1], "c"], b"", False),
        ([A], [3, [1, 1], [3, 1], "c"], b"\x0b" * 65, False),
        ([A], [3, [1, 1], [3, 1], "c"], "b", False),
    ],
)
def test_hand_made_one_op_changes(
    table: list[bytes], op: list[Any], author: bytes, ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = _one_op_change(table, op, author)
    d1, a1, e1 = _apply(changes, True, monkeypatch, setup=3)
    d2, a2, e2 = _apply(changes, False, monkeypatch, setup=3)
    assert e1 == e2 and a1 == a2 and d1.to_py() == d2.to_py()
    assert (e1 is None) is ok, e1


@pytest.mark.parametrize(
    "table, ops, author, ok",
    [
        ([], [[3, [1, 0], [3, 0], "c"], [5, [1, 0], [2, 0], 1]], A, True),  # "a" typed over
        ([], [[5, [1, 0], [2, 0], 2], [3, [1, 0], [2, 0], "xy"]], A, True),
        ([], [[3, [1, 0], [2, 0], "c"], [3, [1, 0], [2, 0], "d"]], A, True),  # one ref, twice
        ([], [[5, [1, 0], [2, 0], 1], [5, [1, 0], [2, 0], 1]], A, True),  # deleted twice
        ([], [[3, [1, 0], [3, 0], "c"], [3, [1, 0], [5, 0], "d"]], A, True),  # ref: op 5
        ([], [[3, [1, 0], [3, 0], "c"], [5, [1, 0], [5, 0], 1]], A, True),  # removes op 5
        ([], [[3, [1, 0], [3, 0], "c"], [3, [1, 0], [6, 0], "d"]], A, False),  # op 6 itself
        ([], [[3, [1, 0], [3, 0], "cd"], [5, [1, 0], [6, 0], 1]], A, True),  # "d", op 6
        ([], [[3, [1, 0], [3, 0], "cd"], [5, [1, 0], [5, 0], 3]], A, False),  # and op 7
        ([], [[3, [1, 0], [3, 0], "c"], [3, [1, 0], [5, 0], "d"], [5, [1, 0], [5, 0], 2]], A, True),
        ([], [[5, [1, 0], [2, 0], 1], [3, [1, 0], [3, 0], "c"], [5, [1, 0], [5, 0], 1]], A, False),
        (
            [],
            [[3, [1, 0], [3, 0], "cd"], [5, [1, 0], [5, 0], 2], [3, [1, 0], [6, 0], "e"]],
            A,
            True,
        ),
        (
            [],
            [[3, [1, 0], [3, 0], "cd"], [5, [1, 0], [5, 0], 2], [3, [1, 0], [7, 0], "e"]],
            A,
            False,
        ),
        ([], [[3, [1, 0], [3, 0], "c"], [3, [1, 0], [9, 0], "d"]], A, False),  # not yet made
        ([], [[3, [1, 0], [3, 0], "c"], [5, [1, 0], [3, 0], 3]], A, False),  # "b", map, "c"
        ([], [[3, [1, 0], [3, 0], "c"], [5, [1, 0], [3, 0], 2]], A, False),  # to op 4: a map
        ([], [[5, [1, 0], [2, 0], 1], [3, [4, 0], [2, 0], "c"]], A, False),  # into the map
        ([], [[5, [1, 0], [2, 0], 1], [3, [1, 0], [2, 0], ["c"]]], A, False),  # a list's
        ([], [[5, [1, 0], [2, 0], 1], [3, [1, 0], [2, 0], ""]], A, False),
        ([], [[5, [4, 0], [2, 0], 1], [5, [4, 0], [3, 0], 1]], A, False),  # on the map
        ([], [[5, [1, 0], [2, 0], 1], [5, [1, 0], [2, 0], 0]], A, False),
        ([], [[5, [1, 0], [2, 0], 1], [5, [1, 0], [2, 0], True]], A, False),
        ([], [[5, [1, 0], [2, 0], 1], [6, [1, 0], [2, 0], 1]], A, False),  # an INC
        ([], [[5, [1, 0], [2, 0], 1], [5.0, [1, 0], [2, 0], 1]], A, False),
        ([], [[5, [1, 0], [2, 0], 1], [5, [1, 0], [2, 0]]], A, False),
        ([], [[5, [1, 0], [2, 0], 1], [5, [1], [2, 0], 1]], A, False),
        ([], [[5, [1, 0], [2, 0], 1], [5, [1.0, 0], [2, 0], 1]], A, False),
        ([], [[5, [1, 0], [2, 0], 1], [5, [1, False], [2, 0], 1]], A, False),
        ([], [[5, [1, 0], [2, 0], 1], [5, [1, 0], [2.0, 0], 1]], A, False),
        ([], [[5, [1, 0], [2, 0], 1], [5, [1, 0], [2, False], 1]], A, False),
        ([], [[5, [1, 0], [2, 0], 1], [5, [1, 0], [2], 1]], A, False),
        ([], [[5, [1, 0], [2, 0], 1], [5, [1, 0], None, 1]], A, False),
        ([], [[5, [1, 0], [2, 0], 1], 5], A, False),
        ([], [5, [[5, [1, 0], [2, 0], 1]]], A, False),
        ([], [[5, [1], [2, 0], 1], [5, [1, 0], [2, 0], 1]], A, False),
        ([], [[5, None, [2, 0], 1], [5, [1, 0], [2, 0], 1]], A, False),
        ([], [[5, [1.0, 0], [2, 0], 1], [5, [1, 0], [2, 0], 1]], A, False),
        ([], [[5, [1, 1], [2, 0], 1], [5, [1, 0], [2, 0], 1]], A, False),  # no actor 1
        ([A], [[5, [1, 1], [2, 1], 1], [3, [1, 1], [3, 1], "c"]], B, True),  # a new author
        ([A], [[5, [1, 1], [2, 1], 1], [3, [1, 1], [3, 1], "c"]], A, False),  # in its table
        ([A], [[5, [1, 1], [2, 1], 1], [3, [1, 1], [3, 2], "c"]], B, False),  # no actor 2
        ([B], [[5, [1, 0], [2, 0], 1], [3, [1, 0], [3, 0], "c"]], A, False),  # B named by none
        ([A, C], [[5, [1, 1], [2, 1], 1], [3, [1, 1], [3, 1], "c"]], B, False),
    ],
)
def test_hand_made_changes_of_text_ops(
    table: list[bytes], ops: list[Any], author: bytes, ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changes of several INS and REM ops (the fast path's other text shape), each damaged
    in one field of one op or of the table, and ops naming elements the change itself
    makes (from op 5 on: an earlier INS's, or not): both paths agree, and the valid ones
    go the fast way."""
    changes = _one_op_change(table, ops[0], author)
    top = msgpack.unpackb(changes[-1])
    top[8] = ops
    changes[-1] = msgpack.packb(top)
    _, e1, taken = _both_ways(changes, 3, monkeypatch)
    assert (e1 is None) is ok, e1
    assert (len(taken[-1]) == 1) is ok


def test_text_ops_naming_another_author_by_a_ref_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A's change of several text ops whose only id naming B (the table's one actor) is
    a ref: valid, and taken the fast way."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.root.make_text("t").insert(0, "ab")  # ops 1-3
    b = a.fork(B)
    b.root["t"].insert(2, "xy")  # ops 4, 5 by B
    a.merge(b)
    with a.transaction():
        a.root["t"].delete(3, 1)  # B's "y": REM [5, B]
        a.root["t"].insert(0, "c")  # after nothing: a ref of None would not do
    top = msgpack.unpackb(a.get_changes()[-1])
    top[8] = [top[8][0], [3, [1, 0], [2, 0], "c"]]  # (the INS after A's "a")
    assert top[7] == [B] and top[8][0][2] == [5, 1]
    changes = [*a.get_changes()[:-1], msgpack.packb(top)]
    d1, e1, taken = _both_ways(changes, 2, monkeypatch)
    assert e1 is None
    assert str(d1.root["t"]) == "acbx"
    assert taken[-1] == range(0, 2)  # (B's change, then this one: both the fast way)


def _two_others_change(table: list[bytes], ops: list[Any], author: bytes) -> list[bytes]:
    """A history whose last change is hand-made: A made the text "ab" (ops 1 to 3), then
    A typed "c" before it (op 4) as B typed "xy" after it (ops 4, 5), and ``author``
    makes ``ops`` from op 6 on both (two deps, the heads) under actor ``table``: as C
    typing after B's "y", its table holds A (the text's maker) and B."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.root.make_text("t").insert(0, "ab")
    b = a.fork(B)
    b.root["t"].insert(2, "xy")
    a.root["t"].insert(0, "c")
    a.merge(b)
    good = a.fork(C)
    good.root["t"].insert(5, "z")
    top = msgpack.unpackb(good.get_changes(a.heads)[0])
    assert len(top[6]) == 2 and top[7] == [A, B] and top[8] == [[3, [1, 1], [5, 2], "z"]]
    top[1] = author
    top[2] = {A: 4, B: 2}.get(author, 1)  # (the author's next seq: only the table is wrong)
    top[7] = table
    top[8] = ops
    return [*a.get_changes(), msgpack.packb(top)]


@pytest.mark.parametrize(
    "table, ops, author, ok",
    [
        ([A, B], [[3, [1, 1], [5, 2], "z"]], C, True),  # after B's "y"
        ([A, B], [[5, [1, 1], [4, 2], 2]], C, True),  # B's "xy" deleted
        ([A, B], [[5, [1, 1], [2, 1], 2]], C, False),  # B named by no id
        ([A, B], [[3, [1, 2], [5, 1], "z"]], C, False),  # (1, B) is no text
        ([A, B], [[3, [1, 1], [3, 1], "z"]], C, False),
        ([A, B], [[3, [1, 0], [5, 2], "z"]], C, False),  # A named by no id
        ([A, B], [[3, [1, 1], [5, 0], "z"]], C, False),
        ([B, A], [[3, [1, 2], [5, 1], "z"]], C, False),  # the table not sorted
        ([A, B], [[3, [1, 1], [5, 2], "z"]], A, False),  # the author in its table
        ([A, B], [[3, [1, 1], [5, 2], "z"]], B, False),
        ([A, B], [[5, [1, 1], [4, 2], 3]], C, False),  # past B's last element
        ([A, B], [[3, [1, 1], [5, 2], "z"], [5, [1, 1], [2, 1], 1]], C, True),  # and A's "a"
        ([A, B], [[3, [1, 1], [5, 2], "z"], [3, [1, 1], [6, 0], "w"]], C, True),  # after "z"
        ([A, B], [[3, [1, 1], [5, 2], "z"], [5, [1, 1], [6, 0], 1]], C, True),  # "z" deleted
        ([A, B], [[3, [1, 1], [5, 2], "z"], [5, [1, 1], [6, 0], 2]], C, False),  # and op 7
        ([A, B], [[3, [1, 1], [5, 2], "z"], [3, [1, 1], [7, 0], "w"]], C, False),
        ([A, B], [[3, [1, 1], [5, 2], "z"], [3, [1, 1], [6, 2], "w"]], C, False),  # B's op 6
        ([A, B], [[3, [1, 1], [5, 2], "z"], [5, [1, 1], [6, 2], 1]], C, False),
        ([A, B], [[3, [1, 1], [3, 1], "z"], [5, [1, 1], [2, 1], 1]], C, False),  # no B
        ([B, A], [[3, [1, 2], [5, 1], "z"], [5, [1, 2], [2, 2], 1]], C, False),
        ([A, B], [[3, [1, 1], [5, 2], "z"], [5, [1, 1], [2, 1], 1]], A, False),
    ],
)
def test_hand_made_changes_naming_two_others(
    table: list[bytes], ops: list[Any], author: bytes, ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text changes whose ids name two actors besides the author (one op, or several),
    made after a merge: both paths agree, and the valid ones go the fast way."""
    changes = _two_others_change(table, ops, author)
    _, e1, taken = _both_ways(changes, len(changes) - 1, monkeypatch)
    assert (e1 is None) is ok, e1
    assert (len(taken[-1]) == 1) is ok


@pytest.mark.parametrize(
    "ops, ok",
    [
        ([[3, [4, 2], [7, 1], "z"]], True),  # into B's text "u", after A's "q"
        ([[3, [4, 2], [7, 1], "z"], [5, [4, 2], [5, 2], 1]], True),  # and B's "x" deleted
        ([[3, [4, 1], [7, 2], "z"]], False),  # (4, A) is no text, (7, B) no element
        ([[3, [4, 2], [7, 2], "z"]], False),  # A named by no id
    ],
)
def test_two_others_the_other_way_round(
    ops: list[Any], ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C's text ops into a text B made (the table's second actor), after an element A
    typed in it (the first): the object named by index 2, the ref by index 1."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.root.make_text("t").insert(0, "ab")  # ops 1-3
    b = a.fork(B)
    b.root.make_text("u").insert(0, "xy")  # ops 4-6 by B
    a.merge(b)
    a.root["u"].insert(1, "q")  # op 7 by A, after B's "x"
    c = a.fork(C)
    c.root["u"].insert(2, "z")  # op 8 by C, after A's "q"
    top = msgpack.unpackb(c.get_changes(a.heads)[0])
    assert top[7] == [A, B] and top[8] == [[3, [4, 2], [7, 1], "z"]]
    top[8] = ops
    changes = [*a.get_changes(), msgpack.packb(top)]
    d1, e1, taken = _both_ways(changes, len(changes) - 1, monkeypatch)
    assert (e1 is None) is ok, e1
    assert (len(taken[-1]) == 1) is ok
    if ok:
        assert "qz" in str(d1.root["u"])


def test_text_ops_on_deps_that_are_not_heads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changes of several text ops made after a merge, on all the heads or on deps behind
    them (a peer that saw less), naming elements in their past, outside it, or their own:
    both paths agree, the causality check decides, and the valid ones go the fast way."""
    a, b, c, d, cut = _a_peer_that_saw_less()
    with d.transaction():  # D1: ops 5 and 6, deps A1 and B1 (its ops are written below)
        d.root["t"].insert(3, "q")
        d.root["t"].delete(0, 1)
    a1, a2 = a.get_changes(cut)
    (b1,) = b.get_changes(cut)
    (d1,) = [x for x in d.get_changes(cut) if x not in (a1, b1)]
    top = msgpack.unpackb(d1)
    assert len(top[6]) == 2 and top[3] == 5
    ins = [3, [1, 1], [4, 1], "q"]  # after A1's "p"
    rem = [5, [1, 1], [2, 1], 1]  # A's "a"
    top[7:] = [[A], [ins, rem]]
    d1 = msgpack.packb(top)

    def with_ops(*ops: list[Any]) -> bytes:
        return msgpack.packb([*top[:8], list(ops)])  # type: ignore[no-any-return]

    def with_c(*ops: list[Any]) -> bytes:  # (C named too)
        return msgpack.packb([*top[:7], [A, C], list(ops)])  # type: ignore[no-any-return]

    c.root["t"].insert(0, "w")  # C1: op 4 by C, which D1 has not seen
    (c1,) = c.get_changes(cut)
    w = [3, ins[1], [4, 2], "q"]  # after C1's "w", not in D1's past
    y = [3, ins[1], [5, 1], "q"]  # after A2's "y": not in D1's past, and too new for it
    own = [3, ins[1], [5, 0], "r"]  # after its own "q"
    setup = a.get_changes()[:1]
    cases = [
        ("on all the heads", [a1, b1, d1], True),
        ("behind the heads", [a1, a2, b1, d1], True),
        ("an element outside the past", [a1, a2, c1, b1, with_c(w, rem)], False),
        ("an element outside the past, second", [a1, a2, c1, b1, with_c(ins, w)], False),
        (
            "an element outside the past, removed",
            [a1, a2, c1, b1, with_c(ins, [5, *w[1:3], 1])],
            False,
        ),
        ("an element too new", [a1, a2, b1, with_ops(ins, y)], False),
        ("its own element", [a1, a2, b1, with_ops(ins, own)], True),
        ("its own element removed", [a1, a2, b1, with_ops(ins, [5, ins[1], [5, 0], 1])], True),
        ("A2's element removed", [a1, a2, b1, with_ops(ins, [5, ins[1], [5, 1], 1])], False),
        ("deps not sorted", [a1, b1, msgpack.packb([*top[:6], top[6][::-1], *top[7:]])], False),
    ]
    for name, tail, ok in cases:
        changes = [*setup, *tail]
        _, e1, taken = _both_ways(changes, 1, monkeypatch)
        assert (e1 is None) is ok, (name, e1)
        assert (len(tail) - 1 in set().union(*taken)) is ok, name
        if name.startswith("an element outside"):
            assert e1 is not None and "causal past" in e1[1], name


def test_texts_typed_whole_on_deps_that_are_not_heads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text typed whole, or made and typed whole, by a peer that saw less (its dep is not
    every head): the causality check decides, on the general path, whether the text, or
    the map it is made in, is in the change's past."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.root.make_text("t")  # A1: op 1
    c = a.fork(C)
    c.root.make_text("u")  # C1: op 2, an empty text D has not seen
    c2 = a.fork(C)
    c2.root.make_map("m")  # C1': op 2, a map D has not seen
    cut = a.heads
    a.root.make_map("x")  # A2: op 2
    a.root.make_map("y")  # A3: op 3; D makes op 4 on it
    (c1,) = c.get_changes(cut)
    (c1m,) = c2.get_changes(cut)
    a_all = a.get_changes()

    def d_change(table: list[bytes], ops: list[Any]) -> bytes:
        top = [1, b"\x0d" * 16, 1, 4, 0, None, [a.heads[0]], table, ops]
        return msgpack.packb(top)  # type: ignore[no-any-return]

    def typed(obj: list[int], at: int) -> list[Any]:  # "abcd" typed whole from op ``at``
        return [[3, obj, None, "a"]] + [[3, obj, [at + k, 0], "bcd"[k]] for k in range(3)]

    made = [[2, [2, 1], "w", 2, []], *typed([4, 0], 5)]
    cases = [
        ("into A's text", [c1, d_change([A], typed([1, 1], 4))], True),
        ("into C's text, outside the past", [c1, d_change([C], typed([2, 1], 4))], False),
        ("made in C's map, outside the past", [c1m, d_change([C], made)], False),
    ]
    for name, tail, ok in cases:
        changes = [*a_all, *tail]
        _, e1, _ = _both_ways(changes, len(a_all), monkeypatch)
        assert (e1 is None) is ok, (name, e1)
        if not ok:
            assert e1 is not None and "causal past" in e1[1], (name, e1)


def test_text_ops_after_a_typing_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A change of several text ops right after a peer's keystrokes that continue a run
    (their text waits to extend the run in one go): the waiting text goes into the run
    first, so inserts after elements before it land where the general path puts them; and
    if the change waits for a dep, the next counter is still past the typed text."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.root.make_text("t").insert(0, "ab")  # ops 1-3, two changes
    for ch in "cdef":
        a.root["t"].insert(len(a.root["t"]), ch)  # ops 4-7, a change each
    b = a.fork(B)
    with b.transaction():
        b.root["t"].insert(2, "Q")  # after A's "b", the element before the typed run
        b.root["t"].insert(1, "P")  # after A's "a"
    (bq,) = b.get_changes(a.heads)
    top = msgpack.unpackb(bq)
    assert len(top[8]) == 2 and top[6] == a.heads
    lone = msgpack.packb([*top[:6], [b"\x01" * 32], *top[7:]])  # on a dep nobody has
    for tail, text in (([bq], "aPbQcdef"), ([lone], "abcdef")):
        changes = [*a.get_changes(), *tail]
        d1, e1, taken = _both_ways(changes, 2, monkeypatch)
        assert e1 is None and str(d1.root["t"]) == text
        assert taken[-1] == (range(0, 5) if text != "abcdef" else range(0, 4))
        assert d1._max_op == 7 + (text != "abcdef") * 2


def test_a_second_change_on_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two peers that each began a document of their own, merged: the second's first
    change is on nothing too, but not the document's first, so nothing of the document is
    in its past (the general path's to record)."""
    docs = []
    for actor, key in ((A, "w"), (B, "v")):
        d = Doc(actor, clock=lambda: 0, merge_interval=None)
        with d.transaction():
            t = d.root.make_text(key)
            for ch in "abcd":
                t.insert(0, ch)  # (an op each: a text made and typed whole)
        docs.append(d)
    changes = [*docs[0].get_changes(), *docs[1].get_changes()]
    assert all(msgpack.unpackb(raw)[6] == [] for raw in changes)
    d1, e1, taken = _both_ways(changes, 0, monkeypatch)  # (in one batch)
    assert e1 is None and d1.to_py() == {"w": "dcba", "v": "dcba"}
    assert 0 in set().union(*taken) and 1 not in set().union(*taken)


def _whole_change(table: list[bytes], ops: list[Any], author: bytes) -> list[bytes]:
    """A history whose last change is hand-made: A made an empty text (op 1) and a map (op
    2); ``author`` then makes ``ops`` from op 3 under actor ``table``."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.root.make_text("t")
    a.root.make_map("m")
    top = [1, author, 1 if author != A else 3, 3, 0, None, a.heads, table, ops]
    return [*a.get_changes(), msgpack.packb(top)]


# ops from counter 3 on the text [1, 0] (A's): "abc" at 3-5, "d" after "b" at 6, a remove
# of "c" at 7, "e" at the head at 8
WHOLE = [
    [3, [1, 0], None, "abc"],
    [3, [1, 0], [4, 0], "d"],
    [5, [1, 0], [5, 0], 1],
    [3, [1, 0], None, "e"],
]


def _bend(k: int, i: int, value: Any) -> list[Any]:
    ops = [list(op) for op in WHOLE]
    ops[k][i] = value
    return ops


@pytest.mark.parametrize(
    "table, ops, author, ok",
    [
        ([], WHOLE, A, True),
        ([A], [[a, [1, 1], r and [r[0], 0], x] for a, _, r, x in WHOLE], B, True),  # B types
        ([], WHOLE + [[3, [1, 0], [8, 0], "f"]] * 30, A, True),  # (array 16)
        ([], WHOLE[:3], A, True),  # too few to fill: the general path
        ([], [*WHOLE, [0, None, "k", 1, []]], A, True),  # then a map write: general
        ([], [*WHOLE, [3, [2, 0], None, "x"]], A, False),  # then an insert into the map
        ([], _bend(1, 2, [5, 0]), A, True),  # after "c"
        ([], _bend(1, 2, [6, 0]), A, False),  # after itself
        ([], _bend(1, 2, [2, 0]), A, False),  # after the map
        ([], _bend(1, 2, [1, 0]), A, False),  # after the text
        ([], _bend(1, 2, [4, 1]), A, False),  # no actor 1
        ([A], _bend(1, 2, [4, 1]), B, False),  # B's own "b" named as A's
        ([], _bend(1, 2, [4.0, 0]), A, False),
        ([], _bend(1, 2, [4, False]), A, False),
        ([], _bend(1, 2, [4]), A, False),
        ([], _bend(1, 2, {4: 0, 0: 0}), A, False),
        ([], _bend(1, 2, "ab"), A, False),
        ([], _bend(1, 2, b"\x04\x00"), A, False),  # (unpacks as two ints, 4 and 0)
        ([], _bend(1, 3, ""), A, False),
        ([], _bend(1, 3, ["d"]), A, False),
        ([], _bend(1, 3, 1), A, False),
        ([], _bend(1, 1, [1.0, 0]), A, False),
        ([], _bend(1, 1, [1, False]), A, False),
        ([], _bend(1, 1, [2, 0]), A, False),  # into the map
        ([], _bend(1, 0, 3.0), A, False),
        ([], _bend(1, 0, 4), A, False),
        ([], _bend(2, 2, [3, 0]), A, True),  # removes "a"
        ([], _bend(2, 3, 2), A, True),  # removes "c" and the "d" after it (counters 5, 6)
        ([], _bend(2, 3, 3), A, False),  # and counter 7: the remove itself
        ([], _bend(2, 3, 0), A, False),
        ([], _bend(2, 3, True), A, False),
        ([], _bend(2, 3, 1.0), A, False),
        ([], _bend(2, 2, [2, 0]), A, False),  # the map
        ([], _bend(2, 2, [5, 1]), A, False),
        ([], _bend(2, 2, [5.0, 0]), A, False),
        ([], _bend(2, 2, None), A, False),
        ([], _bend(2, 2, {5: 0, 0: 0}), A, False),
        ([], _bend(2, 2, "ab"), A, False),
        ([], _bend(2, 2, b"\x05\x00"), A, False),
        ([], [*WHOLE, [5, [1, 0], [7, 0], 1]], A, False),  # from the remove's counter
        ([], [*WHOLE, [5, [1, 0], [2, 0], 2]], A, False),  # from the map's
        ([], _bend(3, 2, [7, 0]), A, False),  # after the remove's counter
        ([], _bend(0, 2, [3, 0]), A, False),  # the first after itself
        ([], [WHOLE[2], *WHOLE], A, False),  # a remove first
        ([], [WHOLE[0], WHOLE[1], 5, WHOLE[3]], A, False),
        ([], [WHOLE[0], WHOLE[1], WHOLE[2][:3], WHOLE[3]], A, False),
        ([B], WHOLE, A, False),  # B named by none
    ],
)
def test_hand_made_texts_typed_whole(
    table: list[bytes], ops: list[Any], author: bytes, ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changes typing an empty text whole (the fast path fills it at once), each damaged in
    one field of one op or of the table, and some valid ones it leaves to the general
    path: both paths agree, and the valid ones it can take go the fast way."""
    changes = _whole_change(table, ops, author)
    d1, e1, taken = _both_ways(changes, 2, monkeypatch)
    assert (e1 is None) is ok, e1
    if ok and ops is WHOLE:
        assert str(d1.root["t"]) == "eabd"
    fills = ok and len(ops) >= 4 and all(op[0] in (3, 5) and op[1] == ops[0][1] for op in ops)
    assert (len(taken[-1]) == 1) is fills


def test_a_text_typed_whole_is_filled_the_fast_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a vacuous comparison: in every mode, the change typing the text whole goes the
    fast way, and is filled."""
    import crdt.fastpath as fastpath_mod

    filled: list[int] = []
    real = fastpath_mod.fill

    def counting(sq: Any, plan: Any, actor: bytes) -> None:
        filled.append(plan.took)
        real(sq, plan, actor)

    monkeypatch.setattr(fastpath_mod, "fill", counting)
    taken = _record_taken(monkeypatch)
    for mode, whole in [(m, w) for m in MODES for w in ("typed", "made", "nested")]:
        changes = _history(5, 40, mode, whole=whole)
        (k,) = [k for k, raw in enumerate(changes) if _filling(raw)]
        filled.clear()
        taken.clear()
        Doc().apply_changes(changes)
        assert any(k in r for r in taken) and len(filled) == 1, mode
        ops = msgpack.unpackb(changes[k])[8]
        makes = sum(op[0] == 2 for op in ops)  # (the MAKEs first, if it makes it)
        assert makes == {"typed": 0, "made": 1, "nested": makes}[whole] and makes < 4
        assert filled[0] == len(ops) - makes


def _first_change_history(seed: int, make: str = "made") -> list[bytes]:
    """A document's history whose first change makes a text (at the root, or in maps it
    makes: ``make`` as :func:`_typed_whole` takes it) and types it whole (no dep: the
    document had nothing), then keystrokes."""
    rng = random.Random(seed)
    d = Doc(A, clock=lambda: 0, merge_interval=None)
    _typed_whole(d, rng, make)
    t = d.root["w"] if make == "made" else d.root["n"].get("o", d.root["n"])["w"]
    with d.transaction():  # (two text ops, on the only head)
        t.insert(len(t), "p")
        t.insert(1, "q")
    for _ in range(5):
        t.insert(rng.randint(0, len(t)), "k")
    return d.get_changes()


NEED_A_DEP = {"dep short", "dep str", "deps reversed", "deps twice"}  # (they bend the one)


FIRST_CHANGE_DAMAGES = ["none", *sorted(set(HEADER_MUTATIONS) - NEED_A_DEP), *sorted(RAW_DAMAGE)]


@pytest.mark.parametrize(
    ("make", "how"),
    [("made", how) for how in [*FIRST_CHANGE_DAMAGES, *sorted(MAKE_MUTATIONS)]]
    + [
        ("nested", how)
        for how in [*FIRST_CHANGE_DAMAGES, *sorted(MAKE_MUTATIONS), *sorted(TEXT_MAKE_MUTATIONS)]
    ],
)
def test_a_first_change_that_makes_and_types_a_text(
    make: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document's first change (no dep) that makes a text (at the root, or in a map it
    makes) and types it whole goes the fast way into an empty document; damaged in one
    field, both paths decide the same."""
    changes = _first_change_history(3, make)
    if how != "none":
        raw = changes[0]
        changes[0] = RAW_DAMAGE[how](raw) if how in RAW_DAMAGE else _damage(raw, how)
    _, e1, taken = _both_ways(changes, 0, monkeypatch)
    if how == "none":
        assert e1 is None and taken[0] == range(0, len(changes))


@pytest.mark.parametrize(
    "table, obj, author, ok",
    [
        ([], None, A, True),
        ([], [2, 0], A, True),  # in the map A made
        ([A], [2, 1], B, True),  # B makes it in A's map: A named by the MAKE only
        ([A], [2, 0], B, False),  # (2, B): no such map
        ([], [2, 1], A, False),  # no actor 1
        ([A], None, B, False),  # A named by none
        ([], [1, 0], A, False),  # in the text
    ],
)
def test_hand_made_texts_made_and_typed_whole(
    table: list[bytes], obj: Any, author: bytes, ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change making a text in a map (A made a text, op 1, and a map, op 2) and typing
    it whole: valid ones go the fast way, and both paths agree on all."""
    ops = [[2, obj, "w", 2, []]] + [[op[0], [3, 0], *op[2:]] for op in WHOLE]
    ops = [ops[0]] + [[a, o, r and [r[0] + 1, 0], x] for a, o, r, x in ops[1:]]
    changes = _whole_change(table, ops, author)
    d1, e1, taken = _both_ways(changes, 2, monkeypatch)
    assert (e1 is None) is ok, e1
    assert (len(taken[-1]) == 1) is ok
    if ok:
        made = d1.root["w"] if obj is None else d1.root["m"]["w"]
        assert str(made) == "eabd"


M, L = 0, 1  # the codes of ObjType.MAP and LIST (2: TEXT), in the MAKEs below


@pytest.mark.parametrize(
    "table, makes, author, ok",
    [
        ([], [[None, "n", M], [[3, 0], "w", 2]], A, True),  # a map, the text in it
        ([], [[[2, 0], "n", M], [[3, 0], "w", 2]], A, True),  # the map in A's map
        ([], [[None, "n", M], [[3, 0], "o", M], [[4, 0], "w", 2]], A, True),
        ([], [[None, "n", M], [[3, 0], "o", M], [[3, 0], "w", 2]], A, True),  # beside it
        ([], [[None, "n", M], [None, "o", M], [[4, 0], "w", 2]], A, True),
        ([], [[None, "n", M], [None, "n", M], [[4, 0], "w", 2]], A, True),  # a conflict
        ([A], [[[2, 1], "n", M], [[3, 0], "w", 2]], B, True),  # in A's map, B's own
        ([A], [[[2, 1], "n", M], [[3, 1], "w", 2]], B, False),  # (3, A): no such map
        ([], [[None, "n", M], [[4, 0], "w", 2]], A, False),  # in itself
        ([], [[None, "n", M], [[5, 0], "w", 2]], A, False),  # in a later op
        ([], [[None, "n", M], [[3, 1], "w", 2]], A, False),  # no actor 1
        ([], [[None, "n", M], [[1, 0], "w", 2]], A, False),  # in A's text
        ([], [[[1, 0], "n", M], [[3, 0], "w", 2]], A, False),
        ([], [[None, "n", L], [[3, 0], "w", 2]], A, False),  # in a list it makes
        ([], [[None, "n", 2], [[3, 0], "w", 2]], A, False),  # in a text it makes
        ([], [[None, "n", M], [[3, 0], "w", 2], [[4, 0], "x", 2]], A, False),  # two texts
        ([], [[None, "n", M], [[3.0, 0], "w", 2]], A, False),
        ([], [[None, "n", M], [[3, False], "w", 2]], A, False),
        ([], [[None, 7, M], [[3, 0], "w", 2]], A, False),
    ],
)
def test_hand_made_texts_made_in_new_maps(
    table: list[bytes],
    makes: list[list[Any]],
    author: bytes,
    ok: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A change making maps and, in one of them, a text (A made a text, op 1, and a map,
    op 2; the change's MAKEs are ops 3 on) and typing it whole: valid ones go the fast way
    (a text made in maps the change makes, as an application's new object holds it), and
    both paths agree on all."""
    n = len(makes)
    text = [2 + n, 0]
    ops = [[2, o, k, kind, []] for o, k, kind in makes] + [
        [a, text, r and [r[0] + n, 0], x] for a, _, r, x in WHOLE
    ]
    changes = _whole_change(table, ops, author)
    d1, e1, taken = _both_ways(changes, 2, monkeypatch)
    assert (e1 is None) is ok, e1
    assert (len(taken[-1]) == 1) is ok
    if ok:
        made = d1._opset.objs[(2 + n, author)].data
        assert made.text() == "eabd"


@pytest.mark.parametrize("n_maps", [0, 1])
def test_a_text_made_then_another_typed_whole(n_maps: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A change that makes a text (in a map it makes first, or not) and then types A's
    empty text, not its own, whole: valid, for the general path, and the typing lands in
    A's text."""
    makes = [*[[2, None, "n", M, []]][:n_maps], [2, None, "w", 2, []]]
    n = len(makes)
    ops = makes + [[a, o, r and [r[0] + n, 0], x] for a, o, r, x in WHOLE]
    d1, e1, taken = _both_ways(_whole_change([], ops, A), 2, monkeypatch)
    assert e1 is None
    assert str(d1.root["t"]) == "eabd" and str(d1.root["w"]) == ""
    assert len(taken[-1]) == 0


def _one_set_change(table: list[bytes], op: list[Any], author: bytes) -> list[bytes]:
    """A history whose last change is hand-made: A made the text "ab" (ops 1-3), the map
    "m" (op 4) and m["k"] = "v" (op 5), C then m["j"] = 1 (op 6); ``author`` makes ``op``
    as op 7 on both heads, under the actor table ``table``, re-encoded canonically."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.root.make_text("t").insert(0, "ab")  # ops 1-3
    a.root.make_map("m")["k"] = "v"  # ops 4, 5
    c = a.fork(C)
    c.root["m"]["j"] = 1  # op 6
    a.merge(c)
    assert len(a.get_changes()) == 5
    good = a.fork(A)
    good.root["m"]["k"] = "w"  # op 7
    top = msgpack.unpackb(good.get_changes(a.heads)[0])
    assert top[3] == 7 and top[8] == [[0, [4, 0], "k", "w", [[5, 0]]]]
    top[1] = author
    top[2] = _seq(a, author)
    top[7] = table
    top[8] = [op]
    return [*a.get_changes(), msgpack.packb(top)]


def _seq(d: Doc, author: bytes) -> int:
    """The seq of ``author``'s next change in ``d``."""
    return sum(msgpack.unpackb(raw)[1] == author for raw in d.get_changes()) + 1


@pytest.mark.parametrize(
    "table, op, author, ok",
    [
        ([], [0, [4, 0], "k", "w", [[5, 0]]], A, True),  # overwrites the value
        ([], [0, [4, 0], "k", "w", []], A, True),  # writes beside it: a conflict
        ([], [0, None, "r", 1, []], A, True),  # at the root
        ([], [0, [4, 0], "k", 1, [[5, 0], [5, 0]]], A, True),
        ([], [0, [4, 0], "k", 1, [[5, 0], [6, 0]]], A, False),  # op 6 is C's
        ([], [0, [4, 0], "k", 1, [[2, 0]]], A, True),  # an op that exists (a character)
        ([], [0, [4, 0], "k", 1, [[7, 0]]], A, False),  # the op itself
        ([], [0, [4, 0], "k", 1, [[8, 0]]], A, False),
        ([], [0, [4, 0], "k", 1, [[0, 0]]], A, False),
        ([], [0, [4, 0], "k", 1, [[5, 1]]], A, False),  # no actor 1
        ([], [0, [4, 0], "k", 1, [[5.0, 0]]], A, False),
        ([], [0, [4, 0], "k", 1, [[5, False]]], A, False),
        ([], [0, [4, 0], "k", 1, [[5, 0, 0]]], A, False),
        ([], [0, [4, 0], "k", 1, [5, 0]], A, False),
        ([], [0, [1, 0], "k", 1, []], A, False),  # the text
        ([], [0, [9, 0], "k", 1, []], A, False),
        ([], [0, [4.0, 0], "k", 1, []], A, False),
        ([], [0, [4, False], "k", 1, []], A, False),
        ([C], [0, [4, 0], "j", 2, [[6, True]]], A, False),
        ([], [0, [4, 0], "k", 2**63, []], A, False),
        ([], [0, [4, 0], "k", -(2**63), []], A, True),
        ([], [0, [4, 0], "k", b"\x00", []], A, True),
        ([], [0, [4, 0], "k", None, []], A, True),
        ([], [0, [4, 0], "k", 0.5, []], A, True),
        ([], [0, [4, 0], "k", msgpack.ExtType(1, b"\x03"), []], A, True),  # a Counter
        ([], [0, [4, 0], "k", [1], []], A, False),
        ([], [0, [4, 0], 7, 1, []], A, False),
        ([], [0, [4, 0], [2, 0], 1, []], A, False),
        ([A], [0, [4, 1], "k", 1, [[5, 1]]], B, True),  # a new author
        ([A], [0, [4, 1], "k", 1, [[5, 0]]], B, False),  # B has no op 5
        ([A], [0, None, "k", 1, []], B, False),  # A in the table, named by no id
        ([A], [0, None, "k", 1, [[5, 1]]], B, True),  # named by a pred only
        ([C], [0, [4, 0], "k", 1, [[5, 1]]], A, False),  # C has no op 5
        ([C], [0, [4, 0], "j", 2, [[6, 1]]], A, True),
        ([A, C], [0, [4, 1], "j", 2, [[6, 2]]], B, True),  # two actors in the table
        ([A, C], [0, [4, 1], "k", 2, [[5, 1], [6, 2]]], B, True),  # (6, C) is j's value
        ([C, A], [0, [4, 2], "j", 2, [[6, 1]]], B, False),  # not sorted
        ([A, C], [0, [4, 1], "j", 2, []], B, False),  # C named by no id
        ([A, C], [0, [4, 1], "j", 2, [[6, 3]]], B, False),
        ([A, B], [0, [4, 1], "j", 2, [[6, 2]]], C, False),  # C's own op, named as B's
        ([A, C, b"\x0d" * 16], [0, [4, 1], "j", 2, [[6, 2], [1, 3]]], B, False),
        ([A], [0, [4, 1], "k", 1, [[5, 1]]], A, False),  # the author in its own table
        ([A, C], [0, [4, 1], "j", 2, [[6, 2]]], C, False),  # the author in its table
        ([A, C], [0, [4, 1], "j", 2, [[6, 2]]], A, False),
        ([B], [0, [4, 0], "j", 2, [[6, 1]]], C, False),  # C's op 6 named as B's
        ([A], [0, [4, 1], "j", 2, [[6, 0]]], C, True),  # C writes again
        ([], [0, [4, 1], "k", 1, []], A, False),
        ([], [0, [4, 0], "k", "", [[5, 0]]], A, True),
        ([], [0, [4, 0], "k", True, [[5, 0]]], A, True),
    ],
)
def test_hand_made_map_writes(
    table: list[bytes], op: list[Any], author: bytes, ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = _one_set_change(table, op, author)
    taken = _record_taken(monkeypatch)
    d1, a1, e1 = _apply(changes, True, monkeypatch, setup=5)
    monkeypatch.undo()
    d2, a2, e2 = _apply(changes, False, monkeypatch, setup=5)
    assert e1 == e2 and a1 == a2 and d1.to_py() == d2.to_py()
    assert (e1 is None) is ok, e1
    # the valid ones go the fast way (but a Counter), so both paths were compared
    assert (len(taken[-1]) == 1) is (ok and type(op[3]) is not msgpack.ExtType)


@pytest.mark.parametrize(
    ("table", "op", "author", "ok", "live"),
    [
        ([], [0, [4, 0], "k", 1, [[5, 0]]], A, True, True),  # the value the key holds
        ([A], [0, [4, 1], "k", 1, [[5, 1]]], B, True, True),  # a new author, the same
        ([], [0, [4, 0], "k", 1, [[2, 0]]], A, True, False),  # an op that exists (a char)
        ([A], [0, [4, 1], "k", 1, [[1, 1]]], B, True, False),  # (the text's MAKE)
        ([C], [0, [4, 0], "k", 1, [[5, 1]]], A, False, False),  # C has no op 5
        ([C], [0, [4, 0], "k", 1, [[5, 0], [3, 1]]], A, False, False),  # nor op 3
    ],
)
def test_map_writes_after_a_saved_load(
    table: list[bytes],
    op: list[Any],
    author: bytes,
    ok: bool,
    live: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A saved document loaded lazily knows the live value ops of its checkpoint, not every
    op before it: a pred naming another one (older than the checkpoint's counters, so no
    counter test refuses it) is checked against the decoded history, on both paths."""
    # A's character typed after the checkpoint (op 7), then the write (op 8) on it: a
    # change on the cut's heads would be the general path's whatever it holds
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.apply_changes(_one_set_change([], [0, [4, 0], "k", "w", [[5, 0]]], A)[:5])
    cut = a.heads
    a.root["t"].insert(2, "c")  # op 7
    top = msgpack.unpackb(a.get_changes(cut)[0])
    assert top[3] == 7
    top = [1, author, _seq(a, author), 8, 0, None, a.heads, table, [op]]
    changes = [*a.get_changes(), msgpack.packb(top)]
    d1, a1, e1 = _apply_after_cut(changes, 5, True, monkeypatch, "saved")
    d2, a2, e2 = _apply_after_cut(changes, 5, False, monkeypatch, "saved")
    assert e1 == e2 and a1 == a2 and d1.to_py() == d2.to_py()
    assert (e1 is None) is ok, e1
    # (the value the key holds needs no history: the document stays lazy)
    assert (d1._deferred is not None) is live


@pytest.mark.parametrize(
    ("preds", "ok"),
    [
        ([[5, 0]], True),  # the value the key holds
        ([[2, 0]], True),  # an op of the cut (a character)
        ([[5, 1]], True),  # C has no op 5, but a cut knows its ops by their counters only
        ([[0, 0]], False),  # no counter 0 (decoding refuses it)
        ([[-1, 0]], False),
        ([[5, 0], [0, 1]], False),
    ],
)
def test_map_writes_after_a_snapshot(
    preds: list[Any], ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a snapshot cut a pred of the cut is known by its counter alone (at most its
    author's greatest there), on both paths; one below 1 is refused, as decoding does."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.apply_changes(_one_set_change([], [0, [4, 0], "k", "w", [[5, 0]]], A)[:5])
    cut = a.heads
    a.root["t"].insert(2, "c")  # op 7, after the cut: the write (op 8) goes on it
    assert msgpack.unpackb(a.get_changes(cut)[0])[3] == 7
    table = [C] if any(p[1] == 1 for p in preds) else []
    top = [1, A, _seq(a, A), 8, 0, None, a.heads, table, [[0, [4, 0], "k", 1, preds]]]
    changes = [*a.get_changes(), msgpack.packb(top)]
    taken = _record_taken(monkeypatch)
    d1, a1, e1 = _apply_after_cut(changes, 5, True, monkeypatch)
    monkeypatch.undo()
    d2, a2, e2 = _apply_after_cut(changes, 5, False, monkeypatch)
    assert e1 == e2 and a1 == a2 and d1.to_py() == d2.to_py()
    assert (e1 is None) is ok, e1
    # (the valid writes went the fast way: the last call took the write, index 1 of two)
    assert (1 in taken[-1]) is ok


@pytest.mark.parametrize(
    "key, value, preds",
    [
        (b"\xd9\x01k", b"\x05", b"\x91\x92\x05\x00"),  # the key as a str 8
        (b"\xa1k", b"\xcd\x00\x05", b"\x91\x92\x05\x00"),  # 5 as a uint 16
        (b"\xa1k", b"\xd0\x05", b"\x91\x92\x05\x00"),  # 5 as an int 8
        (b"\xa1k", b"\xca\x3f\x80\x00\x00", b"\x91\x92\x05\x00"),  # 1.0 as a float 32
        (b"\xa1k", b"\xd9\x01v", b"\x91\x92\x05\x00"),  # "v" as a str 8
        (b"\xa1k", b"\xc5\x00\x01v", b"\x91\x92\x05\x00"),  # b"v" as a bin 16
        (b"\xa1k", b"\x05", b"\xdc\x00\x01\x92\x05\x00"),  # preds as an array 16
        (b"\xa1k", b"\x05", b"\x91\x92\xcc\x05\x00"),  # a pred's counter as a uint 8
    ],
)
def test_map_writes_not_canonical_fail_the_same(
    key: bytes, value: bytes, preds: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grammar leaves a SET's op to the loop: it is shown canonical by packing the
    change again, and a map write written any other way fails as on the general path."""
    op = [0, [4, 0], "k", 5, [[5, 0]]]
    changes = _one_set_change([], op, A)
    good = msgpack.packb(op)
    assert changes[-1].endswith(good)
    changes[-1] = changes[-1][: -len(good)] + b"\x95\x00\x92\x04\x00" + key + value + preds
    d1, a1, e1 = _apply(changes, True, monkeypatch, setup=5)
    d2, a2, e2 = _apply(changes, False, monkeypatch, setup=5)
    assert e1 == e2 and a1 == a2 and d1.to_py() == d2.to_py()
    assert e1 is not None and "canonical" in e1[1], e1


def test_map_writes_outside_the_dep_past_fail_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """On one head of several: B's write re-pointed at a map, or given a pred, that A made
    concurrently (the document has them, B's dep has not seen them)."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.root.make_map("m")  # op 1
    b = a.fork(B)
    cut = a.heads
    a.root["m"]["k"] = 1  # op 2 by A
    a.root.make_map("n")  # op 3 by A
    for key in "xyz":
        b.root["m"][key] = 0  # ops 2-4 by B, on A's op 1 only
    b.root["m"]["k"] = 2  # op 5 by B
    *bs, bk = b.get_changes(cut)
    top = msgpack.unpackb(bk)
    assert top[7] == [A] and top[8] == [[0, [1, 1], "k", 2, []]]
    cases = [
        ([0, [1, 1], "k", 2, []], True),  # beside A's concurrent write: a conflict
        ([0, [1, 1], "k", 2, [[1, 1]]], True),  # a pred in its past
        ([0, [1, 1], "k", 2, [[2, 0]]], True),  # its own "x"
        ([0, [1, 1], "k", 2, [[2, 1]]], False),  # A's write: not in its past
        ([0, [3, 1], "k", 2, []], False),  # A's map "n": not in its past
    ]
    for op, ok in cases:
        top[8] = [op]
        changes = [*a.get_changes(), *bs, msgpack.packb(top)]
        d1, a1, e1 = _apply(changes, True, monkeypatch, setup=len(changes) - 1)
        d2, a2, e2 = _apply(changes, False, monkeypatch, setup=len(changes) - 1)
        assert e1 == e2 and a1 == a2 and d1.to_py() == d2.to_py()
        assert (e1 is None) is ok, e1
        if not ok:
            assert "causal past" in e1[1]


def test_a_ref_outside_the_dep_past_fails_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """On one head of several: B's keystroke re-pointed at A's concurrent "y", which the
    document has but B's dep has not seen."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.root.make_text("t").insert(0, "ab")  # ops 1-3
    b = a.fork(b"\x0b" * 16)
    cut = a.heads
    a.root["t"].insert(2, "y")  # op 4 by A
    b.root["t"].insert(2, "x")  # op 4 by B, ref (3, A)
    b.root["t"].insert(3, "z")  # op 5 by B, ref (4, B)
    base = a.get_changes()
    bx, bz = b.get_changes(cut)
    top = msgpack.unpackb(bz)
    assert top[7] == [A] and top[8][0][2] == [4, 0]
    ins = top[8][0]
    cases = [  # (4, B): its own "x"; (4, A): A's "y", not in its past
        ([3, [1, 1], [4, 0], "z"], True),
        ([3, [1, 1], [4, 1], "z"], False),
        ([3, [1, 1], [3, 1], "z"], True),
        ([5, [1, 1], [2, 1], 1], True),  # remove A's "a"
        ([5, [1, 1], [4, 1], 1], False),  # remove A's "y"
        ([5, [1, 1], [3, 1], 2], False),  # "b" and "y"
    ]
    assert ins == cases[0][0]
    for op, ok in cases:
        top[8] = [op]
        changes = [*base, bx, msgpack.packb(top)]
        d1, a1, e1 = _apply(changes, True, monkeypatch, setup=3)
        d2, a2, e2 = _apply(changes, False, monkeypatch, setup=3)
        assert e1 == e2 and a1 == a2 and d1.to_py() == d2.to_py()
        assert (e1 is None) is ok, e1
        if not ok:
            assert "causal past" in e1[1]


@pytest.mark.parametrize("mode", MODES)
def test_the_grammar_takes_the_shape(mode: str) -> None:
    """The grammar (see tests/test_fastpath_grammar.py) takes every change of the fast
    path's shape (with or without a table, with or without a short message) and turns the
    others away unread."""
    from crdt.fastpath import _ONE_OP

    def shape(raw: bytes) -> bool:
        top = msgpack.unpackb(raw)
        ops = top[8]
        if not (1 <= len(top[6]) <= 2 and len(top[7]) <= 2 and len(ops) == 1):
            return False
        op = ops[0]
        if len(op) == 4 and op[2] is not None:  # text: a string inserted, or a REM
            text = (op[0] == 3 and type(op[3]) is str) or op[0] == 5
            return text  # (its ids name the author or the table's two at most)
        return len(op) == 5 and op[0] == 0

    changes = _history(11, 150, mode)
    assert sum(map(shape, changes)) > 40
    for raw in changes:
        assert (_ONE_OP(raw) is not None) == shape(raw), msgpack.unpackb(raw)
    top = msgpack.unpackb(changes[-1])
    for msg, ok in (("short", True), ("m" * 31, True), ("m" * 32, False)):
        top[5] = msg
        assert (_ONE_OP(msgpack.packb(top)) is not None) is (ok and shape(changes[-1]))


def test_changes_made_after_a_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two deps, both heads: the fast path takes them (on all the heads, or on two of
    three with the causality check), and decides as the general path does when damaged."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.root.make_text("t").insert(0, "ab")  # ops 1-3
    b = a.fork(b"\x0b" * 16)
    c = a.fork(b"\x0c" * 16)
    cut = a.heads
    a.root["t"].insert(2, "x")  # op 4 by A
    b.root["t"].insert(2, "yy")  # ops 4-5 by B (so the two deps end apart)
    c.root["t"].insert(0, "w")  # op 4 by C
    a.merge(b)
    a.root["t"].insert(1, "z")  # op 6 by A after its "a", deps: its "x" and B's "yy"
    setup = b.get_changes([])[: len(b.get_changes()) - 1]
    ax, az = a.get_changes(cut)[0], a.get_changes(cut)[-1]
    by = b.get_changes(cut)[0]
    cw = c.get_changes(cut)[0]
    top = msgpack.unpackb(az)
    assert len(top[6]) == 2
    cases: list[tuple[str, list[Any], bool]] = [
        ("on all heads", [ax, by, az], True),
        ("on two of three heads", [ax, by, cw, az], True),
    ]
    reversed_deps = [*top[:6], top[6][::-1], *top[7:]]
    cases.append(("deps unsorted", [ax, by, msgpack.packb(reversed_deps)], False))
    # A's "z" re-pointed after C's "w" (op 4 by C), which A's deps have not seen
    assert top[7] == [] and top[8] == [[3, [1, 0], [2, 0], "z"]]
    far = [*top[:7], [b"\x0c" * 16], [[3, [1, 0], [4, 1], "z"]]]
    cases.append(("ref outside the past", [ax, by, cw, msgpack.packb(far)], False))
    for name, tail, ok in cases:
        changes = [*setup, *tail]
        calls = _record_taken(monkeypatch)
        d1, a1, e1 = _apply(changes, True, monkeypatch, setup=len(setup))
        monkeypatch.undo()
        d2, a2, e2 = _apply(changes, False, monkeypatch, setup=len(setup))
        assert e1 == e2 and a1 == a2 and d1.to_py() == d2.to_py(), name
        assert (e1 is None) is ok, (name, e1)
        if ok:
            # the two-dep change (of the second call)
            assert len(tail) - 1 in set().union(*calls), name


def _a_peer_that_saw_less() -> tuple[Doc, Doc, Doc, Doc, list[bytes]]:
    """A made the text "ab" (ops 1-3, one change), then typed "p" (A1, op 4) and "y" (A2, op
    5) after it; B and C forked before A1 (B typed "x", B1, op 4, and merged into D); D
    forked after A1, so it saw A1 and B1 but not A2.  Returns A, B, C, D and the heads
    before A1."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    with a.transaction():
        a.root.make_text("t").insert(0, "ab")
    b = a.fork(B)
    c = a.fork(C)
    cut = a.heads
    a.root["t"].insert(2, "p")
    d = a.fork(b"\x0d" * 16)
    a.root["t"].insert(3, "y")
    b.root["t"].insert(2, "x")
    d.merge(b)
    return a, b, c, d, cut


def test_deps_that_are_not_heads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deps the document has but not as heads (a peer that saw less): the causality
    check decides; and a dep it lacks makes the change wait, however well the rest fits."""
    a, b, _, d, cut = _a_peer_that_saw_less()
    d.root["t"].insert(3, "q")  # D1: op 5 after A's "p", deps A1 and B1
    a1, a2 = a.get_changes(cut)
    (b1,) = b.get_changes(cut)
    (d1,) = [x for x in d.get_changes(cut) if x not in (a1, b1)]
    top = msgpack.unpackb(d1)
    assert len(top[6]) == 2 and top[8][0][0] == 3
    setup = a.get_changes()[:1]
    ref_y = [*top[:7], [A], [[3, top[8][0][1], [5, 1], "q"]]]  # A2's "y": not in its past
    ref_p = [*top[:7], [A], [[3, top[8][0][1], [4, 1], "q"]]]  # A1's "p": in its past
    lone = msgpack.unpackb(b1)  # B1 on a dep nobody has: it must wait
    lone[6] = [b"\x01" * 32]
    cases = [
        ([a1, a2, b1, d1], True),
        ([a1, a2, b1, msgpack.packb(ref_y)], False),
        ([a1, a2, b1, msgpack.packb(ref_p)], True),
        ([msgpack.packb(lone)], True),
    ]
    for tail, ok in cases:
        changes = [*setup, *tail]
        d_1, a_1, e_1 = _apply(changes, True, monkeypatch, setup=1)
        d_2, a_2, e_2 = _apply(changes, False, monkeypatch, setup=1)
        assert e_1 == e_2 and a_1 == a_2 and d_1.to_py() == d_2.to_py()
        assert d_1.pending == d_2.pending
        assert (e_1 is None) is ok, e_1


def test_a_change_on_a_run_still_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path records a peer's run of typing in the history at once, at the end of
    the run; a change whose dep lies inside a run not yet recorded (another peer forked
    mid-run) finds it there, and goes the fast way too."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.root.make_text("t").insert(0, "ab")
    cut = a.heads
    t = a.root["t"]
    t.insert(2, "1")  # A1
    b = a.fork(B)  # B saw A1, which will not be a head
    t.insert(3, "2")  # A2
    t.insert(4, "3")  # A3
    b.root["t"].insert(3, "x")  # B1, on A1
    mine = a.get_changes()
    tail = [*a.get_changes(cut), *[x for x in b.get_changes() if x not in mine]]
    assert len(tail) == 4
    changes = [*mine[:-3], *tail]
    setup = len(changes) - 4
    taken = _record_taken(monkeypatch)
    d1, a1, e1 = _apply(changes, True, monkeypatch, setup=setup)
    assert [len(r) for r in taken if len(r)] == [4]  # (one call took all four)
    monkeypatch.undo()
    d2, a2, e2 = _apply(changes, False, monkeypatch, setup=setup)
    assert e1 is None and e2 is None and a1 == a2 and d1.to_py() == d2.to_py()
    a.merge(b)
    assert d1.to_py() == a.to_py()


def _record_moves(monkeypatch: pytest.MonkeyPatch, name: str) -> list[bool]:
    """What each call of ``Sequence.<name>`` (remote_backspace, remote_forward) returned:
    whether it moved the element."""
    from crdt.sequence import Sequence

    moved: list[bool] = []
    real = getattr(Sequence, name)

    def recording(s: Sequence, run: Any) -> bool:
        moved.append(real(s, run))
        return moved[-1]

    monkeypatch.setattr(Sequence, name, recording)
    return moved


@pytest.mark.parametrize("observed", [False, True])
@pytest.mark.parametrize("seed", [5, 6, 7])
def test_typing_with_backspaces(seed: int, observed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer typing words and backspacing (and now and then deleting a few elements near
    the end, or typing elsewhere): the fast path moves each backspaced element into the
    tombstones after it (Sequence.remote_backspace), and decides what the general path
    does; observed, it tells the same patches too."""

    a = Doc(A, clock=lambda: 0, merge_interval=None)
    t = a.root.make_text("t")
    rng = random.Random(seed)
    for _ in range(80):
        if rng.random() < 0.3:
            t.insert(len(t), "".join(rng.choice("abc") for _ in range(6)))  # a paste
        else:
            for _ in range(rng.randint(3, 8)):
                t.insert(len(t), rng.choice("abc"))
        if rng.random() < 0.6:
            for _ in range(min(rng.randint(1, 4), len(t))):
                t.delete(len(t) - 1, 1)  # backspace
        if len(t) > 5 and rng.random() < 0.5:  # a few elements near the end
            end = len(t) - rng.randint(0, 4)
            n = rng.randint(1, min(3, end))
            t.delete(end - n, n)
        if rng.random() < 0.2:
            t.insert(rng.randint(0, len(t)), "m")
    moved = _record_moves(monkeypatch, "remote_backspace")
    assert _same(a.get_changes(), monkeypatch, observed) is None
    assert sum(moved) > 30


@pytest.mark.parametrize("observed", [False, True])
@pytest.mark.parametrize("seed", [5, 6, 7])
def test_deleting_forward(seed: int, observed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer holding the delete key here and there in its text (and typing between): the
    fast path moves each element deleted into the tombstones before it
    (Sequence.remote_forward) when they continue its run, and decides what the general
    path does; observed, it tells the same patches too."""

    a = Doc(A, clock=lambda: 0, merge_interval=None)
    t = a.root.make_text("t")
    rng = random.Random(seed)
    t.insert(0, "".join(rng.choice("abc") for _ in range(40)))
    for _ in range(60):
        if rng.random() < 0.5:
            at = rng.randint(0, len(t))
            for i in range(rng.randint(2, 6)):
                t.insert(at + i, rng.choice("abc"))
        if len(t) > 2:
            at = rng.randint(0, len(t) - 2)
            for _ in range(min(rng.randint(1, 6), len(t) - at)):
                t.delete(at, 1)  # the delete key, held
        if rng.random() < 0.2 and len(t) > 3:
            t.delete(len(t) - 1, 1)  # a backspace now and then
    moved = _record_moves(monkeypatch, "remote_forward")
    assert _same(a.get_changes(), monkeypatch, observed) is None
    assert sum(moved) > 25 and not all(moved)


def test_a_delete_of_several_across_tombstones(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer deletes "cde" while another deleted "d": the REM of three starts at the last
    live element of a run whose next run is the tombstone that continues it, but it is not
    a backspace (it goes on past the tombstone), and both paths delete all three."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    t = a.root.make_text("t")
    t.insert(0, "abcdef")  # one run
    b = a.fork(B)
    cut = a.heads
    t.delete(3, 1)  # "d"
    b.root["t"].delete(2, 3)  # "cde", one op
    tail = [*a.get_changes(cut), *[x for x in b.get_changes() if x not in a.get_changes()]]
    assert len(tail) == 2
    changes = [*a.get_changes()[:-1], *tail]
    assert _same(changes, monkeypatch) is None
    a.merge(b)
    assert str(a.root["t"]) == "abf"
    d = Doc()
    d.apply_changes(changes)
    assert str(d.root["t"]) == "abf"


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_typing_continues_the_run(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer typing on the heads extends the run its last insert went into
    (Sequence.typing_run, extend_typing), and only when the new ids continue that run
    from its last element, by the same author: not after a map write of its own in
    between (its ids then skip one), not after another peer's last element whose counter
    is one less (the ids would be that peer's), not when peers type at once (the RGA rule
    may put the other's elements first), not after a delete.  Both paths must give the
    same elements, ids included."""
    from crdt.sequence import Sequence

    rng = random.Random(seed)
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    a.root.make_text("t")
    a.root.make_map("m")
    b = a.fork(B)
    for _ in range(60):
        d = a if rng.random() < 0.6 else b
        other = b if d is a else a
        r = rng.random()
        tt = d.root["t"]
        if r < 0.6 or len(tt) == 0:
            at = len(tt) if rng.random() < 0.5 else rng.randint(0, len(tt))
            for _ in range(rng.randint(1, 6)):
                tt.insert(at, rng.choice("ab"))
                at += 1
                if rng.random() < 0.1:
                    d.root["m"]["k"] = at  # a write of its own between two keystrokes
        elif r < 0.8:
            tt.delete(len(tt) - 1, 1)
        else:
            tt.insert(rng.randint(0, len(tt)), "x")
        if rng.random() < 0.7:  # else the peers type at once
            other.merge(d)
    a.merge(b)
    calls: list[int] = []
    real = Sequence.extend_typing

    def counting(s: Sequence, run: Any, content: Any) -> None:
        calls.append(len(content))
        real(s, run, content)

    monkeypatch.setattr(Sequence, "extend_typing", counting)
    assert _same(a.get_changes(), monkeypatch) is None
    assert len(calls) > 40
    fresh = Doc()
    fresh.apply_changes(a.get_changes())
    assert str(fresh.root["t"]) == str(a.root["t"])


def _continuation(how: str, top: list[Any]) -> None:
    """Damage a keystroke that continues a typing run (ref: the author's element just
    before its op) so that it still looks like one to a comparison with the keystroke
    before it in one field only."""
    op = top[8][0]
    if how == "seq +1":
        top[2] += 1
    elif how == "counters +5":  # an op id past the head, its ref moved with it
        top[3] += 5
        op[2][0] += 5
    elif how == "another author":  # with the author's next seq
        top[1] = B
    elif how == "a second dep":
        top[6] = sorted([top[6][0], b"\xff" * 32])
    elif how == "a dep not the head":
        top[6] = [b"\x01" * 32]
    elif how == "an actor more":
        top[7] = [*top[7], b"\xfe" * 16]
    elif how == "ref by the maker":
        op[2][1] = 1
    elif how == "another object":
        op[1] = [op[1][0] + 1, op[1][1]]
    elif how == "a backspace":  # valid: deletes the author's last element
        top[8] = [[5, op[1], op[2], 1]]
    elif how == "a map write":  # valid: a SET at the root
        top[8] = [[0, None, "k", 1, []]]
    else:  # pragma: no cover
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "seq +1",
        "counters +5",
        "another author",
        "a second dep",
        "a dep not the head",
        "an actor more",
        "ref by the maker",
        "another object",
        "a backspace",
        "a map write",
    ],
)
@pytest.mark.parametrize("at", [3, 5, 8])
def test_keystrokes_that_seem_to_continue_a_typing_run(
    how: str, at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path tells a keystroke that continues a typing run by comparing it with
    the one before (its text waits to extend the run in one go).  A change that matches
    in all but one field must go the whole way and be decided as the general path
    decides it: the same document, applied changes, error and next counter (the typing
    before it is applied first, even when the change itself waits for a dep)."""
    m = Doc(A, clock=lambda: 0, merge_interval=None)
    m.root.make_text("t")  # op 1, by the maker: the author's table names it
    m.root.make_text("u")  # op 2: another object
    a = m.fork(C)
    t = a.root["t"]
    for ch in "abcdefghij":
        t.insert(len(t), ch)
    changes = m.get_changes() + a.get_changes(m.heads)
    i = 2 + at  # changes[2] is the first keystroke (no ref); 3 begins the run
    top = msgpack.unpackb(changes[i])
    _continuation(how, top)
    damaged = [*changes[:i], msgpack.packb(top), *changes[i + 1 :]]
    calls = _record_taken(monkeypatch)
    _apply(damaged, True, monkeypatch, setup=2)
    # (the keystrokes before it went the fast way: the second call of apply_fast, from the
    # second keystroke, in the batch of all but the first two changes)
    assert calls[-2:-1] == [range(0, 0)] and i - 3 in calls[-1] and calls[-1].start == 1
    monkeypatch.undo()
    _same(damaged, monkeypatch)


def test_typing_after_a_fork_leaves_the_fork_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork shares its text's runs with the document until one side writes them.  A
    peer's keystroke applied after the fork continues a run the fork shares: the fast
    path must not extend it in place (the fork would see the keystroke), and both paths
    give the same document."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    t = a.root.make_text("t")
    for ch in "hello":
        t.insert(len(t), ch)
    changes = a.get_changes()
    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(doc_mod, "apply_fast", lambda doc, changes, k, applied: k)
            d = Doc(B)
            d.apply_changes(changes[:4])  # the text and "hel"
            f = d.fork()
            d.apply_changes(changes[4:])
            assert str(f.root["t"]) == "hel" and str(d.root["t"]) == "hello"
            f._check()
            d._check()
            f.root["t"].insert(3, "p")
            assert str(f.root["t"]) == "help" and str(d.root["t"]) == "hello"


_ONE_BATCH = """
import dis
from crdt import Doc
from crdt import doc as dm, fastpath as fp
a = Doc(merge_interval=None)  # (a change per keystroke, as a peer that merges none sends)
t = a.root.make_text("t")
b = a.fork()
for ch in "hello world, again":
    t.insert(len(t), ch)  # a change each: taken by the fast path, in its second call
typing = a.get_changes()
ac, bc = [], []
for k in range(10):  # two ops a change, two peers at once: the general path's
    for d, out in ((a, ac), (b, bc)):
        with d.transaction():
            d.root["t"].insert(0, "x")
            d.root["k"] = k
        out.append(d.get_changes()[-1])
mixed = [typing[0], *[c for pair in zip(ac, bc) for c in pair]]  # each on another head
Doc().apply_changes(typing if WHICH == "typing" else mixed)  # one call
f = fp.apply_fast if WHICH == "typing" else dm.Doc._apply_changes
names = {i.opname for i in dis.get_instructions(f, adaptive=True)}
print("LOAD_GLOBAL" in names or "LOAD_ATTR" in names)
"""


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="CPython 3.11's warm-up rule")
@pytest.mark.parametrize("which", ["typing", "mixed"])
def test_one_batch_specialises_the_loops(which: str) -> None:
    """CPython 3.11 specialises a function's bytecode at its eighth call, or at the
    eighth backward jump of a ``for`` or ``while True`` loop, but not of a ``while
    <test>`` loop.  The loops over a batch (apply_fast's, Doc._apply_changes's) run once
    per call, so they must be of the kinds that count: one apply_changes call in a fresh
    interpreter leaves the one that did the work specialised (no generic LOAD_GLOBAL or
    LOAD_ATTR left): apply_fast, entered twice for a peer's typing, and
    Doc._apply_changes for changes made at once by two peers."""
    out = subprocess.run(
        [sys.executable, "-c", f"WHICH = {which!r}\n" + _ONE_BATCH],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("observed", [False, True])
@pytest.mark.parametrize("runs", [1, 400])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reads_and_edits_between_a_peers_keystrokes(seed: int, runs: int, observed: bool) -> None:
    """A peer types into a text, a change per keystroke, while the receiver reads elements
    by position after the peer's cursor, or edits there, between the keystrokes.  A read
    or a local edit leaves the run it found (or made) as found by position; a keystroke
    that extends a run before it moves that run, and must not leave its old position
    behind (nor must the position a patch took): each read finds the element asked for,
    each local edit lands where it was asked to, and the sequence's caches stay true.
    ``runs``: the text one run, or hundreds (chunks of their own, so that the run read or
    made may be in another chunk than the one typed into)."""
    a = Doc(A, clock=lambda: 0, merge_interval=None)
    t = a.root.make_text("t")
    rng = random.Random(seed)
    t.insert(0, "0123456789")
    for _ in range(runs - 1):
        t.insert(rng.randint(4, len(t)), rng.choice("xyz"))  # (a run each, most of them)
    peer = a.fork(B)
    reader = a.fork(C)
    told = _observe(reader) if observed else None
    view = {"t": str(t)}  # (observed: the patches, and the local edits, replayed)
    at = 3
    for _ in range(60):
        heads = peer.heads
        peer.root["t"].insert(at, rng.choice("abc"))
        at += 1
        for c in peer.get_changes(heads):
            reader.apply_changes([c])
            reader._check()
        rt = reader.root["t"]
        if told is not None:
            view = replay_patches(view, [p for c in told for p in c])
            told.clear()
            assert view == {"t": str(rt)}
        s = str(rt)
        for q in rng.sample(range(at, len(s)), 2):  # (after the peer's cursor)
            assert list(reader.conflicts(["t", q]).values()) == [s[q]]
            reader._check()
        if rng.random() < 0.3:
            s = str(rt)
            p = rng.randint(len(s) - 8, len(s))  # (after the peer's cursor)
            rt.insert(p, "!")
            assert str(rt) == s[:p] + "!" + s[p:]
            reader._check()
            view = {"t": view["t"][:p] + "!" + view["t"][p:]}
    peer.apply_changes(reader.get_changes(peer.heads))
    assert str(peer.root["t"]) == str(reader.root["t"])
