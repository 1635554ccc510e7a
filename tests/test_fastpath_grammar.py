"""The fast path's grammar (``crdt.fastpath._ONE_OP``) matches the canonical bytes of its
shapes and nothing else; so do ``_TEXT_OPS`` (the header of a change of several ops, and
the MAKEs it may start with) and ``_canonical_text_ops`` (the INS and REM ops after them).

The fast path trusts the grammar for every type and encoding of a text change, and for the
header of a map write: it does not test them again.  These tests write each field by hand
in every msgpack encoding of its value, and check that the grammar takes exactly the
canonical ones (as ``msgpack.packb`` writes them), in the range the path wants.  A
property test then damages real changes byte by byte: whatever the grammar takes and
msgpack decodes is canonical, and has the types the path relies on.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import Doc
from crdt.change import decode_change
from crdt.codec import pack_lists
from crdt.fastpath import _ONE_OP, _TEXT_OPS, _canonical_text_ops

INT64_MAX = 2**63 - 1
A = b"\x0a" * 16
H = b"\x11" * 32
INS = [1, A, 2, 5, 7, None, [H], [], [[3, [1, 0], [3, 0], "c"]]]
REM = [1, A, 2, 5, 7, None, [H], [], [[5, [1, 0], [3, 0], 1]]]
SET = [1, A, 2, 5, 7, None, [H], [], [[0, [4, 0], "k", "v", [[5, 0]]]]]
BASES = {"INS": INS, "REM": REM, "SET": SET}


def _encode(x: Any, at: tuple[int, ...] | None, sub: bytes) -> bytes:
    """``x`` in msgpack, with the item at path ``at`` written as the bytes ``sub``."""
    if at == ():
        return sub
    if type(x) is list:
        assert len(x) < 16
        parts = [_encode(v, at[1:] if at and at[0] == i else None, sub) for i, v in enumerate(x)]
        return bytes([0x90 | len(x)]) + b"".join(parts)
    return msgpack.packb(x)  # type: ignore[no-any-return]


def _int_forms(v: int) -> list[bytes]:
    """Every msgpack encoding of the int ``v``."""
    out = []
    if 0 <= v <= 0x7F:
        out.append(bytes([v]))
    if -32 <= v < 0:
        out.append(struct.pack(">b", v))
    for code, fmt in ((0xCC, ">B"), (0xCD, ">H"), (0xCE, ">I"), (0xCF, ">Q")):
        if 0 <= v < 1 << (8 * struct.calcsize(fmt)):
            out.append(bytes([code]) + struct.pack(fmt, v))
    for code, fmt in ((0xD0, ">b"), (0xD1, ">h"), (0xD2, ">i"), (0xD3, ">q")):
        bits = 8 * struct.calcsize(fmt)
        if -(1 << (bits - 1)) <= v < 1 << (bits - 1):
            out.append(bytes([code]) + struct.pack(fmt, v))
    return out


def _raw_forms(v: bytes, kind: str) -> list[bytes]:
    """Every msgpack encoding of ``v`` as a str (``kind`` "str") or a bin."""
    n = len(v)
    out = []
    if kind == "str":
        if n < 32:
            out.append(bytes([0xA0 | n]) + v)
        codes = (0xD9, 0xDA, 0xDB)
    else:
        codes = (0xC4, 0xC5, 0xC6)
    for code, fmt in zip(codes, (">B", ">H", ">I"), strict=True):
        if n < 1 << (8 * struct.calcsize(fmt)):
            out.append(bytes([code]) + struct.pack(fmt, n) + v)
    return out


def _takes(base: list[Any], at: tuple[int, ...], sub: bytes) -> bool:
    return _ONE_OP(_encode(base, at, sub)) is not None


def test_the_bases_are_changes_it_takes() -> None:
    for name, top in BASES.items():
        raw = msgpack.packb(top)
        assert _encode(top, None, b"") == raw
        decode_change(raw)  # (a well-formed change)
        m = _ONE_OP(raw)
        assert m is not None
        assert (m.group(1) is None) is (name != "SET")


BOUNDS = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, INT64_MAX]
BOUNDS += [2**63, 2**64 - 1, -1, -32, -33, -128, -129, -(2**15), -(2**31) - 1, -(2**63)]
INT_FIELDS = [  # (base, path, least, greatest) of an int the grammar takes
    ("INS", (2,), 0, INT64_MAX),  # seq (the path tests it equals the next one)
    ("INS", (3,), 0, INT64_MAX),  # start_op
    ("INS", (4,), 0, INT64_MAX),  # time
    ("INS", (8, 0, 1, 0), 0, INT64_MAX),  # the object's counter
    ("INS", (8, 0, 1, 1), 0, 2),  # its actor: the author or one of the table's two
    ("INS", (8, 0, 2, 0), 0, INT64_MAX),  # the ref's counter
    ("INS", (8, 0, 2, 1), 0, 2),
    ("REM", (8, 0, 1, 0), 0, INT64_MAX),
    ("REM", (8, 0, 2, 0), 0, INT64_MAX),
    ("REM", (8, 0, 3), 1, INT64_MAX),  # how many elements
    ("SET", (2,), 0, INT64_MAX),
    ("SET", (4,), 0, INT64_MAX),
    ("INS", (0,), 1, 1),  # the version
]


@pytest.mark.parametrize("name, at, least, greatest", INT_FIELDS)
def test_ints_in_every_encoding(name: str, at: tuple[int, ...], least: int, greatest: int) -> None:
    base = BASES[name]
    for v in [*BOUNDS, least, greatest, least - 1, greatest + 1]:
        for form in _int_forms(v):
            ok = form == msgpack.packb(v) and least <= v <= greatest
            assert _takes(base, at, form) is ok, (at, v, form.hex())
    for other in (None, True, False, 1.0, "1", b"\x01", [1]):
        assert not _takes(base, at, msgpack.packb(other)), (at, other)


@pytest.mark.parametrize(
    "name, at, kind, lengths, ok",
    [
        ("INS", (1,), "bin", [0, 1, 16, 64, 65, 300], lambda n, c: c and 1 <= n <= 64),  # author
        ("SET", (1,), "bin", [0, 1, 16, 64, 65], lambda n, c: c and 1 <= n <= 64),
        ("INS", (7, 0), "bin", [0, 1, 16, 64, 65], lambda n, c: c and 1 <= n <= 64),  # table
        ("INS", (6, 0), "bin", [0, 31, 32, 33], lambda n, c: c and n == 32),  # dep
        ("INS", (5,), "str", [0, 1, 31, 32, 300], lambda n, c: c and n < 32),  # message
        ("INS", (8, 0, 3), "str", [0, 1, 32, 255, 256, 65535, 65536], lambda n, c: c and n > 0),
        ("SET", (8, 0, 3), "str", [0, 1, 40], lambda n, c: True),  # (a SET's op is the loop's)
    ],
)
def test_strings_and_bins_in_every_encoding(
    name: str, at: tuple[int, ...], kind: str, lengths: list[int], ok: Any
) -> None:
    base = [*BASES[name]]
    base[7] = [b"\x0b" * 16]  # (a table actor to replace)
    for n in lengths:
        v = b"x" * n
        for form in _raw_forms(v, kind):
            canonical = form == msgpack.packb(v if kind == "bin" else v.decode())
            assert _takes(base, at, form) is ok(n, canonical), (at, n, form[:3].hex())
        wrong = "str" if kind == "bin" else "bin"
        if n and (at != (8, 0, 3) or name == "INS"):
            assert not _takes(base, at, _raw_forms(v, wrong)[0]), (at, n, wrong)


def test_arrays() -> None:
    # deps: one or two; table: up to two; one op of its length; top: nine items
    for k in range(5):
        hashes = [bytes([i]) * 32 for i in range(k)]
        assert _takes(INS, (6,), msgpack.packb(hashes)) is (1 <= k <= 2), k
        table = [bytes([i + 1]) * 16 for i in range(k)]
        assert _takes(INS, (7,), msgpack.packb(table)) is (k <= 2), k
        assert _takes(SET, (7,), msgpack.packb(table)) is (k <= 2), k
    op = INS[8][0]
    assert not _takes(INS, (8,), msgpack.packb([op, op]))
    assert not _takes(INS, (8,), msgpack.packb([]))
    assert not _takes(INS, (8, 0), msgpack.packb([*op, 1]))  # five items: not a SET
    assert not _takes(INS, (8, 0), msgpack.packb(op[:3]))
    assert not _takes(REM, (8, 0, 1), msgpack.packb([1, 0, 0]))
    assert not _takes(REM, (8, 0, 1), msgpack.packb(None))  # (the root: not text)
    assert not _takes(INS, (8, 0, 2), msgpack.packb(None))  # (at the head: the general path's)
    for code in (1, 2, 4, 6, 0):
        assert not _takes(INS, (8, 0, 0), msgpack.packb(code)), code
    for code in (1, 2, 3, 4, 5, 6):
        assert not _takes(SET, (8, 0, 0), msgpack.packb(code)), code
    # an array16 header where a fixarray does: not canonical
    assert not _takes(INS, (6,), b"\xdc\x00\x01\xc4\x20" + H)
    raw = msgpack.packb(INS)
    assert _ONE_OP(b"\xdc\x00\x09" + raw[1:]) is None
    assert _ONE_OP(b"\x98" + raw[1:]) is None
    assert _ONE_OP(raw[:-3]) is None  # (cut inside the ref)
    # the text's bytes run to the end: their count is unpack's to test
    for cut in (raw[:-1], raw + b"\xc0"):
        assert _ONE_OP(cut) is not None
        with pytest.raises(ValueError):
            msgpack.unpackb(cut)


def test_changes_of_several_text_ops() -> None:
    """``_TEXT_OPS`` takes a change on one dep or two whose ops array holds two ops or
    more, in its shortest header, the first an INS or REM; group 1 is the dep if there is
    one only, group 2 (empty) where the ops begin."""
    ins = INS[8][0]
    rem = REM[8][0]
    for n in (1, 2, 15, 16, 17, 300, 65535, 65536):
        for first in (ins, rem):
            top = [*INS[:8], [first] + [ins] * (n - 1)]
            raw = pack_lists(top)
            m = _TEXT_OPS(raw)
            assert (m is not None) is (n >= 2), n
            assert m is None or (m[1] == H and raw[m.start(2) :].startswith(pack_lists(first)))
            body = b"".join(pack_lists(op) for op in top[8])
            head = pack_lists(top[:8])[1:]
            wides = [b"\xdd" + n.to_bytes(4, "big")]
            if n < 1 << 16:
                wides.append(b"\xdc" + n.to_bytes(2, "big"))
            for wide in wides:
                ok = n >= 2 and b"\x99" + head + wide + body == raw
                assert (_TEXT_OPS(b"\x99" + head + wide + body) is not None) is ok, (n, wide)
    for other in (SET[8][0], [2, [1, 0], "k", 1, []], [4, [1, 0], None, 1], [1, None, "k", []]):
        assert _TEXT_OPS(pack_lists([*INS[:8], [other, ins]])) is None, other
    for deps in ([H, H[:-1] + b"\x12"], [H[:-1] + b"\x12", H]):  # (the loop tests the order)
        m = _TEXT_OPS(pack_lists([*INS[:6], deps, [], [ins, ins]]))
        assert m is not None and m[1] is None
    assert _TEXT_OPS(pack_lists([*INS[:6], [H, H, H], [], [ins, ins]])) is None
    assert _TEXT_OPS(pack_lists([*INS[:6], [H, H[:-1]], [], [ins, ins]])) is None
    assert _TEXT_OPS(pack_lists([*INS[:8], [[*ins, 1], ins]])) is None  # (five items)


def test_a_text_made_and_typed_whole() -> None:
    """``_TEXT_OPS`` also takes a change whose first op makes a text at a map key (the
    root, or a map named by index 0 or 1) with a key of up to 31 bytes and no pred, its
    second an INS (or after maps it makes first); and a change on no dep."""
    ins = INS[8][0]
    make = [2, None, "w", 2, []]
    assert _TEXT_OPS(pack_lists([*INS[:8], [make, ins]])) is not None
    no_dep = pack_lists([*INS[:6], [], [], [make, ins]])
    m = _TEXT_OPS(no_dep)
    assert m is not None and m[1] is None
    for other, ok in (
        ([2, [3, 0], "w", 2, []], True),
        ([2, [3, 1], "w", 2, []], True),
        ([2, [3, 2], "w", 2, []], False),
        ([2, None, "k" * 31, 2, []], True),
        ([2, None, "k" * 32, 2, []], False),  # (narrower than the format)
        ([2, None, "w", 1, []], False),  # a list
        ([2, None, "w", 0, []], False),  # a map
        ([2, None, "w", 2, [[1, 0]]], False),  # overwriting a value
        ([0, None, "w", 2, []], False),  # a SET
    ):
        assert (_TEXT_OPS(pack_lists([*INS[:8], [other, ins]])) is not None) is ok, other
    # maps made first, to hold the text (or each other): any number, each as a text's MAKE
    m = [2, None, "n", 0, []]
    for makes, ok in (
        ([m, make], True),
        ([m, [2, [3, 0], "o", 0, []], [2, [4, 1], "w", 2, []]], True),
        ([m] * 20 + [make], True),
        ([m, m], False),  # (no text)
        ([make, make], False),  # (a text, then no INS)
        ([m, make, m], False),
        ([[2, None, "n", 1, []], make], False),  # a list
        ([[2, None, "n", 0, [[1, 0]]], make], False),  # overwriting a value
        ([[2, [3, 2], "n", 0, []], make], False),
        ([[2, None, "k" * 32, 0, []], make], False),
        ([[0, None, "n", 0, []], make], False),  # a SET
    ):
        got = _TEXT_OPS(pack_lists([*INS[:8], [*makes, ins]])) is not None
        assert got is ok, makes
    rem = REM[8][0]
    assert _TEXT_OPS(pack_lists([*INS[:8], [make, rem]])) is None  # (the INS must follow)
    assert _TEXT_OPS(pack_lists([*INS[:8], [make, make]])) is None


def test_items_are_read_by_their_length() -> None:
    """Bytes the grammar and msgpack would split differently are not taken: here a dep of
    33 bytes whose last byte looks like an empty table, followed by a table holding an op
    that looks like the change's op (and the real ops hidden in the "text")."""
    op = INS[8][0]
    raw = msgpack.packb([1, A, 2, 5, 7, None, [H + b"\x90"], [op], [op]])
    assert msgpack.unpackb(raw)[7] == [op]  # (msgpack reads a table of one op)
    assert _ONE_OP(raw) is None


SEVERAL = [*INS[:7], [b"\x0b" * 16], [[3, [1, 1], [3, 0], "ab"], [5, [1, 1], [3, 1], 2]]]
SEVERAL[8] += [[3, [1, 1], None, "c"], [5, [1, 1], [9, 0], 1]]
TEXT_INT_FIELDS = [  # (path, least, greatest) of an int in the ops the grammar takes
    ((8, 0, 1, 0), 0, INT64_MAX),  # an INS's object: counter, actor index
    ((8, 0, 1, 1), 0, 2),  # (the author or one of the table's two: the loop tests which)
    ((8, 0, 2, 0), 0, INT64_MAX),  # its reference
    ((8, 0, 2, 1), 0, 2),
    ((8, 1, 1, 0), 0, INT64_MAX),  # a REM's object, first element, count
    ((8, 1, 1, 1), 0, 2),
    ((8, 1, 2, 0), 0, INT64_MAX),
    ((8, 1, 2, 1), 0, 2),
    ((8, 1, 3), 1, INT64_MAX),
    ((8, 3, 3), 1, INT64_MAX),  # (the last op's)
]


def _takes_ops(top: list[Any], at: tuple[int, ...] | None = None, sub: bytes = b"") -> bool:
    """Whether the fast path takes the text ops of change ``top`` (the item at ``at``
    written as ``sub``): ``_TEXT_OPS`` the change, then ``_canonical_text_ops`` its ops."""
    raw = _encode(top, at, sub)
    m = _TEXT_OPS(raw)
    return m is not None and _canonical_text_ops(raw, m.start(2))


def test_the_ops_of_a_change_of_several() -> None:
    raw = pack_lists(SEVERAL)
    decode_change(raw)  # (a well-formed change)
    assert _encode(SEVERAL, None, b"") == raw and _takes_ops(SEVERAL)
    for path, least, greatest in TEXT_INT_FIELDS:
        for v in [*BOUNDS, least, greatest, least - 1, greatest + 1]:
            for form in _int_forms(v):
                ok = form == msgpack.packb(v) and least <= v <= greatest
                assert _takes_ops(SEVERAL, path, form) is ok, (path, v, form.hex())
        for other in (None, True, False, 1.0, "1", b"\x01", [1]):
            # (None: only an INS's reference may be nil, at the head)
            ok = other is None and path[:-1] == (8, 0, 2)
            assert not _takes_ops(SEVERAL, path, msgpack.packb(other)), (path, other)
            assert _takes_ops(SEVERAL, path[:-1], msgpack.packb(other)) is ok, (path, other)
    for code in (0, 1, 2, 4, 6, 7):  # an op that is not an INS or REM
        assert not _takes_ops(SEVERAL, (8, 1, 0), msgpack.packb(code)), code
    for k in (0, 1, 3, 5):  # an op of the wrong length
        op = [*SEVERAL[8][1], 1][:k]
        assert not _takes_ops(SEVERAL, (8, 1), msgpack.packb(op)), k


@pytest.mark.parametrize("i", [0, 2])
def test_the_strings_of_a_change_of_several(i: int) -> None:
    """Every length in every encoding, in the middle of the ops and as the last one: a run
    of ops spells out each length up to 255 bytes, and a longer string is read by its
    length (``_LONG_INS``)."""
    for n in (0, 1, 2, 31, 32, 33, 200, 255, 256, 257, 65535, 65536, 70000):
        v = "é" * (n // 2) + "x" * (n % 2)
        for form in _raw_forms(v.encode(), "str"):
            canonical = form == msgpack.packb(v)
            assert _takes_ops(SEVERAL, (8, i, 3), form) is (canonical and n > 0), (n, form[:3])
            last = [*SEVERAL[:8], [SEVERAL[8][1], SEVERAL[8][i]]]
            assert _takes_ops(last, (8, 1, 3), form) is (canonical and n > 0), (n, form[:3])
        for form in _raw_forms(v.encode(), "bin"):
            assert not _takes_ops(SEVERAL, (8, i, 3), form), (n, form[:3])
    # a long string's length runs past the end of the change, or falls short of it
    raw = pack_lists([*SEVERAL[:8], [*SEVERAL[8][:2], [3, [1, 1], [3, 0], "y" * 300]]])
    m = _TEXT_OPS(raw)
    assert m is not None and _canonical_text_ops(raw, m.start(2))
    for bad in (raw[:-1], raw + b"\x01", raw + pack_lists(SEVERAL[8][1])[:-1]):
        assert not _canonical_text_ops(bad, m.start(2)), len(bad) - len(raw)
    assert _canonical_text_ops(raw + pack_lists(SEVERAL[8][1]), m.start(2))


def _history() -> list[bytes]:
    a = Doc(A, clock=lambda: 12345, merge_interval=None)
    t = a.root.make_text("t")
    m = a.root.make_map("m")
    b = a.fork(b"\x0b" * 16)
    for i in range(40):
        t.insert(i // 2, "xé😀"[i % 3])
        if i % 5 == 4:
            t.delete(i // 3, 2)
        if i % 7 == 0:
            m[f"k{i}"] = [None, True, 1.5, -7, 2**40, "v", b"\x00"][i % 7]
        if i % 9 == 0:
            b.root["t"].insert(0, "b")
            b.root["m"]["k0"] = i
            a.merge(b)
    return a.get_changes()


HISTORY = _history()


def _damaged(data: st.DataObject, history: list[bytes]) -> bytes:
    """One of ``history``'s changes with one to three bytes replaced, inserted or deleted."""
    raw = bytearray(data.draw(st.sampled_from(history)))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        how = data.draw(st.sampled_from(["set", "insert", "delete"]))
        if how == "set":
            raw[i] = data.draw(st.integers(0, 255))
        elif how == "insert":
            raw.insert(i, data.draw(st.integers(0, 255)))
        else:
            del raw[i]
    return bytes(raw)


@settings(max_examples=2000, deadline=None, derandomize=True)
@given(data=st.data())
def test_what_it_takes_is_canonical_and_typed(data: st.DataObject) -> None:
    """Damage a change (replace, insert, delete bytes): if the grammar still takes it and
    msgpack decodes it, it is canonical and has the types the fast path relies on."""
    b = _damaged(data, HISTORY)
    m = _ONE_OP(b)
    if m is None:
        return
    try:
        top = msgpack.unpackb(b)
    except Exception:
        return
    _, actor, seq, start_op, time, message, deps, table, ops = top
    assert top[0] == 1 and type(top[0]) is int
    assert type(actor) is bytes and 1 <= len(actor) <= 64
    for x in (seq, start_op, time):
        assert type(x) is int and 0 <= x <= INT64_MAX
    assert message is None or type(message) is str
    assert type(deps) is list and 1 <= len(deps) <= 2
    assert all(type(d) is bytes and len(d) == 32 for d in deps)
    assert type(table) is list and len(table) <= 2
    assert all(type(t) is bytes and 1 <= len(t) <= 64 for t in table)
    assert type(ops) is list and len(ops) == 1
    if m.group(1) is None:  # text: the op too
        assert pack_lists(top) == b
        a, o, r, x = ops[0]
        assert a in (3, 5) and type(a) is int
        for c, i in (o, r):
            assert type(c) is int and 0 <= c <= INT64_MAX and type(i) is int and i in (0, 1, 2)
        if a == 3:
            assert type(x) is str and x
        else:
            assert type(x) is int and 1 <= x <= INT64_MAX
    else:  # a SET: the header is canonical; the op is the loop's to test
        head = b"\x99" + b"".join(pack_lists(x) for x in top[:8])
        assert b.startswith(head + b"\x91\x95\x00")


def _several_history() -> list[bytes]:
    """Changes of several text ops: a text made (in a map made first) and typed whole,
    selections typed over, a paste of 300 bytes."""
    a = Doc(A, clock=lambda: 12345, merge_interval=None)
    with a.transaction():
        t = a.root.make_map("m").make_text("t")
        for i in range(12):
            t.insert(i // 2, "xé😀"[i % 3])
            if i % 5 == 4:
                t.delete(i // 3, 2)
    for i in range(20):
        with a.transaction():
            t.insert(i % 7, "ab"[i % 2] * (1 + i % 3))
            t.delete((i * 5) % (len(t) - 2), 1 + i % 2)
    with a.transaction():
        t.insert(3, "p" * 300)
        t.delete(0, 2)
    return [raw for raw in a.get_changes() if _TEXT_OPS(raw)]


SEVERAL_HISTORY = _several_history()


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(data=st.data())
def test_what_it_takes_of_several_ops_is_canonical_and_typed(data: st.DataObject) -> None:
    """As above, for changes of several text ops: if ``_TEXT_OPS`` and
    ``_canonical_text_ops`` still take a damaged one and msgpack decodes it, it is
    canonical and its INS and REM ops have the types ``crdt.fill.gather`` relies on."""
    b = _damaged(data, SEVERAL_HISTORY)
    m = _TEXT_OPS(b)
    if m is None or not _canonical_text_ops(b, m.start(2)):
        return
    try:
        top = msgpack.unpackb(b)
    except Exception:
        return
    assert pack_lists(top) == b
    ops = top[8]
    k = next(i for i, op in enumerate(ops) if len(op) == 4)  # (after the MAKEs)
    assert all(len(op) == 5 and op[0] == 2 for op in ops[:k])
    for a, o, r, x in ops[k:]:
        assert a in (3, 5) and type(a) is int
        for c, i in (o, r) if r is not None else (o,):
            assert type(c) is int and 0 <= c <= INT64_MAX and type(i) is int and i in (0, 1, 2)
        if a == 3:
            assert type(x) is str and x
        else:
            assert r is not None and type(x) is int and 1 <= x <= INT64_MAX


def test_the_several_history_has_the_shapes() -> None:
    tops = [msgpack.unpackb(raw) for raw in SEVERAL_HISTORY]
    assert len(tops) >= 15
    assert any(len(top[8][0]) == 5 for top in tops)  # (made and typed whole)
    assert any(any(len(op[3]) > 255 for op in top[8] if op[0] == 3) for top in tops)


def test_it_takes_the_changes_of_its_shape() -> None:
    takes = [_ONE_OP(raw) is not None for raw in HISTORY]
    for raw, took in zip(HISTORY, takes, strict=True):
        top = msgpack.unpackb(raw)
        op = top[8][0] if len(top[8]) == 1 else [None]
        shape = (op[0] in (3, 5) and len(op) == 4 and op[2] is not None) or (
            op[0] == 0 and len(op) == 5
        )
        assert took is (shape and len(top[7]) <= 2), top
    assert sum(takes) > 50
