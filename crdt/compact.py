"""The compact change record: changes re-encoded for the log and saved documents, hashes
left out.

See SPEC.md 13.5 "Compact change encoding".  A change's canonical bytes are the
msgpack array ``[1, actor, seq, start_op, time, message, deps, table, ops]``
(:mod:`crdt.change`).  In the log each change is an array ``[a, ops, deps, dt, x, ds, do,
msg]`` (trailing fields equal to their default are left out) where

* ``a``: the author, as an index into the epoch's actor table, or the 1..64 actor bytes the
  first time the actor appears (which appends it to the table);
* ``ops``: the wire ops with every op id ``[counter, i]`` rewritten: object ids as
  ``counter`` (if ``i == 0``) or ``[counter, i]``; every other id (reference element, key
  element, removed element, preds) relative to ``start_op`` as ``start_op - counter`` or
  ``[start_op - counter, i]``;
* ``deps`` (default nil): nil means "exactly the previous change of this epoch's log";
  otherwise an array whose items are an int ``k >= 1`` (the change ``k`` places back in the
  epoch's log) or a 32-byte hash (a change outside it: a cut head or an older change);
* ``dt`` (default 0): ``time`` minus the previous change's time (the record's base time for
  its first change);
* ``x`` (default []): the change's actor table, as actor references like ``a``;
* ``ds`` (default 0): ``seq - (last seq of the author + 1)``, where the last seq is the
  previous change of the author in the same record, or else the record header's base;
* ``do`` (default 0): ``start_op - (1 + max end op of the deps given as back-references)``;
* ``msg`` (default nil): the commit message.

A change record's payload is ``[n0, a0, t0, bases, item, ...]``: ``n0`` is the epoch-log
number of its first change, ``a0`` the size of the actor table before it, ``t0`` the time the
first ``dt`` is relative to, and ``bases`` a flat array ``[actor ref, last seq, ...]`` giving
each author of the record its seq before the record.  So a record depends on earlier ones
only through back-references and actor-table indexes, which a reader can tell are missing
(after a salvage dropped a record) instead of silently decoding wrong bytes.

A bytes item instead of an array is a change stored verbatim (used when a change is not
in canonical msgpack form, which an engine change always is).  Decoding rebuilds the array
and packs it: the canonical encoding is unique, so the bytes, and so the hash, are exactly
the original ones.  Hashes are recomputed (BLAKE2b-256), never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .change import FORMAT_VERSION, change_hash
from .codec import pack, unpack
from .errors import DecodeError

_packb = pack
_unpackb = unpack

_DEFAULTS: tuple[Any, ...] = (None, None, None, 0, [], 0, 0, None)
_TAIL_DEFAULTS: tuple[Any, ...] = _DEFAULTS[2:]
_INS, _REM, _INS_MAKE = 3, 5, 4


Decoded = tuple[bytes, bytes, bytes, int, list[bytes], Any]
"""A decoded change: ``(raw, hash, actor, seq, deps, header)``; ``header`` is
``(start_op, n_ops, time, message)`` for a compact record and None for a change kept
verbatim (what a history needs without decoding the ops again)."""


class CodecError(DecodeError, ValueError):
    """A compact record that does not decode (the store turns it into CorruptStoreError)."""


def _n_ops(ops: list[Any]) -> int:
    n = 0
    for op in ops:
        a = op[0]
        if a == _INS:
            n += len(op[3])
        elif a == _REM:
            n += op[3]
        else:
            n += 1
    return n


def _rel(x: list[int], start: int) -> Any:
    r = start - x[0]
    return r if x[1] == 0 else [r, x[1]]


def _obj(o: Any) -> Any:
    if o is None:
        return None
    return o[0] if o[1] == 0 else o


def _unrel(x: Any, start: int) -> list[int]:
    if type(x) is int:
        return [start - x, 0]
    return [start - x[0], x[1]]


def _unobj(o: Any) -> Any:
    if o is None:
        return None
    if type(o) is int:
        return [o, 0]
    return [o[0], o[1]]


def _map_ops(
    ops: list[Any],
    start: int,
    objf: Callable[[Any], Any],
    idf: Callable[[Any, int], Any],
) -> list[Any]:
    """Rewrite every object id with ``objf`` and every other op id with ``idf``."""
    out: list[Any] = []
    app = out.append
    for op in ops:
        a = op[0]
        if a == _INS or a == _INS_MAKE:
            r = op[2]
            app([a, objf(op[1]), None if r is None else idf(r, start), op[3]])
        elif a == _REM:
            app([a, objf(op[1]), idf(op[2], start), op[3]])
        else:
            k = op[2]
            o = list(op)
            o[1] = objf(op[1])
            o[2] = k if type(k) is str else idf(k, start)
            o[-1] = [idf(p, start) for p in op[-1]]
            app(o)
    return out


def encode_ops(ops: list[Any], start: int) -> list[Any]:
    """Op ids relative to the change's ``start`` (see SPEC.md 13.5)."""
    return _map_ops(ops, start, _obj, _rel)


def decode_ops(ops: list[Any], start: int) -> list[Any]:
    """The inverse of :func:`encode_ops`."""
    return _map_ops(ops, start, _unobj, _unrel)


class Scope:
    """The state an epoch's log is encoded against (both writer and reader keep one).

    ``hashes[n]`` is the hash of the epoch's n-th logged change (None when unknown after
    a salvaged gap); ``seqs`` (writer side) is each actor's last seq, from the cut's clock.
    """

    def __init__(self, clock: dict[bytes, int] | None = None) -> None:
        self.actors: list[bytes | None] = []
        self.actor_ix: dict[bytes, int] = {}
        self.hashes: list[bytes | None] = []
        self.index: dict[bytes, int] = {}
        self.end_op: list[int] = []
        self.seqs: dict[bytes, int] = dict(clock or {})
        self.time = 0
        self.gaps = 0  # changes and actors skipped because salvage dropped records

    # ------------------------------------------------------------ writing

    def _aref(self, actor: bytes) -> Any:
        i = self.actor_ix.get(actor)
        if i is not None:
            return i
        self.actor_ix[actor] = len(self.actors)
        self.actors.append(actor)
        return actor

    def encode(
        self,
        changes: Sequence[tuple[bytes, bytes]],
        trusted: bool = False,
        derive_bases: bool = False,
    ) -> list[Any]:
        """``[(raw, hash), ...]`` -> the payload array ``[n0, a0, t0, bases, item, ...]``.

        ``trusted``: the raws are known canonical (they come from decoded or locally made
        changes, which :func:`crdt.change.decode_change` / ``encode_change`` guarantee).
        ``derive_bases``: an author's seq before the record is one less than the seq of
        its first change in it (exact when, as in a history, each author's changes form a
        chain), not the scope's.
        """
        tops: list[Any] = []
        bases: list[Any] = []
        seen: set[bytes] = set()
        for raw, _h in changes:
            try:
                top = _unpackb(raw)
                ok = type(top) is list and len(top) == 9 and (trusted or _packb(top) == raw)
            except Exception:
                ok = False
            tops.append(top if ok else None)
        out: list[Any] = [len(self.hashes), len(self.actors), self.time, bases]
        for top in tops:
            if top is not None and top[1] not in seen:
                seen.add(top[1])
                if derive_bases:
                    self.seqs[top[1]] = top[2] - 1
                bases.append(self._aref(top[1]))
                bases.append(self.seqs.get(top[1], 0))
        for (raw, hsh), top in zip(changes, tops, strict=True):
            out.append(raw if top is None else self._encode_one(top, hsh))
            if top is None:
                self._note_raw(raw, hsh)
        return out

    def _encode_one(self, top: list[Any], hsh: bytes) -> Any:
        _v, actor, seq, start, time, msg, deps, table, ops = top
        n = len(self.hashes)
        index = self.index
        aref = self._aref(actor)
        x = [self._aref(t) for t in table]
        expect = 0
        dl: list[Any] = []
        for d in deps:
            j = index.get(d)
            if j is None:
                dl.append(d)
            else:
                dl.append(n - j)
                e = self.end_op[j]
                if e > expect:
                    expect = e
        deps_enc: Any = None if (n and dl == [1]) else dl
        item = [aref, encode_ops(ops, start)]
        tail = (
            deps_enc,
            time - self.time,
            x,
            seq - self.seqs.get(actor, 0) - 1,
            start - expect - 1,
            msg,
        )
        if tail != _TAIL_DEFAULTS:
            k = 6
            while tail[k - 1] == _DEFAULTS[k + 1]:
                k -= 1
            item.extend(tail[:k])
        self._note(hsh, actor, seq, start + _n_ops(ops) - 1, time)
        return item

    def _note(
        self, hsh: bytes | None, actor: bytes | None, seq: int | None, end: int, t: int
    ) -> None:
        if hsh is not None:
            self.index[hsh] = len(self.hashes)
        self.hashes.append(hsh)
        self.end_op.append(end)
        if actor is not None and seq is not None:
            self.seqs[actor] = seq
        self.time = t

    def _note_raw(self, raw: bytes, hsh: bytes) -> None:
        """Book-keeping for a verbatim change (same on both sides)."""
        try:
            top = _unpackb(raw)
            _v, actor, seq, start, time, _m, _d, _t, ops = top
            self._note(hsh, actor, seq, start + _n_ops(ops) - 1, time)
        except Exception:
            self._note(hsh, None, None, 0, self.time)

    # ------------------------------------------------------------ reading

    def decode(self, payload: Any) -> list[Decoded | None]:
        """The payload array -> ``[(raw, hash, actor, seq, deps, header) or None, ...]``
        (None: a change that cannot be decoded because a salvage dropped what it refers
        to)."""
        try:
            return self._decode(payload)
        except CodecError:
            raise
        except Exception as exc:  # malformed shapes: IndexError, TypeError, KeyError ...
            raise CodecError(f"{type(exc).__name__}: {exc}") from exc

    def _decode(self, payload: Any) -> list[Decoded | None]:
        if type(payload) is not list or len(payload) < 4:
            raise CodecError("change record is not [n0, a0, t0, bases, ...]")
        n0, a0, t0, bases = payload[0], payload[1], payload[2], payload[3]
        if type(n0) is not int or type(a0) is not int or type(t0) is not int:
            raise CodecError("change record header is not ints")
        if type(bases) is not list or len(bases) % 2:
            raise CodecError("change record seq bases are not pairs")
        if n0 < len(self.hashes) or a0 < len(self.actors):
            raise CodecError(f"change record overlaps ({n0} < {len(self.hashes)} changes)")
        if n0 > len(self.hashes) or a0 > len(self.actors):
            # records were dropped by salvage: what they defined is unknown
            self.gaps += n0 - len(self.hashes) + a0 - len(self.actors)
            self.hashes.extend([None] * (n0 - len(self.hashes)))
            self.end_op.extend([0] * (n0 - len(self.end_op)))
            self.actors.extend([None] * (a0 - len(self.actors)))
        self.time = t0
        seqs: dict[bytes | None, int] = {}
        for k in range(0, len(bases), 2):
            s = bases[k + 1]
            if type(s) is not int:
                raise CodecError("seq base is not an int")
            seqs[self._actor(bases[k])] = s
        out: list[Decoded | None] = []
        for item in payload[4:]:
            out.append(self._decode_one(item, seqs))
        return out

    def _actor(self, ref: Any) -> bytes | None:
        if type(ref) is int:
            return self.actors[ref]
        if type(ref) is not bytes:
            raise CodecError("actor reference is neither int nor bytes")
        if ref in self.actor_ix:
            raise CodecError("actor introduced twice")
        self.actor_ix[ref] = len(self.actors)
        self.actors.append(ref)
        return ref

    def _decode_one(self, item: Any, seqs: dict[bytes | None, int]) -> Decoded | None:
        if type(item) is bytes:
            hsh = change_hash(item)
            self._note_raw(item, hsh)
            try:
                top = _unpackb(item)
                return item, hsh, top[1], top[2], top[6], None
            except Exception as exc:
                raise CodecError("verbatim change is not a change") from exc
        if type(item) is not list or not 2 <= len(item) <= 8:
            raise CodecError("compact change is not a 2..8 array")
        f = list(item) + list(_DEFAULTS[len(item) :])
        aref, cops, deps_enc, dt, xr, ds, do, msg = f
        if type(aref) is not int:
            raise CodecError("author is not an actor index")
        actor = self._actor(aref)
        table = [self._actor(r) for r in xr]
        n = len(self.hashes)
        time = self.time + dt
        if deps_enc is None:
            if n == 0:
                raise CodecError("first change of an epoch refers to a previous one")
            deps_enc = [1]
        deps: list[bytes | None] = []
        expect = 0
        for d in deps_enc:
            if type(d) is int:
                if not 1 <= d <= n:
                    raise CodecError(f"back-reference {d} out of range")
                deps.append(self.hashes[n - d])
                e = self.end_op[n - d]
                if e > expect:
                    expect = e
            elif type(d) is bytes and len(d) == 32:
                deps.append(d)
            else:
                raise CodecError("dep is neither a back-reference nor a hash")
        if actor not in seqs:
            raise CodecError("author has no seq base in its record")
        seq = seqs[actor] + 1 + ds
        seqs[actor] = seq
        start = expect + 1 + do
        ops = decode_ops(cops, start)
        end = start + _n_ops(ops) - 1
        if actor is None or None in table or None in deps:
            self._note(None, None, None, end, time)
            return None
        top = [FORMAT_VERSION, actor, seq, start, time, msg, deps, table, ops]
        raw = _packb(top)
        hsh = change_hash(raw)
        self._note(hsh, actor, seq, end, time)
        return raw, hsh, actor, seq, deps, (start, end - start + 1, time, msg)  # type: ignore[return-value]
