"""Shared test helpers.  Functions are only ever appended, each with a distinct name.

Random editing and syncing of replicas (used by test_convergence.py and test_fuzz.py)
---------------------------------------------------------------------------------------
The edit and sync functions take a *picker*: an object with ``choice(seq)``,
``integer(lo, hi)``, ``chance(p)``, ``text(max_len)``, ``scalar()``, ``shuffle(lst)``.
:class:`RandomPicker` draws from ``random.Random`` (the seeded fuzzer), and
``test_convergence.DataPicker`` from hypothesis' ``st.data()`` (so failures shrink).
Targets are always taken from the replica's current state, so every edit is valid.

Corrupted changes (used by test_fuzz.py and storage/test_store_fuzz.py)
-----------------------------------------------------------------------
:func:`corrupt_change` makes a valid change invalid in one of many ways no receiver may
accept, each named in the description it returns.
"""

from __future__ import annotations

import copy
import os
import random
import time
from typing import Any

import msgpack
import pytest

from crdt import Counter, Doc, List, Map, Text
from crdt.change import decode_change, encode_change
from crdt.op import DEL, INC, INS, INS_MAKE, MAKE, REM, SET, op_size

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# few keys, so concurrent writers collide on them
EDIT_KEYS = ("a", "b", "c", "k", "ключ", "🔑")
# code points that stress UTF-8 and code-point counting: astral, combining, ZWJ, CJK
EDIT_ALPHABET = "abcxyz \n\té\u00df\u4e2d\u6587\U0001f600\U0001f44d\u0301\u200d\U00010348"


class RandomPicker:
    """A picker backed by ``random.Random`` (reproducible from a seed)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def choice(self, seq: Any) -> Any:
        return self.rng.choice(list(seq))

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def text(self, max_len: int) -> str:
        n = self.rng.randint(0, max_len)
        return "".join(self.rng.choice(EDIT_ALPHABET) for _ in range(n))

    def shuffle(self, lst: list[Any]) -> list[Any]:
        out = list(lst)
        self.rng.shuffle(out)
        return out

    def scalar(self) -> Any:
        r = self.rng
        kind = r.randrange(8)
        if kind == 0:
            return r.choice([0, 1, -1, INT64_MIN, INT64_MAX, r.randint(-1000, 1000)])
        if kind == 1:
            return r.choice([0.5, -0.0, 1e300, -2.25, r.uniform(-1e6, 1e6), float("inf")])
        if kind == 2:
            return r.random() < 0.5
        if kind == 3:
            return None
        if kind == 4:
            return self.text(4)
        if kind == 5:
            return r.randbytes(r.randint(0, 4))
        if kind == 6:
            return Counter(r.randint(-100, 100))
        return r.randint(-(2**40), 2**40)


def edit_objects(doc: Doc) -> list[tuple[str, Any]]:
    """Every live object of ``doc`` as ``(kind, view)``, kind in map/list/text, root first."""
    out: list[tuple[str, Any]] = []
    stack: list[Any] = [doc.root]
    while stack:
        v = stack.pop()
        if isinstance(v, Map):
            out.append(("map", v))
            stack.extend(v[k] for k in v)
        elif isinstance(v, List):
            out.append(("list", v))
            stack.extend(v[i] for i in range(len(v)))
        elif isinstance(v, Text):
            out.append(("text", v))
    return out


def edit_counters(objs: list[tuple[str, Any]]) -> list[tuple[Any, Any]]:
    """``(container view, key or index)`` of every visible :class:`Counter`."""
    out: list[tuple[Any, Any]] = []
    for kind, v in objs:
        if kind == "map":
            out.extend((v, k) for k in v if isinstance(v[k], Counter))
        elif kind == "list":
            out.extend((v, i) for i in range(len(v)) if isinstance(v[i], Counter))
    return out


def edit_random(doc: Doc, pick: Any) -> str:
    """Make one random valid edit on ``doc`` through the container views; returns a
    description.  Uses the open transaction if any (the caller decides)."""
    objs = edit_objects(doc)
    counters = edit_counters(objs)
    kinds = ["map_put", "map_put", "map_make", "list_insert", "text_splice", "text_splice"]
    kinds += ["map_delete"] * any(k == "map" and len(v) for k, v in objs)
    kinds += ["list_set", "list_delete"] * any(k == "list" and len(v) for k, v in objs)
    kinds += ["increment"] * bool(counters)
    what = pick.choice(kinds)
    if what == "increment":
        cont, key = pick.choice(counters)
        delta = pick.integer(-50, 50)
        cont.increment(key, delta)
        return f"increment {key!r} by {delta}"
    if what in ("map_put", "map_make", "map_delete"):
        m = pick.choice([v for k, v in objs if k == "map" and (what != "map_delete" or len(v))])
        if what == "map_delete":
            key = pick.choice(list(m))
            del m[key]
            return f"del map[{key!r}]"
        key = pick.choice(EDIT_KEYS)
        if what == "map_put":
            val = pick.scalar()
            m[key] = val
            return f"map[{key!r}] = {val!r}"
        sub = pick.choice(["map", "list", "text", "literal"])
        if sub == "map":
            m.make_map(key)
        elif sub == "list":
            m.make_list(key)
        elif sub == "text":
            m.make_text(key, pick.text(4))
        else:
            m[key] = {"x": pick.scalar(), "l": [pick.scalar(), pick.scalar()]}
        return f"make {sub} at map[{key!r}]"
    if what in ("list_insert", "list_set", "list_delete"):
        lists = [v for k, v in objs if k == "list" and (what == "list_insert" or len(v))]
        if not lists:  # no list yet: make one
            m = pick.choice([v for k, v in objs if k == "map"])
            key = pick.choice(EDIT_KEYS)
            m.make_list(key)
            return f"make list at map[{key!r}]"
        lst = pick.choice(lists)
        n = len(lst)
        if what == "list_insert":
            i = pick.integer(0, n)
            sub = pick.choice(["scalar", "scalar", "scalar", "map", "list", "text"])
            if sub == "scalar":
                val = pick.scalar()
                lst.insert(i, val)
                return f"list.insert({i}, {val!r})"
            if sub == "map":
                lst.insert_map(i)
            elif sub == "list":
                lst.insert_list(i)
            else:
                lst.insert_text(i, pick.text(3))
            return f"list insert {sub} at {i}"
        i = pick.integer(0, n - 1)
        if what == "list_set":
            val = pick.scalar()
            lst[i] = val
            return f"list[{i}] = {val!r}"
        cnt = pick.integer(1, min(3, n - i))
        lst.delete(i, cnt)
        return f"list.delete({i}, {cnt})"
    # text_splice
    texts = [v for k, v in objs if k == "text"]
    if not texts:
        m = pick.choice([v for k, v in objs if k == "map"])
        key = pick.choice(EDIT_KEYS)
        m.make_text(key, pick.text(6))
        return f"make text at map[{key!r}]"
    t = pick.choice(texts)
    n = len(t)
    pos = pick.integer(0, n)
    dl = pick.integer(0, min(4, n - pos))
    ins = pick.text(6)
    t.splice(pos, dl, ins)
    return f"text.splice({pos}, {dl}, {ins!r})"


def change_hash_of(raw: bytes) -> bytes:
    """A change's identity, computed here independently: BLAKE2b-256 of its bytes."""
    import hashlib

    return hashlib.blake2b(raw, digest_size=32).digest()


def change_header(raw: bytes) -> tuple[bytes, int, int]:
    """``(actor, seq, start_op)`` read straight from a change's msgpack bytes."""
    top = msgpack.unpackb(raw, raw=False)
    return top[1], top[2], top[3]


def sync_lossy(src: Doc, dst: Doc, pick: Any, *, lossy: bool) -> None:
    """Deliver ``src``'s changes to ``dst`` as bytes: a full or a since-heads batch,
    shuffled, with duplicates, split into several ``apply_changes`` calls, and (if
    ``lossy``) with some changes dropped.  ``dst`` must have no open transaction."""
    changes = src.get_changes(dst.heads) if pick.chance(0.5) else src.get_changes()
    msgs = list(changes)
    if msgs and pick.chance(0.3):
        msgs += [pick.choice(changes) for _ in range(pick.integer(1, 3))]  # duplicates
    if pick.chance(0.7):
        msgs = pick.shuffle(msgs)
    if lossy and msgs:
        msgs = [m for m in msgs if not pick.chance(0.3)]
    cuts = sorted(pick.integer(0, len(msgs)) for _ in range(pick.integer(0, 2)))
    start = 0
    for cut in [*cuts, len(msgs)]:
        dst.apply_changes(msgs[start:cut])
        start = cut


def sync_until_quiescent(docs: list[Doc], max_rounds: int = 10) -> None:
    """Reliable all-pairs sync until no replica learns anything; asserts it converged."""
    for _ in range(max_rounds):
        before = [tuple(d.heads) for d in docs]
        for src in docs:
            for dst in docs:
                if src is not dst:
                    dst.apply_changes(src.get_changes(dst.heads))
        if [tuple(d.heads) for d in docs] == before:
            break
    heads = {tuple(d.heads) for d in docs}
    assert len(heads) == 1, f"replicas did not converge on heads: {heads}"
    assert all(d.pending == 0 for d in docs), [d.pending for d in docs]


def assert_converged(docs: list[Doc], pick: Any) -> None:
    """After a full sync: equal values and heads on every replica, and a fresh document
    that receives every change one by one in a random order (out of order: buffered)
    reaches the same value and heads; so does a save/load round trip."""
    for d in docs:
        d._check()
    values = [d.to_py() for d in docs]
    for i, v in enumerate(values[1:], 1):
        assert v == values[0], f"replica {i} differs from replica 0:\n{v!r}\n!=\n{values[0]!r}"
    heads = docs[0].heads
    changes = docs[0].get_changes()
    # every change any replica holds is in replica 0's history (hashes computed here)
    known = {change_hash_of(c) for c in changes}
    for d in docs[1:]:
        assert {change_hash_of(c) for c in d.get_changes()} == known
    fresh = Doc(b"\xfe" * 16)
    for raw in pick.shuffle(changes):
        fresh.apply_changes([raw])
    assert fresh.pending == 0
    fresh._check()
    assert fresh.heads == heads
    assert fresh.to_py() == values[0]
    loaded = Doc.load(docs[-1].save())
    assert loaded.heads == heads
    assert loaded.to_py() == values[0]


def history_state(h: Any) -> Any:
    """Everything a ``History`` holds, in comparable form: hashes, bytes and the compressed
    blocks, every per-change array, the per-actor lists, the heads in their order, the
    cached clocks."""
    return (
        bytes(h.index.buf),
        h.raws(),
        list(h._raw.blocks),
        list(h._raw.off),
        list(h.actor),
        list(h.start),
        list(h.n_ops),
        list(h._dep1),
        list(h.covered),
        dict(h._deps_many),
        {a: list(nums) for a, nums in h.by_actor.items()},
        list(h._heads.items()),
        {i: dict(c) for i, c in h._clocks.items()},
    )


def sequence_elements(d: Doc) -> dict[Any, list[tuple[int, bytes, bool, Any]]]:
    """Per text or list object of ``d``, every element in order, tombstones included, as
    ``(counter, actor, deleted, value)``: the ids a document gives its elements, which
    its visible content does not show (a written list element: its register's entries,
    none once it is removed)."""
    from crdt.sequence import Sequence

    out: dict[Any, list[tuple[int, bytes, bool, Any]]] = {}
    for obj, st in d._opset.objs.items():
        seq = st.data
        if isinstance(seq, Sequence):
            out[obj] = [
                (r.ctr + i, r.actor, r.deleted, r.content[i].entries if r.reg else r.content[i])
                for r in seq.runs()
                for i in range(r.n)
            ]
    return out


def replay_patches(value: Any, patches: Any) -> Any:
    """Apply patches to a copy of a document's plain-Python value (``Doc.to_py()``): what
    a view kept up to date by an observer shows."""
    root = copy.deepcopy(value)
    for p in patches:
        parent, pkey, cur = None, None, root
        for k in p.path:
            parent, pkey, cur = cur, k, cur[k]
        if isinstance(cur, str):
            if p.action == "splice":
                new = cur[: p.key] + p.value + cur[p.key :]
            elif p.action == "delete":
                new = cur[: p.key] + cur[p.key + p.length :]
            else:
                raise AssertionError(f"bad text patch {p}")
            parent[pkey] = new
        elif isinstance(cur, dict):
            if p.action == "put":
                cur[p.key] = copy.deepcopy(p.value)
            elif p.action == "delete":
                del cur[p.key]
            else:
                raise AssertionError(f"bad map patch {p}")
        else:
            assert isinstance(cur, list), p
            if p.action == "put":
                assert 0 <= p.key < len(cur), p
                cur[p.key] = copy.deepcopy(p.value)
            elif p.action == "insert":
                assert 0 <= p.key <= len(cur), p
                cur[p.key : p.key] = copy.deepcopy(p.value)
            elif p.action == "delete":
                assert 0 <= p.key and p.key + p.length <= len(cur), p
                del cur[p.key : p.key + p.length]
            else:
                raise AssertionError(f"bad list patch {p}")
    return root


def corrupt_change(raw: bytes, pick: RandomPicker) -> tuple[str, bytes]:
    """``raw`` (a valid change) made invalid, in a way no receiver may accept: cut short, a
    byte too many, a value in a longer form than the shortest (:func:`widen_change`), a field of
    the wire form broken (:func:`tamper_change`), the next seq or start op claimed, or one op,
    at random, naming an object or element no change has made yet, a pred not before it,
    or content of the other kind.  The last three are well-formed changes with their own
    hash, which fail only when applied, op by op; the fast path takes them as far as it
    would a valid one.  Returns a description and the bytes."""
    kinds = ["truncate", "trailing", "wide", "wide", "tamper", "tamper", "seq", "start_op"]
    kind = pick.choice([*kinds, "op", "op", "op", "op"])
    if kind == "truncate":
        return kind, raw[: pick.integer(1, len(raw) - 1)]
    if kind == "trailing":
        return kind, raw + b"\xc0"
    if kind == "wide":
        return widen_change(raw, pick)
    if kind == "tamper":
        return tamper_change(raw, pick)
    u = decode_change(raw)
    seq, start, ops = u.seq, u.start_op, list(u.ops)
    if kind == "seq":
        seq += 1  # (a gap: the author's change before it is not in its past)
    elif kind == "start_op" or not ops:
        kind, start = "start_op", start + 1
    else:
        i = pick.integer(0, len(ops) - 1)
        op = list(ops[i])
        far = (u.start_op + u.n_ops + 1000, u.actor)  # (made by no change yet)
        ways = ["object"]
        if op[0] in (INS, INS_MAKE, REM):
            ways.append("element")
        if op[0] in (SET, MAKE, INC, DEL):
            ways.append("pred")
        if op[0] == INS:
            ways.append("content")
        how = pick.choice(ways)
        if how == "object":
            op[1] = far
        elif how == "element":
            op[2] = far
        elif how == "pred":  # the op itself: a pred must come before the op
            op[3 if op[0] == DEL else 4] = ((start + sum(map(op_size, ops[:i])), u.actor),)
        else:  # text content into a list, or list content into a text (as many elements)
            op[3] = [0] * len(op[3]) if type(op[3]) is str else "x" * len(op[3])
        ops[i] = tuple(op)
        kind = f"op {i} of {len(ops)} ({how})"
    bad, _ = encode_change(u.actor, seq, start, u.time, u.message, u.deps, ops)
    return kind, bad


def tamper_change(raw: bytes, pick: RandomPicker) -> tuple[str, bytes]:
    """``raw`` with a field of its wire form, at random, broken in a way the grammar or
    the actor table's rules refuse, and encoded again in canonical form: an op id naming
    an actor past the table or counter 0, an op's action unknown or a field too many or
    too few, the table naming an actor no op uses or the author or out of order, the deps
    out of order or repeated or a hash too short, an unknown format version.  Returns a
    description and the bytes."""
    top = msgpack.unpackb(raw, raw=False)
    author, deps, table, ops = top[1], top[6], top[7], top[8]
    ids = [op[k] for op in ops for k in (1, 2) if type(op[k]) is list and len(op[k]) == 2]
    ids += [p for op in ops if op[0] in (SET, DEL, MAKE, INC) for p in op[-1]]
    ways = ["unused actor", "author in table", "deps", "version"]
    if ids:
        ways += ["actor index", "actor index", "counter 0"]
    if ops:
        ways += ["action", "arity", "arity"]
    if len(table) > 1:
        ways.append("table order")
    how = pick.choice(ways)
    if how == "actor index":
        pick.choice(ids)[1] = len(table) + pick.integer(1, 3)
    elif how == "counter 0":
        pick.choice(ids)[0] = 0
    elif how == "action":
        pick.choice(ops)[0] = pick.choice([7, 8, 127, -1])
    elif how == "arity":
        op = pick.choice(ops)
        if pick.chance(0.5):
            op.append(None)
        else:
            op.pop()
    elif how == "unused actor":
        new = author + b"\x00"
        while new in table:
            new += b"\x00"
        table[:] = sorted([*table, new])
    elif how == "author in table":
        table[:] = sorted([*table, author])
    elif how == "table order":
        table.reverse()
    elif how == "deps":
        if len(deps) > 1:
            deps.reverse()
        elif deps:
            deps.append(deps[0])
        else:
            deps.append(b"\x00" * 31)
    else:
        top[0] += 1
    return f"tamper ({how})", msgpack.packb(top, use_bin_type=True)


def widen_change(raw: bytes, pick: RandomPicker) -> tuple[str, bytes]:
    """``raw`` with one of its ints, strs, bins or array headers, at random, in another
    msgpack form than the shortest: the same value in bytes that a canonical decoder must
    refuse (SPEC.md, D11).  Returns a description and the bytes."""
    top = msgpack.unpackb(raw, raw=False)
    items: list[Any] = []  # every int, str, bin and array, in the order they are written

    def walk(v: Any) -> None:
        if type(v) in (int, str, bytes, list):
            items.append(v)
        if type(v) is list:
            for x in v:
                walk(x)

    walk(top)
    can = [k for k, v in enumerate(items) if len(msgpack_forms(v)) > 1]
    target = pick.choice(can)
    # (the next longer form most often: the one a grammar that is off by one accepts)
    form = 1 if pick.chance(0.7) else pick.integer(1, len(msgpack_forms(items[target])) - 1)
    at = [0]

    def pack(v: Any, wide: bool) -> bytes:
        t = type(v)
        if t not in (int, str, bytes, list):
            return msgpack.packb(v, use_bin_type=True)  # type: ignore[no-any-return]
        head = msgpack_forms(v)[form if wide and at[0] == target else 0]
        at[0] += 1
        if t is int:
            return head
        if t is list:
            return head + b"".join([pack(x, wide) for x in v])
        return head + (v.encode() if t is str else v)

    assert pack(top, False) == raw  # (the re-encoding is exact: the shortest forms)
    at[0] = 0
    kind = f"wide {type(items[target]).__name__} (item {target} of {len(items)}, form {form})"
    return kind, pack(top, True)


def msgpack_forms(v: Any) -> list[bytes]:
    """Every msgpack form of int ``v`` (whole), or of the header of str, bin or array ``v``,
    the shortest (canonical) first: unsigned before signed for an int >= 0."""
    t = type(v)
    if t is int:
        forms = [bytes([v & 0xFF])] if -32 <= v < 128 else []
        for code, size in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
            if 0 <= v < 1 << (8 * size):
                forms.append(bytes([code]) + v.to_bytes(size, "big"))
        for code, size in ((0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)):
            if -(1 << (8 * size - 1)) <= v < 1 << (8 * size - 1):
                forms.append(bytes([code]) + v.to_bytes(size, "big", signed=True))
        return sorted(forms, key=len)  # (stable: unsigned first among forms as long)
    n = len(v.encode()) if t is str else len(v)
    fix, codes = {
        str: ((32, 0xA0), ((0xD9, 1), (0xDA, 2), (0xDB, 4))),
        bytes: ((0, 0), ((0xC4, 1), (0xC5, 2), (0xC6, 4))),
        list: ((16, 0x90), ((0xDC, 2), (0xDD, 4))),
    }[t]
    heads = [bytes([fix[1] | n])] if n < fix[0] else []
    return heads + [bytes([c]) + n.to_bytes(k, "big") for c, k in codes if n < 1 << (8 * k)]


def fuzz_seeds(switch: str, name: str, run: Any, how: str) -> None:
    """The loop of a fuzzer's ``fuzz_forever`` test: skip unless the environment variable
    ``switch`` is 1; else ``run(seed)`` from ``FUZZ_SEED`` (default: random) on, seed after
    seed, until ``FUZZ_SECONDS`` (default: until interrupted), printing progress as
    ``name`` and, on a failure, the seed and ``how`` to reproduce it (``{seed}`` in it is
    the seed)."""
    if os.environ.get(switch) != "1":
        pytest.skip(f"set {switch}=1 to fuzz until interrupted (or FUZZ_SECONDS)")
    seconds = float(os.environ.get("FUZZ_SECONDS", "inf"))
    seed = int(os.environ.get("FUZZ_SEED", str(random.randrange(2**32))))
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline:
        try:
            run(seed)
        except BaseException:
            print(
                f"\n{name}: FAILING SEED {seed} (after {done} passing seeds); reproduce with "
                + how.format(seed=seed),
                flush=True,
            )
            raise
        done += 1
        if done % 100 == 0:
            print(f"{name}: {done} seeds passed (last {seed})", flush=True)
        seed += 1
    print(f"{name}: {done} seeds passed")


def break_causality(
    history: list[bytes],
    raw: bytes,
    pick: RandomPicker,
    has: Any = None,
    order: list[bytes] | None = None,
) -> tuple[str, bytes] | None:
    """``raw`` (a valid change of ``history``) with one op made to name what a change of
    ``history`` *outside its causal past* made: an element (an insert's reference, a
    remove's first element, a list key), an object, or a pred, each with a counter below
    the op's own and of the right kind, so that the change breaks rule V8 of SPEC.md (a
    change names only what its causal past made) and no other rule on a replica that has
    that other change.  Such a change is well formed, with its own hash; a replica that has
    the other change must still refuse it (one that lacks it refuses it as naming an
    unknown id), or replicas that have it and replicas that do not would diverge.

    ``history``: the sender's changes and, to name, the receiver's that the sender lacks;
    ``has(hash)``: whether the receiver has a change, if known; ``order``: the hashes of
    its changes in its order, if known.  The other change is one the receiver has 8 times
    in 10, if there is one (where only V8 refuses the change), and then half the time, if
    it can be, the one the receiver got just before one of the change's deps (where a
    dep's past, told by the prefix of the receiver's changes it holds, ends); it is drawn
    before what of it to name (a long insert would draw most names), and then half
    the time its first op, if the change can name it.  Worked out
    from the changes alone, not from any replica's state.  Returns a description and the
    bytes; None if no op of ``raw`` can be bent so (nothing concurrent with it was made
    before its ops)."""
    us = {u.hash: u for u in map(decode_change, history)}
    u = decode_change(raw)
    past = reachable(us, u.deps)
    kinds: dict[Any, Any] = {None: "map"}  # every object's type, by its id
    elems: dict[Any, list[tuple[int, bytes, int, bytes]]] = {}  # obj: runs made outside
    objs: dict[Any, list[tuple[Any, bytes]]] = {}  # type: objects made outside
    vals: list[tuple[int, bytes, Any, Any, bytes]] = []  # value ops at keys made outside
    for c in us.values():
        outside = c.hash not in past and c.hash != u.hash
        ctr = c.start_op
        for op in c.ops:
            a = op[0]
            if a in (MAKE, INS_MAKE):
                kinds[(ctr, c.actor)] = op[3].name
                if outside:
                    objs.setdefault(op[3].name, []).append(((ctr, c.actor), c.hash))
            if outside and a in (INS, INS_MAKE):
                n = len(op[3]) if a == INS else 1
                elems.setdefault(op[1], []).append((ctr, c.actor, n, c.hash))
            if outside and a in (SET, MAKE, INC) and type(op[2]) is str:
                vals.append((ctr, c.actor, op[1], op[2], c.hash))
            ctr += op_size(op)
    # by the change that made it: (op index, what is bent, the id it then names)
    ways: dict[bytes, list[tuple[int, str, Any]]] = {}
    ctr = u.start_op
    for i, op in enumerate(u.ops):
        a, obj = op[0], op[1]
        # each run's elements with counters below this op's
        span = [(c, who, min(n, ctr - c), h) for c, who, n, h in elems.get(obj, ()) if c < ctr]
        need = 1
        if a == REM:  # (every element of the range made, outside or not: only V8 broken)
            need = op[3]
        if a in (INS, INS_MAKE, REM) or (a in (SET, DEL, MAKE, INC) and type(op[2]) is tuple):
            for c, who, n, h in span:
                elements = [(i, "element", (c + k, who)) for k in range(n - need + 1)]
                ways.setdefault(h, []).extend(elements)
        if (a == INS and op[2] is None) or (a in (SET, MAKE, INC) and type(op[2]) is str):
            for o, h in objs.get(kinds.get(obj), ()):
                if o[0] < ctr:
                    ways.setdefault(h, []).append((i, "object", o))
        if a in (SET, DEL, MAKE, INC) and type(op[2]) is str:
            # a write at the same key first: it would take a concurrent value for its own
            same = [v for v in vals if v[0] < ctr and (v[2], v[3]) == (obj, op[2])]
            for c, who, _, _, h in same or [v for v in vals if v[0] < ctr]:
                ways.setdefault(h, []).append((i, "pred", (c, who)))
        ctr += op_size(op)
    ways = {h: w for h, w in ways.items() if w}
    if not ways:
        return None
    known = [h for h in ways if has is not None and has(h)]
    pool = known if known and pick.chance(0.8) else sorted(ways)
    # half the time, if it can, the change the receiver got just before a dep: the edge of
    # what the dep's past holds of the receiver's changes in the order it has them
    edge = {order[k - 1] for k, x in enumerate(order or ()) if k and x in u.deps}
    near = [h for h in pool if h in edge]
    h = pick.choice(near if near and pick.chance(0.5) else pool)
    # half the time, if it can, the other change's first op: the id one past the ops of
    # the change before it by that author, where an off-by-one in the check would show
    first = [w for w in ways[h] if w[2][0] == us[h].start_op]
    i, how, named = pick.choice(first if first and pick.chance(0.5) else ways[h])
    ops = list(u.ops)
    op: list[Any] = list(ops[i])
    if how == "element":
        op[2] = named
    elif how == "object":
        op[1] = named
        if op[0] != INS:
            op[-1] = ()  # (no pred: the object's keys are not this op's to name)
    else:
        op[-1] = (named,)
    ops[i] = tuple(op)
    bad, _ = encode_change(u.actor, u.seq, u.start_op, u.time, u.message, u.deps, ops)
    where = "the receiver has it" if has is not None and has(h) else "the receiver lacks it"
    what = f"{how} {named[0]}@{named[1].hex()}"
    return f"causality: op {i} of {len(ops)} names the {what} ({where})", bad


def skip_authors_change(
    history: list[bytes], raw: bytes, pick: RandomPicker, avail: Any
) -> tuple[str, bytes] | None:
    """A change in the place of ``raw`` (a valid change of ``history``, not its author's
    first), with its author and seq, on one dep that leaves the author's previous change
    out of its causal past: rule V3 of SPEC.md broken, and no other.  The dep's ops end at
    or after that previous change's, so the new change starts after every op of its
    author (the rule before any op holds); its one op writes a root key, naming nothing.
    ``avail(hash)``: whether the receiver will have a change when this one arrives (the
    dep is one of those).  Returns a description and the bytes; None if no change of
    ``history`` can be the dep."""
    us = {u.hash: u for u in map(decode_change, history)}
    u = decode_change(raw)
    prev = [c for c in us.values() if c.actor == u.actor and c.seq == u.seq - 1]
    if not prev:
        return None
    p = prev[0]
    end = p.start_op + p.n_ops  # (one past the author's last op)
    deps = sorted(
        c.hash
        for c in us.values()
        if c.start_op + c.n_ops >= end and avail(c.hash) and p.hash not in reachable(us, [c.hash])
    )
    if not deps:
        return None
    d = us[pick.choice(deps)]
    ops = [(SET, None, pick.choice(EDIT_KEYS), pick.integer(-5, 5), ())]
    bad, _ = encode_change(u.actor, u.seq, d.start_op + d.n_ops, u.time, None, (d.hash,), ops)
    return f"author's seq {u.seq - 1} left out of the past (on {d.actor.hex()}'s seq {d.seq})", bad


def reachable(changes: dict[bytes, Any], start: Any) -> set[bytes]:
    """The hashes reachable from ``start`` (included) by deps, through ``changes`` (decoded,
    by hash): the causal past of a change's deps.  A hash not in ``changes`` ends its path
    (a change before a snapshot's cut, in every later change's past).  O(changes)."""
    seen: set[bytes] = set()
    todo = list(start)
    while todo:
        h = todo.pop()
        if h not in seen:
            seen.add(h)
            if h in changes:
                todo.extend(changes[h].deps)
    return seen
