"""The protocol test vectors of SPEC.md section 10 (files in tests/vectors/).

The byte-level checks decode with plain ``msgpack`` and ``hashlib`` and the layout tables
of SPEC.md written out again below, so they do not trust the engine's own codec; the
engine is then checked against the same bytes.  Regenerate the files with
``.venv/bin/python tests/vectors/generate.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import zlib
from pathlib import Path
from typing import Any

import msgpack
import pytest
import xxhash

import crdt
from crdt import Counter, Doc, decode_change
from crdt.conformance import Driver, main

VECTORS = Path(__file__).resolve().parent / "vectors"


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


CHANGES: list[dict[str, Any]] = _load("changes.json")
SAVED: dict[str, Any] = _load("saved.json")
INVALID: list[dict[str, Any]] = _load("invalid.json")
SCENARIOS: list[dict[str, Any]] = _load("scenarios.json")

# Places where the engine does not (yet) follow SPEC.md; each is in the SPEC's list of
# known discrepancies.  strict: once fixed, the XPASS fails and the entry must go.
KNOWN_BUGS: dict[str, str] = {}


def _params(items: list[dict[str, Any]]) -> list[Any]:
    out = []
    for it in items:
        marks = []
        if it["name"] in KNOWN_BUGS:
            marks.append(pytest.mark.xfail(reason=KNOWN_BUGS[it["name"]], strict=True))
        out.append(pytest.param(it, id=it["name"], marks=marks))
    return out


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("vectors_generate", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ----------------------------------------------------------------- SPEC 4 and 6, again

# action code -> (name, wire fields after the action), SPEC.md table 4.1
OP_LAYOUT = {
    0: ("set", ("obj", "key", "value", "pred")),
    1: ("del", ("obj", "key", "pred")),
    2: ("make", ("obj", "key", "type", "pred")),
    3: ("ins", ("obj", "ref", "content")),
    4: ("ins_make", ("obj", "ref", "type")),
    5: ("rem", ("obj", "elem", "n")),
    6: ("inc", ("obj", "key", "delta", "pred")),
}
OBJ_TYPES = {0: "map", 1: "list", 2: "text"}
HEADER = ("version", "actor", "seq", "start_op", "time", "message", "deps", "actors", "ops")


def _scalar(v: Any) -> dict[str, Any]:
    if isinstance(v, msgpack.ExtType):
        assert v.code == 1, "the only ext type is 1 (counter)"
        n = msgpack.unpackb(v.data)
        assert type(n) is int and msgpack.packb(n) == v.data, "counter payload"
        return {"counter": n}
    if v is None:
        return {"nil": None}
    kind = {bool: "bool", int: "int", float: "float", str: "str", bytes: "bytes"}[type(v)]
    return {kind: v.hex() if kind == "bytes" else v}


def describe(raw: bytes) -> dict[str, Any]:
    """Decode a change with plain msgpack following SPEC 6, checking its structural rules."""
    top = msgpack.unpackb(raw, raw=False)
    assert isinstance(top, list) and len(top) == 9
    f = dict(zip(HEADER, top, strict=True))
    assert f["version"] == 1
    actor, table = f["actor"], f["actors"]
    assert type(actor) is bytes and 1 <= len(actor) <= 64
    assert table == sorted(set(table)) and actor not in table, "actor table rule"
    deps = f["deps"]
    assert all(type(d) is bytes and len(d) == 32 for d in deps)
    assert deps == sorted(set(deps)), "deps sorted and unique"
    actors = [actor, *table]
    used: set[bytes] = set()

    def opid(x: Any) -> str | None:
        if x is None:
            return None
        c, i = x
        assert type(c) is int and c >= 1
        used.add(actors[i])
        return f"{c}@{actors[i].hex()}"

    ops = []
    ctr = f["start_op"]
    for wire in f["ops"]:
        name, fields = OP_LAYOUT[wire[0]]
        assert len(wire) == 1 + len(fields), f"{name} arity"
        w = dict(zip(fields, wire[1:], strict=True))
        d: dict[str, Any] = {"id": f"{ctr}@{actor.hex()}", "action": name, "obj": opid(w["obj"])}
        size = 1
        if "key" in w:
            k = w["key"]
            if isinstance(k, str):
                d["key"] = k
            else:
                d["elem"] = opid(k)
        if "value" in w:
            d["value"] = _scalar(w["value"])
        if "type" in w:
            d["type"] = OBJ_TYPES[w["type"]]
        if "ref" in w:
            d["ref"] = opid(w["ref"])
        if "content" in w:
            c = w["content"]
            if isinstance(c, str):
                d["text"] = c
            else:
                d["values"] = [_scalar(v) for v in c]
            size = len(c)
            assert size >= 1
        if "elem" in w:
            d["elem"] = opid(w["elem"])
            d["n"] = w["n"]
            size = w["n"]
        if "delta" in w:
            d["delta"] = w["delta"]
        if "pred" in w:
            d["pred"] = [opid(p) for p in w["pred"]]
        ops.append(d)
        ctr += size
    assert set(table) <= used, "every actor in the table is used"
    return {
        **{k: f[k] for k in ("version", "seq", "start_op", "time", "message")},
        "actor": actor.hex(),
        "deps": [x.hex() for x in deps],
        "actors": [x.hex() for x in table],
        "ops": ops,
    }


# ----------------------------------------------------------------- changes.json


@pytest.mark.parametrize("vec", _params(CHANGES))
def test_change_hash_is_blake2b_256_of_the_bytes(vec: dict[str, Any]) -> None:
    raw = bytes.fromhex(vec["hex"])
    assert hashlib.blake2b(raw, digest_size=32).hexdigest() == vec["hash"]
    assert decode_change(raw).hash.hex() == vec["hash"]
    assert decode_change(raw, expected_hash=bytes.fromhex(vec["hash"])).raw == raw


@pytest.mark.parametrize("vec", _params(CHANGES))
def test_change_is_canonical(vec: dict[str, Any]) -> None:
    raw = bytes.fromhex(vec["hex"])
    assert msgpack.packb(msgpack.unpackb(raw, raw=False)) == raw


@pytest.mark.parametrize("vec", _params(CHANGES))
def test_change_layout_matches_description(vec: dict[str, Any]) -> None:
    assert describe(bytes.fromhex(vec["hex"])) == vec["decoded"]


@pytest.mark.parametrize("vec", _params(CHANGES))
def test_engine_decodes_the_described_fields(vec: dict[str, Any]) -> None:
    d = vec["decoded"]
    c = decode_change(bytes.fromhex(vec["hex"]))
    assert c.actor.hex() == d["actor"]
    assert (c.seq, c.start_op, c.time, c.message) == (
        d["seq"],
        d["start_op"],
        d["time"],
        d["message"],
    )
    assert [x.hex() for x in c.deps] == d["deps"]
    assert len(c.ops) == len(d["ops"])
    sizes = [len(o.get("text", o.get("values", []))) or o.get("n", 1) for o in d["ops"]]
    assert c.n_ops == sum(sizes)
    assert c.end_op == c.start_op + sum(sizes) - 1


def test_vector_deps_point_backwards() -> None:
    seen: set[str] = set()
    for vec in CHANGES:
        assert set(vec["decoded"]["deps"]) <= seen
        seen.add(vec["hash"])


def test_engine_reproduces_vector_bytes() -> None:
    """Determinism: a fresh engine, same actors, clock 0, must make exactly these bytes."""
    built = _generator().build_changes()
    assert [name for name, _ in built] == [v["name"] for v in CHANGES]
    for (name, raw), vec in zip(built, CHANGES, strict=True):
        assert raw.hex() == vec["hex"], f"encoding of {name} changed"


def _final_document() -> dict[str, Any]:
    # Worked out by hand from the descriptions in changes.json (SPEC 4):
    return {
        "nil": None,
        "true": True,
        "false": False,
        "int": 11,  # 58@bb overwrites 54@bb and 54@cc, which overwrote 13@aa
        "neg": -200,
        "big": 2**40,
        "min": -(2**63),
        "float": 1.5,
        "whole_float": 2.0,
        # "str" deleted by 14@aa
        "bytes": b"\x00\xff",
        "counter": Counter(4),  # 3 + 2 - 1
        "m": {
            "k": "w",
            "l": [{"deep": True}, 1, "two", None, 2.5, b"\x01"],
            "z": 1,
        },
        "text": ">hEY worl",
        "list": ["c", Counter(5)],
    }


def test_changes_apply_to_the_expected_document() -> None:
    raws = [bytes.fromhex(v["hex"]) for v in CHANGES]
    forward = Doc("dd", clock=lambda: 0)
    forward.apply_changes(raws)
    backward = Doc("ee", clock=lambda: 0)
    for raw in reversed(raws):  # every change but the first waits for its deps
        backward.apply_changes([raw])
    assert backward.pending == 0
    want = _final_document()
    for d in (forward, backward):
        got = d.to_py()
        assert got == want
        assert all(type(got[k]) is type(want[k]) for k in want)
        assert d.heads == [bytes.fromhex(CHANGES[-1]["hash"])]


# ----------------------------------------------------------------- saved.json


def _saved_parts(data: bytes) -> tuple[list[Any], list[Any]]:
    """Split a saved document by SPEC.md section 8, without the engine's decoder."""
    magic = b"\x85ECHODOC"
    assert data.startswith(magic)
    top = msgpack.unpackb(data[len(magic) :], raw=False)
    assert top[0] in (2, 3, 4) and len(top) == (4 if top[0] == 2 else 7)
    # format 4: the history is an array of [changes, record]; 2 and 3: one record
    if top[0] == 4:
        ((count, record),) = top[3]
        assert count == top[5]
    else:
        record = top[3]
    payload = msgpack.unpackb(zlib.decompress(record), raw=False)
    return top, payload


def test_saved_document_layout_and_load() -> None:
    data = bytes.fromhex(SAVED["hex"])
    top, payload = _saved_parts(data)
    assert top[0] == 4
    assert top[2] is None, "no snapshot: the history starts at the empty document"
    assert [h.hex() for h in top[1]] == SAVED["heads"]
    # compact history: [n0, a0, t0, bases, one item per change]
    n0, a0, _t0, _bases, *items = payload
    assert (n0, a0) == (0, 0) and len(items) == len(SAVED["changes"]) == top[5]
    # the checkpoint: a snapshot (section 12) at the same heads, zlib-compressed
    ckpt = zlib.decompress(top[4])
    assert ckpt.startswith(b"\x85ECHOSNP")
    snap = msgpack.unpackb(ckpt[8:], raw=False)
    assert sorted(h[0].hex() for h in snap[2]) == SAVED["heads"]
    # sequences keep their tombstones: a sixth column of deleted runs, which have lengths
    # but no values
    seqs = [o[4] for o in snap[4] if o[1] != 0]
    assert any(len(c) == 6 for c in seqs), "the vector has deleted elements"
    for actor_runs, _deltas, lengths, values, _regs, *dead in seqs:
        gone = sum(lengths[i] for i in dead[0]) if dead else 0
        assert sum(lengths) - gone == len(values)
        assert sum(n for _, n in actor_runs) == len(lengths)
    # the checksum: xxh3-64 of the msgpack of the five fields before it
    assert top[6] == xxhash.xxh3_64_intdigest(msgpack.packb(top[1:6]))
    _loads_as_the_vector(data)


def _loads_as_the_vector(data: bytes) -> None:
    """Loaded lazily and verified: the vector's heads, document and changes, and saved
    again, the ``hex`` bytes (format 4)."""
    for verify in (False, True):
        doc = Doc.load(data, verify=verify)
        assert [h.hex() for h in doc.heads] == SAVED["heads"]
        assert doc.to_py() == _final_document()
        by_name = {v["name"]: v for v in CHANGES}
        assert doc.get_changes() == [bytes.fromhex(by_name[n]["hex"]) for n in SAVED["changes"]]
        assert doc.save() == bytes.fromhex(SAVED["hex"])


@pytest.mark.parametrize("version", [2, 3])
def test_older_saved_formats_still_load(version: int) -> None:
    old = bytes.fromhex(SAVED[f"hex_v{version}"])
    top, _ = _saved_parts(old)
    assert top[0] == version
    _loads_as_the_vector(old)
    if version == 3:  # (format 2 loads by replaying its history)
        lazy = Doc.load(old)
        assert lazy.save() == bytes.fromhex(SAVED["hex"])  # its one record, kept as it was
        assert lazy._deferred is not None


def test_saved_document_with_wrong_heads_is_refused() -> None:
    data = bytes.fromhex(SAVED["hex_v2"])
    magic = b"\x85ECHODOC"
    top, _ = _saved_parts(data)
    top[1] = [bytes(32)]
    with pytest.raises(crdt.HashMismatchError):
        Doc.load(magic + msgpack.packb(top))
    top[1] = []
    # a history whose first change is missing: its back-reference points before the start
    first = Doc.load(data).get_changes()[1:]
    top[3] = zlib.compress(msgpack.packb([0, 0, 0, [], *first]))
    with pytest.raises(crdt.MissingDependencyError):
        Doc.load(magic + msgpack.packb(top))


# ----------------------------------------------------------------- invalid.json


@pytest.mark.parametrize("vec", _params(INVALID))
def test_invalid_change_is_refused(vec: dict[str, Any]) -> None:
    doc = Doc("dd", clock=lambda: 0)
    doc.apply_changes([bytes.fromhex(x) for x in vec["context"]])
    assert doc.pending == 0
    before = (doc.heads, doc.to_py(), doc.change_count())
    err = getattr(crdt, vec["error"])
    with pytest.raises(err) as info:
        doc.apply_changes([bytes.fromhex(vec["hex"])])
    assert type(info.value) is err
    assert (doc.heads, doc.to_py(), doc.change_count()) == before
    assert doc.pending == 0


def test_batch_is_all_or_nothing() -> None:
    good = [bytes.fromhex(v["hex"]) for v in CHANGES[:3]]
    bad = next(v for v in INVALID if v["name"] == "start_op_ignores_deps")
    doc = Doc("dd", clock=lambda: 0)
    with pytest.raises(crdt.InvalidChangeError):
        doc.apply_changes([*good, bytes.fromhex(bad["hex"])])
    assert doc.change_count() == 0 and doc.to_py() == {} and doc.heads == []
    doc.apply_changes(good)
    assert doc.change_count() == 3


# ----------------------------------------------------------------- scenarios.json


def _run(lines: list[str]) -> tuple[Driver, list[dict[str, Any]]]:
    outputs: list[dict[str, Any]] = []
    driver = Driver(outputs.append)
    driver.run(lines)
    return driver, outputs


def _matches(got: dict[str, Any], want: dict[str, Any]) -> bool:
    return all(got.get(k) == v for k, v in want.items())


@pytest.mark.parametrize("sc", _params(SCENARIOS))
def test_scenario(sc: dict[str, Any]) -> None:
    driver, outputs = _run(sc["lines"])
    want_out = sc.get("outputs", [])
    assert len(outputs) == len(want_out), outputs
    for got, want in zip(outputs, want_out, strict=True):
        assert _matches(got, want), (got, want)
    dumps: dict[str, Any] = {}
    for peer in sc["expected"]:
        driver.handle({"cmd": "dump", "peer": peer})
        dumps[peer] = outputs.pop()
    for peer, want_doc in sc["expected"].items():
        assert dumps[peer]["value"] == want_doc, peer
    values = [json.dumps(d["value"], sort_keys=True) for d in dumps.values()]
    if len(dumps) > 1 and len(set(values)) == 1:
        assert len({tuple(d["heads"]) for d in dumps.values()}) == 1, "same heads"


def test_driver_speaks_json_lines() -> None:
    sc = next(s for s in SCENARIOS if s["name"] == "concurrent_map_puts_same_counter")
    stdin = io.StringIO("\n".join([*sc["lines"], '{"cmd":"dump","peer":"b"}', "not json"]) + "\n")
    stdout = io.StringIO()
    assert main(stdin, stdout) == 0
    lines = [json.loads(x) for x in stdout.getvalue().splitlines()]
    assert lines[0] == sc["outputs"][0]
    assert lines[1]["value"] == sc["expected"]["b"]
    assert lines[2]["error"] == "UsageError" and "message" in lines[2]
