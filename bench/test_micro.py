"""Micro-benchmarks of our engine's hot paths (pytest-benchmark).

    .venv/bin/python -m pytest bench/test_micro.py --benchmark-enable

pyproject's ``testpaths`` is ``tests/`` and its addopts pass ``--benchmark-disable``, so
these do not run in ``make test`` (intended); with ``--benchmark-disable`` each body still
runs once, as a smoke test.

The storage side (snapshot encode/decode, log append) is here too; the storage benchmark
(``python -m bench.storage_bench``) measures append rates and log sizes at scale.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Any

import pytest

from crdt import Doc
from crdt.change import decode_change, encode_change

pytest.importorskip("pytest_benchmark")


def actor(i: int) -> str:
    return f"{i + 1:032x}"


def build_text(size: int, seed: int = 1, chunk: int = 16) -> tuple[Doc, Any]:
    """A text of ``size`` elements made of ~size/chunk runs (inserts at random positions)."""
    rng = random.Random(seed)
    doc = Doc(actor=actor(0), clock=lambda: 0)
    obj = doc.root.make_text("text").id
    n = 0
    with doc.transaction() as tx:
        while n < size:
            k = min(chunk, size - n)
            tx.splice(obj, rng.randint(0, n), 0, string.ascii_letters[n % 36 : n % 36 + k])
            n += k
    return doc, obj


@pytest.fixture(scope="module")
def base10k() -> tuple[Doc, Any]:
    return build_text(10_000)


def _remote_change(base: Doc, obj: Any, edit: Any) -> list[bytes]:
    heads = base.heads
    f = base.fork(actor=actor(7))
    with f.transaction() as tx:
        edit(tx, obj)
    return f.get_changes(heads)


def _bench_apply(benchmark: Any, base: Doc, changes: list[bytes]) -> None:
    """Time applying ``changes`` in one batch to a fresh fork of ``base`` (the fork made
    untimed, before each round)."""

    def setup() -> tuple[tuple[Doc], dict[str, Any]]:
        return (base.fork(actor=actor(2)),), {}

    def run(d: Doc) -> None:
        d.apply_changes(changes)

    benchmark.pedantic(run, setup=setup, rounds=30)


def test_integrate_remote_insert_run(benchmark: Any, base10k: tuple[Doc, Any]) -> None:
    """One remote change: 1000 characters typed one after the other at the middle."""
    base, obj = base10k

    def edit(tx: Any, o: Any) -> None:
        for i in range(1000):
            tx.splice(o, 5000 + i, 0, "abcdefghij"[i % 10])

    changes = _remote_change(base, obj, edit)
    _bench_apply(benchmark, base, changes)


def test_integrate_remote_delete_run(benchmark: Any, base10k: tuple[Doc, Any]) -> None:
    """One remote change: 1000 characters deleted one by one (backspace) across runs."""
    base, obj = base10k

    def edit(tx: Any, o: Any) -> None:
        for i in range(1000):
            tx.splice(o, 6000 - i, 1, "")

    changes = _remote_change(base, obj, edit)
    _bench_apply(benchmark, base, changes)


def test_element_at_100k(benchmark: Any) -> None:
    """Sequence.element_at at 1000 random positions of a 100K-element text (~6K runs)."""
    doc, _ = build_text(100_000)
    seq = doc.root["text"]._seq()
    rng = random.Random(2)
    positions = [rng.randrange(100_000) for _ in range(1000)]
    element_at = seq.element_at

    def run() -> None:
        for p in positions:
            element_at(p)

    benchmark(run)


def test_local_typing_1000(benchmark: Any) -> None:
    """1000 characters typed one by one in one transaction, in the middle of a 10K text."""
    base, obj = build_text(10_000)

    def setup() -> tuple[tuple[Doc], dict[str, Any]]:
        return (base.fork(actor=actor(1)),), {}

    def run(d: Doc) -> None:
        with d.transaction() as tx:
            for i in range(1000):
                tx.splice(obj, 5000 + i, 0, "x")

    benchmark.pedantic(run, setup=setup, rounds=30)


@pytest.mark.parametrize("per_commit", [False, True], ids=["one_transaction", "per_commit"])
@pytest.mark.parametrize("n", [1_000, 100_000])
def test_long_typing_run(benchmark: Any, n: int, per_commit: bool) -> None:
    """``n`` characters typed one after the other into an empty text, in one transaction
    or each its own commit (merging into one change): one run and one op that grow by a
    character at a time.  The time per character should not grow with ``n`` (it did: the
    run's str and the op's were copied whole at every keystroke, 20 µs a character at
    300K against 2 at 10K)."""

    def setup() -> tuple[tuple[Doc, Any], dict[str, Any]]:
        d = Doc(actor(1))
        return (d, d.root.make_text("t").id), {}

    def run(d: Doc, obj: Any) -> None:
        if per_commit:
            for i in range(n):
                with d.transaction() as tx:
                    tx.splice(obj, i, 0, "x")
        else:
            with d.transaction() as tx:
                for i in range(n):
                    tx.splice(obj, i, 0, "x")
        assert len(d.heads) == 1

    benchmark.pedantic(run, setup=setup, rounds=5 if n > 1000 else 30)


@pytest.mark.parametrize("merged", [True, False], ids=["merged", "unmerged"])
def test_keystroke_commits_1000(benchmark: Any, merged: bool) -> None:
    """1000 characters typed one by one, each its own transaction (the commit path, what
    B1 per-patch measures), then the heads read.  Merged (the default): the commits merge
    into one change (SPEC.md 5.9), sealed when the heads are read.  Unmerged
    (``merge_interval=None``): a change per keystroke, each sealed (encoded, hashed,
    recorded) then.  Either way this counts the sealing."""
    base, obj = build_text(10_000)

    def setup() -> tuple[tuple[Doc], dict[str, Any]]:
        d = base.fork(actor=actor(1))
        if not merged:
            d.merge_interval = None
        return (d,), {}

    def run(d: Doc) -> None:
        for i in range(1000):
            with d.transaction() as tx:
                tx.splice(obj, 5000 + i, 0, "x")
        assert len(d.heads) == 1

    benchmark.pedantic(run, setup=setup, rounds=30)


def _keystroke_changes() -> tuple[Doc, Doc, list[bytes]]:
    """(base, typist, changes): a 10K text, a peer that typed 1000 characters one after the
    other at its middle, and its 1000 changes after the base (a change per keystroke, as a
    peer that merges none sends)."""
    base, obj = build_text(10_000)
    typist = base.fork(actor=actor(1))
    typist.merge_interval = None
    for i in range(1000):
        with typist.transaction() as tx:
            tx.splice(obj, 5000 + i, 0, "x")
    return base, typist, typist.get_changes(base.heads)


def test_apply_keystroke_changes_1000(benchmark: Any) -> None:
    """A peer's 1000 keystroke changes, each on the only head, applied in one batch (the
    remote fast path, crdt.fastpath: what B2 per-patch measures)."""
    base, _, changes = _keystroke_changes()
    assert len(changes) == 1000
    _bench_apply(benchmark, base, changes)


def test_apply_keystroke_changes_a_call_each_1000(benchmark: Any) -> None:
    """As above, each change its own ``apply_changes`` call, as a live sync hands them
    over: the cost of a call (its setup, and each keystroke going the whole way, with no
    keystroke before it in the call to continue)."""
    base, typist, changes = _keystroke_changes()

    def setup() -> tuple[tuple[Doc], dict[str, Any]]:
        return (base.fork(actor=actor(2)),), {}

    def run(d: Doc) -> None:
        for c in changes:
            d.apply_changes([c])
        assert d.heads == typist.heads

    benchmark.pedantic(run, setup=setup, rounds=30)


@pytest.mark.parametrize("calls", ["one", "each"])
def test_apply_keystroke_changes_observed_1000(benchmark: Any, calls: str) -> None:
    """As above, into a document with an observer (an application showing it), in one
    batch (``one``) or a call per change (``each``: a live sync): the fast path applies
    each op as the general path does, so the observer is told a patch per keystroke."""
    base, _, changes = _keystroke_changes()
    told: list[Any] = []

    def setup() -> tuple[tuple[Doc], dict[str, Any]]:
        told.clear()
        d = base.fork(actor=actor(2))
        d.observe(told.extend)
        return (d,), {}

    def run(d: Doc) -> None:
        if calls == "one":
            d.apply_changes(changes)
        else:
            for c in changes:
                d.apply_changes([c])

    benchmark.pedantic(run, setup=setup, rounds=30)
    assert len(told) == 1000 and {p.action for p in told} == {"splice"}


@pytest.mark.parametrize("load", ["snapshot", "saved"])
def test_apply_keystroke_changes_after_a_snapshot_1000(benchmark: Any, load: str) -> None:
    """As above, into a document loaded from a snapshot of the base (an epoch's, or a peer
    that joined from one), or lazily from its saved file (``Doc.load``): the first change
    is on the cut's heads, the general path's; the fast path takes the others."""
    from crdt.snapshot import encode_snapshot, load_snapshot

    base, obj = build_text(10_000)
    data = base.save() if load == "saved" else encode_snapshot(base)
    opener = Doc.load if load == "saved" else load_snapshot
    typist = opener(data, actor(1))
    typist.merge_interval = None
    for i in range(1000):
        with typist.transaction() as tx:
            tx.splice(obj, 5000 + i, 0, "x")
    changes = typist.get_changes(base.heads)
    assert len(changes) == 1000

    def setup() -> tuple[tuple[Doc], dict[str, Any]]:
        return (opener(data, actor(2)),), {}

    def run(d: Doc) -> None:
        d.apply_changes(changes)
        assert load != "saved" or d._deferred is not None  # (its history still encoded)

    benchmark.pedantic(run, setup=setup, rounds=30)


def test_apply_selection_typed_over_1000(benchmark: Any) -> None:
    """A peer's 1000 changes that each type a character over a selected one (an INS and a
    REM), each on the only head, applied in one batch (the fast path's several text ops,
    crdt.fastpath._text_ops: most of the per-keystroke traces' changes of several ops)."""
    base, obj = build_text(10_000)
    typist = base.fork(actor=actor(1))
    typist.merge_interval = None  # (a change per keystroke, as a peer that merges none sends)
    for i in range(1000):
        with typist.transaction() as tx:
            tx.splice(obj, 2 * i, 1, "y")
    changes = typist.get_changes(base.heads)
    assert len(changes) == 1000
    _bench_apply(benchmark, base, changes)


def test_apply_two_typists_at_once_1000(benchmark: Any) -> None:
    """Two peers typing into one text at once, 500 keystroke changes each, each peer
    merging the other's every ten keystrokes, applied in one batch: the changes are not
    made on every head, so each goes through the causality check (most often without a
    clock: History.shown_past), what the concurrent traces' B2 is made of."""

    def typed(p: Doc, rng: random.Random) -> None:
        t = p.root["text"]
        t.insert(rng.randint(0, len(t)), "x")

    _bench_apply(benchmark, *_two_typists(typed))


def _two_typists(edit: Callable[[Doc, random.Random], None]) -> tuple[Doc, list[bytes]]:
    """A 10K text and two peers' 1000 changes to it, 500 each (an ``edit`` each, in turns),
    each peer merging the other's every ten of its own: the text and the changes."""
    base, _ = build_text(10_000)
    peers = [base.fork(actor=actor(1)), base.fork(actor=actor(3))]
    for p in peers:
        p.merge_interval = None  # (a change per keystroke, as a peer that merges none sends)
    rng = random.Random(3)
    for i in range(1000):
        p = peers[i % 2]
        if i % 20 < 2:
            p.merge(peers[1 - i % 2])
        edit(p, rng)
    peers[0].merge(peers[1])
    changes = peers[0].get_changes(base.heads)
    assert len(changes) == 1000
    return base, changes


def test_apply_two_typists_over_selections_1000(benchmark: Any) -> None:
    """As above, but each change types a character over a selected one (an INS and a
    REM), and right after each merge: changes of several text ops, on two deps or on deps
    behind the heads, whose ids often name the text's maker and the other typist (the
    fast path's several text ops since issue #4's 29th stop; the general path's before)."""

    def typed_over(p: Doc, rng: random.Random) -> None:
        t = p.root["text"]
        pos = rng.randrange(len(t))
        with p.transaction():
            t.delete(pos, 1)
            t.insert(pos, "y")

    _bench_apply(benchmark, *_two_typists(typed_over))


def test_apply_map_writes_1000(benchmark: Any) -> None:
    """Two peers' 1000 writes of scalars to the fields of 50 objects (maps made by a third
    peer), each write one change that overwrites the value before (a pred), applied in one
    batch: how a database's object edits replicate (the fast path's SET shape)."""
    base = Doc(actor=actor(0))
    for k in range(50):
        base.root.make_map(f"obj{k}")
    rng = random.Random(7)
    peers = [base.fork(actor=actor(1)), base.fork(actor=actor(3))]
    for p in peers:
        p.merge_interval = None  # (a change per write, as a peer that merges none sends)
    for i in range(1000):
        p = peers[i // 10 % 2]  # ten writes each in turn, each peer seeing the other's
        if i % 10 == 0:
            p.merge(peers[1 - i // 10 % 2])
        m = p.root[f"obj{rng.randrange(50)}"]
        m[rng.choice(("title", "done", "rank"))] = rng.choice((i, f"t{i}", i % 2 == 0, i / 7))
    peers[0].merge(peers[1])
    changes = peers[0].get_changes(base.heads)
    assert 950 < len(changes) <= 1000  # (writing the value a field holds makes no change)
    _bench_apply(benchmark, base, changes)


@pytest.mark.parametrize("fill", [True, False], ids=["fill", "op_by_op"])
def test_apply_a_text_in_one_change(
    benchmark: Any, base10k: tuple[Doc, Any], fill: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 10,000-element text written in one transaction (~625 inserts at random places),
    applied to an empty document: laid out in one pass (crdt.fill), or, with the fill off,
    op by op as the general path integrates them.  (Until stop 30 the op-by-op case left
    the fast path on, which fills such a change itself: both cases measured the fill.)"""
    import crdt.doc as doc_mod
    import crdt.fastpath as fastpath_mod

    # Both the general path and the fast path (a text made and typed whole) lay a text out
    # with the fill, each through its own import.  Op by op: the fast path off (it takes
    # such a change only to fill it) and the general path's fill off; both fills counted.
    if not fill:
        monkeypatch.setattr(doc_mod, "apply_fast", lambda doc, changes, k, applied: k)
        monkeypatch.setattr(doc_mod, "can_fill", lambda seq: False)
    fills: list[int] = []
    for mod in (doc_mod, fastpath_mod):

        def counted(*args: Any, _fill: Any = mod.fill) -> Any:
            fills.append(1)
            return _fill(*args)

        monkeypatch.setattr(mod, "fill", counted)
    base, _ = base10k
    changes = base.get_changes()

    def run() -> Doc:
        d = Doc(actor=actor(2))
        d.apply_changes(changes)
        return d

    d = benchmark(run)
    assert str(d.root["text"]) == str(base.root["text"])
    assert bool(fills) == fill  # (op by op means no fill at all)


@pytest.fixture(scope="module")
def big_change(base10k: tuple[Doc, Any]) -> Any:
    """A change of ~500 ops: inserts and deletes at random positions."""
    base, obj = base10k
    rng = random.Random(3)

    def edit(tx: Any, o: Any) -> None:
        for i in range(250):
            tx.splice(o, rng.randrange(9000), 0, "ab"[i % 2] * rng.randint(1, 5))
            tx.splice(o, rng.randrange(9000), rng.randint(1, 3), "")

    (raw,) = _remote_change(base, obj, edit)
    return decode_change(raw)


def test_encode_change(benchmark: Any, big_change: Any) -> None:
    c = big_change
    raw, _ = benchmark(encode_change, c.actor, c.seq, c.start_op, c.time, c.message, c.deps, c.ops)
    assert raw == c.raw


def test_decode_change(benchmark: Any, big_change: Any) -> None:
    c = benchmark(decode_change, big_change.raw)
    assert c.hash == big_change.hash


@pytest.fixture(scope="module")
def mid_doc() -> Doc:
    """A mid-size document: a 10K text plus 2000 one-edit changes at random positions."""
    doc, obj = build_text(10_000)
    rng = random.Random(4)
    for i in range(2000):
        with doc.transaction() as tx:
            if i % 4 == 3:
                tx.splice(obj, rng.randrange(9000), 1, "")
            else:
                tx.splice(obj, rng.randrange(9000), 0, "q")
    return doc


def test_doc_save(benchmark: Any, mid_doc: Doc) -> None:
    """A first save: every change encoded (a later save keeps the records of the last one:
    test_save_again_after_one_edit)."""

    def setup() -> tuple[tuple[Doc], dict[str, Any]]:
        mid_doc._saved = None  # (as if never saved)
        return (mid_doc,), {}

    data = benchmark.pedantic(Doc.save, setup=setup, rounds=20)
    assert isinstance(data, bytes)


@pytest.fixture(scope="module")
def unmerged_doc() -> Doc:
    """A 10K text plus 2000 one-character inserts at random positions, each a change of its
    own (commits not merged): a history of many changes."""
    doc, obj = build_text(10_000)
    doc.merge_interval = None
    rng = random.Random(6)
    for _ in range(2000):
        with doc.transaction() as tx:
            tx.splice(obj, rng.randrange(9000), 0, "q")
    return doc


@pytest.mark.parametrize("kept", [True, False], ids=["records-kept", "history-encoded"])
def test_save_again_after_one_edit(benchmark: Any, unmerged_doc: Doc, kept: bool) -> None:
    """The document of many changes saved, one character typed, saved again:
    ``records-kept`` writes the last save's record as it was plus one (Doc.save);
    ``history-encoded`` encodes every change again, as every save did before."""
    doc = unmerged_doc
    doc.save()

    def setup() -> tuple[tuple[Doc], dict[str, Any]]:
        d = doc.fork(actor(9))  # (it keeps the records of doc's save)
        d.root["text"].insert(0, ">")
        if not kept:
            d._saved = None
        return (d,), {}

    out = benchmark.pedantic(Doc.save, setup=setup, rounds=20)
    d = Doc.load(out, verify=True)
    assert d.change_count() == doc.change_count() + 1
    assert str(d.root["text"]) == ">" + str(doc.root["text"])


def test_doc_load(benchmark: Any, mid_doc: Doc) -> None:
    data = mid_doc.save()
    d = benchmark(Doc.load, data)
    assert str(d.root["text"]) == str(mid_doc.root["text"])


def test_doc_load_then_edit(benchmark: Any, mid_doc: Doc) -> None:
    """``Doc.load`` then one character typed: the text's runs, which a load leaves to be
    built on first touch (``Sequence.load_runs_lazily``), are built by the edit."""
    data = mid_doc.save()

    def load_and_type() -> Doc:
        d = Doc.load(data)
        d.root["text"].insert(0, ">")
        return d

    d = benchmark(load_and_type)
    assert str(d.root["text"]) == ">" + str(mid_doc.root["text"])


def test_doc_load_verified(benchmark: Any, mid_doc: Doc) -> None:
    """The whole history replayed and verified (what format 2 always paid)."""
    data = mid_doc.save()
    d = benchmark(lambda: Doc.load(data, verify=True))
    assert str(d.root["text"]) == str(mid_doc.root["text"])


@pytest.mark.parametrize("kept", [True, False], ids=["records-kept", "history-decoded"])
def test_save_after_lazy_load(benchmark: Any, unmerged_doc: Doc, kept: bool) -> None:
    """The document of many changes loaded lazily, one character typed, saved:
    ``records-kept`` saves the loaded record as it was plus one (Doc.save);
    ``history-decoded`` decodes and re-encodes the whole history, as every such save did
    before (forced here by decoding it and forgetting the records)."""
    doc = unmerged_doc
    data = doc.save()

    def run() -> bytes:
        d = Doc.load(data, actor(9), clock=lambda: 0)
        d.root["text"].insert(0, ">")
        if not kept:
            d._need_history()
            d._saved = None
        return d.save()

    out = benchmark(run)
    d = Doc.load(out, verify=True)
    assert d.change_count() == doc.change_count() + 1
    assert str(d.root["text"]) == ">" + str(doc.root["text"])


def test_merge_from_fork(benchmark: Any, mid_doc: Doc) -> None:
    """Merge of two replicas that differ by 200 changes (sync between forks)."""
    other = mid_doc.fork(b"\x07" * 16)
    obj = other.root["text"].id
    for i in range(200):
        with other.transaction() as tx:
            tx.splice(obj, (i * 37) % 9000, 0, "m")

    def run() -> Doc:
        d = mid_doc.fork(b"\x08" * 16)
        d.merge(other)
        return d

    d = benchmark(run)
    assert str(d.root["text"]) == str(other.root["text"])


def test_fork_and_edit_100k(benchmark: Any) -> None:
    """Fork a 100K-element text (~6K runs) and type one character into the fork: the fork
    shares the runs (copy-on-write), so this costs the chunks, not the runs."""
    doc, obj = build_text(100_000)

    def run() -> Doc:
        f = doc.fork(b"\x09" * 16)
        with f.transaction() as tx:
            tx.splice(obj, 50_000, 0, "x")
        return f

    f = benchmark(run)
    assert len(f.root["text"]) == 100_001 and len(doc.root["text"]) == 100_000


def test_snapshot_encode(benchmark: Any, mid_doc: Doc) -> None:
    from crdt.snapshot import encode_snapshot

    data = benchmark(encode_snapshot, mid_doc)
    assert data == encode_snapshot(mid_doc)


def test_snapshot_decode(benchmark: Any, mid_doc: Doc) -> None:
    from crdt.snapshot import encode_snapshot, load_snapshot

    data = encode_snapshot(mid_doc)
    d = benchmark(load_snapshot, data)
    assert str(d.root["text"]) == str(mid_doc.root["text"])


def test_snapshot_decode_then_edit(benchmark: Any, mid_doc: Doc) -> None:
    """``load_snapshot`` then one character typed (the runs built on that first touch)."""
    from crdt.snapshot import encode_snapshot, load_snapshot

    data = encode_snapshot(mid_doc)

    def load_and_type() -> Doc:
        d: Doc = load_snapshot(data)
        d.root["text"].insert(0, ">")
        return d

    d = benchmark(load_and_type)
    assert str(d.root["text"]) == ">" + str(mid_doc.root["text"])


def test_log_append(benchmark: Any, tmp_path: Any, base10k: tuple[Doc, Any]) -> None:
    """Append one small change to the log, in fsync="never" mode (the framing and encoding
    cost; fsync rates are in the storage benchmark)."""
    from crdt.change import decode_change
    from crdt.storage import Store

    base, obj = base10k
    doc = base.fork(actor(9))
    changes = []
    for i in range(2000):
        with doc.transaction() as tx:
            tx.splice(obj, i, 0, "x")
        changes.append(decode_change(doc.get_change(doc.heads[0])))
    st = Store.open(str(tmp_path / "s"), fsync="never")
    it = iter(changes)
    benchmark.pedantic(lambda: st.append([next(it)]), rounds=1000, iterations=1)
    st.close()
