"""Snapshots: a document's state at a set of heads, compact and deterministic.

A snapshot holds the visible state (every object, map conflicts included) plus what later
changes still need: the ids of live sequence elements (run-length encoded), the cut's heads
with their counters, and per actor the last seq and greatest counter.  It holds no history
and no tombstones deleted before the cut: a change made after the cut can only name an
element that was visible to its author, so no honest change can name them (SPEC.md
section 12, and section 11 item 2).  Two peers that snapshot the same heads get the same
bytes, so the root ``BLAKE2b-256(bytes)`` names the state.

Layout (msgpack, after the 8-byte magic)::

    [1, actors, heads, clock, objects]
    actors  = [actor bytes...]                 sorted; every other actor field is an index
    heads   = [[hash, actor, seq, start_op, n_ops]...]   sorted by hash
    clock   = [[actor, seq, max_op]...]        sorted by actor index
    objects = [[id, type, parent, key, content]...]      sorted by id, the root (nil) first
    map content      = [[key, [[ctr, actor, value]...]]...]   keys sorted, entries ascending
    sequence content = [actor_runs, ctr_deltas, lengths, values, registers]
        actor_runs = [[actor, run count]...]  (the actor column, run-length encoded)
        ctr_deltas = first counter of each run minus (previous run's first counter + length)
        values     = the text (str) or the list's values, concatenated
        registers  = [[run index, [[ctr, actor, value]...]]...] for set list elements
    values: scalars as in changes; an object is ext type 2 with its type code as payload.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgpack

from .change import MERGE_INTERVAL
from .codec import unpack_framed
from .errors import DecodeError, UsageError
from .gcpause import gc_paused
from .op import decode_scalar, encode_scalar
from .opset import ObjState, OpSet
from .run import Register
from .sequence import Sequence
from .values import INT64_MAX, ObjType

# (a module global: `ObjType.MAP` is a lookup on the enum class, ~70 ns each time)
_MAP, _LIST, _TEXT = ObjType.MAP, ObjType.LIST, ObjType.TEXT

SNAPSHOT_MAGIC = b"\x85ECHOSNP"
SNAPSHOT_VERSION = 1
_OBJ_EXT = 2
_COUNTER_EXT = 1
_DELETED = "deleted"  # marks a tombstone run in _runs' output (compared by identity)


class Base:
    """What a document loaded from a snapshot knows of the history before the cut."""

    __slots__ = ("clock", "heads", "max_op", "snapshot")

    def __init__(
        self,
        heads: dict[bytes, tuple[bytes, int, int, int]],
        clock: dict[bytes, int],
        max_op: dict[bytes, int],
        snapshot: bytes,
    ) -> None:
        self.heads = heads  # cut head hash -> (actor, seq, start_op, n_ops)
        self.clock = clock  # actor -> its last seq in the cut
        self.max_op = max_op  # actor -> greatest counter of its ops in the cut
        self.snapshot = snapshot  # the snapshot bytes (to rebuild the state on undo)

    def end_op(self, h: bytes) -> int:
        _, _, start, n = self.heads[h]
        return start + n - 1


def snapshot_root(data: bytes) -> bytes:
    """The snapshot's content address: BLAKE2b-256 of its bytes."""
    return hashlib.blake2b(data, digest_size=32).digest()


def _enc_value(v: Any) -> Any:
    if type(v) is ObjType:
        return msgpack.ExtType(_OBJ_EXT, bytes([int(v)]))
    return encode_scalar(v)


def encode_snapshot(doc: Any, *, tombstones: bool = False) -> bytes:
    """The snapshot of ``doc`` at its current heads (an open transaction is not included).

    With ``tombstones`` it is a **checkpoint**: deleted sequence elements are kept too (their
    ids, not their values), so a document loaded from it can still verify and apply any
    change a document with the full history could (``Doc.save`` stores one).
    O(objects + runs + map entries).
    """
    with gc_paused():  # (a burst of containers: crdt.gcpause)
        return _encode_snapshot(doc, tombstones)


def _encode_snapshot(doc: Any, tombstones: bool) -> bytes:
    from .doc import Doc

    if not isinstance(doc, Doc):
        raise UsageError(f"encode_snapshot takes a Doc, not {type(doc).__name__}")
    if doc._tx is not None:
        from .errors import TransactionError

        raise TransactionError("commit the open transaction before taking a snapshot")
    h = doc._history
    base = doc._base
    opset = doc._opset

    # per-actor clock: seq and greatest counter
    clock: dict[bytes, list[int]] = {}
    if base is not None:
        for a, s in base.clock.items():
            clock[a] = [s, base.max_op.get(a, 0)]
    for a, nums in h.by_actor.items():
        last = nums[-1]
        c = clock.setdefault(a, [0, 0])
        c[0] = h.seq_of(a)
        c[1] = max(c[1], h.start[last] + h.n_ops[last] - 1)

    # heads with their counters
    heads: list[tuple[bytes, bytes, int, int, int]] = []
    if len(h):
        for i in h.heads_idx():
            heads.append((h.hash_at(i), h.actor[i], h.seq_number(i), h.start[i], h.n_ops[i]))
    elif base is not None:
        for hsh, (a, s, st, n) in base.heads.items():
            heads.append((hsh, a, s, st, n))
    heads.sort()

    actors: set[bytes] = set(clock)
    actors.update(x[1] for x in heads)
    objs = sorted(opset.objs.items(), key=lambda kv: (-1, b"") if kv[0] is None else kv[0])
    body: list[tuple[Any, ObjState, Any]] = []
    for oid, ost in objs:
        if oid is not None:
            actors.add(oid[1])
        if ost.type == _MAP:
            items = sorted(ost.data.items())
            for _, es in items:
                actors.update(e[1] for e in es)
            body.append((oid, ost, items))
        else:
            body.append((oid, ost, _runs(ost.data, actors, tombstones)))
    table = sorted(actors)
    ix = {a: i for i, a in enumerate(table)}

    def eid(x: Any) -> Any:
        return None if x is None else [x[0], ix[x[1]]]

    out_objs: list[Any] = []
    for oid, ost, content in body:
        key = ost.key
        k = key if key is None or type(key) is str else eid(key)
        if ost.type == _MAP:
            enc: Any = [
                [key_, [[e[0], ix[e[1]], _enc_value(e[2])] for e in es]] for key_, es in content
            ]
        else:
            enc = _encode_runs(content, ix, ost.type == _TEXT)
        out_objs.append([eid(oid), int(ost.type), eid(ost.parent), k, enc])
    top = [
        SNAPSHOT_VERSION,
        table,
        [[hsh, ix[a], s, so, n] for hsh, a, s, so, n in heads],
        [[ix[a], c[0], c[1]] for a, c in sorted(clock.items(), key=lambda kv: ix[kv[0]])],
        out_objs,
    ]
    packed: bytes = msgpack.packb(top)
    return SNAPSHOT_MAGIC + packed


def _runs(seq: Sequence, actors: set[bytes], tombstones: bool) -> list[Any]:
    """Visible runs (and deleted ones, as ``[actor, ctr, length, DELETED]``, with
    ``tombstones``), merged where ids continue: independent of in-memory fragmentation."""
    out: list[Any] = []
    for r in seq.runs():
        if r.deleted:
            if not tombstones:
                continue
            actors.add(r.actor)
            if out:
                last = out[-1]
                if last[3] is _DELETED and last[0] == r.actor and last[1] + last[2] == r.ctr:
                    last[2] += r.n
                    continue
            out.append([r.actor, r.ctr, r.n, _DELETED])
            continue
        actors.add(r.actor)
        if r.reg:
            entries = r.content[0].entries
            actors.update(e[1] for e in entries)
            out.append([r.actor, r.ctr, None, entries])
            continue
        if out:
            last = out[-1]
            if last[3] is None and last[0] == r.actor and last[1] + len(last[2]) == r.ctr:
                last[2] = last[2] + r.content
                continue
        out.append([r.actor, r.ctr, r.content, None])
    return out


def _encode_runs(runs: list[Any], ix: dict[bytes, int], is_text: bool) -> list[Any]:
    actor_runs: list[list[int]] = []
    deltas: list[int] = []
    lengths: list[int] = []
    values: Any = [] if not is_text else None
    pieces: list[str] = []
    regs: list[Any] = []
    dead: list[int] = []
    prev_end = 0
    for i, (a, ctr, content, entries) in enumerate(runs):
        ai = ix[a]
        if actor_runs and actor_runs[-1][0] == ai:
            actor_runs[-1][1] += 1
        else:
            actor_runs.append([ai, 1])
        deltas.append(ctr - prev_end)
        if entries is _DELETED:
            lengths.append(content)
            prev_end = ctr + content
            dead.append(i)
            continue
        if entries is not None:
            lengths.append(1)
            prev_end = ctr + 1
            regs.append([i, [[e[0], ix[e[1]], _enc_value(e[2])] for e in entries]])
            if is_text:  # pragma: no cover - text has no registers
                raise AssertionError("register in text")
            values.append(None)
            continue
        n = len(content)
        lengths.append(n)
        prev_end = ctr + n
        if is_text:
            pieces.append(content)
        else:
            values.extend(_enc_value(v) for v in content)
    out = [actor_runs, deltas, lengths, "".join(pieces) if is_text else values, regs]
    if dead:
        out.append(dead)  # a checkpoint's tombstones: run indexes, ascending
    return out


# ------------------------------------------------------------------ decoding


def _bad(msg: str) -> DecodeError:
    return DecodeError(f"malformed snapshot: {msg}")


def _dec_value(v: Any) -> Any:
    if type(v) is msgpack.ExtType and v.code == _OBJ_EXT:
        if len(v.data) == 1 and v.data[0] <= 2:
            return ObjType(v.data[0])
        raise _bad("object value")
    return decode_scalar(v)


def decode_snapshot(data: bytes) -> tuple[OpSet, Base]:
    """Parse a snapshot into a fresh state and its :class:`Base`.

    Raises :class:`DecodeError` on anything malformed; never another exception.
    """
    with gc_paused():  # (a burst of containers, kept: crdt.gcpause)
        top = unpack_framed(data, SNAPSHOT_MAGIC, "snapshot")
        data = bytes(data)
        return _decode_checked(top, data)


def _decode_checked(top: Any, data: bytes) -> tuple[OpSet, Base]:
    try:
        return _decode(top, data)
    except DecodeError:
        raise
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, AssertionError) as exc:
        raise _bad(f"{type(exc).__name__}: {exc}") from exc


def _decode(top: Any, data: bytes) -> tuple[OpSet, Base]:
    if type(top) is not list or len(top) != 5 or top[0] != SNAPSHOT_VERSION:
        raise _bad("unknown layout or version")
    _, table, heads_raw, clock_raw, objs_raw = top
    if type(table) is not list or any(type(a) is not bytes or not 1 <= len(a) <= 64 for a in table):
        raise _bad("actor table")
    if any(table[i] >= table[i + 1] for i in range(len(table) - 1)):
        raise _bad("actor table not sorted")

    def actor(i: Any) -> bytes:
        if type(i) is not int or not 0 <= i < len(table):
            raise _bad("actor index")
        return table[i]  # type: ignore[no-any-return]

    def pos_int(x: Any) -> int:
        if type(x) is not int or not 0 <= x <= INT64_MAX:
            raise _bad("expected a non-negative int")
        return x

    def eid(x: Any) -> Any:
        if x is None:
            return None
        if type(x) is not list or len(x) != 2:
            raise _bad("id")
        return (pos_int(x[0]), actor(x[1]))

    heads: dict[bytes, tuple[bytes, int, int, int]] = {}
    for hr in heads_raw:
        hsh, a, s, st, n = hr
        if type(hsh) is not bytes or len(hsh) != 32:
            raise _bad("head hash")
        heads[hsh] = (actor(a), pos_int(s), pos_int(st), pos_int(n))
    clock: dict[bytes, int] = {}
    max_op: dict[bytes, int] = {}
    for a, s, m in clock_raw:
        clock[actor(a)] = pos_int(s)
        max_op[actor(a)] = pos_int(m)

    opset = OpSet()
    objs = opset.objs
    seqs: list[tuple[Sequence, Any, bool]] = []
    for oid_raw, typ, parent_raw, key_raw, content in objs_raw:
        oid = eid(oid_raw)
        if type(typ) is not int or not 0 <= typ <= 2:
            raise _bad("object type")
        otype = ObjType(typ)
        if oid is None:
            if otype != _MAP:
                raise _bad("root is not a map")
            st = objs[None]
        else:
            key = key_raw if key_raw is None or type(key_raw) is str else eid(key_raw)
            st = ObjState(otype, eid(parent_raw), key)
            if oid in objs:
                raise _bad("duplicate object")
            objs[oid] = st
        if otype == _MAP:
            mdata: dict[str, Any] = {}
            for k, es in content:
                if type(k) is not str or not es:
                    raise _bad("map key")
                mdata[k] = [(pos_int(c), actor(a), _dec_value(v)) for c, a, v in es]
            st.data = mdata
        else:
            seqs.append((st.data, content, otype == _TEXT))
    for seq, content, is_text in seqs:
        _load_runs(seq, content, is_text, table, actor, pos_int)
    _check_object_values(opset)
    base = Base(heads, clock, max_op, data)
    return opset, base


def _check_object_values(opset: OpSet) -> None:
    """Every object value must name an object of its type (the one its op made)."""
    objs = opset.objs

    def ok(c: int, a: bytes, v: Any) -> None:
        if type(v) is ObjType:
            st = objs.get((c, a))
            if st is None or st.type != v:
                raise _bad(f"object value {c}@{a.hex()} names no such object")

    for st in list(objs.values()):
        if st.type == _MAP:
            for es in st.data.values():
                for c, a, v in es:
                    ok(c, a, v)
        elif st.type == _LIST:
            for r in st.data.runs():
                if r.deleted:
                    continue
                if r.reg:
                    for c, a, v in r.content[0].entries:
                        ok(c, a, v)
                else:
                    for k, v in enumerate(r.content):
                        ok(r.ctr + k, r.actor, v)


def _load_runs(
    seq: Sequence,
    content: Any,
    is_text: bool,
    table: list[bytes],
    actor: Callable[[Any], bytes],
    pos_int: Callable[[Any], int],
) -> None:
    """Check a sequence's columns whole, then fill ``seq``: a list now, a text on first touch.

    Every rule is checked here, so a text's runs, built later by :func:`_decoded_runs`, cannot fail:
    a bad snapshot is refused at load, as any other.  The checks run over whole columns in
    C (``map``, ``accumulate``, one sort of indexes), since a Python loop of the same checks
    cost about as much as building the runs (~12K instructions per run in all, stop 25).
    """
    if type(content) is not list or len(content) not in (5, 6):
        raise _bad("sequence content")
    actor_runs, deltas, lengths, values, regs = content[:5]
    if not (type(actor_runs) is type(deltas) is type(lengths) is type(regs) is list):
        raise _bad("sequence columns")
    n = len(lengths)
    if len(deltas) != n:
        raise _bad("column lengths differ")
    if not _INTS.issuperset(map(type, lengths)) or not _INTS.issuperset(map(type, deltas)):
        raise _bad("a run length or counter delta that is not an int")
    who: list[int] = []  # actor index of each run's actor-column entry
    counts: list[int] = []
    for a, c in actor_runs:
        actor(a)
        who.append(a)
        counts.append(pos_int(c))
    if sum(counts) != n:
        raise _bad("actor column length")
    if len(content) == 6:
        dead: list[int] = content[5]
        if type(dead) is not list or not dead or not _INTS.issuperset(map(type, dead)):
            raise _bad("tombstone column")
        if any(map(operator.ge, dead, itertools.islice(dead, 1, None))):
            raise _bad("tombstone column not ascending")
        if dead[0] < 0 or dead[-1] >= n:
            raise _bad("tombstone run index")
    else:
        dead = []
    run_actor = list(itertools.chain.from_iterable(map(itertools.repeat, who, counts)))
    ctrs: list[int] = []
    if n:
        if min(lengths) < 1:
            raise _bad("run length below 1")
        ends = list(itertools.accumulate(map(operator.add, deltas, lengths)))
        ctrs = list(map(operator.sub, ends, lengths))
        if min(ctrs) < 1:
            raise _bad("run counter below 1")
        if max(ends) - 1 > INT64_MAX:
            raise _bad("element counter beyond 64 bits")
        # Every element id at most once (the sequence's id index relies on it): with ids
        # keyed as actor index * 2**64 + counter, sorted runs must not reach the next one.
        keys = list(map(operator.add, map(operator.mul, run_actor, itertools.repeat(_BAND)), ctrs))
        order = sorted(range(n), key=keys.__getitem__)
        starts = list(map(keys.__getitem__, order))
        stops = map(operator.add, starts, map(lengths.__getitem__, order))
        if any(map(operator.gt, stops, itertools.islice(starts, 1, None))):
            raise _bad("overlapping element ids")
    reg_at: dict[int, Any] = {}
    for i, es in regs:
        if is_text or not 0 <= pos_int(i) < n:
            raise _bad("register run")
        reg_at[i] = es
    if not reg_at.keys().isdisjoint(dead):
        raise _bad("a tombstone run with a register")
    live = sum(lengths) - sum(map(lengths.__getitem__, dead))
    if is_text:
        if type(values) is not str or len(values) != live:
            raise _bad("text length")
        build = functools.partial(_text_runs, table, run_actor, ctrs, lengths, dead, values)
        seq.load_runs_lazily(live, values, build)
        return
    if type(values) is not list or len(values) != live:
        raise _bad("list length")
    seq_load(
        seq,
        _decoded_runs(table, run_actor, ctrs, lengths, dead, values, False, reg_at, actor, pos_int),
    )


_INTS = frozenset({int})
_BAND = 1 << 64
"""Wider than any counter (at most 2**63 - 1 + a run's length)."""


def _text_runs(
    table: list[bytes],
    run_actor: list[int],
    ctrs: list[int],
    lengths: list[int],
    dead: list[int],
    values: str,
) -> Iterator[tuple[int, bytes, Any, bool, bool]]:
    """The runs of a text's checked columns, as :meth:`Sequence.load_runs` takes them; it
    cannot fail (every check was made at load).  Zipped in C but for the tombstones."""
    live = lengths
    deleted: Iterable[bool] = itertools.repeat(False)
    if dead:
        live = list(lengths)
        flags = [False] * len(lengths)
        for i in dead:
            live[i] = 0
            flags[i] = True
        deleted = flags
    offs = list(itertools.accumulate(live, initial=0))
    pieces = list(map(values.__getitem__, map(slice, offs, itertools.islice(offs, 1, None))))
    for i in dead:
        # a tombstone's value is never observed again: keep only its length
        pieces[i] = "\x00" * lengths[i]
    return zip(ctrs, map(table.__getitem__, run_actor), pieces, itertools.repeat(False), deleted)


def _decoded_runs(
    table: list[bytes],
    run_actor: list[int],
    ctrs: list[int],
    lengths: list[int],
    dead: list[int],
    values: Any,
    is_text: bool,
    reg_at: dict[int, Any],
    actor: Callable[[Any], bytes],
    pos_int: Callable[[Any], int],
) -> list[tuple[int, bytes, Any, bool, bool]]:
    """The runs of checked columns, as :meth:`Sequence.load_runs` takes them.  For a text
    this cannot fail (its checks were all made at load); a list's values and registers are
    decoded here, at load, and may still be refused."""
    out: list[tuple[int, bytes, Any, bool, bool]] = []
    append = out.append
    tomb = set(dead)
    pos = 0
    for k, (a, ctr, n) in enumerate(zip(run_actor, ctrs, lengths, strict=True)):
        if k in tomb:
            # a tombstone's value is never observed again: keep only its length
            append((ctr, table[a], "\x00" * n if is_text else [None] * n, False, True))
            continue
        if is_text:
            append((ctr, table[a], values[pos : pos + n], False, False))
            pos += n
            continue
        piece: Any = [_dec_value(v) for v in values[pos : pos + n]]
        pos += n
        es = reg_at.get(k)
        if es is not None:
            if n != 1:
                raise _bad("register run")
            entries = [(pos_int(c), actor(ea), _dec_value(v)) for c, ea, v in es]
            if not entries:
                raise _bad("empty register")
            piece = [Register(entries)]
        append((ctr, table[a], piece, es is not None, False))
    return out


def seq_load(seq: Sequence, runs: list[tuple[int, bytes, Any, bool, bool]]) -> None:
    """Load ``(ctr, actor, content, is_register, deleted)`` runs in order into an empty
    sequence."""
    seq.load_runs(runs)


def load_snapshot(
    data: bytes,
    actor: bytes | str | None = None,
    *,
    root: bytes | None = None,
    clock: Callable[[], int] | None = None,
    merge_interval: int | None = MERGE_INTERVAL,
) -> Any:
    """A :class:`~crdt.doc.Doc` whose state is the snapshot; it accepts every change made
    after the cut (changes concurrent with the cut raise ``StaleChangeError``).
    ``actor``, ``clock`` and ``merge_interval`` are as for the document's constructor.

    ``root``: the snapshot's content address (:func:`snapshot_root`), as an epoch names
    it; bytes that do not hash to it raise :class:`DecodeError`.  Give it whenever the
    bytes come from elsewhere: a snapshot holds no hash of its own, so without it a byte
    changed in a head's hash, a counter or a value may still decode, to another state.
    O(bytes) for the check."""
    from .doc import Doc, _check_merge_interval

    mi = _check_merge_interval(merge_interval)  # (before any work)
    if root is not None and snapshot_root(data) != root:
        raise DecodeError("snapshot bytes do not hash to the root given")
    doc = Doc._from_snapshot(data, actor, clock)
    doc._merge_interval = mi
    return doc
