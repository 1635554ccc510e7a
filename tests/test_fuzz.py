"""A seeded fuzzer in the style of diamond-types: random edits of every kind on three
replicas, random syncs (reordered, duplicated, lossy; half of them observed, the patches
replayed to a view of the replica that must end equal to it), then a full sync and a check
that every replica, and a fresh one fed every change in random order, agree.  Some edits
are a peer typing live (keystrokes, backspaces or forward deletes at one place, a change
each), some write a text or a list whole in one transaction, and some syncs deliver as a
live peer does: a change a call, in order, with reads by position and local edits between
the calls.  Half the seeds cut sequences into chunks of a few runs (``fuzz_once``).

``fuzz_once(seed)`` is deterministic, so a failing seed is a complete bug report:

    .venv/bin/python -c "import sys; sys.path.insert(0, 'tests'); \\
        import test_fuzz; test_fuzz.fuzz_once(1234, verbose=True)"

``FUZZ_FOREVER=1 pytest -m slow tests/test_fuzz.py`` loops over seeds until interrupted
(or for ``FUZZ_SECONDS``), starting at ``FUZZ_SEED`` (default: random).
"""

from __future__ import annotations

import os
import random
import time
from typing import Any
from unittest import mock

import pytest

import crdt.sequence as seqmod
from crdt import Doc
from crdt.sequence import Sequence

try:
    from tests.helpers import (
        EDIT_KEYS,
        RandomPicker,
        assert_converged,
        edit_objects,
        edit_random,
        replay_patches,
        sync_lossy,
        sync_until_quiescent,
    )
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from helpers import (  # type: ignore[no-redef]
        EDIT_KEYS,
        RandomPicker,
        assert_converged,
        edit_objects,
        edit_random,
        replay_patches,
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
    docs = [Doc(a) for a in actors]
    open_tx: list = [None] * N_REPLICAS  # explicit transactions (doc.begin())

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
        elif action < 0.73:
            # replica r saved and loaded again, lazily (its history stays encoded until a
            # call needs it; the next save keeps the records this one wrote)
            if open_tx[r] is not None:
                continue
            log(f"{step} r{r} := load(save(r{r}))")
            data = doc.save()
            loaded = Doc.load(data, doc.actor)
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
                log(f"    r{src} {what}")
                _sync_live(docs[src], doc, pick, rng, log, focus=text_id)
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
    assert_converged(docs, pick)


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
) -> Any:
    """Deliver what ``dst`` lacks of ``src`` as a live peer sends it: a change a call, in
    order.  Between calls, half the time a read by position (a position cache the next
    change must keep true or drop), and sometimes a local edit (a cursor it must move).

    ``observed``: ``dst`` is observed, ``(view, told)`` the application's view of it and
    the patches told since.  Observers hear of remote changes only (an application shows
    its own edits itself), so before a local edit the patches so far must replay to the
    document, and the view starts again from the document after it.  ``focus``: the id of
    the text a peer is typing into, read by position between every two calls (the run
    read may lie after the one its next key extends).  Returns the view."""
    view, told = observed if observed is not None else (None, [])
    for raw in src.get_changes(dst.heads):
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
    if os.environ.get("FUZZ_FOREVER") != "1":
        pytest.skip("set FUZZ_FOREVER=1 to fuzz until interrupted (or FUZZ_SECONDS)")
    seconds = float(os.environ.get("FUZZ_SECONDS", "inf"))
    seed = int(os.environ.get("FUZZ_SEED", str(random.randrange(2**32))))
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline:
        try:
            fuzz_once(seed, steps=300)
        except BaseException:
            print(
                f"\nfuzz: FAILING SEED {seed} (after {done} passing seeds); reproduce with "
                f"fuzz_once({seed}, steps=300, verbose=True)",
                flush=True,
            )
            raise
        done += 1
        if done % 100 == 0:
            print(f"fuzz: {done} seeds passed (last {seed})", flush=True)
        seed += 1
    print(f"fuzz: {done} seeds passed")
