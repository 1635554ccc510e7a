"""Replay real editing traces (josephg/editing-traces) and compare with their endContent.

Sequential traces replay as local splices; the concurrent ones by forking and merging
replicas along the trace's causal graph.  The traces live outside the repository, in
``../shared/traces`` next to it, or wherever ``CRDT_TRACES`` points.  If they are missing
the tests skip, except under CI (env ``CI`` set), where they fail.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from crdt import Doc

try:
    from tests.helpers import sequence_elements
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from helpers import sequence_elements  # type: ignore[no-redef]

TRACES = Path(
    os.environ.get("CRDT_TRACES") or Path(__file__).resolve().parents[2] / "shared" / "traces"
)
SEQ_FILES = sorted(TRACES.glob("sequential/*.json.gz")) + sorted(
    TRACES.glob("sequential/ascii_only/*.json.gz")
)
CONC_FILES = sorted(TRACES.glob("concurrent/*.json.gz"))
PAPER = TRACES / "sequential" / "automerge-paper.json.gz"


def _need_traces(files: list[Path], what: str) -> None:
    if files and all(f.exists() for f in files):
        return
    msg = f"editing traces not found ({what} under {TRACES}; set CRDT_TRACES)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    print(msg)
    pytest.skip(msg)


def _id(p: Path) -> str:
    return str(p.relative_to(TRACES)).removesuffix(".json.gz")


@cache
def _load(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)  # type: ignore[no-any-return]


def _report(name: str, t0: float) -> None:
    print(f"trace {name}: {time.perf_counter() - t0:.2f}s")


# ------------------------------------------------------------------ sequential


@pytest.mark.parametrize(
    "path", SEQ_FILES or [Path("sequential/missing")], ids=_id if SEQ_FILES else None
)
def test_sequential_trace_one_transaction(path: Path) -> None:
    """The whole trace as one transaction of splices gives endContent."""
    _need_traces(SEQ_FILES, "sequential/*.json.gz")
    trace = _load(path)
    t0 = time.perf_counter()
    doc = Doc(b"\x01" * 16, clock=lambda: 0)
    with doc.transaction() as tx:
        text = doc.root.make_text("text", trace.get("startContent", ""))
        obj = text.id
        for txn in trace["txns"]:
            for pos, dl, ins in txn["patches"]:
                tx.splice(obj, pos, dl, ins)
    assert str(doc.root["text"]) == trace["endContent"]
    assert doc.change_count() == 1
    _report(f"{_id(path)} (one transaction)", t0)
    doc._check()
    # sent whole to a peer: its inserts and removes fill the peer's empty text (crdt.fill),
    # element for element what the author's local edits made, ids and tombstones included
    t0 = time.perf_counter()
    peer = Doc(b"\x02" * 16)
    peer.apply_changes(doc.get_changes())
    assert str(peer.root["text"]) == trace["endContent"]
    assert sequence_elements(peer) == sequence_elements(doc)
    _report(f"{_id(path)} (the one change -> empty doc)", t0)
    peer._check()


@pytest.fixture(scope="module")
def paper_per_txn() -> tuple[Doc, dict[str, Any], float]:
    """The automerge-paper trace with one transaction (so one change) per trace txn."""
    _need_traces([PAPER], "sequential/automerge-paper.json.gz")
    trace = _load(PAPER)
    t0 = time.perf_counter()
    doc = Doc(b"\x02" * 16, clock=lambda: 0)
    text = doc.root.make_text("text", trace.get("startContent", ""))
    obj = text.id
    for txn in trace["txns"]:
        tx = doc.begin(time=txn.get("time") if isinstance(txn.get("time"), int) else 0)
        for pos, dl, ins in txn["patches"]:
            tx.splice(obj, pos, dl, ins)
        tx.commit()
    return doc, trace, time.perf_counter() - t0


def test_paper_trace_one_transaction_per_txn(
    paper_per_txn: tuple[Doc, dict[str, Any], float],
) -> None:
    doc, trace, secs = paper_per_txn
    assert str(doc.root["text"]) == trace["endContent"]
    # every trace txn edits something, so each made exactly one change (+1: make_text)
    assert doc.change_count() == len(trace["txns"]) + 1
    print(f"trace automerge-paper (one transaction per txn): {secs:.2f}s")
    doc._check()


def test_paper_trace_history_replays(paper_per_txn: tuple[Doc, dict[str, Any], float]) -> None:
    """The full history applied to an empty document gives endContent and the same heads."""
    doc, trace, _ = paper_per_txn
    t0 = time.perf_counter()
    fresh = Doc(b"\x03" * 16)
    fresh.apply_changes(doc.get_changes())
    assert fresh.pending == 0
    assert str(fresh.root["text"]) == trace["endContent"]
    assert fresh.heads == doc.heads
    _report("automerge-paper (history -> empty doc)", t0)


def test_paper_trace_save_load(paper_per_txn: tuple[Doc, dict[str, Any], float]) -> None:
    doc, trace, _ = paper_per_txn
    t0 = time.perf_counter()
    loaded = Doc.load(doc.save())
    assert str(loaded.root["text"]) == trace["endContent"]
    assert loaded.heads == doc.heads
    _report("automerge-paper (save + load)", t0)


# ------------------------------------------------------------------ concurrent


def replay_concurrent(
    trace: dict[str, Any], seed: int = 0, shuffle_fresh: bool = False
) -> tuple[str, dict[str, Any]]:
    """Replay a concurrent trace by forking and merging; returns (final text, stats).

    Every txn starts from the merge of the states after its parents.  A state is a
    version vector (actor -> number of its changes), kept per txn only while it still has
    children to come (``numChildren``).  Replicas are Docs, one per actor; a txn runs on
    its agent's replica after that replica receives exactly the changes of the txn's
    starting state it lacks (``Doc.fork()`` of a 20k-change history costs about a second,
    so forking a Doc at each of the ~3000 branch points would take an hour).  The replica
    is never ahead of the state it must start from: its history is a subset of the
    state's (checked).  If an agent ever had two concurrent txns, the second would run on
    a fresh replica under a distinct actor (counted in stats["extra_actors"]), since one
    actor must never commit two different changes with the same seq.
    """
    txns = trace["txns"]
    rng = random.Random(seed)
    changes: dict[bytes, list[bytes]] = {}  # actor -> its changes' bytes, by seq - 1
    order: dict[bytes, int] = {}  # change bytes -> global commit index (a causal order)
    replicas: dict[bytes, Doc] = {}  # actor -> replica
    replica_vv: dict[bytes, dict[bytes, int]] = {}  # actor -> its replica's version vector
    states: dict[int, dict[bytes, int]] = {}  # txn -> version vector after it (live only)
    remaining: dict[int, int] = {}  # txn -> children still to come
    leaves: list[dict[bytes, int]] = []
    stats = {"extra_actors": 0, "merges": 0, "forks": 0, "received": 0}
    text_id = None

    for i, txn in enumerate(txns):
        # the starting state: the merge of the parents' states (empty if none)
        vv: dict[bytes, int] = {}
        for p in txn["parents"]:
            for a, n in states[p].items():
                if n > vv.get(a, 0):
                    vv[a] = n
        if len(txn["parents"]) > 1:
            stats["merges"] += 1
        for p in txn["parents"]:
            remaining[p] -= 1
            if remaining[p] == 0:
                del states[p], remaining[p]
            else:
                stats["forks"] += 1
        # the agent's actor, unless a concurrent txn of this agent already used its seq
        actor = bytes([txn["agent"] + 1]) * 16
        rvv = replica_vv.get(actor)
        if vv.get(actor, 0) != len(changes.get(actor, ())) or (
            rvv is not None and any(n > vv.get(a, 0) for a, n in rvv.items())
        ):
            stats["extra_actors"] += 1
            actor = bytes([txn["agent"] + 1]) * 8 + i.to_bytes(8, "big")
        doc = replicas.get(actor)
        if doc is None:
            doc = replicas[actor] = Doc(actor, clock=lambda: 0)
            rvv = replica_vv[actor] = {}
        rvv = replica_vv[actor]
        # receive the changes of the starting state this replica lacks, in causal order
        missing = [c for a, n in vv.items() for c in changes[a][rvv.get(a, 0) : n]]
        missing.sort(key=order.__getitem__)
        if missing:
            if rng.random() < 0.1:  # sometimes out of order: buffering must cope
                rng.shuffle(missing)
            doc.apply_changes(missing)
            assert doc.pending == 0
            stats["received"] += len(missing)
        rvv.clear()
        rvv.update(vv)
        if text_id is None:
            # every replica shares the text object made by the very first change
            assert i == 0 and not txn["parents"]
            doc.root.make_text("text")
            text_id = doc.root["text"].id
            changes.setdefault(actor, []).append(doc.get_changes()[-1])
            order[changes[actor][-1]] = -1
            rvv[actor] = vv[actor] = 1
        elif not txn["parents"]:
            raise AssertionError("a root txn after the first one would need its own text")
        tx = doc.begin(time=0)
        for pos, dl, ins in txn["patches"]:
            tx.splice(text_id, pos, dl, ins)
        ch = tx.commit()
        if ch is not None:
            changes.setdefault(actor, []).append(ch.raw)
            order[ch.raw] = i
            vv[actor] = rvv[actor] = vv.get(actor, 0) + 1
        if txn["numChildren"]:
            states[i] = vv
            remaining[i] = txn["numChildren"]
        else:
            leaves.append(vv)
    assert not states, "every txn's children were replayed"
    # the final document: the merge of every leaf, into one replica...
    final_vv: dict[bytes, int] = {}
    for vv in leaves:
        for a, n in vv.items():
            final_vv[a] = max(final_vv.get(a, 0), n)
    assert final_vv == {a: len(c) for a, c in changes.items()}
    first, *others = replicas.values()
    for other in others:
        first.merge(other)
    for other in others:
        other.merge(first)
    texts = {str(d.root["text"]) for d in replicas.values()}
    assert len(texts) == 1, "replicas disagree after merging everything"
    heads = {tuple(d.heads) for d in replicas.values()}
    assert len(heads) == 1
    # ...and into a fresh document, from the changes alone
    fresh = Doc(b"\xff" * 16)
    every = sorted((c for cs in changes.values() for c in cs), key=order.__getitem__)
    if shuffle_fresh:
        rng.shuffle(every)
    fresh.apply_changes(every)
    assert fresh.pending == 0
    for d in [*replicas.values(), fresh]:
        d._check()
    assert str(fresh.root["text"]) == texts.copy().pop()
    assert list(heads.pop()) == fresh.heads
    stats["actors"] = len(replicas)
    return str(fresh.root["text"]), stats


def _prefix(trace: dict[str, Any], n: int) -> dict[str, Any]:
    """The first n txns, with numChildren counting only children among them."""
    txns = trace["txns"][:n]
    kids = [0] * len(txns)
    for t in txns:
        for p in t["parents"]:
            kids[p] += 1
    return {"txns": [dict(t, numChildren=k) for t, k in zip(txns, kids, strict=True)]}


CONC_IDS = _id if CONC_FILES else None
CONC_PARAMS = CONC_FILES or [Path("concurrent/missing")]


@pytest.mark.parametrize("path", CONC_PARAMS, ids=CONC_IDS)
def test_concurrent_trace_prefix_converges(path: Path) -> None:
    """The first 2500 txns, forked and merged: the replicas of every agent and a fresh
    document fed the changes in random order agree (no endContent exists for a prefix)."""
    _need_traces(CONC_FILES, "concurrent/*.json.gz")
    t0 = time.perf_counter()
    text, stats = replay_concurrent(_prefix(_load(path), 2500), shuffle_fresh=True)
    assert stats["merges"] > 100 and stats["actors"] >= 2  # the prefix is concurrent
    assert len(text) > 1000
    _report(f"{_id(path)} (first 2500 txns, fork and merge)", t0)


@pytest.mark.parametrize("path", CONC_PARAMS, ids=CONC_IDS)
def test_concurrent_trace(path: Path) -> None:
    """The whole trace, forked and merged, gives endContent (10-20 s each)."""
    _need_traces(CONC_FILES, "concurrent/*.json.gz")
    trace = _load(path)
    t0 = time.perf_counter()
    text, stats = replay_concurrent(trace)
    assert text == trace["endContent"]
    print(f"{_id(path)}: {stats}")
    _report(f"{_id(path)} (fork and merge)", t0)


def test_concurrent_replay_gives_same_agent_forks_distinct_actors() -> None:
    """A hand-made trace where agent 0 edits on two concurrent branches: the replay must
    run the second branch under another actor (one actor, one seq, one change)."""
    trace = {
        "txns": [
            {"parents": [], "numChildren": 2, "agent": 0, "patches": [[0, 0, "ab"]]},
            {"parents": [0], "numChildren": 1, "agent": 0, "patches": [[0, 0, "X"]]},
            {"parents": [0], "numChildren": 1, "agent": 0, "patches": [[2, 0, "Y"]]},
            {"parents": [1, 2], "numChildren": 0, "agent": 1, "patches": [[4, 0, "!"]]},
        ]
    }
    text, stats = replay_concurrent(trace, shuffle_fresh=True)
    assert text == "XabY!"  # "Xab" and "abY" merged, then "!" appended
    assert stats["extra_actors"] == 1
    assert stats["merges"] == 1 and stats["forks"] == 1
