"""A seeded fuzzer in the style of diamond-types: random edits of every kind on three
replicas, random syncs (reordered, duplicated, lossy; half of them observed, the patches
replayed to a view of the replica that must end equal to it), then a full sync and a check
that every replica, and a fresh one fed every change in random order, agree.  Some edits
are a peer typing live (keystrokes, backspaces or forward deletes at one place, a change
each), some write a text or a list whole in one transaction, and some syncs deliver as a
live peer does: a change a call, in order, with reads by position and local edits between
the calls.  Half the seeds cut sequences into chunks of a few runs (``fuzz_once``).  Now
and then every replica is brought in step and one is replaced by a document loaded from
a snapshot of itself: it knows the changes before its cut by their seq only, and peers
that do not know its heads send it their whole history.

Some syncs are hostile: one change comes corrupted (bytes cut short or in a non-canonical
form, a field of the wire form broken, an op naming what does not exist, or what a
change outside its causal past made, most often one the receiver has, the author's next
seq or start op claimed), after the changes before it, in one call with them or a
change a call.  The call must raise a ``CrdtError`` and leave the replica exactly as it
was, observers told nothing; or, corrupted so that it still decodes and sent before its
deps, the change must be buffered, then dropped into ``rejected`` when they arrive.

``fuzz_once(seed)`` is deterministic, so a failing seed is a complete bug report:

    .venv/bin/python -c "import sys; sys.path.insert(0, 'tests'); \\
        import test_fuzz; test_fuzz.fuzz_once(1234, verbose=True)"

``FUZZ_FOREVER=1 pytest -m slow tests/test_fuzz.py`` loops over seeds until interrupted
(or for ``FUZZ_SECONDS``), starting at ``FUZZ_SEED`` (default: random).
"""

from __future__ import annotations

import contextlib
import itertools
import random
from typing import Any
from unittest import mock

import pytest

import crdt.sequence as seqmod
from crdt import CrdtError, DecodeError, Doc, InvalidChangeError
from crdt.change import decode_change
from crdt.sequence import Sequence
from crdt.snapshot import decode_snapshot, encode_snapshot, load_snapshot, snapshot_root

try:
    from tests.helpers import (
        EDIT_KEYS,
        RandomPicker,
        assert_converged,
        break_causality,
        change_hash_of,
        corrupt_change,
        edit_objects,
        edit_random,
        fuzz_seeds,
        replay_patches,
        skip_authors_change,
        sync_lossy,
        sync_until_quiescent,
    )
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from helpers import (  # type: ignore[no-redef]
        EDIT_KEYS,
        RandomPicker,
        assert_converged,
        break_causality,
        change_hash_of,
        corrupt_change,
        edit_objects,
        edit_random,
        fuzz_seeds,
        replay_patches,
        skip_authors_change,
        sync_lossy,
        sync_until_quiescent,
    )

N_REPLICAS = 3


class _Abort(Exception):
    pass


def fuzz_once(seed: int, steps: int = 150, verbose: bool = False) -> None:
    """Run ``steps`` random steps over three replicas and check convergence.  Half the
    seeds cut sequences into chunks of 2 to 4 runs instead of ``MAX_RUNS``: a text of a few
    dozen elements then spans many chunks, as a long document does, and every edit, sync,
    fork and load meets what crosses chunks (the cursor chunk's position, the position
    cache, chunks shared copy-on-write, splits and merges of chunks)."""
    rng = random.Random(seed)
    max_runs = rng.choice([2, 3, 4]) if rng.random() < 0.5 else seqmod.MAX_RUNS
    with mock.patch.object(seqmod, "MAX_RUNS", max_runs):
        _fuzz(rng, seed, steps, verbose)


def _fuzz(rng: random.Random, seed: int, steps: int, verbose: bool) -> None:
    pick = RandomPicker(rng)
    # distinct actors of varying length, so both counter and actor order decide conflicts
    actors: list[bytes] = []
    while len(actors) < N_REPLICAS:
        a = rng.randbytes(rng.randint(1, 16))
        if a not in actors:
            actors.append(a)
    # a clock of its own, a millisecond a call, so that which commits merge into one change
    # (those within ``merge_interval``) and every change's time, hence its hash, follow
    # from the seed alone: the wall clock made a seed's run depend on the machine's speed
    clock = itertools.count(1_750_000_000_000).__next__
    docs = [Doc(a, clock=clock) for a in actors]
    open_tx: list = [None] * N_REPLICAS  # explicit transactions (doc.begin())
    # every change any replica made: a replica loaded from a snapshot holds only those
    # after its cut, so the final check replays this one's history
    archive = Doc(b"\xfd" * 16, clock=clock)

    def log(msg: str) -> None:
        if verbose:
            print(msg)

    for step in range(steps):
        r = rng.randrange(N_REPLICAS)
        doc = docs[r]
        action = rng.random()
        if action < 0.45:
            n = rng.randint(1, 4)
            if open_tx[r] is None and rng.random() < 0.2:
                log(f"{step} r{r} (live) {_type_live(doc, pick)[0]}")
            elif open_tx[r] is None and rng.random() < 0.1:
                log(f"{step} r{r} (whole) {_type_whole(doc, pick)}")
            elif open_tx[r] is not None:
                for _ in range(n):
                    log(f"{step} r{r} (open tx) {edit_random(doc, pick)}")
            elif rng.random() < 0.5:
                with doc.transaction():
                    for _ in range(n):
                        log(f"{step} r{r} (with) {edit_random(doc, pick)}")
            else:
                log(f"{step} r{r} (auto) {edit_random(doc, pick)}")
        elif action < 0.52:
            if open_tx[r] is None:
                log(f"{step} r{r} begin")
                open_tx[r] = doc.begin()
        elif action < 0.6:
            if open_tx[r] is not None:
                log(f"{step} r{r} commit")
                open_tx[r].commit()
                open_tx[r] = None
        elif action < 0.65:
            before, heads = doc.to_py(), doc.heads
            log(f"{step} r{r} aborted block")
            try:
                with doc.transaction():
                    for _ in range(rng.randint(1, 3)):
                        log(f"    {edit_random(doc, pick)}")
                    raise _Abort
            except _Abort:
                pass
            after = doc.to_py()
            assert after == before, (
                f"seed {seed} step {step}: rollback changed the doc\n{before!r}\n{after!r}"
            )
            assert doc.heads == heads
        elif action < 0.69:
            # replace replica r by a fork of another (forks share state copy-on-write;
            # the dropped document gives its share back)
            src = rng.randrange(N_REPLICAS)
            if src == r or open_tx[r] is not None or open_tx[src] is not None:
                continue
            a = rng.randbytes(rng.randint(1, 16))
            while a in actors:
                a = rng.randbytes(rng.randint(1, 16))
            actors.append(a)
            log(f"{step} r{r} := fork of r{src} as {a.hex()} (after r{src} merged r{r})")
            docs[src].merge(docs[r])  # nothing r made is lost with it
            docs[r] = docs[src].fork(a)
        elif action < 0.715:
            # every replica in step, then replica r replaced by a document loaded from a
            # snapshot (or a checkpoint, with tombstones) of its state: a base that every
            # later change descends from, so none of them is stale
            if any(t is not None for t in open_tx):
                continue
            tombstones = rng.random() < 0.5
            log(f"{step} all in step; r{r} := load_snapshot(r{r}, tombstones={tombstones})")
            sync_until_quiescent(docs)
            archive.apply_changes(doc.get_changes(archive.heads))
            data = encode_snapshot(doc, tombstones=tombstones)
            loaded = load_snapshot(data, doc.actor, root=snapshot_root(data), clock=clock)
            assert loaded.to_py() == doc.to_py() and loaded.heads == doc.heads, (
                f"seed {seed} step {step}: the replica loaded from a snapshot differs"
            )
            docs[r] = loaded
        elif action < 0.73:
            # replica r saved and loaded again, lazily (its history stays encoded until a
            # call needs it; the next save keeps the records this one wrote)
            if open_tx[r] is not None:
                continue
            log(f"{step} r{r} := load(save(r{r}))")
            data = doc.save()
            loaded = Doc.load(data, doc.actor, clock=clock)
            assert loaded.to_py() == doc.to_py() and loaded.heads == doc.heads, (
                f"seed {seed} step {step}: the loaded replica differs"
            )
            assert loaded.pending == 0
            loaded.apply_changes([u.raw for u in doc._pending.values()])  # (what it buffered)
            docs[r] = loaded
        else:
            src = rng.randrange(N_REPLICAS)
            if src == r:
                continue
            if open_tx[r] is not None:
                open_tx[r].commit()
                open_tx[r] = None
            if open_tx[src] is None and rng.random() < 0.25:
                # a live session: the two in step, then src types and r hears each key
                log(f"{step} live session r{src} -> r{r}")
                doc.apply_changes(docs[src].get_changes(doc.heads))
                docs[src].apply_changes(doc.get_changes(docs[src].heads))
                what, text_id = _type_live(docs[src], pick)
                hostile = rng.random() < 0.3
                log(f"    r{src} {what}" + (" (some keys corrupted on the way)" if hostile else ""))
                _sync_live(docs[src], doc, pick, rng, log, focus=text_id, hostile=hostile)
                continue
            if rng.random() < 0.15:
                log(f"{step} hostile sync r{src} -> r{r}")
                if rng.random() < 0.3:
                    _sync_early(docs[src], doc, pick, log)
                else:
                    _sync_hostile(docs[src], doc, pick, rng, log)
                continue
            lossy = rng.random() < 0.3
            live = not lossy and rng.random() < 0.4
            observed = rng.random() < 0.5
            log(f"{step} sync r{src} -> r{r} lossy={lossy} live={live} observed={observed}")
            _read_by_position(doc, rng)  # (before: a cache the sync must keep true or drop)
            if observed:
                # an application's view of r, kept up to date by the patches alone
                view = doc.to_py()
                told: list = []
                with doc.observe(told.extend):
                    if live:
                        view = _sync_live(docs[src], doc, pick, rng, log, (view, told))
                    else:
                        sync_lossy(docs[src], doc, pick, lossy=lossy)
                assert replay_patches(view, told) == doc.to_py(), (
                    f"seed {seed} step {step}: the patches do not replay to the document"
                )
            elif live:
                _sync_live(docs[src], doc, pick, rng, log)
            else:
                sync_lossy(docs[src], doc, pick, lossy=lossy)
            _read_by_position(doc, rng)
        if step % 10 == 0:
            for d in docs:
                d._check()
    for r in range(N_REPLICAS):
        if open_tx[r] is not None:
            open_tx[r].commit()
    sync_until_quiescent(docs)
    for d in docs:
        archive.apply_changes(d.get_changes(archive.heads))
    # the replicas with their whole history, and the archive, hold every change; a replica
    # loaded from a snapshot holds those after its cut, and the same value and heads
    assert_converged([archive, *[d for d in docs if d._base is None]], pick)
    every = {change_hash_of(raw) for raw in archive.get_changes()}
    for d in docs:
        assert d.to_py() == archive.to_py() and d.heads == archive.heads
        assert {change_hash_of(raw) for raw in d.get_changes()} <= every
    for d in docs:
        hashes = [u.hash for u, _ in d.rejected]
        assert len(hashes) == len(set(hashes)), f"seed {seed}: a change rejected twice"


def _type_live(doc: Doc, pick: RandomPicker) -> tuple[str, Any]:
    """A peer typing live at one place in one of ``doc``'s texts: 2 to 6 keystrokes, or
    backspaces, or forward deletes, each its own change (reading the heads seals it, as
    sending it does).  Delivered so to another replica, they take the fast path's typing
    shortcuts (a run extended, a run's last element or first element deleted).  Returns a
    description and the text's id (None if ``doc`` has no text: one random edit then)."""
    texts = [v for kind, v in edit_objects(doc) if kind == "text"]
    if not texts:
        return edit_random(doc, pick), None
    text = pick.choice(texts)
    kind = pick.choice(["type", "type", "backspace", "forward"])
    pos = pick.integer(0, len(text))
    n = pick.integer(2, 6)
    done = 0
    for i in range(n):
        if kind == "type":
            text.insert(pos + i, pick.choice("abc"))
        elif kind == "backspace":
            if pos - i <= 0:
                break
            text.delete(pos - i - 1)
        else:
            if pos >= len(text):
                break
            text.delete(pos)
        doc.heads  # noqa: B018  (seals the keystroke as its own change)
        done += 1
    return f"{kind} x{done} at {pos}", text.id


def _type_whole(doc: Doc, pick: RandomPicker) -> str:
    """A text, or a list, made and written in one transaction: made at a key of one of
    ``doc``'s maps, then 4 to 10 edits (inserts, and removes of what they wrote).  One
    change, which a replica that lacks the sequence lays out in one pass
    (``crdt/fill.py``).  Returns a description."""
    m = pick.choice([v for kind, v in edit_objects(doc) if kind == "map"])
    key = pick.choice(EDIT_KEYS)
    with doc.transaction():
        if pick.chance(0.7):
            text = m.make_text(key)
            for _ in range(pick.integer(4, 10)):
                n = len(text)
                pos = pick.integer(0, n)
                text.splice(pos, pick.integer(0, min(3, n - pos)), pick.text(4))
            made: Any = str(text)
        else:
            lst = m.make_list(key)
            for _ in range(pick.integer(4, 10)):
                n = len(lst)
                if n and pick.chance(0.3):
                    lst.delete(pick.integer(0, n - 1))
                else:
                    lst.insert(pick.integer(0, n), pick.scalar())
            made = list(lst)
    return f"map[{key!r}] := {made!r}"


def _sync_live(
    src: Doc,
    dst: Doc,
    pick: RandomPicker,
    rng: random.Random,
    log: Any,
    observed: tuple[Any, list[Any]] | None = None,
    focus: Any = None,
    hostile: bool = False,
) -> Any:
    """Deliver what ``dst`` lacks of ``src`` as a live peer sends it: a change a call, in
    order.  Between calls, half the time a read by position (a position cache the next
    change must keep true or drop), and sometimes a local edit (a cursor it must move).

    ``observed``: ``dst`` is observed, ``(view, told)`` the application's view of it and
    the patches told since.  Observers hear of remote changes only (an application shows
    its own edits itself), so before a local edit the patches so far must replay to the
    document, and the view starts again from the document after it.  ``focus``: the id of
    the text a peer is typing into, read by position between every two calls (the run
    read may lie after the one its next key extends).  ``hostile``: half the changes come
    first corrupted (:func:`corrupt_change`), in a call that must fail and change nothing
    (:func:`_must_refuse`): a key on the fast path, its caches warm.  Returns the view."""
    view, told = observed if observed is not None else (None, [])
    for raw in src.get_changes(dst.heads):
        if hostile and rng.random() < 0.5 and not _in_cut(dst, raw):
            what, bad = corrupt_change(raw, pick)
            log(f"    (corrupted on the way) {what}")
            _must_refuse(dst, [bad], what, rng)
        dst.apply_changes([raw])
        _read_by_position(dst, rng, focus)
        if rng.random() < 0.15:
            if observed is not None:
                assert replay_patches(view, told) == dst.to_py(), (
                    "the patches of a live sync do not replay to the document"
                )
            log(f"    (between calls) {edit_random(dst, pick)}")
            if observed is not None:
                view = dst.to_py()
                told.clear()
    return view


def _sync_hostile(
    src: Doc,
    dst: Doc,
    pick: RandomPicker,
    rng: random.Random,
    log: Any,
    after: tuple[bytes, ...] = (),
) -> None:
    """Deliver what ``dst`` lacks of ``src`` with one change corrupted (:func:`corrupt_change`):
    the changes before it (in a batch with it, or first a change a call, as a live peer
    sends, so that the sequences' caches are warm), then it, and half the time the rest
    with it: a call that must fail and change nothing (:func:`_must_refuse`).  ``after``:
    hashes the corrupted change must come after, if it can.  The valid changes arrive with
    a later sync."""
    missing = src.get_changes(dst.heads)
    # (one in a snapshot cut by its seq, received again, is skipped whatever its bytes)
    can = [i for i, raw in enumerate(missing) if not _in_cut(dst, raw)]
    if not can:
        return
    k = pick.choice(can)
    if after:  # (the corrupted one after these, which the call then applies first)
        last = max([i for i, raw in enumerate(missing) if change_hash_of(raw) in after] + [-1])
        if [i for i in can if i > last]:
            k = pick.choice([i for i in can if i > last])
    before = {change_hash_of(raw) for raw in missing[:k]}
    what, bad = _corrupt(src, dst, missing[k], pick, lambda h: dst.has_change(h) or h in before)
    batch = [*missing[:k], bad]
    if rng.random() < 0.5:
        for raw in batch[:-1]:
            dst.apply_changes([raw])
        batch = batch[-1:]
    if rng.random() < 0.5:
        batch += missing[k + 1 :]
    log(f"    change {k} of {len(missing)}: {what}, in a call of {len(batch)}")
    _must_refuse(dst, batch, what, rng)


def _corrupt(src: Doc, dst: Doc, raw: bytes, pick: RandomPicker, avail: Any) -> tuple[str, bytes]:
    """``raw``, a change of ``src`` on its way to ``dst``, corrupted: 3 times in 10 made to
    break a rule of causality, if it can: to name what a change outside its causal past
    made (:func:`break_causality`: most often one ``dst`` has, where only the causality
    check refuses it), or, 1 time in 4, to leave its author's previous change out of its
    past (:func:`skip_authors_change`, on a dep that ``avail(hash)`` says).  Else as
    :func:`corrupt_change` does.  Returns a description and the bytes."""
    if pick.chance(0.3):
        if pick.chance(0.25):
            every = {change_hash_of(r): r for r in dst.get_changes() + src.get_changes()}
            bent = skip_authors_change(list(every.values()), raw, pick, avail)
        else:
            have = dst.get_changes()
            order = [change_hash_of(r) for r in have]
            # (both histories: one loaded from a snapshot lacks what is before its cut)
            every = dict(zip(order, have, strict=True))
            every.update((change_hash_of(r), r) for r in src.get_changes())
            bent = break_causality(list(every.values()), raw, pick, dst.has_change, order)
        if bent is not None:
            return bent
    return corrupt_change(raw, pick)


def _has_or_in_cut(src: Doc, dst: Doc, h: bytes) -> bool:
    """Whether ``dst`` has change ``h`` of ``src``, or it is in ``dst``'s snapshot cut by
    its seq (:func:`_in_cut`)."""
    return dst.has_change(h) or _in_cut(dst, src.get_change(h))


def _in_cut(dst: Doc, raw: bytes) -> bool:
    """Whether ``raw`` is in the snapshot cut of ``dst`` by its seq (a replica loaded from a
    snapshot, perhaps saved and loaded again since): a duplicate there, skipped whatever
    its bytes (SPEC.md 12)."""
    base = dst._base
    if dst._deferred is not None:  # (loaded lazily: the cut its saved history starts after)
        snap = dst._deferred.snap
        base = None if snap is None else decode_snapshot(snap)[1]
    if base is None:
        return False
    u = decode_change(raw)
    return u.seq <= base.clock.get(u.actor, 0)


def _must_refuse(dst: Doc, batch: list[bytes], what: str, rng: random.Random) -> None:
    """``dst.apply_changes(batch)``, whose last change or one before is corrupted
    (``what``), must raise a :class:`CrdtError` and leave ``dst`` as it was: its value,
    history, buffered and rejected changes, its observers (half the time it has one) told
    nothing, and every structure (``_check``) and read by position as before.  (Observed,
    the fast path takes other branches: a text typed whole goes op by op.)"""
    _read_by_position(dst, rng)
    before = (dst.to_py(), dst.heads, dst.change_count(), dst.pending, len(dst.rejected))
    told: list[Any] = []
    with dst.observe(told.extend) if rng.random() < 0.5 else contextlib.nullcontext():
        try:
            dst.apply_changes(batch)
        except CrdtError:
            pass
        else:
            raise AssertionError(f"a corrupted change was accepted ({what})")
    after = (dst.to_py(), dst.heads, dst.change_count(), dst.pending, len(dst.rejected))
    assert after == before, f"a rejected call ({what}) changed the document"
    assert told == [], f"a rejected call ({what}) told its observers {told!r}"
    dst._check()
    _read_by_position(dst, rng)


def _sync_early(src: Doc, dst: Doc, pick: RandomPicker, log: Any) -> None:
    """Deliver first, alone, a change of ``src`` corrupted so that it still decodes, one
    whose deps ``dst`` lacks (none: nothing is done): ``dst`` must buffer it, and nothing
    else.  Then, half the time, every change ``dst`` lacks, valid, in one call, which must
    apply them all and drop the corrupted one into ``rejected`` once its deps are there
    (the caller gets no error: it came in an earlier call), after a hostile call half the
    time (:func:`_sync_hostile`, its corrupted change after the deps of this one: a call
    that releases it, then fails, and must take the rejection back with the rest); else
    it waits for later steps, and the full sync at the end (which must leave no change
    buffered, and none rejected twice)."""
    missing = src.get_changes(dst.heads)
    early = [
        raw
        for raw in missing
        if not dst.has_change(change_hash_of(raw))
        and not all(map(dst.has_change, decode_change(raw).deps))
        and not _in_cut(dst, raw)
    ]
    if not early:
        return
    raw = pick.choice(early)
    for _ in range(10):
        # (a dep dst lacks: one in its snapshot cut by its seq, sent before, would make the
        # change stale at once, not buffered)
        what, bad = _corrupt(src, dst, raw, pick, lambda h: not _has_or_in_cut(src, dst, h))
        try:
            u = decode_change(bad)
            break
        except DecodeError:
            continue
    else:
        return
    log(f"    a change on deps it lacks, delivered first, corrupted ({what}): then the rest")
    pending = dst.pending + (u.hash not in dst._pending)  # (the same corruption sent again)
    rejected = len(dst.rejected)
    assert dst.apply_changes([bad]) == [] and dst.pending == pending
    if pick.chance(0.5):
        return  # (it waits, and meets the calls of later steps, hostile ones too)
    if pick.chance(0.5):
        rng = random.Random(pick.integer(0, 2**32))
        _sync_hostile(src, dst, pick, rng, log, after=u.deps)
    dst.apply_changes(missing)
    assert u.hash not in dst._pending, "a corrupted change is still buffered"
    # (one left waiting by an earlier step may be rejected with it)
    new = [type(e) for v, e in dst.rejected[rejected:] if v.hash == u.hash]
    assert len(new) == 1, f"rejected {len(new)} times ({what})"
    assert issubclass(new[0], InvalidChangeError)
    dst._check()


def _read_by_position(doc: Doc, rng: random.Random, focus: Any = None) -> None:
    """Half the time, read an element of one of ``doc``'s lists or texts by its position
    (as ``List[i]`` and ``Doc.conflicts`` do) and check it against the sequence read
    whole.  A read leaves the run it found as the position cache, which every edit after
    it must keep true or drop.  ``focus``: an object id to read, every time, if it is a
    sequence of ``doc``'s."""
    st = doc._opset.objs.get(focus) if focus is not None else None
    if st is not None and isinstance(st.data, Sequence):
        seqs = [st.data]
    elif rng.random() < 0.5:
        return
    else:
        seqs = [st.data for st in doc._opset.objs.values() if isinstance(st.data, Sequence)]
    seqs = [s for s in seqs if s.vis]
    if seqs:
        seq = rng.choice(seqs)
        q = rng.randrange(seq.vis)
        whole = seq.text() if seq.is_text else seq.values()
        assert seq.value_at(q) == whole[q], "an element read by position is not there"


@pytest.mark.parametrize("seed", range(30))
def test_fuzz_ci(seed: int) -> None:
    fuzz_once(seed, steps=300)


@pytest.mark.slow
def test_fuzz_forever() -> None:
    fuzz_seeds(
        "FUZZ_FOREVER",
        "fuzz",
        lambda seed: fuzz_once(seed, steps=300),
        "fuzz_once({seed}, steps=300, verbose=True)",
    )
