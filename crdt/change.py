"""Changes: the unit of history, their canonical encoding and their hash (SPEC.md "Changes").

A change groups the ops of one transaction.  Its bytes are the msgpack array

    [1, actor, seq, start_op, time, message, deps, actors, ops]

and its identity is ``BLAKE2b-256(bytes)``.  ``deps`` are the hashes of the heads the change
was made on, so history is a hash DAG.  Op ids inside ``ops`` are ``[counter, index]``
where index 0 is the change's own actor and ``i > 0`` is ``actors[i - 1]``.

Trust is in the types: :func:`decode_change` gives an :class:`UnverifiedChange` (well
formed, canonical, hashed); only a :class:`~crdt.doc.Doc` that checked it against its
history turns it into a :class:`Change`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .codec import pack_lists as _packb
from .codec import unpack as _unpackb
from .errors import DecodeError
from .gcpause import gc_paused
from .ids import MAX_ACTOR_LEN
from .op import INS, REM, SET, Op, decode_ops, encode_ops, unused_actors
from .values import INT64_MAX, Counter

MERGE_INTERVAL = 60_000
"""Default of ``Doc(merge_interval=)``: local commits within this many ms of the first one
waiting merge into one change (SPEC.md 5.9; crdt.doc, "sealing local commits")."""

FORMAT_VERSION = 1
HASH_LEN = 32
MAX_CHANGE_BYTES = 64 * 1024 * 1024
"""Changes larger than this are refused before decoding (a bound on a peer's memory)."""
GC_PAUSE_OPS = 1000
"""Encoding a change of more ops than this pauses the cyclic garbage collector
(:mod:`crdt.gcpause`) while its ops are put in wire form (collections took 45% of
encoding seph-blog1 typed in one transaction, 28.5K ops)."""

# A hasher is copied from this template: ``blake2b(raw, digest_size=32)`` parses a dozen
# keyword arguments per call, a third of the cost of hashing a small change.
_TEMPLATE = hashlib.blake2b(digest_size=HASH_LEN)
new_hasher = _TEMPLATE.copy
"""A fresh BLAKE2b-256 hasher: ``h = new_hasher(); h.update(raw); h.digest()``."""


def change_hash(raw: bytes) -> bytes:
    """The change's identity: BLAKE2b with a 32-byte digest over its encoded bytes."""
    h = new_hasher()
    h.update(raw)
    return h.digest()


class UnverifiedChange:
    """A well-formed change whose history has not been checked yet."""

    __slots__ = (
        "_ops",
        "actor",
        "deps",
        "hash",
        "message",
        "n_ops",
        "raw",
        "seq",
        "start_op",
        "time",
    )

    def __init__(
        self,
        actor: bytes,
        seq: int,
        start_op: int,
        time: int,
        message: str | None,
        deps: tuple[bytes, ...],
        ops: list[Op] | None,
        raw: bytes,
        hash: bytes,
        n_ops: int,
    ) -> None:
        self.actor = actor  # the author
        self.seq = seq  # 1 for the author's first change, +1 for each next one
        self.start_op = start_op  # counter of the first op
        self.time = time  # author's wall clock, ms since the epoch (informational)
        self.message = message  # optional commit message
        self.deps = deps  # hashes of the heads it was made on, sorted
        self._ops: list[Op] | None = ops  # op tuples (see crdt.op); None: dropped (Change)
        self.raw = raw  # the canonical encoded bytes
        self.hash = hash  # BLAKE2b-256 of raw
        self.n_ops = n_ops  # counters consumed by ops

    @property
    def ops(self) -> list[Op]:
        """The change's op tuples."""
        assert self._ops is not None
        return self._ops

    @property
    def end_op(self) -> int:
        """The counter of the last op (``start_op - 1`` for an empty change)."""
        return self.start_op + self.n_ops - 1

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.hash.hex()[:12]} actor={self.actor.hex()[:8]} "
            f"seq={self.seq} start_op={self.start_op} ops={len(self.ops)})"
        )


class Change(UnverifiedChange):
    """A change that is part of a document's history (made locally or verified).

    A change drops its ops once they are applied (the document's state holds them now) and
    decodes them again from ``raw`` when :attr:`ops` is read: a batch of 260K keystroke
    changes kept ~100 MB of op tuples alive in the list ``apply_changes`` returns, and
    applying it was ~10% slower for the memory it never reused.
    """

    __slots__ = ()

    @property
    def ops(self) -> list[Op]:
        """The change's ops (decoded again from :attr:`raw` if they were dropped)."""
        ops = self._ops
        if ops is None:
            ops = self._ops = decode_change(self.raw).ops
        return ops


class _FirstUse(dict[bytes, int]):
    """An actor index that numbers each new actor as it is first looked up."""

    __slots__ = ()

    def __missing__(self, a: bytes) -> int:
        i = self[a] = len(self)
        return i


def _encode_ops_and_table(actor: bytes, ops: list[Op]) -> tuple[list[Any], list[bytes]]:
    """Ops in wire form and the sorted actor table they index (the general path)."""
    # Actors get indexes in order of first use while encoding; the table must be sorted,
    # which that order already is with one other actor (text objects are often made by
    # another actor).  With more, encode again with the sorted table.
    idx = _FirstUse()
    idx[actor] = 0
    enc = encode_ops(ops, idx)
    if len(idx) > 2:
        table = sorted(idx)
        table.remove(actor)
        return encode_ops(ops, {actor: 0, **{a: i + 1 for i, a in enumerate(table)}}), table
    return enc, [*idx][1:]  # the author was numbered first


def encode_change(
    actor: bytes,
    seq: int,
    start_op: int,
    time: int,
    message: str | None,
    deps: tuple[bytes, ...],
    ops: list[Op],
) -> tuple[bytes, bytes]:
    """Encode a change canonically; returns ``(raw, hash)``.  ``deps`` must be sorted."""
    table: list[bytes] = []
    enc: list[Any] | None = None
    if len(ops) == 1:
        # One keystroke or one deletion: a single INS or REM op whose two ids name the
        # author and at most one other actor (the text's maker).  Encoded directly, it
        # costs a third of the general path below, which a change per keystroke pays.
        op = ops[0]
        a = op[0]
        if ((a == INS and type(op[3]) is str) or a == REM) and op[1] is not None and op[2]:
            _, obj, e, x = op
            oa = obj[1]
            if oa == actor:
                o = [obj[0], 0]
                ea = e[1]
                if ea == actor:
                    enc = [[a, o, [e[0], 0], x]]
                else:
                    table = [ea]
                    enc = [[a, o, [e[0], 1], x]]
            else:
                table = [oa]
                ea = e[1]
                if ea == actor:
                    enc = [[a, [obj[0], 1], [e[0], 0], x]]
                elif ea == oa:
                    enc = [[a, [obj[0], 1], [e[0], 1], x]]
        elif a == SET and type(op[2]) is str and len(op[4]) <= 1 and type(op[3]) is not Counter:
            # One write of a scalar at a map key (an object's field), overwriting at most
            # one value: its object and pred name the author and at most one other actor.
            _, obj, key, v, pred = op
            other = None
            if obj is None:
                o = None
            elif obj[1] == actor:
                o = [obj[0], 0]
            else:
                other = obj[1]
                o = [obj[0], 1]
            if not pred:
                enc = [[a, o, key, v, []]]
            else:
                ((pc, pa),) = pred
                if pa == actor:
                    enc = [[a, o, key, v, [[pc, 0]]]]
                elif other is None or pa == other:
                    other = pa
                    enc = [[a, o, key, v, [[pc, 1]]]]
                # (else a second other actor: the general path below sorts the table)
            if enc is not None and other is not None:
                table = [other]
    if enc is None:
        with gc_paused(len(ops) > GC_PAUSE_OPS):
            enc, table = _encode_ops_and_table(actor, ops)
    raw = _packb([FORMAT_VERSION, actor, seq, start_op, time, message, [*deps], table, enc])
    h = new_hasher()
    h.update(raw)
    return raw, h.digest()


def encode_chain(
    actor: bytes, seq: int, dep: bytes, entries: list[tuple[Any, ...]]
) -> tuple[list[bytes], list[bytes]]:
    """Encode changes by ``actor`` that each depend on the one before, the first on the
    change hashed ``dep`` and numbered ``seq``; returns their bytes and hashes.  An entry
    is ``(start_op, time, message, ops, ...)`` (the document's waiting commits).  O(ops).

    The same bytes as :func:`encode_change` for each.  A keystroke (one INS of a str, or
    one REM, on the text of the keystroke before, no message) is written from the parts it
    shares with that one, the header's actor and the op's object and actor table, and its
    own fields packed in three calls (seq, counter and time; the ref or removed element;
    the text or count): ~7K instructions with the hash, against ~10K.
    """
    raws: list[bytes] = []
    hashes: list[bytes] = []
    add_raw = raws.append
    add_hash = hashes.append
    pack = _packb
    head = b"\x99" + pack(FORMAT_VERSION) + pack(actor)  # (a 9-item array: the change)
    obj: Any = None  # the object the parts below are for
    ins = b""  # after the dep: the actor table, the op list's and an INS's headers, obj
    rem = b""  # the same for a REM
    other: Any = None  # the actor the table names, if any (index 1)
    for e in entries:
        start_op, t, msg, ops = e[0], e[1], e[2], e[3]
        if msg is None and len(ops) == 1:
            op = ops[0]
            a = op[0]
            ref = op[2]  # (an INS's reference, a REM's first element)
            if (a == INS and type(op[3]) is str and ref is not None) or a == REM:
                if op[1] != obj:
                    obj = op[1]
                    if obj is None:  # (the root is no text: encode_change says what to do)
                        ins = rem = b""
                    else:
                        if obj[1] == actor:
                            other = None
                            tab = b"\x90\x91\x94"
                            o = pack([obj[0], 0])
                        else:
                            other = obj[1]
                            tab = b"\x91" + pack(other) + b"\x91\x94"
                            o = pack([obj[0], 1])
                        ins = tab + pack(INS) + o
                        rem = tab + pack(REM) + o
                ra = ref[1]
                if ins and (ra == actor or ra == other):
                    raw = b"".join(
                        (
                            head,
                            pack([seq, start_op, t])[1:],  # (the array header dropped)
                            b"\xc0\x91\xc4\x20",  # no message; one dep, a 32-byte bin
                            dep,
                            ins if a == INS else rem,
                            pack([ref[0], 0 if ra == actor else 1]),
                            pack(op[3]),
                        )
                    )
                    h = new_hasher()
                    h.update(raw)
                    dep = h.digest()
                    add_raw(raw)
                    add_hash(dep)
                    seq += 1
                    continue
        raw, dep = encode_change(actor, seq, start_op, t, msg, (dep,), ops)
        add_raw(raw)
        add_hash(dep)
        seq += 1
    return raws, hashes


def _bad(msg: str) -> DecodeError:
    return DecodeError(f"malformed change: {msg}")


def decode_change(raw: bytes, expected_hash: bytes | None = None) -> UnverifiedChange:
    """Parse and structurally check one change.

    Raises :class:`DecodeError` for anything that is not the canonical encoding of a
    well-formed change, and :class:`~crdt.errors.HashMismatchError` if ``expected_hash``
    is given and differs.
    """
    return decode_change_wire(raw, expected_hash)[0]


def decode_change_wire(
    raw: bytes, expected_hash: bytes | None = None
) -> tuple[UnverifiedChange, list[Any]]:
    """:func:`decode_change`, and the change's ops as msgpack unpacked them (their wire
    form, which :func:`crdt.fill.gather` reads: a change applied at once need not be
    unpacked twice)."""
    if type(raw) is not bytes:
        if not isinstance(raw, bytearray | memoryview):
            raise _bad(f"expected bytes, got {type(raw).__name__}")
        raw = bytes(raw)
    if len(raw) > MAX_CHANGE_BYTES:
        raise _bad(f"{len(raw)} bytes exceeds the {MAX_CHANGE_BYTES}-byte limit")
    try:
        top = _unpackb(raw)
    except Exception as exc:  # msgpack raises several unrelated types
        raise _bad(f"not msgpack ({type(exc).__name__}: {exc})") from exc
    if type(top) is not list or len(top) != 9:
        raise _bad("not a 9-element array")
    version, actor, seq, start_op, time, message, deps, table, ops_raw = top
    # one test for the well-formed case; _header_error says what is wrong otherwise
    if not (
        version == FORMAT_VERSION
        and type(version) is int
        and type(actor) is bytes
        and 0 < len(actor) <= MAX_ACTOR_LEN
        and type(seq) is int
        and 0 < seq <= INT64_MAX
        and type(start_op) is int
        and 0 < start_op <= INT64_MAX
        and type(time) is int
        and 0 <= time <= INT64_MAX
        and (message is None or type(message) is str)
        and type(deps) is list
        and type(table) is list
    ):
        raise _header_error(top)
    prev = b""
    for d in deps:
        if type(d) is not bytes or len(d) != HASH_LEN:
            raise _bad("deps is not a list of 32-byte hashes")
        if d <= prev:
            raise _bad("deps are not sorted and unique")
        prev = d
    if table:
        prev = b""
        for a in table:
            if type(a) is not bytes or not 1 <= len(a) <= MAX_ACTOR_LEN:
                raise _bad("actor table is not a list of 1..64-byte actors")
            if a <= prev or a == actor:
                raise _bad("actor table is not sorted, unique and without the author")
            prev = a
        actors = [actor, *table]
        ops, n_ops = decode_ops(ops_raw, actors)
        if unused_actors(ops, table):
            raise _bad("actor table names an actor no op uses")
    else:
        ops, n_ops = decode_ops(ops_raw, [actor])
    if start_op + n_ops - 1 > INT64_MAX:
        raise _bad("op counters overflow 64 bits")
    # Canonical form: the same change must always have the same bytes, hence the same hash.
    if _packb(top) != raw:
        raise _bad("not in canonical encoding")
    hasher = new_hasher()
    hasher.update(raw)
    h = hasher.digest()
    if expected_hash is not None and h != expected_hash:
        from .errors import HashMismatchError

        raise HashMismatchError(f"change hash {h.hex()} != expected {expected_hash.hex()}")
    u = UnverifiedChange(actor, seq, start_op, time, message, tuple(deps), ops, raw, h, n_ops)
    return u, ops_raw


def _header_error(top: list[Any]) -> DecodeError:
    """What is wrong with the fixed fields of a change that failed the combined test."""
    version, actor, seq, start_op, time, message, deps, _, _ = top
    if version != FORMAT_VERSION or type(version) is not int:
        return _bad(f"unknown format version {version!r}")
    if type(actor) is not bytes or not 1 <= len(actor) <= MAX_ACTOR_LEN:
        return _bad("actor is not 1..64 bytes")
    if type(seq) is not int or not 1 <= seq <= INT64_MAX:
        return _bad("seq is not a positive 64-bit int")
    if type(start_op) is not int or not 1 <= start_op <= INT64_MAX:
        return _bad("start_op is not a positive 64-bit int")
    if type(time) is not int or not 0 <= time <= INT64_MAX:
        return _bad("time is not a non-negative int")
    if message is not None and type(message) is not str:
        return _bad("message is neither nil nor str")
    if type(deps) is not list:
        return _bad("deps is not a list")
    return _bad("actor table is not a list")


def change_summary(c: UnverifiedChange) -> dict[str, Any]:
    """A JSON-friendly description (for debugging and the conformance driver)."""
    return {
        "hash": c.hash.hex(),
        "actor": c.actor.hex(),
        "seq": c.seq,
        "start_op": c.start_op,
        "deps": [d.hex() for d in c.deps],
        "ops": len(c.ops),
    }
