"""The remote fast path: changes of one op, on one or two deps the document has.

A peer typing sends one such change per keystroke: one INS of a string, or one REM, whose
only dep is the previous change; an application editing fields of its objects sends one SET
of a scalar at a map key per edit.  Decoding each one into an :class:`UnverifiedChange`,
then verifying it op by op against any history, costs about three times the work the
shape needs (a dozen calls, tuples for every op id, the general checks of every op
kind), and that work is most of applying a per-keystroke history.

:func:`apply_fast` takes such changes from a batch one after the other and does, in one
loop, exactly the checks :func:`crdt.change.decode_change` and ``Doc._apply_verified`` do
for this shape (SPEC.md sections 4-6): well formed, canonical, hashed, its deps known, the
author's next seq, the next start_op, every id it names already in the document and
earlier than the op (a SET's preds too: ops this document has).  Made on the only head (or
on all the heads), everything in the document is in the change's causal past; otherwise
(peers typing at once) the general path's causality check runs
(``Doc._check_causality``).  The path is conservative: at the first change that does not
have the shape, or fails any check, it stops and leaves that change to the general path,
which applies it or raises the error it deserves.  So this path decides nothing the
general path would decide differently, and never raises on input;
``tests/test_fastpath.py`` checks both paths give the same documents, results and errors
on valid and damaged histories.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import change as _change
from .change import Change, new_hasher
from .codec import pack_lists, unpack
from .errors import InvalidChangeError
from .ids import MAX_ACTOR_LEN
from .op import INS as _INS
from .op import REM as _REM
from .op import SET as _SET
from .values import INT64_MAX, INT64_MIN, ObjType

if TYPE_CHECKING:
    from .doc import Doc

_TEXT, _MAP = ObjType.TEXT, ObjType.MAP
FAST_MAX_BYTES = 1024
"""Changes longer than this go to the general path without being read here."""


def _sizes() -> bytes:
    """Byte length of a msgpack uint, nil or fixstr by its first byte (0: other types)."""
    t = bytearray(256)
    for b in range(0x80):
        t[b] = 1  # positive fixint
    t[0xC0] = 1  # nil
    for b, n in ((0xCC, 2), (0xCD, 3), (0xCE, 5), (0xCF, 9)):
        t[b] = n  # uint 8/16/32/64
    for b in range(0xA0, 0xC0):
        t[b] = 1 + (b & 0x1F)  # fixstr
    return bytes(t)


_SIZE = _sizes()


def _looks_fast(raw: Any) -> bool:
    """Whether ``raw`` seems to be a change the fast path takes: read off its bytes, without
    unpacking, up to its ops (one dep or two, at most two actors in the table, one op that is
    an INS or a REM of four items or a SET of five).  A guess that only saves work: a change
    it lets through gets every check, and one it turns away goes to the general path, which
    takes all."""
    if type(raw) is not bytes or len(raw) > FAST_MAX_BYTES:
        return False
    size = _SIZE
    try:
        if raw[0] != 0x99 or raw[1] != 1 or raw[2] != 0xC4:
            return False
        p = 4 + raw[3]  # past the author
        p += size[raw[p]]  # seq
        p += size[raw[p]]  # start_op
        p += size[raw[p]]  # time
        m = size[raw[p]]  # message: nil or a short str
        p += m
        nd = raw[p] - 0x90  # one dep or two
        if not m or not 1 <= nd <= 2 or raw[p + 1] != 0xC4:
            return False
        p += 34 * nd  # past the deps (p + 1 is the table)
        t = raw[p + 1]
        if t == 0x91:
            p += 2 + raw[p + 3]  # one actor in the table
        elif t == 0x92:
            p += 2 + raw[p + 3]  # two
            p += 2 + raw[p + 3]
        elif t != 0x90:
            return False
        if raw[p + 2] != 0x91:
            return False
        n = raw[p + 3]  # the op's length: 4 items (INS, REM) or 5 (SET)
        return (n == 0x94 and raw[p + 4] in (_INS, _REM)) or (n == 0x95 and raw[p + 4] == _SET)
    except IndexError:  # (too short to be one)
        return False


def apply_fast(doc: Doc, changes: list[Any], k: int, applied: list[Change]) -> int:
    """Apply ``changes[k]``, ``changes[k + 1]``, ... while each is encoded bytes of a
    one-op change (an INS or REM of text, or a SET of a scalar at a map key) on one or two
    deps that ``doc`` has; returns the index of the first change left to the general path
    (``len(changes)`` if none).

    The caller has checked that ``doc`` may take this path: no base snapshot, no buffered
    changes, no observers.  O(1) per change beyond the op itself on the heads; otherwise
    the causality check of the general path (a clock of the deps).
    """
    if not _looks_fast(changes[k]):
        return k  # (before any setup: in a history of other changes, every one comes here)
    h = doc._history
    heads = h.heads_idx()  # (live: History.add updates it)
    objs = doc._opset.objs
    start, n_ops, seq_of, add, number = h.start, h.n_ops, h.seq_of, h.add, h.number
    causality = doc._check_causality
    max_op = doc._max_op
    app = applied.append
    apply_op = doc._opset.apply
    no_preds: list[Any] = []  # (never changed)
    # the only head, if there is one (hh is None otherwise), and one past its last op
    hh: bytes | None = None
    hi = hnxt = -1
    if len(heads) == 1:
        ((hi, hh),) = heads.items()
        hnxt = start[hi] + n_ops[hi]
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
        if type(deps) is not list:
            break
        if len(deps) == 1:
            d = deps[0]
            if hh is not None and d == hh:  # the only head: its past is the whole document
                dep_idx: tuple[int, ...] = (hi,)
                dep_hashes: tuple[bytes, ...] = (hh,)
                nxt = hnxt
                at_heads = True
            else:  # a change this document has, not its only head
                j = number(d)
                if j is None:
                    break  # (missing: the general path buffers it)
                dep_idx = (j,)
                dep_hashes = (d,)
                nxt = start[j] + n_ops[j]
                at_heads = False
        elif len(deps) == 2:
            # made just after a merge (sorted, as decode_change demands)
            d, d2 = deps
            if type(d) is not bytes or type(d2) is not bytes or not d < d2:
                break
            i1 = number(d)
            i2 = number(d2)
            if i1 is None or i2 is None:
                break
            dep_idx = (i1, i2)
            dep_hashes = (d, d2)
            nxt = max(start[i1] + n_ops[i1], start[i2] + n_ops[i2])
            at_heads = len(heads) == 2 and i1 in heads and i2 in heads
        else:
            break
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
            and type(table) is list
            and type(ops) is list
            and len(ops) == 1
        ):
            break
        known = seq_of(actor)
        if seq != known + 1:
            break
        op = ops[0]
        if type(op) is not list:
            break
        preds = no_preds  # (the pred ids of a SET; none for text)
        if len(op) == 4:  # INS or REM of text
            a, o, r, x = op
            if type(o) is not list or len(o) != 2 or type(r) is not list or len(r) != 2:
                break  # (an insert at the head, r None, is rare: the general path takes it)
            oc, oi = o
            rc, ri = r
            # (an object or element found below is earlier than this op: on the only head,
            # every counter in the document is below start_op; on one of several, the
            # causality check below puts every id the op names in its dep's past, where they
            # are too.  A float would find an id as well, hence the int tests)
            if not (type(oc) is int and type(oi) is int and type(rc) is int and type(ri) is int):
                break
            if table:
                if len(table) != 1 or not (oi == 1 or ri == 1):
                    break  # (the one actor in the table must be named)
                other = table[0]
                # (its length needs no test: no actor outside 1..64 bytes has ids here)
                if type(other) is not bytes or other == actor:
                    break
                if not 0 <= oi <= 1 or not 0 <= ri <= 1:
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
                found = sq.find(rc, ra)
                if found is None:
                    break
                refs = None if at_heads else [obj, (rc, ra)]
            elif a == _REM and type(a) is int and type(x) is int and 0 < x:
                size = x
                end = rc + x
                if st.type is _MAP:
                    break
                sq = st.data
                refs = None if at_heads else [obj]
                found = None  # the run holding rc, for remote_delete
                e = rc
                while e < end:
                    run = sq.find(e, ra)
                    if run is None:
                        break
                    if found is None:
                        found = run
                    e = run.ctr + run.n
                    if refs is not None:
                        refs.append(((e if e < end else end) - 1, ra))  # (as the general path)
                if e < end:
                    break
            else:
                break
        elif len(op) == 5:  # SET of a scalar at a map key
            a, o, key, x, pr = op
            if not (a == _SET and type(a) is int and type(key) is str and type(pr) is list):
                break
            tx = type(x)
            if not (
                x is None
                or tx is str
                or tx is float
                or tx is bool
                or tx is bytes
                or (tx is int and INT64_MIN <= x <= INT64_MAX)
            ):
                break  # (a Counter, an ext type, is left to the general path)
            # the actors the op's ids name by index: the author, then the table's (at most
            # two: one made the object, one wrote the value a pred names); each one named
            if not table:
                names = [actor]
            elif len(table) == 1:
                t1 = table[0]
                if type(t1) is not bytes or t1 == actor:
                    break
                names = [actor, t1]
            elif len(table) == 2:
                t1, t2 = table
                if type(t1) is not bytes or type(t2) is not bytes or not t1 < t2:
                    break
                if t1 == actor or t2 == actor:
                    break
                names = [actor, t1, t2]
            else:
                break
            nn = len(names)
            used = 1  # a bit per index named (the author's needs no naming)
            if o is None:
                obj = None  # the root
            elif type(o) is list and len(o) == 2:
                oc, oi = o
                if type(oc) is not int or type(oi) is not int or not 0 <= oi < nn:
                    break
                obj = (oc, names[oi])
                used |= 1 << oi
            else:
                break
            preds = []
            for p in pr:
                if type(p) is not list or len(p) != 2:
                    break
                pc, pi = p
                # (its counter needs no range test: it must name an op this document has,
                # and those are in 1 .. start_op - 1 on the heads or in the deps' past)
                if type(pc) is not int or type(pi) is not int or not 0 <= pi < nn:
                    break
                preds.append((pc, names[pi]))
                used |= 1 << pi
            if len(preds) != len(pr) or used != (1 << nn) - 1:
                break
            st = objs.get(obj)
            if st is None or st.type is not _MAP:
                break
            size = 1
            if not at_heads:
                refs = [] if obj is None else [obj]
            elif not preds:
                refs = None
            else:
                # on the heads, a pred must only be an op this document has: one naming
                # the value the key holds is, and needs no lookup in the history
                cur = st.data.get(key)
                w = cur[-1] if cur and len(preds) == 1 else None
                refs = None if w is not None and (w[0], w[1]) == preds[0] else []
        else:
            break
        if pack_lists(top) != raw:  # canonical form, as decode_change demands
            break
        hasher = new_hasher()
        hasher.update(raw)
        hsh = hasher.digest()
        c = Change(actor, seq, start_op, time, message, dep_hashes, None, raw, hsh, size)
        if refs is not None:
            doc._clock_for_next = None
            try:
                causality(c, dep_idx, known, refs, preds)  # (may set doc._clock_for_next)
            except InvalidChangeError:
                break
        if a == _INS:
            sq.integrate_insert((rc, ra), start_op, actor, x, found)
        elif a == _REM:
            sq.remote_delete(rc, ra, x, False, found)
        else:
            apply_op((_SET, obj, key, x, tuple(preds)), start_op, actor)
        i = add(c, dep_idx, at_heads)
        if refs is not None and doc._clock_for_next is not None:
            h.remember(i, doc._clock_for_next)  # (later clock walks stop here)
        if len(heads) == 1:
            hi = i
            hh = hsh
            hnxt = start_op + size
        else:
            hh = None
        if start_op + size - 1 > max_op:
            max_op = start_op + size - 1
        app(c)
        k += 1
    doc._max_op = max_op
    return k
