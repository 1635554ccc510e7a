"""encode_change: the one-op fast path gives the general path's bytes, and decodes back."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt.change import (
    FORMAT_VERSION,
    _encode_ops_and_table,
    change_hash,
    decode_change,
    encode_chain,
    encode_change,
)
from crdt.codec import pack
from crdt.errors import DecodeError
from crdt.op import DEL, INC, INS, INS_MAKE, MAKE, REM, SET
from crdt.values import Counter, ObjType

# the author sorts between the others, so tables of every order come up
ACTORS = [b"\x10" * 16, b"\x01" * 16, b"\xf0" * 16, b"\x10" * 15]
AUTHOR = ACTORS[0]

ids = st.tuples(st.integers(1, 2**40), st.sampled_from(ACTORS))
objs = st.none() | ids
preds = st.lists(ids, max_size=3, unique=True).map(tuple)
keys = st.text(max_size=3) | ids


def ops() -> st.SearchStrategy[Any]:
    int64 = st.integers(-(2**63), 2**63 - 1)
    content = st.text(min_size=1, max_size=4) | st.lists(int64, min_size=1, max_size=3)
    scalars = st.one_of(
        int64,
        st.text(),
        st.floats(allow_nan=False),
        st.booleans(),
        st.none(),
        st.binary(max_size=3),
        int64.map(Counter),
    )
    return st.one_of(
        st.tuples(st.just(INS), objs, st.none() | ids, content),
        st.tuples(st.just(REM), objs, ids, st.integers(1, 2**20)),
        st.tuples(st.just(INS_MAKE), objs, st.none() | ids, st.sampled_from(list(ObjType))),
        st.tuples(st.just(SET), objs, keys, scalars, preds),
        st.tuples(st.just(DEL), objs, keys, preds),
        st.tuples(st.just(MAKE), objs, keys, st.sampled_from(list(ObjType)), preds),
        st.tuples(st.just(INC), objs, keys, st.integers(-5, 5), preds),
    )


@settings(max_examples=400, deadline=None, derandomize=True)
@given(op=ops(), seq=st.integers(1, 2**33), time=st.integers(0, 2**45))
def test_one_op_encodes_as_the_general_path_does(op: Any, seq: int, time: int) -> None:
    deps = (b"\x07" * 32,)
    raw, h = encode_change(AUTHOR, seq, 5, time, None, deps, [op])
    enc, table = _encode_ops_and_table(AUTHOR, [op])
    assert table == sorted(table) and AUTHOR not in table
    assert raw == pack((FORMAT_VERSION, AUTHOR, seq, 5, time, None, deps, table, enc))
    assert h == change_hash(raw)
    back = decode_change(raw)
    assert back.ops == [op] and back.hash == h


# keystrokes on two texts (one the author's, one another actor's), their refs by the
# author, the text's maker or a third actor, and now and then a change of another shape
TEXTS = [(1, AUTHOR), (2, ACTORS[1]), (3, ACTORS[2])]
keystrokes = st.tuples(
    st.just(INS),
    st.sampled_from(TEXTS),
    st.tuples(st.integers(1, 2**40), st.sampled_from(ACTORS)),
    # (a list's content too: its values are encoded, a Counter as an ext type)
    st.text(min_size=1, max_size=3) | st.lists(st.integers(0, 9).map(Counter), min_size=1),
)
# backspaces and deletes: a REM of elements by the author, the text's maker or a third
deletions = st.tuples(
    st.just(REM),
    st.sampled_from(TEXTS),
    st.tuples(st.integers(1, 2**40), st.sampled_from(ACTORS)),
    st.integers(1, 2**40),
)
entries = st.lists(
    st.tuples(
        st.integers(1, 2**40),  # start_op
        st.integers(0, 2**63 - 1),  # time
        st.none() | st.just("") | st.text(max_size=3),  # message
        st.lists(keystrokes | deletions, min_size=1, max_size=1)
        | st.lists(ops(), min_size=1, max_size=3),
    ),
    max_size=12,
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(chain=entries, seq=st.integers(1, 2**33))
def test_a_chain_encodes_as_each_change_alone(chain: list[Any], seq: int) -> None:
    """``encode_chain`` (the lazy seal's, which writes keystrokes from parts shared with
    the one before) gives each change the bytes ``encode_change`` gives it alone, each on
    the hash of the one before."""
    dep = b"\x07" * 32
    raws, hashes = encode_chain(AUTHOR, seq, dep, chain)
    want_raws, want_hashes = [], []
    for k, (start_op, time, msg, oplist) in enumerate(chain):
        raw, dep = encode_change(AUTHOR, seq + k, start_op, time, msg, (dep,), oplist)
        want_raws.append(raw)
        want_hashes.append(dep)
    assert raws == want_raws and hashes == want_hashes


def test_a_chain_of_keystrokes_takes_the_shared_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a vacuous comparison: keystrokes of each kind the shared parts cover (on the
    author's text and on another's, ref by the author and by the text's maker) are
    written from them, and the ones they do not cover (a ref by a third actor, a message,
    a ref by another actor on the author's text) by ``encode_change``; all as alone.  The
    same for deletions."""
    import crdt.change as change_mod

    alone: list[int] = []
    real = change_mod.encode_change

    def counting(actor: bytes, seq: int, *rest: Any) -> Any:
        alone.append(seq)
        return real(actor, seq, *rest)

    chain = []
    for k, (text, ra, msg) in enumerate(
        [
            (TEXTS[0], AUTHOR, None),
            (TEXTS[0], AUTHOR, None),
            (TEXTS[1], AUTHOR, None),
            (TEXTS[1], ACTORS[1], None),
            (TEXTS[1], ACTORS[2], None),
            (TEXTS[0], AUTHOR, "m"),
            (TEXTS[0], ACTORS[1], None),
        ]
    ):
        chain.append((10 + k, 5, msg, [(INS, text, (9 + k, ra), "x")]))
        chain.append((20 + k, 5, msg, [(REM, text, (9 + k, ra), 1 + k)]))
    monkeypatch.setattr(change_mod, "encode_change", counting)
    raws, _ = encode_chain(AUTHOR, 1, b"\x07" * 32, chain)
    monkeypatch.undo()
    # (seqs: the keystrokes and deletions the shared parts do not cover)
    assert alone == [9, 10, 11, 12, 13, 14]
    dep = b"\x07" * 32
    for k, (start_op, time, msg, oplist) in enumerate(chain):
        raw, dep = encode_change(AUTHOR, 1 + k, start_op, time, msg, (dep,), oplist)
        assert raws[k] == raw, k


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    oplist=st.lists(ops(), min_size=1, max_size=8),
    shared=st.lists(st.sampled_from(ACTORS), max_size=8),
)
def test_changes_of_many_ops_decode_to_their_ops(oplist: list[Any], shared: list[bytes]) -> None:
    # runs of INS/REM on one object (what decoding shares one id tuple for), mixed with
    # every other shape; the actor table is whatever the ops name, in any order
    for i, actor in enumerate(shared):
        a, _, *rest = oplist[i % len(oplist)]
        if a in (INS, REM):
            oplist.append((a, (7, actor), *rest))
    raw, h = encode_change(AUTHOR, 1, 5, 0, None, (), oplist)
    back = decode_change(raw)
    assert back.ops == oplist and back.hash == h


def _raw_change(table: list[bytes], enc: list[Any]) -> bytes:
    return pack((FORMAT_VERSION, AUTHOR, 1, 5, 0, None, [], table, enc))


def test_an_object_id_equal_to_the_one_before_but_not_ints_is_rejected() -> None:
    good = _raw_change([], [[INS, [3, 0], None, "ab"], [INS, [3, 0], [5, 0], "c"]])
    assert [op[1] for op in decode_change(good).ops] == [(3, AUTHOR), (3, AUTHOR)]
    for twin in ([3.0, 0], [3, False], [True, 0]):
        first = [3, 0] if twin != [True, 0] else [1, 0]
        for action, tail in ((INS, [[5, 0], "c"]), (REM, [[5, 0], 1])):
            raw = _raw_change([], [[INS, first, None, "ab"], [action, twin, *tail]])
            with pytest.raises(DecodeError):
                decode_change(raw)


def test_a_table_actor_named_only_by_the_last_op_is_used() -> None:
    other = ACTORS[1]
    enc = [[INS, [3, 0], None, "ab"]] * 5 + [[REM, [3, 0], [4, 1], 1]]
    back = decode_change(_raw_change([other], enc))
    assert back.ops[-1] == (REM, (3, AUTHOR), (4, other), 1)
    unused = _raw_change([other], enc[:-1])
    with pytest.raises(DecodeError, match="no op uses"):
        decode_change(unused)
