"""Differential test against Automerge 3.5 through the JSON-lines conformance protocol.

Seeded random scenarios over three peers (maps, lists, ASCII text; make, put, delete,
list insert/set/delete, text splice, commit, sync between pairs) are fed line by line to
``python -m crdt.conformance`` and to ``node bench/js/automerge_driver.mjs``; every peer
without queued edits is dumped after every commit and every sync and the values must be
equal (heads are not compared: the hash formats differ).  An in-process
:class:`crdt.conformance.Driver` mirrors the Python peers so that every generated path
is valid; its dumps must also equal the Python subprocess's, heads included.

Node and ``bench/js/node_modules`` (``make js``) are needed; without them the test
skips, except under CI (env ``CI`` set) with node present, where it fails.
On a divergence the scenario is minimised and printed as JSON lines, ready to pipe into
both drivers.  ``DIFF_SEED0`` / ``DIFF_SEEDS`` / ``DIFF_STEPS`` change the seeds and the
amount of work.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from crdt import List, Map, Text
from crdt.conformance import Driver

ROOT = Path(__file__).resolve().parents[1]
JS_DIR = ROOT / "bench" / "js"
JS_DRIVER = JS_DIR / "automerge_driver.mjs"
PEERS = ("A", "B", "C")
KEYS = ("a", "b", "c", "d")
SEED0 = int(os.environ.get("DIFF_SEED0", "0"))
SEEDS = int(os.environ.get("DIFF_SEEDS", "20"))
STEPS = int(os.environ.get("DIFF_STEPS", "60"))


class Proc:
    """A JSON-lines driver subprocess: write one line, read replies with a timeout."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.argv = argv
        self.p = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.buf = ""

    def send(self, line: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def read(self, timeout: float = 30.0) -> dict[str, Any]:
        assert self.p.stdout is not None
        fd = self.p.stdout.fileno()
        end = time.monotonic() + timeout
        while "\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"{self.argv[-1]}: no reply within {timeout}s")
            chunk = os.read(fd, 65536).decode()
            if not chunk:
                err = self.p.stderr.read() if self.p.stderr else ""
                raise AssertionError(f"{self.argv[-1]} exited: {err[-2000:]}")
            self.buf += chunk
        line, self.buf = self.buf.split("\n", 1)
        return json.loads(line)  # type: ignore[no-any-return]

    def dump(self, peer: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """Send a dump; return (reply, error lines that came before it)."""
        self.send(json.dumps({"cmd": "dump", "peer": peer}))
        errors = []
        while True:
            msg = self.read()
            if "error" in msg:
                errors.append(msg)
                continue
            return msg, errors

    def close(self) -> None:
        if self.p.stdin:
            self.p.stdin.close()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def strict(v: Any) -> Any:
    """A comparable form that keeps bool, int and float apart (``True == 1`` in Python)."""
    if isinstance(v, dict):
        return {k: strict(x) for k, x in v.items()}
    if isinstance(v, list):
        return [strict(x) for x in v]
    return (type(v).__name__, v)


# ------------------------------------------------------------------ scenario generation


def _objects(doc: Any) -> list[tuple[str, list[Any], Any]]:
    """(kind, path, view) of every object in a mirror document."""
    out: list[tuple[str, list[Any], Any]] = []
    stack: list[tuple[list[Any], Any]] = [([], doc.root)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, Map):
            out.append(("map", path, v))
            stack.extend(([*path, k], v[k]) for k in v)
        elif isinstance(v, List):
            out.append(("list", path, v))
            stack.extend(([*path, i], v[i]) for i in range(len(v)))
        elif isinstance(v, Text):
            out.append(("text", path, v))
    return out


def _scalar(rng: random.Random) -> Any:
    k = rng.randrange(6)
    if k == 0:
        return rng.randint(-(2**53) + 1, 2**53 - 1) if rng.random() < 0.2 else rng.randint(-9, 99)
    if k == 1:
        return rng.randint(-1000, 1000) + 0.5  # never integral: a float on both sides
    if k == 2:
        return rng.random() < 0.5
    if k == 3:
        return None
    return rng.choice(["", "x", "hello", "héllo", "日本", "🙂", "a b"]) + str(rng.randrange(3))


def _ascii(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("abcdefgh XYZ.\n") for _ in range(n))


def _edit(rng: random.Random, peer: str, doc: Any) -> dict[str, Any]:
    objs = _objects(doc)
    maps = [(p, v) for k, p, v in objs if k == "map"]
    lists = [(p, v) for k, p, v in objs if k == "list"]
    texts = [(p, v) for k, p, v in objs if k == "text"]
    kinds = ["make", "put"]
    if any(len(v) for _, v in maps):
        kinds.append("map_delete")
    if lists:
        kinds += ["insert", "insert", "list_make"]
        if any(len(v) for _, v in lists):
            kinds += ["list_set", "list_delete"]
    if texts:
        kinds += ["splice"] * 3
    what = rng.choice(kinds)
    if what in ("make", "put"):
        p, _ = rng.choice(maps)
        cmd: dict[str, Any] = {"cmd": what, "peer": peer, "path": [*p, rng.choice(KEYS)]}
        if what == "make":
            cmd["type"] = rng.choice(["map", "list", "list", "text", "text"])
        else:
            cmd["value"] = _scalar(rng)
        return cmd
    if what == "map_delete":
        p, m = rng.choice([(p, m) for p, m in maps if len(m)])
        return {"cmd": "delete", "peer": peer, "path": [*p, rng.choice(list(m))]}
    if what in ("insert", "list_make"):
        p, lst = rng.choice(lists)
        cmd = {
            "cmd": "insert" if what == "insert" else "make",
            "peer": peer,
            "path": [*p, rng.randint(0, len(lst))],
        }
        if what == "insert":
            cmd["value"] = _scalar(rng)
        else:
            cmd["type"] = rng.choice(["map", "list", "text"])
        return cmd
    if what in ("list_set", "list_delete"):
        p, lst = rng.choice([(p, v) for p, v in lists if len(v)])
        path = [*p, rng.randrange(len(lst))]
        if what == "list_delete":
            return {"cmd": "delete", "peer": peer, "path": path}
        return {"cmd": "put", "peer": peer, "path": path, "value": _scalar(rng)}
    p, t = rng.choice(texts)
    n = len(t)
    pos = rng.randint(0, n)
    return {
        "cmd": "splice",
        "peer": peer,
        "path": p,
        "pos": pos,
        "del": rng.randint(0, min(3, n - pos)),
        "text": _ascii(rng, rng.randint(0, 5)),
    }


def scenario(seed: int, steps: int) -> list[dict[str, Any]]:
    """A random scenario; edits are generated against an in-process mirror so every path
    is valid there.  Dumps follow each commit and sync for every peer without queued
    edits (the Automerge driver shows queued edits only after their commit)."""
    rng = random.Random(seed)
    mirror = Driver(lambda _msg: None)
    cmds: list[dict[str, Any]] = []
    dirty: set[str] = set()

    def emit(cmd: dict[str, Any]) -> None:
        cmds.append(cmd)
        mirror.handle(cmd)

    def dumps() -> None:
        for p in PEERS:
            if p not in dirty:
                cmds.append({"cmd": "dump", "peer": p})

    def commit(p: str) -> None:
        emit({"cmd": "commit", "peer": p})
        dirty.discard(p)
        dumps()

    actors: list[str] = []
    while len(actors) < len(PEERS):
        a = rng.randbytes(rng.choice([16, 16, 1, 2, 8])).hex()
        if a not in actors:
            actors.append(a)
    for p, a in zip(PEERS, actors, strict=True):
        emit({"cmd": "new", "peer": p, "actor": a})
    for _ in range(steps):
        r = rng.random()
        p = rng.choice(PEERS)
        if r < 0.65:
            emit(_edit(rng, p, mirror.peers[p]))
            dirty.add(p)
        elif r < 0.8:
            commit(p)
        else:
            q = rng.choice([x for x in PEERS if x != p])
            if q in dirty:  # a peer receives between transactions only
                commit(q)
            emit({"cmd": "sync", "from": p, "to": q})
            dumps()
    for p in PEERS:
        if p in dirty:
            commit(p)
    for p in PEERS:  # full sync, then everyone is dumped
        for q in PEERS:
            if p != q:
                emit({"cmd": "sync", "from": p, "to": q})
    for p in PEERS:
        if p != "A":
            emit({"cmd": "sync", "from": "A", "to": p})
    dumps()
    return cmds


# ------------------------------------------------------------------ running both drivers


def run_both(
    py: Proc, js: Proc, cmds: list[dict[str, Any]], strict_mirror: bool = True
) -> str | None:
    """Feed ``cmds`` to both drivers; return a description of the first divergence."""
    mirror_out: list[dict[str, Any]] = []
    mirror = Driver(mirror_out.append) if strict_mirror else None
    for i, cmd in enumerate(cmds):
        if cmd["cmd"] != "dump":
            line = json.dumps(cmd)
            py.send(line)
            js.send(line)
            if mirror is not None:
                mirror.run([line])
            continue
        a, a_err = py.dump(cmd["peer"])
        b, b_err = js.dump(cmd["peer"])
        if a_err or b_err:
            return f"before command {i} ({cmd}): errors python={a_err} automerge={b_err}"
        assert a is not None and b is not None
        if strict(a["value"]) != strict(b["value"]):
            return (
                f"command {i} (dump {cmd['peer']}):\n  python:    "
                f"{json.dumps(a['value'])}\n  automerge: {json.dumps(b['value'])}"
            )
        if mirror is not None:
            mirror.run([json.dumps(cmd)])
            if mirror_out != [a]:
                return f"command {i}: in-process driver {mirror_out} != python subprocess {a}"
            mirror_out.clear()
    return None


def _diverges(py: Proc, js: Proc, cmds: list[dict[str, Any]]) -> bool:
    """True if ``cmds`` (plus final dumps) make the two drivers disagree on a value, or
    only one of them reports an error."""
    tail = [{"cmd": "dump", "peer": p} for p in PEERS]
    body = [c for c in cmds if c["cmd"] != "dump"] + tail
    # errors on both sides are not a divergence while minimising
    for cmd in body:
        if cmd["cmd"] != "dump":
            line = json.dumps(cmd)
            py.send(line)
            js.send(line)
            continue
        a, a_err = py.dump(cmd["peer"])
        b, b_err = js.dump(cmd["peer"])
        if bool(a_err) != bool(b_err):
            return True
        if a is not None and b is not None and strict(a["value"]) != strict(b["value"]):
            return True
    return False


def minimise(
    py: Proc, js: Proc, cmds: list[dict[str, Any]], budget: float = 60.0
) -> list[dict[str, Any]]:
    """Greedy delta debugging: drop chunks of commands while the divergence persists
    (``new`` lines stay first; each trial starts from fresh peers)."""
    news = [c for c in cmds if c["cmd"] == "new"]
    body = [c for c in cmds if c["cmd"] not in ("new", "dump")]
    end = time.monotonic() + budget

    def bad(b: list[dict[str, Any]]) -> bool:
        return _diverges(py, js, news + b)

    if not bad(body):
        return cmds
    chunk = max(1, len(body) // 2)
    while chunk >= 1 and time.monotonic() < end:
        i = 0
        while i < len(body) and time.monotonic() < end:
            trial = body[:i] + body[i + chunk :]
            if bad(trial):
                body = trial
            else:
                i += chunk
        chunk //= 2
    # peers that are never used need not be created
    used = (
        {c.get("peer") for c in body} | {c.get("from") for c in body} | {c.get("to") for c in body}
    )
    return (
        [c for c in news if c["peer"] in used]
        + body
        + [{"cmd": "dump", "peer": p} for p in PEERS if p in used]
    )


# ------------------------------------------------------------------ the test


@pytest.fixture(scope="module")
def drivers() -> Any:
    node = shutil.which("node")
    ci = bool(os.environ.get("CI"))
    if node is None:
        msg = "node not found: the Automerge differential test needs it"
        print(msg)
        pytest.skip(msg)
    missing = [
        p
        for p in (JS_DRIVER, JS_DIR / "node_modules" / "@automerge" / "automerge")
        if not p.exists()
    ]
    if missing:
        msg = f"missing {', '.join(map(str, missing))} (run `make js`)"
        if ci:
            pytest.fail(msg)
        print(msg)
        pytest.skip(msg)
    py = Proc([sys.executable, "-m", "crdt.conformance"], ROOT)
    js = Proc([node, str(JS_DRIVER)], JS_DIR)
    yield py, js
    py.close()
    js.close()


@pytest.mark.parametrize("seed", range(SEED0, SEED0 + SEEDS))
def test_differential_automerge(drivers: tuple[Proc, Proc], seed: int) -> None:
    py, js = drivers
    cmds = scenario(seed, STEPS)
    problem = run_both(py, js, cmds)
    if problem is None:
        return
    small = minimise(py, js, cmds)
    lines = "\n".join(json.dumps(c) for c in small)
    pytest.fail(
        f"seed {seed}: Python and Automerge diverge at {problem}\n"
        f"minimised scenario ({len(small)} lines; pipe into both drivers):\n{lines}",
        pytrace=False,
    )
