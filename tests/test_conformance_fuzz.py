"""A seeded fuzzer of the conformance driver (``python -m crdt.conformance``, SPEC.md 9).

Three peers, made alike at first (a text, a list and a map with a text in it, synced),
take random command lines: mostly well formed, each field sometimes missing or of another
JSON type, now and then a line that is not a JSON object; edits at random paths and
positions, commits, syncs, stores opened, closed and cut into epochs.  After every line:

* the driver did not raise (SPEC.md 9.4: it reports and goes on);
* an error names a class of the project's error hierarchy (a ``CrdtError``), and no
  Python error got to the safety net at the end of ``Driver.run`` (its message starts
  with the Python class: ``TypeError: ...``): every bad input has its own message;
* a command that failed changed nothing: each peer's value, heads, buffered changes and
  open transaction are as they were (SPEC.md 9.4);
* an ``ack`` follows only a ``commit`` of a peer with an open store.

``fuzz_once(seed)`` runs one seed (40 in CI); ``FUZZ_FOREVER=1 pytest -m slow
tests/test_conformance_fuzz.py`` runs seeds until interrupted (or for ``FUZZ_SECONDS``).
"""

from __future__ import annotations

import contextlib
import json
import random
import tempfile
from typing import Any

import pytest

import crdt.errors
import crdt.storage.errors
from crdt.conformance import Driver
from crdt.errors import CrdtError

try:
    from tests.helpers import fuzz_seeds
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from helpers import fuzz_seeds  # type: ignore[no-redef]

PEERS = ["a", "b", "c"]
COMMANDS = [  # (the edits more often than the rest)
    *["make", "put", "put", "delete", "insert", "insert", "splice", "splice", "splice"],
    *["commit", "commit", "sync", "sync", "dump", "conflicts", "changes"],
    *["new", "open", "epoch", "close"],
]
PYTHON_ERRORS = ("KeyError", "ValueError", "TypeError", "IndexError", "AttributeError")
SETUP: list[dict[str, Any]] = [
    {"cmd": "new", "peer": "a", "actor": "aa"},
    {"cmd": "new", "peer": "b", "actor": "bb"},
    {"cmd": "new", "peer": "c", "actor": "cc"},
    {"cmd": "make", "peer": "a", "path": ["t"], "type": "text"},
    {"cmd": "make", "peer": "a", "path": ["l"], "type": "list"},
    {"cmd": "make", "peer": "a", "path": ["m"], "type": "map"},
    {"cmd": "make", "peer": "a", "path": ["m", "t"], "type": "text"},
    {"cmd": "splice", "peer": "a", "path": ["t"], "text": "hello world"},
    {"cmd": "splice", "peer": "a", "path": ["m", "t"], "text": "nested"},
    {"cmd": "insert", "peer": "a", "path": ["l", 0], "value": 1},
    {"cmd": "insert", "peer": "a", "path": ["l", 1], "value": 2},
    {"cmd": "commit", "peer": "a"},
    {"cmd": "sync", "from": "a", "to": "b"},
    {"cmd": "sync", "from": "a", "to": "c"},
]


def _error_class(name: str) -> type | None:
    for mod in (crdt.errors, crdt.storage.errors):
        cls = getattr(mod, name, None)
        if isinstance(cls, type):
            return cls
    return None


def _junk(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of any type, often of the wrong one for the field it lands in."""
    k = rng.random()
    if k < 0.2:
        return rng.choice(["a", "", "zz", "text", "0a", "héllo"])
    if k < 0.4:
        return rng.choice([-1, 0, 3, 2**63, -(2**63) - 1, 2**64])
    if k < 0.55:
        return rng.choice([1.5, 2.0, -0.0, True, False, None])
    if k < 0.8 and depth < 2:
        return [_junk(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 2:
        return {rng.choice("ab"): _junk(rng, depth + 1)}
    return None


def _path(rng: random.Random) -> list[Any]:
    out: list[Any] = [rng.choice(["m", "l", 0, 1]) for _ in range(rng.randint(0, 2))]
    return [*out, rng.choice(["t", "l", "m", "k", "x", 0, 1, -1, 4])]


def _command(rng: random.Random, tmp: str) -> dict[str, Any]:
    c = rng.choice(COMMANDS)
    p = rng.choice(PEERS)
    if c in ("new", "open") and rng.random() < 0.8:
        p = rng.choice(["d", "e"])  # (a peer made anew is empty: mostly not one of the three)
    if c == "new":
        f: dict[str, Any] = {"peer": p, "actor": rng.choice(["aa", "bb", "cc", "dd", None])}
    elif c == "make":
        key = rng.choice(["t", "l", "m"])
        kind = {"t": "text", "l": "list", "m": "map"}[key]
        if rng.random() < 0.2:
            kind = rng.choice(["map", "list", "text"])
        path = [*rng.choice([[], ["m"], ["l", 0]]), key] if rng.random() < 0.8 else _path(rng)
        f = {"peer": p, "path": path, "type": kind}
    elif c == "put":
        f = {"peer": p, "path": _path(rng), "value": rng.choice([1, "v", None, 2.5, True])}
    elif c == "delete":
        f = {"peer": p, "path": rng.choice([["l", rng.randint(-1, 3)], ["t", 0], _path(rng)])}
    elif c == "insert":
        f = {"peer": p, "path": rng.choice([["l", rng.randint(-1, 4)], _path(rng)])}
        f["value"] = rng.randint(0, 9)
    elif c == "splice":
        f = {"peer": p, "path": rng.choice([["t"], ["t"], ["m", "t"], _path(rng)])}
        f.update(pos=rng.randint(-1, 12), text=rng.choice(["", "x", "héllo", "\U0001f600"]))
        f["del"] = rng.choice([0, 0, 1, 1, 2, 5])
    elif c == "sync":
        f = {"from": p, "to": rng.choice(PEERS)}
        if rng.random() < 0.3:
            f[rng.choice(["from", "to"])] = rng.choice(["d", "e"])
    elif c == "conflicts":
        f = {"peer": p, "path": _path(rng)}
    elif c == "open":
        f = {"peer": p, "dir": f"{tmp}/{rng.choice(['s1', 's2'])}"}
        f["actor"] = rng.choice(["aa", "dd", None])
    else:  # commit, dump, changes, epoch, close
        f = {"peer": p}
    cmd = {"cmd": c, **f}
    for k in list(cmd):
        x = rng.random()
        if x < 0.03:
            del cmd[k]
        elif x < 0.06:
            cmd[k] = _junk(rng)
    if rng.random() < 0.03:
        cmd[rng.choice(["extra", "pos", "value", "del"])] = _junk(rng)
    return cmd


def _state(drv: Driver) -> dict[str, Any]:
    return {
        name: (repr(doc.to_py()), doc.heads, doc.pending, doc._tx is not None)
        for name, doc in drv.peers.items()
    }


def fuzz_once(seed: int, steps: int = 80) -> dict[str, int]:
    """One session of ``steps`` random lines after the setup; how many lines of each
    command ended how (``"splice ok"``, ``"splice UsageError"``, ...), for the statistics."""
    rng = random.Random(seed)
    outs: list[dict[str, Any]] = []
    drv = Driver(outs.append)
    counts: dict[str, int] = {}
    # (in the temporary directory: a "dir" made junk is a relative path, opened there)
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        try:
            drv.run([json.dumps(c) for c in SETUP])
            assert outs == [], outs
            for _ in range(steps):
                if rng.random() < 0.01:
                    line = rng.choice(["[1]", "{", "nul", '"x"', "{}", "1e999", '"\\ud800"'])
                    cmd: Any = {}
                else:
                    cmd = _command(rng, tmp)
                    line = json.dumps(cmd)
                name = cmd.get("cmd") if isinstance(cmd.get("cmd"), str) else "?"
                before = _state(drv)
                n = len(outs)
                drv.run([line])
                new = outs[n:]
                errors = [o for o in new if "error" in o]
                if not errors:
                    counts[f"{name} ok"] = counts.get(f"{name} ok", 0) + 1
                    if any("ack" in o for o in new):
                        assert name == "commit", (line, new)
                    continue
                assert len(new) == 1, (line, new)
                err = errors[0]
                key = f"{name} {err['error']}"
                counts[key] = counts.get(key, 0) + 1
                cls = _error_class(err["error"])
                assert cls is not None and issubclass(cls, CrdtError), (line, err)
                assert not err["message"].startswith(PYTHON_ERRORS), (line, err)
                assert _state(drv) == before, (line, err)
        finally:
            drv.run([json.dumps({"cmd": "close", "peer": p}) for p in list(drv.peers)])
    return counts


def test_the_fuzzer_leaves_no_store_behind(tmp_path, monkeypatch) -> None:
    """Its stores, a junk relative "dir" among them, are opened in its temporary
    directory, not in the working directory (once, they were committed to this repo)."""
    monkeypatch.chdir(tmp_path)
    for seed in range(40):
        fuzz_once(seed)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", range(40))
def test_conformance_fuzz_ci(seed: int) -> None:
    fuzz_once(seed)


def test_the_fuzzer_s_lines_reach_every_command_both_ways() -> None:
    """Over the CI seeds, each command succeeds on some lines and fails on others, and
    the edits succeed often: the fuzzer is not stuck on one kind of line."""
    totals: dict[str, int] = {}
    for seed in range(40):
        for k, v in fuzz_once(seed).items():
            totals[k] = totals.get(k, 0) + v
    for c in ("new", "make", "put", "delete", "insert", "splice", "commit", "sync", "dump"):
        assert totals.get(f"{c} ok", 0) > 0, (c, totals)
        assert sum(v for k, v in totals.items() if k.startswith(f"{c} ") and k != f"{c} ok")
    for c in ("conflicts", "changes", "open", "epoch", "close"):
        assert totals.get(f"{c} ok", 0) > 0, (c, totals)
    assert totals["splice ok"] > 100 and totals["insert ok"] > 40, totals


@pytest.mark.slow
def test_conformance_fuzz_forever() -> None:
    fuzz_seeds(
        "FUZZ_FOREVER",
        "conformance fuzz",
        fuzz_once,
        "test_conformance_fuzz.fuzz_once({seed}) (tests/ on sys.path)",
    )
