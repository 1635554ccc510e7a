"""crdt.sequence.Sequence against independent models.

- local edits: a plain ``str`` / ``list`` of ``(id, value)`` pairs;
- remote inserts: a naive RGA tree (children of an element in descending op-id order,
  document order = preorder walk), which is the definition the skip rule implements;
- hand-written ordering facts.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crdt.sequence as seqmod
from crdt.errors import UsageError
from crdt.run import Register, Run
from crdt.sequence import MAX_RUNS, Sequence

A = b"\x0a"
B = b"\x0b"
C = b"\x0c"


def _n_chunks(s: Sequence) -> int:
    n = 0
    c = s.head
    while c is not None:
        n += 1
        c = c.next
    return n


def _n_runs(s: Sequence) -> int:
    return sum(1 for _ in s.runs())


def _visible(s: Sequence):
    return s.text() if s.is_text else s.values()


def _all_elements(s: Sequence):
    """Every element, tombstones included: [(ctr, actor, value, deleted)] in order."""
    out = []
    for r in s.runs():
        for i in range(r.n):
            v = r.content[0].winner() if r.reg and r.content[0].entries else r.content[i]
            out.append((r.ctr + i, r.actor, v, r.deleted))
    return out


# ---------------------------------------------------------------- local edits vs a model


class LocalModel:
    """Visible elements as [(id, value)], plus the Sequence under test."""

    def __init__(self, is_text: bool, actor: bytes = A) -> None:
        self.seq = Sequence(is_text)
        self.is_text = is_text
        self.actor = actor
        self.elems: list[tuple[tuple[int, bytes], object]] = []
        self.next_ctr = 1
        self.tombstones: set[tuple[int, bytes]] = set()

    def content(self, values):
        return "".join(values) if self.is_text else list(values)

    def insert(self, pos: int, values) -> None:
        ctr = self.next_ctr
        content = self.content(values)
        ref = self.seq.local_insert(pos, ctr, self.actor, content)
        expected_ref = self.elems[pos - 1][0] if pos > 0 else None
        assert ref == expected_ref
        new = [((ctr + i, self.actor), v) for i, v in enumerate(values)]
        self.elems[pos:pos] = new
        self.next_ctr = ctr + len(values)

    def delete(self, pos: int, n: int) -> None:
        gone = self.elems[pos : pos + n]
        out = self.seq.local_delete(pos, n)
        # the returned ranges name exactly the deleted ids, in document order
        named = []
        for ctr, actor, what in out:
            assert type(what) is int and what > 0
            named.extend((ctr + i, actor) for i in range(what))
        assert named == [e[0] for e in gone]
        # consecutive ranges are merged when they continue each other
        for (c0, a0, n0), (c1, a1, _) in itertools.pairwise(out):
            assert not (a0 == a1 and c0 + n0 == c1)
        del self.elems[pos : pos + n]
        self.tombstones.update(e[0] for e in gone)

    def check(self) -> None:
        s = self.seq
        s._check()
        values = [v for _, v in self.elems]
        assert len(s) == len(values)
        assert _visible(s) == self.content(values)
        # tombstones stay in the sequence, in the id index
        for ctr, actor in self.tombstones:
            run = s.find(ctr, actor)
            assert run is not None and run.deleted

    def check_positions(self, positions) -> None:
        s = self.seq
        for i in positions:
            (ctr, actor), v = self.elems[i]
            run, off = s.element_at(i)
            assert (run.ctr + off, run.actor) == (ctr, actor)
            assert run.content[off] == v
            assert s.id_at(i) == (ctr, actor)
            assert s.value_at(i) == v
            assert s.index_of(run, off) == i
            found = s.find(ctr, actor)
            assert found is run and s.has_element(ctr, actor)


ops_strategy = st.lists(
    st.tuples(
        st.sampled_from(["ins", "ins", "ins", "del", "type"]),
        st.integers(min_value=0, max_value=10**6),
        st.integers(min_value=1, max_value=5),
    ),
    max_size=120,
)

ALPHABET = "ab\u00e9\U0001f600\u4e2dz"


def _run_local(model: LocalModel, ops, rng_seed: int) -> None:
    rng = random.Random(rng_seed)
    for kind, x, k in ops:
        n = len(model.elems)
        if kind == "del" and n:
            pos = x % n
            model.delete(pos, min(k, n - pos))
        elif kind == "type" and n:
            # type k chars one at a time at a position: the run must extend in place
            pos = x % (n + 1)
            for i in range(k):
                model.insert(pos + i, [rng.choice(ALPHABET)])
        else:
            pos = x % (n + 1)
            vals = [rng.choice(ALPHABET) if model.is_text else rng.randrange(100) for _ in range(k)]
            model.insert(pos, vals)
        model.check()
    if model.elems:
        model.check_positions(sorted({0, len(model.elems) - 1, len(model.elems) // 2}))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(ops=ops_strategy, seed=st.integers(0, 2**16))
def test_local_text_edits_match_str_model(ops, seed):
    _run_local(LocalModel(True), ops, seed)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(ops=ops_strategy, seed=st.integers(0, 2**16))
def test_local_list_edits_match_list_model(ops, seed):
    _run_local(LocalModel(False), ops, seed)


@pytest.mark.parametrize("is_text", [True, False])
@pytest.mark.parametrize("seed", [1, 2])
def test_local_stress_splits_chunks(is_text, seed):
    """Enough scattered edits for well over 4 * MAX_RUNS runs, checking as we go."""
    rng = random.Random(seed)
    m = LocalModel(is_text)
    max_chunks = 0
    max_runs = 0
    for step in range(1500):
        n = len(m.elems)
        if n and rng.random() < 0.3:
            pos = rng.randrange(n)
            m.delete(pos, min(rng.randint(1, 3), n - pos))
        else:
            pos = rng.randrange(n + 1)
            vals = [rng.choice(ALPHABET) if is_text else rng.randrange(9) for _ in range(2)]
            m.insert(pos, vals)
        if step % 25 == 0:
            m.check()
            max_chunks = max(max_chunks, _n_chunks(m.seq))
            max_runs = max(max_runs, _n_runs(m.seq))
    m.check()
    assert max_runs > 4 * MAX_RUNS
    assert max_chunks > 4
    m.check_positions(range(0, len(m.elems), 7))
    # delete everything from the front: only tombstones remain, still consistent
    m.delete(0, len(m.elems))
    m.check()
    assert len(m.seq) == 0 and _visible(m.seq) == m.content([])


def _random_local_edit(
    m: LocalModel, rng: random.Random, deletes: float, most: int, width: int
) -> None:
    """One local edit of ``m`` at a random place: a delete of up to ``most`` elements (a
    share ``deletes`` of the edits, once there are 9), else an insert of 1 to ``width``."""
    n = len(m.elems)
    if n > 8 and rng.random() < deletes:
        pos = rng.randrange(n)
        m.delete(pos, min(rng.randint(1, most), n - pos))
    else:
        vals = [
            rng.choice(ALPHABET) if m.is_text else rng.randrange(9)
            for _ in range(rng.randint(1, width))
        ]
        m.insert(rng.randrange(n + 1), vals)


@pytest.mark.parametrize("max_runs", [2, 3])
@pytest.mark.parametrize("is_text", [True, False])
def test_far_jumps_from_the_cursor_the_head_and_the_tail(max_runs, is_text):
    """With chunks of two or three runs every position is many chunks away: each edit and
    each read lands somewhere at random, so ``_locate`` starts from the cursor (walking
    back or on), from the head and from the tail, all of them many times; the model and
    ``_check`` (the tail is the last chunk) judge every step, forks included."""
    walks = {"head": 0, "tail": 0, "back": 0, "on": 0}
    real = Sequence._locate

    def locate(self, i):
        # which start the nearest rule picks, told as _locate tells it (cursor at s)
        s = self._cur_pos if self._cur is not None else 0
        rc = self._rc
        if rc is None or not rc[3] <= i < rc[3] + rc[0].n:
            if i < s:
                walks["head" if i < s - i else "back"] += 1
            else:
                walks["tail" if i - s > self.vis - i else "on"] += 1
        return real(self, i)

    rng = random.Random(max_runs * 2 + is_text)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(seqmod, "MAX_RUNS", max_runs)
        mp.setattr(Sequence, "_locate", locate)
        m = LocalModel(is_text)
        for step in range(400):
            _random_local_edit(m, rng, 0.3, 2, 1)
            if step % 20 == 0:
                m.check()
                m.check_positions(rng.sample(range(len(m.elems)), min(10, len(m.elems))))
                # a fork's chunks are its own: its tail is its own last chunk
                fork = m.seq.copy()
                fork._check()
                fork.local_insert(len(fork), 1 + step, B, "x" if is_text else [1])
                fork._check()
        m.check()
        m.check_positions(rng.sample(range(len(m.elems)), len(m.elems)))
        # a sequence loaded whole (a snapshot's way) ends at its own last chunk too
        loaded = Sequence(is_text)
        loaded.load_runs([(r.ctr, r.actor, r.content, False, r.deleted) for r in m.seq.runs()])
        loaded._check()
        for i in rng.sample(range(len(m.elems)), len(m.elems)):
            assert loaded.id_at(i) == m.elems[i][0]
    assert _n_chunks(m.seq) > 30
    assert min(walks.values()) > 20, walks


@pytest.mark.parametrize("is_text", [True, False])
def test_index_of_every_run_from_either_end(is_text):
    """``index_of`` walks out from the run's chunk both ways and counts within the chunk
    from its nearer end: every run, tombstones too, of a sequence of many short chunks (so
    runs near the start end their walk at the head, near the end at the tail, and each
    chunk's runs lie in both halves), in the sequence and in a fork that changed some of
    the chunks it shares, matches the position counted over all the runs."""
    rng = random.Random(11 + is_text)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(seqmod, "MAX_RUNS", 3)
        m = LocalModel(is_text)
        for _ in range(300):
            _random_local_edit(m, rng, 0.35, 3, 3)
        fork = m.seq.copy()
        for k in range(20):
            fork.local_insert(rng.randrange(len(fork) + 1), 10_000 + k, B, "x" if is_text else [1])
        for s in (m.seq, fork):
            s._check()
            assert _n_chunks(s) > 40
            pos = 0
            tombstones = 0
            for run in s.runs():
                assert s.index_of(run) == pos
                if run.deleted:
                    tombstones += 1
                    assert s.index_of(run, run.n - 1) == pos
                else:
                    for off in range(run.n):
                        assert s.index_of(run, off) == pos + off
                    pos += run.n
            assert pos == len(s) and tombstones > 20


def test_local_range_errors():
    s = Sequence(True)
    s.local_insert(0, 1, A, "abc")
    with pytest.raises(UsageError):
        s.local_insert(4, 10, A, "x")
    with pytest.raises(UsageError):
        s.local_insert(-1, 10, A, "x")
    with pytest.raises(UsageError):
        s.local_delete(2, 2)
    with pytest.raises(UsageError):
        s.local_delete(-1, 1)
    for bad in (3, -1, 100):
        with pytest.raises(UsageError):
            s.element_at(bad)
    assert s.local_delete(1, 0) == []
    assert s.text() == "abc"
    s._check()


def test_typing_extends_one_run():
    s = Sequence(True)
    for i, ch in enumerate("hello"):
        s.local_insert(i, i + 1, A, ch)
    assert [(r.ctr, r.content) for r in s.runs()] == [(1, "hello")]
    s._check()


# ---------------------------------------------------------------- naive RGA model


class NaiveRGA:
    """Tree RGA: an insert's first element hangs under its reference, each next element
    under the previous one; siblings in descending id order; order = preorder walk."""

    def __init__(self) -> None:
        self.children: dict[object, list[tuple[int, bytes]]] = {None: []}
        self.value: dict[tuple[int, bytes], object] = {}
        self.deleted: set[tuple[int, bytes]] = set()

    def insert(self, ref, ctr, actor, content) -> None:
        parent = ref
        for i, v in enumerate(content):
            eid = (ctr + i, actor)
            self.children[parent].append(eid)
            self.children[eid] = []
            self.value[eid] = v
            parent = eid

    def delete(self, ctr, actor, n) -> None:
        for i in range(n):
            self.deleted.add((ctr + i, actor))

    def order(self):
        out = []
        stack = list(sorted(self.children[None]))  # ascending: pop gives the greatest
        while stack:
            e = stack.pop()
            out.append(e)
            stack.extend(sorted(self.children[e]))
        return out

    def elements(self):
        return [(e[0], e[1], self.value[e], e in self.deleted) for e in self.order()]


def _gen_history(rng: random.Random, n_ops: int, n_actors: int, is_text: bool):
    """Ops made by simulated replicas that sync now and then.

    Returns [(op, deps)] where op is ("ins", ref, ctr, actor, content) or
    ("del", ctr, actor, n) and deps is the set of op indexes the maker knew.
    """
    actors = [bytes([0x10 + i]) for i in range(n_actors)]
    known: list[set[int]] = [set() for _ in actors]
    ops: list[tuple] = []
    elems_of: list[list[tuple[int, bytes]]] = []  # per op: the element ids it inserted

    def max_ctr(k: set[int]) -> int:
        m = 0
        for i in k:
            op = ops[i]
            if op[0] == "ins":
                m = max(m, op[2] + len(op[4]) - 1)
            else:
                m = max(m, op[4])  # a delete consumes counters too (its own "end")
        return m

    deps_of: list[set[int]] = []
    for _ in range(n_ops):
        r = rng.random()
        ai = rng.randrange(n_actors)
        k = known[ai]
        if r < 0.15 and n_actors > 1:
            other = known[rng.randrange(n_actors)]
            k |= other
            continue
        ctr = max_ctr(k) + 1
        visible_ins = [i for i in k if ops[i][0] == "ins"]
        if r < 0.3 and visible_ins:
            i = rng.choice(visible_ins)
            els = elems_of[i]
            start = rng.randrange(len(els))
            n = rng.randint(1, len(els) - start)
            eid = els[start]
            # a delete's "end" counter: it takes n counters like n single deletes
            op = ("del", eid[0], eid[1], n, ctr + n - 1)
            elems = []
        else:
            candidates = [e for i in visible_ins for e in elems_of[i]]
            ref = rng.choice(candidates) if candidates and rng.random() < 0.85 else None
            length = rng.randint(1, 4)
            if is_text:
                content = "".join(rng.choice("abcdefgh") for _ in range(length))
            else:
                content = [rng.randrange(1000) for _ in range(length)]
            op = ("ins", ref, ctr, actors[ai], content)
            elems = [(ctr + j, actors[ai]) for j in range(length)]
        deps_of.append(set(k))
        ops.append(op)
        elems_of.append(elems)
        k.add(len(ops) - 1)
    return ops, deps_of


def _causal_order(rng: random.Random, deps_of) -> list[int]:
    """A random topological order of the ops (each after all of its deps)."""
    n = len(deps_of)
    done: set[int] = set()
    order: list[int] = []
    remaining = set(range(n))
    while remaining:
        ready = [i for i in remaining if deps_of[i] <= done]
        i = rng.choice(ready)
        order.append(i)
        done.add(i)
        remaining.discard(i)
    return order


def _apply(seq: Sequence, op) -> None:
    if op[0] == "ins":
        _, ref, ctr, actor, content = op
        seq.integrate_insert(ref, ctr, actor, content)
    else:
        _, ctr, actor, n, _end = op
        seq.remote_delete(ctr, actor, n)


def _invariant_failure(seq: Sequence) -> str | None:
    try:
        seq._check()
    except AssertionError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _model_elements(ops):
    m = NaiveRGA()
    for op in ops:  # creation order is a causal order
        if op[0] == "ins":
            m.insert(*op[1:])
    for op in ops:
        if op[0] == "del":
            m.delete(op[1], op[2], op[3])
    return m.elements()


def _remote_convergence(seed: int, n_ops: int, n_actors: int, is_text: bool) -> None:
    rng = random.Random(seed)
    ops, deps_of = _gen_history(rng, n_ops, n_actors, is_text)
    expected = _model_elements(ops)
    for _ in range(2):
        order = _causal_order(rng, deps_of)
        s = Sequence(is_text)
        broken = None  # first structural invariant failure, reported after the content
        for j, i in enumerate(order):
            _apply(s, ops[i])
            if broken is None and j % 5 == 0:
                broken = _invariant_failure(s)
        assert _all_elements(s) == expected
        vis = [v for (_, _, v, d) in expected if not d]
        assert _visible(s) == ("".join(vis) if is_text else vis)
        assert broken is None, broken
        s._check()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32),
    n_ops=st.integers(1, 60),
    n_actors=st.integers(1, 4),
    is_text=st.booleans(),
)
def test_remote_inserts_converge_to_naive_rga(seed, n_ops, n_actors, is_text):
    _remote_convergence(seed, n_ops, n_actors, is_text)


@pytest.mark.parametrize("max_runs", [2, 3, 4])
@pytest.mark.parametrize("seed", [11, 12])
def test_remote_inserts_converge_with_tiny_chunks(max_runs, seed):
    """The same property with chunks of a few runs, so the skip walk crosses chunk
    boundaries all the time."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(seqmod, "MAX_RUNS", max_runs)
        _remote_convergence(seed, 150, 3, seed % 2 == 0)


@pytest.mark.parametrize("seed", [21, 22])
def test_remote_inserts_converge_many_runs(seed):
    """Large enough for several default-sized chunks."""
    rng = random.Random(seed)
    ops, deps_of = _gen_history(rng, 700, 3, True)
    expected = _model_elements(ops)
    s = Sequence(True)
    for i in _causal_order(rng, deps_of):
        _apply(s, ops[i])
    assert _all_elements(s) == expected
    s._check()
    assert _n_runs(s) > 4 * MAX_RUNS
    assert _n_chunks(s) > 1


def _positions(s: Sequence) -> dict[tuple[int, bytes], int]:
    """Every element's visible position, counted over all the runs (a tombstone's: that of
    the element after it)."""
    out: dict[tuple[int, bytes], int] = {}
    pos = 0
    for run in s.runs():
        for off in range(run.n):
            out[(run.ctr + off, run.actor)] = pos + (0 if run.deleted else off)
        if not run.deleted:
            pos += run.n
    return out


@pytest.mark.parametrize("seed", [31, 32, 33, 34])
def test_the_cursor_survives_remote_edits_in_its_chunk(seed):
    """Remote inserts and deletes keep the cursor when they change its chunk only, and
    ``index_of`` (an observer's patch, after each remote op) moves it to the op's chunk:
    three peers typing, each at its own place most of the time (so most edits are in the
    cursor's chunk) and now and then anywhere, with backspaces and deletes of a few
    elements, and local lookups by position, which move the cursor too.  Every position is
    right and ``_check`` (the cursor's start among the invariants) holds after each step,
    with chunks of a few runs."""
    rng = random.Random(seed)
    is_text = seed % 2 == 0
    actors = [bytes([0x10 + i]) for i in range(3)]
    at: list[tuple[int, bytes] | None] = [None, None, None]  # where each peer types
    ops: list[tuple] = []
    hits = kept = backspaces = burst = 0
    ctr = 1
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(seqmod, "MAX_RUNS", 3)
        s = Sequence(is_text)
        k = 0
        for _ in range(600):
            if rng.random() < 0.2:  # (a peer types a while: its counters go on, its run grows)
                k = rng.randrange(3)
            actor = actors[k]
            ids = list(_positions(s))
            r = rng.random()
            if burst and at[k] is not None:  # (backspace held down)
                burst -= 1
                e = at[k]
                op = ("del", e[0], e[1], 1, ctr)
                ctr += 1
                eid = e
            elif r < 0.25 and ids:
                # a delete of one to three elements of one run: backspaces at the peer's
                # place, or anywhere
                here = at[k] is not None and rng.random() < 0.6
                e = at[k] if here else rng.choice(ids)
                run = s.find(*e)
                n = rng.randint(1, run.ctr + run.n - e[0]) if rng.random() < 0.3 else 1
                if here and n == 1:
                    burst = rng.randint(0, 4)
                op = ("del", e[0], e[1], n, ctr + n - 1)
                ctr += n
                eid = e
            else:
                if at[k] is None or rng.random() < 0.1:
                    at[k] = rng.choice(ids) if ids and rng.random() < 0.9 else None
                content = "xy"[: rng.randint(1, 2)] if is_text else [ctr] * rng.randint(1, 2)
                op = ("ins", at[k], ctr, actor, content)
                eid = (ctr, actor)
                ctr += len(content)
                at[k] = (ctr - 1, actor)
            ops.append(op)
            cur = s._cur
            if op[0] == "del" and op[3] == 1:
                # one element, as the fast path deletes it: a backspace or a forward delete
                # moves it into the tombstones beside it, if it can
                run = s.find(op[1], op[2])
                if op[1] == run.ctr + run.n - 1:
                    moved = s.remote_backspace(run)
                else:
                    moved = op[1] == run.ctr and s.remote_forward(run)
                if not moved:
                    _apply(s, op)
                backspaces += moved
            else:
                _apply(s, op)
            if op[0] == "del" and at[k] == eid:  # (the peer types on before what went)
                at[k] = (eid[0] - 1, eid[1]) if s.find(eid[0] - 1, eid[1]) else None
            kept += cur is not None and s._cur is cur
            s._check()
            run = s.find(*eid)
            assert run is not None
            hits += s._chunk_of(run) is s._cur
            assert s.index_of(run, eid[0] - run.ctr) == _positions(s)[eid]
            s._check()
            if len(s) and rng.random() < 0.1:
                i = rng.randrange(len(s))
                run, off = s.element_at(i)
                assert _positions(s)[(run.ctr + off, run.actor)] == i
                s._check()
                # a run's position asked elsewhere moves the cursor from the run found
                e = rng.choice(list(_positions(s)))
                run = s.find(*e)
                assert s.index_of(run, e[0] - run.ctr) == _positions(s)[e]
                s._check()
        assert _all_elements(s) == _model_elements(ops)
        assert _n_chunks(s) > 20
    assert hits > 100 and kept > 100 and backspaces > 10, (hits, kept, backspaces)


def test_a_register_moves_the_cursor_only_outside_its_chunk():
    """A list element's register turning visible or not changes its chunk's length: the
    cursor stays if that is the cursor's chunk, and its start stays right (``_check``)
    when it is a chunk before it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(seqmod, "MAX_RUNS", 2)
        s = Sequence(False)
        for k in range(40):  # (each its own run: a register, then a plain element)
            s.integrate_insert(None if k == 0 else (k, A), k + 1, A, [k])
            s.register_at(k + 1, A) if k % 2 == 0 else None
        s._check()
        assert _n_chunks(s) > 10
        regs = [r for r in s.runs() if r.reg]
        for run in (regs[1], regs[-2]):
            entries = run.content[0].entries
            for far in (len(s) - 1, 0):  # the cursor after the register's chunk, then before
                s.element_at(far)
                s.set_register(run, [] if entries == run.content[0].entries else entries)
                s._check()
            s.element_at(s.index_of(run) if not run.deleted else 0)
            mine = s._cur
            s.set_register(run, entries)  # (visible again)
            s._check()
            if s._chunk_of(run) is mine:
                assert s._cur is mine


# ---------------------------------------------------------------- RGA facts by hand


def test_concurrent_inserts_after_same_element_descending_id_order():
    inserts = [((2, A), "x"), ((2, B), "y"), ((3, C), "z"), ((5, A), "w")]
    for perm in itertools.permutations(inserts):
        s = Sequence(True)
        s.integrate_insert(None, 1, A, "a")
        for (ctr, actor), ch in perm:
            s.integrate_insert((1, A), ctr, actor, ch)
        s._check()
        # ids descending: (5,A) > (3,C) > (2,B) > (2,A)
        assert s.text() == "awzyx"


def test_insert_at_head_goes_before_smaller_ids():
    s = Sequence(True)
    s.integrate_insert(None, 1, A, "a")
    s.integrate_insert(None, 2, A, "b")  # greater id at the head: first
    assert s.text() == "ba"
    s.integrate_insert(None, 1, B, "c")  # (1,B) < (2,A) but > (1,A)
    assert s.text() == "bca"
    s._check()


def test_head_inserts_with_equal_counter_order_by_actor_bytes():
    for order in ([A, B], [B, A]):
        s = Sequence(False)
        for actor in order:
            s.integrate_insert(None, 1, actor, [actor])
        assert s.values() == [B, A]


def test_skip_rule_skips_whole_subtrees():
    d = b"\x09"  # smaller than A
    # "ab" typed by A: ids (1,A) (2,A), so 'b' hangs under 'a'.
    ops = [
        ((1, A), 2, C, "X"),  # child of 'a', (2,C) > (2,A): before 'b'
        ((2, A), 3, A, "c"),  # child of 'b'
        ((2, A), 3, B, "Y"),  # child of 'b', (3,B) > (3,A): before 'c'
        ((1, A), 2, d, "Z"),  # child of 'a', (2,d) < (2,A): after b's whole subtree
    ]
    for perm in itertools.permutations(ops):
        s = Sequence(True)
        s.integrate_insert(None, 1, A, "ab")
        for ref, ctr, actor, ch in perm:
            s.integrate_insert(ref, ctr, actor, ch)
        s._check()
        assert s.text() == "aXbYcZ"


def test_insert_after_middle_of_run_splits_it():
    s = Sequence(True)
    s.integrate_insert(None, 1, A, "abcd")  # ids 1..4
    s.integrate_insert((2, A), 5, B, "X")  # after 'b'; (5,B) > (3,A) so before 'c'
    assert s.text() == "abXcd"
    s.integrate_insert((3, A), 1, C, "Y")  # a smaller id than 'd' (4,A): goes after it
    # 'c' has child 'd' (4,A) > (1,C): Y lands after d
    assert s.text() == "abXcdY"
    s._check()


# ---------------------------------------------------------------- remote delete


def test_remote_delete_idempotent_and_reports_indexes():
    s = Sequence(True)
    s.integrate_insert(None, 1, A, "hello")
    s.integrate_insert((5, A), 6, B, " world")
    before = s.text()
    out = s.remote_delete(2, A, 3, indexes=True)  # "ell"
    # replaying the reported (index, length) deletions on the old text gives the new text
    model = before
    for idx, n in out:
        model = model[:idx] + model[idx + n :]
    assert model == s.text() == "ho world"
    snapshot = _all_elements(s)
    again = s.remote_delete(2, A, 3, indexes=True)
    assert again == []
    assert _all_elements(s) == snapshot
    s._check()
    # overlapping delete: half already gone
    out = s.remote_delete(1, A, 5, indexes=True)
    model = "ho world"
    for idx, n in out:
        model = model[:idx] + model[idx + n :]
    assert model == s.text() == " world"
    s._check()


def test_remote_delete_across_runs_reports_each_part():
    s = Sequence(False)
    s.integrate_insert(None, 1, A, [1, 2, 3, 4, 5, 6])
    s.integrate_insert((3, A), 7, B, ["x", "y"])  # splits A's run: 1 2 3 x y 4 5 6
    assert s.values() == [1, 2, 3, "x", "y", 4, 5, 6]
    before = s.values()
    out = s.remote_delete(2, A, 4, indexes=True)  # 2 3 4 5
    model = list(before)
    for idx, n in out:
        del model[idx : idx + n]
    assert model == s.values() == [1, "x", "y", 6]
    s._check()


# ---------------------------------------------------------------- registers


def test_register_visibility():
    s = Sequence(False)
    s.integrate_insert(None, 1, A, ["a", "b", "c"])
    run = s.register_at(2, A)
    s._check()
    assert run.reg and run.n == 1 and s.values() == ["a", "b", "c"]
    assert isinstance(run.content[0], Register)
    assert run.content[0].entries == [(2, A, "b")]
    assert _n_runs(s) == 3

    s.set_register(run, [(2, A, "b"), (4, B, "B!")])
    assert s.values() == ["a", "B!", "c"] and len(s) == 3
    assert s.value_at(1) == "B!"
    s._check()

    s.set_register(run, [])
    assert s.values() == ["a", "c"] and len(s) == 2 and run.deleted
    s._check()

    s.set_register(run, [(6, C, "again")])
    assert s.values() == ["a", "again", "c"] and not run.deleted
    assert s.index_of(run) == 1
    s._check()

    # a register never merges with its neighbours, even when ids continue
    s.local_insert(3, 10, A, ["d"])
    s.local_insert(4, 11, A, ["e"])
    s._check()
    assert s.values() == ["a", "again", "c", "d", "e"]

    # deleting a register element reports its live entries, one by one
    out = s.local_delete(1, 1)
    assert len(out) == 1
    ctr, actor, what = out[0]
    assert (ctr, actor) == (2, A) and isinstance(what, Register)
    assert what.entries == [(6, C, "again")]
    assert s.values() == ["a", "c", "d", "e"]
    s._check()


def test_register_at_tombstone_stays_invisible():
    s = Sequence(False)
    s.integrate_insert(None, 1, A, [1, 2, 3])
    s.remote_delete(2, A, 1)
    run = s.register_at(2, A)
    assert run.deleted and run.content[0].entries == []
    assert s.values() == [1, 3]
    s._check()
    s.set_register(run, [(7, B, 22)])
    assert s.values() == [1, 22, 3]
    s._check()


def test_remote_delete_of_register_keeps_later_set():
    s = Sequence(False)
    s.integrate_insert(None, 1, A, ["x"])
    run = s.register_at(1, A)
    s.set_register(run, [(1, A, "x"), (2, B, "y")])
    s.remote_delete(1, A, 1)  # removes the insert op only: the set survives
    assert s.values() == ["y"]
    s._check()


@pytest.mark.parametrize("seed", range(3))
def test_find_answers_every_counter_present_or_not(seed: int) -> None:
    # runs of two actors with gaps between their counters, enough of them (> 2 * 256) that
    # the id index splits its sorted lists; the index is built half way through and kept
    # up to date after that
    rng = random.Random(seed)
    s = Sequence(True)
    owner: dict[tuple[int, bytes], int] = {}  # element id -> first counter of its run
    ctr = 1
    for i in range(1400):
        if i == 700:
            assert s.find(10**9, A) is None  # builds the index
        ctr += rng.randrange(1, 4)  # a gap: counters no element has
        n = rng.randrange(1, 4)
        actor = A if rng.random() < 0.7 else B
        s.local_insert(rng.randrange(s.vis + 1), ctr, actor, "x" * n)
        for k in range(n):
            owner[(ctr + k, actor)] = ctr
        ctr += n
    if rng.random() < 0.5:
        s.local_delete(0, s.vis // 2)  # tombstones are found too
    s._check()
    for actor in (A, B, b"\x0c"):
        for c in range(0, ctr + 3):
            run = s.find(c, actor)
            if (c, actor) in owner:
                assert run is not None and run.actor == actor and run.ctr <= c < run.ctr + run.n
            else:
                assert run is None


@pytest.mark.parametrize("remote", [False, True])
@pytest.mark.parametrize("indexed", [False, True])
def test_backspace_moves_each_element_into_the_tombstones(
    remote: bool, indexed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting the last element of a live run whose next run is the tombstones that
    continue it (typing, then backspace after backspace) moves the element into them: the
    elements, their flags and every id lookup are as a model says, with two runs in the
    end, also in a copy made half way (whose chunks are shared until written)."""
    moves: list[int] = []
    give_last = Run.give_last

    def counting(run: Run, right: Run) -> None:
        moves.append(run.ctr + run.n - 1)
        give_last(run, right)

    monkeypatch.setattr(Run, "give_last", counting)
    s = Sequence(True)
    s.integrate_insert(None, 1, A, "hello")
    if indexed:
        assert s.find(1, A) is not None  # (the id index is built at the first lookup)
    gone: set[int] = set()
    copy = None
    for ctr in (5, 4, 3, 2):
        if ctr == 3:
            copy = s.copy()
        if remote:  # (as the fast path does: the backspace if it is one, else as usual)
            run = s.find(ctr, A)
            assert run is not None
            if not s.remote_backspace(run):
                assert s.remote_delete(ctr, A, 1, indexes=True) == [(ctr - 1, 1)]
        else:
            assert s.local_delete(ctr - 1, 1) == [(ctr, A, 1)]
        gone.add(ctr)
        s._check()
        model = [(c, A, "hello"[c - 1], c in gone) for c in range(1, 6)]
        assert _all_elements(s) == model
        assert s.text() == "hello"[: ctr - 1]
        for c in range(1, 6):
            run = s.find(c, A)
            assert run is not None and run.ctr <= c < run.ctr + run.n
            assert run.deleted is (c in gone)
    assert len(list(s.runs())) == 2  # "h" and the tombstones "ello"
    # (4 and 2 moved; 3 too, but remotely the chunk was still shared with the copy then,
    # and remote_backspace leaves shared chunks to remote_delete, which copies them)
    assert moves == ([4, 2] if remote else [4, 3, 2])
    assert copy is not None
    copy._check()
    assert copy.text() == "hel"  # (untouched by the deletes made after it)
    copy.remote_delete(3, A, 1)
    copy._check()
    assert copy.text() == "he" and s.text() == "h"


@pytest.mark.parametrize("remote", [False, True])
@pytest.mark.parametrize("indexed", [False, True])
@pytest.mark.parametrize("fork_at", [None, 0, 2])
def test_forward_delete_moves_each_element_into_the_tombstones(
    remote: bool, indexed: bool, fork_at: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting, again and again, the element at one position (the delete key held down)
    deletes the first element of a live run whose run before is the tombstones it
    continues: the element moves into them, locally or as a peer's delete by id
    (``remote_forward``, as the fast path calls it).  The elements, their flags, every id
    lookup and the text are as a model says, with two runs of the word in the end; a copy
    made on the way keeps its text and can go on deleting too."""
    moves: list[int] = []
    take_first = Run.take_first

    def counting(run: Run, right: Run) -> None:
        moves.append(right.ctr)
        take_first(run, right)

    monkeypatch.setattr(Run, "take_first", counting)
    s = Sequence(True)
    s.integrate_insert(None, 1, A, "xhello")  # "x" (1), then "hello" (2..6)
    if indexed:
        assert s.find(1, A) is not None  # (the id index is built at the first lookup)
    gone: set[int] = set()
    copy = None
    for step, ctr in enumerate((2, 3, 4, 5)):
        if step == fork_at:
            copy = s.copy()
        if remote:  # (as the fast path does: the forward delete if it is one, else as usual)
            run = s.find(ctr, A)
            assert run is not None
            if not s.remote_forward(run):
                assert s.remote_delete(ctr, A, 1, indexes=True) == [(1, 1)]
        else:
            assert s.local_delete(1, 1) == [(ctr, A, 1)]
        gone.add(ctr)
        s._check()
        model = [(c, A, "xhello"[c - 1], c in gone) for c in range(1, 7)]
        assert _all_elements(s) == model
        assert s.text() == "x" + "hello"[step + 1 :]
        for c in range(1, 7):
            run = s.find(c, A)
            assert run is not None and run.ctr <= c < run.ctr + run.n
            assert run.deleted is (c in gone)
    # "x", the tombstones "hell", "o"
    assert [(r.ctr, r.n, r.deleted) for r in s.runs()] == [
        (1, 1, False),
        (2, 4, True),
        (6, 1, False),
    ]
    if copy is None:  # the last element goes the usual way (a run of one cannot give one)
        assert s.local_delete(1, 1) == [(6, A, 1)]
        s._check()
        assert [(r.ctr, r.n, r.deleted) for r in s.runs()] == [(1, 1, False), (2, 5, True)]
        assert s.text() == "x"
    # 2 is split off (nothing before it is a tombstone yet); 3, 4, 5 move, but remotely
    # 4 not when the chunk is still shared with the copy made just before (remote_forward
    # leaves shared chunks to remote_delete, which copies them)
    assert moves == ([3, 5] if remote and fork_at == 2 else [3, 4, 5])
    if copy is not None:
        copy._check()
        assert copy.text() == "x" + "hello"[fork_at:]
        copy.local_delete(1, 1)
        copy._check()
        assert copy.text() == "x" + "hello"[fork_at + 1 :]
        assert s.text() == "xo"


def test_a_peers_forward_delete_leaves_no_stale_position() -> None:
    """Reads by position cache the run and the chunk they found (``_rc``, ``_cur``); a
    peer's forward delete shifts every element after it by one, in its chunk and in the
    chunks after: every read by position afterwards is right, the cached ones first."""
    s = Sequence(True)
    s.integrate_insert(None, 1, A, "xhello")
    for i in range(3 * MAX_RUNS):  # runs that do not merge: chunks after the first
        s.local_insert(s.vis, 10 + i, B if i % 2 else C, "ab"[i % 2])
    s.local_delete(1, 1)  # the "h": a tombstone run before "ello", which it continues
    model = list(s.text())
    far = len(model) - 2
    assert s.element_at(8)[0].chunk is s.head
    assert s.element_at(far)[0].chunk is not s.head  # (cursor and run cache: a later chunk)
    run = s.find(3, A)
    assert run is not None and s.remote_forward(run)
    del model[1]
    s._check()
    for i in (far - 1, far, 7, *range(len(model))):
        r, off = s.element_at(i)
        assert r.content[off] == model[i]


def test_forward_delete_into_another_actors_tombstones_splits() -> None:
    """Tombstones of another actor before the run do not continue it, nor tombstones whose
    counters stop short of it: no move, and the element is split off as before."""
    s = Sequence(True)
    s.integrate_insert(None, 1, B, "q")
    s.integrate_insert((1, B), 2, A, "ab")
    s.remote_delete(1, B, 1)
    run = s.find(2, A)
    assert run is not None and not s.remote_forward(run)
    assert s.local_delete(0, 1) == [(2, A, 1)]
    s._check()
    run = s.find(2, A)  # (a deleted run: no forward delete either)
    assert run is not None and run.deleted and not s.remote_forward(run)
    assert _all_elements(s) == [(1, B, "q", True), (2, A, "a", True), (3, A, "b", False)]
    assert [r.n for r in s.runs()] == [1, 1, 1]
    t = Sequence(True)
    t.integrate_insert(None, 1, A, "ab")
    t.integrate_insert((2, A), 4, A, "cd")  # (a gap: counter 3 is no element's)
    t.local_delete(1, 1)
    run = t.find(4, A)
    assert run is not None and not t.remote_forward(run)
    assert t.local_delete(1, 1) == [(4, A, 1)]
    t._check()
    assert [(r.ctr, r.n, r.deleted) for r in t.runs()] == [
        (1, 1, False),
        (2, 1, True),
        (4, 1, True),
        (5, 1, False),
    ]
    # nor the tombstones at the end of the chunk, when the run is its first
    u = Sequence(True)
    u.local_insert(0, 3, A, "cd")
    u.local_insert(0, 5, A, "ef")  # "efcd": the runs ef (5), cd (3)
    u.local_delete(2, 2)  # cd is the chunk's last run, and continues into ef's counters
    run = u.find(5, A)
    assert run is not None and not u.remote_forward(run)
    assert u.local_delete(0, 1) == [(5, A, 1)]
    u._check()
    assert _all_elements(u) == [
        (5, A, "e", True),
        (6, A, "f", False),
        (3, A, "c", True),
        (4, A, "d", True),
    ]
    # nor a register's tombstone (a list element once set, then deleted)
    v = Sequence(False)
    v.local_insert(0, 1, A, [10, 20, 30])
    reg = v.register_at(1, A)
    v.set_register(reg, [])
    assert v.local_delete(0, 1) == [(2, A, 1)]
    v._check()
    assert [(r.ctr, r.n, r.deleted, r.reg) for r in v.runs()] == [
        (1, 1, True, True),
        (2, 1, True, False),
        (3, 1, False, False),
    ]


def test_a_delete_leaves_the_position_cache_on_the_run_before_it() -> None:
    """After a delete the next edit looks at the run that ends where the deletion began:
    typing in place of what went, or a backspace, finds it without walking the chunk, and
    every read by position stays right."""
    s = Sequence(True)
    s.local_insert(0, 1, A, "hello world")
    s.local_insert(5, 20, B, ",")  # "hello, world": three runs
    s.local_delete(7, 3)  # "hello, ld"
    rc = s._rc
    assert rc is not None and rc[0].content == " " and rc[3] == 6
    s._check()
    s.local_insert(7, 30, A, "wor")
    assert s.text() == "hello, world"
    s.local_delete(6, 1)  # a delete whose first run starts at ``pos``: the run before
    s._check()
    rc = s._rc
    assert rc is not None and rc[0].content == "," and rc[3] == 5
    assert s.local_delete(5, 1) == [(20, B, 1)]
    s._check()
    assert s.text() == "helloworld"
    for i, ch in enumerate("helloworld"):
        run, off = s.element_at(i)
        assert run.content[off] == ch


def test_backspace_into_another_actors_tombstones_splits() -> None:
    """Tombstones of another actor after the run do not continue it: no backspace, and the
    element is split off as before."""
    s = Sequence(True)
    s.integrate_insert(None, 1, A, "ab")
    s.integrate_insert((2, A), 3, B, "x")
    s.remote_delete(3, B, 1)
    run = s.find(2, A)
    assert run is not None and not s.remote_backspace(run)
    s.remote_delete(2, A, 1)
    s._check()
    assert _all_elements(s) == [(1, A, "a", False), (2, A, "b", True), (3, B, "x", True)]
    assert [r.n for r in s.runs()] == [1, 1, 1]


@pytest.mark.parametrize("seed", range(6))
def test_typing_run_extends_as_integrate_insert_would(seed: int) -> None:
    """A peer typing on the heads (each insert newer than every element, after the
    author's own element just before it): where typing_run names a run, extend_typing
    gives the elements integrate_insert gives in a twin; where it names none, the element
    is not the end of the live run the last remote insert went into (another actor's,
    deleted, not its last element, or a delete came between)."""
    rng = random.Random(seed)
    s, twin = Sequence(True), Sequence(True)
    s.integrate_insert(None, 1, A, "ab")
    twin.integrate_insert(None, 1, A, "ab")
    ctr = 3
    named = 0
    for _ in range(300):
        actor = A if rng.random() < 0.7 else B
        els = _all_elements(s)
        r = rng.random()
        if r < 0.15:
            live = [e for e in els if not e[3]]
            if live:
                c, a, _, _ = rng.choice(live)
                for q in (s, twin):
                    q.remote_delete(c, a, 1)
            continue
        # mostly the element just made (typing), else any element
        c, a = (ctr - 1, actor) if r < 0.75 else rng.choice(els)[:2]
        if s.find(c, a) is None:
            c, a = rng.choice(els)[:2]
        ic = s._ic
        expect = (
            ic is not None
            and ic.actor == a
            and ic.ctr + ic.n - 1 == c
            and not ic.deleted
            and not ic.reg
        )
        run = s.typing_run(c, a)
        assert (run is ic) if expect else (run is None)
        text = "xy"[: rng.randint(1, 2)]
        if run is not None and a == actor and c == ctr - 1:
            s.extend_typing(run, text)
            named += 1
        else:
            s.integrate_insert((c, a), ctr, actor, text)
        twin.integrate_insert((c, a), ctr, actor, text)
        ctr += len(text)
        s._check()
        assert _all_elements(s) == _all_elements(twin)
        assert s.text() == twin.text() and len(s) == len(twin)
    assert named > 50
