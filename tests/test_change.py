"""encode_change: the one-op fast path gives the general path's bytes, and decodes back."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crdt.change import (
    FORMAT_VERSION,
    _encode_ops_and_table,
    change_hash,
    decode_change,
    encode_change,
)
from crdt.codec import pack
from crdt.op import DEL, INC, INS, INS_MAKE, MAKE, REM, SET
from crdt.values import ObjType

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
    return st.one_of(
        st.tuples(st.just(INS), objs, st.none() | ids, content),
        st.tuples(st.just(REM), objs, ids, st.integers(1, 2**20)),
        st.tuples(st.just(INS_MAKE), objs, st.none() | ids, st.sampled_from(list(ObjType))),
        st.tuples(st.just(SET), objs, keys, int64 | st.text(), preds),
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
