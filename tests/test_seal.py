"""Local commits sealed lazily (crdt.doc, "sealing local commits").

A ``with doc.transaction():`` block that commits leaves its change to be sealed later; an
explicit ``commit()`` and a document with ``on_change`` listeners seal at once.  Lazily or
at once, the history must be the same, byte for byte: the tests run the same edits on two
documents of one actor, one sealing lazily and one with a listener (sealing each commit at
once), with reads of every kind in between, and compare everything their histories hold.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    lazy = Doc(ACTOR, clock=itertools.count(1).__next__)
    eager = Doc(ACTOR, clock=itertools.count(1).__next__)
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


@pytest.mark.parametrize("seal_every", [3, doc_module.SEAL_EVERY])
@settings(max_examples=150, deadline=None, derandomize=True)
@given(steps=st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 2**32)), max_size=30))
def test_lazy_sealing_makes_the_history_eager_commits_make(
    seal_every: int, steps: list[tuple[str, int]]
) -> None:
    saved = doc_module.SEAL_EVERY
    doc_module.SEAL_EVERY = seal_every
    try:
        lazy, eager, given_raws = _pair()
        peer = Doc(PEER, clock=lambda: 7)
        waited = 0
        for action, seed in steps:
            # the peer edits on its own; its changes reach both documents the same way
            with peer.transaction():
                edit_random(peer, RandomPicker(random.Random(seed + 1)))
            peer_changes = peer.get_changes()
            assert _step(lazy, action, seed, peer_changes) == _step(
                eager, action, seed, peer_changes
            )
            assert not eager._unsealed
            assert len(lazy._unsealed) < seal_every  # never more than SEAL_EVERY wait
            waited = max(waited, len(lazy._unsealed))
            assert lazy.to_py() == eager.to_py()  # (reading the state seals nothing)
        _same(lazy, eager)
        assert not lazy._unsealed
        assert lazy.get_changes() == eager.get_changes()
        # the listener was given every local change, in the history's order
        mine = {bytes.fromhex(ACTOR), bytes.fromhex(ACTOR2)}
        assert [c for c in lazy.get_changes() if change_header(c)[0] in mine] == given_raws
        if any(a in ("edit", "keystrokes") for a, _ in steps) and seal_every > 3:
            assert waited  # the lazy document did leave commits to seal
    finally:
        doc_module.SEAL_EVERY = saved


def test_commits_wait_until_the_history_is_read() -> None:
    d = Doc(ACTOR, clock=lambda: 5)
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
    d = Doc(ACTOR, clock=lambda: 5)
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
    d = Doc(ACTOR, clock=lambda: 5)
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
    d = Doc(ACTOR, clock=lambda: 5)
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
    d = Doc(ACTOR, clock=lambda: 5)
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
    d = Doc(ACTOR, clock=lambda: 5)
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
    d = Doc(ACTOR, clock=lambda: 5)
    tx = d.begin()
    d.root["a"] = 1
    d.actor = bytes.fromhex(ACTOR2)
    c = tx.commit()
    assert c is not None
    assert c.actor == bytes.fromhex(ACTOR)
    assert Doc.load(d.save(), verify=True).to_py() == {"a": 1}
