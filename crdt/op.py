"""Operations: the in-memory tuples and their wire form (SPEC.md section "Ops").

An op is a plain tuple whose first item is its action; op ids are implicit (the change's
``start_op`` plus the sizes of the ops before it), so an op never stores its own id.

=========  ==========================================  =====================================
action     tuple                                       meaning
=========  ==========================================  =====================================
SET        (SET, obj, key, value, pred)                put a scalar at a map key / list elem
DEL        (DEL, obj, key, pred)                       remove the named value ops of a key
MAKE       (MAKE, obj, key, objtype, pred)             put a new object at a key / elem
INS        (INS, obj, ref, content)                    insert ``len(content)`` elements
INS_MAKE   (INS_MAKE, obj, ref, objtype)               insert one new object element
REM        (REM, obj, elem, n)                         delete ``n`` elements from ``elem`` on
INC        (INC, obj, key, delta, pred)                add ``delta`` to the named counters
=========  ==========================================  =====================================

``obj`` is an object id (``None`` = root); ``key`` is a ``str`` in maps and an element id in
lists; ``ref`` is an element id or ``None`` (the head); ``pred`` is a tuple of op ids.
Every op takes one counter except INS and REM, which take one per element, exactly as that
many single-element ops would.
"""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import DecodeError
from .values import INT64_MAX, INT64_MIN, Counter, ObjType

SET = 0
DEL = 1
MAKE = 2
INS = 3
INS_MAKE = 4
REM = 5
INC = 6

ACTION_NAMES = ("set", "del", "make", "ins", "ins_make", "rem", "inc")

COUNTER_EXT = 1
"""msgpack extension type code of a :class:`Counter` scalar (payload: msgpack int)."""

Op = tuple[Any, ...]

NO_OP: Op = ()
"""Holds an op's place in a list while the op's str grows in place (:func:`extend_ins`,
and the keystroke paths that inline it); never left there."""


def op_size(op: Op) -> int:
    """How many counters ``op`` consumes."""
    a = op[0]
    if a == INS:
        return len(op[3])
    if a == REM:
        return int(op[3])
    return 1


def extend_ins(ops: list[Op], content: Any) -> None:
    """Extend the INS that ends ``ops`` by ``content``, its next elements: typing on.
    The rule by which an INS grows (a transaction's, and the waiting change's); the two
    keystroke paths, ``Transaction.splice`` and ``Doc._commit_later``, inline it, since
    its frame is 4% of a keystroke there (cachegrind, the paper: 13.5K -> 14.1K).

    The caller must hold no reference to that op: then its str grows in place (CPython's
    ``s += t`` resizes, with a ``realloc``, a str that only a local holds), and typing on
    costs the length typed, not the length of the op at every keystroke.  A str someone
    else holds (a savepoint's copy of the op) is copied, as is a list, which ``+=`` would
    change under its other holders."""
    last = ops[-1]
    x = last[3]
    if type(x) is str:
        ops[-1] = NO_OP
        obj = last[1]
        ref = last[2]
        del last
        x += content
        ops[-1] = (INS, obj, ref, x)
    else:
        ops[-1] = (INS, last[1], last[2], x + content)


def join_ops(out: list[Op], new: list[Op], ctr: int, actor: bytes) -> None:
    """Append ``new`` to ``out``: ops by ``actor`` from counter ``ctr`` on, ``out`` ending
    at ``ctr - 1``.  Where one transaction would have merged a run (SPEC.md 5.5, 5.6:
    typing extends an INS, deleting next to a REM extends the REM), the ops merge.
    O(len(new)); stops trying at the first op that does not merge, since each later op
    met the same last op in its own transaction.

    The transaction does the same inline, an op at a time (``Transaction._insert`` and
    ``_remove``); this is the rule for lists of ops made apart, as the document's
    waiting commits are.
    """
    i = 0
    n = len(new)
    while i < n and out:
        op = new[i]
        last = out[-1]
        a = op[0]
        if a != last[0] or op[1] != last[1]:
            break
        if a == INS:
            ref = op[2]
            # (last is the op just before, so its last element is ctr - 1)
            if ref is None or ref[0] != ctr - 1 or ref[1] != actor:
                break
            del last  # (extend_ins grows the op's str in place when no one holds it)
            extend_ins(out, op[3])
        elif a == REM:
            (lc, la), (ec, ea) = last[2], op[2]
            if ea != la:
                break
            if lc + last[3] == ec:  # deleting forward
                out[-1] = (REM, op[1], last[2], last[3] + op[3])
            elif ec + op[3] == lc:  # backspacing
                out[-1] = (REM, op[1], op[2], last[3] + op[3])
            else:
                break
        else:
            break
        ctr += op_size(op)
        i += 1
    out.extend(new[i:] if i else new)


# ------------------------------------------------------------------ encoding


def encode_scalar(v: Any) -> Any:
    """A scalar in its wire form (a :class:`Counter` becomes ext type 1)."""
    if type(v) is Counter:
        return msgpack.ExtType(COUNTER_EXT, msgpack.packb(v.value))
    return v


def encode_ops(ops: list[Op], actor_idx: dict[bytes, int]) -> list[Any]:
    """Ops to msgpack-ready lists; op ids become ``[counter, actor index]``."""
    out: list[Any] = []
    app = out.append
    for op in ops:
        a = op[0]
        obj = op[1]
        o = None if obj is None else [obj[0], actor_idx[obj[1]]]
        if a == INS:
            ref = op[2]
            r = None if ref is None else [ref[0], actor_idx[ref[1]]]
            c = op[3]
            if type(c) is not str:
                c = [encode_scalar(v) for v in c]
            app([a, o, r, c])
        elif a == REM:
            e = op[2]
            app([a, o, [e[0], actor_idx[e[1]]], op[3]])
        elif a == INS_MAKE:
            ref = op[2]
            r = None if ref is None else [ref[0], actor_idx[ref[1]]]
            app([a, o, r, int(op[3])])
        else:
            key = op[2]
            k = key if type(key) is str else [key[0], actor_idx[key[1]]]
            pred = [[p[0], actor_idx[p[1]]] for p in op[-1]]
            if a == SET:
                app([a, o, k, encode_scalar(op[3]), pred])
            elif a == DEL:
                app([a, o, k, pred])
            elif a == MAKE:
                app([a, o, k, int(op[3]), pred])
            else:  # INC
                app([a, o, k, op[3], pred])
    return out


def unused_actors(ops: list[Op], actors: list[bytes]) -> set[bytes]:
    """The actors of ``actors`` that no op id in ``ops`` names.

    Stops as soon as every one is seen: a table names few actors, and the first ops
    usually name them all (a change's object is the commonest).  O(ops) at worst.
    """
    left = set(actors)
    discard = left.discard
    for op in ops:
        a = op[0]
        if op[1] is not None:
            discard(op[1][1])
        if a == INS or a == INS_MAKE:
            if op[2] is not None:
                discard(op[2][1])
        elif a == REM:
            discard(op[2][1])
        else:
            if type(op[2]) is not str:
                discard(op[2][1])
            for p in op[-1]:
                discard(p[1])
        if not left:
            break
    return left


# ------------------------------------------------------------------ decoding


def _bad(msg: str) -> DecodeError:
    return DecodeError(f"malformed op: {msg}")


def _bad_value(msg: str) -> DecodeError:
    return DecodeError(f"malformed value: {msg}")


def _dec_id(x: Any, actors: list[bytes]) -> tuple[int, bytes]:
    if type(x) is not list or len(x) != 2:
        raise _bad("op id is not [counter, actor]")
    c, i = x
    if type(c) is not int or type(i) is not int or c < 1 or c > INT64_MAX:
        raise _bad("op id fields are not positive ints")
    if not 0 <= i < len(actors):
        raise _bad(f"actor index {i} out of range")
    return c, actors[i]


def _dec_obj(x: Any, actors: list[bytes]) -> tuple[int, bytes] | None:
    return None if x is None else _dec_id(x, actors)


def decode_scalar(v: Any) -> Any:
    """A wire value back to a scalar; :class:`DecodeError` if it is not one."""
    t = type(v)
    if v is None or t is bool or t is float or t is str or t is bytes:
        return v
    if t is int:
        if not INT64_MIN <= v <= INT64_MAX:
            raise _bad_value("int outside the signed 64-bit range")
        return v
    if t is msgpack.ExtType and v.code == COUNTER_EXT:
        try:
            n = msgpack.unpackb(v.data)
        except Exception as exc:
            raise _bad_value("counter payload") from exc
        if type(n) is not int or not INT64_MIN <= n <= INT64_MAX:
            raise _bad_value("counter payload is not a 64-bit int")
        if msgpack.packb(n) != v.data:
            raise _bad_value("counter payload is not canonical")
        return Counter(n)
    raise _bad_value(f"not a scalar: {t.__name__}")


def _dec_pred(x: Any, actors: list[bytes]) -> tuple[tuple[int, bytes], ...]:
    if type(x) is not list:
        raise _bad("pred is not a list")
    return tuple([_dec_id(p, actors) for p in x])


def _dec_objtype(x: Any) -> ObjType:
    if type(x) is not int or not 0 <= x <= 2:
        raise _bad("unknown object type")
    return ObjType(x)


def decode_ops(raw: Any, actors: list[bytes]) -> tuple[list[Op], int]:
    """Wire lists to op tuples, checking every field's type and range.

    Returns ``(ops, counters they consume)``.
    """
    if type(raw) is not list:
        raise _bad("ops is not a list")
    out: list[Op] = []
    app = out.append
    na = len(actors)
    size = 0
    # The object of the last INS or REM, as a checked wire list and as its id: a run of
    # ops on one object decodes it once and shares one tuple (the apply loop tests it by
    # identity).  ``==`` also holds for [1.0, 1] or [True, 1], which re-encode to their
    # own bytes and so pass the canonical check: the field types are tested again.
    last_o: Any = ()
    last_oid: Any = None
    for r in raw:
        if type(r) is not list or not r:
            raise _bad("op is not a non-empty list")
        a = r[0]
        n = len(r)
        if (a == INS or a == REM) and n == 4 and type(a) is int:
            # the two ops of typing, inlined for the commonest shape: [ctr, actor-index] ids
            o = r[1]
            if o == last_o and type(o[0]) is int and type(o[1]) is int:
                oid: Any = last_oid
            elif type(o) is list and len(o) == 2 and type(o[1]) is int and 0 <= o[1] < na:
                oc = o[0]
                if type(oc) is not int or not 1 <= oc <= INT64_MAX:
                    raise _bad("op id fields are not positive ints")
                oid = (oc, actors[o[1]])
                last_o = o
                last_oid = oid
            else:
                oid = _dec_obj(o, actors)
            e = r[2]  # INS: the reference element (None: the head); REM: the first removed
            if (
                type(e) is list
                and len(e) == 2
                and type(e[0]) is int
                and type(e[1]) is int
                and 1 <= e[0] <= INT64_MAX
                and 0 <= e[1] < na
            ):
                eid: Any = (e[0], actors[e[1]])
            elif e is None and a == INS:
                eid = None
            else:
                eid = _dec_id(e, actors)
            x = r[3]
            if a == INS:
                if type(x) is str:
                    if not x:
                        raise _bad("empty insert")
                elif type(x) is list:
                    if not x:
                        raise _bad("empty insert")
                    x = [decode_scalar(v) for v in x]
                else:
                    raise _bad("insert content is neither str nor list")
                app((INS, oid, eid, x))
                size += len(x)
            else:
                if type(x) is not int or x < 1 or x > INT64_MAX:
                    raise _bad("remove count")
                app((REM, oid, eid, x))
                size += x
        elif a == INS_MAKE and n == 4 and type(a) is int:
            ref = r[2]
            app(
                (
                    INS_MAKE,
                    _dec_obj(r[1], actors),
                    None if ref is None else _dec_id(ref, actors),
                    _dec_objtype(r[3]),
                )
            )
            size += 1
        elif type(a) is int and (
            (a == SET and n == 5) or (a == DEL and n == 4) or (a in (MAKE, INC) and n == 5)
        ):
            k = r[2]
            if type(k) is str:
                key: Any = k
            else:
                key = _dec_id(k, actors)
            obj = _dec_obj(r[1], actors)
            pred = _dec_pred(r[-1], actors)
            size += 1
            if a == SET:
                app((SET, obj, key, decode_scalar(r[3]), pred))
            elif a == DEL:
                app((DEL, obj, key, pred))
            elif a == MAKE:
                app((MAKE, obj, key, _dec_objtype(r[3]), pred))
            else:
                d = r[3]
                if type(d) is not int or not INT64_MIN <= d <= INT64_MAX:
                    raise _bad("increment is not a 64-bit int")
                app((INC, obj, key, d, pred))
        else:
            raise _bad(f"unknown action or arity: {a!r}/{n}")
    return out, size
