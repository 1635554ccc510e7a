"""Local commits sealed lazily (crdt.doc, "sealing local commits").

A ``with doc.transaction():`` block that commits leaves its change to be sealed later; an
explicit ``commit()`` and a document with ``on_change`` listeners seal at once.  With
merging off (``merge_interval=None``), lazily or at once, the history must be the same,
byte for byte: the first tests run the same edits on two documents of one actor, one
sealing lazily and one with a listener (sealing each commit at once), with reads of every
kind in between, and compare everything their histories hold.  With merging on (the
default), the tests from "commits that merge" on check that every change is a run of the
commits the other document sealed one by one, holding what they did, and when runs end.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.traces import all_patches, load_trace, resolve_trace
from crdt import Counter, Doc, UsageError
from crdt import doc as doc_module

try:
    from tests.helpers import RandomPicker, change_header, edit_random, history_state
except ImportError:  # run from tests/
    from helpers import (  # type: ignore[no-redef]
        RandomPicker,
        change_header,
        edit_random,
        history_state,
    )

ACTOR = "ab" * 16
ACTOR2 = "ef" * 16  # the same documents' actor after a switch
PEER = "cd" * 16


def _pair() -> tuple[Doc, Doc, list[bytes]]:
    """Two documents of one actor, each with its own clock counting 1, 2, ... (so their
    changes have the same times); the second seals each commit at once for a listener,
    which collects the changes it is given."""
    lazy = Doc(ACTOR, clock=itertools.count(1).__next__, merge_interval=None)
    eager = Doc(ACTOR, clock=itertools.count(1).__next__, merge_interval=None)
    given_raws: list[bytes] = []
    eager.on_change(lambda cs, origin: given_raws.extend(c.raw for c in cs if origin == "local"))
    return lazy, eager, given_raws


def _same(lazy: Doc, eager: Doc) -> None:
    assert lazy.to_py() == eager.to_py()
    assert history_state(lazy._history) == history_state(eager._history)
    assert lazy._max_op == eager._max_op


class _Boom(Exception):
    pass


def _failed_block(d: Doc, pick: RandomPicker) -> None:
    """A ``with d.transaction():`` block (nested, if one is open) that edits, then raises."""
    try:
        with d.transaction():
            edit_random(d, pick)
            raise _Boom
    except _Boom:
        pass


def _step(d: Doc, action: str, seed: int, peer_changes: list[bytes]) -> Any:
    """Do ``action`` on ``d`` with choices drawn from ``seed``; returns what it read."""
    pick = RandomPicker(random.Random(seed))
    if action == "edit":
        with d.transaction():
            for _ in range(pick.integer(1, 3)):
                edit_random(d, pick)
        return None
    if action == "keystrokes":  # many small commits: the chain the seal records at once
        for _ in range(pick.integer(1, 40)):
            with d.transaction():
                edit_random(d, pick)
        return None
    if action == "commit":  # an explicit commit seals at once and returns its change
        tx = d.begin(message=pick.text(3))
        edit_random(d, pick)
        c = tx.commit()
        return None if c is None else (c.raw, c.hash, c.deps, c.seq)
    if action == "rollback":  # a failed block rebuilds the state from the history
        _failed_block(d, pick)
        return None
    if action == "savepoint":  # a failed inner block: a rebuild with the outer ops
        with d.transaction():
            edit_random(d, pick)
            _failed_block(d, pick)
        return None
    if action == "remote":  # a peer's changes: the next local change has two deps
        return [c.hash for c in d.apply_changes(peer_changes)]
    if action == "switch":  # the document's actor changes between transactions
        d.actor = bytes.fromhex(pick.choice([ACTOR, ACTOR2]))
        return None
    if action == "heads":
        return d.heads
    if action == "changes":
        return d.get_changes()
    if action == "save":
        return Doc.load(d.save()).to_py(), Doc.load(d.save(), verify=True).heads
    if action == "fork":
        f = d.fork(actor=PEER)
        return f.heads, f.change_count()
    raise AssertionError(action)


ACTIONS = ["edit", "edit", "keystrokes", "commit", "rollback", "savepoint", "remote"]
ACTIONS += ["heads", "changes", "save", "fork", "switch", "switch"]


@contextlib.contextmanager
def _sealing_every(n: int) -> Iterator[None]:
    """SEAL_EVERY set to ``n`` for the block."""
    saved = doc_module.SEAL_EVERY
    doc_module.SEAL_EVERY = n
    try:
        yield
    finally:
        doc_module.SEAL_EVERY = saved


def _action_steps(test: Any) -> Any:
    """Run ``test(seal_every, steps)`` on up to 30 (action, seed) steps hypothesis draws."""
    steps = st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 2**32)), max_size=30)
    return settings(max_examples=150, deadline=None, derandomize=True)(given(steps=steps)(test))


def _peer_edits(peer: Doc, seed: int) -> list[bytes]:
    """The peer edits on its own (choices from ``seed``); returns all its changes."""
    with peer.transaction():
        edit_random(peer, RandomPicker(random.Random(seed + 1)))
    return peer.get_changes()


@pytest.mark.parametrize("seal_every", [3, doc_module.SEAL_EVERY])
@_action_steps
def test_lazy_sealing_makes_the_history_eager_commits_make(
    seal_every: int, steps: list[tuple[str, int]]
) -> None:
    with _sealing_every(seal_every):
        lazy, eager, given_raws = _pair()
        peer = Doc(PEER, clock=lambda: 7)
        for action, seed in steps:
            # the peer edits on its own; its changes reach both documents the same way
            peer_changes = _peer_edits(peer, seed)
            made = lazy._max_op
            assert _step(lazy, action, seed, peer_changes) == _step(
                eager, action, seed, peer_changes
            )
            assert not eager._unsealed
            assert len(lazy._unsealed) < seal_every  # never more than SEAL_EVERY wait
            if action in ("edit", "keystrokes") and lazy._max_op > made and seal_every > 3:
                assert lazy._unsealed  # the lazy document did leave its commits to seal
            assert lazy.to_py() == eager.to_py()  # (reading the state seals nothing)
        _same(lazy, eager)
        assert not lazy._unsealed
        assert lazy.get_changes() == eager.get_changes()
        # the listener was given every local change, in the history's order
        mine = {bytes.fromhex(ACTOR), bytes.fromhex(ACTOR2)}
        assert [c for c in lazy.get_changes() if change_header(c)[0] in mine] == given_raws


def test_commits_wait_until_the_history_is_read() -> None:
    d = Doc(ACTOR, clock=lambda: 5, merge_interval=None)
    t = d.root.make_text("t")
    d.heads  # noqa: B018  (seals it)
    base = len(d._hist)
    for ch in "hello":
        with d.transaction():
            t.insert(len(t), ch)
    assert str(t) == "hello"  # the state has every edit at once
    assert len(d._unsealed) == 5
    assert len(d._hist) == base  # nothing recorded yet
    heads = d.heads  # reading the history seals them
    assert not d._unsealed
    assert len(d._hist) == base + 5
    assert heads == [d._hist.hash_at(base + 4)]
    # the five changes: each on the one before, seq 2..6, one insert each
    cs = [d.get_change(d._hist.hash_at(base + k)) for k in range(5)]
    from crdt.change import decode_change

    dec = [decode_change(raw) for raw in cs]
    assert [u.seq for u in dec] == [2, 3, 4, 5, 6]
    assert [u.deps for u in dec[1:]] == [(u.hash,) for u in dec[:-1]]
    assert [u.ops[0][3] for u in dec] == list("hello")


def test_at_most_seal_every_commits_wait() -> None:
    d = Doc(ACTOR, clock=lambda: 5, merge_interval=None)
    t = d.root.make_text("t")
    d.heads  # noqa: B018  (seals it)
    n = 2 * doc_module.SEAL_EVERY + 5
    for k in range(n):
        with d.transaction():
            t.insert(k, "x")
    assert len(d._unsealed) == 5
    assert len(d._hist) == 1 + 2 * doc_module.SEAL_EVERY
    assert d.change_count() == 1 + n


def test_a_listener_added_later_gets_only_later_commits_on_the_earlier_ones() -> None:
    d = Doc(ACTOR, clock=lambda: 5, merge_interval=None)
    for k in range(3):
        with d.transaction():
            d.root[f"k{k}"] = k
    got: list[Any] = []
    d.on_change(lambda cs, origin: got.extend(cs))
    with d.transaction():
        d.root["last"] = 1
    assert len(got) == 1  # owed at once, and only its own change
    assert got[0].seq == 4
    assert d.change_count() == 4
    third = d._hist.hash_at(2)
    assert got[0].deps == (third,)


def test_rollback_after_waiting_commits_keeps_them() -> None:
    d = Doc(ACTOR, clock=lambda: 5, merge_interval=None)
    with d.transaction():
        d.root["a"] = 1
    with d.transaction():
        d.root["b"] = 2
    with pytest.raises(_Boom), d.transaction():
        d.root["c"] = 3
        raise _Boom
    assert d.to_py() == {"a": 1, "b": 2}
    assert d.change_count() == 2
    loaded = Doc.load(d.save(), verify=True)
    assert loaded.to_py() == {"a": 1, "b": 2}


def test_the_wall_clock_times_a_change_and_one_before_1970_rolls_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import crdt.transaction as tx_module
    from crdt.change import decode_change

    d = Doc(ACTOR)  # (no clock of its own: the wall clock, in ms)
    monkeypatch.setattr(tx_module._time, "time", lambda: 1234.5678)
    with d.transaction():
        d.root["a"] = 1
    assert decode_change(d.get_changes()[-1]).time == 1234567
    heads = d.heads
    monkeypatch.setattr(tx_module._time, "time", lambda: -5.0)
    with pytest.raises(UsageError, match="clock gave"), d.transaction():
        d.root["b"] = 2
    assert d.to_py() == {"a": 1} and d.heads == heads and d._tx is None


@pytest.mark.parametrize("bad", [-1, 1.5, "now", None, 2**63])
def test_a_clock_giving_no_valid_time_rolls_the_transaction_back(bad: Any) -> None:
    times = iter([5, bad, 6])
    d = Doc(ACTOR, clock=lambda: next(times))
    with d.transaction():
        d.root["a"] = 1
    heads = d.heads
    for commit_explicitly in (False, True):
        if commit_explicitly:
            times = iter([bad, 6])
            tx = d.begin()
            d.root["b"] = 2
            with pytest.raises(UsageError, match="clock gave"):
                tx.commit()
        else:
            with pytest.raises(UsageError, match="clock gave"), d.transaction():
                d.root["b"] = 2
        assert d.to_py() == {"a": 1}
        assert d.heads == heads
        assert d._tx is None
    with d.transaction():  # the document goes on
        d.root["b"] = 2
    assert d.to_py() == {"a": 1, "b": 2}
    assert Doc.load(d.save(), verify=True).to_py() == {"a": 1, "b": 2}


@pytest.mark.parametrize(("kw", "match"), [({"message": 3}, "message"), ({"time": -5}, "time")])
def test_bad_message_or_time_is_refused_when_the_transaction_opens(
    kw: dict[str, Any], match: str
) -> None:
    d = Doc(ACTOR)
    message = kw.get("message")
    time = kw.get("time")
    with pytest.raises(UsageError, match=match):
        d.transaction(message, time=time)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=match):
        d.begin(message, time=time)  # type: ignore[arg-type]
    assert d._tx is None
    assert d.change_count() == 0


def test_a_counter_put_is_a_copy_of_the_callers() -> None:
    """A change may be encoded after its transaction ends: nothing the caller keeps may
    reach into it."""
    d = Doc(ACTOR, clock=lambda: 5, merge_interval=None)
    c = Counter(5)
    with d.transaction():
        d.root["c"] = c
        d.root["l"] = [c]
    c.value = 99
    assert d.root["c"] == Counter(5)
    assert d.root["l"][0] == Counter(5)
    loaded = Doc.load(d.save(), verify=True)
    assert loaded.root["c"] == Counter(5)
    assert loaded.root["l"][0] == Counter(5)


def test_commits_by_two_actors_in_turn_are_sealed_each_by_its_own() -> None:
    d = Doc(ACTOR, clock=lambda: 5, merge_interval=None)
    for k in range(6):
        d.actor = bytes.fromhex(ACTOR if k % 3 else ACTOR2)
        with d.transaction():
            d.root[f"k{k}"] = k
    assert len(d._unsealed) == 2  # (sealed at each switch: the waiting ones are a chain)
    headers = [change_header(raw) for raw in d.get_changes()]
    a, b = bytes.fromhex(ACTOR), bytes.fromhex(ACTOR2)
    assert [(x, seq) for x, seq, _ in headers] == [(b, 1), (a, 1), (a, 2), (b, 2), (a, 3), (a, 4)]
    loaded = Doc.load(d.save(), verify=True)
    assert loaded.to_py() == {f"k{k}": k for k in range(6)}


def test_an_explicit_commit_is_by_the_actor_its_transaction_began_with() -> None:
    d = Doc(ACTOR, clock=lambda: 5, merge_interval=None)
    tx = d.begin()
    d.root["a"] = 1
    d.actor = bytes.fromhex(ACTOR2)
    c = tx.commit()
    assert c is not None
    assert c.actor == bytes.fromhex(ACTOR)
    assert Doc.load(d.save(), verify=True).to_py() == {"a": 1}


# ---------------------------------------------------------------- commits that merge
#
# A document that merges (the default) against one that does not and seals each commit
# for a listener: the same actions, the same state at every step, and a history whose
# every change is a run of the other's changes, holding their elements and counters.


def _units(start_op: int, actor: bytes, ops: list[Any]) -> list[Any]:
    """What ``ops`` do, an element or counter at a time: every inserted element with its
    id, reference and value; every other op at its counter; and each run of deleted
    elements as a sorted block (a REM's counters are not named by anything: SPEC.md 5.6,
    so only which elements it deletes, and how many counters it takes, are its meaning)."""
    from crdt.op import INS, REM, op_size

    out: list[Any] = []
    rem: list[Any] = []
    ctr = start_op
    for op in ops:
        if op[0] == REM:
            (c, a), n = op[2], op[3]
            rem.extend(("rem", op[1], c + k, a) for k in range(n))
        else:
            if rem:
                out.append(sorted(rem))
                rem = []
            if op[0] == INS:
                ref = op[2]
                for k, v in enumerate(op[3]):
                    out.append(("ins", op[1], ctr + k, ref, v))
                    ref = (ctr + k, actor)
            else:
                out.append(("op", ctr, op))
        ctr += op_size(op)
    if rem:
        out.append(sorted(rem))
    return out


def _merge_units(blocks: list[list[Any]]) -> list[Any]:
    """Concatenate units of changes in a row; deletions meeting at a seam are one run."""
    out: list[Any] = []
    for b in blocks:
        if out and b and isinstance(out[-1], list) and isinstance(b[0], list):
            out[-1] = sorted(out[-1] + b[0])
            b = b[1:]
        out.extend(b)
    return out


def _assert_runs_of(merged: Doc, single: Doc) -> None:
    """Every change of ``merged`` is a run of consecutive changes of ``single`` by one
    actor (the same bytes where the run is one change, as from a peer), holding what
    they did, on the deps of the run's first, at the time of its last."""
    from crdt.change import decode_change

    m = [decode_change(r) for r in merged.get_changes()]
    s = [decode_change(r) for r in single.get_changes()]
    by_actor: dict[bytes, list[Any]] = {}
    for c in s:
        by_actor.setdefault(c.actor, []).append(c)
    cover: dict[bytes, bytes] = {}  # hash of a change of single -> the merged one holding it
    last_of_run: set[bytes] = set()
    first_of: dict[bytes, Any] = {}  # hash of a merged change -> the first of its run
    for c in m:
        run = [e for e in by_actor[c.actor] if c.start_op <= e.start_op < c.start_op + c.n_ops]
        assert run and run[0].start_op == c.start_op
        assert sum(e.n_ops for e in run) == c.n_ops  # (no commit left out, none twice)
        if len(run) == 1:
            assert c.raw == run[0].raw or c.deps != run[0].deps
        else:
            assert all(e.message is None for e in run)
            # (within the interval of the run's first commit, the clock never going back)
            t0 = run[0].time
            assert all(t0 <= e.time <= t0 + doc_module.MERGE_INTERVAL for e in run)
        assert c.message == run[0].message and c.time == run[-1].time
        assert _units(c.start_op, c.actor, c.ops) == _merge_units(
            [_units(e.start_op, e.actor, e.ops) for e in run]
        )
        for e in run:
            cover[e.hash] = c.hash
        last_of_run.add(run[-1].hash)
        first_of[c.hash] = run[0]
    assert len(cover) == len(s)
    for c in m:
        first = first_of[c.hash]
        assert all(d in last_of_run for d in first.deps)  # a dep is the end of a run
        assert sorted(c.deps) == sorted(cover[d] for d in first.deps)


def _jumpy_clock(seed: int) -> Any:
    """A clock that mostly ticks, sometimes jumps past the merge interval, and now and then
    goes back: the same times from the same seed."""
    rng = random.Random(seed)
    now = [10**6]

    def clock() -> int:
        now[0] = max(0, now[0] + rng.choice([0, 1, 7, 30_000, 60_000, 60_001, 200_000, -5]))
        return now[0]

    return clock


@pytest.mark.parametrize("seal_every", [3, doc_module.SEAL_EVERY])
@pytest.mark.parametrize("clock", ["steady", "jumpy"])
@_action_steps
def test_merged_commits_hold_what_each_commit_did(
    clock: str, seal_every: int, steps: list[tuple[str, int]]
) -> None:
    with _sealing_every(seal_every):
        merged = Doc(ACTOR, clock=itertools.count(1).__next__)
        single = _pair()[1]  # (merging none: merge_interval=None, and a listener)
        if clock == "jumpy":  # (both read the clock once per commit: the same times)
            merged._clock = _jumpy_clock(len(steps))
            single._clock = _jumpy_clock(len(steps))
        peer = Doc(PEER, clock=lambda: 7)
        for action, seed in steps:
            peer_changes = _peer_edits(peer, seed)
            got = _step(merged, action, seed, peer_changes)
            want = _step(single, action, seed, peer_changes)
            if action == "save":
                assert got[0] == want[0]  # (the state; the heads name merged changes)
            elif action in ("heads", "commit", "remote", "changes", "fork"):
                # (what they read names changes; one merged many of the other's)
                assert (got is None) == (want is None)
            else:
                assert got == want
            assert merged.to_py() == single.to_py()
            assert len(merged._unsealed) < seal_every
        _assert_runs_of(merged, single)
        assert merged.change_count() <= single.change_count()
        # a peer given the merged history verifies it and reaches the same state
        assert Doc.load(merged.save(), verify=True).to_py() == single.to_py()
        replica = Doc(PEER)
        replica.apply_changes(merged.get_changes())
        assert replica.to_py() == single.to_py()


def _typed(d: Doc, text: str, at: int = 0) -> None:
    t = d.root["t"]
    for k, ch in enumerate(text):
        with d.transaction():
            t.insert(at + k, ch)


def _text_doc(**kw: Any) -> Doc:
    d = Doc(ACTOR, **kw)
    d.root.make_text("t")
    d.heads  # noqa: B018  (sealed: what follows starts a change)
    return d


def test_keystrokes_merge_into_the_change_one_transaction_makes() -> None:
    d = _text_doc(clock=iter([16, 11, 12, 13, 14, 15, 16]).__next__)
    _typed(d, "hello")
    with d.transaction():
        d.root["t"].delete(4)  # a backspace
    one = _text_doc(clock=lambda: 16)  # (the time of the last commit above)
    with one.transaction():
        for k, ch in enumerate("hello"):
            one.root["t"].insert(k, ch)
        one.root["t"].delete(4)
    assert d.change_count() == 2
    assert d.get_changes() == one.get_changes()  # the same bytes: the same change
    assert str(d.root["t"]) == "hell"


def test_a_read_between_commits_ends_the_change() -> None:
    d = _text_doc(clock=lambda: 5)
    _typed(d, "ab")
    heads = d.heads  # someone may name this change now: it is final
    _typed(d, "cd", 2)
    assert d.change_count() == 3
    from crdt.change import decode_change

    last = decode_change(d.get_changes()[-1])
    assert last.deps == tuple(heads) and last.ops[0][3] == "cd"


def test_a_commit_with_a_message_is_a_change_of_its_own() -> None:
    d = _text_doc(clock=lambda: 5)
    _typed(d, "ab")
    with d.transaction("named"):
        d.root["t"].insert(2, "c")
    _typed(d, "de", 3)  # (does not merge into the named one either)
    from crdt.change import decode_change

    cs = [decode_change(r) for r in d.get_changes()[1:]]
    assert [(c.message, c.ops[0][3]) for c in cs] == [(None, "ab"), ("named", "c"), (None, "de")]
    assert str(d.root["t"]) == "abcde"


def test_a_commit_with_a_fixed_time_is_a_change_of_its_own() -> None:
    from crdt.change import decode_change

    d = _text_doc(clock=lambda: 5)
    _typed(d, "ab")
    with d.transaction(time=5):  # (the caller's time for this change, even the same one)
        d.root["t"].insert(2, "c")
    _typed(d, "de", 3)
    cs = [decode_change(r) for r in d.get_changes()[1:]]
    assert [c.ops[0][3] for c in cs] == ["ab", "c", "de"]


def test_commits_merge_within_the_interval_of_the_first() -> None:
    from crdt.change import decode_change

    times = iter([0, 1000, 1500, 61_000, 61_001, 62_000, 200_000, 199_999])  # (0: the text)
    d = _text_doc(clock=lambda: next(times))
    assert d.merge_interval == doc_module.MERGE_INTERVAL == 60_000
    _typed(d, "abcdefg")
    cs = [decode_change(r) for r in d.get_changes()[1:]]
    # 1000..61000 is within 60 s of 1000; 61001 is not; a clock that goes back starts anew
    want = [(61_000, "abc"), (62_000, "de"), (200_000, "f"), (199_999, "g")]
    assert [(c.time, c.ops[0][3]) for c in cs] == want


@pytest.mark.parametrize("how", ["constructor", "setter"])
def test_merging_can_be_turned_off(how: str) -> None:
    if how == "constructor":
        d = _text_doc(clock=lambda: 5, merge_interval=None)
    else:
        d = _text_doc(clock=lambda: 5)
        d.merge_interval = None
    _typed(d, "abc")
    assert d.change_count() == 4
    assert d.fork(PEER).merge_interval is None  # (a fork edits as its origin does)
    d.merge_interval = 0  # only commits of the same ms
    _typed(d, "de", 3)
    assert d.change_count() == 5


@pytest.mark.parametrize("how", ["load", "load_verified", "load_snapshot"])
def test_a_loaded_document_takes_a_merge_interval(how: str) -> None:
    """Not saved (it is how this replica edits): a load takes it as the constructor does."""
    from crdt.snapshot import encode_snapshot, load_snapshot

    src = _text_doc(clock=lambda: 5)
    _typed(src, "ab")

    def load(**kw: Any) -> Doc:
        if how == "load_snapshot":
            return load_snapshot(encode_snapshot(src), PEER, clock=lambda: 5, **kw)
        return Doc.load(src.save(), PEER, clock=lambda: 5, verify=how == "load_verified", **kw)

    assert load().merge_interval == doc_module.MERGE_INTERVAL
    d = load(merge_interval=None)
    assert d.merge_interval is None
    n = d.change_count()
    _typed(d, "cd", 2)
    assert d.change_count() == n + 2  # a change per commit
    for bad in [-1, "60"]:
        with pytest.raises(UsageError, match="merge_interval"):
            load(merge_interval=bad)


@pytest.mark.parametrize("bad", [-1, 1.5, "60", True])
def test_a_bad_merge_interval_is_refused(bad: Any) -> None:
    with pytest.raises(UsageError, match="merge_interval"):
        Doc(ACTOR, merge_interval=bad)
    d = Doc(ACTOR)
    with pytest.raises(UsageError, match="merge_interval"):
        d.merge_interval = bad
    assert d.merge_interval == doc_module.MERGE_INTERVAL


def test_a_listener_is_owed_every_commit_so_none_merge() -> None:
    d = _text_doc(clock=lambda: 5)
    got: list[Any] = []
    d.on_change(lambda cs, origin: got.extend(cs))
    _typed(d, "abc")
    assert [c.ops[0][3] for c in got] == ["a", "b", "c"]
    assert d.change_count() == 4


def test_a_failed_block_leaves_the_merged_commits_whole() -> None:
    d = _text_doc(clock=lambda: 5)
    _typed(d, "abc")
    with pytest.raises(_Boom), d.transaction():
        d.root["t"].insert(3, "X")  # (would have merged into "abc")
        raise _Boom
    _typed(d, "d", 3)
    from crdt.change import decode_change

    cs = [decode_change(r) for r in d.get_changes()[1:]]
    assert [c.ops[0][3] for c in cs] == ["abc", "d"]  # (the rollback read the history)
    assert Doc.load(d.save(), verify=True).to_py() == {"t": "abcd"}


def test_an_actor_switch_seals_and_each_actor_merges_its_own() -> None:
    d = _text_doc(clock=lambda: 5)
    _typed(d, "ab")
    d.actor = bytes.fromhex(ACTOR2)
    _typed(d, "cd", 2)
    headers = [change_header(r) for r in d.get_changes()]
    a, b = bytes.fromhex(ACTOR), bytes.fromhex(ACTOR2)
    assert [(x, seq) for x, seq, _ in headers] == [(a, 1), (a, 2), (b, 1)]


def _trace(name: str) -> Any:
    """A sequential editing trace, found as the benchmark finds it (``$CRDT_TRACES``)."""
    return load_trace(resolve_trace(name))


@pytest.mark.parametrize("trace", ["sveltecomponent", "rustcode"])
def test_a_trace_typed_a_commit_per_patch_is_the_trace_typed_in_one(trace: str) -> None:
    """Real typing, merged: the elements, ids and counters one transaction gives them."""
    from crdt.change import decode_change

    data = _trace(trace)
    patches = list(all_patches(data["txns"]))
    docs = []
    for per_patch in (True, False):
        d = _text_doc(clock=lambda: 5)
        obj = d.root["t"].id
        if per_patch:
            for pos, dl, ins in patches:
                with d.transaction() as tx:
                    tx.splice(obj, pos, dl, ins)
        else:
            with d.transaction() as tx:
                for pos, dl, ins in patches:
                    tx.splice(obj, pos, dl, ins)
        assert str(d.root["t"]) == data["endContent"]
        docs.append(d)
    merged, one = (decode_change(d.get_changes()[-1]) for d in docs)
    assert docs[0].change_count() == 2
    assert (merged.start_op, merged.deps, merged.n_ops) == (one.start_op, one.deps, one.n_ops)
    assert _units(merged.start_op, merged.actor, merged.ops) == _units(
        one.start_op, one.actor, one.ops
    )
    assert len(merged.ops) <= len(one.ops)


def _split_op(op: Any, k: int, ctr: int, actor: bytes) -> tuple[Any, Any]:
    """An INS or REM taking counters from ``ctr``, cut after its ``k``-th element: the two
    ops two commits would have made (the second INS names the first's last element)."""
    from crdt.op import INS

    if op[0] == INS:
        return (INS, op[1], op[2], op[3][:k]), (INS, op[1], (ctr + k - 1, actor), op[3][k:])
    (c, a), n = op[2], op[3]
    return (op[0], op[1], (c, a), k), (op[0], op[1], (c + k, a), n - k)


def test_join_ops_is_the_transactions_run_merging() -> None:
    """The law, as diamond-types tests its spans: a transaction's ops cut at any op rejoin
    unchanged (join_ops merges nothing the transaction's rule keeps apart; the few seams
    where that rule joins two REMs the transaction left apart merge into the same
    deletions), and an INS or REM cut at any element rejoins into itself (it merges what
    typing or deleting on would)."""
    from crdt.change import decode_change
    from crdt.op import INS, REM, join_ops, op_size

    d = _text_doc(clock=lambda: 5)
    obj = d.root["t"].id
    with d.transaction() as tx:
        for pos, dl, ins in all_patches(_trace("sveltecomponent")["txns"]):
            tx.splice(obj, pos, dl, ins)
    c = decode_change(d.get_changes()[-1])
    ops, actor = list(c.ops), c.actor
    starts = [c.start_op]
    for op in ops:
        starts.append(starts[-1] + op_size(op))

    def joinable(k: int) -> bool:
        out = [ops[k - 1]]
        join_ops(out, [ops[k]], starts[k], actor)
        return len(out) == 1

    # (a transaction merges a deletion's groups one at a time, so where they came out of id
    # order two of its REMs can end up adjacent: those seams merge; see "sealing local
    # commits" in crdt.doc)
    seams = [k for k in range(1, len(ops)) if joinable(k)]
    assert 0 < len(seams) < len(ops) // 100
    assert all(ops[k][0] == ops[k - 1][0] == REM for k in seams)
    rng = random.Random(5)
    for k in {0, 1, len(ops) - 1, len(ops), *rng.sample(range(len(ops)), 300), *seams}:
        out = ops[:k]
        join_ops(out, ops[k:], starts[k], actor)
        if k in seams:  # ops[k - 1 : k + m] became out[k - 1], the same deletions
            m = len(ops) - len(out)
            assert m >= 1 and out[: k - 1] == ops[: k - 1] and out[k:] == ops[k + m :]
            u = _units(starts[k - 1], actor, out[k - 1 : k])
            assert u == _units(starts[k - 1], actor, ops[k - 1 : k + m])
        else:
            assert out == ops
    cut = 0
    for i, op in enumerate(ops):
        if op[0] not in (INS, REM) or op_size(op) < 2:
            continue
        for k in range(1, op_size(op)):
            first, second = _split_op(op, k, starts[i], actor)
            out = [first]
            join_ops(out, [second], starts[i] + k, actor)
            assert out == [op]
            cut += 1
    assert cut > 1000  # (the trace has runs to cut)
