"""Filling an empty sequence from a change's ops in one pass (crdt.fill) gives what
applying them one by one gives.

Every change is applied twice: as usual, and with the fill switched off (the general path
then integrates each op).  Both must give the same elements, ids and tombstones included,
and for an invalid op the same error with the document left as it was: the fill takes no
op of a stretch holding one, and the general path raises.  One small case is checked
against an order worked out by hand from the RGA rule.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crdt.doc as doc_mod
import crdt.fastpath as fastpath_mod
import crdt.fill as fill_mod
from crdt import Counter, CrdtError, Doc
from crdt.change import decode_change, encode_change
from crdt.errors import InvalidChangeError
from crdt.op import INS, MAKE, REM, SET
from crdt.values import ObjType

try:
    from tests.helpers import sequence_elements
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from helpers import sequence_elements  # type: ignore[no-redef]

A = b"\x0a" * 16
B = b"\x0b" * 16
SCALARS: tuple[Any, ...] = (0, -1, 2**63 - 1, 1.5, "s", "", b"\x00", True, None, Counter(5))


def _raw(ops: list[Any], actor: bytes = A) -> bytes:
    return encode_change(actor, 1, 1, 0, None, (), ops)[0]


def _random_ops(seed: int, n: int, kind: ObjType) -> list[Any]:
    """One change's ops: a text (or list) made at op 1, then ``n`` ops, mostly inserts and
    removes on the newest sequence.  Removes name runs of existing ids (tombstones
    included, and across inserts whose counters continue each other); now and then a map
    write breaks the run of sequence ops (in a list, a write of an element too), and a
    second sequence is made."""
    rng = random.Random(seed)
    ops: list[Any] = [(MAKE, None, "s1", kind, ())]
    seqs: list[tuple[Any, list[int], set[int]]] = [((1, A), [], set())]
    fresh: dict[Any, set[int]] = {}  # per sequence: its live elements never written
    ctr = 2
    for _ in range(n):
        obj, ids, have = seqs[-1] if rng.random() < 0.9 else rng.choice(seqs)
        r = rng.random()
        if r < 0.55 or not ids:
            at_head = not ids or rng.random() < 0.08
            ref = None if at_head else (rng.choice(ids), A)
            size = rng.choice((1, 1, 2, 3, 7))
            x: Any
            if kind == ObjType.TEXT:
                x = "".join(rng.choice("ab\u00e9\U0001f600") for _ in range(size))
            else:
                x = [rng.choice(SCALARS) for _ in range(size)]
            ops.append((INS, obj, ref, x))
            ids.extend(range(ctr, ctr + size))
            have.update(range(ctr, ctr + size))
            fresh.setdefault(obj, set()).update(range(ctr, ctr + size))
            ctr += size
        elif r < 0.93:
            e = rng.choice(ids)
            want = rng.choice((1, 1, 2, 4, 9))
            m = 1
            while m < want and e + m in have:
                m += 1
            ops.append((REM, obj, (e, A), m))
            fresh[obj].difference_update(range(e, e + m))
            ctr += m
        elif r < 0.95 and kind == ObjType.LIST and fresh[obj]:
            e = rng.choice(sorted(fresh[obj]))
            fresh[obj].discard(e)
            ops.append((SET, obj, (e, A), ctr, ((e, A),)))  # (over the value its insert put)
            ctr += 1
        elif r < 0.97:
            ops.append((SET, None, f"k{ctr}", ctr, ()))
            ctr += 1
        else:
            ops.append((MAKE, None, f"s{ctr}", kind, ()))
            seqs.append(((ctr, A), [], set()))
            ctr += 1
    return ops


def _apply(raw: bytes, fill: bool, monkeypatch: pytest.MonkeyPatch, before: list[bytes]) -> Any:
    """(document, error or None) after ``before`` and then ``raw``, with or without fills,
    on the general path (the fast path's fills: tests/test_fastpath.py); the error must
    leave the document as it was."""
    with monkeypatch.context() as m:
        m.setattr(doc_mod, "apply_fast", lambda doc, changes, k, applied: k)
        if not fill:
            m.setattr(doc_mod, "can_fill", lambda seq: False)
            m.setattr(fastpath_mod, "can_fill", lambda seq: False)
        d = Doc(b"\x7f" * 16)
        d.apply_changes(before)
        was = (d.to_py(), d.heads)
        err: tuple[type, str] | None = None
        try:
            d.apply_changes([raw])
        except CrdtError as exc:
            err = (type(exc), str(exc))
            assert (d.to_py(), d.heads) == was
        d._check()
        return d, err


def _fills(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records how many ops each fill of the general path took (0: none, the ops go one by
    one: too few, or one of them invalid)."""
    taken: list[int] = []
    real = fill_mod.gather

    def counting(*args: Any) -> Any:
        plan = real(*args)
        taken.append(0 if plan is None else plan.took)
        return plan

    monkeypatch.setattr(doc_mod, "gather", counting)
    monkeypatch.setattr(doc_mod, "apply_fast", lambda doc, changes, k, applied: k)
    return taken


def _same(raw: bytes, monkeypatch: pytest.MonkeyPatch, before: tuple[bytes, ...] = ()) -> Any:
    d1, e1 = _apply(raw, True, monkeypatch, list(before))
    d2, e2 = _apply(raw, False, monkeypatch, list(before))
    assert e1 == e2
    assert d1.to_py() == d2.to_py()
    assert sequence_elements(d1) == sequence_elements(d2)
    assert d1.heads == d2.heads
    return d1, e1


def _live(seqs: dict[Any, list[tuple[int, bytes, bool, Any]]]) -> Any:
    return {o: [(c, a, dead, None if dead else v) for c, a, dead, v in e] for o, e in seqs.items()}


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300), text=st.booleans())
def test_a_fill_gives_what_the_ops_one_by_one_give(seed: int, n: int, text: bool) -> None:
    kind = ObjType.TEXT if text else ObjType.LIST
    with pytest.MonkeyPatch.context() as mp:
        taken = _fills(mp)
        ops = _random_ops(seed, n, kind)
        d, err = _same(_raw(ops), mp)
        assert err is None
        # the document goes on as any other: local edits, a save and a load
        s = d.root["s1"]
        rng = random.Random(seed)
        for _ in range(20):
            if len(s) and rng.random() < 0.4:
                s.delete(rng.randrange(len(s)))
            else:
                s.insert(rng.randint(0, len(s)), "z")
        d._check()
        again = Doc.load(d.save())
        assert again.to_py() == d.to_py()
        # (a saved list keeps no values for its tombstones: nothing can read them)
        assert _live(sequence_elements(again)) == _live(sequence_elements(d))
    # a sequence's first insert (at the head: it has no elements) is a fill of the ops on
    # it in a row from there, if they are enough
    assert taken == _expected_fills(ops)


def _expected_fills(ops: list[Any]) -> list[int]:
    """The ops each fill takes, worked out from the ops: one fill per sequence, at its
    first insert, of the inserts and removes on it in a row (none if too few)."""
    out: list[int] = []
    started: set[Any] = set()
    for i, op in enumerate(ops):
        if op[0] == INS and op[1] not in started:
            started.add(op[1])
            j = i
            while j < len(ops) and ops[j][0] in (INS, REM) and ops[j][1] == op[1]:
                j += 1
            out.append(j - i if j - i >= fill_mod.FILL_MIN else 0)
    return out


def test_the_order_the_rga_rule_gives() -> None:
    """Worked out by hand: "abc" at the head (counters 2-4); X then Y after "b" (3): the
    newer goes first, and both before "c", whose counter is smaller; "Z" at the head goes
    before everything; then X is removed."""
    t = (1, A)
    ops = [
        (MAKE, None, "t", ObjType.TEXT, ()),
        (INS, t, None, "abc"),
        (INS, t, (3, A), "X"),
        (INS, t, (3, A), "Y"),
        (INS, t, (6, A), "y"),
        (INS, t, None, "Z"),
        (REM, t, (5, A), 1),
    ]
    d = Doc()
    with pytest.MonkeyPatch.context() as mp:
        taken = _fills(mp)
        d.apply_changes([_raw(ops)])
    assert taken == [6]
    assert d.root["t"].to_py() == "ZabYycX".replace("X", "")
    assert [(c, dead) for c, _, dead, _ in sequence_elements(d)[(1, A)]] == [
        (8, False),
        (2, False),
        (3, False),
        (6, False),
        (7, False),
        (5, True),
        (4, False),
    ]


def test_removes_that_overlap_repeat_and_span_inserts(monkeypatch: pytest.MonkeyPatch) -> None:
    t = (1, A)
    ops = [
        (MAKE, None, "t", ObjType.TEXT, ()),
        (INS, t, None, "abcd"),  # 2-5
        (INS, t, (5, A), "efgh"),  # 6-9: continues the counters of the one before
        (REM, t, (3, A), 5),  # b..f, across both inserts
        (REM, t, (2, A), 3),  # a..c, over removed ones
        (REM, t, (4, A), 1),  # c again
        (INS, t, (6, A), "X"),  # after the removed e
    ]
    taken = _fills(monkeypatch)
    d, err = _same(_raw(ops), monkeypatch)
    assert err is None and taken == [6]
    assert d.root["t"].to_py() == "Xgh"


def test_a_list_owns_its_elements() -> None:
    """A list's runs never hold the op's own lists: the author's next insert extends the
    run in place, and must not change the list an application holds from the change."""
    lst = (1, A)
    ops = [(MAKE, None, "l", ObjType.LIST, ())] + [(INS, lst, None, [1, 2, 3])] * 5
    u = decode_change(_raw(ops))
    held = u.ops[-1][3]  # (the last insert at the head: the first run of the list)
    d = Doc()
    with pytest.MonkeyPatch.context() as mp:
        taken = _fills(mp)
        d.apply_changes([u])
    assert taken == [5]
    # the author goes on typing after its last element
    nxt = encode_change(A, 2, 17, 0, None, tuple(d.heads), [(INS, lst, (16, A), [4])])[0]
    d.apply_changes([nxt])
    assert held == [1, 2, 3]
    assert d.root["l"].to_py() == [1, 2, 3, 4] + [1, 2, 3] * 4


def test_a_shared_empty_sequence_is_not_filled_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fork shares its empty text's chunk with the original: the fork's change goes op by
    op, and the original stays empty."""
    d = Doc(A)
    d.root.make_text("t")
    f = d.fork(B)
    obj = d.obj_at(["t"])
    ops = [(INS, obj, None, "ab")] * 6
    raw = encode_change(B, 1, 2, 0, None, tuple(d.heads), ops)[0]
    taken = _fills(monkeypatch)
    f.apply_changes([raw])
    assert taken == []
    assert f.root["t"].to_py() == "ab" * 6
    assert d.root["t"].to_py() == ""
    f._check()
    d._check()


def test_a_short_start_goes_op_by_op(monkeypatch: pytest.MonkeyPatch) -> None:
    t = (1, A)
    ops = [(MAKE, None, "t", ObjType.TEXT, ()), (INS, t, None, "a"), (INS, t, (2, A), "b")]
    taken = _fills(monkeypatch)
    d, _ = _same(_raw(ops), monkeypatch)
    assert taken == [0]
    assert d.root["t"].to_py() == "ab"


T = (1, A)
# counters: 1 the text, 2-5 "abcd", 6 "e", 7 a remove, 8 "f"; the op under test is 9
GOOD = [
    (MAKE, None, "t", ObjType.TEXT, ()),
    (INS, T, None, "abcd"),
    (INS, T, (5, A), "e"),
    (REM, T, (3, A), 1),
    (INS, T, (6, A), "f"),
]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ((INS, T, (7, A), "x"), "op 9: unknown element 7@"),  # a counter a remove took
        ((INS, T, (9, A), "x"), "op 9: unknown element 9@"),  # its own
        ((INS, T, (99, A), "x"), "op 9: unknown element 99@"),  # the future
        ((INS, T, (2, B), "x"), f"op 9: unknown element 2@{B.hex()}"),  # another actor's
        ((INS, T, (2, A), ["x"]), "op 9: wrong content for a text"),
        ((REM, T, (6, A), 3), "op 9: unknown element 7@"),  # across a remove's counter
        ((REM, T, (7, A), 1), "op 9: unknown element 7@"),
        ((REM, T, (8, A), 2), "op 9: removes elements not before it"),
        ((REM, T, (2, B), 1), f"op 9: unknown element 2@{B.hex()}"),
    ],
)
@pytest.mark.parametrize("after", [0, 1, 30])
def test_an_invalid_op_is_the_same_error_and_changes_nothing(
    bad: Any, message: str, after: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bad op comes last, or with valid ops after it: the fill takes none of them, and
    the general path raises the error."""
    ops = [*GOOD, bad] + [(INS, T, (2, A), "g")] * after
    taken = _fills(monkeypatch)
    _, err = _same(_raw(ops), monkeypatch)
    assert err is not None and err[0] is InvalidChangeError
    assert err[1].startswith(message), err
    assert taken == [0]


def test_an_invalid_op_deep_in_a_big_fill(monkeypatch: pytest.MonkeyPatch) -> None:
    ops: list[Any] = [(MAKE, None, "t", ObjType.TEXT, ()), (INS, T, None, "a")]
    for ctr in range(3, 103):  # typing "b" x 100, each after the one before
        ops.append((INS, T, (ctr - 1, A), "b"))
    ops.append((REM, T, (5, A), 1))  # counter 103
    ops.append((INS, T, (103, A), "c"))  # after the remove's counter: no such element
    ops += [(INS, T, (2, A), "d")] * 50
    _, err = _same(_raw(ops), monkeypatch)
    assert err == (InvalidChangeError, f"op 104: unknown element 103@{A.hex()}")


def test_a_remove_that_starts_inside_a_wide_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error names the first counter removed, not the end of the insert before it."""
    ops = [
        (MAKE, None, "t", ObjType.TEXT, ()),
        (INS, T, None, "abcd"),  # 2-5
        (REM, T, (2, A), 2),  # takes counters 6 and 7
        (INS, T, (5, A), "e"),  # 8
        (INS, T, (8, A), "f"),  # 9
        (REM, T, (7, A), 1),  # 10: counter 7 is no element (6 is not either)
    ]
    _, err = _same(_raw(ops), monkeypatch)
    assert err == (InvalidChangeError, f"op 10: unknown element 7@{A.hex()}")


def test_a_text_another_peer_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """The text comes from an earlier change by another peer, and a change concurrent with
    the filling one writes elsewhere: the fill names the object from before its change
    (the causality check sees it), and the rest of the document is untouched."""
    maker = encode_change(B, 1, 1, 0, None, (), [(MAKE, None, "t", ObjType.TEXT, ())])
    made = maker[1]
    side = encode_change(B, 2, 2, 0, None, (made,), [(SET, None, "k", "v", ())])[0]
    t = (1, B)
    ops = [(INS, t, None, "abc"), (INS, t, (2, A), "XY"), (REM, t, (3, A), 2), (INS, t, None, "z")]
    raw = encode_change(A, 1, 2, 0, None, (made,), ops)[0]
    taken = _fills(monkeypatch)
    d, err = _same(raw, monkeypatch, (maker[0], side))
    assert err is None and taken == [4]
    assert d.root["t"].to_py() == "zaXY" and d.root["k"] == "v"  # (b c removed)
    # the same change naming a dep this document lacks waits, filling nothing
    taken.clear()
    lone = Doc()
    assert lone.apply_changes([raw]) == [] and lone.pending == 1 and taken == []


def test_the_general_path_fills_from_the_ops_decoding_unpacked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A change applied as it is decoded is filled from the ops ``decode_change_wire``
    unpacked (its bytes are not unpacked again); one that waited for its dep, or is given
    decoded, is unpacked again, and filled the same."""
    maker = encode_change(B, 1, 1, 0, None, (), [(MAKE, None, "t", ObjType.TEXT, ())])
    t = (1, B)
    ops = [(INS, t, None, "abc"), (INS, t, (2, A), "XY"), (REM, t, (3, A), 2), (INS, t, None, "z")]
    raw = encode_change(A, 1, 2, 0, None, (maker[1],), ops)[0]
    taken = _fills(monkeypatch)
    unpacked: list[bytes] = []
    real = doc_mod.unpack

    def counting(b: bytes) -> Any:
        unpacked.append(b)
        return real(b)

    monkeypatch.setattr(doc_mod, "unpack", counting)
    for batch in ([maker[0], raw], [raw, maker[0]], [maker[0], decode_change(raw)]):
        taken.clear()
        unpacked.clear()
        d = Doc()
        d.apply_changes(batch)  # type: ignore[arg-type]
        assert d.root["t"].to_py() == "zaXY" and taken == [4]
        assert unpacked == ([] if batch[1] is raw else [raw])


def test_a_filled_text_is_built_on_first_touch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text filled whole keeps its visible text and builds its runs on the first touch
    that needs them (as a loaded one does): the same elements, then the same edits."""
    t = (1, A)
    ops = [(MAKE, None, "s1", ObjType.TEXT, ())]  # h e l l o at 2-6, " world" at 7-12
    ops += [(INS, t, None, "hello"), (INS, t, (6, A), " world"), (REM, t, (3, A), 2)]
    ops += [(INS, t, (2, A), "ZZ")]  # (the remove took counters 13 and 14)
    raw = _raw(ops)
    lazy = Doc(b"\x7f" * 16)
    lazy.apply_changes([raw])
    seq = lazy._opset.objs[t].data
    assert seq._lazy is not None
    eager, _ = _apply(raw, False, monkeypatch, [])
    assert str(lazy.root["s1"]) == str(eager.root["s1"]) == "hZZlo world"
    assert len(lazy.root["s1"]) == 11 and seq._lazy is not None
    for d in (lazy, eager):
        d.root["s1"].insert(3, "XYZ")
        d.root["s1"].delete(1, 4)
    assert seq._lazy is None
    lazy._check()
    assert sequence_elements(lazy) == sequence_elements(eager)
