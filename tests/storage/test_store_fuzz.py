"""A seeded fuzzer of a document kept in a :class:`Store`, fed by peers.

One document lives in a store (``PersistentDoc``); two plain documents are its peers.
Random steps: local edits on each, deliveries from a peer to the store's document (its
whole history or what it made lately, shuffled, with duplicates, some changes dropped),
now and then with one change corrupted (as the Doc fuzzer corrupts them, naming what a
change outside its causal past made or leaving out its author's previous change too), new
epochs (a cut that makes every change concurrent with it stale), and the store closed and
opened again.  Checked all along:

- a delivery with a change that does not decode raises and changes nothing: the
  document, the store's heads and rejected records, the changes waiting for deps;
- a corrupted change that decodes is never applied: the call raises and changes
  nothing, or the change ends rejected or waiting;
- opened again, the store rebuilds the document it held: value, heads, rejected records;
- the store's document equals a plain document that applied every change it accepted
  (``mirror``, from which the peers learn the store's changes);
- at the end, after every peer's history is delivered, every change of every peer is in
  the store's document or rejected (stale, invalid, or on a rejected change), every
  corrupted change a call took is rejected or was skipped (in the cut by its seq), unless
  it was waiting when the store closed, and none waits.

``fuzz_once(seed, path)`` is deterministic (the documents' clock is a counter, so which
commits merge and every change's time follow from the seed): a failing seed is a bug
report.  ``make fuzz-store`` (``STORE_FUZZ_FOREVER=1 pytest -m slow
tests/storage/test_store_fuzz.py``) loops over seeds (``FUZZ_SECONDS``, ``FUZZ_SEED``).
"""

from __future__ import annotations

import itertools
import os
import random
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

from crdt import CrdtError, DecodeError, Doc, decode_change
from crdt.storage import PersistentDoc, Store

try:
    from tests.helpers import (
        RandomPicker,
        break_causality,
        change_hash_of,
        corrupt_change,
        edit_random,
        fuzz_seeds,
        skip_authors_change,
    )
except ImportError:  # pragma: no cover
    from helpers import (  # type: ignore[no-redef]
        RandomPicker,
        break_causality,
        change_hash_of,
        corrupt_change,
        edit_random,
        fuzz_seeds,
        skip_authors_change,
    )

ACTOR = b"\xa0" * 8


def fuzz_once(seed: int, path: str, steps: int = 120, verbose: bool = False) -> None:
    """Run ``steps`` random steps on a store at ``path`` (a directory that does not exist
    yet) and check the rules above."""
    rng = random.Random(seed)
    pick = RandomPicker(rng)
    st = Store.open(path, "never")
    mirror = Doc(b"\xfe" * 8)  # every change the store's document accepted, in memory
    clock = itertools.count(1_750_000_000_000).__next__  # (the documents' own: see above)
    pd = _open(st, mirror, clock)
    peers = [Doc(b"\xb0" * 8, clock=clock), Doc(b"\xc0" * 8, clock=clock)]
    taken: set[bytes] = set()  # corrupted changes calls took without failing

    def log(msg: str) -> None:
        if verbose:
            print(msg)

    try:
        for step in range(steps):
            x = rng.random()
            if x < 0.25:
                log(f"{step} store: {edit_random(pd.doc, pick)}")
            elif x < 0.45:
                p = rng.randrange(2)
                log(f"{step} peer {p}: {edit_random(peers[p], pick)}")
            elif x < 0.65:
                p = rng.randrange(2)
                log(f"{step} peer {p} learns the store's changes (and the other peer's)")
                peers[p].apply_changes(mirror.get_changes(peers[p].heads))
                peers[p].apply_changes(peers[1 - p].get_changes(peers[p].heads))
            elif x < 0.87:
                p = rng.randrange(2)
                what = _deliver(peers[p], pd, st, mirror, pick, rng, taken)
                log(f"{step} peer {p}: {what}")
            elif x < 0.9:
                log(f"{step} new epoch")
                taken -= {r.hash for r in st.rejected}  # (an epoch's records start empty)
                st.create_epoch(pd)
            else:
                log(f"{step} close and open")
                # (what waits is forgotten, the peer sends it again; what was in the cut by
                # its seq was skipped, as a duplicate is: SPEC.md 13.8 rule 1)
                taken -= set(pd._waiting) | pd._before_cut
                st, pd = _reopen(st, pd, path, mirror, clock)
            if step % 10 == 0:
                pd.doc._check()
                assert pd.doc.to_py() == mirror.to_py()
        for _ in range(3):  # (a change waiting for a stale one is settled next round)
            for peer in peers:
                pd.apply_changes(peer.get_changes(), on_stale="record")
        assert pd.waiting == 0, pd.missing_deps()
        rejected = {r.hash for r in st.rejected}
        for peer in peers:
            for raw in peer.get_changes():
                h = change_hash_of(raw)
                assert mirror.has_change(h) or h in rejected, "a peer's change was lost"
        lost = taken - rejected - pd._before_cut
        assert not lost, f"corrupted changes taken, neither rejected nor skipped: {lost!r}"
        assert pd.doc.to_py() == mirror.to_py()
        st, pd = _reopen(st, pd, path, mirror, clock)
    finally:
        st.close()


def _open(st: Store, mirror: Doc, clock: Callable[[], int]) -> PersistentDoc:
    """The store's document, whose every accepted change ``mirror`` applies too."""
    pd = st.open_doc(actor=ACTOR, clock=clock)
    pd.doc.on_change(lambda changes, origin: mirror.apply_changes([c.raw for c in changes]))
    return pd


def _seen(st: Store, pd: PersistentDoc) -> tuple[Any, ...]:
    """Everything a failed call must leave as it was."""
    doc = pd.doc
    rejected = [r.hash for r in st.rejected]
    return doc.to_py(), doc.heads, pd.waiting, pd.missing_deps(), rejected, st.heads


def _deliver(
    peer: Doc,
    pd: PersistentDoc,
    st: Store,
    mirror: Doc,
    pick: RandomPicker,
    rng: random.Random,
    taken: set[bytes],
) -> str:
    """Deliver ``peer``'s history, or its last few changes, to the store's document:
    shuffled, with duplicates, some dropped; a fifth of the time one of them corrupted,
    and if it still decodes, sent ahead of the others, alone, 4 times in 10 (it waits for
    its deps, and is judged, invalid, when a later call completes it).  A corrupted change
    a call took without failing goes into ``taken``.  Returns what it did."""
    changes = peer.get_changes()
    if changes and rng.random() < 0.5:
        changes = changes[-rng.randint(1, min(5, len(changes))) :]
    msgs = [c for c in changes if rng.random() < 0.9]  # (lost on the way: sent again later)
    msgs += [pick.choice(changes) for _ in range(rng.randint(0, 2))] if changes else []
    rng.shuffle(msgs)
    if not msgs or rng.random() >= 0.2:
        pd.apply_changes(msgs, on_stale="record")
        return f"delivers {len(msgs)} changes"
    ahead = rng.random() < 0.4
    k = rng.randrange(len(msgs))
    if ahead:  # (one on deps the store lacks, if any: it waits, then its deps release it)
        lacks = [i for i, m in enumerate(msgs) if not all(map(_has(st, pd), _deps(m)))]
        k = pick.choice(lacks) if lacks else k
    # (3 times in 10, if it can, one naming what a change outside its causal past made)
    bent = None
    if pick.chance(0.3):
        if pick.chance(0.25):  # (or its author's previous change left out of its past)
            bent = skip_authors_change(peer.get_changes(), msgs[k], pick, lambda h: True)
        else:
            have = mirror.get_changes()
            theirs = [r for r in have if not peer.has_change(change_hash_of(r))]
            order = [change_hash_of(r) for r in have]
            bent = break_causality(
                peer.get_changes() + theirs, msgs[k], pick, mirror.has_change, order
            )
    what, bad = bent or corrupt_change(msgs[k], pick)
    msgs[k] = bad
    did = f"delivers {len(msgs)} changes, change {k} corrupted ({what})"
    before = _seen(st, pd)
    try:
        u = decode_change(bad)
    except DecodeError:
        with pytest.raises(DecodeError):
            pd.apply_changes(msgs, on_stale="record")
        assert _seen(st, pd) == before, f"a call that failed ({what}) changed the store"
        return did
    if ahead:
        did += ", sent ahead"
        try:
            pd.apply_changes([bad], on_stale="record")
            taken.add(u.hash)
        except CrdtError:
            assert _seen(st, pd) == before, f"a call that failed ({what}) changed the store"
            did += " and refused"
        pd.apply_changes(msgs[:k] + msgs[k + 1 :], on_stale="record")
        assert not mirror.has_change(u.hash), f"a corrupted change was applied ({what})"
        return did
    try:
        pd.apply_changes(msgs, on_stale="record")
    except CrdtError:
        assert _seen(st, pd) == before, f"a call that failed ({what}) changed the store"
        return did + ": refused"
    assert not mirror.has_change(u.hash), f"a corrupted change was applied ({what})"
    assert not pd.doc.has_change(u.hash)
    taken.add(u.hash)
    return did + ": taken, not applied"


def _deps(raw: bytes) -> tuple[bytes, ...]:
    return decode_change(raw).deps


def _has(st: Store, pd: PersistentDoc) -> Callable[[bytes], bool]:
    """Whether the store's document has a change (logged in this epoch, or in the cut)."""
    return lambda h: st.knows(h) or pd.doc.has_change(h)


def _reopen(
    st: Store, pd: PersistentDoc, path: str, mirror: Doc, clock: Callable[[], int]
) -> tuple[Store, PersistentDoc]:
    """Close the store and open it again: it must rebuild the document it held."""
    want = pd.doc.to_py(), pd.doc.heads, [r.hash for r in st.rejected]
    st.close()
    st = Store.open(path, "never")
    pd = _open(st, mirror, clock)
    got = pd.doc.to_py(), pd.doc.heads, [r.hash for r in st.rejected]
    assert got == want, "the store opened again does not hold what it held"
    return st, pd


@pytest.mark.parametrize("seed", range(30))
def test_store_fuzz_ci(seed: int, tmp_path: Any) -> None:
    fuzz_once(seed, str(tmp_path / "s"))


@pytest.mark.slow
def test_store_fuzz_forever() -> None:
    fuzz_seeds("STORE_FUZZ_FOREVER", "store fuzz", _in_temp_dir, "fuzz_once({seed}, path)")


def _in_temp_dir(seed: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        fuzz_once(seed, os.path.join(d, "s"))
