"""The remote fast path: changes of one text op, each made on the document's only head.

A peer typing sends one such change per keystroke: one INS of a string, or one REM, whose
only dep is the previous change.  Decoding each one into an :class:`UnverifiedChange`,
then verifying it op by op against any history, costs about three times the work the
shape needs (a dozen calls, tuples for every op id, the general checks of every op
kind), and that work is most of applying a per-keystroke history.

:func:`apply_linear` takes such changes from a batch one after the other and does, in one
loop, exactly the checks :func:`crdt.change.decode_change` and ``Doc._apply_verified`` do
for this shape (SPEC.md sections 4-6): well formed, canonical, hashed, made on the head,
the author's next seq, the next start_op, every id it names already in the document (the
document has no other head, so everything in it is in the change's causal past).  It is
conservative: at the first change that does not have the shape, or fails any check, it
stops and leaves that change to the general path, which applies it or raises the error
it deserves.  So this path decides nothing the general path would decide differently,
and never raises on input; ``tests/test_linear.py`` checks both paths give the same
documents, results and errors on valid and damaged histories.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import change as _change
from .change import Change, new_hasher
from .codec import pack_lists, unpack
from .ids import MAX_ACTOR_LEN
from .values import INT64_MAX, ObjType

if TYPE_CHECKING:
    from .doc import Doc

_INS = 3  # crdt.op.INS and REM, as they appear on the wire
_REM = 5
_TEXT, _MAP = ObjType.TEXT, ObjType.MAP
FAST_MAX_BYTES = 1024
"""Changes longer than this go to the general path without being read here."""


def apply_linear(doc: Doc, changes: list[Any], k: int, applied: list[Change]) -> int:
    """Apply ``changes[k]``, ``changes[k + 1]``, ... while each is encoded bytes of a
    one-op text change made on ``doc``'s only head; returns the index of the first change
    left to the general path (``len(changes)`` if none).

    The caller has checked that ``doc`` may take this path: no base snapshot, no buffered
    changes, no observers, exactly one head.  O(1) per change beyond the op itself.
    """
    h = doc._history
    heads = h.heads_idx()
    ((hi, hh),) = heads.items()
    objs = doc._opset.objs
    start, n_ops, seq_of, add = h.start, h.n_ops, h.seq_of, h.add
    nxt = start[hi] + n_ops[hi]  # the start_op the next change must have
    app = applied.append
    # bigger changes are left to the general path unread: a keystroke's change is ~100
    # bytes, and a big change would be unpacked twice (once here, to find it has many ops)
    max_bytes = min(FAST_MAX_BYTES, _change.MAX_CHANGE_BYTES)  # (tests lower the latter)
    n = len(changes)
    while k < n:
        raw = changes[k]
        if type(raw) is not bytes or len(raw) > max_bytes:
            break
        try:
            top = unpack(raw)
        except Exception:  # not msgpack: the general path says how
            break
        if type(top) is not list or len(top) != 9:
            break
        version, actor, seq, start_op, time, message, deps, table, ops = top
        if not (
            start_op == nxt
            and type(start_op) is int
            and start_op <= INT64_MAX
            and version == 1
            and type(version) is int
            and type(actor) is bytes
            and 0 < len(actor) <= MAX_ACTOR_LEN
            and type(seq) is int
            and type(time) is int
            and 0 <= time <= INT64_MAX
            and (message is None or type(message) is str)
            and type(deps) is list
            and len(deps) == 1
            and deps[0] == hh
            and type(table) is list
            and type(ops) is list
            and len(ops) == 1
        ):
            break
        if seq != seq_of(actor) + 1:
            break
        op = ops[0]
        if type(op) is not list or len(op) != 4:
            break
        a, o, r, x = op
        if type(o) is not list or len(o) != 2 or type(r) is not list or len(r) != 2:
            break  # (an insert at the head, r None, is rare: the general path takes it)
        oc, oi = o
        rc, ri = r
        # (every id in the document is below start_op: the only head holds the greatest
        # counter, so an object or element found below is earlier than this op; but a
        # float would find it too, hence the int tests)
        if not (type(oc) is int and type(oi) is int and type(rc) is int and type(ri) is int):
            break
        if table:
            if len(table) != 1 or not (oi == 1 or ri == 1):
                break  # (the one actor in the table must be named)
            other = table[0]
            # (its length needs no test: no actor outside 1..64 bytes has ids here)
            if type(other) is not bytes or other == actor or not 0 <= oi <= 1 or not 0 <= ri <= 1:
                break
            obj = (oc, other if oi else actor)
            ra = other if ri else actor
        elif oi == 0 and ri == 0:
            obj = (oc, actor)
            ra = actor
        else:
            break
        st = objs.get(obj)
        if st is None:
            break
        if a == _INS and type(a) is int and type(x) is str and x:
            size = len(x)
            if st.type is not _TEXT or start_op + size - 1 > INT64_MAX:
                break
            sq = st.data
            if sq.find(rc, ra) is None:
                break
        elif a == _REM and type(a) is int and type(x) is int and 0 < x:
            size = x
            if st.type is _MAP:
                break
            sq = st.data
            e = rc
            end = rc + x
            while e < end:
                run = sq.find(e, ra)
                if run is None:
                    break
                e = run.ctr + run.n
            if e < end:
                break
        else:
            break
        if pack_lists(top) != raw:  # canonical form, as decode_change demands
            break
        hasher = new_hasher()
        hasher.update(raw)
        hsh = hasher.digest()
        if a == _INS:
            sq.integrate_insert((rc, ra), start_op, actor, x)
        else:
            sq.remote_delete(rc, ra, x, False)
        c = Change(actor, seq, start_op, time, message, (hh,), None, raw, hsh, size)
        hi = add(c, (hi,), True)
        hh = hsh
        nxt = start_op + size
        app(c)
        k += 1
    if nxt - 1 > doc._max_op:
        doc._max_op = nxt - 1
    return k
