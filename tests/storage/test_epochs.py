"""Epochs, snapshots, compaction, crash injection, stale changes, durability modes."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crdt import Doc, decode_change
from crdt.storage import CrashInjected, FailPoints, StaleChangeError, Store
from crdt.storage.errors import StoreLockedError

from .util import random_changes, record_offsets, state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _fill(path: str, n_epochs: int, seed: int = 1, **kw: object) -> tuple[object, list[bytes]]:
    rng = random.Random(seed)
    with Store.open(path, "never", **kw) as st:  # type: ignore[arg-type]
        pd = st.open_doc(actor="aa")
        for _ in range(n_epochs):
            random_changes(pd, rng, 15)
            st.create_epoch(pd)
        random_changes(pd, rng, 5)
        return state(pd.doc)


def test_epoch_load_replays_after_snapshot(tmp_path: Path) -> None:
    p = str(tmp_path / "s")
    want = _fill(p, 3)
    with Store.open(p) as st:
        assert st.epoch.number == 3 and st.epoch.root is not None
        assert state(st.read_doc()) == want
        assert len(st.epochs) == 4


def test_compact_keeps_n_epochs(tmp_path: Path) -> None:
    p = str(tmp_path / "s")
    want = _fill(p, 4, keep_epochs=2)
    with Store.open(p, keep_epochs=2) as st:
        rep = st.compact()
        assert rep.epochs_dropped == [0, 1, 2] and rep.segments_removed == 3
        assert rep.snapshots_removed == 2
    assert state(Store.load(p)) == want
    assert len(os.listdir(os.path.join(p, "snapshots"))) == 2


def _steps(fn_name: str, tmp_path: Path) -> list[str]:
    p = str(tmp_path / "probe")
    _fill(p, 2)
    fp = FailPoints()
    with Store.open(p, keep_epochs=1, failpoints=fp) as st:
        pd = st.open_doc()
        fp.seen.clear()
        if fn_name == "create_epoch":
            st.create_epoch(pd)
        else:
            st.compact()
        steps = list(fp.seen)
    assert steps
    return steps


@pytest.mark.parametrize("op", ["create_epoch", "compact"])
def test_crash_at_every_step(op: str, tmp_path: Path) -> None:
    steps = _steps(op, tmp_path)
    for i, step in enumerate(dict.fromkeys(steps)):
        p = str(tmp_path / f"{op}{i}")
        want = _fill(p, 2)
        fp = FailPoints([step])
        st = Store.open(p, keep_epochs=1, failpoints=fp)
        pd = st.open_doc()
        before = st.epoch.number
        with pytest.raises(CrashInjected):
            if op == "create_epoch":
                st.create_epoch(pd)
            else:
                st.compact()
        st.abandon()
        with Store.open(p) as st2:
            assert st2.epoch.number in (before, before + 1), step
            if op == "compact":
                assert st2.epoch.number == before
            assert state(st2.read_doc()) == want, step
        # still fully usable: append, new epoch, compact, reload
        with Store.open(p, keep_epochs=1) as st3:
            pd3 = st3.open_doc()
            random_changes(pd3, random.Random(i), 3)
            st3.create_epoch(pd3)
            st3.compact()
            want2 = state(pd3.doc)
        assert state(Store.load(p)) == want2, step


def test_crash_in_append_loses_only_unacked(tmp_path: Path) -> None:
    p = str(tmp_path / "s")
    want = _fill(p, 1)
    for step in ("append.write", "append.fsync"):
        st = Store.open(p, "always", failpoints=FailPoints([step]))
        pd = st.open_doc()
        with pytest.raises(CrashInjected):
            random_changes(pd, random.Random(5), 1)
        st.abandon()
        got = state(Store.load(p))
        assert got == want or step == "append.fsync"


def test_stale_changes_are_rejected_and_kept(tmp_path: Path) -> None:
    p = str(tmp_path / "s")
    a = Doc(actor="aa")
    a["x"] = 1
    b = a.fork(actor="bb")
    a["y"] = 2
    b["z"] = 3  # concurrent with a's "y": made on a state before the cut
    with Store.open(p) as st:
        pd = st.attach(a)
        st.create_epoch(pd)
        with pytest.raises(StaleChangeError) as ei:
            pd.apply_changes(b.get_changes())
        assert [r.hash for r in ei.value.rejected] == b.heads
        assert len(st.rejected) == 1 and "x" in pd.doc.to_py() and "z" not in pd.doc.to_py()
        # a change made after the cut is accepted
        c = a.fork(actor="cc")
        c["w"] = 4
        applied = pd.apply_changes([c.get_change(c.heads[0])], on_stale="record")
        assert len(applied) == 1 and pd.doc["w"] == 4
        # a change on top of the rejected one is stale too
        b.merge(a)
        b["v"] = 5
        with pytest.raises(StaleChangeError):
            pd.apply_changes([b.get_change(b.heads[0])])
        assert len(st.rejected) == 2
        want = state(pd.doc)
    with Store.open(p) as st:
        assert state(st.read_doc()) == want
        assert len(st.rejected) == 2 and all(r.reason.startswith("stale") for r in st.rejected)


def test_batch_mode_group_commit(tmp_path: Path) -> None:
    p = str(tmp_path / "s")
    st = Store.open(p, "batch", batch_changes=1000, batch_ms=20)
    pd = st.open_doc(actor="aa")
    random_changes(pd, random.Random(1), 10)
    assert st.durable_seq == 0  # queued, not yet durable
    deadline = time.monotonic() + 2
    while st.durable_seq < 10 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert st.durable_seq == 10  # the timer flushed it
    random_changes(pd, random.Random(2), 5)
    st.flush()
    assert st.durable_seq == 15
    want = state(pd.doc)
    st.close()
    assert state(Store.load(p)) == want


def test_lock_and_persist_direct_edits(tmp_path: Path) -> None:
    p = str(tmp_path / "s")
    with Store.open(p) as st:
        with pytest.raises(StoreLockedError):
            Store.open(p)
        pd = st.open_doc(actor="aa")
        pd.doc["k"] = "v"  # auto-committed, not through the wrapper: logged by on_change
        assert pd.persist() == 0  # nothing left to catch up
    with Store.open(p) as st:
        doc = st.read_doc("bb")
        assert doc.to_py() == {"k": "v"}
        doc["early"] = 1  # made before attaching: attach() catches it up
        st.attach(doc)
        doc["late"] = 2
    assert Store.load(p).to_py() == {"k": "v", "early": 1, "late": 2}


def _driver(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    r = subprocess.run(
        [sys.executable, "-m", "crdt.conformance"],
        input="\n".join(json.dumps(x) for x in lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return [json.loads(x) for x in r.stdout.splitlines()]


def test_conformance_open_and_epoch(tmp_path: Path) -> None:
    d = str(tmp_path / "store")
    out = _driver(
        [
            {"cmd": "open", "peer": "A", "dir": d, "actor": "aa"},
            {"cmd": "make", "peer": "A", "path": ["t"], "type": "text"},
            {"cmd": "commit", "peer": "A"},
            {"cmd": "splice", "peer": "A", "path": ["t"], "pos": 0, "text": "hi"},
            {"cmd": "commit", "peer": "A"},
            {"cmd": "epoch", "peer": "A"},
            {"cmd": "new", "peer": "B", "actor": "bb"},
            {"cmd": "sync", "from": "A", "to": "B"},
            {"cmd": "put", "peer": "B", "path": ["k"], "value": 1},
            {"cmd": "commit", "peer": "B"},
            {"cmd": "sync", "from": "B", "to": "A"},
            {"cmd": "splice", "peer": "A", "path": ["t"], "pos": 2, "text": "!"},
            {"cmd": "commit", "peer": "A"},
            {"cmd": "dump", "peer": "A"},
        ]
    )
    acks = [o["ack"] for o in out if "ack" in o]
    assert len(acks) == 3
    assert not any("error" in o for o in out), out
    dump = out[-1]
    assert dump["value"] == {"t": "hi!", "k": 1} and dump["heads"] == [acks[-1]]
    assert any(o.get("epoch") == 1 for o in out)
    again = _driver([{"cmd": "open", "peer": "C", "dir": d}, {"cmd": "dump", "peer": "C"}])
    assert again[-1]["value"] == dump["value"] and again[-1]["heads"] == dump["heads"]


def test_conformance_logs_each_commit_once_and_a_closed_peer_edits_in_memory(
    tmp_path: Path,
) -> None:
    """Each acknowledged commit is one record of the log (the driver appended each a
    second time after the PersistentDoc's hook had), and after ``close`` the peer stays
    in memory (SPEC.md 9.3): its commits work, unacknowledged and unpersisted (they
    failed with ``StoreClosedError`` after taking effect)."""
    d = str(tmp_path / "store")
    out = _driver(
        [
            {"cmd": "open", "peer": "A", "dir": d, "actor": "aa"},
            {"cmd": "put", "peer": "A", "path": ["x"], "value": 1},
            {"cmd": "commit", "peer": "A"},
            {"cmd": "put", "peer": "A", "path": ["y"], "value": 2},
            {"cmd": "commit", "peer": "A"},
            {"cmd": "close", "peer": "A"},
            {"cmd": "put", "peer": "A", "path": ["z"], "value": 3},
            {"cmd": "commit", "peer": "A"},
            {"cmd": "dump", "peer": "A"},
        ]
    )
    assert not any("error" in o for o in out), out
    acks = [o["ack"] for o in out if "ack" in o]
    assert len(acks) == 2
    assert out[-1]["value"] == {"x": 1, "y": 2, "z": 3} and out[-1]["heads"] != [acks[-1]]
    (seg,) = os.listdir(os.path.join(d, "log"))
    assert len(record_offsets(os.path.join(d, "log", seg))) == 2
    again = _driver([{"cmd": "open", "peer": "C", "dir": d}, {"cmd": "dump", "peer": "C"}])
    assert again[-1] == {"peer": "C", "value": {"x": 1, "y": 2}, "heads": [acks[-1]]}


def test_a_detached_document_edits_in_memory_only(tmp_path: Path) -> None:
    p = str(tmp_path / "s")
    with Store.open(p, "never") as st:
        pd = st.open_doc(actor="aa")
        pd.doc["kept"] = 1
        pd.detach()
        pd.doc["memory"] = 2
        assert st.heads != pd.doc.heads
    pd.doc["after_close"] = 3  # (the store is closed: nothing tries to log it)
    assert Store.load(p).to_py() == {"kept": 1}
    with Store.open(p, "never") as st:
        st.attach(pd.doc)  # (persist: what the store lacks is appended)
        assert st.heads == pd.doc.heads
    assert Store.load(p).to_py() == {"kept": 1, "memory": 2, "after_close": 3}


def test_local_commit_on_fresh_snapshot_doc(tmp_path: Path) -> None:
    p = str(tmp_path / "s")
    _fill(p, 1)
    with Store.open(p) as st:
        st.create_epoch(st.open_doc())  # an epoch with nothing after it
    with Store.open(p) as st:
        pd = st.open_doc(actor="bb")
        with pd.transaction() as tx:
            tx.put(None, "new", 1)
        assert st.heads == pd.doc.heads
        assert set(st.epoch.heads) <= set(decode_change(pd.doc.get_changes()[0]).deps)


def test_change_on_a_head_of_the_cut_the_document_was_loaded_from_is_stale_after_a_new_one(
    tmp_path: Path,
) -> None:
    """A document opened from epoch 1's snapshot and kept open across a second epoch: a
    head of its own snapshot is before the new cut, and a change on it alone is
    concurrent with the new cut, so stale (SPEC.md 13.8, rule 2).  The document has that
    head (``has_change``, SPEC.md 12); it said it did not, and the change waited for good
    for a change the document held."""
    p = str(tmp_path / "s")
    with Store.open(p, "never") as st:
        pd = st.open_doc(actor="aa")
        pd.doc["a"] = 1
        st.create_epoch(pd)
        peer = pd.doc.fork(actor="bb")  # (went away at epoch 1's cut)
    with Store.open(p, "never") as st:
        pd = st.open_doc(actor="aa")
        assert pd.doc.heads == peer.heads and all(map(pd.doc.has_change, peer.heads))
        pd.doc["b"] = 2
        st.create_epoch(pd)  # (the document keeps epoch 1's snapshot as its base)
        old = peer.heads
        peer["x"] = 3
        late = peer.get_changes(old)
        assert pd.apply_changes(late, on_stale="record") == []
        assert pd.waiting == 0 and pd.missing_deps() == []
        assert [r.hash for r in st.rejected] == [decode_change(late[0]).hash]
        assert st.rejected[0].reason == "stale: depends on a change before the cut"
        assert pd.doc.to_py() == {"a": 1, "b": 2}


def test_change_on_a_change_before_the_cut_is_stale_once_that_change_comes_again(
    tmp_path: Path,
) -> None:
    """Opened from its snapshot, the document does not know the changes before the cut by
    hash: a change on one of them waits, and must turn stale (SPEC.md 13.8, rule 2) when
    the peer sends that change again (rule 1: in the cut), not wait for good."""
    p = str(tmp_path / "s")
    a = Doc(actor="aa")
    a["x"] = 1
    b = a.fork(actor="bb")
    b["y"] = 2
    b1 = b.get_changes(a.heads)
    with Store.open(p) as st:
        pd = st.attach(a)
        pd.apply_changes(b1)
        pd.doc["z"] = 3  # the cut's head is after b1: b1 is before the cut, not a head of it
        st.create_epoch(pd)
    b["w"] = 4  # on b1 alone: concurrent with the cut
    b2 = b.get_changes([decode_change(c).hash for c in b1])
    for first, then in ((b2, b1), (b1, b2)):  # (b1 again first: b2 is stale when it comes)
        q = str(tmp_path / ("waits" if first is b2 else "resent"))
        shutil.copytree(p, q)
        with Store.open(q) as st:
            pd = st.open_doc(actor="aa")
            assert not pd.doc.has_change(decode_change(b1[0]).hash)
            assert pd.apply_changes(first, on_stale="record") == []
            assert pd.waiting == (first is b2)
            assert pd.apply_changes(then, on_stale="record") == []
            assert pd.waiting == 0 and pd.missing_deps() == []
            assert [r.hash for r in st.rejected] == [decode_change(b2[0]).hash]
            assert st.rejected[0].reason == "stale: depends on a change before the cut"
            assert "w" not in pd.doc.to_py()


@pytest.mark.parametrize("epochs", [0, 1])
@pytest.mark.parametrize("actor", ["zz", "", "ab" * 65, 5])
def test_a_bad_actor_is_a_usage_error_not_a_corrupt_store(
    tmp_path: Path, epochs: int, actor: object
) -> None:
    """``open_doc`` with an actor that is not one: the argument's error, not "stored
    changes do not rebuild" (which told the caller its store was corrupt), and the store
    still opens the document with a good actor.  With and without a snapshot to load."""
    from crdt.errors import UsageError
    from crdt.storage import CorruptStoreError

    p = str(tmp_path / "s")
    want = _fill(p, epochs)
    with Store.open(p) as st:
        with pytest.raises(UsageError, match="actor") as info:
            st.open_doc(actor)  # type: ignore[arg-type]
        assert not isinstance(info.value, CorruptStoreError)
        assert state(st.open_doc("bb").doc) == want


def test_append_refuses_what_is_not_a_decoded_change(tmp_path: Path) -> None:
    """Bytes given to the low-level ``Store.append`` failed deep inside (AttributeError:
    no ``.hash``), after the changes before them were buffered."""
    from crdt.errors import UsageError

    d = Doc(actor="aa", merge_interval=None)
    d["x"] = 1
    d["y"] = 2
    raws = d.get_changes()
    assert len(raws) == 2
    with Store.open(str(tmp_path / "s"), "never") as st:
        with pytest.raises(UsageError, match="decoded changes"):
            st.append([decode_change(raws[0]), raws[1]])  # type: ignore[list-item]
        assert st.heads == []  # (nothing of the call was taken)
        st.append([decode_change(r) for r in raws])
        assert set(st.heads) == set(d.heads)


def test_a_store_is_opened_only_at_a_directory(tmp_path: Path) -> None:
    """A path that names a file failed deep inside (NotADirectoryError for its ``log``
    subdirectory); a path of the wrong type with TypeError.  A ``Path`` is welcome."""
    from crdt.errors import UsageError

    f = tmp_path / "file"
    f.write_bytes(b"mine")
    with pytest.raises(UsageError, match="not a directory"):
        Store.open(str(f))
    assert f.read_bytes() == b"mine" and sorted(tmp_path.iterdir()) == [f]
    with pytest.raises(UsageError, match="path-like"):
        Store.open(5)  # type: ignore[arg-type]
    with Store.open(tmp_path / "s", "never") as st:
        st.open_doc(actor="aa").doc["x"] = 1
    assert Store.load(str(tmp_path / "s")).to_py() == {"x": 1}


@pytest.mark.parametrize("migration", [object(), "\ud800", 2**70, {"k": [1, {2}]}])
def test_a_migration_that_is_not_msgpack_data_is_refused_before_anything_is_written(
    tmp_path: Path, migration: object
) -> None:
    """It failed with msgpack's own error (TypeError, UnicodeEncodeError, OverflowError)
    when the epoch record was encoded, after the snapshot was written: a file no epoch
    named.  Now a UsageError, nothing written, and the store goes on."""
    from crdt.errors import UsageError

    p = str(tmp_path / "s")
    with Store.open(p, "never") as st:
        pd = st.open_doc(actor="aa")
        pd.doc["x"] = 1
        with pytest.raises(UsageError, match="msgpack data"):
            st.create_epoch(pd, migration)
        assert st.epoch.number == 0 and os.listdir(os.path.join(p, "snapshots")) == []
        info = st.create_epoch(pd, {"to": "v2", "steps": [1, 2]})
        assert info.number == 1 and info.migration == {"to": "v2", "steps": [1, 2]}
    with Store.open(p) as st:
        assert st.epoch.migration == {"to": "v2", "steps": [1, 2]}


@pytest.mark.parametrize("on_stale", ["rase", "", None, True])
def test_an_on_stale_that_is_neither_raise_nor_record_is_refused(
    tmp_path: Path, on_stale: object
) -> None:
    """Any value but "raise" recorded stale changes without a word: a typo lost the
    error the caller asked for.  Now a UsageError before anything is applied."""
    from crdt.errors import UsageError

    a = Doc(actor="aa")
    a["x"] = 1
    b = a.fork(actor="bb")
    a["y"] = 2
    b["z"] = 3  # (concurrent with a's "y", so with the cut below: stale)
    with Store.open(str(tmp_path / "s"), "never") as st:
        pd = st.attach(a)
        st.create_epoch(pd)
        with pytest.raises(UsageError, match="on_stale"):
            pd.apply_changes(b.get_changes(), on_stale=on_stale)  # type: ignore[arg-type]
        assert st.rejected == [] and "z" not in pd.doc.to_py()
        with pytest.raises(StaleChangeError):
            pd.apply_changes(b.get_changes())
