"""Bad input never escapes as a non-CrdtError and never changes the document.

Valid changes are built by hand with ``crdt.change.encode_change`` so every op id is
known from the test itself; invalid ones are the same with one rule broken.
"""

from __future__ import annotations

import copy
import zlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crdt.change as change_mod
from crdt import (
    CrdtError,
    DecodeError,
    Doc,
    DuplicateSeqError,
    HashMismatchError,
    InvalidChangeError,
    decode_change,
)
from crdt.change import encode_change
from crdt.doc import SAVE_MAGIC
from crdt.op import DEL, INC, INS, INS_MAKE, MAKE, REM, SET
from crdt.values import Counter, ObjType

FIXED = {"deadline": None, "derandomize": True}

A = b"\x0a" * 4
B = b"\x0b" * 4
C = b"\x0c" * 4

TEXT = (1, A)  # made by op 1 of C1
LIST = (7, A)  # made by op 7 of C1

# C1 by A, seq 1, ops 1..12:  {"t": "hello", "l": [1, 2, 3], "k": 1, "n": Counter(5)}
C1, H1 = encode_change(
    A,
    1,
    1,
    0,
    "base",
    (),
    [
        (MAKE, None, "t", ObjType.TEXT, ()),  # 1
        (INS, TEXT, None, "hello"),  # 2..6
        (MAKE, None, "l", ObjType.LIST, ()),  # 7
        (INS, LIST, None, [1, 2, 3]),  # 8..10
        (SET, None, "k", 1, ()),  # 11
        (SET, None, "n", Counter(5), ()),  # 12
    ],
)
BASE = {"t": "hello", "l": [1, 2, 3], "k": 1, "n": Counter(5)}

# C2 by B on C1, ops 13..: edits touching every kind of op
C2, H2 = encode_change(
    B,
    1,
    13,
    0,
    None,
    (H1,),
    [
        (INS, TEXT, (6, A), "!"),  # 13: "hello!"
        (REM, TEXT, (2, A), 1),  # 14: "ello!"
        (SET, LIST, (9, A), "two", ()),  # 15: [1, "two", 3]
        (INC, None, "n", 2, ((12, A),)),  # 16
        (INS_MAKE, LIST, (10, A), ObjType.MAP),  # 17: [1, "two", 3, {}]
        (SET, (17, B), "x", b"\x00", ()),  # 18
        (DEL, None, "k", ((11, A),)),  # 19
    ],
)
AFTER_C2 = {"t": "ello!", "l": [1, "two", 3, {"x": b"\x00"}], "n": Counter(7)}

# C3 by B, seq 2, on C2
C3, H3 = encode_change(B, 2, 20, 5, "msg", (H2,), [(SET, None, "k", 3.5, ())])
AFTER_C3 = {**AFTER_C2, "k": 3.5}

VALID = [C1, C2, C3]


def _state(doc: Doc):
    return copy.deepcopy(doc.to_py()), list(doc.heads), doc.change_count(), doc.pending


def _receiver(n: int = 1) -> Doc:
    doc = Doc("ff", clock=lambda: 0)
    doc.apply_changes(VALID[:n])
    return doc


def _assert_rejected_unchanged(doc: Doc, changes, exc=CrdtError):
    before = _state(doc)
    with pytest.raises(exc) as info:
        doc.apply_changes(changes)
    assert _state(doc) == before
    return info.value


def _apply_or_reject(doc: Doc, changes) -> None:
    """Either the batch is valid, or it raises a CrdtError and changes nothing."""
    before = _state(doc)
    try:
        doc.apply_changes(changes)
    except CrdtError:
        assert _state(doc) == before
    except Exception as exc:  # pragma: no cover - this is the failure being tested for
        raise AssertionError(f"non-CrdtError escaped: {type(exc).__name__}: {exc}") from exc
    else:
        doc._check()
        # the accepted history replays to the same state
        assert Doc.load(doc.save()).to_py() == doc.to_py()


# ---------------------------------------------------------------- hand-built valid changes


def test_hand_built_changes_apply():
    doc = _receiver(1)
    assert doc.to_py() == BASE
    doc.apply_changes([C2])
    assert doc.to_py() == AFTER_C2
    doc.apply_changes([C3])
    assert doc.to_py() == AFTER_C3
    assert doc.heads == [H3]
    doc._check()
    # any delivery order works: missing deps wait
    d2 = Doc("ee")
    d2.apply_changes([C3, C2, C1])
    assert d2.to_py() == AFTER_C3 and d2.pending == 0


# ---------------------------------------------------------------- fuzz


@settings(max_examples=150, **FIXED)
@given(
    prefix=st.sampled_from([b"", b"\x99", b"\x99\x01", b"\x99\x01\xc4\x04"]),
    body=st.binary(max_size=120),
)
def test_random_bytes(prefix, body):
    doc = _receiver(1)
    _apply_or_reject(doc, [prefix + body])
    with pytest.raises(CrdtError):
        Doc.load(prefix + body)
    with pytest.raises(CrdtError):
        Doc.load(SAVE_MAGIC + prefix + body)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_truncated_changes_every_offset(which):
    raw = VALID[which]
    doc = _receiver(which)
    before = _state(doc)
    for k in range(len(raw)):
        with pytest.raises(DecodeError):
            decode_change(raw[:k])
        with pytest.raises(DecodeError):
            doc.apply_changes([raw[:k]])
        # with the valid changes around it: nothing of the batch is applied
        with pytest.raises(DecodeError):
            doc.apply_changes([*VALID[which:], raw[:k]])
        assert _state(doc) == before
    doc.apply_changes([raw])  # the whole change still applies afterwards


@settings(max_examples=200, **FIXED)
@given(which=st.integers(0, 2), data=st.data())
def test_bit_flipped_changes(which, data):
    raw = bytearray(VALID[which])
    flips = data.draw(
        st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 7)), min_size=1, max_size=3)
    )
    for pos, bit in flips:
        raw[pos] ^= 1 << bit
    doc = _receiver(which)
    _apply_or_reject(doc, [bytes(raw)])


@settings(max_examples=100, **FIXED)
@given(data=st.data())
def test_batches_mixing_valid_and_corrupted(data):
    n_have = data.draw(st.integers(0, 1))
    doc = _receiver(n_have)
    batch = list(VALID[n_have:])
    bad_at = data.draw(st.integers(0, len(batch) - 1))
    raw = bytearray(batch[bad_at])
    mode = data.draw(st.sampled_from(["flip", "truncate", "garbage"]))
    if mode == "flip":
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] ^= 1 << data.draw(st.integers(0, 7))
        corrupted = bytes(raw)
    elif mode == "truncate":
        corrupted = bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
    else:
        corrupted = data.draw(st.binary(max_size=40))
    insert_at = data.draw(st.integers(0, len(batch)))
    batch.insert(insert_at, corrupted)
    _apply_or_reject(doc, batch)


def test_verification_failure_mid_batch_rolls_back_valid_changes():
    doc = _receiver(1)
    calls: list = []
    doc.observe(calls.append)
    bad, _ = encode_change(C, 1, 99, 0, None, (H1,), [(SET, None, "z", 1, ())])  # start_op
    _assert_rejected_unchanged(doc, [C2, C3, bad], InvalidChangeError)
    _assert_rejected_unchanged(doc, [C3, C2, bad], InvalidChangeError)  # C3 via pending
    assert calls == []
    assert doc.pending == 0
    doc.apply_changes([C2, C3])
    assert doc.to_py() == AFTER_C3 and calls


def _save_bytes() -> bytes:
    return _receiver(3).save()


def _save_with(heads, changes) -> bytes:
    """A format-2 saved document (SPEC.md section 8: replayed and verified on load) with the
    given heads and changes, each change stored verbatim in the compact history (a bytes
    item is a change kept whole)."""
    payload = [0, 0, 0, [], *changes] if isinstance(changes, list) else changes
    body = zlib.compress(msgpack.packb(payload))
    return SAVE_MAGIC + msgpack.packb([2, heads, None, body])  # format 2: history only


def test_load_truncated_every_offset():
    data = _save_bytes()
    assert Doc.load(data).to_py() == AFTER_C3
    for k in range(len(data)):
        with pytest.raises(CrdtError):
            Doc.load(data[:k])


@settings(max_examples=150, **FIXED)
@given(data=st.data())
def test_load_bit_flipped(data):
    raw = bytearray(_save_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] ^= 1 << data.draw(st.integers(0, 7))
    try:
        doc = Doc.load(bytes(raw))
    except CrdtError:
        return
    except Exception as exc:  # pragma: no cover
        raise AssertionError(f"non-CrdtError escaped: {type(exc).__name__}: {exc}") from exc
    doc._check()
    assert Doc.load(doc.save()).to_py() == doc.to_py()


@pytest.mark.parametrize(
    "data",
    [
        "not bytes",
        12,
        None,
        b"",
        SAVE_MAGIC,
        SAVE_MAGIC + msgpack.packb([2, [], []]),
        SAVE_MAGIC + msgpack.packb([1, [], "x"]),
        SAVE_MAGIC + msgpack.packb([1, {}, []]),
        SAVE_MAGIC + msgpack.packb([1, [], [1]]),
        SAVE_MAGIC + msgpack.packb({"a": 1}),
        SAVE_MAGIC + msgpack.packb([1, [], [b"garbage"]]),
    ],
)
def test_load_malformed(data):
    with pytest.raises(CrdtError):
        Doc.load(data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("heads", "changes"),
    [
        ([H3], [C1, C3]),  # C3's dep C2 is missing
        ([H1], [C1, b"garbage"]),
        ([H1], [C1, 5]),
        ("heads", [C1]),
        ([H1], "changes"),
    ],
)
def test_load_malformed_fields(heads, changes):
    with pytest.raises(CrdtError):
        Doc.load(_save_with(heads, changes))


def test_load_with_wrong_heads():
    for heads in ([b"\x00" * 32], [], [H1], [H3, H3], [H2]):
        with pytest.raises(HashMismatchError):
            Doc.load(_save_with(heads, [C1, C2, C3]))
    ok = Doc.load(_save_with([H3], [C1, C2, C3]))
    assert ok.to_py() == AFTER_C3


@pytest.mark.parametrize("bad", ["str", 5, None, 1.5, ["list"]])
def test_non_bytes_change_is_decode_error(bad):
    doc = _receiver(1)
    _assert_rejected_unchanged(doc, [C2, bad], DecodeError)


# ---------------------------------------------------------------- crafted invalid changes


def test_duplicate_seq():
    doc = _receiver(1)
    other, _ = encode_change(A, 1, 1, 0, "another seq 1", (), [(SET, None, "z", 1, ())])
    _assert_rejected_unchanged(doc, [other], DuplicateSeqError)
    doc.apply_changes([C2])
    again, _ = encode_change(B, 1, 20, 0, None, (H2,), [(SET, None, "z", 1, ())])
    _assert_rejected_unchanged(doc, [again], DuplicateSeqError)


def test_seq_gap():
    doc = _receiver(1)
    gap, _ = encode_change(A, 3, 13, 0, None, (H1,), [(SET, None, "z", 1, ())])
    err = _assert_rejected_unchanged(doc, [gap], InvalidChangeError)
    assert not isinstance(err, DuplicateSeqError)
    first, _ = encode_change(B, 2, 13, 0, None, (H1,), [(SET, None, "z", 1, ())])
    err = _assert_rejected_unchanged(doc, [first], InvalidChangeError)
    assert not isinstance(err, DuplicateSeqError)


@pytest.mark.parametrize("start_op", [1, 12, 14, 100])
def test_wrong_start_op(start_op):
    doc = _receiver(1)
    bad, _ = encode_change(B, 1, start_op, 0, None, (H1,), [(SET, None, "z", 1, ())])
    _assert_rejected_unchanged(doc, [bad], InvalidChangeError)


def test_wrong_start_op_without_deps():
    doc = Doc("ff")
    bad, _ = encode_change(A, 1, 2, 0, None, (), [(SET, None, "z", 1, ())])
    _assert_rejected_unchanged(doc, [bad], InvalidChangeError)


@pytest.mark.parametrize(
    "ops",
    [
        [(SET, (99, A), "x", 1, ())],  # no such object
        [(SET, (11, A), "x", 1, ())],  # op 11 is a scalar set, not an object
        [(INS, (2, A), None, "x")],  # an element of the text, not an object
        [(SET, (13, B), "x", 1, ())],  # the change's own op 13, not an object
        [(SET, None, "a", 1, ()), (SET, (14, B), "x", 1, ())],  # own later op
        [(SET, (9, C), "x", 1, ())],  # unknown actor
    ],
)
def test_op_on_unknown_object(ops):
    doc = _receiver(1)
    bad, _ = encode_change(B, 1, 13, 0, None, (H1,), ops)
    _assert_rejected_unchanged(doc, [bad], InvalidChangeError)


@pytest.mark.parametrize(
    "ops",
    [
        [(INS, TEXT, (50, A), "x")],  # no such element
        [(INS, TEXT, (8, A), "x")],  # an element of the list, not the text
        [(REM, TEXT, (50, A), 1)],
        [(REM, TEXT, (5, A), 3)],  # runs past the text's last element (6)
        [(SET, LIST, (3, A), 1, ())],  # a text element used as a list element
        [(DEL, LIST, (11, A), ((11, A),))],
        [(INS, TEXT, None, "ab"), (INS, TEXT, (16, B), "c")],  # own element not yet made
    ],
)
def test_unknown_element(ops):
    doc = _receiver(1)
    bad, _ = encode_change(B, 1, 13, 0, None, (H1,), ops)
    _assert_rejected_unchanged(doc, [bad], InvalidChangeError)


def test_own_earlier_elements_are_known():
    doc = _receiver(1)
    ok, _ = encode_change(
        B, 1, 13, 0, None, (H1,), [(INS, TEXT, None, "ab"), (INS, TEXT, (14, B), "c")]
    )
    doc.apply_changes([ok])
    assert doc.to_py()["t"] == "abchello"


def _concurrent_setup():
    """D by C, concurrent with C2 (both on C1): C2's element 13@B exists in the receiver
    but is not in D's causal past."""
    doc = _receiver(2)  # has C1 and C2
    return doc


@pytest.mark.parametrize(
    "op",
    [
        (INS, TEXT, (13, B), "?"),  # element inserted by C2
        (REM, TEXT, (13, B), 1),
        (SET, LIST, (17, B), "v", ()),  # element (object) inserted by C2
        (SET, (17, B), "y", 1, ()),  # object created by C2
        (SET, LIST, (9, A), "v", ((15, B),)),  # pred: C2's set
        (DEL, None, "n", ((16, B),)),  # pred: C2's increment
    ],
)
def test_reference_not_in_causal_past(op):
    doc = _concurrent_setup()
    # two filler ops first, so every referenced counter is below the op's own
    ops = [(SET, None, "f1", 1, ()), (SET, None, "f2", 1, ()), (SET, None, "f3", 1, ())]
    ops += [(SET, None, f"f{i}", 1, ()) for i in range(4, 8)]
    bad, _ = encode_change(C, 1, 13, 0, None, (H1,), [*ops, op])
    _assert_rejected_unchanged(doc, [bad], InvalidChangeError)
    # the same op is fine once the change depends on C2
    good, _ = encode_change(C, 1, 20, 0, None, (H2,), [*ops, op])
    doc.apply_changes([good])


@pytest.mark.parametrize("pred_ctr", [13, 14, 50])
def test_pred_not_before_op(pred_ctr):
    doc = _receiver(1)
    bad, _ = encode_change(B, 1, 13, 0, None, (H1,), [(SET, None, "k", 2, ((pred_ctr, B),))])
    _assert_rejected_unchanged(doc, [bad], InvalidChangeError)
    bad, _ = encode_change(B, 1, 13, 0, None, (H1,), [(SET, None, "k", 2, ((pred_ctr, A),))])
    _assert_rejected_unchanged(doc, [bad], InvalidChangeError)


@pytest.mark.parametrize(
    "op",
    [
        (INS, LIST, None, "abc"),  # text content into a list
        (INS, TEXT, None, [1, 2]),  # list content into a text
        (INS_MAKE, TEXT, None, ObjType.MAP),  # object into a text
        (INS, None, None, "x"),  # insert into the root map
        (REM, None, (11, A), 1),  # remove from a map
        (SET, TEXT, "key", 1, ()),  # map op on a text
        (SET, LIST, "key", 1, ()),  # map op on a list
        (SET, TEXT, (2, A), "x", ()),  # element set on a text
        (MAKE, TEXT, "key", ObjType.MAP, ()),
        (SET, None, (2, A), 1, ()),  # element key on a map
    ],
)
def test_op_on_wrong_object_type(op):
    doc = _receiver(1)
    bad, _ = encode_change(B, 1, 13, 0, None, (H1,), [op])
    _assert_rejected_unchanged(doc, [bad], InvalidChangeError)


# ---------------------------------------------------------------- canonical encoding


def _pieces(raw: bytes) -> list[bytes]:
    top = msgpack.unpackb(raw)
    pieces = [msgpack.packb(x) for x in top]
    assert b"\x99" + b"".join(pieces) == raw  # the hand re-encoding is exact
    return pieces


@pytest.mark.parametrize(
    ("index", "wide"),
    [
        (2, b"\xcf" + (1).to_bytes(8, "big")),  # seq 1 as uint64
        (2, b"\xcc\x01"),  # seq 1 as uint8
        (3, b"\xcd\x00\x0d"),  # start_op 13 as uint16
        (4, b"\xd3" + (0).to_bytes(8, "big")),  # time 0 as int64
        (1, b"\xd9\x04" + B),  # actor as str8 (wrong type and form)
        (1, b"\xc5\x00\x04" + B),  # actor as bin16
        (6, b"\xdc\x00\x01\xc4\x20" + H1),  # deps as array16
    ],
)
def test_non_canonical_encoding(index, wide):
    pieces = _pieces(C2)
    pieces[index] = wide
    raw = b"\x99" + b"".join(pieces)
    with pytest.raises(DecodeError):
        decode_change(raw)
    _assert_rejected_unchanged(_receiver(1), [raw], DecodeError)


def test_non_canonical_top_level_array_header():
    raw = b"\xdc\x00\x09" + C2[1:]
    with pytest.raises(DecodeError):
        decode_change(raw)


def test_non_canonical_float_width():
    raw, _ = encode_change(B, 1, 13, 0, None, (H1,), [(SET, None, "f", 0.5, ())])
    assert decode_change(raw).ops[0][3] == 0.5
    f32 = msgpack.packb(0.5, use_single_float=True)
    f64 = msgpack.packb(0.5)
    assert raw.count(f64) == 1
    with pytest.raises(DecodeError):
        decode_change(raw.replace(f64, f32))


def test_non_canonical_counter_payload():
    """A counter's payload is a msgpack int inside an ext: a wider form of the same int is
    a second encoding of the same change, so it must be refused like any other."""
    raw, _ = encode_change(B, 1, 13, 0, None, (H1,), [(SET, None, "c", Counter(5), ())])
    top = msgpack.unpackb(raw)
    ext = top[8][0][3]
    assert isinstance(ext, msgpack.ExtType) and ext.data == msgpack.packb(5)
    top[8][0][3] = msgpack.ExtType(ext.code, b"\xd3" + (5).to_bytes(8, "big", signed=True))
    wide = msgpack.packb(top)
    assert wide != raw
    with pytest.raises(DecodeError):
        decode_change(wide)


def test_deps_not_sorted_or_duplicated():
    d_b, h_b = encode_change(B, 1, 13, 0, None, (H1,), [(SET, None, "b", 1, ())])
    d_c, h_c = encode_change(C, 1, 13, 0, None, (H1,), [(SET, None, "c", 1, ())])
    lo, hi = sorted([h_b, h_c])
    doc = _receiver(1)
    doc.apply_changes([d_b, d_c])
    good, _ = encode_change(A, 2, 14, 0, None, (lo, hi), [(SET, None, "m", 1, ())])
    for deps in ((hi, lo), (lo, lo), (lo, hi, lo)):
        bad, _ = encode_change(A, 2, 14, 0, None, deps, [(SET, None, "m", 1, ())])
        with pytest.raises(DecodeError):
            decode_change(bad)
        _assert_rejected_unchanged(doc, [bad], DecodeError)
    doc.apply_changes([good])
    assert doc.to_py()["m"] == 1


@pytest.mark.parametrize(
    "table",
    [
        [A, b"\xee"],  # an actor no op uses
        [b"\x01", A],  # same, sorting before the used one
        [A, A],  # duplicate
        [b"\xee", A],  # not sorted
        [B, A],  # the author itself
        [],  # an op uses index 1, which is missing
    ],
)
def test_bad_actor_table(table):
    top = msgpack.unpackb(C2)
    assert top[7] == [A]
    top[7] = table
    raw = msgpack.packb(top)
    with pytest.raises(DecodeError):
        decode_change(raw)
    _assert_rejected_unchanged(_receiver(1), [raw], DecodeError)


@pytest.mark.parametrize(
    "op",
    [
        [99, None, "k", 1, []],  # unknown action
        [0, None, "k", 1],  # set with a missing field
        [0, None, "k", {"a": 1}, []],  # not a scalar
        [0, None, "k", 2**63, []],  # outside int64
        [3, [1, 0], None, ""],  # empty insert
        [3, [1, 0], None, []],
        [5, [1, 0], [2, 0], 0],  # remove zero
        [2, None, "k", 7, []],  # unknown object type
        [0, [0, 0], "k", 1, []],  # counter 0
        [0, [1, 5], "k", 1, []],  # actor index out of range
        [6, None, "n", 1.5, [[12, 1]]],  # increment by a float
        [0, None, "k", msgpack.ExtType(9, b"\x00"), []],  # unknown ext
    ],
)
def test_malformed_ops(op):
    top = msgpack.unpackb(C2)
    top[8] = [*top[8][:1], op]
    raw = msgpack.packb(top)
    with pytest.raises(DecodeError):
        decode_change(raw)
    _assert_rejected_unchanged(_receiver(1), [raw], DecodeError)


# ---------------------------------------------------------------- missing deps, hashes, size


def test_missing_dep_is_buffered_until_it_arrives():
    doc = _receiver(1)
    before = _state(doc)
    assert doc.apply_changes([C3]) == []
    assert doc.pending == 1
    assert (doc.to_py(), doc.heads, doc.change_count()) == before[:3]
    assert doc.missing_deps() == [H2]
    applied = doc.apply_changes([C2])
    assert [c.hash for c in applied] == [H2, H3]
    assert doc.pending == 0 and doc.missing_deps() == []
    assert doc.to_py() == AFTER_C3 and doc.heads == [H3]
    # a buffered change arriving twice is not buffered twice
    d2 = _receiver(1)
    d2.apply_changes([C3])
    d2.apply_changes([C3])
    assert d2.pending == 1


def test_decode_change_expected_hash():
    assert decode_change(C1, expected_hash=H1).hash == H1
    for wrong in (H2, b"\x00" * 32, H1[:-1] + bytes([H1[-1] ^ 1])):
        with pytest.raises(HashMismatchError):
            decode_change(C1, expected_hash=wrong)


def test_change_over_size_limit_refused():
    small, _ = encode_change(A, 1, 1, 0, None, (), [(SET, None, "z", 1, ())])
    limit = 40
    assert len(small) <= limit < len(C1)
    saved = _save_bytes()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(change_mod, "MAX_CHANGE_BYTES", limit)
        with pytest.raises(DecodeError):
            decode_change(C1)
        doc = Doc("ff")
        _assert_rejected_unchanged(doc, [C1], DecodeError)
        with pytest.raises(CrdtError):
            Doc.load(saved, verify=True)
        lazy = Doc.load(saved)  # the checkpoint loads; the history is decoded when needed
        with pytest.raises(CrdtError):
            lazy.get_changes()
        assert lazy.to_py() == AFTER_C3  # and the failed decode lost nothing
        assert decode_change(small).hash  # under the limit: fine
    doc.apply_changes([C1])  # limit restored
    assert doc.to_py() == BASE
    assert Doc.load(saved).to_py() == AFTER_C3


def test_reference_to_element_made_concurrently_on_another_doc():
    """Docs made with the API: x inserts text; y (which never saw it) sends a change
    naming x's element. The receiver knows the element, but it is not in y's past."""
    base = Doc("01", clock=lambda: 0)
    base.root.make_text("t", "abc")
    x = base.fork("02")
    y = base.fork("03")
    x["t"].insert(3, "X")
    (x_change,) = [decode_change(r) for r in x.get_changes(base.heads)]
    x_elem = (x_change.start_op, x.actor)  # the id of "X"
    receiver = base.fork("04")
    receiver.merge(x)
    # y makes ordinary edits (so its counters pass x's), then a crafted change that names
    # x's element while depending only on y's own history
    for i in range(3):
        y[f"k{i}"] = i
    text_id = y["t"].id
    seq = y.change_count() - base.change_count() + 1
    start = max(decode_change(r).end_op for r in y.get_changes()) + 1
    bad, _ = encode_change(
        y.actor, seq, start, 0, None, tuple(y.heads), [(INS, text_id, x_elem, "?")]
    )
    receiver.merge(y)
    _assert_rejected_unchanged(receiver, [bad], InvalidChangeError)
    assert str(receiver["t"]) == "abcX"
    # the same op, depending on x's change too, is accepted
    start2 = max(decode_change(r).end_op for r in receiver.get_changes()) + 1
    good, _ = encode_change(
        y.actor, seq, start2, 0, None, tuple(receiver.heads), [(INS, text_id, x_elem, "?")]
    )
    receiver.apply_changes([good])
    assert str(receiver["t"]) == "abcX?"


def test_malformed_change_after_many_applied_undoes_them_all():
    """Remote changes are decoded a chunk at a time, so a malformed one far into a batch is
    found after hundreds were applied: they are undone, listeners hear nothing, and the
    same batch without it applies in full."""
    src = Doc("aa", merge_interval=None)  # (a change per keystroke)
    t = src.root.make_text("t")
    for k in range(700):
        t.insert(k, "x")
    good = src.get_changes()
    doc = Doc("bb")
    doc.apply_changes(good[:10])
    heard: list[int] = []
    doc.on_change(lambda cs, origin: heard.append(len(cs)))
    sub = doc.observe(lambda patches: heard.append(-1))
    heads = doc.heads
    for bad in (good[600][:-3], b"\xc1" + good[600][1:]):
        _assert_rejected_unchanged(doc, [*good[10:600], bad, *good[601:]], DecodeError)
        assert heard == [] and doc.change_count() == 10 and doc.heads == heads
        doc._check()
    doc.apply_changes(good[10:])
    assert str(doc.root["t"]) == str(t) and heard[0] == len(good) - 10
    sub.close()


def test_invalid_buffered_change_fails_its_own_call_but_not_a_later_one():
    """A change waiting for a missing dep that turns out invalid when the dep arrives: in
    the call that brought it, the call fails and changes nothing; buffered by an earlier
    call, it is dropped into ``rejected`` and the valid changes that completed it apply."""
    bad, bad_hash = encode_change(C, 1, 99, 0, None, (H2,), [(SET, None, "z", 1, ())])
    doc = _receiver(1)
    _assert_rejected_unchanged(doc, [bad, C2, C3], InvalidChangeError)
    assert doc.pending == 0 and doc.rejected == []
    assert doc.apply_changes([bad]) == [] and doc.pending == 1
    applied = doc.apply_changes([C2, C3])
    assert [c.hash for c in applied] == [H2, H3]
    assert doc.to_py() == AFTER_C3 and doc.pending == 0
    assert [(u.hash, type(e)) for u, e in doc.rejected] == [(bad_hash, InvalidChangeError)]
    doc._check()


def test_failed_call_leaves_buffered_changes_waiting_for_the_deps_it_undid():
    """A change buffered for a missing dep; a later call brings the dep and then fails:
    the dep is undone, and the buffered change must wait for it again, so that the dep
    arriving once more releases it (it is not delivered again: it is buffered already)."""
    doc = _receiver(1)
    assert doc.apply_changes([C3]) == [] and doc.pending == 1
    _assert_rejected_unchanged(doc, [C2, C2[:-1]], DecodeError)
    applied = doc.apply_changes([C2])
    assert [c.hash for c in applied] == [H2, H3]
    assert doc.to_py() == AFTER_C3 and doc.pending == 0
    doc._check()


def test_failed_call_does_not_keep_the_rejections_it_made():
    """A buffered invalid change that a call's dep releases is dropped into ``rejected``;
    if that call then fails, the change is buffered again (the dep is undone), so the
    rejection is undone too: it is judged, once, when the dep arrives for good."""
    bad, bad_hash = encode_change(C, 1, 99, 0, None, (H2,), [(SET, None, "z", 1, ())])
    doc = _receiver(1)
    assert doc.apply_changes([bad]) == [] and doc.pending == 1
    _assert_rejected_unchanged(doc, [C2, C2[:-1]], DecodeError)
    assert doc.rejected == [] and doc.pending == 1
    assert [c.hash for c in doc.apply_changes([C2])] == [H2]
    assert [(u.hash, type(e)) for u, e in doc.rejected] == [(bad_hash, InvalidChangeError)]
    assert doc.pending == 0


@pytest.mark.parametrize("value", [Counter(2), "v"])
def test_change_reusing_its_authors_op_ids_is_refused_before_any_op(value):
    """A's second change made on nothing, so starting at op 1 again: its start op is right
    for its deps, but A's first change is not in its past, and its op takes that change's
    id.  It must be refused before any op is applied: applied, the id was in a map key's
    entries twice, and two entries (1, A) whose values do not compare (Counter) raised
    TypeError while sorting them in."""
    a1, h_a1 = encode_change(A, 1, 1, 0, None, (), [(SET, None, "a", Counter(1), ())])
    b1, _ = encode_change(
        B, 1, 2, 0, None, (h_a1,), [(SET, None, "a", "b", ())]
    )  # (concurrent value)
    doc = Doc("ff")
    doc.apply_changes([a1, b1])
    bad, _ = encode_change(A, 2, 1, 0, None, (), [(SET, None, "a", value, ())])
    err = _assert_rejected_unchanged(doc, [bad], InvalidChangeError)
    assert "previous change" in str(err)
