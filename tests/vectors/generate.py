"""Regenerate the protocol test vectors in this folder (SPEC.md section 10).

    .venv/bin/python tests/vectors/generate.py

Writes ``changes.json``, ``saved.json``, ``invalid.json`` and ``scenarios.json``.

Every change is made with the engine's public API, with fixed actors and ``clock=lambda: 0``,
so the bytes and hashes are deterministic.  What each change must contain is written out
by hand below (``EXPECTED``), from the rules of SPEC.md sections 4 to 6; the script refuses
to write anything if the engine's bytes, decoded with plain ``msgpack``, say otherwise.  The
expected documents of the scenarios are derived by hand too (see each ``comment``); this script
copies them as they are and never runs the scenarios to fill them in.

``tests/test_vectors.py`` imports :func:`build_changes` to check that a fresh engine still
makes exactly these bytes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import msgpack

HERE = Path(__file__).resolve().parent
ROOT_DIR = HERE.parent.parent
if str(ROOT_DIR) not in sys.path:
    sys.path.insert(0, str(ROOT_DIR))

from crdt import Counter, Doc, ObjType  # noqa: E402

A = bytes.fromhex("aaaaaaaa")
B = bytes.fromhex("bbbbbbbb")
C = bytes.fromhex("cccccccc")


def _doc(actor: bytes) -> Doc:
    return Doc(actor, clock=lambda: 0)


def _new(doc: Doc, before: list[bytes]) -> bytes:
    """The one change ``doc`` has that ``before`` lacks."""
    new = [r for r in doc.get_changes() if r not in before]
    assert len(new) == 1, f"expected exactly one new change, got {len(new)}"
    return new[0]


# ---------------------------------------------------------------------------- changes


def build_changes() -> list[tuple[str, bytes]]:
    """Make the vector changes with the engine; returns ``[(name, bytes)]`` in causal order."""
    out: list[tuple[str, bytes]] = []

    def take(name: str, doc: Doc) -> None:
        out.append((name, _new(doc, [r for _, r in out])))

    a = _doc(A)
    with a.transaction(message="all scalar types") as tx:
        for key, value in [
            ("nil", None),
            ("true", True),
            ("false", False),
            ("int", 7),
            ("neg", -200),
            ("big", 2**40),
            ("min", -(2**63)),
            ("float", 1.5),
            ("whole_float", 2.0),
            ("str", "h\u00e9llo"),
            ("bytes", b"\x00\xff"),
            ("counter", Counter(3)),
        ]:
            tx.put(None, key, value)
    take("map_set_scalars", a)

    with a.transaction() as tx:
        tx.put(None, "int", 8)
        tx.put(None, "true", True)  # the value it already shows: no op
        tx.delete(None, "str")
        tx.delete(None, "missing")  # absent key: no op
        tx.increment(None, "counter", 2)
        tx.increment(None, "counter", -1)
    take("map_update_delete_increment", a)

    with a.transaction() as tx:
        m = tx.make(None, "m", ObjType.MAP)
        tx.put(m, "k", "v")
        lst = tx.make(m, "l", ObjType.LIST)
        inner = tx.insert_object(lst, 0, ObjType.MAP)
        tx.put(inner, "deep", True)
        tx.insert(lst, 1, [1, "two", None, 2.5, b"\x01"])
    take("nested_objects", a)

    with a.transaction() as tx:
        text = tx.make(None, "text", ObjType.TEXT)
        tx.insert(text, 0, "hello")
        tx.insert(text, 5, " world")  # continues the previous insert: one INS op
    take("text_typing", a)

    with a.transaction() as tx:
        tx.splice(text, 1, 3, "EY")  # "hello world" -> "hEYo world"
        tx.remove(text, 3, 1)  # -> "hEY world"; continues the previous REM
    take("text_splice", a)

    with a.transaction() as tx:
        lst2 = tx.make(None, "list", ObjType.LIST)
        tx.insert(lst2, 0, ["a", "b", "c", Counter(0)])
    take("list_insert", a)

    with a.transaction() as tx:
        tx.put(lst2, 1, "B")
        tx.increment(lst2, 3, 5)
        tx.remove(lst2, 0, 1)
        tx.remove(lst2, 0, 1)  # element 0 is now the overwritten "B": a DEL, not a REM
    take("list_element_ops", a)

    b = a.fork(actor=B)
    c = a.fork(actor=C)
    with b.transaction() as tx:
        tx.put(None, "int", 9)
        tx.insert(text, 0, ">")
        tx.put(m, "k", "w")
        tx.remove(text, 9, 1)
    take("foreign_actor", b)

    with c.transaction() as tx:
        tx.put(None, "int", 10)
    take("concurrent_put", c)

    b.merge(c)
    with b.transaction() as tx:
        tx.put(None, "int", 11)
        tx.put(m, "z", 1)
    take("merge_two_heads", b)
    return out


def build_saved() -> bytes:
    """``Doc.save()`` of actor B's document after every change above."""
    changes = build_changes()
    d = _doc(B)
    d.apply_changes([r for _, r in changes])
    return d.save()


# The hand-written expectation of every change (SPEC.md sections 4 and 6).  Op ids are
# written "counter@actorhex"; deps name other vectors and become their hashes.


def _a(n: int) -> str:
    return f"{n}@{A.hex()}"


def _b(n: int) -> str:
    return f"{n}@{B.hex()}"


def _c(n: int) -> str:
    return f"{n}@{C.hex()}"


def SET(
    id: str, obj: str | None, key: Any, value: dict[str, Any], pred: list[str]
) -> dict[str, Any]:
    k = {"key": key} if isinstance(key, str) else {"elem": key[0]}
    return {"id": id, "action": "set", "obj": obj, **k, "value": value, "pred": pred}


def DEL(id: str, obj: str | None, key: Any, pred: list[str]) -> dict[str, Any]:
    k = {"key": key} if isinstance(key, str) else {"elem": key[0]}
    return {"id": id, "action": "del", "obj": obj, **k, "pred": pred}


def MAKE(id: str, obj: str | None, key: str, type: str, pred: list[str]) -> dict[str, Any]:
    return {"id": id, "action": "make", "obj": obj, "key": key, "type": type, "pred": pred}


def INS(id: str, obj: str, ref: str | None, content: Any) -> dict[str, Any]:
    c = {"text": content} if isinstance(content, str) else {"values": content}
    return {"id": id, "action": "ins", "obj": obj, "ref": ref, **c}


def INS_MAKE(id: str, obj: str, ref: str | None, type: str) -> dict[str, Any]:
    return {"id": id, "action": "ins_make", "obj": obj, "ref": ref, "type": type}


def REM(id: str, obj: str, elem: str, n: int) -> dict[str, Any]:
    return {"id": id, "action": "rem", "obj": obj, "elem": elem, "n": n}


def INC(id: str, obj: str | None, key: Any, delta: int, pred: list[str]) -> dict[str, Any]:
    k = {"key": key} if isinstance(key, str) else {"elem": key[0]}
    return {"id": id, "action": "inc", "obj": obj, **k, "delta": delta, "pred": pred}


def E(id: str) -> tuple[str]:
    """An element key (as opposed to a map key)."""
    return (id,)


def _header(
    actor: bytes,
    seq: int,
    start: int,
    deps: list[str],
    actors: list[bytes],
    message: str | None = None,
) -> dict[str, Any]:
    return {
        "version": 1,
        "actor": actor.hex(),
        "seq": seq,
        "start_op": start,
        "time": 0,
        "message": message,
        "deps": deps,
        "actors": [x.hex() for x in actors],
    }


MAP_OBJ = _a(17)  # root["m"]
LIST_OBJ = _a(19)  # root["m"]["l"]
TEXT_OBJ = _a(27)  # root["text"]
LIST2_OBJ = _a(45)  # root["list"]

EXPECTED: dict[str, dict[str, Any]] = {
    "map_set_scalars": {
        **_header(A, 1, 1, [], [], "all scalar types"),
        "ops": [
            SET(_a(1), None, "nil", {"nil": None}, []),
            SET(_a(2), None, "true", {"bool": True}, []),
            SET(_a(3), None, "false", {"bool": False}, []),
            SET(_a(4), None, "int", {"int": 7}, []),
            SET(_a(5), None, "neg", {"int": -200}, []),
            SET(_a(6), None, "big", {"int": 1099511627776}, []),
            SET(_a(7), None, "min", {"int": -9223372036854775808}, []),
            SET(_a(8), None, "float", {"float": 1.5}, []),
            SET(_a(9), None, "whole_float", {"float": 2.0}, []),
            SET(_a(10), None, "str", {"str": "h\u00e9llo"}, []),
            SET(_a(11), None, "bytes", {"bytes": "00ff"}, []),
            SET(_a(12), None, "counter", {"counter": 3}, []),
        ],
    },
    "map_update_delete_increment": {
        **_header(A, 2, 13, ["map_set_scalars"], []),
        "ops": [
            SET(_a(13), None, "int", {"int": 8}, [_a(4)]),
            DEL(_a(14), None, "str", [_a(10)]),
            INC(_a(15), None, "counter", 2, [_a(12)]),
            INC(_a(16), None, "counter", -1, [_a(12)]),
        ],
    },
    "nested_objects": {
        **_header(A, 3, 17, ["map_update_delete_increment"], []),
        "ops": [
            MAKE(_a(17), None, "m", "map", []),
            SET(_a(18), MAP_OBJ, "k", {"str": "v"}, []),
            MAKE(_a(19), MAP_OBJ, "l", "list", []),
            INS_MAKE(_a(20), LIST_OBJ, None, "map"),
            SET(_a(21), _a(20), "deep", {"bool": True}, []),
            INS(
                _a(22),
                LIST_OBJ,
                _a(20),
                [
                    {"int": 1},
                    {"str": "two"},
                    {"nil": None},
                    {"float": 2.5},
                    {"bytes": "01"},
                ],
            ),
        ],
    },
    "text_typing": {
        **_header(A, 4, 27, ["nested_objects"], []),
        "ops": [
            MAKE(_a(27), None, "text", "text", []),
            INS(_a(28), TEXT_OBJ, None, "hello world"),
        ],
    },
    "text_splice": {
        # "hello world" is 28..38; splice(1, 3, "EY") inserts first (39, 40) after h=28,
        # then removes e,l,l = 29..31 (41..43); removing "o" = 32 continues that REM (44).
        **_header(A, 5, 39, ["text_typing"], []),
        "ops": [
            INS(_a(39), TEXT_OBJ, _a(28), "EY"),
            REM(_a(41), TEXT_OBJ, _a(29), 4),
        ],
    },
    "list_insert": {
        **_header(A, 6, 45, ["text_splice"], []),
        "ops": [
            MAKE(_a(45), None, "list", "list", []),
            INS(
                _a(46),
                LIST2_OBJ,
                None,
                [
                    {"str": "a"},
                    {"str": "b"},
                    {"str": "c"},
                    {"counter": 0},
                ],
            ),
        ],
    },
    "list_element_ops": {
        # elements a=46 b=47 c=48 counter=49
        **_header(A, 7, 50, ["list_insert"], []),
        "ops": [
            SET(_a(50), LIST2_OBJ, E(_a(47)), {"str": "B"}, [_a(47)]),
            INC(_a(51), LIST2_OBJ, E(_a(49)), 5, [_a(49)]),
            REM(_a(52), LIST2_OBJ, _a(46), 1),
            DEL(_a(53), LIST2_OBJ, E(_a(47)), [_a(50)]),
        ],
    },
    "foreign_actor": {
        # text is now "hEY world": h=28 E=39 Y=40 ' '=33 w=34 o=35 r=36 l=37 d=38;
        # after inserting ">" at 0 the "d" is at index 9.
        **_header(B, 1, 54, ["list_element_ops"], [A]),
        "ops": [
            SET(_b(54), None, "int", {"int": 9}, [_a(13)]),
            INS(_b(55), TEXT_OBJ, None, ">"),
            SET(_b(56), MAP_OBJ, "k", {"str": "w"}, [_a(18)]),
            REM(_b(57), TEXT_OBJ, _a(38), 1),
        ],
    },
    "concurrent_put": {
        **_header(C, 1, 54, ["list_element_ops"], [A]),
        "ops": [SET(_c(54), None, "int", {"int": 10}, [_a(13)])],
    },
    "merge_two_heads": {
        # deps: both heads, sorted bytewise; start_op = 1 + max(57, 54)
        **_header(B, 2, 58, ["foreign_actor", "concurrent_put"], [A, C]),
        "ops": [
            SET(_b(58), None, "int", {"int": 11}, [_b(54), _c(54)]),
            SET(_b(59), MAP_OBJ, "z", {"int": 1}, []),
        ],
    },
}


# ---------------------------------------------------------------------------- plain decoding

_ACTIONS = ["set", "del", "make", "ins", "ins_make", "rem", "inc"]
_TYPES = ["map", "list", "text"]


def plain_describe(raw: bytes) -> dict[str, Any]:
    """Describe a change from its bytes with plain msgpack only (the layout of SPEC 4 and 6)."""
    top = msgpack.unpackb(raw, raw=False)
    version, actor, seq, start, time, message, deps, table, ops = top
    actors = [actor, *table]

    def oid(x: Any) -> str | None:
        return None if x is None else f"{x[0]}@{actors[x[1]].hex()}"

    def val(v: Any) -> dict[str, Any]:
        if v is None:
            return {"nil": None}
        if isinstance(v, bool):
            return {"bool": v}
        if isinstance(v, int):
            return {"int": v}
        if isinstance(v, float):
            return {"float": v}
        if isinstance(v, str):
            return {"str": v}
        if isinstance(v, bytes):
            return {"bytes": v.hex()}
        assert isinstance(v, msgpack.ExtType) and v.code == 1
        return {"counter": msgpack.unpackb(v.data)}

    def key(k: Any) -> dict[str, Any]:
        return {"key": k} if isinstance(k, str) else {"elem": oid(k)}

    out = []
    ctr = start
    for op in ops:
        act = _ACTIONS[op[0]]
        d: dict[str, Any] = {"id": f"{ctr}@{actor.hex()}", "action": act, "obj": oid(op[1])}
        size = 1
        if act == "set":
            d |= key(op[2]) | {"value": val(op[3]), "pred": [oid(p) for p in op[4]]}
        elif act == "del":
            d |= key(op[2]) | {"pred": [oid(p) for p in op[3]]}
        elif act == "make":
            d |= {"key": op[2], "type": _TYPES[op[3]], "pred": [oid(p) for p in op[4]]}
        elif act == "ins":
            d["ref"] = oid(op[2])
            if isinstance(op[3], str):
                d["text"] = op[3]
            else:
                d["values"] = [val(v) for v in op[3]]
            size = len(op[3])
        elif act == "ins_make":
            d |= {"ref": oid(op[2]), "type": _TYPES[op[3]]}
        elif act == "rem":
            d |= {"elem": oid(op[2]), "n": op[3]}
            size = op[3]
        else:
            d |= key(op[2]) | {"delta": op[3], "pred": [oid(p) for p in op[4]]}
        out.append(d)
        ctr += size
    return {
        "version": version,
        "actor": actor.hex(),
        "seq": seq,
        "start_op": start,
        "time": time,
        "message": message,
        "deps": [x.hex() for x in deps],
        "actors": [x.hex() for x in table],
        "ops": out,
    }


def _blake(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=32).hexdigest()


def changes_json() -> list[dict[str, Any]]:
    built = build_changes()
    hashes = {name: _blake(raw) for name, raw in built}
    out = []
    for name, raw in built:
        want = dict(EXPECTED[name])
        want["deps"] = sorted(hashes[d] for d in want["deps"])
        got = plain_describe(raw)
        if got != want:
            raise SystemExit(
                f"vector {name}: the engine's change differs from the hand-written expectation\n"
                f"  engine:   {json.dumps(got)}\n  expected: {json.dumps(want)}"
            )
        out.append({"name": name, "hex": raw.hex(), "hash": hashes[name], "decoded": want})
    return out


# ---------------------------------------------------------------------------- invalid changes


def _pack(
    actor: bytes = A,
    seq: int = 1,
    start: int = 1,
    deps: list[bytes] | None = None,
    table: list[bytes] | None = None,
    ops: list[Any] | None = None,
    version: Any = 1,
    time: int = 0,
    message: str | None = None,
) -> bytes:
    """A change built directly from the layout of SPEC 6, bypassing the engine's encoder."""
    return msgpack.packb(
        [
            version,
            actor,
            seq,
            start,
            time,
            message,
            deps or [],
            table or [],
            ops if ops is not None else [[0, None, "k", 1, []]],
        ]
    )


def _run_across_changes() -> tuple[list[bytes], list[bytes], bytes]:
    """A REM whose range crosses from an element in the causal past into one that is not.

    A makes text t and types "ab" (2@aa, 3@aa; change 1), then "cd" (4@aa, 5@aa; change 2):
    the four elements are consecutive ids of one actor.  C, knowing only change 1, makes 16
    puts (counters 4..19).  B, knowing change 1 and C's change but not A's change 2, removes
    (2@aa, 4), i.e. a, b, c, d: c and d are not in its causal past (rule V8), although
    their counters (4, 5) are below the op's own (20).  Returns (context with A's change 2,
    context without it, B's change).
    """
    a = _doc(A)
    with a.transaction() as tx:
        t = tx.make(None, "t", ObjType.TEXT)
        tx.insert(t, 0, "ab")
    c1 = a.get_changes()
    with a.transaction() as tx:
        tx.insert(t, 2, "cd")
    c2 = _new(a, c1)
    c = _doc(C)
    c.apply_changes(c1)
    with c.transaction() as tx:
        for i in range(16):
            tx.put(None, f"k{i}", i)
    c3 = _new(c, c1)
    bad = _pack(actor=B, start=20, deps=sorted(c.heads), table=[A], ops=[[5, [1, 1], [2, 1], 4]])
    return [*c1, c2, c3], [*c1, c3], bad


def invalid_json(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Changes every implementation must refuse, each with the rule (SPEC 7) it breaks."""
    by = {c["name"]: bytes.fromhex(c["hex"]) for c in changes}
    h = {c["name"]: bytes.fromhex(c["hash"]) for c in changes}
    upto_list = [by[n] for n in list(by)[: list(by).index("list_element_ops") + 1]]
    head = h["list_element_ops"]
    text_obj = [27, 1]  # TEXT_OBJ through actor table entry 1 (= A) in a change by B
    list_obj = [45, 1]
    ok = _pack()
    run_ctx, run_ctx_partial, run_bad = _run_across_changes()
    cases: list[tuple[str, str, list[bytes], bytes, str]] = [
        # (name, rule, context, change, error)
        ("not_msgpack", "D1", [], b"\xc1", "DecodeError"),
        ("trailing_bytes", "D1", [], ok + b"\x00", "DecodeError"),
        ("not_9_elements", "D2", [], msgpack.packb([1, A, 1, 1, 0, None, [], []]), "DecodeError"),
        ("version_2", "D3", [], _pack(version=2), "DecodeError"),
        ("empty_actor", "D4", [], _pack(actor=b""), "DecodeError"),
        ("actor_65_bytes", "D4", [], _pack(actor=b"\x01" * 65), "DecodeError"),
        ("seq_0", "D5", [], _pack(seq=0), "DecodeError"),
        ("start_op_0", "D5", [], _pack(start=0), "DecodeError"),
        ("negative_time", "D6", [], _pack(time=-1), "DecodeError"),
        (
            "message_not_str",
            "D7",
            [],
            msgpack.packb([1, A, 1, 1, 0, b"m", [], [], [[0, None, "k", 1, []]]]),
            "DecodeError",
        ),
        ("dep_not_32_bytes", "D8", [], _pack(deps=[b"\x01" * 31]), "DecodeError"),
        ("deps_unsorted", "D8", [], _pack(deps=[b"\x02" * 32, b"\x01" * 32]), "DecodeError"),
        ("deps_duplicate", "D8", [], _pack(deps=[b"\x01" * 32, b"\x01" * 32]), "DecodeError"),
        (
            "table_has_author",
            "D9",
            [],
            _pack(table=[A], ops=[[0, None, "k", 1, [[1, 1]]]]),
            "DecodeError",
        ),
        (
            "table_unsorted",
            "D9",
            [],
            _pack(actor=B, table=[C, A], ops=[[0, None, "k", 1, [[1, 1], [1, 2]]]]),
            "DecodeError",
        ),
        ("table_unused_actor", "D9", [], _pack(actor=B, table=[A]), "DecodeError"),
        ("unknown_action", "D10", [], _pack(ops=[[7, None, "k", 1, []]]), "DecodeError"),
        ("wrong_arity", "D10", [], _pack(ops=[[0, None, "k", 1]]), "DecodeError"),
        (
            "actor_index_out_of_range",
            "D10",
            [],
            _pack(ops=[[0, None, "k", 1, [[1, 1]]]]),
            "DecodeError",
        ),
        ("op_id_counter_0", "D10", [], _pack(ops=[[0, None, "k", 1, [[0, 0]]]]), "DecodeError"),
        ("empty_text_insert", "D10", [], _pack(ops=[[3, [1, 0], None, ""]]), "DecodeError"),
        ("rem_count_0", "D10", [], _pack(ops=[[5, [1, 0], [1, 0], 0]]), "DecodeError"),
        ("unknown_object_type", "D10", [], _pack(ops=[[2, None, "k", 3, []]]), "DecodeError"),
        ("map_value_not_scalar", "D10", [], _pack(ops=[[0, None, "k", [1], []]]), "DecodeError"),
        (
            "unknown_ext_type",
            "D10",
            [],
            _pack(ops=[[0, None, "k", msgpack.ExtType(2, b"\x01"), []]]),
            "DecodeError",
        ),
        (
            "int_not_minimal",
            "D11",
            [],
            ok.replace(b"\x01\x01\x00", b"\xcd\x00\x01\x01\x00", 1),
            "DecodeError",
        ),
        (
            "float32",
            "D11",
            [],
            _pack(ops=[[0, None, "k", 1.5, []]]).replace(
                b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", b"\xca\x3f\xc0\x00\x00"
            ),
            "DecodeError",
        ),
        ("str_as_bin", "D11", [], _pack().replace(b"\xa1k", b"\xc4\x01k"), "DecodeError"),
        # history rules
        ("seq_gap", "V1", [], _pack(seq=2), "InvalidChangeError"),
        (
            "duplicate_seq",
            "V1",
            [by["map_set_scalars"]],
            _pack(message="another first change"),
            "DuplicateSeqError",
        ),
        ("start_op_too_high", "V2", [], _pack(start=2), "InvalidChangeError"),
        (
            "start_op_ignores_deps",
            "V2",
            [by["map_set_scalars"]],
            _pack(actor=B, deps=[h["map_set_scalars"]], start=1),
            "InvalidChangeError",
        ),
        (
            "author_chain_broken",
            "V3",
            [by["map_set_scalars"], by["map_update_delete_increment"]],
            # A's seq 3 that depends only on A's seq 1
            _pack(seq=3, start=13, deps=[h["map_set_scalars"]]),
            "InvalidChangeError",
        ),
        (
            "unknown_object",
            "V4",
            upto_list,
            _pack(actor=B, start=54, deps=[head], table=[A], ops=[[0, [999, 1], "k", 1, []]]),
            "InvalidChangeError",
        ),
        (
            "own_object_not_made",
            "V4",
            [],
            _pack(ops=[[0, [1, 0], "k", 1, []]]),
            "InvalidChangeError",
        ),
        (
            "unknown_element",
            "V5",
            upto_list,
            _pack(actor=B, start=54, deps=[head], table=[A], ops=[[3, text_obj, [26, 1], "x"]]),
            "InvalidChangeError",
        ),
        (
            "ref_not_before_op",
            "V5",
            [],
            _pack(ops=[[2, None, "t", 2, []], [3, [1, 0], [2, 0], "x"]]),
            "InvalidChangeError",
        ),
        (
            "pred_not_before_op",
            "V6",
            [],
            _pack(ops=[[0, None, "k", 1, [[1, 0]]]]),
            "InvalidChangeError",
        ),
        (
            "pred_unknown_op",
            "V6",
            [by["map_set_scalars"]],
            # names 12@bb: no such op (12@aa exists)
            _pack(
                actor=B, start=13, deps=[h["map_set_scalars"]], ops=[[0, None, "k", 1, [[12, 0]]]]
            ),
            "InvalidChangeError",
        ),
        (
            "text_insert_into_list",
            "V7",
            upto_list,
            _pack(actor=B, start=54, deps=[head], table=[A], ops=[[3, list_obj, None, "x"]]),
            "InvalidChangeError",
        ),
        (
            "list_insert_into_text",
            "V7",
            upto_list,
            _pack(actor=B, start=54, deps=[head], table=[A], ops=[[3, text_obj, None, ["x"]]]),
            "InvalidChangeError",
        ),
        (
            "object_insert_into_text",
            "V7",
            upto_list,
            _pack(actor=B, start=54, deps=[head], table=[A], ops=[[4, text_obj, None, 0]]),
            "InvalidChangeError",
        ),
        (
            "element_set_on_text",
            "V7",
            upto_list,
            _pack(
                actor=B,
                start=54,
                deps=[head],
                table=[A],
                ops=[[0, text_obj, [28, 1], "x", [[28, 1]]]],
            ),
            "InvalidChangeError",
        ),
        (
            "map_key_on_list",
            "V7",
            upto_list,
            _pack(actor=B, start=54, deps=[head], table=[A], ops=[[0, list_obj, "k", 1, []]]),
            "InvalidChangeError",
        ),
        (
            "element_key_on_map",
            "V7",
            upto_list,
            _pack(actor=B, start=54, deps=[head], table=[A], ops=[[0, None, [46, 1], 1, []]]),
            "InvalidChangeError",
        ),
        (
            "rem_on_map",
            "V7",
            upto_list,
            _pack(actor=B, start=54, deps=[head], table=[A], ops=[[5, None, [46, 1], 1]]),
            "InvalidChangeError",
        ),
        (
            "pred_not_in_causal_past",
            "V8",
            [*upto_list, by["foreign_actor"], by["concurrent_put"]],
            # C's second change, on its own first one only, overwrites B's 54@bb, which C
            # has not seen (54 < 55 passes the counter rule, the causal past rule fails)
            _pack(
                actor=C,
                seq=2,
                start=55,
                deps=[h["concurrent_put"]],
                table=[B],
                ops=[[0, None, "int", 12, [[54, 1]]]],
            ),
            "InvalidChangeError",
        ),
        ("rem_range_not_in_causal_past", "V8", run_ctx, run_bad, "InvalidChangeError"),
        ("rem_range_unknown_element", "V5", run_ctx_partial, run_bad, "InvalidChangeError"),
        (
            "counter_payload_not_minimal",
            "D11",
            [],
            _pack(ops=[[0, None, "k", msgpack.ExtType(1, b"\xd0\x05"), []]]),
            "DecodeError",
        ),
    ]
    out = []
    for name, rule, ctx, raw, err in cases:
        out.append(
            {
                "name": name,
                "rule": rule,
                "context": [x.hex() for x in ctx],
                "hex": raw.hex(),
                "error": err,
            }
        )
    return out


# ---------------------------------------------------------------------------- scenarios

AA = "aa" * 4
BB = "bb" * 4
CC = "cc" * 4


def _lines(*cmds: dict[str, Any]) -> list[str]:
    return [json.dumps(c, separators=(",", ":")) for c in cmds]


def _sync_all(*peers: str) -> list[dict[str, Any]]:
    return [{"cmd": "sync", "from": x, "to": y} for x in peers for y in peers if x != y]


def _peer(peer: str, actor: str) -> dict[str, Any]:
    return {"cmd": "new", "peer": peer, "actor": actor}


def _commit(peer: str) -> dict[str, Any]:
    return {"cmd": "commit", "peer": peer}


SCENARIOS: list[dict[str, Any]] = [
    {
        "name": "concurrent_map_puts_same_counter",
        "comment": [
            'a puts k="A" as op 1@aa, b puts k="B" as op 1@bb, neither sees the other.',
            "Both sets name no pred, so both survive as values of k (SPEC 4.2).",
            'Same counter: the actor bytes decide, bb > aa, so 1@bb wins: k = "B".',
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "put", "peer": "a", "path": ["k"], "value": "A"},
            _commit("a"),
            {"cmd": "put", "peer": "b", "path": ["k"], "value": "B"},
            _commit("b"),
            *_sync_all("a", "b"),
            {"cmd": "conflicts", "peer": "a", "path": ["k"]},
        ),
        "outputs": [{"peer": "a", "conflicts": {f"1@{AA}": "A", f"1@{BB}": "B"}}],
        "expected": {"a": {"k": "B"}, "b": {"k": "B"}},
    },
    {
        "name": "concurrent_map_puts_counter_beats_actor",
        "comment": [
            'a first puts x=1 (1@aa), then k="A" (2@aa); b puts k="B" (1@bb).',
            'Op ids compare by counter first: 2@aa > 1@bb although aa < bb, so k = "A".',
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "put", "peer": "a", "path": ["x"], "value": 1},
            {"cmd": "put", "peer": "a", "path": ["k"], "value": "A"},
            _commit("a"),
            {"cmd": "put", "peer": "b", "path": ["k"], "value": "B"},
            _commit("b"),
            *_sync_all("a", "b"),
        ),
        "expected": {"a": {"x": 1, "k": "A"}, "b": {"x": 1, "k": "A"}},
    },
    {
        "name": "delete_vs_put",
        "comment": [
            'a puts k="v0" (1@aa); both peers see it.',
            'Then concurrently a deletes k (DEL 2@aa, pred [1@aa]) and b puts k="v1"',
            "(SET 2@bb, pred [1@aa]).  A DEL removes only the ops its pred names, so 2@bb",
            'survives: k = "v1" on both (a delete concurrent with a set loses).',
            "Also: a second key d is deleted by a alone and stays deleted.",
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "put", "peer": "a", "path": ["k"], "value": "v0"},
            {"cmd": "put", "peer": "a", "path": ["d"], "value": "gone"},
            _commit("a"),
            {"cmd": "sync", "from": "a", "to": "b"},
            {"cmd": "delete", "peer": "a", "path": ["k"]},
            {"cmd": "delete", "peer": "a", "path": ["d"]},
            _commit("a"),
            {"cmd": "put", "peer": "b", "path": ["k"], "value": "v1"},
            _commit("b"),
            *_sync_all("a", "b"),
        ),
        "expected": {"a": {"k": "v1"}, "b": {"k": "v1"}},
    },
    {
        "name": "concurrent_text_inserts_same_position",
        "comment": [
            'a makes text t (1@aa) and types "xy" (2@aa, 3@aa); b receives it.',
            'a types "12" at 1, i.e. after x: INS ref 2@aa, elements 4@aa, 5@aa.',
            'b types "34" at 1, also after x: INS ref 2@aa, elements 4@bb, 5@bb.',
            "RGA: after x, skip elements with a greater id than the new one.  4@bb > 4@aa,",
            "so on a, inserting 4@bb after x skips nothing (4@aa < 4@bb) and goes first;",
            "on b, inserting 4@aa skips 4@bb and its run 5@bb, stops at y (3@aa < 4@aa).",
            'Runs never interleave: t = "x3412y" on both.',
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "make", "peer": "a", "path": ["t"], "type": "text"},
            {"cmd": "splice", "peer": "a", "path": ["t"], "pos": 0, "del": 0, "text": "xy"},
            _commit("a"),
            {"cmd": "sync", "from": "a", "to": "b"},
            {"cmd": "splice", "peer": "a", "path": ["t"], "pos": 1, "del": 0, "text": "12"},
            _commit("a"),
            {"cmd": "splice", "peer": "b", "path": ["t"], "pos": 1, "del": 0, "text": "34"},
            _commit("b"),
            *_sync_all("a", "b"),
        ),
        "expected": {"a": {"t": "x3412y"}, "b": {"t": "x3412y"}},
    },
    {
        "name": "concurrent_text_inserts_counter_decides",
        "comment": [
            'Text "xy" = 2@aa, 3@aa as before, seen by both.',
            'a inserts "A" at 1 (4@aa after x), commits, then "Z" at 1 (5@aa, also',
            "after x, placed before A because it is newer: a shows xZAy).",
            'b concurrently inserts "B" at 1 (4@bb after x).',
            "Children of x, in descending id order: 5@aa (Z), 4@bb (B), 4@aa (A).",
            'So t = "xZBAy" on both: the counter decides before the actor.',
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "make", "peer": "a", "path": ["t"], "type": "text"},
            {"cmd": "splice", "peer": "a", "path": ["t"], "pos": 0, "del": 0, "text": "xy"},
            _commit("a"),
            {"cmd": "sync", "from": "a", "to": "b"},
            {"cmd": "splice", "peer": "a", "path": ["t"], "pos": 1, "del": 0, "text": "A"},
            _commit("a"),
            {"cmd": "splice", "peer": "a", "path": ["t"], "pos": 1, "del": 0, "text": "Z"},
            _commit("a"),
            {"cmd": "splice", "peer": "b", "path": ["t"], "pos": 1, "del": 0, "text": "B"},
            _commit("b"),
            *_sync_all("a", "b"),
        ),
        "expected": {"a": {"t": "xZBAy"}, "b": {"t": "xZBAy"}},
    },
    {
        "name": "insert_after_concurrently_deleted_element",
        "comment": [
            'Text "abc" = 2@aa..4@aa, seen by both.  a deletes b (REM 3@aa, 1 at 5@aa);',
            'b inserts "X" at 2, after b (5@bb, ref 3@aa).  The deleted b stays as a',
            'tombstone, so X still goes right after it: t = "aXc" on both.',
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "make", "peer": "a", "path": ["t"], "type": "text"},
            {"cmd": "splice", "peer": "a", "path": ["t"], "pos": 0, "del": 0, "text": "abc"},
            _commit("a"),
            {"cmd": "sync", "from": "a", "to": "b"},
            {"cmd": "splice", "peer": "a", "path": ["t"], "pos": 1, "del": 1, "text": ""},
            _commit("a"),
            {"cmd": "splice", "peer": "b", "path": ["t"], "pos": 2, "del": 0, "text": "X"},
            _commit("b"),
            *_sync_all("a", "b"),
        ),
        "expected": {"a": {"t": "aXc"}, "b": {"t": "aXc"}},
    },
    {
        "name": "concurrent_list_inserts",
        "comment": [
            'a makes list l (1@aa) and inserts "x" at 0 (2@aa, ref head); b receives it.',
            'a inserts "a1" at 1 (3@aa, ref 2@aa).',
            'b inserts "b1" at 1 (3@bb, ref 2@aa), commits, then "b0" at 0 (4@bb, ref head).',
            "Head children in descending id order: 4@bb (b0), 2@aa (x).",
            "Children of x: 3@bb (b1) before 3@aa (a1) since bb > aa.",
            'l = ["b0", "x", "b1", "a1"] on both.',
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "make", "peer": "a", "path": ["l"], "type": "list"},
            {"cmd": "insert", "peer": "a", "path": ["l", 0], "value": "x"},
            _commit("a"),
            {"cmd": "sync", "from": "a", "to": "b"},
            {"cmd": "insert", "peer": "a", "path": ["l", 1], "value": "a1"},
            _commit("a"),
            {"cmd": "insert", "peer": "b", "path": ["l", 1], "value": "b1"},
            _commit("b"),
            {"cmd": "insert", "peer": "b", "path": ["l", 0], "value": "b0"},
            _commit("b"),
            *_sync_all("a", "b"),
        ),
        "expected": {"a": {"l": ["b0", "x", "b1", "a1"]}, "b": {"l": ["b0", "x", "b1", "a1"]}},
    },
    {
        "name": "list_set_survives_concurrent_remove",
        "comment": [
            'List l = ["x", "y"] (1@aa make, 2@aa and 3@aa inserted one per commit).',
            'a sets l[0] = "X": SET on element 2@aa with pred [2@aa] (4@aa).',
            "b removes l[0]: REM of element 2@aa, which removes only its insert op 2@aa.",
            "The element stays visible while a value op survives: 4@aa does.",
            'l = ["X", "y"] on both.',
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "make", "peer": "a", "path": ["l"], "type": "list"},
            {"cmd": "insert", "peer": "a", "path": ["l", 0], "value": "x"},
            _commit("a"),
            {"cmd": "insert", "peer": "a", "path": ["l", 1], "value": "y"},
            _commit("a"),
            {"cmd": "sync", "from": "a", "to": "b"},
            {"cmd": "put", "peer": "a", "path": ["l", 0], "value": "X"},
            _commit("a"),
            {"cmd": "delete", "peer": "b", "path": ["l", 0]},
            _commit("b"),
            *_sync_all("a", "b"),
        ),
        "expected": {"a": {"l": ["X", "y"]}, "b": {"l": ["X", "y"]}},
    },
    {
        "name": "splice_counters_inserts_before_deletions",
        "comment": [
            'Text "abc" = 2@aa, 3@aa, 4@aa (1@aa is the make), seen by both.',
            'a: splice(1, 1, "XY"): the inserted elements take counters first, X=5@aa,',
            "Y=6@aa (ref a=2@aa), then the removal of b takes 7@aa (SPEC 5.1).",
            'b: splice(1, 0, "W"): W=5@bb, ref 2@aa.',
            'Children of a: 5@bb (W) > 5@aa (X), so t = "aWXYc".  Had the deletion',
            'taken 5@aa, X would be 6@aa > 5@bb and the result "aXYWc".',
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "make", "peer": "a", "path": ["t"], "type": "text"},
            {"cmd": "splice", "peer": "a", "path": ["t"], "pos": 0, "del": 0, "text": "abc"},
            _commit("a"),
            {"cmd": "sync", "from": "a", "to": "b"},
            {"cmd": "splice", "peer": "a", "path": ["t"], "pos": 1, "del": 1, "text": "XY"},
            _commit("a"),
            {"cmd": "splice", "peer": "b", "path": ["t"], "pos": 1, "del": 0, "text": "W"},
            _commit("b"),
            *_sync_all("a", "b"),
        ),
        "expected": {"a": {"t": "aWXYc"}, "b": {"t": "aWXYc"}},
    },
    {
        "name": "noop_write_takes_no_counter",
        "comment": [
            "a puts k=1 (1@aa) and commits.  Then a puts k=1 again: the value k already",
            'shows, so no op and no counter (SPEC 5.2); deleting the absent key "nope" is',
            'no op either.  a then puts m="a", which therefore is 2@aa.',
            'b concurrently puts x=0 (1@bb) and m="b" (2@bb).',
            'm: 2@bb > 2@aa, so m = "b".  (Had the no-ops taken counters, m="a" would be',
            "4@aa and win.)",
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "put", "peer": "a", "path": ["k"], "value": 1},
            _commit("a"),
            {"cmd": "put", "peer": "a", "path": ["k"], "value": 1},
            {"cmd": "delete", "peer": "a", "path": ["nope"]},
            {"cmd": "put", "peer": "a", "path": ["m"], "value": "a"},
            _commit("a"),
            {"cmd": "put", "peer": "b", "path": ["x"], "value": 0},
            {"cmd": "put", "peer": "b", "path": ["m"], "value": "b"},
            _commit("b"),
            *_sync_all("a", "b"),
        ),
        "expected": {"a": {"k": 1, "m": "b", "x": 0}, "b": {"k": 1, "m": "b", "x": 0}},
    },
    {
        "name": "write_shown_value_under_conflict_deletes_losers",
        "comment": [
            "a puts k=1 (1@aa), b puts k=2 (1@bb); after syncing k shows 2 (1@bb wins)",
            "with 1@aa as a conflict.",
            "a then puts k=2, the value k already shows: under a conflict this is one DEL",
            "naming only the losing op 1@aa (2@aa), not a new SET (SPEC 5.2).",
            "So the one remaining value op of k is 1@bb, as the conflicts command shows.",
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "put", "peer": "a", "path": ["k"], "value": 1},
            _commit("a"),
            {"cmd": "put", "peer": "b", "path": ["k"], "value": 2},
            _commit("b"),
            *_sync_all("a", "b"),
            {"cmd": "put", "peer": "a", "path": ["k"], "value": 2},
            _commit("a"),
            *_sync_all("a", "b"),
            {"cmd": "conflicts", "peer": "b", "path": ["k"]},
        ),
        "outputs": [{"peer": "b", "conflicts": {f"1@{BB}": 2}}],
        "expected": {"a": {"k": 2}, "b": {"k": 2}},
    },
    {
        "name": "make_in_list_inserts",
        "comment": [
            "make with a path ending in a list index inserts a new object there",
            "(INS_MAKE), it does not replace the element at that index.",
            'l = ["x"]; make map at [l, 0] -> l = [{}, "x"]; put k=1 in it.',
        ],
        "lines": _lines(
            _peer("a", AA),
            {"cmd": "make", "peer": "a", "path": ["l"], "type": "list"},
            {"cmd": "insert", "peer": "a", "path": ["l", 0], "value": "x"},
            {"cmd": "make", "peer": "a", "path": ["l", 0], "type": "map"},
            {"cmd": "put", "peer": "a", "path": ["l", 0, "k"], "value": 1},
            _commit("a"),
        ),
        "expected": {"a": {"l": [{"k": 1}, "x"]}},
    },
    {
        "name": "list_typing_in_one_transaction",
        "comment": [
            "a makes list l (1@aa) and, in the same transaction, inserts 1 at 0 (2@aa),",
            "2 at 1 (3@aa) and 3 at 2 (4@aa).  These continue each other, so they merge",
            "into one INS of [1, 2, 3] (SPEC 5.5).  b receives the change: l = [1, 2, 3].",
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "make", "peer": "a", "path": ["l"], "type": "list"},
            {"cmd": "insert", "peer": "a", "path": ["l", 0], "value": 1},
            {"cmd": "insert", "peer": "a", "path": ["l", 1], "value": 2},
            {"cmd": "insert", "peer": "a", "path": ["l", 2], "value": 3},
            _commit("a"),
            {"cmd": "sync", "from": "a", "to": "b"},
        ),
        "expected": {"a": {"l": [1, 2, 3]}, "b": {"l": [1, 2, 3]}},
    },
    {
        "name": "list_insert_then_object_in_one_transaction",
        "comment": [
            "a makes list l (1@aa), inserts 1 at 0 (INS 2@aa), then makes a map at index 1:",
            "an INS_MAKE 3@aa after 2@aa (INS_MAKE never merges, SPEC 5.5), and puts k=1 in",
            'it (SET 4@aa on object 3@aa).  b receives the change: l = [1, {"k": 1}].',
        ],
        "lines": _lines(
            _peer("a", AA),
            _peer("b", BB),
            {"cmd": "make", "peer": "a", "path": ["l"], "type": "list"},
            {"cmd": "insert", "peer": "a", "path": ["l", 0], "value": 1},
            {"cmd": "make", "peer": "a", "path": ["l", 1], "type": "map"},
            {"cmd": "put", "peer": "a", "path": ["l", 1, "k"], "value": 1},
            _commit("a"),
            {"cmd": "sync", "from": "a", "to": "b"},
        ),
        "expected": {"a": {"l": [1, {"k": 1}]}, "b": {"l": [1, {"k": 1}]}},
    },
    {
        "name": "errors_are_reported_and_the_driver_goes_on",
        "comment": [
            "Bad commands print an error line and change nothing: an unknown peer, a",
            "splice on a map, an insert into text, an unknown command.  The put after",
            "them still works.",
        ],
        "lines": _lines(
            _peer("a", AA),
            {"cmd": "put", "peer": "zz", "path": ["k"], "value": 1},
            {"cmd": "splice", "peer": "a", "path": [], "pos": 0, "del": 0, "text": "x"},
            {"cmd": "make", "peer": "a", "path": ["t"], "type": "text"},
            {"cmd": "insert", "peer": "a", "path": ["t", 0], "value": "x"},
            {"cmd": "frobnicate"},
            {"cmd": "put", "peer": "a", "path": ["k"], "value": 1},
            _commit("a"),
        ),
        "outputs": [
            {"error": "UsageError"},
            {"error": "UsageError"},
            {"error": "UsageError"},
            {"error": "UsageError"},
        ],
        "expected": {"a": {"k": 1, "t": ""}},
    },
]


def scenarios_json() -> list[dict[str, Any]]:
    return SCENARIOS


# ---------------------------------------------------------------------------- main


def _write(name: str, data: Any) -> None:
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    (HERE / name).write_text(text, encoding="utf-8")
    print(f"wrote {name} ({len(data)} entries)")


def main() -> int:
    changes = changes_json()
    _write("changes.json", changes)
    saved = build_saved()
    old = json.loads((HERE / "saved.json").read_text()) if (HERE / "saved.json").exists() else {}
    _write(
        "saved.json",
        {
            "hex": saved.hex(),
            # the same document in save formats 2 (history only) and 3 (the history as one
            # record), kept as written then: format 4 readers must still load them
            "hex_v2": old.get("hex_v2") or old["hex"],
            "hex_v3": old.get("hex_v3") or old["hex"],
            "heads": [changes[-1]["hash"]],
            "changes": [c["name"] for c in changes],
        },
    )
    _write("invalid.json", invalid_json(changes))
    _write("scenarios.json", scenarios_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
