"""Convergence: replicas that edit concurrently and exchange changes over a faulty network
end up equal, to each other and to a fresh replica that receives every change in a random
order.  A hypothesis state machine drives 2..5 replicas; simpler properties pin down the
merge rules (text splices, concurrent inserts, map conflicts, list set vs delete).

The slow variant runs many more examples: ``pytest -m slow`` (or ``RUN_SLOW=1``).
"""

from __future__ import annotations

import itertools
import os
import random
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from crdt import Doc, DuplicateSeqError, InvalidChangeError, StaleChangeError
from crdt.change import decode_change
from crdt.snapshot import encode_snapshot, load_snapshot, snapshot_root

try:
    from tests.helpers import (
        INT64_MAX,
        INT64_MIN,
        RandomPicker,
        assert_converged,
        break_causality,
        change_hash_of,
        change_header,
        edit_random,
        replay_patches,
        skip_authors_change,
        sync_lossy,
        sync_until_quiescent,
    )
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from helpers import (  # type: ignore[no-redef]
        INT64_MAX,
        INT64_MIN,
        RandomPicker,
        assert_converged,
        break_causality,
        change_hash_of,
        change_header,
        edit_random,
        replay_patches,
        skip_authors_change,
        sync_lossy,
        sync_until_quiescent,
    )

# ------------------------------------------------------------------ the state machine

scalars = st.one_of(
    st.integers(min_value=INT64_MIN, max_value=INT64_MAX),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.binary(max_size=5),
)


class DataPicker:
    """The picker interface of tests/helpers.py over hypothesis' ``st.data()``."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def choice(self, seq: Any) -> Any:
        return self.data.draw(st.sampled_from(list(seq)))

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))

    def chance(self, p: float) -> bool:
        # hypothesis shrinks booleans towards False, i.e. towards the simpler path
        return (
            self.data.draw(st.booleans())
            if p >= 0.5
            else self.data.draw(st.integers(0, 99).map(lambda x: x < p * 100))
        )

    def text(self, max_len: int) -> str:
        return self.data.draw(st.text(max_size=max_len))

    def shuffle(self, lst: list[Any]) -> list[Any]:
        return self.data.draw(st.permutations(lst)) if lst else []

    def scalar(self) -> Any:
        from crdt import Counter

        if self.data.draw(st.integers(0, 9)) == 0:
            return Counter(self.data.draw(st.integers(-1000, 1000)))
        return self.data.draw(scalars)


class ConvergenceMachine(RuleBasedStateMachine):
    """2..5 replicas with distinct actors editing in transactions and syncing lossily."""

    def __init__(self) -> None:
        super().__init__()
        self.docs: list[Doc] = []
        self.explicit: list[Any] = []  # per replica: the transaction opened with begin()

    @initialize(
        actors=st.lists(st.binary(min_size=1, max_size=16), min_size=2, max_size=5, unique=True)
    )
    def make_replicas(self, actors: list[bytes]) -> None:
        self.docs = [Doc(a) for a in actors]
        self.explicit = [None] * len(actors)

    def _replica(self, data: Any) -> int:
        return int(data.draw(st.integers(0, len(self.docs) - 1), label="replica"))

    def _commit(self, i: int) -> None:
        tx = self.explicit[i]
        if tx is not None:
            tx.commit()
            self.explicit[i] = None

    @rule(data=st.data())
    def begin(self, data: Any) -> None:
        """Open an explicit transaction on a replica (doc.begin() ... tx.commit())."""
        i = self._replica(data)
        if self.explicit[i] is None:
            self.explicit[i] = self.docs[i].begin()

    @rule(data=st.data())
    def commit(self, data: Any) -> None:
        self._commit(self._replica(data))

    @rule(data=st.data(), n=st.integers(1, 6))
    def edit(self, data: Any, n: int) -> None:
        """n random edits: into the open explicit transaction, or in a ``with`` block."""
        i = self._replica(data)
        doc = self.docs[i]
        pick = DataPicker(data)
        if self.explicit[i] is not None:
            for _ in range(n):
                edit_random(doc, pick)
        else:
            with doc.transaction():
                for _ in range(n):
                    edit_random(doc, pick)
            assert doc._tx is None

    @rule(data=st.data(), n=st.integers(1, 6))
    def edit_more(self, data: Any, n: int) -> None:
        """The same as :meth:`edit`: editing is the commonest step."""
        self.edit(data, n)

    @rule(data=st.data(), n=st.integers(1, 3))
    def aborted_block(self, data: Any, n: int) -> None:
        """A ``with`` block that raises undoes exactly its own edits (a whole transaction,
        or a savepoint inside the open explicit one)."""
        i = self._replica(data)
        doc = self.docs[i]
        before = doc.to_py()
        heads = doc.heads
        pick = DataPicker(data)

        class Abort(Exception):
            pass

        with pytest.raises(Abort), doc.transaction():
            for _ in range(n):
                edit_random(doc, pick)
            raise Abort
        assert doc.to_py() == before
        assert doc.heads == heads
        assert (doc._tx is None) == (self.explicit[i] is None)

    @rule(data=st.data(), lossy=st.booleans(), observed=st.booleans())
    def sync(self, data: Any, lossy: bool, observed: bool) -> None:
        """Sender -> receiver: reordered, duplicated and (maybe) lossy delivery.
        ``observed``: the receiver has an observer, whose patches, replayed to a view of
        the receiver as it was, must give the receiver as it is."""
        src = self._replica(data)
        dst = self._replica(data)
        if src == dst:
            return
        self._commit(dst)  # a replica receives only between transactions
        if observed:
            view = self.docs[dst].to_py()
            told: list[Any] = []
            with self.docs[dst].observe(told.extend):
                sync_lossy(self.docs[src], self.docs[dst], DataPicker(data), lossy=lossy)
            assert replay_patches(view, told) == self.docs[dst].to_py()
        else:
            sync_lossy(self.docs[src], self.docs[dst], DataPicker(data), lossy=lossy)
        if not lossy and self.explicit[src] is None:
            # reliable delivery: the receiver now has everything the sender committed
            have = set(self.docs[dst].get_changes())
            assert all(c in have for c in self.docs[src].get_changes())

    @precondition(lambda self: len(self.docs) > 0)
    @invariant()
    def structures_hold(self) -> None:
        for d in self.docs:
            d._check()

    @rule(data=st.data())
    def converge(self, data: Any) -> None:
        """Commit everything, sync until quiescent, check convergence (also at the end)."""
        self.final_check(data)

    def final_check(self, data: Any) -> None:
        for i in range(len(self.docs)):
            self._commit(i)
        sync_until_quiescent(self.docs)
        assert_converged(self.docs, DataPicker(data))

    def teardown(self) -> None:
        if not self.docs:
            return
        for i in range(len(self.docs)):
            self._commit(i)
        sync_until_quiescent(self.docs)
        # teardown cannot draw; a permutation seeded by the heads is reproducible
        seed = self.docs[0].heads[0] if self.docs[0].heads else b""
        assert_converged(self.docs, RandomPicker(random.Random(seed)))


def _slow_enabled(request: pytest.FixtureRequest) -> bool:
    expr = request.config.getoption("markexpr") or ""
    return (
        os.environ.get("RUN_SLOW") == "1"
        or os.environ.get("FUZZ_FOREVER") == "1"
        or ("slow" in expr and "not slow" not in expr)
    )


def test_state_machine_converges() -> None:
    run_state_machine_as_test(
        ConvergenceMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )


@pytest.mark.slow
def test_state_machine_converges_many(request: pytest.FixtureRequest) -> None:
    if not _slow_enabled(request):
        pytest.skip("slow variant: run with -m slow or RUN_SLOW=1")
    run_state_machine_as_test(
        ConvergenceMachine,
        settings=settings(
            max_examples=int(os.environ.get("CONVERGENCE_EXAMPLES", "1500")),
            stateful_step_count=80,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )


# ------------------------------------------------------------------ merge properties

actor_lists = st.lists(st.binary(min_size=1, max_size=16), min_size=3, max_size=3, unique=True)


def _splices(data: Any, doc: Doc, alphabet_start: int, n: int) -> None:
    """n random splices on doc's text "t", inserting never-seen-before characters."""
    t = doc.root["t"]
    nxt = alphabet_start
    for _ in range(n):
        length = len(t)
        pos = data.draw(st.integers(0, length))
        dl = data.draw(st.integers(0, length - pos))
        k = data.draw(st.integers(0, 4))
        ins = "".join(chr(c) for c in range(nxt, nxt + k))
        nxt += k
        if data.draw(st.booleans()):
            t.splice(pos, dl, ins)  # one change each
        else:
            with doc.transaction():
                t.delete(pos, dl)
                t.insert(pos, ins)


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    actors=actor_lists,
    base_len=st.integers(0, 12),
    na=st.integers(0, 10),
    nb=st.integers(0, 10),
)
def test_concurrent_text_splices_converge(
    data: Any, actors: list[bytes], base_len: int, na: int, nb: int
) -> None:
    """Two replicas splice one text concurrently; merged both ways they agree, keep
    exactly the characters nobody deleted, and keep each side's relative order."""
    base = "".join(chr(0x4E00 + i) for i in range(base_len))  # every character unique
    a = Doc(actors[0])
    a.root.make_text("t", base)
    b = a.fork(actor=actors[1])
    _splices(data, a, 0x20000, na)  # astral plane characters
    _splices(data, b, 0x3400, nb)  # BMP characters
    fa, fb = str(a.root["t"]), str(b.root["t"])
    a.merge(b)
    b.apply_changes(data.draw(st.permutations(a.get_changes(b.heads))))
    ta, tb = str(a.root["t"]), str(b.root["t"])
    assert ta == tb
    assert a.heads == b.heads
    expected = (set(base) & set(fa) & set(fb)) | (set(fa) - set(base)) | (set(fb) - set(base))
    assert len(ta) == len(set(ta)) and set(ta) == expected
    for side in (fa, fb):
        assert [c for c in ta if c in set(side)] == [c for c in side if c in set(ta)]
    a._check()
    b._check()


@settings(max_examples=150, deadline=None)
@given(data=st.data(), actors=actor_lists, is_text=st.booleans(), base_len=st.integers(0, 6))
def test_concurrent_inserts_same_position(
    data: Any, actors: list[bytes], is_text: bool, base_len: int
) -> None:
    """Three actors insert a run at the same index concurrently.  Every replica ends with
    base[:k] + the three runs (each contiguous) + base[k:], in the same order, and the
    runs are ordered by descending op id (counter, actor) of their first element."""
    origin = Doc(b"\x00")
    base: Any = (
        "".join(chr(0x61 + i) for i in range(base_len)) if is_text else list(range(base_len))
    )
    if is_text:
        origin.root.make_text("s", base)
    else:
        origin.root["s"] = base
    k = data.draw(st.integers(0, base_len), label="k")
    replicas = [origin.fork(actor=a) for a in actors]
    runs: list[Any] = []
    first_ids: list[tuple[int, bytes]] = []
    for r, doc in enumerate(replicas):
        # warm-up edits elsewhere raise this actor's counter (or not)
        for w in range(data.draw(st.integers(0, 2))):
            doc.root[f"w{r}"] = w
        size = data.draw(st.integers(1, 4))
        run: Any = (
            "".join(chr(0x400 + 10 * r + j) for j in range(size))
            if is_text
            else [f"{r}.{j}" for j in range(size)]
        )
        runs.append(run)
        seq = doc.root["s"]
        typing = data.draw(st.booleans())
        tx = doc.begin()
        if typing:  # one element at a time, each after the previous
            for j in range(size):
                seq.insert(k + j, run[j])
        elif is_text:
            seq.insert(k, run)
        else:
            with doc.transaction():  # a nested block: a savepoint of the open transaction
                for j in range(size):
                    seq.insert(k + j, run[j])
        ch = tx.commit()
        actor, _, start_op = change_header(ch.raw)
        first_ids.append((start_op, actor))
    all_changes = [c for d in replicas for c in d.get_changes()]
    for doc in replicas:
        doc.apply_changes(data.draw(st.permutations(all_changes)))
    values = [doc.to_py()["s"] for doc in replicas]
    assert values[0] == values[1] == values[2]
    order = sorted(range(3), key=lambda r: first_ids[r], reverse=True)
    middle: Any = (
        "".join(runs[r] for r in order) if is_text else [x for r in order for x in runs[r]]
    )
    assert values[0] == base[:k] + middle + base[k:]


@settings(max_examples=150, deadline=None)
@given(
    actors=st.lists(st.binary(min_size=1, max_size=16), min_size=2, max_size=5, unique=True),
    data=st.data(),
)
def test_concurrent_map_puts_greatest_op_id_wins(actors: list[bytes], data: Any) -> None:
    """Concurrent puts to one key: every replica shows the value of the op with the
    greatest (counter, actor bytes); the op ids are read from the changes' own bytes."""
    docs = [Doc(a) for a in actors]
    ids: list[tuple[int, bytes]] = []
    for i, doc in enumerate(docs):
        for w in range(data.draw(st.integers(0, 3), label=f"warm-up {i}")):
            doc.root[f"w{i}"] = w
        tx = doc.begin()
        doc.root["k"] = f"value of {i}"
        ch = tx.commit()
        top = msgpack.unpackb(ch.raw, raw=False)
        assert len(top[8]) == 1  # one op: its id is (start_op, actor)
        ids.append((top[3], top[1]))
    changes = [c for d in docs for c in d.get_changes()]
    winner = max(range(len(docs)), key=lambda i: ids[i])
    for doc in docs:
        doc.apply_changes(data.draw(st.permutations(changes)))
        assert doc.root["k"] == f"value of {winner}"
        assert sorted(doc.root.conflicts("k")) == sorted(f"value of {i}" for i in range(len(docs)))
        assert doc.conflicts(["k"])[ids[winner]] == f"value of {winner}"


@settings(max_examples=150, deadline=None)
@given(data=st.data(), n=st.integers(1, 8), actors=actor_lists)
def test_list_set_concurrent_with_delete_keeps_element(
    data: Any, n: int, actors: list[bytes]
) -> None:
    """A list element set on one replica and deleted concurrently on another survives,
    with the set value, at its old index (the delete removed only the value it saw)."""
    a = Doc(actors[0])
    a.root["l"] = [f"v{i}" for i in range(n)]
    b = a.fork(actor=actors[1])
    i = data.draw(st.integers(0, n - 1))
    cnt = data.draw(st.integers(1, n - i))  # b deletes a range that contains index i
    start = data.draw(st.integers(max(0, i - cnt + 1), i))
    cnt = min(cnt, n - start)
    a.root["l"][i] = "new"
    b.root["l"].delete(start, cnt)
    a.merge(b)
    b.merge(a)
    base = [f"v{j}" for j in range(n)]
    expected = [*base[:start], "new", *base[start + cnt :]] if start <= i < start + cnt else None
    assert expected is not None
    assert a.to_py()["l"] == expected
    assert b.to_py()["l"] == expected
    assert a.heads == b.heads


def _seq_edits(data: Any, doc: Doc, n: int) -> None:
    """n random edits on the text "t" and the list "l" (positions often right after the
    previous edit, where consecutive inserts and deletes merge into one run op)."""
    for _ in range(n):
        if data.draw(st.booleans(), label="text?"):
            t = doc.root["t"]
            pos = data.draw(st.integers(0, len(t)))
            dl = data.draw(st.integers(0, min(2, len(t) - pos)))
            t.splice(pos, dl, data.draw(st.text(max_size=3)))
        else:
            lst = doc.root["l"]
            if len(lst) and data.draw(st.booleans()):
                lst.delete(data.draw(st.integers(0, len(lst) - 1)))
            else:
                lst.insert(data.draw(st.integers(0, len(lst))), data.draw(st.integers(0, 9)))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), before=st.integers(1, 4), inside=st.integers(1, 4), after=st.integers(0, 3))
def test_aborted_savepoint_restores_state(data: Any, before: int, inside: int, after: int) -> None:
    """Inside an open transaction, a ``with doc.transaction()`` block that raises undoes
    exactly its own edits; the edits around it commit and replicate as made."""
    doc = Doc(b"\x01")
    doc.root.make_text("t", "abc")
    doc.root["l"] = [1, 2, 3]
    tx = doc.begin()
    _seq_edits(data, doc, before)
    snapshot = doc.to_py()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), doc.transaction():
        _seq_edits(data, doc, inside)
        raise Abort
    assert doc.to_py() == snapshot
    _seq_edits(data, doc, after)
    expected = doc.to_py()
    tx.commit()
    assert doc.to_py() == expected
    doc._check()
    replica = Doc(b"\x02")
    replica.apply_changes(doc.get_changes())
    assert replica.to_py() == expected


@pytest.mark.parametrize("rule", ["V8", "V3"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data(), n=st.integers(2, 4), rounds=st.integers(2, 6))
def test_a_change_that_breaks_causality_is_refused_everywhere(
    rule: str, data: Any, n: int, rounds: int
) -> None:
    """Rules V8 and V3: a change may name only what its causal past made, and its
    author's previous change is in that past.  Replicas edit concurrently and sync
    lossily; then a change is bent to break one of them and no other rule: to name an
    element, object or pred that a change outside its past made (:func:`break_causality`),
    or to leave its author's previous change out (:func:`skip_authors_change`).  Every
    replica refuses it: one with its deps raises ``InvalidChangeError`` (not
    ``DuplicateSeqError`` if it lacks the change bent) and stays as it was, whether it
    has the other change or not; one without them buffers it and rejects it once every
    change arrives, in any order, with duplicates.  The replicas then converge without
    it."""
    pick = DataPicker(data)
    clock = itertools.count(1_750_000_000_000).__next__  # (which commits merge: the draws')
    docs = [Doc(bytes([i + 1]) * (i + 1), clock=clock) for i in range(n)]
    for _ in range(rounds):
        for d in docs:
            for _ in range(pick.integer(1, 3)):
                edit_random(d, pick)
        a, b = data.draw(st.permutations(range(n)))[:2]
        sync_lossy(docs[a], docs[b], pick, lossy=pick.chance(0.5))
    every: dict[bytes, bytes] = {}
    for d in docs:
        every.update((change_hash_of(raw), raw) for raw in d.get_changes())
    assume(every)
    raw = pick.choice(sorted(every.values()))
    history = list(every.values())
    if rule == "V8":
        bent = break_causality(history, raw, pick)
    else:
        bent = skip_authors_change(history, raw, pick, lambda h: True)
    assume(bent is not None)
    what, bad = bent
    h = change_hash_of(bad)
    for d in docs:
        if all(d.has_change(dep) for dep in decode_change(bad).deps):
            before = (d.to_py(), d.heads, d.change_count(), d.pending, len(d.rejected))
            with pytest.raises(InvalidChangeError) as e:
                d.apply_changes([bad])
            if not d.has_change(change_hash_of(raw)):
                assert not isinstance(e.value, DuplicateSeqError), (what, e.value)
                event(f"{rule}: refused by a replica with its deps, not the change bent")
            after = (d.to_py(), d.heads, d.change_count(), d.pending, len(d.rejected))
            assert after == before, what
        else:
            d.apply_changes([bad])
            assert d.pending >= 1
            msgs = list(every.values())
            msgs += [pick.choice(msgs) for _ in range(pick.integer(0, 3))]
            d.apply_changes(pick.shuffle(msgs))
            assert [e for u, e in d.rejected if u.hash == h] != [], what
            assert d.pending == 0
            event(f"{rule}: buffered, then rejected")
        assert not d.has_change(h), what
        d._check()
    sync_until_quiescent(docs)
    assert_converged(docs, pick)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), before=st.integers(0, 3), away=st.integers(1, 3), after=st.integers(1, 3))
def test_a_replica_loaded_from_a_snapshot_converges_and_refuses_what_is_concurrent_with_its_cut(
    data: Any, before: int, away: int, after: int
) -> None:
    """SPEC.md 12.  Three replicas edit and sync lossily, then come in step; the third
    (``p``) goes away, and the other two edit on and come in step, and one of them is
    snapshotted into a fourth.  Then the two and the snapshot replica edit on and sync
    lossily, each sending a full history or what the other lacks, reordered and
    duplicated: the changes before the cut that come again are skipped, and the three
    converge.  ``p``, which edited on all along, sends its history to the snapshot
    replica in random calls: what it made since it went away is concurrent with the cut.
    Each call raises ``StaleChangeError`` and changes nothing, or applies nothing; none of
    those changes is ever applied there."""
    pick = DataPicker(data)
    clock = itertools.count(1_750_000_000_000).__next__  # (which commits merge: the draws')
    a, b = (Doc(bytes([i + 1]) * 4, clock=clock) for i in range(2))
    p = Doc(b"\x03" * 4, clock=clock, merge_interval=None)  # (a change an edit: chains)
    trio = [a, b, p]

    def rounds(docs: list[Doc], n: int, alone: Doc | None = None) -> None:
        for _ in range(n):
            for d in [*docs, *([alone] if alone else [])]:
                for _ in range(pick.integer(0, 2)):
                    edit_random(d, pick)
            x, y = data.draw(st.permutations(range(len(docs))))[:2]
            sync_lossy(docs[x], docs[y], pick, lossy=pick.chance(0.5))
        sync_until_quiescent(docs)

    rounds(trio, before)
    a.root["away"] = True  # (a change after p went away: the cut is not in p's past)
    rounds([a, b], away, alone=p)
    snap = encode_snapshot(a, tombstones=pick.chance(0.5))
    s = load_snapshot(snap, b"\x04" * 4, root=snapshot_root(snap), clock=clock)
    cut = {change_hash_of(raw) for raw in a.get_changes()}
    group = [a, b, s]
    rounds(group, after, alone=p)
    assert s.to_py() == a.to_py()
    want = (s.to_py(), s.heads)
    rival = [raw for raw in p.get_changes() if change_hash_of(raw) not in cut]
    msgs = p.get_changes() + [pick.choice(rival) for _ in range(pick.integer(0, 2)) if rival]
    msgs = pick.shuffle(msgs)
    cuts = sorted(pick.integer(0, len(msgs)) for _ in range(pick.integer(0, 8)))
    for lo, hi in zip([0, *cuts], [*cuts, len(msgs)], strict=True):
        try:
            applied = s.apply_changes(msgs[lo:hi])
        except StaleChangeError:
            event("a call that brings a stale change")
        else:
            assert applied == []
        assert (s.to_py(), s.heads) == want
    assert not any(s.has_change(change_hash_of(raw)) for raw in rival)
    event(f"changes of p concurrent with the cut: {min(len(rival), 3)}+")
    event(f"rejected after waiting: {min(len(s.rejected), 2)}+")
    s._check()
