"""``python -m crdt.conformance`` as a subprocess: JSON lines in, JSON lines out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_driver(commands: list) -> list[dict]:
    """Feed commands (dicts, or raw strings sent verbatim) and parse every output line."""
    lines = [c if isinstance(c, str) else json.dumps(c) for c in commands]
    proc = subprocess.run(
        [sys.executable, "-m", "crdt.conformance"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


SCENARIO = [
    {"cmd": "new", "peer": "a", "actor": "aa"},
    {"cmd": "new", "peer": "b", "actor": "bb"},
    {"cmd": "put", "peer": "a", "path": ["x"], "value": 1},
    {"cmd": "make", "peer": "a", "path": ["t"], "type": "text"},
    {"cmd": "splice", "peer": "a", "path": ["t"], "pos": 0, "del": 0, "text": "hello"},
    {"cmd": "make", "peer": "a", "path": ["l"], "type": "list"},
    {"cmd": "commit", "peer": "a"},
    {"cmd": "sync", "from": "a", "to": "b"},
    # concurrent edits, the same number of ops on each side so the counters tie
    {"cmd": "put", "peer": "a", "path": ["x"], "value": "from a"},
    {"cmd": "put", "peer": "b", "path": ["x"], "value": "from b"},
    {"cmd": "splice", "peer": "a", "path": ["t"], "pos": 5, "del": 0, "text": "!"},
    {"cmd": "splice", "peer": "b", "path": ["t"], "pos": 0, "del": 1, "text": "J"},
    {"cmd": "insert", "peer": "b", "path": ["l", 0], "value": True},
    {"cmd": "commit", "peer": "a"},
    {"cmd": "commit", "peer": "b"},
    {"cmd": "sync", "from": "a", "to": "b"},
    {"cmd": "sync", "from": "b", "to": "a"},
    {"cmd": "dump", "peer": "a"},
    {"cmd": "dump", "peer": "b"},
    {"cmd": "conflicts", "peer": "a", "path": ["x"]},
]


def test_scenario_dumps_and_conflicts():
    out = run_driver(SCENARIO)
    assert len(out) == 3, out
    da, db, conf = out
    assert da["peer"] == "a" and db["peer"] == "b"
    expected = {"x": "from b", "t": "Jello!", "l": [True]}
    assert da["value"] == db["value"] == expected
    assert da["heads"] == db["heads"] and len(da["heads"]) == 2
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in da["heads"])
    assert da["heads"] == sorted(da["heads"])
    c = conf["conflicts"]
    assert conf["peer"] == "a" and set(c.values()) == {"from a", "from b"}
    by_actor = {k.split("@")[1]: (int(k.split("@")[0]), v) for k, v in c.items()}
    assert set(by_actor) == {"aa", "bb"}
    assert by_actor["aa"][0] == by_actor["bb"][0]  # equal counters: bb wins on actor
    assert by_actor["aa"][1] == "from a" and by_actor["bb"][1] == "from b"


def test_deterministic_heads():
    first = run_driver(SCENARIO)
    second = run_driver(SCENARIO)
    assert first == second
    assert first[0]["heads"] == second[0]["heads"]


def test_errors_are_reported_and_the_driver_keeps_going():
    out = run_driver(
        [
            {"cmd": "new", "peer": "a", "actor": "aa"},
            {"cmd": "frobnicate", "peer": "a"},  # unknown command
            {"cmd": "put", "peer": "a", "path": ["nope", "x"], "value": 1},  # bad path
            {"cmd": "put", "peer": "zz", "path": ["x"], "value": 1},  # unknown peer
            {"cmd": "put", "peer": "a", "path": [], "value": 1},  # empty path
            {"cmd": "put", "peer": "a", "path": ["x"], "value": [1]},  # not a scalar
            "this is not json",
            "[1, 2]",  # JSON but not an object
            {"cmd": "put", "peer": "a"},  # missing field
            {"cmd": "make", "peer": "a", "path": ["m"], "type": "tree"},  # unknown type
            {"cmd": "sync", "from": "a", "to": "ghost"},
            {"cmd": "new", "peer": "bad", "actor": "xyz"},  # bad actor
            {"cmd": "put", "peer": "a", "path": ["x"], "value": 42},
            {"cmd": "commit", "peer": "a"},
            {"cmd": "dump", "peer": "a"},
        ]
    )
    errors, rest = out[:-1], out[-1]
    assert len(errors) == 11, out
    assert all(set(e) == {"error", "message"} for e in errors)
    names = [e["error"] for e in errors]
    assert names[0] == "UsageError" and "frobnicate" in errors[0]["message"]
    assert names[1] == "ObjectNotFoundError"
    assert names[2] == "UsageError" and "zz" in errors[2]["message"]
    assert errors[7] == {"error": "UsageError", "message": "'put' needs the field 'path'"}
    assert all(n in ("UsageError", "ObjectNotFoundError") for n in names)
    assert rest == {"peer": "a", "value": {"x": 42}, "heads": rest["heads"]}
    assert len(rest["heads"]) == 1


def test_a_missing_field_is_named():
    """Every command that lacks a field it needs, the storage ones too: a UsageError
    that names the command and the field (SPEC.md 9.4), and the driver goes on."""
    cmds = [
        ({"cmd": "new"}, "peer"),
        ({"cmd": "make", "peer": "a", "path": ["m"]}, "type"),
        ({"cmd": "put", "path": ["x"], "value": 1}, "peer"),
        ({"cmd": "put", "peer": "a", "path": ["x"]}, "value"),
        ({"cmd": "insert", "peer": "a", "path": ["l", 0]}, "value"),
        ({"cmd": "delete", "peer": "a"}, "path"),
        ({"cmd": "insert", "peer": "a"}, "path"),
        ({"cmd": "splice", "peer": "a"}, "path"),
        ({"cmd": "commit"}, "peer"),
        ({"cmd": "sync", "from": "a"}, "to"),
        ({"cmd": "sync", "to": "a"}, "from"),
        ({"cmd": "dump"}, "peer"),
        ({"cmd": "conflicts", "peer": "a"}, "path"),
        ({"cmd": "changes"}, "peer"),
        ({"cmd": "open", "peer": "a"}, "dir"),
        ({"cmd": "epoch"}, "peer"),
        ({"cmd": "close"}, "peer"),
    ]
    setup = [
        {"cmd": "new", "peer": "a"},
        {"cmd": "make", "peer": "a", "path": ["l"], "type": "list"},
        {"cmd": "commit", "peer": "a"},
    ]
    out = run_driver([*setup, *[c for c, _ in cmds], {"cmd": "dump", "peer": "a"}])
    assert out[:-1] == [
        {"error": "UsageError", "message": f"{c['cmd']!r} needs the field {f!r}"} for c, f in cmds
    ]
    assert out[-1] == {"peer": "a", "value": {"l": []}, "heads": out[-1]["heads"]}
    assert len(out[-1]["heads"]) == 1


def test_a_field_of_the_wrong_type_is_refused_and_named(tmp_path):
    """Every field of every command, given each JSON type it may not have: a UsageError
    that names the command, the field and both types (SPEC.md 9.4), nothing converted
    (``"2"``, ``2.0`` and ``true`` are not 2) and nothing changed: no peer made, no edit
    made, no store opened, the open transaction kept."""
    good = {
        "new": {"peer": "n"},
        "make": {"peer": "a", "path": ["m"], "type": "map"},
        "put": {"peer": "a", "path": ["x"], "value": 1},
        "delete": {"peer": "a", "path": ["l", 0]},
        "insert": {"peer": "a", "path": ["l", 0], "value": 1},
        "splice": {"peer": "a", "path": ["t"], "pos": 0, "del": 1, "text": "x"},
        "commit": {"peer": "a"},
        "sync": {"from": "a", "to": "b"},
        "dump": {"peer": "a"},
        "conflicts": {"peer": "a", "path": ["x"]},
        "changes": {"peer": "a"},
        "open": {"peer": "s", "dir": str(tmp_path / "store")},
        "epoch": {"peer": "a"},
        "close": {"peer": "a"},
    }
    json_types = {
        "a string": "2",
        "an integer": 2,
        "a number": 2.0,
        "a boolean": True,
        "an array": ["x"],
        "an object": {"x": 1},
        "null": None,
    }
    allowed = {
        "peer": "a string",
        "from": "a string",
        "to": "a string",
        "type": "a string",
        "text": "a string",
        "dir": "a string",
        "path": "an array",
        "pos": "an integer",
        "del": "an integer",
    }
    setup = [
        {"cmd": "new", "peer": "a"},
        {"cmd": "new", "peer": "b"},
        {"cmd": "make", "peer": "a", "path": ["l"], "type": "list"},
        {"cmd": "insert", "peer": "a", "path": ["l", 0], "value": 7},
        {"cmd": "make", "peer": "a", "path": ["t"], "type": "text"},
        {"cmd": "splice", "peer": "a", "path": ["t"], "text": "hi"},
        {"cmd": "commit", "peer": "a"},
        {"cmd": "put", "peer": "a", "path": ["open"], "value": True},  # (left open)
    ]
    bad = []
    for c, fields in good.items():
        for f in fields:
            if f == "value":
                continue  # (any scalar: arrays and objects are refused, below)
            for name, v in json_types.items():
                if name != allowed[f]:
                    bad.append(({"cmd": c, **fields, f: v}, f, allowed[f], name))
    bad += [
        ({"cmd": "new", "peer": "n", "actor": 5}, "actor", "a string", "an integer"),
        ({"cmd": "open", "peer": "s", "dir": "d", "actor": []}, "actor", "a string", "an array"),
    ]
    assert len(bad) > 100
    dump = {"cmd": "dump", "peer": "a"}
    out = run_driver([*setup, dump, *[b[0] for b in bad], dump, {"cmd": "dump", "peer": "n"}])
    before, errors, after, unknown = out[0], out[1:-2], out[-2], out[-1]
    assert errors == [
        {"error": "UsageError", "message": f"{c['cmd']!r} field {f!r} must be {want}, not {got}"}
        for c, f, want, got in bad
    ]
    assert after == before and before["value"] == {"l": [7], "t": "hi", "open": True}
    assert unknown == {"error": "UsageError", "message": "unknown peer 'n'"}
    assert not (tmp_path / "store").exists() and not (REPO / "2").exists()
    # an empty path, and arrays or objects as values, are refused too
    out = run_driver(
        [
            *setup,
            {"cmd": "put", "peer": "a", "path": [], "value": 1},
            {"cmd": "put", "peer": "a", "path": ["x"], "value": [1]},
            {"cmd": "insert", "peer": "a", "path": ["l", 0], "value": {"x": 1}},
            {"cmd": "new", "peer": "n", "actor": None},  # (null: as if absent)
            {"cmd": "dump", "peer": "n"},
        ]
    )
    assert out[:3] == [
        {"error": "UsageError", "message": "'put' field 'path' must not be empty"},
        {"error": "UsageError", "message": "value must be a JSON scalar"},
        {"error": "UsageError", "message": "value must be a JSON scalar"},
    ]
    assert out[3] == {"peer": "n", "value": {}, "heads": []}


def test_a_line_without_a_string_cmd_or_not_json_gets_its_own_message():
    """These reached the driver's safety net, with Python's exception text
    (``TypeError: unhashable type: 'list'``, ``JSONDecodeError: ...``)."""
    out = run_driver(['{"peer": "a"}', '{"cmd": ["new"]}', '{"cmd": 5}', "{", "nul"])
    assert [o["error"] for o in out] == ["UsageError"] * 5
    assert [o["message"] for o in out[:3]] == [
        "a command needs the field 'cmd'",
        "the field 'cmd' must be a string, not an array",
        "the field 'cmd' must be a string, not an integer",
    ]
    assert all(o["message"].startswith("a line that is not JSON: ") for o in out[3:])


def test_sync_and_dump_of_empty_peers():
    out = run_driver(
        [
            {"cmd": "new", "peer": "a", "actor": "01"},
            {"cmd": "new", "peer": "b", "actor": "02"},
            {"cmd": "sync", "from": "a", "to": "b"},
            {"cmd": "dump", "peer": "b"},
            {"cmd": "put", "peer": "a", "path": ["k"], "value": None},
            {"cmd": "commit", "peer": "a"},
            {"cmd": "delete", "peer": "b", "path": ["k"]},  # nothing to delete yet
            {"cmd": "commit", "peer": "b"},
            {"cmd": "sync", "from": "a", "to": "b"},
            {"cmd": "dump", "peer": "b"},
            {"cmd": "delete", "peer": "b", "path": ["k"]},
            {"cmd": "commit", "peer": "b"},
            {"cmd": "sync", "from": "b", "to": "a"},
            {"cmd": "dump", "peer": "a"},
        ]
    )
    assert out[0] == {"peer": "b", "value": {}, "heads": []}
    assert out[1]["value"] == {"k": None} and len(out[1]["heads"]) == 1
    assert out[2]["value"] == {} and len(out[2]["heads"]) == 1
    assert out[2]["heads"] != out[1]["heads"]


def test_sync_with_open_transaction_is_an_error():
    out = run_driver(
        [
            {"cmd": "new", "peer": "a", "actor": "01"},
            {"cmd": "new", "peer": "b", "actor": "02"},
            {"cmd": "put", "peer": "a", "path": ["k"], "value": 1},
            {"cmd": "commit", "peer": "a"},
            {"cmd": "put", "peer": "b", "path": ["j"], "value": 2},  # left open
            {"cmd": "sync", "from": "a", "to": "b"},
            {"cmd": "commit", "peer": "b"},
            {"cmd": "sync", "from": "a", "to": "b"},
            {"cmd": "dump", "peer": "b"},
        ]
    )
    assert out[0]["error"] == "UsageError"
    assert out[1]["value"] == {"k": 1, "j": 2}
