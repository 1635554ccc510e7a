"""Local edits: a transaction turns API calls into ops, applies them, and commits a change.

Counters follow Automerge 3.5 exactly (SPEC.md "Counters"): each op takes the next counter;
an insert of n elements takes n; a splice's inserted elements take their counters before its
deletions; writing the value a key already shows is no op at all, or, under a conflict, one
delete naming only the losing ops.  Consecutive inserts that continue each other (typing) and
consecutive removes of adjacent ids (deleting forwards or backspacing) merge into one
run-length op as they are made.
"""

from __future__ import annotations

import time as _time
from typing import TYPE_CHECKING, Any

from .errors import ObjectNotFoundError, TransactionError, UsageError
from .ids import ObjId
from .op import DEL, INC, INS, INS_MAKE, MAKE, NO_OP, REM, SET, Op, extend_ins
from .opset import ObjState
from .run import Register
from .sequence import Sequence
from .values import (
    INT64_MAX,
    INT64_MIN,
    Counter,
    ObjType,
    check_scalar,
    check_str,
    same_value,
    text_ok,
)

# (a module global: `ObjType.MAP` is a lookup on the enum class, ~70 ns each time)
_MAP, _LIST, _TEXT = ObjType.MAP, ObjType.LIST, ObjType.TEXT

if TYPE_CHECKING:
    from .change import Change
    from .doc import Doc


class Savepoint:
    """A nested ``with doc.transaction():`` block: undoes only its own edits on error."""

    __slots__ = ("sp", "tx")

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx  # the outermost transaction
        self.sp = tx.savepoint()  # where this block started

    def __enter__(self) -> Transaction:
        return self.tx

    def __exit__(self, et: type[BaseException] | None, ev: object, tb: object) -> None:
        if et is not None and not self.tx._closed:
            self.tx.rollback_to(self.sp)


class Transaction:
    """An open transaction of a :class:`~crdt.doc.Doc`; ops apply at once, commit at the end.

    Use ``with doc.transaction(): ...``; a block that raises rolls back its own ops only
    (nested blocks are savepoints of the outermost transaction).
    """

    __slots__ = ("_closed", "actor", "ctr", "doc", "heavy", "message", "ops", "start_op", "time")

    def __init__(self, doc: Doc, message: str | None, time: int | None) -> None:
        self.doc = doc  # the document being edited
        if message is not None:
            if type(message) is not str:
                raise UsageError(f"a commit message is a str, got {type(message).__name__}")
            check_str(message, "a commit message")
        if time is not None and (type(time) is not int or not 0 <= time <= INT64_MAX):
            raise UsageError(f"a change's time is ms in 0..2**63-1, got {time!r}")
        self.message = message  # commit message of the change
        self.time = time  # fixed change time (ms) or None for the wall clock at commit
        self.actor = doc.actor  # author of every op
        self.start_op = doc._max_op + 1  # counter of the first op
        self.ctr = self.start_op  # counter the next op takes
        self.ops: list[Op] = []  # ops made so far, in counter order
        # bytes the change may take beyond OP_BYTES an op and 4 a counter: list values,
        # long strings and bytes, long pred lists (an upper bound: bound_bytes)
        self.heavy = 4 * len(message) if message is not None else 0
        self._closed = False  # committed or rolled back

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: object, tb: object) -> None:
        if self._closed:
            return
        if et is not None:
            self.rollback()
            return
        # (commit, but the change is sealed later unless someone is owed it now: see
        # "sealing local commits" in crdt.doc)
        doc = self.doc
        if not self.ops:
            self._closed = True
            doc._tx = None
            return
        t = self.time
        if t is None:
            # (the wall clock, as _time takes it, inline: a frame per keystroke)
            t = int(_time.time() * 1000) if doc._clock is None else -1
            if not 0 <= t <= INT64_MAX:
                t = self._time()  # (a clock of the document's, or one before 1970)
        self._closed = True
        doc._tx = None
        if doc._change_listeners:
            doc._commit_local(self, t)
        else:
            doc._commit_later(self, t)

    def commit(self) -> Change | None:
        """End the transaction; returns the new change, or None if it made no op."""
        if self._closed:
            raise TransactionError("transaction already ended")
        doc = self.doc
        if not self.ops:
            self._closed = True
            doc._tx = None
            return None
        t = self._time()
        self._closed = True
        doc._tx = None
        return doc._commit_local(self, t)

    def _time(self) -> int:
        """The change's time: the fixed one, or the document's clock now.  A clock that
        gives no valid time rolls the transaction back: nothing could be committed."""
        t = self.time
        if t is None:
            clock = self.doc._clock
            t = clock() if clock is not None else int(_time.time() * 1000)
            if type(t) is not int or not 0 <= t <= INT64_MAX:
                self.rollback()
                raise UsageError(f"the clock gave {t!r}, not ms in 0..2**63-1")
        return t

    def rollback(self) -> None:
        """Discard every op of the transaction and restore the document."""
        self._check_open()
        self._closed = True
        self.doc._tx = None
        self.doc._rebuild()

    def savepoint(self) -> tuple[int, int, Op | None]:
        """Where the transaction is now.  The last op is kept too: later edits may extend it
        in place (run-length merging), and a rollback must restore it as it was."""
        ops = self.ops
        return len(ops), self.ctr, ops[-1] if ops else None

    def rollback_to(self, sp: tuple[int, int, Op | None]) -> None:
        """Undo the ops made since savepoint ``sp`` (rebuilds the state; O(history))."""
        self._check_open()
        n, ctr, last = sp
        if ctr == self.ctr:
            return  # no op since (every op, and every extension of one, takes a counter)
        del self.ops[n:]
        if last is not None:
            self.ops[n - 1] = last
        self.ctr = ctr
        self.doc._rebuild(self)

    def _check_open(self) -> None:
        if self._closed:
            raise TransactionError("transaction already ended")

    # ------------------------------------------------------------ helpers

    def _obj(self, obj: ObjId, *types: ObjType) -> ObjState:
        self._check_open()
        st = self.doc._opset.objs.get(obj)
        if st is None or st.type not in types:
            want = "/".join(t.name.lower() for t in types)
            raise ObjectNotFoundError(f"no {want} object {obj!r}")
        return st

    def _push(self, op: Op, size: int = 1) -> int:
        ctr = self.ctr
        self.ops.append(op)
        self.ctr = ctr + size
        return ctr

    # ------------------------------------------------------------ maps and elements

    def _key_entries(self, st: ObjState, key: Any) -> tuple[Any, list[Any]]:
        """Resolve a map key or list index to the op key and its live entries."""
        if st.type == _MAP:
            if type(key) is not str:
                raise UsageError(f"map keys are str, got {type(key).__name__}")
            if not key.isascii():
                check_str(key, "a map key")
            if len(key) > SHORT:
                self.heavy += 4 * len(key)
            return key, st.data.get(key, [])
        if st.type == _TEXT:
            raise UsageError("text elements cannot be set; use splice")
        if type(key) is not int:
            raise UsageError(f"list indexes are int, got {type(key).__name__}")
        seq: Sequence = st.data
        if key < 0:
            key += seq.vis
        run, off = seq.element_at(key)
        elem = (run.ctr + off, run.actor)
        if run.reg:
            return elem, run.content[0].entries
        return elem, [(elem[0], elem[1], run.content[off])]

    def put(self, obj: ObjId, key: str | int, value: Any) -> None:
        """Set a scalar at a map key or an existing list index."""
        st = self._obj(obj, _MAP, _LIST, _TEXT)
        value = check_scalar(value)
        k, entries = self._key_entries(st, key)
        if (type(value) is str or type(value) is bytes) and len(value) > SHORT:
            self.heavy += 4 * len(value)
        if len(entries) > 4:
            self.heavy += PRED_BYTES * len(entries)
        if entries and same_value(entries[-1][2], value) and type(value) is not Counter:
            if len(entries) == 1:
                return  # writing what the key already shows: no op (Automerge 3.5)
            op: Op = (DEL, obj, k, tuple([(e[0], e[1]) for e in entries[:-1]]))
        elif len(entries) == 1:  # (overwriting one value: the common case, no loop)
            ((c, a, _),) = entries
            op = (SET, obj, k, value, ((c, a),))
        else:
            op = (SET, obj, k, value, tuple([(e[0], e[1]) for e in entries]))
        ctr = self._push(op)
        self.doc._opset.apply(op, ctr, self.actor)

    def make(self, obj: ObjId, key: str | int, typ: ObjType) -> ObjId:
        """Put a new empty object at a map key or existing list index; returns its id."""
        st = self._obj(obj, _MAP, _LIST, _TEXT)
        k, entries = self._key_entries(st, key)
        if len(entries) > 4:
            self.heavy += PRED_BYTES * len(entries)
        op: Op = (MAKE, obj, k, typ, tuple((e[0], e[1]) for e in entries))
        ctr = self._push(op)
        self.doc._opset.apply(op, ctr, self.actor)
        return (ctr, self.actor)

    def delete(self, obj: ObjId, key: str | int) -> None:
        """Delete a map key (no op if absent) or the list element at an index."""
        st = self._obj(obj, _MAP, _LIST, _TEXT)
        if st.type != _MAP:
            if type(key) is not int:
                raise UsageError(f"list indexes are int, got {type(key).__name__}")
            self.remove(obj, key, 1)
            return
        _, entries = self._key_entries(st, key)
        if not entries:
            return
        if len(entries) > 4:
            self.heavy += PRED_BYTES * len(entries)
        op: Op = (DEL, obj, key, tuple((e[0], e[1]) for e in entries))
        ctr = self._push(op)
        self.doc._opset.apply(op, ctr, self.actor)

    def increment(self, obj: ObjId, key: str | int, delta: int) -> None:
        """Add ``delta`` to the counter shown at a map key or list index."""
        st = self._obj(obj, _MAP, _LIST)
        if type(delta) is not int or not INT64_MIN <= delta <= INT64_MAX:
            raise UsageError("increment takes a 64-bit int")
        k, entries = self._key_entries(st, key)
        if not entries or type(entries[-1][2]) is not Counter:
            raise UsageError(f"no counter at {key!r}")
        w = entries[-1]
        op: Op = (INC, obj, k, delta, ((w[0], w[1]),))
        ctr = self._push(op)
        self.doc._opset.apply(op, ctr, self.actor)

    # ------------------------------------------------------------ sequences

    def insert(self, obj: ObjId, index: int, values: list[Any] | str) -> None:
        """Insert scalars into a list, or a string into a text, at ``index``."""
        st = self._obj(obj, _LIST, _TEXT)
        content = _content(st, values)
        if content:
            seq: Sequence = st.data
            if type(index) is not int or not 0 <= index <= seq.vis:
                raise UsageError(f"insert index {index!r} out of range for length {seq.vis}")
            self._insert(seq, obj, index, content)

    def _insert(self, seq: Sequence, obj: ObjId, index: int, content: Any) -> None:
        """Insert non-empty ``content`` at ``index``, which the caller checked."""
        ctr = self.ctr
        actor = self.actor
        ref = seq.local_insert(index, ctr, actor, content)
        self.ctr = ctr + len(content)
        if type(content) is list:  # (a text's code points: 4 bytes a counter, the bound's)
            self.heavy += sum([_weight(v) for v in content])
        ops = self.ops
        if ops and ref is not None and ref[0] == ctr - 1:
            last = ops[-1]
            # typing: this insert continues the previous one (its last element is ctr - 1)
            if last[0] == INS and last[1] == obj and ref[1] == actor:
                del last  # (so that extend_ins may grow the op's str in place)
                extend_ins(ops, content)
                return
        ops.append((INS, obj, ref, content))

    def insert_object(self, obj: ObjId, index: int, typ: ObjType) -> ObjId:
        """Insert a new empty object into a list at ``index``; returns its id."""
        st = self._obj(obj, _LIST)
        seq: Sequence = st.data
        if type(index) is not int or not 0 <= index <= seq.vis:
            raise UsageError(f"insert index {index!r} out of range for length {seq.vis}")
        ctr = self.ctr
        ref = seq.local_insert(index, ctr, self.actor, [typ])
        self._push((INS_MAKE, obj, ref, typ))
        oid = (ctr, self.actor)
        self.doc._opset.objs[oid] = ObjState(typ, obj, oid)
        return oid

    def remove(self, obj: ObjId, index: int, n: int) -> None:
        """Delete ``n`` elements of a list or text from ``index``."""
        st = self._obj(obj, _LIST, _TEXT)
        if type(index) is not int or type(n) is not int or n < 0:
            raise UsageError("remove takes int index and count")
        if n:
            self._remove(st.data, obj, index, n)

    def _remove(self, seq: Sequence, obj: ObjId, index: int, n: int) -> None:
        ops = self.ops
        for ectr, eactor, what in seq.local_delete(index, n):
            if type(what) is Register:
                self._push((DEL, obj, (ectr, eactor), tuple((e[0], e[1]) for e in what.entries)))
                continue
            cnt: int = what  # type: ignore[assignment]
            if ops:
                last = ops[-1]
                if last[0] == REM and last[1] == obj and last[2][1] == eactor:
                    lc = last[2][0]
                    if lc + last[3] == ectr:  # forward delete: ids continue upwards
                        ops[-1] = (REM, obj, last[2], last[3] + cnt)
                        self.ctr += cnt
                        continue
                    if ectr + cnt == lc:  # backspacing: ids continue downwards
                        # one REM over the whole range consumes the same counters; the ids
                        # of delete ops are never referenced, so the order is unobservable
                        ops[-1] = (REM, obj, (ectr, eactor), last[3] + cnt)
                        self.ctr += cnt
                        continue
            ops.append((REM, obj, (ectr, eactor), cnt))
            self.ctr += cnt

    def splice(self, obj: ObjId, index: int, delete: int, text: str | list[Any]) -> None:
        """Delete ``delete`` elements at ``index`` and insert ``text`` there.

        The inserted elements take their counters first, then the deletions (Automerge 3.5).
        """
        if self._closed:
            raise TransactionError("transaction already ended")
        st = self.doc._opset.objs.get(obj)
        if st is None or st.type == _MAP:
            raise ObjectNotFoundError(f"no list/text object {obj!r}")
        seq: Sequence = st.data
        if type(index) is not int or type(delete) is not int or delete < 0:
            raise UsageError("splice takes int index and delete count")
        if index < 0 or index + delete > seq.vis:
            raise UsageError(f"splice {index}+{delete} out of range for length {seq.vis}")
        if text:
            if not delete and type(text) is str and st.type is _TEXT:
                rc = seq._rc
                if rc is not None:
                    # Typing on: the last run found by position (``_rc``, which
                    # crdt.sequence drops on any edit but growing that run) ends right
                    # before ``index`` with this actor's latest element, so the text's
                    # ids continue it and the run grows in place: what _insert,
                    # local_insert and _locate do there, without their three frames
                    # (a fourth of a keystroke in one transaction; tests/test_typing.py).
                    run, c, _, rs = rc
                    ctr = self.ctr
                    if (
                        index == rs + run.n
                        and run.ctr + run.n == ctr
                        and run.actor == self.actor
                        and c.refs[0] == 1  # (no fork shares the chunk: Sequence._own)
                        and (text.isascii() or text_ok(text))  # (UTF-8: SPEC.md 3.2)
                    ):
                        run.extend(text)
                        n = len(text)
                        c.vis += n
                        seq.vis += n
                        self.ctr = ctr + n
                        ops = self.ops
                        if ops:  # (then it made element ctr - 1: an INS of ``obj``)
                            # (extend_ins, inline: its frame would be 4% of a keystroke)
                            last = ops[-1]
                            ops[-1] = NO_OP
                            ref = last[2]
                            s = last[3]
                            del last
                            s += text
                            ops[-1] = (INS, obj, ref, s)
                        else:
                            ops.append((INS, obj, (ctr - 1, run.actor), text))
                        return
            # (a str into a text, the commonest edit, needs no _content)
            if type(text) is str and st.type is _TEXT:
                if not text.isascii():
                    check_str(text, "text")
                content: Any = text
            else:
                content = _content(st, text)
            self._insert(seq, obj, index, content)
            if delete:
                self._remove(seq, obj, index + len(content), delete)
        elif delete:
            self._remove(seq, obj, index, delete)


OP_BYTES = 320
"""What an op may take on the wire beyond what ``Transaction.heavy`` counts: its fields,
its object and reference, an actor-table entry for an actor it brings (at most 65
bytes), up to 4 preds, and a key or value of up to SHORT code points."""

SHORT = 32
"""Strings and bytes up to this long are in OP_BYTES; longer ones count in ``heavy``."""

PRED_BYTES = 12
"""A pred: ``[counter, actor index]`` (an op's first 4 are in OP_BYTES)."""


def _weight(v: Any) -> int:
    """Bytes a scalar may take on the wire: a str 4 a code point, bytes 1 a byte, the
    header and any other scalar at most 9."""
    t = type(v)
    if t is str or t is bytes:
        return 4 * len(v) + 9
    return 9


def wire_bound(n_ops: int, span: int, heavy: int = 0) -> int:
    """An upper bound of the bytes ``n_ops`` ops over ``span`` counters take in a change,
    without encoding them: OP_BYTES an op, 4 a counter (a code point of text is 1
    counter, at most 4 bytes in UTF-8) and ``heavy`` (``Transaction.heavy``).  O(1)."""
    return OP_BYTES * n_ops + 4 * span + heavy


def bound_bytes(tx: Transaction) -> int:
    """:func:`wire_bound` of ``tx``'s ops.  O(1)."""
    return wire_bound(len(tx.ops), tx.ctr - tx.start_op, tx.heavy)


def _content(st: ObjState, values: Any) -> Any:
    """Check what is inserted into a text (a str) or a list (scalars); returns the content."""
    if st.type == _TEXT:
        if type(values) is not str:
            raise UsageError("text takes str")
        check_str(values, "text")
        return values
    if isinstance(values, str):
        raise UsageError("a list takes a list of values")
    return [check_scalar(v) for v in values]
